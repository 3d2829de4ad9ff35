import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareReports, formatComparison, mannWhitneyU, normalSf, samplesNeeded, smallestAttainableP, type ComparedMetric } from './bench-compare.js';
import { intervalsAround, JITTER, reportOf, runs, runScenario } from './bench-compare-fixture.js';
import type { IntervalPoint, RunSample } from './bench-result.js';

// ---------------------------------------------------------------------------
// Fixtures

const verdicts = (c: ReturnType<typeof compareReports>, name: string): Record<ComparedMetric, string> =>
  Object.fromEntries(c.scenarios.find((s) => s.name === name)!.metrics.map((m) => [m.metric, m.verdict])) as Record<ComparedMetric, string>;

// ---------------------------------------------------------------------------
// Statistics

/** Two-sided exact p as scipy defines it (2 × P(U ≥ max(U1, U2))), by enumerating every assignment of the pooled values (no ties). */
function bruteForceP(a: readonly number[], b: readonly number[]): number {
  const pooled = [...a, ...b].sort((x, y) => x - y);
  const n1 = a.length;
  const n2 = b.length;
  const uOf = (xs: readonly number[], ys: readonly number[]) => xs.reduce((acc, x) => acc + ys.filter((y) => x > y).length, 0);
  const observed = Math.max(uOf(a, b), n1 * n2 - uOf(a, b));
  let total = 0;
  let extreme = 0;
  const pick = (start: number, chosen: number[]): void => {
    if (chosen.length === n1) {
      const xs = chosen.map((i) => pooled[i]!);
      const ys = pooled.filter((_, i) => !chosen.includes(i));
      const u = uOf(xs, ys);
      total++;
      if (u >= observed) extreme++;
      return;
    }
    for (let i = start; i < pooled.length; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  return Math.min(1, (2 * extreme) / total);
}

describe('mannWhitneyU', () => {
  // Reference values: scipy 1.17.1, scipy.stats.mannwhitneyu(a, b) with its defaults
  // (method='auto', use_continuity=True, alternative='two-sided').
  it.each([
    { a: [19, 22, 16, 29, 24], b: [20, 11, 17, 12], u: 17, p: 0.1111111111111111, method: 'exact' }, // scipy docs example
    { a: [1, 2, 3], b: [4, 5, 6], u: 0, p: 0.1, method: 'exact' },
    { a: [1, 2, 3, 4], b: [5, 6, 7, 8], u: 0, p: 0.02857142857142857, method: 'exact' },
    { a: [1, 2, 3, 4, 5], b: [6, 7, 8, 9, 10], u: 0, p: 0.007936507936507936, method: 'exact' },
    { a: [3.5, 1.25, 4.75, 0.5], b: [9.5, 2.25, 6.5, 5.75, 3.25, 5.5, 8.25, 9.75, 7.5, 9.25, 3.75, 2.75, 3.125, 8.5, 4.25, 6.25], u: 10, p: 0.03880288957688339, method: 'exact' },
    { a: [1.1, 2.2, 3.3, 4.4, 5.5, 6.6, 7.7, 8.8, 9.9], b: [3.0, 4.5, 6.1, 7.2, 8.3, 9.4, 10.5, 11.6, 12.7, 13.8], u: 22, p: 0.06619257972219345, method: 'asymptotic' },
    { a: [1, 2, 2, 3, 3, 3, 4, 5], b: [3, 4, 4, 5, 6, 6, 7], u: 7, p: 0.015984685125196244, method: 'asymptotic' },
    { a: [10, 12, 11, 13, 14, 10, 12, 15, 11, 13, 12, 14], b: [15, 16, 14, 17, 18, 15, 16, 19, 17, 16, 18, 20], u: 3, p: 7.09645022805921e-5, method: 'asymptotic' },
    { a: [3, 1, 4, 1, 5], b: [9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6], u: 16, p: 0.05057087212552895, method: 'asymptotic' },
  ])('matches scipy for $a vs $b', ({ a, b, u, p, method }) => {
    const res = mannWhitneyU(a, b);
    expect(res.u).toBe(u);
    expect(res.method).toBe(method);
    expect(res.p).toBeCloseTo(p, 6);
    expect(Math.abs(res.p - p) / p).toBeLessThan(1e-5);
  });

  it('gives p = 1 for identical samples and for all-equal values', () => {
    expect(mannWhitneyU([1, 2, 3], [1, 2, 3]).p).toBe(1);
    expect(mannWhitneyU([5, 6, 7, 8, 9, 10, 11, 12, 13], [5, 6, 7, 8, 9, 10, 11, 12, 13]).p).toBeCloseTo(1, 9);
    expect(mannWhitneyU([4, 4, 4], [4, 4, 4, 4])).toEqual({ u: 6, p: 1, method: 'asymptotic' });
  });

  it('gives a small p for fully separated samples, shrinking with n', () => {
    const sep = (n: number) => mannWhitneyU(Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => 100 + i)).p;
    expect(sep(5)).toBeLessThan(0.01);
    expect(sep(20)).toBeLessThan(1e-6);
    expect(sep(20)).toBeLessThan(sep(10));
  });

  it('is symmetric: swapping the samples keeps p and mirrors U', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 }), (a, b) => {
        const ab = mannWhitneyU(a, b);
        const ba = mannWhitneyU(b, a);
        expect(ba.p).toBeCloseTo(ab.p, 12);
        expect(ab.u + ba.u).toBe(a.length * b.length);
        expect(ab.p).toBeGreaterThan(0);
        expect(ab.p).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('computes the exact distribution like a brute-force enumeration', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 11 }), fc.integer({ min: 1, max: 10 }), (values, cut) => {
        const k = 1 + (cut % (values.length - 1));
        const a = values.slice(0, k);
        const b = values.slice(k);
        const res = mannWhitneyU(a, b);
        expect(res.method).toBe('exact');
        expect(res.p).toBeCloseTo(bruteForceP(a, b), 12);
      }),
      { numRuns: 150 },
    );
  });

  it('handles empty samples and extreme z', () => {
    expect(mannWhitneyU([], [1]).p).toBeNaN();
    // scipy.stats.norm.sf
    for (const [z, sf] of [
      [0, 0.5],
      [1, 0.15865525393145707],
      [1.959963984540054, 0.025],
      [3, 0.0013498980316300933],
      [3.6, 0.00015910859015753364],
      [8, 6.22096057427174e-16],
      [12, 1.776482112077653e-33],
    ] as const) {
      expect(Math.abs(normalSf(z) - sf) / sf, `z = ${z}`).toBeLessThan(1e-12);
      expect(Math.abs(normalSf(-z) - (1 - sf)), `z = -${z}`).toBeLessThan(1e-15);
    }
    expect(normalSf(Infinity)).toBe(0);
    expect(normalSf(-Infinity)).toBe(1);
  });

  it('knows the smallest p a sample size can reach', () => {
    expect(smallestAttainableP(3, 3)).toBeCloseTo(0.1, 12);
    expect(smallestAttainableP(4, 4)).toBeCloseTo(2 / 70, 12);
    expect(samplesNeeded(0.05)).toBe(4);
    expect(samplesNeeded(0.01)).toBe(5);
  });
});

// ---------------------------------------------------------------------------
// compareReports

describe('compareReports', () => {
  it('finds no change between identical reports', () => {
    const r = reportOf([runScenario('closed.c1.d1.64B', runs(1))]);
    const c = compareReports(r, r, {});
    expect(c.regressed).toBe(false);
    expect(Object.values(verdicts(c, 'closed.c1.d1.64B'))).toEqual(Array(5).fill('no-change'));
    const m = c.scenarios[0]!.metrics[0]!;
    expect(m).toMatchObject({ source: 'runs', nBase: 5, nCandidate: 5, deltaPct: 0, method: 'asymptotic' });
    expect(m.p).toBeCloseTo(1, 6);
  });

  it('flags every metric of a candidate 30% slower as a regression, whatever the allowance below its 23–30%', () => {
    const base = reportOf([runScenario('s', runs(1))]);
    const cand = reportOf([runScenario('s', runs(1.3))]);
    for (const failOnRegressionPct of [undefined, 0, 10, 20]) {
      const c = compareReports(base, cand, { failOnRegressionPct });
      expect(c.regressed).toBe(true);
      expect(Object.values(verdicts(c, 's'))).toEqual(Array(5).fill('regression'));
    }
    const c = compareReports(base, cand, {});
    const p50 = c.scenarios[0]!.metrics.find((m) => m.metric === 'p50Us')!;
    expect(p50.deltaPct).toBeCloseTo(30, 6);
    expect(p50.p).toBeCloseTo(0.007936507936507936, 9); // 5 vs 5 fully separated, exact
    expect(p50.method).toBe('exact');
    const tput = c.scenarios[0]!.metrics.find((m) => m.metric === 'throughputPerSec')!;
    expect(tput.deltaPct).toBeCloseTo((1 / 1.3 - 1) * 100, 6);
    // Throughput is 23.1% lower: a 25% allowance lets it pass while the latencies (+30%) still regress.
    expect(verdicts(compareReports(base, cand, { failOnRegressionPct: 25 }), 's').throughputPerSec).toBe('no-change');
    expect(compareReports(base, cand, { failOnRegressionPct: 40 }).regressed).toBe(false);
  });

  it('judges the ratio to the same-run floor: a 30% worse ratio is a regression even when the machine got faster overall', () => {
    // The candidate machine is 20% faster (absolute latencies improve), but the target
    // lost ground against its floor: p50/floor went from ~1.2 to ~1.56.
    const withRatio = (samples: RunSample[], ratioP50: number): RunSample[] =>
      samples.map((r, i) => ({ ...r, floorRatioP50: ratioP50 * (JITTER[i] ?? 1), floorRatioP99: 1.5 * (JITTER[i] ?? 1) }));
    const floor = { name: 'floor.node-echo.s', p50Us: 8, p99Us: 15 };
    const base = reportOf([runScenario('s', withRatio(runs(1), 1.2), { floor, ratioToFloor: { p50: 1.2, p99: 1.5 } })]);
    const cand = reportOf([runScenario('s', withRatio(runs(0.8), 1.56), { floor, ratioToFloor: { p50: 1.56, p99: 1.5 } })]);
    const v = verdicts(compareReports(base, cand, { failOnRegressionPct: 10 }), 's');
    expect(v.p50Us).toBe('improvement');
    expect(v.floorRatioP50).toBe('regression');
    expect(v.floorRatioP99).toBe('no-change');
  });

  it('compares floor ratios only for scenarios that have a floor', () => {
    const r = reportOf([runScenario('s', runs(1))]);
    expect(Object.keys(verdicts(compareReports(r, r, {}), 's'))).toEqual(['p50Us', 'p90Us', 'p99Us', 'p999Us', 'throughputPerSec']);
  });

  it('lets a significant 5% slowdown pass under a 10% allowance, and says so', () => {
    const base = reportOf([runScenario('s', runs(1))]);
    const cand = reportOf([runScenario('s', runs(1.05))]);
    const within = compareReports(base, cand, { failOnRegressionPct: 10 });
    expect(within.regressed).toBe(false);
    const p99 = within.scenarios[0]!.metrics.find((m) => m.metric === 'p99Us')!;
    expect(p99.verdict).toBe('no-change');
    expect(p99.p).toBeLessThan(0.05);
    expect(p99.note).toContain('within the 10% allowance');
    expect(compareReports(base, cand, {}).regressed).toBe(true);
  });

  it('reports a faster candidate as an improvement', () => {
    const c = compareReports(reportOf([runScenario('s', runs(1))]), reportOf([runScenario('s', runs(0.7))]), { failOnRegressionPct: 5 });
    expect(c.regressed).toBe(false);
    expect(Object.values(verdicts(c, 's'))).toEqual(Array(5).fill('improvement'));
    expect(c.counts).toEqual({ regression: 0, improvement: 5, 'no-change': 0, 'insufficient-data': 0 });
  });

  it('matches scenarios by name and lists those on one side only', () => {
    const base = reportOf([runScenario('a', runs(1)), runScenario('b', runs(1)), runScenario('c', runs(1))]);
    const cand = reportOf([runScenario('d', runs(1)), runScenario('c', runs(1)), runScenario('a', runs(1.3))]);
    const c = compareReports(base, cand);
    expect(c.scenarios.map((s) => s.name)).toEqual(['a', 'c']);
    expect(c.onlyInBase).toEqual(['b']);
    expect(c.onlyInCandidate).toEqual(['d']);
    expect(c.scenarios.map((s) => s.regressed)).toEqual([true, false]);
  });

  it('falls back to intervals, testing only the metrics intervals carry', () => {
    const base = reportOf([runScenario('s', runs(1, 1), { intervals: intervalsAround(1, 10) })]);
    const cand = reportOf([runScenario('s', runs(1.3, 1), { intervals: intervalsAround(1.3, 10) })]);
    const c = compareReports(base, cand, { failOnRegressionPct: 10 });
    const s = c.scenarios[0]!;
    expect(s).toMatchObject({ source: 'intervals', nBase: 10, nCandidate: 10 });
    expect(verdicts(c, 's')).toEqual({ p50Us: 'regression', p90Us: 'insufficient-data', p99Us: 'regression', p999Us: 'insufficient-data', throughputPerSec: 'regression' });
    expect(s.notes.join('\n')).toContain('intervals are not independent');
    expect(s.metrics.find((m) => m.metric === 'p90Us')!.note).toContain('runs (--repeat)');
  });

  it('ignores intervals without replies for latency, but not for throughput', () => {
    const empty: IntervalPoint = { startMs: 9000, durationMs: 1000, throughputPerSec: 0, p50Us: 0, p99Us: 0, maxUs: 0 };
    const base = reportOf([runScenario('s', [], { intervals: [...intervalsAround(1, 6), empty] })]);
    const cand = reportOf([runScenario('s', [], { intervals: intervalsAround(1, 6) })]);
    const c = compareReports(base, cand);
    const m = Object.fromEntries(c.scenarios[0]!.metrics.map((x) => [x.metric, x]));
    expect(m.p50Us).toMatchObject({ nBase: 6, nCandidate: 6 });
    expect(m.throughputPerSec).toMatchObject({ nBase: 7, nCandidate: 6 });
  });

  it('says insufficient-data when there are too few samples, or too few to ever reach alpha', () => {
    const none = compareReports(reportOf([runScenario('s', runs(1, 2))]), reportOf([runScenario('s', runs(1.3, 2))]));
    expect(none.scenarios[0]!.source).toBe('none');
    expect(Object.values(verdicts(none, 's'))).toEqual(Array(5).fill('insufficient-data'));
    expect(none.regressed).toBe(false);

    const three = compareReports(reportOf([runScenario('s', runs(1, 3))]), reportOf([runScenario('s', runs(1.3, 3))]));
    const p50 = three.scenarios[0]!.metrics[0]!;
    expect(p50).toMatchObject({ verdict: 'insufficient-data', source: 'runs', nBase: 3, nCandidate: 3 });
    expect(p50.note).toContain('cannot reach p < 0.05');
    expect(p50.note).toContain('use ≥ 4 on each side');
    // A looser alpha makes 3 vs 3 usable (smallest p = 0.1).
    expect(compareReports(reportOf([runScenario('s', runs(1, 3))]), reportOf([runScenario('s', runs(1.3, 3))]), { alpha: 0.2 }).regressed).toBe(true);
  });

  it('drops missing figures (null in JSON, NaN in memory) from the samples', () => {
    const holes = runs(1.3, 6).map((r, i) => (i === 1 ? { ...r, p99Us: Number.NaN } : r));
    const c = compareReports(reportOf([runScenario('s', runs(1, 6))]), reportOf([runScenario('s', holes)]));
    expect(c.scenarios[0]!.metrics.find((m) => m.metric === 'p99Us')).toMatchObject({ nBase: 6, nCandidate: 5, verdict: 'regression' });
  });

  it('counts a candidate scenario that failed where the base completed as a regression', () => {
    const c = compareReports(reportOf([runScenario('s', runs(1))]), reportOf([runScenario('s', runs(1), { failure: 'target stopped answering' })]));
    expect(c.regressed).toBe(true);
    expect(c.scenarios[0]).toMatchObject({ candidateFailed: true, regressed: true });
    expect(c.scenarios[0]!.notes).toContain('candidate did not complete: target stopped answering');
  });

  it('does not call a regression when the samples and the headline figure disagree', () => {
    // Samples are slower, but the merged headline p50 is lower than the base's.
    const c = compareReports(reportOf([runScenario('s', runs(1))]), reportOf([runScenario('s', runs(1.3), { p50Us: 9 })]));
    const p50 = c.scenarios[0]!.metrics.find((m) => m.metric === 'p50Us')!;
    expect(p50.verdict).toBe('no-change');
    expect(p50.note).toContain('moved the other way');
  });

  it('notes differing setups and machines', () => {
    const c = compareReports(
      reportOf([runScenario('s', runs(1))]),
      reportOf([runScenario('s', runs(1), { mode: 'lp32-msgpack/hmac-v2', connections: 4 })], { hostname: 'other', nodeVersion: 'v22.1.0' }),
    );
    expect(c.scenarios[0]!.notes).toEqual(expect.arrayContaining(['mode differs: base ndjson/hmac-json, candidate lp32-msgpack/hmac-v2', 'connections differs: base 1, candidate 4']));
    expect(c.warnings.join('\n')).toContain('different machines');
    expect(c.warnings.join('\n')).toContain('Node.js differs');
  });

  it('rejects alpha outside (0, 1) and a negative allowance with FP_USAGE', () => {
    const r = reportOf([]);
    for (const alpha of [0, 1, -0.1, 1.5, Number.NaN]) expect(() => compareReports(r, r, { alpha })).toThrow(expect.objectContaining({ code: 'FP_USAGE' }));
    for (const failOnRegressionPct of [-1, Number.NaN, Infinity]) {
      expect(() => compareReports(r, r, { failOnRegressionPct })).toThrow(expect.objectContaining({ code: 'FP_USAGE' }));
    }
    expect(compareReports(r, r).warnings).toContain('no scenario name is in both reports: nothing was compared');
  });
});

describe('formatComparison', () => {
  it('prints a table per scenario with deltas, p-values, verdicts and the sample source', () => {
    const base = reportOf([runScenario('closed.c1.d1.64B', runs(1)), runScenario('gone', runs(1)), runScenario('iv', [], { intervals: intervalsAround(1, 8) })]);
    const cand = reportOf([runScenario('closed.c1.d1.64B', runs(1.3)), runScenario('new', runs(1)), runScenario('iv', [], { intervals: intervalsAround(1, 8) })]);
    const text = formatComparison(compareReports(base, cand, { failOnRegressionPct: 10 }));
    expect(text).toContain('two-sided Mann–Whitney U at alpha 0.05; regression = significant and worse by more than 10%');
    expect(text).toContain('closed.c1.d1.64B  [ndjson/hmac-json]  samples: runs, n = 5 base vs 5 candidate, Mann–Whitney U exact');
    expect(text).toMatch(/p50 µs\s+10\.00\s+13\.00\s+\+30\.0%\s+5\/5\s+0\.008\s+REGRESSION/);
    expect(text).toMatch(/throughput \/s\s+50000\s+38462\s+-23\.1%\s+5\/5\s+0\.008\s+REGRESSION/);
    expect(text).toContain('iv  [ndjson/hmac-json]  samples: intervals, n = 8 base vs 8 candidate');
    expect(text).toContain('p90 µs, p99.9 µs: intervals carry only p50, p99 and throughput');
    expect(text).toContain('only in base (not compared): gone');
    expect(text).toContain('only in candidate (not compared): new');
    expect(text).toContain('REGRESSED (closed.c1.d1.64B): 5 regression(s)');
  });

  it('ends with "no regression" when nothing regressed', () => {
    const r = reportOf([runScenario('s', runs(1))]);
    expect(formatComparison(compareReports(r, r))).toMatch(/no regression: 0 regression\(s\), 0 improvement\(s\), 5 no-change/);
  });
});
