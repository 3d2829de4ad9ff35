import { fpError } from '../protocol/index.js';
import type { BenchEnv, BenchReport, ScenarioResult } from './bench-result.js';

/**
 * `fastpath bench compare`: is a candidate run slower than a base run, beyond noise?
 * Pure: two reports in, a {@link Comparison} out, printing returns a string.
 *
 * A verdict never rests on one number. Each metric is decided by a two-sided
 * Mann–Whitney U test on repeated samples of both sides: the per-repetition figures
 * (`runs`, from `--repeat`) when both sides have at least {@link MIN_RUNS}, otherwise
 * the per-interval figures (`intervals`) when both have at least
 * {@link MIN_INTERVALS}. A difference is a regression only when it is significant
 * at `alpha` AND the headline figure is worse by more than `failOnRegressionPct`
 * (by more than 0% when that is not given).
 */

/** Metrics compared per scenario. */
export const COMPARED_METRICS = ['p50Us', 'p90Us', 'p99Us', 'p999Us', 'throughputPerSec', 'floorRatioP50', 'floorRatioP99'] as const;
export type ComparedMetric = (typeof COMPARED_METRICS)[number];

/** Which direction is better: latencies down, throughput up. */
export const METRIC_BETTER: Readonly<Record<ComparedMetric, 'lower' | 'higher'>> = {
  p50Us: 'lower',
  p90Us: 'lower',
  p99Us: 'lower',
  p999Us: 'lower',
  throughputPerSec: 'higher',
  floorRatioP50: 'lower',
  floorRatioP99: 'lower',
};

/**
 * Ratios to the floor of the same run: on a noisy machine the target and its floor
 * move together, so these are often significant where the absolute figures are not.
 * Compared only for scenarios with a floor, on runs only.
 */
const RATIO_METRICS: ReadonlySet<ComparedMetric> = new Set(['floorRatioP50', 'floorRatioP99']);

/** The headline figure of a metric (ratios come from `ratioToFloor`). */
function headline(s: ScenarioResult, metric: ComparedMetric): number {
  if (metric === 'floorRatioP50') return s.ratioToFloor?.p50 ?? Number.NaN;
  if (metric === 'floorRatioP99') return s.ratioToFloor?.p99 ?? Number.NaN;
  return s[metric];
}

/** Metrics that intervals carry (p90 and p99.9 only come with runs). */
const INTERVAL_METRICS: ReadonlySet<ComparedMetric> = new Set(['p50Us', 'p99Us', 'throughputPerSec']);

/** Both sides need at least this many runs for the runs to be the samples. */
export const MIN_RUNS = 3;
/** Otherwise both sides need at least this many intervals. */
export const MIN_INTERVALS = 5;
export const DEFAULT_ALPHA = 0.05;

export type CompareVerdict = 'regression' | 'improvement' | 'no-change' | 'insufficient-data';
export const COMPARE_VERDICTS = ['regression', 'improvement', 'no-change', 'insufficient-data'] as const satisfies readonly CompareVerdict[];

/** Where the samples of a test came from. */
export type SampleSource = 'runs' | 'intervals' | 'none';

/** Result of {@link mannWhitneyU}. */
export interface MannWhitneyResult {
  /** U of the first sample: the number of pairs (a, b) with a > b, ties counting ½ (scipy's `statistic`). */
  readonly u: number;
  /** Two-sided p-value. */
  readonly p: number;
  /** `exact` (permutation distribution) or `asymptotic` (normal approximation, tie and continuity corrected). */
  readonly method: 'exact' | 'asymptotic';
}

/** One metric of one scenario, base vs candidate. */
export interface MetricComparison {
  readonly metric: ComparedMetric;
  readonly better: 'lower' | 'higher';
  /** Headline figure of the base report (merged over runs). */
  readonly base: number;
  readonly candidate: number;
  /** (candidate − base) / base × 100; undefined when base is 0 or a figure is missing. */
  readonly deltaPct: number | undefined;
  readonly verdict: CompareVerdict;
  readonly source: SampleSource;
  /** Samples used on each side (after dropping missing values). */
  readonly nBase: number;
  readonly nCandidate: number;
  /** Medians of the samples, when tested. */
  readonly baseMedian: number | undefined;
  readonly candidateMedian: number | undefined;
  readonly u: number | undefined;
  readonly p: number | undefined;
  readonly method: MannWhitneyResult['method'] | undefined;
  /** Why the verdict is what it is, when that is not obvious (too few samples, within the allowance…). */
  readonly note: string | undefined;
}

/** One scenario present in both reports. */
export interface ScenarioComparison {
  readonly name: string;
  /** Mode of the candidate (the base's is in `notes` when it differs). */
  readonly mode: string;
  readonly source: SampleSource;
  /** Runs or intervals available on each side for `source` (0 with `none`). */
  readonly nBase: number;
  readonly nCandidate: number;
  readonly metrics: readonly MetricComparison[];
  /** Scenario-level remarks: differing setups, failures. */
  readonly notes: readonly string[];
  /** The candidate scenario did not complete while the base one did: counted as a regression. */
  readonly candidateFailed: boolean;
  readonly regressed: boolean;
}

/** What a report was: enough to say what was compared with what. */
export interface ReportIdentity {
  readonly target: string;
  readonly startedAt: string;
  readonly hostname: string;
  readonly cpuModel: string;
  readonly nodeVersion: string;
  readonly toolVersion: string;
}

/** The result of {@link compareReports} (`bench compare --json` prints exactly this). */
export interface Comparison {
  readonly alpha: number;
  readonly failOnRegressionPct: number | undefined;
  readonly base: ReportIdentity;
  readonly candidate: ReportIdentity;
  /** Scenarios present in both, in the base report's order. */
  readonly scenarios: readonly ScenarioComparison[];
  readonly onlyInBase: readonly string[];
  readonly onlyInCandidate: readonly string[];
  /** Report-level remarks, e.g. runs on different machines. */
  readonly warnings: readonly string[];
  /** Metric verdicts over all scenarios. */
  readonly counts: Readonly<Record<CompareVerdict, number>>;
  /** True when any metric regressed or a candidate scenario failed where the base did not. */
  readonly regressed: boolean;
}

/** Options of {@link compareReports}. */
export interface CompareOptions {
  /** Significance level of the two-sided test, in (0, 1); default 0.05. */
  readonly alpha?: number;
  /** A significant change worse by at most this many percent is not a regression; default 0. */
  readonly failOnRegressionPct?: number;
}

// ---------------------------------------------------------------------------
// Statistics

/**
 * Complementary error function, to about 1e-13 relative error: the positive-term
 * series erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)) below 2.5, the
 * continued fraction erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))) above.
 */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum);
  }
  let k = 0;
  for (let n = 80; n >= 1; n--) k = n / 2 / (x + k);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + k);
}

/** Upper tail of the standard normal distribution, P(Z > z). */
export function normalSf(z: number): number {
  if (z === Infinity) return 0;
  if (z === -Infinity) return 1;
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Exact distribution is used when no value is tied, one sample has at most this many values… */
const EXACT_MAX_SMALL_N = 8;
/** …and n1·n2 stays below this (the table has n1·n2 + 1 entries). */
const EXACT_MAX_CELLS = 20_000;

/**
 * Number of arrangements of m + n distinct values giving each U = 0..m·n: the
 * coefficients of the Gaussian binomial [m+n choose m]_q = Π (1 − q^(n+i)) / (1 − q^i),
 * built factor by factor (every partial product is itself a Gaussian binomial, so
 * each division is exact). BigInt, so the counts stay exact for any size.
 */
function exactUCounts(m: number, n: number): bigint[] {
  const small = Math.min(m, n);
  const large = Math.max(m, n);
  // Room for the intermediate product, one factor (1 − q^(large+i)) ahead of its division.
  const c: bigint[] = new Array<bigint>(small * (large + 1) + 1).fill(0n);
  c[0] = 1n;
  let degree = 0;
  for (let i = 1; i <= small; i++) {
    // Multiply by (1 − q^(large+i)).
    const shift = large + i;
    for (let k = degree + shift; k >= shift; k--) c[k] = c[k]! - c[k - shift]!;
    degree += shift;
    // Divide by (1 − q^i): running sum.
    for (let k = i; k <= degree; k++) c[k] = c[k]! + c[k - i]!;
    degree -= i;
  }
  return c.slice(0, small * large + 1);
}

/**
 * Two-sided Mann–Whitney U test (Wilcoxon rank-sum) of two independent samples,
 * following `scipy.stats.mannwhitneyu(a, b)` with its defaults: exact when there are
 * no ties and one sample has at most 8 values (and n1·n2 ≤ 20 000), otherwise the
 * normal approximation with tie correction and continuity correction.
 *
 * Values must be finite; with an empty sample the result is `{ u: NaN, p: NaN }`.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, p: Number.NaN, method: 'asymptotic' };
  const all = [...a.map((v) => ({ v, first: true })), ...b.map((v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  const n = n1 + n2;
  let rankSumA = 0;
  let tieTerm = 0; // Σ (t³ − t) over groups of tied values
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && all[j]!.v === all[i]!.v) j++;
    const t = j - i;
    const averageRank = (i + 1 + j) / 2; // ranks i+1 .. j
    for (let k = i; k < j; k++) if (all[k]!.first) rankSumA += averageRank;
    tieTerm += t * t * t - t;
    i = j;
  }
  const u1 = rankSumA - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const uMax = Math.max(u1, u2);

  if (tieTerm === 0 && Math.min(n1, n2) <= EXACT_MAX_SMALL_N && n1 * n2 <= EXACT_MAX_CELLS) {
    const counts = exactUCounts(n1, n2);
    let total = 0n;
    let tail = 0n;
    for (let k = 0; k < counts.length; k++) {
      total += counts[k]!;
      if (k >= uMax) tail += counts[k]!;
    }
    return { u: u1, p: Math.min(1, (2 * Number(tail)) / Number(total)), method: 'exact' };
  }

  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (!(sigma > 0)) return { u: u1, p: 1, method: 'asymptotic' }; // every value tied: no evidence of a shift
  const z = (uMax - mu - 0.5) / sigma;
  return { u: u1, p: Math.min(1, Math.max(0, 2 * normalSf(z))), method: 'asymptotic' };
}

/** The smallest p-value samples of these sizes can reach (fully separated, no ties). */
export function smallestAttainableP(n1: number, n2: number): number {
  if (n1 < 1 || n2 < 1) return 1;
  const a = Array.from({ length: n1 }, (_, i) => i);
  const b = Array.from({ length: n2 }, (_, i) => n1 + i);
  return mannWhitneyU(a, b).p;
}

/** The smallest n such that n vs n samples can reach p < alpha (capped at 1000). */
export function samplesNeeded(alpha: number): number {
  for (let k = 2; k <= 1000; k++) if (smallestAttainableP(k, k) < alpha) return k;
  return 1000;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---------------------------------------------------------------------------
// Comparison

function checkOptions(opts: CompareOptions): { alpha: number; failOnRegressionPct: number | undefined } {
  const alpha = opts.alpha ?? DEFAULT_ALPHA;
  if (!(Number.isFinite(alpha) && alpha > 0 && alpha < 1)) {
    throw fpError('FP_USAGE', `alpha must be a number between 0 and 1 (exclusive), e.g. 0.05; got ${String(alpha)}`);
  }
  const pct = opts.failOnRegressionPct;
  if (pct !== undefined && !(Number.isFinite(pct) && pct >= 0)) {
    throw fpError('FP_USAGE', `the regression allowance must be a percentage ≥ 0, e.g. 10; got ${String(pct)}`);
  }
  return { alpha, failOnRegressionPct: pct };
}

/** Which samples a scenario pair is tested on, and how many each side has. */
function pickSource(base: ScenarioResult, cand: ScenarioResult): { source: SampleSource; nBase: number; nCandidate: number } {
  if (base.runs.length >= MIN_RUNS && cand.runs.length >= MIN_RUNS) return { source: 'runs', nBase: base.runs.length, nCandidate: cand.runs.length };
  if (base.intervals.length >= MIN_INTERVALS && cand.intervals.length >= MIN_INTERVALS) {
    return { source: 'intervals', nBase: base.intervals.length, nCandidate: cand.intervals.length };
  }
  return { source: 'none', nBase: 0, nCandidate: 0 };
}

/**
 * The samples of one metric. Missing figures (NaN) are dropped; for latencies,
 * intervals without any reply (throughput 0) are dropped too, since they hold no latency.
 */
function samplesOf(s: ScenarioResult, source: SampleSource, metric: ComparedMetric): number[] | undefined {
  if (source === 'runs') return s.runs.map((r) => r[metric] ?? Number.NaN).filter(Number.isFinite);
  if (source === 'intervals' && INTERVAL_METRICS.has(metric)) {
    const m = metric as 'p50Us' | 'p99Us' | 'throughputPerSec';
    return s.intervals
      .filter((iv) => metric === 'throughputPerSec' || iv.throughputPerSec > 0)
      .map((iv) => iv[m])
      .filter(Number.isFinite);
  }
  return undefined;
}

const fmtPct = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`;

function compareMetric(
  metric: ComparedMetric,
  base: ScenarioResult,
  cand: ScenarioResult,
  source: SampleSource,
  alpha: number,
  allowancePct: number,
): MetricComparison {
  const better = METRIC_BETTER[metric];
  const baseValue = headline(base, metric);
  const candValue = headline(cand, metric);
  const deltaPct = Number.isFinite(baseValue) && Number.isFinite(candValue) && baseValue !== 0 ? ((candValue - baseValue) / Math.abs(baseValue)) * 100 : undefined;
  const result = (verdict: CompareVerdict, extra: Partial<MetricComparison> = {}): MetricComparison => ({
    metric,
    better,
    base: baseValue,
    candidate: candValue,
    deltaPct,
    verdict,
    source,
    nBase: 0,
    nCandidate: 0,
    baseMedian: undefined,
    candidateMedian: undefined,
    u: undefined,
    p: undefined,
    method: undefined,
    note: undefined,
    ...extra,
  });

  if (source === 'none') return result('insufficient-data', { note: `needs ≥ ${MIN_RUNS} runs (--repeat) or ≥ ${MIN_INTERVALS} intervals on both sides` });
  const a = samplesOf(base, source, metric);
  const b = samplesOf(cand, source, metric);
  if (a === undefined || b === undefined) {
    return result('insufficient-data', { source: 'none', note: `intervals carry only p50, p99 and throughput; needs ≥ ${MIN_RUNS} runs (--repeat) on both sides` });
  }
  const min = source === 'runs' ? MIN_RUNS : MIN_INTERVALS;
  if (a.length < min || b.length < min) {
    return result('insufficient-data', { nBase: a.length, nCandidate: b.length, note: `only ${a.length} vs ${b.length} ${source} with a ${metric} value (needs ≥ ${min} each)` });
  }
  const test = mannWhitneyU(a, b);
  const baseMedian = median(a);
  const candidateMedian = median(b);
  const tested = { nBase: a.length, nCandidate: b.length, baseMedian, candidateMedian, u: test.u, p: test.p, method: test.method };
  const floorP = smallestAttainableP(a.length, b.length);
  if (floorP >= alpha) {
    return result('insufficient-data', {
      ...tested,
      note: `${a.length} vs ${b.length} ${source} cannot reach p < ${alpha} (smallest possible p = ${floorP.toFixed(3)}); use ≥ ${samplesNeeded(alpha)} on each side`,
    });
  }
  if (test.p >= alpha || deltaPct === undefined || deltaPct === 0) return result('no-change', tested);
  // Positive when the candidate is worse.
  const worsePct = better === 'lower' ? deltaPct : -deltaPct;
  const samplesWorse = better === 'lower' ? candidateMedian > baseMedian : candidateMedian < baseMedian;
  if (samplesWorse !== worsePct > 0) {
    return result('no-change', { ...tested, note: `the samples moved the other way than the headline figure (${fmtPct(deltaPct)})` });
  }
  if (worsePct < 0) return result('improvement', tested);
  if (worsePct > allowancePct) return result('regression', tested);
  return result('no-change', { ...tested, note: `significantly worse, but by ${worsePct.toFixed(1)}%, within the ${allowancePct}% allowance` });
}

function compareScenario(base: ScenarioResult, cand: ScenarioResult, alpha: number, allowancePct: number): ScenarioComparison {
  const notes: string[] = [];
  if (base.mode !== cand.mode) notes.push(`mode differs: base ${base.mode}, candidate ${cand.mode}`);
  for (const key of ['peer', 'loop', 'connections', 'depth', 'payloadBytes', 'ratePerSec'] as const) {
    if (base[key] !== cand[key]) notes.push(`${key} differs: base ${String(base[key])}, candidate ${String(cand[key])}`);
  }
  const candidateFailed = cand.failure !== undefined && base.failure === undefined;
  if (candidateFailed) notes.push(`candidate did not complete: ${cand.failure}`);
  if (base.failure !== undefined) notes.push(`base did not complete: ${base.failure}`);
  if (cand.errors > 0 && base.errors === 0) notes.push(`candidate had ${cand.errors} error(s), base none${cand.errorSamples[0] !== undefined ? ` (e.g. ${cand.errorSamples[0]})` : ''}`);
  const picked = pickSource(base, cand);
  if (picked.source === 'intervals') {
    notes.push(`tested on intervals of one run each: intervals are not independent samples, so p-values are optimistic; use --repeat ≥ ${Math.max(MIN_RUNS, samplesNeeded(alpha))}`);
  }
  const withFloor = base.ratioToFloor !== undefined || cand.ratioToFloor !== undefined;
  const metrics = COMPARED_METRICS.filter((m) => withFloor || !RATIO_METRICS.has(m)).map((m) => compareMetric(m, base, cand, picked.source, alpha, allowancePct));
  return {
    name: cand.name,
    mode: cand.mode,
    ...picked,
    metrics,
    notes,
    candidateFailed,
    regressed: candidateFailed || metrics.some((m) => m.verdict === 'regression'),
  };
}

function identity(env: BenchEnv, report: BenchReport): ReportIdentity {
  return {
    target: env.target,
    startedAt: env.startedAt,
    hostname: env.hostname,
    cpuModel: env.cpuModel,
    nodeVersion: env.nodeVersion,
    toolVersion: report.tool.version,
  };
}

/**
 * Compares a candidate report with a base report, scenario by scenario (matched by name).
 * @throws FastPathError FP_USAGE when alpha is not in (0, 1) or the allowance is negative.
 */
export function compareReports(base: BenchReport, cand: BenchReport, opts: CompareOptions = {}): Comparison {
  const { alpha, failOnRegressionPct } = checkOptions(opts);
  const allowancePct = failOnRegressionPct ?? 0;
  const candByName = new Map(cand.scenarios.map((s) => [s.name, s]));
  const baseNames = new Set(base.scenarios.map((s) => s.name));
  const scenarios: ScenarioComparison[] = [];
  for (const b of base.scenarios) {
    const c = candByName.get(b.name);
    if (c !== undefined) scenarios.push(compareScenario(b, c, alpha, allowancePct));
  }
  const counts: Record<CompareVerdict, number> = { regression: 0, improvement: 0, 'no-change': 0, 'insufficient-data': 0 };
  for (const s of scenarios) for (const m of s.metrics) counts[m.verdict]++;

  const warnings: string[] = [];
  const be = base.env;
  const ce = cand.env;
  if (be.hostname !== ce.hostname || be.cpuModel !== ce.cpuModel || be.cpuCount !== ce.cpuCount) {
    warnings.push(`the reports come from different machines (${be.hostname}, ${be.cpuModel} × ${be.cpuCount} vs ${ce.hostname}, ${ce.cpuModel} × ${ce.cpuCount}): absolute figures are not comparable`);
  }
  if (be.pinning.mode !== ce.pinning.mode) warnings.push(`CPU pinning differs: base ${be.pinning.mode}, candidate ${ce.pinning.mode}`);
  if (be.nodeVersion !== ce.nodeVersion) warnings.push(`Node.js differs: base ${be.nodeVersion}, candidate ${ce.nodeVersion}`);
  if (scenarios.length === 0) warnings.push('no scenario name is in both reports: nothing was compared');

  return {
    alpha,
    failOnRegressionPct,
    base: identity(be, base),
    candidate: identity(ce, cand),
    scenarios,
    onlyInBase: base.scenarios.filter((s) => !candByName.has(s.name)).map((s) => s.name),
    onlyInCandidate: cand.scenarios.filter((s) => !baseNames.has(s.name)).map((s) => s.name),
    warnings,
    counts,
    regressed: scenarios.some((s) => s.regressed),
  };
}

// ---------------------------------------------------------------------------
// Text

const METRIC_LABEL: Record<ComparedMetric, string> = {
  p50Us: 'p50 µs',
  p90Us: 'p90 µs',
  p99Us: 'p99 µs',
  p999Us: 'p99.9 µs',
  throughputPerSec: 'throughput /s',
  floorRatioP50: 'p50 / floor',
  floorRatioP99: 'p99 / floor',
};

function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const abs = Math.abs(v);
  return abs >= 1000 ? v.toFixed(0) : abs >= 100 ? v.toFixed(1) : v.toFixed(2);
}

function fmtP(p: number | undefined): string {
  if (p === undefined || Number.isNaN(p)) return '-';
  return p < 0.001 ? '<0.001' : p.toFixed(3);
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

function describeSource(s: ScenarioComparison): string {
  if (s.source === 'none') return 'samples: none (too few runs and intervals)';
  const methods = new Set(s.metrics.map((m) => m.method).filter((m) => m !== undefined));
  const test = methods.size === 0 ? '' : `, Mann–Whitney U ${[...methods].map((m) => (m === 'exact' ? 'exact' : 'normal approx.')).join('/')}`;
  return `samples: ${s.source}, n = ${s.nBase} base vs ${s.nCandidate} candidate${test}`;
}

/** The comparison as text: a table per scenario with deltas, p-values and verdicts, then a summary. */
export function formatComparison(c: Comparison): string {
  const out: string[] = [];
  out.push(`bench compare: base ${c.base.target} (${c.base.startedAt}, ${c.base.hostname}) vs candidate ${c.candidate.target} (${c.candidate.startedAt}, ${c.candidate.hostname})`);
  const rule =
    c.failOnRegressionPct === undefined
      ? 'regression = significant and worse'
      : `regression = significant and worse by more than ${c.failOnRegressionPct}%`;
  out.push(`two-sided Mann–Whitney U at alpha ${c.alpha}; ${rule}`);
  for (const w of c.warnings) out.push(`warning: ${w}`);
  for (const s of c.scenarios) {
    out.push('', `${s.name}  [${s.mode}]  ${describeSource(s)}`);
    const rows: string[][] = [['metric', 'base', 'candidate', 'delta', 'n', 'p', 'verdict']];
    const notes: string[] = [];
    for (const m of s.metrics) {
      rows.push([
        METRIC_LABEL[m.metric],
        fmtValue(m.base),
        fmtValue(m.candidate),
        m.deltaPct === undefined ? '-' : fmtPct(m.deltaPct),
        m.nBase === 0 && m.nCandidate === 0 ? '-' : `${m.nBase}/${m.nCandidate}`,
        fmtP(m.p),
        m.verdict === 'regression' ? 'REGRESSION' : m.verdict,
      ]);
      if (m.note !== undefined) notes.push(`${METRIC_LABEL[m.metric]}: ${m.note}`);
    }
    out.push(...table(rows, new Set([1, 2, 3, 4, 5])));
    const allNotes = [...s.notes, ...dedupeNotes(notes)];
    for (const n of allNotes) out.push(`  note: ${n}`);
  }
  if (c.onlyInBase.length > 0) out.push('', `only in base (not compared): ${c.onlyInBase.join(', ')}`);
  if (c.onlyInCandidate.length > 0) out.push('', `only in candidate (not compared): ${c.onlyInCandidate.join(', ')}`);
  out.push('', summaryLine(c));
  return `${out.join('\n')}\n`;
}

/** Folds identical notes of several metrics into one line. */
function dedupeNotes(notes: readonly string[]): string[] {
  const byText = new Map<string, string[]>();
  for (const n of notes) {
    const i = n.indexOf(': ');
    const label = n.slice(0, i);
    const text = n.slice(i + 2);
    byText.set(text, [...(byText.get(text) ?? []), label]);
  }
  return [...byText].map(([text, labels]) => `${labels.join(', ')}: ${text}`);
}

function summaryLine(c: Comparison): string {
  const k = c.counts;
  const tally = `${k.regression} regression(s), ${k.improvement} improvement(s), ${k['no-change']} no-change, ${k['insufficient-data']} insufficient-data over ${c.scenarios.length} scenario(s)`;
  if (!c.regressed) return `no regression: ${tally}`;
  const names = c.scenarios.filter((s) => s.regressed).map((s) => s.name);
  return `REGRESSED (${names.join(', ')}): ${tally}`;
}
