import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { encodeMessage, encodeRequest, fpError, type AuthMode, type SignOptions } from '../protocol/index.js';
import type {
  Capabilities,
  CapabilityName,
  CaseContext,
  CaseOutcome,
  ConformanceCase,
  Level,
  ModeInfo,
  TargetControl,
  Verdict,
  WireConnection,
} from './case.js';
import { HEAVY_CASES_AT_ONCE } from './case.js';
import { errorMessage, type Dialect } from './dialect.js';
import { probeSocket, startTarget, type RunningTarget } from './launcher.js';
import type { ResolvedTarget } from './targets.js';
import { openWireConnection, type SocketWireConnection } from './wire-connection.js';
import { WireLog, type WireLogEntry } from './wire-log.js';

/**
 * The conformance runner: runs cases against a target in each of its modes and
 * returns data (printing lives in console-report.ts). A case's timeout, a throw or a
 * closed connection are observations that become verdicts, never runner crashes.
 */

/** Budget of a case that does not set `timeoutMs`. */
export const DEFAULT_CASE_TIMEOUT_MS = 10_000;
/**
 * Modes run at once, each against its own target process. Cases spend most of
 * their time waiting on timers (TTL, idle timeout, drain deadline), not on CPU, so
 * the nine reference modes run together even on two cores.
 */
export const DEFAULT_JOBS = 9;

/** Counts per verdict plus totals. */
export type Summary = { total: number; durationMs: number } & Record<Verdict, number>;

/** The result of one case in one mode. */
export interface CaseResult {
  readonly id: string;
  /** Mode label, `${framing}/${auth}`. */
  readonly mode: string;
  readonly section: string;
  readonly level: Level;
  readonly description: string;
  readonly verdict: Verdict;
  readonly durationMs: number;
  readonly expected: string;
  readonly actual: string;
  /** ISO time the case started. */
  readonly startedAt: string;
  readonly wireLog: readonly WireLogEntry[];
  /** Log entries beyond the total cap: counted, not kept. */
  readonly wireLogDropped: { readonly entries: number; readonly bytes: number };
  /** The target's stderr tail, for FAILED and NON-STRICT verdicts of spawned targets. */
  readonly stderrTail?: string;
}

/** The result of one mode: its cases, or why its target could not be started. */
export interface ModeResult {
  readonly label: string;
  readonly framing: string;
  readonly auth: AuthMode;
  readonly startedAt: string;
  readonly summary: Summary;
  readonly cases: readonly CaseResult[];
  /** Set when the target could not be started or reached for this mode; no case ran. */
  readonly startError?: string;
  /** Command line (spawned) or socket (attached). */
  readonly targetDescription?: string;
}

/** Everything a conformance run observed (data only). */
export interface ConformanceResult {
  readonly target: {
    readonly name: string;
    readonly source: string;
    readonly kind: 'spawned' | 'attached';
    readonly dialect: string;
    readonly capabilities: Capabilities;
  };
  readonly strict: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly modes: readonly ModeResult[];
  readonly summary: Summary;
  readonly runtime: { readonly node: string; readonly platform: string; readonly arch: string; readonly clock: 'performance.now' };
}

/** Progress of a run, for console status lines. */
export type ProgressEvent =
  | { readonly type: 'mode-start'; readonly mode: string; readonly total: number }
  | { readonly type: 'case-done'; readonly mode: string; readonly done: number; readonly total: number; readonly result: CaseResult }
  | { readonly type: 'mode-done'; readonly mode: string; readonly result: ModeResult };

/** Options of {@link runConformance}. */
export interface RunOptions {
  readonly target: ResolvedTarget;
  readonly cases: readonly ConformanceCase[];
  /** NON-STRICT (a SHOULD missed) becomes FAILED. */
  readonly strict?: boolean | undefined;
  /** Case-id globs (`*`, `?`); a case runs when it matches any (default: all). */
  readonly include?: readonly string[] | undefined;
  /** Case-id globs; a matching case does not run. */
  readonly exclude?: readonly string[] | undefined;
  /** Budget of cases that do not set their own `timeoutMs` (default 10 000). */
  readonly caseTimeoutMs?: number | undefined;
  /** Modes run at once (default 3). */
  readonly jobs?: number | undefined;
  /** Default timeout of `WireConnection.read()` (default 3 000). */
  readonly readTimeoutMs?: number | undefined;
  readonly onProgress?: ((event: ProgressEvent) => void) | undefined;
}

/** One row of `--list`. */
export interface CaseListing {
  readonly id: string;
  readonly section: string;
  readonly level: Level;
  readonly description: string;
  readonly requires: readonly CapabilityName[];
  readonly disruptive: boolean;
  /** Labels of the modes the case applies to. */
  readonly modes: readonly string[];
}

/** Turns a glob (`*` any run of characters, `?` one character) into an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const ch of glob) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The cases whose id matches any `include` glob (all when none) and no `exclude` glob. */
export function selectCases(
  cases: readonly ConformanceCase[],
  include: readonly string[] = [],
  exclude: readonly string[] = [],
): ConformanceCase[] {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return cases.filter((c) => (inc.length === 0 || inc.some((re) => re.test(c.id))) && !exc.some((re) => re.test(c.id)));
}

const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const LEVELS: readonly Level[] = ['MUST', 'SHOULD', 'MAY'];

/**
 * Checks the case list: literal ids, unique, a level, a section and a run function.
 * @throws FastPathError FP_CONFIG_INVALID listing every problem.
 */
export function validateCases(cases: readonly ConformanceCase[]): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const c of cases) {
    if (typeof c.id !== 'string' || !CASE_ID.test(c.id)) problems.push(`case id ${JSON.stringify(c.id)} is not a dotted literal id`);
    else if (seen.has(c.id)) problems.push(`case id "${c.id}" is used twice`);
    seen.add(c.id);
    if (!LEVELS.includes(c.level)) problems.push(`case "${c.id}": level must be MUST, SHOULD or MAY`);
    if (typeof c.section !== 'string' || c.section === '') problems.push(`case "${c.id}": section is missing`);
    if (typeof c.run !== 'function') problems.push(`case "${c.id}": run is not a function`);
  }
  if (problems.length > 0) throw fpError('FP_CONFIG_INVALID', problems.join('\n'));
}

function safeApplies(c: ConformanceCase, mode: ModeInfo): boolean {
  if (c.appliesTo === undefined) return true;
  try {
    return c.appliesTo(mode);
  } catch {
    return true; // run it; the case itself will show what is wrong
  }
}

/** Lists the selected cases with the modes each applies to, without running anything. */
export function listCases(
  cases: readonly ConformanceCase[],
  modes: readonly ModeInfo[],
  include?: readonly string[],
  exclude?: readonly string[],
): CaseListing[] {
  return selectCases(cases, include, exclude).map((c) => ({
    id: c.id,
    section: c.section,
    level: c.level,
    description: c.description,
    requires: [...(c.requires ?? [])],
    disruptive: c.disruptive === true,
    modes: modes.filter((m) => safeApplies(c, m)).map((m) => m.label),
  }));
}

/**
 * Maps a case outcome to a verdict: pass → OK; fail → FAILED (MUST), NON-STRICT
 * (SHOULD; FAILED under `strict`), INFORMATIONAL (MAY); informational → INFORMATIONAL.
 */
export function verdictFor(level: Level, outcome: CaseOutcome, strict: boolean): Verdict {
  if ('informational' in outcome) return 'INFORMATIONAL';
  if (outcome.pass) return 'OK';
  switch (level) {
    case 'MUST':
      return 'FAILED';
    case 'SHOULD':
      return strict ? 'FAILED' : 'NON-STRICT';
    case 'MAY':
      return 'INFORMATIONAL';
  }
}

function declared(value: Capabilities[CapabilityName]): boolean {
  return value !== undefined && value !== false;
}

/** Why a case cannot run on this target (UNIMPLEMENTED), or undefined. */
export function missingCapability(c: ConformanceCase, capabilities: Capabilities, spawned: boolean): string | undefined {
  for (const cap of c.requires ?? []) {
    if (cap === 'lifecycle' && !spawned) return 'capability "lifecycle" not available: the target is attached, not spawned by the suite';
    if (!declared(capabilities[cap])) return `capability "${cap}" not declared by the target`;
  }
  return c.capabilityGap?.(capabilities);
}

/** How long the runner waits for the server to close a case's connections after the case. */
const CLOSE_WAIT_MS = 500;
/** Pause after resetting the connections of a timed-out case. */
const ABORT_SETTLE_MS = 100;

/** A summary with every count at zero. */
export function emptySummary(): Summary {
  return { total: 0, OK: 0, 'NON-STRICT': 0, FAILED: 0, INFORMATIONAL: 0, UNIMPLEMENTED: 0, durationMs: 0 };
}

/** Counts the verdicts of `results`. */
export function summarize(results: readonly CaseResult[], durationMs: number): Summary {
  const summary = emptySummary();
  for (const r of results) {
    summary.total++;
    summary[r.verdict]++;
  }
  summary.durationMs = Math.round(durationMs);
  return summary;
}

const OutcomeSchema = z.union([
  z.object({ pass: z.boolean(), actual: z.string() }),
  z.object({ informational: z.literal(true), actual: z.string() }),
]);

/** Unique ids for the whole run: `${prefix}-${runTag}-${n}`. */
export class IdSource {
  private n = 0;
  private readonly tag = randomBytes(4).toString('hex');
  next(prefix: string): string {
    this.n++;
    return `${prefix}-${this.tag}-${this.n.toString(36)}`;
  }
}

/** TargetControl handed to one case; refuses lifecycle actions once the case is over. */
class CaseTargetControl implements TargetControl {
  finished = false;
  constructor(private readonly inner: RunningTarget) {}
  private check(what: string): void {
    if (this.finished) throw fpError('FP_USAGE', `case already finished (timed out); refusing to ${what}`);
  }
  get socketPath(): string {
    return this.inner.socketPath;
  }
  get pid(): number | undefined {
    return this.inner.pid;
  }
  get spawned(): boolean {
    return this.inner.spawned;
  }
  get dir(): string | undefined {
    return this.inner.dir;
  }
  get alive(): boolean {
    return this.inner.alive;
  }
  signal(sig: NodeJS.Signals): void {
    this.check(`send ${sig}`);
    this.inner.signal(sig);
  }
  waitExit(timeoutMs: number): ReturnType<TargetControl['waitExit']> {
    return this.inner.waitExit(timeoutMs);
  }
  async restart(): Promise<void> {
    this.check('restart the target');
    await this.inner.restart();
  }
  spawnSecondInstance(timeoutMs: number): ReturnType<TargetControl['spawnSecondInstance']> {
    this.check('spawn a second instance');
    return this.inner.spawnSecondInstance(timeoutMs);
  }
  rssBytes(): Promise<number | undefined> {
    return this.inner.rssBytes();
  }
  openFds(): Promise<number | undefined> {
    return this.inner.openFds();
  }
}

/** What a {@link CaseContext} is built from. */
export interface ContextDeps {
  readonly mode: ModeInfo;
  readonly capabilities: Capabilities;
  readonly target: RunningTarget;
  readonly dialect: Dialect;
  readonly log: WireLog;
  readonly readTimeoutMs: number | undefined;
  readonly ids: IdSource;
}

/** A counting semaphore: at most `capacity` holders at once, FIFO. */
class Gate {
  private holders = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly capacity: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holders >= this.capacity) await new Promise<void>((wake) => this.waiting.push(wake));
    else this.holders++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // hand our slot over
      else this.holders--;
    }
  }
}

/** The {@link CaseContext} of one case; closes its connections when the case ends. */
class RunnerCaseContext implements CaseContext {
  readonly mode: ModeInfo;
  readonly capabilities: Capabilities;
  readonly target: CaseTargetControl;
  private readonly conns: SocketWireConnection[] = [];
  private finished = false;
  constructor(private readonly deps: ContextDeps) {
    this.mode = deps.mode;
    this.capabilities = deps.capabilities;
    this.target = new CaseTargetControl(deps.target);
  }

  async connect(): Promise<WireConnection> {
    if (this.finished) throw fpError('FP_USAGE', 'case already finished (timed out); no new connections');
    const conn = await openWireConnection({
      socketPath: this.deps.target.socketPath,
      mode: this.mode,
      dialect: this.deps.dialect,
      log: this.deps.log,
      connId: this.conns.length + 1,
      defaultReadTimeoutMs: this.deps.readTimeoutMs,
    });
    this.conns.push(conn);
    if (this.finished) conn.destroy();
    return conn;
  }

  async probeConnect(timeoutMs = 1_000): Promise<'connected' | string> {
    const result = await probeSocket(this.deps.target.socketPath, timeoutMs);
    this.deps.log.event(`probe connect: ${result}`);
    return result;
  }

  encode(signal: Record<string, unknown>, opts?: SignOptions): Buffer {
    return encodeRequest(this.mode, this.deps.dialect.toTarget(signal), opts);
  }

  encodeRaw(value: unknown): Buffer {
    return encodeMessage(this.mode.framing, value);
  }

  prepare(overrides: Record<string, unknown> = {}): Record<string, unknown> & { signal_id: string } {
    const signal = {
      type: 'PREPARE',
      signal_id: this.uniqueId('sig'),
      symbol: 'BTCUSDT',
      side: 'Buy',
      qty: 0.01,
      leverage: 1,
      price: 50_000,
      timestamp: Date.now(),
      ...overrides,
    };
    return signal as Record<string, unknown> & { signal_id: string };
  }

  confirm(signalId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { type: 'CONFIRM', signal_id: signalId, timestamp: Date.now(), ...overrides };
  }

  abort(signalId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { type: 'ABORT', signal_id: signalId, reason: 'conformance test', timestamp: Date.now(), ...overrides };
  }

  status(): Record<string, unknown> {
    return { type: 'STATUS' };
  }

  uniqueId(prefix = 'id'): string {
    return this.deps.ids.next(prefix);
  }

  note(text: string): void {
    this.deps.log.note(text);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((res) => setTimeout(res, ms));
  }

  /**
   * Ends the case: no more connections or lifecycle actions. Open connections are
   * closed gracefully (FIN, then wait for the server's close, so a server counting
   * connections has let them go before the next case), or reset at once when `abort`.
   */
  async finish(abort: boolean): Promise<void> {
    this.finished = true;
    this.target.finished = true;
    if (!abort) await Promise.all(this.conns.map((conn) => conn.closeGracefully(CLOSE_WAIT_MS)));
    for (const conn of this.conns) conn.destroy();
    // A reset gives no confirmation that the server saw it: leave it a moment.
    if (abort && this.conns.length > 0) await this.sleep(ABORT_SETTLE_MS);
  }
}

interface CaseRunEnv {
  readonly mode: ModeInfo;
  readonly resolved: ResolvedTarget;
  readonly running: RunningTarget;
  readonly strict: boolean;
  readonly caseTimeoutMs: number;
  readonly readTimeoutMs: number | undefined;
  readonly ids: IdSource;
  readonly heavyGate: Gate;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A {@link CaseContext} used outside the conformance runner (the fuzzer, drivers). */
export interface DetachedCaseContext extends CaseContext {
  /** Closes the context's connections: gracefully (FIN, wait for the server's close), or reset at once when `abort`. */
  finish(abort: boolean): Promise<void>;
}

/**
 * The same context a conformance case gets, for code that drives a target outside
 * the runner: its connections log into `deps.log`; call `finish()` when done.
 */
export function createCaseContext(deps: ContextDeps): DetachedCaseContext {
  return new RunnerCaseContext(deps);
}

async function runOneCase(c: ConformanceCase, env: CaseRunEnv, probeFirst: boolean): Promise<CaseResult> {
  const startedAt = new Date().toISOString();
  const base = { id: c.id, mode: env.mode.label, section: c.section, level: c.level, description: c.description, expected: c.expected, startedAt };
  const missing = missingCapability(c, env.resolved.capabilities, env.running.spawned);
  if (missing !== undefined) {
    return { ...base, verdict: 'UNIMPLEMENTED', durationMs: 0, actual: missing, wireLog: [], wireLogDropped: { entries: 0, bytes: 0 } };
  }

  const preLog = new WireLog();
  env.running.setEventSink((text) => preLog.event(text), preLog.originPerfMs);
  const pidBefore = env.running.pid;
  let readyError: string | undefined;
  try {
    await env.running.ensureReady({ probe: probeFirst });
  } catch (err) {
    readyError = errorMessage(err);
  }

  const log = new WireLog();
  const t0 = log.originPerfMs;
  env.running.setEventSink((text) => log.event(text), t0);
  if (env.running.spawned && pidBefore !== env.running.pid) {
    log.note(`the runner restarted the target before this case (a previous case left it stopped or unreachable); new pid ${String(env.running.pid)}`);
  }
  const finishResult = (verdict: Verdict, actual: string): CaseResult => {
    const failed = verdict === 'FAILED' || verdict === 'NON-STRICT';
    const tail = failed && env.running.spawned ? env.running.stderrTail(4_000) : '';
    return {
      ...base,
      verdict,
      durationMs: roundMs(performance.now() - t0),
      actual,
      wireLog: [...log.entries],
      wireLogDropped: { entries: log.droppedEntries, bytes: log.droppedBytes },
      ...(tail !== '' ? { stderrTail: tail } : {}),
    };
  };
  if (readyError !== undefined) {
    env.running.setEventSink(undefined, t0);
    for (const entry of preLog.entries) log.event(entry.preview);
    return finishResult('FAILED', `target not available before the case: ${readyError}`);
  }

  const ctx = new RunnerCaseContext({
    mode: env.mode,
    capabilities: env.resolved.capabilities,
    target: env.running,
    dialect: env.resolved.dialect,
    log,
    readTimeoutMs: env.readTimeoutMs,
    ids: env.ids,
  });
  const timeoutMs = c.timeoutMs ?? env.caseTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<{ kind: 'timeout' }>((res) => {
    timer = setTimeout(() => res({ kind: 'timeout' }), timeoutMs);
  });
  const ran = Promise.resolve()
    .then(() => c.run(ctx))
    .then(
      (outcome: unknown) => ({ kind: 'done' as const, outcome }),
      (err: unknown) => ({ kind: 'threw' as const, err }),
    );
  const first = await Promise.race([ran, timedOut]);
  clearTimeout(timer);

  let result: CaseResult;
  if (first.kind === 'timeout') {
    log.event(`case timed out after ${timeoutMs} ms; its connections are reset`);
    result = finishResult('FAILED', `timed out after ${timeoutMs} ms`);
  } else if (first.kind === 'threw') {
    log.event(`case threw: ${errorMessage(first.err)}`);
    result = finishResult('FAILED', `case threw: ${errorMessage(first.err)}`);
  } else {
    const parsed = OutcomeSchema.safeParse(first.outcome);
    if (!parsed.success) {
      result = finishResult('FAILED', 'case returned an invalid outcome (expected pass(…), fail(…) or informational(…))');
    } else {
      const outcome = parsed.data as CaseOutcome;
      result = finishResult(verdictFor(c.level, outcome, env.strict), outcome.actual);
    }
  }
  // The result (and its copy of the wire log) is taken first: closing is the runner's business.
  await ctx.finish(first.kind === 'timeout');
  env.running.setEventSink(undefined, t0);
  return result;
}

/** Non-disruptive cases first, in their given order, then the disruptive ones. */
export function orderCases(cases: readonly ConformanceCase[]): ConformanceCase[] {
  return [...cases.filter((c) => c.disruptive !== true), ...cases.filter((c) => c.disruptive === true)];
}

async function runMode(mode: ModeInfo, cases: readonly ConformanceCase[], opts: RunOptions, ids: IdSource, heavyGate: Gate): Promise<ModeResult> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const applicable = orderCases(cases.filter((c) => safeApplies(c, mode)));
  const base = { label: mode.label, framing: mode.framingName, auth: mode.auth, startedAt };
  opts.onProgress?.({ type: 'mode-start', mode: mode.label, total: applicable.length });
  if (applicable.length === 0) {
    const result: ModeResult = { ...base, summary: summarize([], performance.now() - t0), cases: [] };
    opts.onProgress?.({ type: 'mode-done', mode: mode.label, result });
    return result;
  }
  let running: RunningTarget;
  try {
    running = await startTarget(opts.target, mode);
  } catch (err) {
    const result: ModeResult = { ...base, summary: summarize([], performance.now() - t0), cases: [], startError: errorMessage(err) };
    opts.onProgress?.({ type: 'mode-done', mode: mode.label, result });
    return result;
  }
  const results: CaseResult[] = [];
  try {
    const env: CaseRunEnv = {
      mode,
      resolved: opts.target,
      running,
      strict: opts.strict === true,
      caseTimeoutMs: opts.caseTimeoutMs ?? DEFAULT_CASE_TIMEOUT_MS,
      readTimeoutMs: opts.readTimeoutMs,
      ids,
      heavyGate,
    };
    let previousDisruptive = false;
    for (const c of applicable) {
      const probe = previousDisruptive;
      const r = c.heavy === true ? await env.heavyGate.run(() => runOneCase(c, env, probe)) : await runOneCase(c, env, probe);
      previousDisruptive = c.disruptive === true;
      results.push(r);
      opts.onProgress?.({ type: 'case-done', mode: mode.label, done: results.length, total: applicable.length, result: r });
    }
  } finally {
    await running.stop();
  }
  const result: ModeResult = {
    ...base,
    summary: summarize(results, performance.now() - t0),
    cases: results,
    targetDescription: running.description,
  };
  opts.onProgress?.({ type: 'mode-done', mode: mode.label, result });
  return result;
}

async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}

/**
 * Runs the selected cases against `opts.target` in each of its modes (up to `jobs`
 * modes at once, each with its own target process) and returns what was observed.
 * A mode whose target cannot be started has `startError` and no cases.
 * @throws FastPathError FP_CONFIG_INVALID when the case list is invalid.
 */
export async function runConformance(opts: RunOptions): Promise<ConformanceResult> {
  validateCases(opts.cases);
  const jobs = opts.jobs ?? DEFAULT_JOBS;
  if (!Number.isInteger(jobs) || jobs < 1) throw fpError('FP_USAGE', `jobs must be a positive integer, got ${String(jobs)}`);
  const selected = selectCases(opts.cases, opts.include, opts.exclude);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const ids = new IdSource();
  const heavyGate = new Gate(HEAVY_CASES_AT_ONCE);
  const modes = await pool(opts.target.modes, jobs, (mode) => runMode(mode, selected, opts, ids, heavyGate));
  const all = modes.flatMap((m) => m.cases);
  return {
    target: {
      name: opts.target.name,
      source: opts.target.source,
      kind: opts.target.spawn !== undefined ? 'spawned' : 'attached',
      dialect: opts.target.dialect.name,
      capabilities: opts.target.capabilities,
    },
    strict: opts.strict === true,
    startedAt,
    finishedAt: new Date().toISOString(),
    modes,
    summary: summarize(all, performance.now() - t0),
    runtime: { node: process.version, platform: process.platform, arch: process.arch, clock: 'performance.now' },
  };
}


