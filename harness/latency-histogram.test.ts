import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { intervalPoints, readIntervalLog, writeIntervalLog } from './interval-log.js';
import {
  createLatencyHistogram,
  decodeHistogram,
  encodeHistogram,
  HIGHEST_TRACKABLE_NS,
  mergeHistograms,
  parseHgrm,
  percentileCurve,
  recordLatencyNs,
  summarizeLatency,
  toHgrm,
} from './latency-histogram.js';

function histogramOf(valuesNs: readonly number[]) {
  const h = createLatencyHistogram();
  for (const v of valuesNs) recordLatencyNs(h, v);
  return h;
}

describe('latency histograms', () => {
  it('keep 3 significant digits at microsecond latencies (8.5 µs is not rounded to 8 or 9)', () => {
    const h = histogramOf([8_512, 8_512, 8_512]);
    const s = summarizeLatency(h);
    expect(s.p50Us).toBeGreaterThanOrEqual(8.5);
    expect(s.p50Us).toBeLessThanOrEqual(8.52);
    expect(s.count).toBe(3);
  });

  it('track 1 µs to 60 s; a longer latency is recorded as 60 s instead of throwing', () => {
    const h = histogramOf([1_000, 60_000_000_000, 90_000_000_000]);
    expect(summarizeLatency(h).maxUs).toBeGreaterThanOrEqual(59_900_000);
    expect(summarizeLatency(h).maxUs * 1_000).toBeLessThanOrEqual(HIGHEST_TRACKABLE_NS * 1.001);
    expect(h.totalCount).toBe(3);
  });

  it('merge exactly: merging the parts of any split gives the same counts at every percentile as one histogram of all values', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1_000, max: 5_000_000_000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 5 }), (values, parts) => {
        const whole = histogramOf(values);
        const split = Array.from({ length: parts }, (_, i) => histogramOf(values.filter((_, j) => j % parts === i)));
        const merged = mergeHistograms(split.map((h) => decodeHistogram(encodeHistogram(h))));
        expect(merged.totalCount).toBe(whole.totalCount);
        for (const p of [0, 10, 50, 90, 99, 99.9, 100]) expect(merged.getValueAtPercentile(p)).toBe(whole.getValueAtPercentile(p));
        expect(summarizeLatency(merged)).toEqual(summarizeLatency(whole));
      }),
      { numRuns: 60 },
    );
  });

  it('survive the compressed-base64 encoding used across worker threads unchanged', () => {
    const h = histogramOf([12_345, 67_890, 1_000_000, 250_000_000]);
    const back = decodeHistogram(encodeHistogram(h));
    expect(summarizeLatency(back)).toEqual(summarizeLatency(h));
  });

  it('print a .hgrm that parses back to the same count, max and median (in µs)', () => {
    const values = Array.from({ length: 5_000 }, (_, i) => 10_000 + i * 37);
    const h = histogramOf(values);
    const parsed = parseHgrm(toHgrm(h));
    expect(parsed.totalCount).toBe(5_000);
    expect(parsed.rows.length).toBeGreaterThan(20);
    const s = summarizeLatency(h);
    expect(parsed.max).toBeCloseTo(s.maxUs, 0);
    const median = parsed.rows.find((r) => r.percentile >= 50);
    expect(median?.value).toBeCloseTo(s.p50Us, 0);
    // Rows are cumulative: percentiles and counts never go down.
    for (let i = 1; i < parsed.rows.length; i++) {
      expect(parsed.rows[i]?.percentile).toBeGreaterThanOrEqual(parsed.rows[i - 1]?.percentile ?? 0);
      expect(parsed.rows[i]?.totalCount).toBeGreaterThanOrEqual(parsed.rows[i - 1]?.totalCount ?? 0);
    }
  });

  it('reject a .hgrm with a broken line, naming the line', () => {
    expect(() => parseHgrm('Value Percentile TotalCount 1/(1-Percentile)\n\n 1.0 0.5 oops\n')).toThrow(/line 3/);
  });

  it('give a percentile curve that rises on the 1/(1-p) ladder and ends at the max', () => {
    const h = histogramOf(Array.from({ length: 10_000 }, (_, i) => 1_000 + i * 100));
    const curve = percentileCurve(h);
    expect(curve.at(-1)).toEqual({ percentile: 100, valueUs: summarizeLatency(h).maxUs });
    expect(curve.some((p) => p.percentile > 99.9 && p.percentile < 100)).toBe(true);
    for (let i = 1; i < curve.length; i++) {
      expect(curve[i]?.percentile).toBeGreaterThan(curve[i - 1]?.percentile ?? -1);
      expect(curve[i]?.valueUs).toBeGreaterThanOrEqual(curve[i - 1]?.valueUs ?? 0);
    }
  });
});

describe('interval logs', () => {
  it('write one histogram per interval that the HdrHistogram log reader reads back with the same counts', () => {
    const intervals = [0, 1, 2].map((i) => ({ startMs: i * 1_000, durationMs: 1_000, histogram: histogramOf(Array.from({ length: 100 * (i + 1) }, (_, j) => 5_000 + j)) }));
    const text = writeIntervalLog(Date.UTC(2026, 10, 23), intervals, ['scenario x']);
    expect(text).toMatch(/^#scenario x/m);
    expect(text).toMatch(/#\[StartTime: /);
    expect(text).toMatch(/"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"/);
    const back = readIntervalLog(text);
    expect(back.map((h) => h.totalCount)).toEqual([100, 200, 300]);
    const points = intervalPoints(intervals);
    expect(points.map((p) => p.throughputPerSec)).toEqual([100, 200, 300]);
  });
});
