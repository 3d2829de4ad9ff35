import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Fairness, LatencySummary } from './bench-result.js';
import { type TimedHistogram } from './interval-log.js';
import { decodeHistogram, mergeHistograms, summarizeLatency, type Histogram } from './latency-histogram.js';
import { runLoadGroup, type LoadGroupResult } from './load-group.js';
import type { LoadPlan, RequestRecipe } from './load-plan.js';
import { findPackageRoot } from './targets.js';

/**
 * Runs one load scenario over one or more threads: the connections are split into
 * groups, each group runs in a worker thread when `threads` > 0 (so the generator is
 * not the bottleneck), and the groups' histograms are merged exactly.
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

function runInWorker(plan: LoadPlan): Promise<LoadGroupResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(loadWorkerPath(), { workerData: plan, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    let settled = false;
    worker.once('message', (msg: { ok: true; result: LoadGroupResult } | { ok: false; error: string }) => {
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

/** Runs `spec` to completion and merges the results of its groups. */
export async function runLoad(spec: LoadSpec): Promise<LoadOutcome> {
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
    };
    first += connections;
    return plan;
  });
  const results = await Promise.all(plans.map((p) => (spec.threads > 0 ? runInWorker(p) : runLoadGroup(p))));
  return mergeGroupResults(results, spec, originEpochMs + startAtNs / 1e6 + spec.warmupMs);
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
  };
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
