import { describe, expect, it } from 'vitest';
import { blockMedians, fdTrend, futureMinimum, MAX_FIT_POINTS, p99Drift, rssTrend, theilSen, type TimedValue } from './soak-trend.js';

const MIB = 1_048_576;
const SAMPLE_MS = 5_000;

/** Samples every `stepMs` over `durationMs` (t = 0 … duration) of `f(tMs)` bytes. */
function series(durationMs: number, f: (tMs: number) => number, stepMs = SAMPLE_MS): { tMs: number; rssBytes: number }[] {
  const out: { tMs: number; rssBytes: number }[] = [];
  for (let t = 0; t <= durationMs; t += stepMs) out.push({ tMs: t, rssBytes: f(t) });
  return out;
}

/** A GC sawtooth: rises by `amplitude` over `periodMs`, then drops back. */
const sawtooth = (tMs: number, periodMs: number, amplitude: number): number => amplitude * ((tMs % periodMs) / periodMs);

/** Deterministic noise in [-1, 1]. */
const noise = (i: number): number => Math.sin(i * 12.9898) * 0.5 + Math.sin(i * 78.233) * 0.5;

describe('theilSen', () => {
  it('recovers a line exactly and ignores a minority of outliers', () => {
    const pts: TimedValue[] = Array.from({ length: 50 }, (_, i) => ({ tMs: i * 1_000, value: 10 + 0.5 * i }));
    expect(theilSen(pts)?.slopePerMs).toBeCloseTo(0.0005, 12);
    expect(theilSen(pts)?.interceptAt0).toBeCloseTo(10, 9);
    const dirty = pts.map((p, i) => (i % 7 === 3 ? { ...p, value: p.value + 1_000 } : p));
    expect(theilSen(dirty)?.slopePerMs).toBeCloseTo(0.0005, 6);
  });

  it('needs two distinct times', () => {
    expect(theilSen([{ tMs: 0, value: 1 }])).toBeUndefined();
    expect(theilSen([{ tMs: 5, value: 1 }, { tMs: 5, value: 2 }])).toBeUndefined();
  });

  it('reduces long series to block medians first, keeping the slope', () => {
    const pts: TimedValue[] = Array.from({ length: 5_000 }, (_, i) => ({ tMs: i * 1_000, value: 3 * i + noise(i) }));
    expect(blockMedians(pts).length).toBeLessThanOrEqual(MAX_FIT_POINTS);
    expect(theilSen(pts)?.slopePerMs).toBeCloseTo(0.003, 4);
  });
});

describe('rssTrend', () => {
  it('does not flag a GC sawtooth (10 % of the heap, one-minute period) over an hour', () => {
    const t = rssTrend(series(3_600_000, (ms) => 100 * MIB + sawtooth(ms, 60_000, 10 * MIB)));
    expect(t).toBeDefined();
    expect(Math.abs(t?.growthPct ?? Infinity)).toBeLessThan(1);
  });

  it('does not flag a sawtooth of a few seconds in a one-minute window sampled every 5 s (the CI soak)', () => {
    // As measured on the reference at 13,400/s: 112–115 MiB, a period of about 5 s.
    const t = rssTrend(series(60_000, (ms) => 112 * MIB + sawtooth(ms + 1_700, 4_700, 3 * MIB)));
    expect(Math.abs(t?.growthPct ?? Infinity)).toBeLessThan(3);
  });

  it('does not flag a long GC cycle that ends inside the window (heap grows 30 % for 25 s, then one major GC)', () => {
    const samples = series(30_000, (ms) => (ms <= 24_000 ? 95 * MIB + (ms / 24_000) * 30 * MIB : 95 * MIB + ((ms - 25_000) / 5_000) * MIB), 1_000);
    const t = rssTrend(samples);
    expect(t?.samplesFit.growthPct).toBeGreaterThan(5);
    expect(t?.basis).toBe('baseline');
    expect(t?.growthPct).toBeLessThan(5);
  });

  it('does not flag one sample far below the rest (the baseline steps, the samples do not)', () => {
    const samples = series(600_000, (ms) => 100 * MIB + noise(ms) * MIB);
    const middle = samples[60];
    if (middle !== undefined) middle.rssBytes = 50 * MIB;
    const t = rssTrend(samples);
    expect(t?.baselineFit.growthPct).toBeGreaterThan(5);
    expect(t?.basis).toBe('samples');
    expect(Math.abs(t?.growthPct ?? Infinity)).toBeLessThan(2);
  });

  it('flags a slow linear leak under a GC sawtooth, and measures it', () => {
    // 100 MiB + 10 MiB/h for 2 h: 20 % growth.
    const t = rssTrend(series(7_200_000, (ms) => 100 * MIB + (10 * MIB * ms) / 3_600_000 + sawtooth(ms, 60_000, 5 * MIB)));
    expect(t?.growthPct).toBeGreaterThan(17);
    expect(t?.growthPct).toBeLessThan(23);
    expect(t?.slopeBytesPerHour).toBeGreaterThan(9 * MIB);
    expect(t?.slopeBytesPerHour).toBeLessThan(11 * MIB);
  });

  it('flags a leak of 8 % in an hour with noisy samples', () => {
    const t = rssTrend(series(3_600_000, (ms, i = ms / SAMPLE_MS) => 80 * MIB + (6.4 * MIB * ms) / 3_600_000 + noise(i) * 2 * MIB));
    expect(t?.growthPct).toBeGreaterThan(6);
    expect(t?.growthPct).toBeLessThan(10);
  });

  it('ignores the warm-up (tMs < 0) and needs three samples after it', () => {
    const warm = Array.from({ length: 10 }, (_, i) => ({ tMs: -50_000 + i * 5_000, rssBytes: (50 + 10 * i) * MIB }));
    const after = series(60_000, () => 150 * MIB);
    expect(rssTrend([...warm, ...after])?.growthPct).toBe(0);
    expect(rssTrend([...warm, ...after.slice(0, 2)])).toBeUndefined();
    expect(rssTrend([{ tMs: 0 }, { tMs: 5_000 }, { tMs: 10_000 }])).toBeUndefined();
  });

  it('futureMinimum is the lowest value from each point on', () => {
    const pts = [5, 3, 4, 1, 2].map((value, i) => ({ tMs: i, value }));
    expect(futureMinimum(pts).map((p) => p.value)).toEqual([1, 1, 1, 1, 2]);
  });
});

describe('fdTrend', () => {
  const fds = (values: readonly number[]) => values.map((v, i) => ({ tMs: i * SAMPLE_MS, fds: v }));

  it('sees no growth in a constant count with a connection open at one sample', () => {
    const t = fdTrend(fds([25, 25, 25, 26, 25, 25, 25, 25, 26, 25, 25, 25]));
    expect(t?.growth).toBe(0);
    expect(t?.edgeSamples).toBe(3);
  });

  it('sees a slow FD leak as the difference of the medians at both ends', () => {
    const t = fdTrend(fds(Array.from({ length: 13 }, (_, i) => 25 + 2 * i)));
    expect(t?.firstMedian).toBe(27);
    expect(t?.lastMedian).toBe(47);
    expect(t?.growth).toBe(20);
    expect(t?.slopePerHour).toBeCloseTo(2 * (3_600_000 / SAMPLE_MS), 6);
  });

  it('needs three samples after warm-up', () => {
    expect(fdTrend([{ tMs: -5_000, fds: 10 }, { tMs: 0, fds: 11 }, { tMs: 5_000, fds: 12 }])).toBeUndefined();
  });
});

describe('p99Drift', () => {
  const ivs = (p99: (i: number) => number, count = 100) =>
    Array.from({ length: 24 }, (_, i) => ({ startMs: i * SAMPLE_MS, durationMs: SAMPLE_MS, count, p99Us: p99(i) }));

  it('is about zero for a flat p99 with noise and follows a rising one', () => {
    expect(Math.abs(p99Drift(ivs((i) => 200 + 10 * noise(i)))?.driftPct ?? Infinity)).toBeLessThan(10);
    const rising = p99Drift(ivs((i) => 200 + 10 * i));
    expect(rising?.driftPct).toBeCloseTo(115, 0);
    expect(rising?.fittedEndUs).toBeCloseTo(430, 3);
  });

  it('skips intervals without replies', () => {
    expect(p99Drift(ivs(() => 100, 0))).toBeUndefined();
  });
});
