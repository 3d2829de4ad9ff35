import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Fairness, LatencySummary } from './bench-result.js';
import { type TimedHistogram } from './interval-log.js';
import { createLatencyHistogram, decodeHistogram, mergeHistograms, summarizeLatency, type Histogram } from './latency-histogram.js';
import { runLoadGroup, type LoadCounters, type LoadGroupEvent, type LoadGroupResult, type LoadWorkerMessage } from './load-group.js';
import type { LoadPlan, RequestRecipe } from './load-plan.js';
import { findPackageRoot } from './targets.js';

/**
 * Runs one load scenario over one or more threads: the connections are split into
 * groups, each group runs in a worker thread when `threads` > 0 (so the generator is
 * not the bottleneck), and the groups' histograms are merged exactly.
 *
 * With `streamIntervals` (soak runs), nothing grows with the run's length: each
 * interval histogram is merged over the groups and handed to
 * {@link LoadStreamHooks.onInterval} as soon as every group has completed it, then
 * dropped; live counters go to {@link LoadStreamHooks.onCounters}.
 */

/** A load scenario against one socket. */
export interface LoadSpec {
  readonly socketPath: string;
  readonly loop: 'closed' | 'open';
  readonly connections: number;
  readonly depth: number;
  readonly ratePerSec?: number | undefined;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly replyTimeoutMs: number;
  readonly lateThresholdUs: number;
  readonly intervalMs: number;
  readonly request: RequestRecipe;
  /** Worker threads to spread the connections over; 0 runs them in this thread. */
  readonly threads: number;
  /** Stream the interval histograms and counters to the hooks instead of keeping the intervals (the outcome's `intervals` is then empty). */
  readonly streamIntervals?: boolean | undefined;
  /** Streaming: time between two counter reports of each group (default 1000). */
  readonly progressMs?: number | undefined;
}

/** An interval histogram merged over every group, as streamed to {@link LoadStreamHooks.onInterval}. */
export interface StreamedInterval extends TimedHistogram {
  /** Index since the start of the measured phase (0, 1, 2, … without gaps). */
  readonly index: number;
}

/** Times of a run, known before the first request is sent. */
export interface LoadSchedule {
  /** Wall-clock start of the measured phase (end of the warm-up), ms since the epoch. */
  readonly measureStartEpochMs: number;
  readonly measureEndEpochMs: number;
}

/** Receivers of a streaming run ({@link LoadSpec.streamIntervals}); all optional. */
export interface LoadStreamHooks {
  /** Called once, before any group starts. */
  readonly onStart?: ((schedule: LoadSchedule) => void) | undefined;
  /** Each interval in index order, merged exactly over the groups, once every group has completed it. */
  readonly onInterval?: ((interval: StreamedInterval) => void) | undefined;
  /** Counters summed over the groups, whenever a group reports. */
  readonly onCounters?: ((counters: LoadCounters) => void) | undefined;
}

/** What a scenario measured, merged over its groups. */
export interface LoadOutcome {
  readonly corrected: Histogram;
  readonly uncorrected: Histogram | undefined;
  readonly intervals: readonly TimedHistogram[];
  readonly summary: LatencySummary;
  readonly uncorrectedSummary: LatencySummary | undefined;
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly late: number;
  readonly unanswered: number;
  readonly perConnection: readonly number[];
  readonly fairness: Fairness | undefined;
  readonly failure: string | undefined;
  readonly signalBytes: number;
  /** Wall-clock start of the measured phase (ms since the epoch), for interval logs. */
  readonly measureStartEpochMs: number;
  /** Requests sent whose reply never came (part of `unanswered`). */
  readonly lost: number;
  /** Open loop: intended sends that never left (the rest of `unanswered`). */
  readonly unsent: number;
}

/**
 * Young generation of a load worker. Every request and reply allocates; with V8's
 * default (16 MiB semi-spaces) the generator pauses for a ~1 ms scavenge dozens of
 * times a second, which shows up as late sends in open loop. A larger young
 * generation makes those pauses rarer (their cost depends on live objects, not size).
 */
export const YOUNG_GENERATION_MB = 256;

/** Time the groups get to start their threads and connect before sending. */
function setupAllowanceMs(spec: LoadSpec): number {
  const perThread = Math.ceil(spec.connections / Math.max(1, spec.threads));
  // Presigning costs roughly 10 µs per request on these machines; the warm-up absorbs the rest.
  return 150 + 5 * spec.connections + (spec.threads > 0 ? 150 : 0) + (perThread * spec.request.presign) / 100;
}

/** Path of the compiled worker entry (workers cannot load TypeScript sources). */
export function loadWorkerPath(packageRoot: string = findPackageRoot()): string {
  return join(packageRoot, 'dist', 'harness', 'load-worker.js');
}

function runInWorker(plan: LoadPlan, onEvent: ((event: LoadGroupEvent) => void) | undefined): Promise<LoadGroupResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(loadWorkerPath(), { workerData: plan, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    let settled = false;
    worker.on('message', (msg: LoadWorkerMessage) => {
      if ('kind' in msg) {
        if (!settled) onEvent?.(msg.event);
        return;
      }
      settled = true;
      if (msg.ok) resolve(msg.result);
      else reject(new Error(`load worker failed: ${msg.error}`));
    });
    worker.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`load worker exited with code ${code} before reporting`));
    });
  });
}

/** Jain's fairness index and spread of replies per connection (undefined for one connection). */
export function fairnessOf(perConnection: readonly number[]): Fairness | undefined {
  const n = perConnection.length;
  if (n < 2) return undefined;
  const sum = perConnection.reduce((a, b) => a + b, 0);
  const sumSq = perConnection.reduce((a, b) => a + b * b, 0);
  return {
    connections: n,
    minPerConnection: Math.min(...perConnection),
    maxPerConnection: Math.max(...perConnection),
    meanPerConnection: sum / n,
    jainIndex: sumSq === 0 ? 0 : (sum * sum) / (n * sumSq),
  };
}

/** Splits `total` connections into at most `groups` nearly equal groups. */
export function splitConnections(total: number, groups: number): number[] {
  const g = Math.max(1, Math.min(groups, total));
  return Array.from({ length: g }, (_, i) => Math.floor(total / g) + (i < total % g ? 1 : 0));
}

/**
 * Merges the streamed intervals of several groups: index k is complete once every
 * group has reported k (groups report every index in order) or finished.
 */
export class IntervalMerger {
  /** Per group, the highest index reported (Infinity once the group finished). */
  private readonly high: number[];
  private readonly pending = new Map<number, Histogram>();
  private next = 0;

  constructor(
    groups: number,
    private readonly spec: Pick<LoadSpec, 'intervalMs' | 'durationMs'>,
    private readonly emit: (interval: StreamedInterval) => void,
  ) {
    this.high = Array.from({ length: groups }, () => -1);
  }

  /** Adds group `group`'s histogram of interval `index` (exactly: counts add bucket by bucket). */
  add(group: number, index: number, histogram: Histogram): void {
    let h = this.pending.get(index);
    if (h === undefined) {
      h = createLatencyHistogram();
      this.pending.set(index, h);
    }
    h.add(histogram);
    this.high[group] = Math.max(this.high[group] ?? -1, index);
    this.drain();
  }

  /** Group `group` will report nothing more. */
  finish(group: number): void {
    this.high[group] = Number.POSITIVE_INFINITY;
    this.drain();
  }

  /** Intervals waiting for a slower group. */
  get retained(): number {
    return this.pending.size;
  }

  private drain(): void {
    const upTo = Math.min(...this.high);
    while (this.next <= upTo && this.pending.has(this.next)) {
      const index = this.next++;
      const histogram = this.pending.get(index) as Histogram;
      this.pending.delete(index);
      const startMs = index * this.spec.intervalMs;
      this.emit({ index, startMs, durationMs: Math.min(this.spec.intervalMs, this.spec.durationMs - startMs), histogram });
    }
  }
}

const ZERO_COUNTERS: LoadCounters = { sent: 0, received: 0, answered: 0, errors: 0, late: 0, lost: 0, inFlight: 0, retainedIntervals: 0 };

function addCounters(a: LoadCounters, b: LoadCounters): LoadCounters {
  return {
    sent: a.sent + b.sent,
    received: a.received + b.received,
    answered: a.answered + b.answered,
    errors: a.errors + b.errors,
    late: a.late + b.late,
    lost: a.lost + b.lost,
    inFlight: a.inFlight + b.inFlight,
    retainedIntervals: a.retainedIntervals + b.retainedIntervals,
  };
}

/**
 * Runs `spec` to completion and merges the results of its groups. With
 * `spec.streamIntervals`, intervals and counters go to `hooks` while it runs.
 */
export async function runLoad(spec: LoadSpec, hooks: LoadStreamHooks = {}): Promise<LoadOutcome> {
  const originBig = process.hrtime.bigint();
  const originEpochMs = Date.now();
  const startAtNs = setupAllowanceMs(spec) * 1e6;
  const sizes = splitConnections(spec.connections, spec.threads > 0 ? spec.threads : 1);
  let first = 0;
  const plans: LoadPlan[] = sizes.map((connections) => {
    const plan: LoadPlan = {
      socketPath: spec.socketPath,
      loop: spec.loop,
      connections,
      firstConnection: first,
      totalConnections: spec.connections,
      depth: spec.depth,
      ratePerSec: spec.ratePerSec,
      warmupMs: spec.warmupMs,
      durationMs: spec.durationMs,
      replyTimeoutMs: spec.replyTimeoutMs,
      lateThresholdUs: spec.lateThresholdUs,
      intervalMs: spec.intervalMs,
      originNs: originBig.toString(),
      startAtNs,
      request: spec.request,
      streamIntervals: spec.streamIntervals === true,
      progressMs: spec.progressMs ?? 1_000,
    };
    first += connections;
    return plan;
  });
  const measureStartEpochMs = originEpochMs + startAtNs / 1e6 + spec.warmupMs;
  if (spec.streamIntervals !== true) {
    const results = await Promise.all(plans.map((p) => (spec.threads > 0 ? runInWorker(p, undefined) : runLoadGroup(p))));
    return mergeGroupResults(results, spec, measureStartEpochMs);
  }
  hooks.onStart?.({ measureStartEpochMs, measureEndEpochMs: measureStartEpochMs + spec.durationMs });
  const merger = new IntervalMerger(plans.length, spec, (iv) => hooks.onInterval?.(iv));
  const latest: LoadCounters[] = plans.map(() => ZERO_COUNTERS);
  const onEvent = (group: number) => (event: LoadGroupEvent) => {
    latest[group] = event.counters;
    if (event.kind === 'interval') merger.add(group, event.index, decodeHistogram(event.histogram));
    const total = latest.reduce(addCounters, ZERO_COUNTERS);
    hooks.onCounters?.({ ...total, retainedIntervals: total.retainedIntervals + merger.retained });
  };
  const results = await Promise.all(
    plans.map(async (p, group) => {
      const result = await (spec.threads > 0 ? runInWorker(p, onEvent(group)) : runLoadGroup(p, onEvent(group)));
      merger.finish(group);
      return result;
    }),
  );
  return mergeGroupResults(results, spec, measureStartEpochMs);
}

/** Merges group results (exactly: histograms add bucket by bucket). */
export function mergeGroupResults(results: readonly LoadGroupResult[], spec: Pick<LoadSpec, 'loop' | 'intervalMs'>, measureStartEpochMs: number): LoadOutcome {
  const corrected = mergeHistograms(results.map((r) => decodeHistogram(r.histogram)));
  const uncorrected = spec.loop === 'open' ? mergeHistograms(results.flatMap((r) => (r.uncorrectedHistogram === undefined ? [] : [decodeHistogram(r.uncorrectedHistogram)]))) : undefined;
  const byIndex = new Map<number, Histogram[]>();
  for (const r of results) {
    for (const iv of r.intervals) {
      const list = byIndex.get(iv.index) ?? [];
      list.push(decodeHistogram(iv.histogram));
      byIndex.set(iv.index, list);
    }
  }
  const intervals: TimedHistogram[] = [...byIndex.entries()]
    .filter(([index]) => index >= 0)
    .sort((a, b) => a[0] - b[0])
    .map(([index, hs]) => ({ startMs: index * spec.intervalMs, durationMs: spec.intervalMs, histogram: mergeHistograms(hs) }));
  const perConnection = results.flatMap((r) => r.perConnection);
  const samples: string[] = [];
  for (const r of results) for (const s of r.errorSamples) if (samples.length < 5 && !samples.includes(s)) samples.push(s);
  return {
    corrected,
    uncorrected,
    intervals,
    summary: summarizeLatency(corrected),
    uncorrectedSummary: uncorrected === undefined ? undefined : summarizeLatency(uncorrected),
    sent: sum(results.map((r) => r.sent)),
    received: sum(results.map((r) => r.received)),
    errors: sum(results.map((r) => r.errors)),
    errorSamples: samples,
    late: sum(results.map((r) => r.late)),
    unanswered: sum(results.map((r) => r.unanswered)),
    perConnection,
    fairness: fairnessOf(perConnection),
    failure: results.find((r) => r.failure !== undefined)?.failure,
    signalBytes: results[0]?.signalBytes ?? 0,
    measureStartEpochMs,
    lost: sum(results.map((r) => r.lost)),
    unsent: sum(results.map((r) => r.unsent)),
  };
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
