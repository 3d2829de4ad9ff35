/**
 * Trends of a soak run (pure): leaks are found by a trend over time, not by comparing
 * two samples. RSS growth comes from Theil–Sen lines (the median of the slopes between
 * every pair of samples) through the samples after warm-up and through their post-GC
 * baseline, so a GC sawtooth, a long GC cycle or a few outliers do not move it while a
 * steady leak does; FD growth compares the medians of the first and last few samples;
 * latency drift is the Theil–Sen line through the p99 of each interval.
 */

/** One value at a time, `tMs` after the start of the measured phase. */
export interface TimedValue {
  readonly tMs: number;
  readonly value: number;
}

/** A fitted line `value = interceptAt0 + slopePerMs × tMs`. */
export interface LineFit {
  readonly slopePerMs: number;
  /** The line's value at tMs = 0. */
  readonly interceptAt0: number;
}

/** Most points the pairwise fit works on; longer series are reduced to block medians first (n² pairs). */
export const MAX_FIT_POINTS = 600;

function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Median of any list of numbers (NaN for none). */
export function medianOf(values: readonly number[]): number {
  return median(Float64Array.from(values).sort());
}

/**
 * At most `maxPoints` points of a time-sorted series: consecutive blocks of equal size,
 * each replaced by its median time and median value (robust, and keeps the trend).
 */
export function blockMedians(points: readonly TimedValue[], maxPoints: number = MAX_FIT_POINTS): TimedValue[] {
  if (points.length <= maxPoints) return [...points];
  const size = Math.ceil(points.length / maxPoints);
  const out: TimedValue[] = [];
  for (let i = 0; i < points.length; i += size) {
    const block = points.slice(i, i + size);
    out.push({ tMs: medianOf(block.map((p) => p.tMs)), value: medianOf(block.map((p) => p.value)) });
  }
  return out;
}

/**
 * Theil–Sen estimator: the slope is the median of the slopes between every pair of
 * points (pairs at the same time are skipped), the intercept the median of
 * `value − slope × t`. Undefined for fewer than two distinct times.
 */
export function theilSen(points: readonly TimedValue[]): LineFit | undefined {
  const pts = blockMedians(points.filter((p) => Number.isFinite(p.tMs) && Number.isFinite(p.value)));
  const n = pts.length;
  const slopes = new Float64Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = pts[i] as TimedValue;
    for (let j = i + 1; j < n; j++) {
      const b = pts[j] as TimedValue;
      const dt = b.tMs - a.tMs;
      if (dt !== 0) slopes[k++] = (b.value - a.value) / dt;
    }
  }
  if (k === 0) return undefined;
  const slopePerMs = median(slopes.subarray(0, k).sort());
  const interceptAt0 = medianOf(pts.map((p) => p.value - slopePerMs * p.tMs));
  return { slopePerMs, interceptAt0 };
}

const HOUR_MS = 3_600_000;

/** A Theil–Sen line through RSS over the window. */
export interface RssFit {
  readonly slopeBytesPerHour: number;
  /** The fitted line at the first and last sample. */
  readonly fittedStartBytes: number;
  readonly fittedEndBytes: number;
  /** Growth of the fitted line over the window, relative to its start, in percent. */
  readonly growthPct: number;
}

/** RSS after warm-up. */
export interface RssTrend extends RssFit {
  /** Samples used (tMs ≥ 0). */
  readonly samples: number;
  /** Time between the first and the last of them. */
  readonly windowMs: number;
  /** Which fit the headline figures are from: the smaller growth of {@link samplesFit} and {@link baselineFit}. */
  readonly basis: 'samples' | 'baseline';
  /** Theil–Sen through the samples themselves. */
  readonly samplesFit: RssFit;
  /** Theil–Sen through the post-GC baseline ({@link futureMinimum}). */
  readonly baselineFit: RssFit;
  /** Measured extremes, for the report. */
  readonly minBytes: number;
  readonly maxBytes: number;
}

/** Fewest samples after warm-up a trend is computed from. */
export const MIN_TREND_SAMPLES = 3;

/**
 * The post-GC baseline of a series: each value replaced by the lowest value from then
 * on (the level the process still comes back down to). A GC cycle that ends within the
 * series leaves it flat; a leak raises it.
 */
export function futureMinimum(points: readonly TimedValue[]): TimedValue[] {
  const out: TimedValue[] = new Array<TimedValue>(points.length);
  let min = Number.POSITIVE_INFINITY;
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i] as TimedValue;
    min = Math.min(min, p.value);
    out[i] = { tMs: p.tMs, value: min };
  }
  return out;
}

function rssFit(pts: readonly TimedValue[]): RssFit | undefined {
  const fit = theilSen(pts);
  if (fit === undefined) return undefined;
  const start = fit.interceptAt0 + fit.slopePerMs * (pts[0]?.tMs ?? 0);
  const end = fit.interceptAt0 + fit.slopePerMs * (pts[pts.length - 1]?.tMs ?? 0);
  return { slopeBytesPerHour: fit.slopePerMs * HOUR_MS, fittedStartBytes: start, fittedEndBytes: end, growthPct: start > 0 ? ((end - start) / start) * 100 : 0 };
}

/**
 * The RSS trend of the samples with `tMs ≥ 0` (after warm-up). Two Theil–Sen lines are
 * fitted, one through the samples and one through their post-GC baseline
 * ({@link futureMinimum}); the headline growth is the smaller of the two. A leak
 * raises both; a GC sawtooth barely tilts the first and leaves the second flat, and a
 * long GC cycle that ends within the window (heap grows for half a minute, then one
 * major GC) tilts the first but not the second, while outliers below the baseline
 * tilt the second but not the first. Undefined with fewer than {@link MIN_TREND_SAMPLES} samples.
 */
export function rssTrend(samples: readonly { readonly tMs: number; readonly rssBytes?: number | undefined }[]): RssTrend | undefined {
  const pts = samples.filter((s) => s.tMs >= 0 && s.rssBytes !== undefined).map((s) => ({ tMs: s.tMs, value: s.rssBytes as number }));
  if (pts.length < MIN_TREND_SAMPLES) return undefined;
  const samplesFit = rssFit(pts);
  const baselineFit = rssFit(futureMinimum(pts));
  if (samplesFit === undefined || baselineFit === undefined) return undefined;
  const basis = baselineFit.growthPct < samplesFit.growthPct ? 'baseline' : 'samples';
  const chosen = basis === 'baseline' ? baselineFit : samplesFit;
  const values = pts.map((p) => p.value);
  return {
    ...chosen,
    samples: pts.length,
    windowMs: (pts[pts.length - 1]?.tMs ?? 0) - (pts[0]?.tMs ?? 0),
    basis,
    samplesFit,
    baselineFit,
    minBytes: Math.min(...values),
    maxBytes: Math.max(...values),
  };
}

/** Open file descriptors after warm-up. */
export interface FdTrend {
  readonly samples: number;
  /** Samples in each of the medians below. */
  readonly edgeSamples: number;
  readonly firstMedian: number;
  readonly lastMedian: number;
  /** `lastMedian − firstMedian`: descriptors gained over the run. */
  readonly growth: number;
  /** Theil–Sen slope, descriptors per hour (for the report). */
  readonly slopePerHour: number;
  readonly min: number;
  readonly max: number;
}

/** Samples at each end the FD medians take: a third of them, 1 to 3. */
export function fdEdgeSamples(n: number): number {
  return Math.min(3, Math.max(1, Math.floor(n / 3)));
}

/**
 * The FD trend of the samples with `tMs ≥ 0`: the median of the first few and of the
 * last few samples (a connection opening at the moment of one sample is not growth),
 * and their difference. Undefined with fewer than {@link MIN_TREND_SAMPLES} samples.
 */
export function fdTrend(samples: readonly { readonly tMs: number; readonly fds?: number | undefined }[]): FdTrend | undefined {
  const pts = samples.filter((s) => s.tMs >= 0 && s.fds !== undefined).map((s) => ({ tMs: s.tMs, value: s.fds as number }));
  if (pts.length < MIN_TREND_SAMPLES) return undefined;
  const k = fdEdgeSamples(pts.length);
  const firstMedian = medianOf(pts.slice(0, k).map((p) => p.value));
  const lastMedian = medianOf(pts.slice(-k).map((p) => p.value));
  const values = pts.map((p) => p.value);
  return {
    samples: pts.length,
    edgeSamples: k,
    firstMedian,
    lastMedian,
    growth: lastMedian - firstMedian,
    slopePerHour: (theilSen(pts)?.slopePerMs ?? 0) * HOUR_MS,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** p99 latency per interval over the run. */
export interface LatencyDrift {
  /** Intervals with replies that the fit used. */
  readonly intervals: number;
  readonly slopeUsPerHour: number;
  readonly fittedStartUs: number;
  readonly fittedEndUs: number;
  /** Change of the fitted p99 over the run relative to its start, in percent. */
  readonly driftPct: number;
}

/**
 * The Theil–Sen line through the p99 of every interval that had replies (at the
 * interval's middle). Undefined with fewer than {@link MIN_TREND_SAMPLES} such intervals.
 */
export function p99Drift(intervals: readonly { readonly startMs: number; readonly durationMs: number; readonly count: number; readonly p99Us: number }[]): LatencyDrift | undefined {
  const pts = intervals.filter((iv) => iv.count > 0).map((iv) => ({ tMs: iv.startMs + iv.durationMs / 2, value: iv.p99Us }));
  if (pts.length < MIN_TREND_SAMPLES) return undefined;
  const fit = theilSen(pts);
  if (fit === undefined) return undefined;
  const start = fit.interceptAt0 + fit.slopePerMs * (pts[0]?.tMs ?? 0);
  const end = fit.interceptAt0 + fit.slopePerMs * (pts[pts.length - 1]?.tMs ?? 0);
  return {
    intervals: pts.length,
    slopeUsPerHour: fit.slopePerMs * HOUR_MS,
    fittedStartUs: start,
    fittedEndUs: end,
    driftPct: start > 0 ? ((end - start) / start) * 100 : 0,
  };
}
