import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as fc from 'fast-check';
import { fpError } from '../protocol/index.js';
import type { Capabilities, ModeInfo, Verdict } from './case.js';
import { errorMessage } from './dialect.js';
import {
  checkAlive,
  checkResources,
  DEFAULT_LIVENESS_DEADLINE_MS,
  DEFAULT_MAX_FD_GROWTH,
  DEFAULT_MAX_RSS_GROWTH_MIB,
  takeBaseline,
  type LivenessDeps,
  type ResourceLimits,
  type ResourceSample,
} from './fuzz-oracles.js';
import { planFuzzRun, randomRunSeed, selectFuzzProperties, validateFuzzProperties, type FuzzPlanItem } from './fuzz-plan.js';
import type { FuzzProperty } from './fuzz-property.js';
import { REPLAY_FORMAT, REPLAY_VERSION, replayCapabilities, writeReplayFile, type ReplayFile } from './fuzz-replay.js';
import { startTarget, type RunningTarget } from './launcher.js';
import { sanitizeForPath } from './report-json.js';
import { createCaseContext, IdSource, summarize, verdictFor, type CaseResult, type ConformanceResult, type ModeResult } from './runner.js';
import type { ResolvedTarget } from './targets.js';
import { WireLog, type WireLogEntry } from './wire-log.js';

/**
 * The fuzz engine (`fastpath fuzz`, docs/FUZZ.md): runs fuzz properties against a
 * target in each of its modes, one mode after another with one target process each.
 * Every property is checked with fast-check (`fc.check` of an async property) with a
 * seed derived from the run seed, the mode and the property; after every input the
 * engine closes the input's connections and runs the common oracles (alive and
 * answering, RSS and FDs bounded). A failure is shrunk (bounded by time) and saved as
 * a replay file. The result is data in the conformance report format.
 */

/** Default total number of inputs. */
export const DEFAULT_FUZZ_RUNS = 1_000;
/** Default time fast-check may spend shrinking one failure. */
export const DEFAULT_SHRINK_TIME_MS = 30_000;
/** Default budget of one input of a property that sets none. */
export const DEFAULT_INPUT_TIMEOUT_MS = 10_000;
/** Default wait for one reply inside a property. */
export const DEFAULT_FUZZ_READ_TIMEOUT_MS = 2_000;
/** Liveness checks before the resource baseline is taken. */
const WARMUP_REQUESTS = 5;
/** numRuns of a pair when the run is bounded by time only. */
const UNBOUNDED_RUNS = 0x7fffffff;
/** A progress event at most this often per property (ms). */
const PROGRESS_EVERY_MS = 2_000;

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  readonly target: ResolvedTarget;
  readonly properties: readonly FuzzProperty[];
  /** Property-id globs; a property runs when it matches any (default: all). */
  readonly include?: readonly string[] | undefined;
  readonly exclude?: readonly string[] | undefined;
  /** Total inputs over the whole run (all modes and properties); undefined with `timeMs`: as many as time allows. */
  readonly runs?: number | undefined;
  /** The run seed (default: random; it is in the result). */
  readonly seed?: number | undefined;
  /** Bound of the whole run in ms; each property gets its weighted share of what is left. */
  readonly timeMs?: number | undefined;
  /** Time fast-check may spend shrinking one failure (default 30 s). */
  readonly shrinkTimeMs?: number | undefined;
  readonly maxRssGrowthBytes?: number | undefined;
  readonly maxFdGrowth?: number | undefined;
  readonly livenessDeadlineMs?: number | undefined;
  /** Timeout of `WireConnection.read()` calls that give none (default 2 000 ms). */
  readonly readTimeoutMs?: number | undefined;
  /** Where replay files go (created when needed). */
  readonly replayDir: string;
  /** `--target` as the user wrote it, for the printed replay command (default: the target's source). */
  readonly targetSpec?: string | undefined;
  readonly onProgress?: ((event: FuzzProgressEvent) => void) | undefined;
}

/** One shrunk failure. */
export interface FuzzFinding {
  readonly mode: string;
  readonly property: string;
  readonly section: string;
  readonly problem: string;
  readonly seed: number;
  readonly path: string;
  readonly counterexample: string;
  /** Inputs run before the failure was found (the failing one included). */
  readonly inputsToFailure: number;
  readonly shrinks: number;
  readonly replayFile: string;
  readonly replayCommand: string;
}

/** Inputs and time of one (mode, property) pair. */
export interface FuzzPropertyStats {
  readonly mode: string;
  readonly property: string;
  readonly verdict: Verdict;
  readonly seed: number;
  /** Inputs planned (its share of `runs`); absent when bounded by time only. */
  readonly plannedInputs: number | undefined;
  /** Inputs actually run, shrink steps included. */
  readonly inputs: number;
  readonly durationMs: number;
  /** Stopped by `--time` before its planned inputs. */
  readonly interrupted: boolean;
}

/** What a fuzz run observed (data only). */
export interface FuzzResult {
  /** In the conformance report format: one case per mode × property. */
  readonly report: ConformanceResult;
  readonly runSeed: number;
  readonly findings: readonly FuzzFinding[];
  readonly stats: readonly FuzzPropertyStats[];
  /** Inputs run in total (shrink steps included). */
  readonly inputs: number;
  readonly durationMs: number;
}

/** Progress of a fuzz run, for stderr lines. */
export type FuzzProgressEvent =
  | { readonly type: 'mode-start'; readonly mode: string; readonly properties: number }
  | { readonly type: 'mode-error'; readonly mode: string; readonly error: string }
  | { readonly type: 'property-start'; readonly mode: string; readonly property: string; readonly seed: number; readonly plannedInputs: number | undefined }
  | { readonly type: 'property-progress'; readonly mode: string; readonly property: string; readonly inputs: number; readonly findings: number }
  | { readonly type: 'property-done'; readonly mode: string; readonly stats: FuzzPropertyStats; readonly finding: FuzzFinding | undefined; readonly actual: string }
  | { readonly type: 'target-restarted'; readonly mode: string; readonly why: string };

/** The last failing execution of a property: its problem and wire log. */
interface FailureRecord {
  readonly problem: string;
  readonly log: WireLog;
  readonly stderrTail: string;
}

/** One mode's target with the state the engine keeps about it. */
class ModeSession {
  baseline: ResourceSample = { rssBytes: undefined, openFds: undefined };
  /** Set after a finding that leaves the process suspect: restart it before the next input. */
  restartPending: string | undefined;
  readonly ids = new IdSource();
  constructor(
    readonly mode: ModeInfo,
    readonly target: ResolvedTarget,
    readonly running: RunningTarget,
    readonly opts: ResolvedOptions,
  ) {}

  /** Warm-up requests, then the RSS/FD baseline. */
  async warmUp(): Promise<string | undefined> {
    const log = new WireLog();
    for (let i = 0; i < WARMUP_REQUESTS; i++) {
      const problem = await checkAlive(this.livenessDeps(log));
      if (problem !== undefined) return problem;
    }
    this.baseline = await takeBaseline(this.running);
    return undefined;
  }

  /** What the liveness check of this mode needs, logging into `log`. */
  livenessDeps(log: WireLog): LivenessDeps {
    return {
      target: this.running,
      mode: this.mode,
      capabilities: this.target.capabilities,
      dialect: this.target.dialect,
      log,
      ids: this.ids,
      deadlineMs: this.opts.livenessDeadlineMs,
    };
  }

  /** Restarts a spawned target that died or was flagged (an attached one cannot be restarted: its inputs fail until it is back). */
  async ensureReady(): Promise<void> {
    const r = this.running;
    if (!r.spawned) return;
    const why = this.restartPending ?? (r.alive ? undefined : 'the target process had exited');
    if (why === undefined) return;
    this.restartPending = undefined;
    if (r.alive) await r.restart();
    else await r.ensureReady();
    this.opts.onProgress?.({ type: 'target-restarted', mode: this.mode.label, why });
    await this.warmUp();
  }
}

interface ResolvedOptions {
  readonly shrinkTimeMs: number;
  readonly limits: ResourceLimits;
  readonly livenessDeadlineMs: number;
  readonly readTimeoutMs: number;
  readonly replayDir: string;
  readonly targetSpec: string;
  readonly onProgress: ((event: FuzzProgressEvent) => void) | undefined;
}

function resolveOptions(opts: FuzzOptions): ResolvedOptions {
  return {
    shrinkTimeMs: opts.shrinkTimeMs ?? DEFAULT_SHRINK_TIME_MS,
    limits: {
      maxRssGrowthBytes: opts.maxRssGrowthBytes ?? DEFAULT_MAX_RSS_GROWTH_MIB * 1024 * 1024,
      maxFdGrowth: opts.maxFdGrowth ?? DEFAULT_MAX_FD_GROWTH,
    },
    livenessDeadlineMs: opts.livenessDeadlineMs ?? DEFAULT_LIVENESS_DEADLINE_MS,
    readTimeoutMs: opts.readTimeoutMs ?? DEFAULT_FUZZ_READ_TIMEOUT_MS,
    replayDir: opts.replayDir,
    targetSpec: opts.targetSpec ?? targetSpecOf(opts.target),
    onProgress: opts.onProgress,
  };
}

/** How to name the target on a command line: `reference` for the built-in one, else its source. */
export function targetSpecOf(target: ResolvedTarget): string {
  return target.source === 'built-in' ? 'reference' : target.source;
}

function quoteArg(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that re-runs a replay file. */
export function replayCommand(targetSpec: string, file: string): string {
  return `fastpath fuzz --target ${quoteArg(targetSpec)} --replay ${quoteArg(file)}`;
}

/** Outcome of one input, after the property's own checks and the common oracles. */
interface InputOutcome {
  readonly problem: string | undefined;
  readonly log: WireLog;
}

/**
 * Runs one input: a fresh case context, the property's run() within its budget, the
 * input's connections closed, then the liveness and resource oracles.
 */
async function runInput(session: ModeSession, property: FuzzProperty, capabilities: Capabilities, input: unknown): Promise<InputOutcome> {
  const log = new WireLog();
  try {
    await session.ensureReady();
  } catch (err) {
    return { problem: `the target could not be restarted: ${errorMessage(err)}`, log };
  }
  const running = session.running;
  running.setEventSink((text) => log.event(text), log.originPerfMs);
  const ctx = createCaseContext({
    mode: session.mode,
    capabilities,
    target: running,
    dialect: session.target.dialect,
    log,
    readTimeoutMs: session.opts.readTimeoutMs,
    ids: session.ids,
  });
  const timeoutMs = property.timeoutMs ?? DEFAULT_INPUT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<{ kind: 'timeout' }>((res) => {
    timer = setTimeout(() => res({ kind: 'timeout' }), timeoutMs);
  });
  const ran = Promise.resolve()
    .then(() => property.run(input, ctx))
    .then(
      (problem) => ({ kind: 'done' as const, problem }),
      (err: unknown) => ({ kind: 'threw' as const, err }),
    );
  const first = await Promise.race([ran, timedOut]);
  clearTimeout(timer);
  let problem: string | undefined;
  if (first.kind === 'timeout') problem = `the input did not complete within ${timeoutMs} ms (a reply or close never came: hung?)`;
  else if (first.kind === 'threw') problem = `the property threw: ${errorMessage(first.err)}`;
  else problem = typeof first.problem === 'string' ? first.problem : undefined;
  if (problem !== undefined) log.event(`finding: ${problem}`);
  await ctx.finish(first.kind === 'timeout');

  const alive = await checkAlive(session.livenessDeps(log));
  if (alive !== undefined) {
    log.event(`liveness: ${alive}`);
    // A crash or hang is the finding; what the input saw on its own connection explains it.
    problem = problem === undefined ? alive : `${alive}; on the input's own connection: ${problem}`;
    if (running.spawned) session.restartPending = alive;
  } else if (problem === undefined) {
    const resources = await checkResources(running, session.baseline, session.opts.limits);
    if (resources !== undefined) {
      log.event(`resources: ${resources}`);
      problem = resources;
      if (running.spawned) session.restartPending = resources;
    }
  }
  running.setEventSink(undefined, log.originPerfMs);
  return { problem, log };
}

/** What running one property in one mode produced. */
interface PropertyOutcome {
  readonly result: CaseResult;
  readonly stats: FuzzPropertyStats;
  readonly finding: FuzzFinding | undefined;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

interface PropertyRun {
  readonly item: FuzzPlanItem;
  readonly numRuns: number | undefined;
  readonly timeBudgetMs: number | undefined;
  /** The capabilities the arbitrary is built from (a replay uses the recorded ones). */
  readonly arbitraryCapabilities: Capabilities;
  /** Replay this path only (no shrinking). */
  readonly path?: string | undefined;
  readonly runSeed: number;
}

/** Runs fast-check for one (mode, property) pair and turns what it found into a case result. */
async function runProperty(session: ModeSession, run: PropertyRun): Promise<PropertyOutcome> {
  const { item } = run;
  const p = item.property;
  const opts = session.opts;
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const base = { id: p.id, mode: session.mode.label, section: p.section, level: p.level, description: p.description, expected: p.expected, startedAt };
  let inputs = 0;
  let inputsToFailure = 0;
  let lastFailure: FailureRecord | undefined;
  let shrinkDeadline: number | undefined;
  let lastProgress = performance.now();
  const capabilities = session.target.capabilities;
  opts.onProgress?.({ type: 'property-start', mode: session.mode.label, property: p.id, seed: item.seed, plannedInputs: run.numRuns });

  const predicate = async (input: unknown): Promise<boolean> => {
    // Shrinking past its budget: every further candidate "passes", so fast-check stops at the smallest failure so far.
    if (shrinkDeadline !== undefined && performance.now() > shrinkDeadline) return true;
    // A replay runs the one input at its path; when it passes, fast-check would go on with its siblings.
    if (run.path !== undefined && inputs >= 1) return true;
    inputs++;
    const outcome = await runInput(session, p, capabilities, input);
    if (performance.now() - lastProgress > PROGRESS_EVERY_MS) {
      lastProgress = performance.now();
      opts.onProgress?.({ type: 'property-progress', mode: session.mode.label, property: p.id, inputs, findings: lastFailure === undefined ? 0 : 1 });
    }
    if (outcome.problem === undefined) return true;
    lastFailure = { problem: outcome.problem, log: outcome.log, stderrTail: session.running.spawned ? session.running.stderrTail(4_000) : '' };
    if (shrinkDeadline === undefined) {
      inputsToFailure = inputs;
      shrinkDeadline = performance.now() + opts.shrinkTimeMs;
    }
    return false;
  };

  const arbitrary = p.arbitrary({ mode: session.mode, capabilities: run.arbitraryCapabilities });
  const params: fc.Parameters<[unknown]> = { seed: item.seed };
  if (run.path !== undefined) {
    params.path = run.path;
    params.endOnFailure = true;
  } else {
    params.numRuns = run.numRuns ?? UNBOUNDED_RUNS;
    if (run.timeBudgetMs !== undefined) {
      // fast-check types its time-limit plugin for any value (Plugin<unknown>); it does not look at the values.
      params.plugins = [fc.interruptAfterTimeLimit(Math.max(1, Math.round(run.timeBudgetMs))) as fc.Plugin<[unknown]>];
    }
  }
  let details: fc.RunDetails<[unknown]> | undefined;
  let engineError: string | undefined;
  try {
    details = await fc.check(fc.asyncProperty(arbitrary, predicate), params);
  } catch (err) {
    engineError = errorMessage(err);
  }
  const durationMs = roundMs(performance.now() - t0);
  const statsBase = { mode: session.mode.label, property: p.id, seed: item.seed, plannedInputs: run.numRuns, inputs, durationMs };

  let verdict: Verdict;
  let actual: string;
  let finding: FuzzFinding | undefined;
  let wireLog: readonly WireLogEntry[] = [];
  let dropped = { entries: 0, bytes: 0 };
  let stderrTail = '';
  const interrupted = details?.interrupted === true && lastFailure === undefined;
  if (engineError !== undefined) {
    verdict = 'FAILED';
    actual = `the fuzz engine failed on this property: ${engineError}`;
  } else if (details !== undefined && details.failed && details.counterexamplePath !== null && lastFailure !== undefined) {
    verdict = verdictFor(p.level, { pass: false, actual: '' }, false);
    const file = resolve(opts.replayDir, `${sanitizeForPath(session.mode.label)}__${sanitizeForPath(p.id)}.json`);
    const command = replayCommand(opts.targetSpec, file);
    const counterexample = fc.stringify(details.counterexample?.[0]);
    const replay: ReplayFile = {
      format: REPLAY_FORMAT,
      version: REPLAY_VERSION,
      createdAt: new Date().toISOString(),
      target: { name: session.target.name, source: session.target.source },
      mode: { framing: session.mode.framingName, auth: session.mode.auth, label: session.mode.label },
      capabilities: run.arbitraryCapabilities,
      property: { id: p.id, section: p.section },
      runSeed: run.runSeed,
      seed: item.seed,
      path: details.counterexamplePath,
      counterexample,
      problem: lastFailure.problem,
      inputs: run.path === undefined ? inputsToFailure : 1,
      shrinks: details.numShrinks,
    };
    if (run.path === undefined) await writeReplayFile(file, replay);
    finding = {
      mode: session.mode.label,
      property: p.id,
      section: p.section,
      problem: lastFailure.problem,
      seed: item.seed,
      path: details.counterexamplePath,
      counterexample,
      inputsToFailure: replay.inputs,
      shrinks: details.numShrinks,
      replayFile: file,
      replayCommand: command,
    };
    actual =
      run.path === undefined
        ? `${lastFailure.problem} — found after ${inputsToFailure} input${inputsToFailure === 1 ? '' : 's'}, shrunk ${details.numShrinks} time${details.numShrinks === 1 ? '' : 's'}${details.interrupted ? ' (shrinking cut short by --time)' : ''}; seed ${item.seed}, path ${details.counterexamplePath}; replay: ${command}`
        : `${lastFailure.problem} — reproduced from the replay file (seed ${item.seed}, path ${details.counterexamplePath})`;
    wireLog = [...lastFailure.log.entries];
    dropped = { entries: lastFailure.log.droppedEntries, bytes: lastFailure.log.droppedBytes };
    stderrTail = lastFailure.stderrTail;
  } else if (details !== undefined && details.failed && details.interrupted && lastFailure === undefined) {
    // --time left this pair no time for a single input: nothing was observed, nothing contradicted.
    verdict = 'OK';
    actual = `${inputs} inputs: stopped by --time before the first input completed`;
  } else if (details !== undefined && details.failed) {
    verdict = 'FAILED';
    actual = `fast-check stopped without a counterexample after ${inputs} inputs (too many skipped inputs)`;
  } else if (run.path !== undefined) {
    verdict = 'OK';
    actual = `the replayed counterexample did not reproduce a failure (seed ${item.seed}, path ${run.path}): the target now answers it as §${p.section} requires`;
  } else {
    verdict = 'OK';
    const cut = interrupted ? ` (stopped by --time${run.numRuns !== undefined ? ` before the planned ${run.numRuns}` : ''})` : '';
    actual = `${inputs} input${inputs === 1 ? '' : 's'}, nothing contradicted §${p.section}${cut}`;
  }
  const stats: FuzzPropertyStats = { ...statsBase, verdict, interrupted };
  const result: CaseResult = {
    ...base,
    verdict,
    durationMs,
    actual,
    wireLog,
    wireLogDropped: dropped,
    ...(stderrTail !== '' ? { stderrTail } : {}),
  };
  opts.onProgress?.({ type: 'property-done', mode: session.mode.label, stats, finding, actual });
  return { result, stats, finding };
}

function unimplemented(item: FuzzPlanItem): CaseResult {
  const p = item.property;
  return {
    id: p.id,
    mode: item.mode.label,
    section: p.section,
    level: p.level,
    description: p.description,
    expected: p.expected,
    startedAt: new Date().toISOString(),
    verdict: 'UNIMPLEMENTED',
    durationMs: 0,
    actual: item.missing ?? 'not applicable',
    wireLog: [],
    wireLogDropped: { entries: 0, bytes: 0 },
  };
}

function reportOf(target: ResolvedTarget, modes: readonly ModeResult[], startedAt: string, t0: number): ConformanceResult {
  return {
    target: {
      name: target.name,
      source: target.source,
      kind: target.spawn !== undefined ? 'spawned' : 'attached',
      dialect: target.dialect.name,
      capabilities: target.capabilities,
    },
    strict: false,
    startedAt,
    finishedAt: new Date().toISOString(),
    modes,
    summary: summarize(
      modes.flatMap((m) => m.cases),
      performance.now() - t0,
    ),
    runtime: { node: process.version, platform: process.platform, arch: process.arch, clock: 'performance.now' },
  };
}

interface ModeWork {
  readonly mode: ModeInfo;
  readonly items: readonly FuzzPlanItem[];
  /** Per item: the time it may take, computed when it starts. */
  readonly budget: (item: FuzzPlanItem) => number | undefined;
  readonly runSeed: number;
  readonly arbitraryCapabilities: Capabilities;
  readonly path?: string | undefined;
  readonly numRuns: (item: FuzzPlanItem) => number | undefined;
}

async function runMode(target: ResolvedTarget, work: ModeWork, opts: ResolvedOptions): Promise<{ mode: ModeResult; stats: FuzzPropertyStats[]; findings: FuzzFinding[] }> {
  const { mode } = work;
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const base = { label: mode.label, framing: mode.framingName, auth: mode.auth, startedAt };
  const runnable = work.items.filter((i) => i.missing === undefined);
  opts.onProgress?.({ type: 'mode-start', mode: mode.label, properties: runnable.length });
  const cases: CaseResult[] = work.items.filter((i) => i.missing !== undefined).map(unimplemented);
  const stats: FuzzPropertyStats[] = [];
  const findings: FuzzFinding[] = [];
  if (runnable.length === 0) return { mode: { ...base, summary: summarize(cases, performance.now() - t0), cases }, stats, findings };

  let running: RunningTarget;
  try {
    running = await startTarget(target, mode);
  } catch (err) {
    const error = errorMessage(err);
    opts.onProgress?.({ type: 'mode-error', mode: mode.label, error });
    return { mode: { ...base, summary: summarize(cases, performance.now() - t0), cases, startError: error }, stats, findings };
  }
  try {
    const session = new ModeSession(mode, target, running, opts);
    const warm = await session.warmUp();
    if (warm !== undefined) {
      opts.onProgress?.({ type: 'mode-error', mode: mode.label, error: warm });
      return {
        mode: { ...base, summary: summarize(cases, performance.now() - t0), cases, startError: `the target does not answer before fuzzing: ${warm}`, targetDescription: running.description },
        stats,
        findings,
      };
    }
    for (const item of runnable) {
      const out = await runProperty(session, {
        item,
        numRuns: work.numRuns(item),
        timeBudgetMs: work.budget(item),
        arbitraryCapabilities: work.arbitraryCapabilities,
        path: work.path,
        runSeed: work.runSeed,
      });
      cases.push(out.result);
      stats.push(out.stats);
      if (out.finding !== undefined) findings.push(out.finding);
    }
  } finally {
    await running.stop();
  }
  return { mode: { ...base, summary: summarize(cases, performance.now() - t0), cases, targetDescription: running.description }, stats, findings };
}

/**
 * Runs the selected properties against `opts.target` in each of its modes, one mode
 * after another (one target process each), and returns what was observed.
 * @throws FastPathError FP_USAGE when neither `runs` nor `timeMs` bounds the run or no
 *   property is selected; FP_CONFIG_INVALID for an invalid property list.
 */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  validateFuzzProperties(opts.properties);
  if (opts.runs === undefined && opts.timeMs === undefined) throw fpError('FP_USAGE', 'a fuzz run needs a bound: runs, timeMs or both');
  if (opts.runs !== undefined && !(Number.isInteger(opts.runs) && opts.runs >= 1)) throw fpError('FP_USAGE', `runs must be a positive integer, got ${String(opts.runs)}`);
  const selected = selectFuzzProperties(opts.properties, opts.include, opts.exclude);
  if (selected.length === 0) throw fpError('FP_USAGE', 'no fuzz property selected (see fastpath fuzz --list)');
  const resolved = resolveOptions(opts);
  const runSeed = opts.seed ?? randomRunSeed();
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const deadline = opts.timeMs === undefined ? undefined : t0 + opts.timeMs;
  const plan = planFuzzRun({
    modes: opts.target.modes,
    properties: selected,
    capabilities: opts.target.capabilities,
    spawned: opts.target.spawn !== undefined,
    runs: opts.runs ?? 1,
    runSeed,
  });
  // Time shares: each pair gets its weight's share of the time still left when it starts.
  let weightLeft = plan.reduce((sum, i) => sum + i.weight, 0);
  const budget = (item: FuzzPlanItem): number | undefined => {
    if (deadline === undefined) return undefined;
    const share = weightLeft > 0 ? item.weight / weightLeft : 1;
    weightLeft -= item.weight;
    return Math.max(1, (deadline - performance.now()) * share);
  };
  const modes: ModeResult[] = [];
  const stats: FuzzPropertyStats[] = [];
  const findings: FuzzFinding[] = [];
  for (const mode of opts.target.modes) {
    const items = plan.filter((i) => i.mode === mode);
    const out = await runMode(
      opts.target,
      {
        mode,
        items,
        budget,
        runSeed,
        arbitraryCapabilities: opts.target.capabilities,
        numRuns: (item) => (opts.runs === undefined ? undefined : item.numRuns),
      },
      resolved,
    );
    if (out.mode.startError !== undefined) weightLeft -= items.filter((i) => i.missing === undefined).reduce((s, i) => s + i.weight, 0);
    modes.push(out.mode);
    stats.push(...out.stats);
    findings.push(...out.findings);
  }
  return {
    report: reportOf(opts.target, modes, startedAt, t0),
    runSeed,
    findings,
    stats,
    inputs: stats.reduce((sum, s) => sum + s.inputs, 0),
    durationMs: roundMs(performance.now() - t0),
  };
}

/** Options of {@link replayFuzz}. */
export interface ReplayOptions {
  /** The target, narrowed to the replay's mode. */
  readonly target: ResolvedTarget;
  readonly properties: readonly FuzzProperty[];
  readonly replay: ReplayFile;
  readonly replayFile: string;
  readonly maxRssGrowthBytes?: number | undefined;
  readonly maxFdGrowth?: number | undefined;
  readonly livenessDeadlineMs?: number | undefined;
  readonly readTimeoutMs?: number | undefined;
  readonly targetSpec?: string | undefined;
  readonly onProgress?: ((event: FuzzProgressEvent) => void) | undefined;
}

/**
 * Runs exactly the counterexample of a replay file (its seed and path, no shrinking)
 * against the target, with the same oracles, and returns the result like {@link runFuzz}.
 * @throws FastPathError FP_USAGE when the property is unknown or the target lacks the mode.
 */
export async function replayFuzz(opts: ReplayOptions): Promise<FuzzResult> {
  const { replay } = opts;
  const property = opts.properties.find((p) => p.id === replay.property.id);
  if (property === undefined) {
    throw fpError('FP_USAGE', `--replay ${opts.replayFile}: property "${replay.property.id}" does not exist in this version of fastpath (see fastpath fuzz --list)`);
  }
  const mode = opts.target.modes.find((m) => m.label === replay.mode.label);
  if (mode === undefined) {
    throw fpError('FP_USAGE', `--replay ${opts.replayFile}: the target has no mode ${replay.mode.label} (its modes: ${opts.target.modes.map((m) => m.label).join(', ')})`);
  }
  const resolved = resolveOptions({
    target: opts.target,
    properties: opts.properties,
    replayDir: join(opts.replayFile, '..'),
    maxRssGrowthBytes: opts.maxRssGrowthBytes,
    maxFdGrowth: opts.maxFdGrowth,
    livenessDeadlineMs: opts.livenessDeadlineMs,
    readTimeoutMs: opts.readTimeoutMs,
    targetSpec: opts.targetSpec,
    onProgress: opts.onProgress,
  });
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const item: FuzzPlanItem = {
    mode,
    property,
    missing: undefined,
    seed: replay.seed,
    numRuns: 1,
    weight: property.weight ?? 1,
  };
  const out = await runMode(
    opts.target,
    {
      mode,
      items: [item],
      budget: () => undefined,
      runSeed: replay.runSeed,
      arbitraryCapabilities: replayCapabilities(replay),
      path: replay.path,
      numRuns: () => undefined,
    },
    { ...resolved, shrinkTimeMs: 0 },
  );
  return {
    report: reportOf(opts.target, [out.mode], startedAt, t0),
    runSeed: replay.runSeed,
    findings: out.findings,
    stats: out.stats,
    inputs: out.stats.reduce((sum, s) => sum + s.inputs, 0),
    durationMs: roundMs(performance.now() - t0),
  };
}
