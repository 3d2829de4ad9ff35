import { performance } from 'node:perf_hooks';
import type { Capabilities, ModeInfo } from './case.js';
import { errorMessage, type Dialect } from './dialect.js';
import { replyProblem } from './fuzz-property.js';
import type { RunningTarget } from './launcher.js';
import { createCaseContext, type IdSource } from './runner.js';
import type { WireLog } from './wire-log.js';

/**
 * The oracles the fuzz engine runs after every input, whatever the property: the
 * target is alive and not hung (a valid request on a fresh connection is answered
 * within a deadline), and its resident memory and open file descriptors stay within
 * bounds of a baseline taken after a warm-up.
 */

/** Default deadline of the liveness request. */
export const DEFAULT_LIVENESS_DEADLINE_MS = 2_000;
/** Default bound on RSS growth over the baseline. */
export const DEFAULT_MAX_RSS_GROWTH_MIB = 256;
/** Default bound on open-FD growth over the baseline. */
export const DEFAULT_MAX_FD_GROWTH = 64;
/** How long a value above its bound is re-read (connections still closing, a GC to come) before it counts. */
export const RESOURCE_SETTLE_MS = 1_000;
const RESOURCE_POLL_MS = 20;

/** What the liveness check needs. */
export interface LivenessDeps {
  readonly target: RunningTarget;
  readonly mode: ModeInfo;
  readonly capabilities: Capabilities;
  readonly dialect: Dialect;
  readonly log: WireLog;
  readonly ids: IdSource;
  readonly deadlineMs: number;
}

/** A valid request any conformant server answers: STATUS when declared, else an ABORT of an id nobody prepared. */
export function livenessSignal(capabilities: Capabilities, uniqueId: string): Record<string, unknown> {
  return capabilities.status === true ? { type: 'STATUS' } : { type: 'ABORT', signal_id: uniqueId, reason: 'fastpath fuzz liveness check' };
}

/** How long a failed connection waits for the exit of a spawned target to be observed (a crash is reported as such). */
const EXIT_OBSERVE_MS = 300;

/** Describes how a spawned target ended, if it did (waiting up to `waitMs` for the exit to be observed). */
async function exitDescription(target: RunningTarget, waitMs = 0): Promise<string | undefined> {
  if (!target.spawned) return undefined;
  if (target.alive && waitMs <= 0) return undefined;
  const exit = await target.waitExit(Math.max(1, waitMs));
  if (exit === 'timeout' && target.alive) return undefined;
  if (exit === 'timeout') return 'the target process is gone';
  return `the target process exited (${exit.signal !== null ? `killed by ${exit.signal}` : `code ${String(exit.code)}`})`;
}

/**
 * The target is alive and answers: a valid request on a fresh connection gets a
 * well-formed reply (any outcome, RATE_LIMITED included) within `deadlineMs`.
 * @returns undefined when it did, else what happened.
 */
export async function checkAlive(deps: LivenessDeps): Promise<string | undefined> {
  const dead = await exitDescription(deps.target);
  if (dead !== undefined) return dead;
  const ctx = createCaseContext({ mode: deps.mode, capabilities: deps.capabilities, target: deps.target, dialect: deps.dialect, log: deps.log, readTimeoutMs: deps.deadlineMs, ids: deps.ids });
  deps.log.note('liveness check: a valid request on a fresh connection');
  try {
    const conn = await ctx.connect();
    const ev = await conn.request(livenessSignal(deps.capabilities, ctx.uniqueId('fuzz-liveness')), { id: 'fuzz-liveness' }, deps.deadlineMs);
    if (ev.type === 'reply' && ev.reply.kind !== 'malformed') return undefined;
    const formed = replyProblem(ev, 'liveness check');
    if (formed !== undefined) return formed;
    const gone = await exitDescription(deps.target, ev.type === 'closed' ? EXIT_OBSERVE_MS : 0);
    if (gone !== undefined) return gone;
    if (ev.type === 'timeout') return `the target did not answer a valid request on a fresh connection within ${deps.deadlineMs} ms (hung?)`;
    return 'the target closed a fresh connection without answering a valid request';
  } catch (err) {
    return (await exitDescription(deps.target, EXIT_OBSERVE_MS)) ?? `the target does not accept connections any more: ${errorMessage(err)}`;
  } finally {
    await ctx.finish(false);
  }
}

/** Resource figures of the target process (undefined where /proc cannot tell, e.g. an attached target without --pid). */
export interface ResourceSample {
  readonly rssBytes: number | undefined;
  readonly openFds: number | undefined;
}

/** Bounds over the baseline. */
export interface ResourceLimits {
  readonly maxRssGrowthBytes: number;
  readonly maxFdGrowth: number;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Reads RSS and open FDs once. */
export async function sampleResources(target: RunningTarget): Promise<ResourceSample> {
  const [rssBytes, openFds] = await Promise.all([target.rssBytes(), target.openFds()]);
  return { rssBytes, openFds };
}

/**
 * The baseline: FDs read until two reads 20 ms apart agree (connections of the
 * warm-up have closed), at most {@link RESOURCE_SETTLE_MS}; RSS read then.
 */
export async function takeBaseline(target: RunningTarget): Promise<ResourceSample> {
  const deadline = performance.now() + RESOURCE_SETTLE_MS;
  let previous = await target.openFds();
  for (;;) {
    await sleep(RESOURCE_POLL_MS);
    const now = await target.openFds();
    if (now === previous || performance.now() > deadline) {
      return { rssBytes: await target.rssBytes(), openFds: now };
    }
    previous = now;
  }
}

const MiB = 1024 * 1024;

/**
 * RSS and open FDs within bounds of `baseline`. A value above its bound is re-read
 * for up to {@link RESOURCE_SETTLE_MS} (closes still settling) before it is a finding.
 * @returns undefined when within bounds (or not measurable), else what grew.
 */
export async function checkResources(target: RunningTarget, baseline: ResourceSample, limits: ResourceLimits): Promise<string | undefined> {
  const over = (s: ResourceSample): string | undefined => {
    if (s.openFds !== undefined && baseline.openFds !== undefined && s.openFds > baseline.openFds + limits.maxFdGrowth) {
      return `the target's open file descriptors grew from ${baseline.openFds} to ${s.openFds} (bound: +${limits.maxFdGrowth}, --max-fd-growth)`;
    }
    if (s.rssBytes !== undefined && baseline.rssBytes !== undefined && s.rssBytes > baseline.rssBytes + limits.maxRssGrowthBytes) {
      return `the target's resident memory grew from ${(baseline.rssBytes / MiB).toFixed(1)} MiB to ${(s.rssBytes / MiB).toFixed(1)} MiB (bound: +${(limits.maxRssGrowthBytes / MiB).toFixed(0)} MiB, --max-rss-growth-mib)`;
    }
    return undefined;
  };
  let problem = over(await sampleResources(target));
  if (problem === undefined) return undefined;
  const deadline = performance.now() + RESOURCE_SETTLE_MS;
  while (performance.now() < deadline) {
    await sleep(RESOURCE_POLL_MS * 5);
    problem = over(await sampleResources(target));
    if (problem === undefined) return undefined;
  }
  return `${problem}, still after ${RESOURCE_SETTLE_MS} ms`;
}
