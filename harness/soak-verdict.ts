import { formatBytes, formatCount } from './bench-report-console.js';
import type { FdTrend, LatencyDrift, RssTrend } from './soak-trend.js';

/**
 * The verdict of a soak run (pure): every check with its measured value and its
 * limit, PASS only when all of them pass. A figure that could not be measured fails
 * its check; a soak never passes on what it did not see.
 */

/** Limits of a soak (defaults: {@link DEFAULT_SOAK_THRESHOLDS}). */
export interface SoakThresholds {
  /** Largest RSS growth after warm-up, percent of the fitted start. */
  readonly maxRssGrowthPct: number;
  /** Most descriptors gained after warm-up. */
  readonly maxFdGrowth: number;
  /** Most error replies (wrong id, rejection, unreadable frame, socket error). */
  readonly maxErrors: number;
  /** Largest drift of the fitted p99 over the run, percent; undefined: reported, not checked. */
  readonly maxP99DriftPct?: number | undefined;
}

/** No RSS growth above 5 %, no FD growth, no errors; lost replies are never allowed. */
export const DEFAULT_SOAK_THRESHOLDS: SoakThresholds = Object.freeze({ maxRssGrowthPct: 5, maxFdGrowth: 0, maxErrors: 0 });

export type SoakCheckName = 'target-alive' | 'answering' | 'rss-growth' | 'fd-growth' | 'errors' | 'lost' | 'sustained-rate' | 'p99-drift';

/** One check of the verdict. */
export interface SoakCheck {
  readonly name: SoakCheckName;
  readonly pass: boolean;
  /** What was measured, e.g. `+0.8 %` or `+48`. */
  readonly actual: string;
  /** The limit, e.g. `≤ 5 %`. */
  readonly limit: string;
  /** One sentence: why it failed (or what it saw when it passed). */
  readonly detail: string;
}

export type SoakVerdict = 'PASS' | 'FAIL';

/** What the verdict is computed from. */
export interface SoakVerdictInput {
  readonly rss: RssTrend | undefined;
  readonly fds: FdTrend | undefined;
  readonly p99Drift: LatencyDrift | undefined;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** Requests sent whose reply never came (by sequence number). */
  readonly lost: number;
  /** Open loop: intended sends that never left (the target fell behind). */
  readonly unsent: number;
  /** Why the load stopped early (e.g. the target stopped answering), if it did. */
  readonly loadFailure: string | undefined;
  /** Set when the target process died: how (exit code or signal) and when. */
  readonly targetDeath: string | undefined;
  /** Connections × depth, for the sustained-rate message. */
  readonly depth: number;
}

function pct(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(2)} %`;
}

function signed(v: number): string {
  return `${v > 0 ? '+' : ''}${formatCount(v)}`;
}

/** Bytes with a sign, e.g. `-1.5 MiB`. */
function bytes(v: number): string {
  return v < 0 ? `-${formatBytes(-v)}` : formatBytes(v);
}

function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(0)} s`;
}

/** Every check of a soak, in report order. */
export function soakChecks(input: SoakVerdictInput, thresholds: SoakThresholds): SoakCheck[] {
  const checks: SoakCheck[] = [];
  checks.push({
    name: 'target-alive',
    pass: input.targetDeath === undefined,
    actual: input.targetDeath === undefined ? 'alive' : 'died',
    limit: 'alive to the end',
    detail: input.targetDeath === undefined ? 'the target ran to the end' : `target died: ${input.targetDeath}`,
  });
  checks.push({
    name: 'answering',
    pass: input.loadFailure === undefined,
    actual: input.loadFailure === undefined ? 'answered' : 'stopped',
    limit: 'answers to the end',
    detail: input.loadFailure ?? 'every connection was answered to the end',
  });
  const rss = input.rss;
  checks.push(
    rss === undefined
      ? { name: 'rss-growth', pass: false, actual: 'not measured', limit: `≤ ${thresholds.maxRssGrowthPct} %`, detail: 'RSS growth not measured: fewer than 3 RSS samples after warm-up (is the pid known?)' }
      : {
          name: 'rss-growth',
          pass: rss.growthPct <= thresholds.maxRssGrowthPct,
          actual: pct(rss.growthPct),
          limit: `≤ ${thresholds.maxRssGrowthPct} %`,
          detail: `RSS growth ${pct(rss.growthPct)} after warm-up${rss.growthPct <= thresholds.maxRssGrowthPct ? ' within' : ' exceeds'} ${thresholds.maxRssGrowthPct} % (Theil–Sen fit through the ${rss.basis === 'baseline' ? 'post-GC baseline' : 'samples'} ${bytes(rss.fittedStartBytes)} → ${bytes(rss.fittedEndBytes)} over ${seconds(rss.windowMs)}, ${rss.samples} samples, ${bytes(rss.slopeBytesPerHour)}/h; samples ${pct(rss.samplesFit.growthPct)}, baseline ${pct(rss.baselineFit.growthPct)})`,
        },
  );
  const fds = input.fds;
  checks.push(
    fds === undefined
      ? { name: 'fd-growth', pass: false, actual: 'not measured', limit: `≤ ${thresholds.maxFdGrowth}`, detail: 'FD growth not measured: fewer than 3 FD samples after warm-up (is the pid known?)' }
      : {
          name: 'fd-growth',
          pass: fds.growth <= thresholds.maxFdGrowth,
          actual: signed(fds.growth),
          limit: `≤ ${thresholds.maxFdGrowth}`,
          detail: `FD growth ${signed(fds.growth)}${fds.growth <= thresholds.maxFdGrowth ? ' within' : ' exceeds'} ${thresholds.maxFdGrowth} (median of the first ${fds.edgeSamples} samples ${fds.firstMedian}, of the last ${fds.edgeSamples} ${fds.lastMedian}; ${fds.samples} samples, ${fds.min}–${fds.max})`,
        },
  );
  const sample = input.errorSamples.length > 0 ? `, e.g. ${input.errorSamples.slice(0, 3).join('; ')}` : '';
  checks.push({
    name: 'errors',
    pass: input.errors <= thresholds.maxErrors,
    actual: formatCount(input.errors),
    limit: `≤ ${thresholds.maxErrors}`,
    detail: input.errors <= thresholds.maxErrors ? `${formatCount(input.errors)} errors` : `${formatCount(input.errors)} errors exceed ${thresholds.maxErrors}${sample}`,
  });
  checks.push({
    name: 'lost',
    pass: input.lost === 0,
    actual: formatCount(input.lost),
    limit: '0',
    detail:
      input.lost === 0
        ? 'every request sent was answered, in sequence'
        : `${formatCount(input.lost)} lost replies: requests sent whose reply never came (checked by sequence number)`,
  });
  checks.push({
    name: 'sustained-rate',
    pass: input.unsent === 0,
    actual: input.unsent === 0 ? 'sustained' : `${formatCount(input.unsent)} unsent`,
    limit: '0 unsent',
    detail:
      input.unsent === 0
        ? 'every scheduled request was sent'
        : input.loadFailure !== undefined || input.targetDeath !== undefined
          ? `${formatCount(input.unsent)} scheduled requests never left: the load stopped early`
          : `the offered rate was not sustained: ${formatCount(input.unsent)} scheduled requests never left, the ${input.depth} requests allowed in flight per connection stayed taken`,
  });
  const drift = input.p99Drift;
  const maxDrift = thresholds.maxP99DriftPct;
  if (maxDrift !== undefined) {
    checks.push(
      drift === undefined
        ? { name: 'p99-drift', pass: false, actual: 'not measured', limit: `≤ ${maxDrift} %`, detail: 'p99 drift not measured: fewer than 3 intervals with replies' }
        : {
            name: 'p99-drift',
            pass: drift.driftPct <= maxDrift,
            actual: pct(drift.driftPct),
            limit: `≤ ${maxDrift} %`,
            detail: `p99 drift ${pct(drift.driftPct)}${drift.driftPct <= maxDrift ? ' within' : ' exceeds'} ${maxDrift} % (fitted ${drift.fittedStartUs.toFixed(0)} µs → ${drift.fittedEndUs.toFixed(0)} µs over ${drift.intervals} intervals)`,
          },
    );
  }
  return checks;
}

/** The verdict and the reasons (the detail of every failed check). */
export function soakVerdict(checks: readonly SoakCheck[]): { verdict: SoakVerdict; reasons: string[] } {
  const failed = checks.filter((c) => !c.pass);
  return { verdict: failed.length === 0 ? 'PASS' : 'FAIL', reasons: failed.map((c) => c.detail) };
}
