import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fpError } from '../protocol/index.js';
import type { ModeInfo, TargetControl } from './case.js';
import { errorMessage } from './dialect.js';
import { DEFAULT_READY_TIMEOUT_MS, type ResolvedTarget } from './targets.js';

/**
 * Starts and controls the process under test (DESIGN "Real parts"; the nats.js nst
 * launcher pattern): a temp dir per instance with the socket inside, spawn without a
 * shell, bounded capture of stdout/stderr, readiness = the socket accepts a
 * connection, raced against early exit and a named timeout.
 *
 * The temp dir is the target's `{dir}` (docs/SPEC.md §8): it outlives restarts of the
 * process, so state a target keeps there (a ledger file, §11) survives a kill -9 and
 * restart; it is removed by stop().
 */

/** Exit of a process as observed by the launcher. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when the exit was observed. */
  readonly atPerfMs: number;
}

/** What the runner needs beyond {@link TargetControl}. */
export interface RunningTarget extends TargetControl {
  /** Command line (spawned) or socket (attached), for reports. */
  readonly description: string;
  /**
   * Restarts the target when its process is dead, or (with `probe`) when its socket
   * does not accept a connection. The runner probes only after a disruptive case, so
   * ordinary cases see no extra connection.
   */
  ensureReady(opts?: { probe?: boolean }): Promise<void>;
  /** Stops the target (spawned: SIGTERM, SIGKILL after the grace period) and removes its temp dir. */
  stop(): Promise<StopResult>;
  /** Last `maxChars` of what the target wrote to stderr. */
  stderrTail(maxChars?: number): string;
  stdoutTail(maxChars?: number): string;
  /**
   * Routes lifecycle events (signals sent, exits, restarts) to `sink`, with times
   * relative to `originPerfMs` (the case's clock); `undefined` detaches.
   */
  setEventSink(sink: ((text: string) => void) | undefined, originPerfMs: number): void;
}

/** How a stop went. */
export interface StopResult {
  /** True when SIGTERM was not enough and SIGKILL was sent. */
  readonly escalated: boolean;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Everything needed to launch one instance. `args` may hold placeholders. */
export interface LaunchSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly readyTimeoutMs?: number | undefined;
  /** Values of `{framing}`, `{auth}`, `{secret}` (`{socket}` and `{dir}` are the launcher's). */
  readonly framing: string;
  readonly auth: string;
  readonly secret: string;
  /** Time between SIGTERM and SIGKILL in stop() (default 3000). */
  readonly stopGraceMs?: number | undefined;
  /** Bytes of stdout and of stderr kept (default 64 KiB each). */
  readonly outputRingBytes?: number | undefined;
}

const DEFAULT_STOP_GRACE_MS = 3_000;
const DEFAULT_RING_BYTES = 64 * 1024;
const READY_POLL_MS = 20;
/** sun_path is 108 bytes on Linux; keep margin. */
const MAX_SOCKET_PATH_BYTES = 100;

/** Keeps the last `capacityBytes` of a stream. */
export class OutputRing {
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes seen in total, including dropped ones. */
  totalBytes = 0;
  constructor(private readonly capacityBytes: number) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    this.chunks.push(chunk);
    this.held += chunk.length;
    while (this.held > this.capacityBytes && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.held - this.capacityBytes;
      if (first.length <= excess) {
        this.chunks.shift();
        this.held -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.held -= excess;
      }
    }
  }

  /** The kept bytes as UTF-8, at most the last `maxChars` characters. */
  text(maxChars = Infinity): string {
    const all = Buffer.concat(this.chunks, this.held).toString('utf8');
    return all.length > maxChars ? all.slice(all.length - maxChars) : all;
  }
}

/** Values of the placeholders of a spawned target (docs/SPEC.md §8). */
export interface PlaceholderValues {
  readonly socket: string;
  readonly secret: string;
  readonly framing: string;
  readonly auth: string;
  /** The target's temp dir; without it `{dir}` is left as written. */
  readonly dir?: string | undefined;
}

/** Replaces `{socket}` `{secret}` `{framing}` `{auth}` `{dir}` in one argument or environment value. */
export function expandPlaceholders(arg: string, values: PlaceholderValues): string {
  return arg.replace(/\{(socket|secret|framing|auth|dir)\}/g, (whole, key: keyof PlaceholderValues) => values[key] ?? whole);
}

/** Quotes a command line for messages; the secret is masked. */
export function formatCommandLine(command: string, args: readonly string[], secret?: string): string {
  const quote = (s: string): string => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const mask = (s: string): string => (secret !== undefined && secret.length > 0 ? s.split(secret).join('<secret>') : s);
  return [command, ...args].map((part) => quote(mask(part))).join(' ');
}

/** One line of a stderr tail, for error messages. */
export function stderrSummary(text: string, maxChars = 600): string {
  const trimmed = text.trim();
  if (trimmed === '') return '(empty)';
  const oneLine = trimmed.split(/\r?\n/).join(' | ');
  return oneLine.length > maxChars ? `…${oneLine.slice(oneLine.length - maxChars)}` : oneLine;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** How long a probe waits for the server to close its side after the probe's FIN. */
const PROBE_CLOSE_WAIT_MS = 500;

/**
 * Tries one connection: 'connected' or the errno code. A connection is closed
 * politely (FIN, then a bounded wait for the server's close) so that a server
 * counting connections has let it go before anyone connects next.
 */
export function probeSocket(socketPath: string, timeoutMs = 1_000): Promise<'connected' | string> {
  return new Promise((resolvePromise) => {
    const sock = connect(socketPath);
    const timer = setTimeout(() => {
      sock.destroy();
      resolvePromise('ETIMEDOUT');
    }, timeoutMs);
    let connected = false;
    sock.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      const done = (): void => {
        clearTimeout(closeTimer);
        sock.destroy();
        resolvePromise('connected');
      };
      const closeTimer = setTimeout(done, PROBE_CLOSE_WAIT_MS);
      sock.once('close', done);
      sock.resume();
      sock.end();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return; // a reset after connecting still counts; 'close' follows
      clearTimeout(timer);
      sock.destroy();
      resolvePromise(err.code ?? err.message);
    });
  });
}

/**
 * Polls `socketPath` every `pollMs` until a connection succeeds.
 * @returns true once it accepted, false when `timeoutMs` passed first.
 */
export async function waitForSocket(socketPath: string, timeoutMs: number, pollMs = 10): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await probeSocket(socketPath, Math.max(50, Math.min(1_000, deadline - performance.now())))) === 'connected') return true;
    await sleep(pollMs);
  }
  return false;
}

// Last-resort cleanup: children and temp dirs still alive when the harness exits.
const liveChildren = new Set<ChildProcess>();
const liveTempDirs = new Set<string>();
let exitHookInstalled = false;
function cleanupNow(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveTempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveTempDirs.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanupNow);
  // Killed by a signal, 'exit' does not run: clean up, then die of the same signal.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupNow();
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

async function makeTempDir(): Promise<string> {
  let base = tmpdir();
  if (Buffer.byteLength(join(base, 'fastpath-XXXXXX', 'target.sock')) > MAX_SOCKET_PATH_BYTES) base = '/tmp';
  const dir = await mkdtemp(join(base, 'fastpath-'));
  liveTempDirs.add(dir);
  installExitHook();
  return dir;
}

/** A target process started by the launcher. Implements {@link TargetControl}. */
export class SpawnedTarget implements RunningTarget {
  readonly spawned = true;
  private child: ChildProcess | undefined;
  private exitInfo: ExitInfo | undefined;
  private exitWaiters: Array<(info: ExitInfo) => void> = [];
  private stdout: OutputRing;
  private stderr: OutputRing;
  private sink: ((text: string) => void) | undefined;
  private originPerfMs = performance.now();
  private stopped = false;
  private readonly args: string[];
  private readonly env: NodeJS.ProcessEnv;
  /** The command line with the secret masked. */
  readonly description: string;

  private constructor(
    readonly spec: LaunchSpec,
    readonly tempDir: string,
    readonly socketPath: string,
  ) {
    const ring = spec.outputRingBytes ?? DEFAULT_RING_BYTES;
    this.stdout = new OutputRing(ring);
    this.stderr = new OutputRing(ring);
    const values: PlaceholderValues = { socket: socketPath, secret: spec.secret, framing: spec.framing, auth: spec.auth, dir: tempDir };
    this.args = spec.args.map((arg) => expandPlaceholders(arg, values));
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(spec.env ?? {})) env[key] = expandPlaceholders(value, values);
    this.env = {
      ...process.env,
      ...env,
      FASTPATH_SOCKET: socketPath,
      FASTPATH_SECRET: spec.secret,
      FASTPATH_FRAMING: spec.framing,
      FASTPATH_AUTH: spec.auth,
      FASTPATH_DIR: tempDir,
    };
    this.description = formatCommandLine(spec.command, this.args, spec.secret);
  }

  /**
   * Spawns the target in a fresh temp dir and waits until its socket accepts a connection.
   * @throws FastPathError FP_TARGET_START_FAILED naming the target, why, its stderr and the command line.
   */
  static async launch(spec: LaunchSpec): Promise<SpawnedTarget> {
    const dir = await makeTempDir();
    const target = new SpawnedTarget(spec, dir, join(dir, 'target.sock'));
    try {
      await target.startProcess();
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      liveTempDirs.delete(dir);
      throw err;
    }
    return target;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The `{dir}` of this target: {@link tempDir}. */
  get dir(): string {
    return this.tempDir;
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.pid !== undefined && this.exitInfo === undefined;
  }

  /** The exit of the current process, once it has exited. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  setEventSink(sink: ((text: string) => void) | undefined, originPerfMs: number): void {
    this.sink = sink;
    this.originPerfMs = originPerfMs;
  }

  private event(text: string): void {
    this.sink?.(text);
  }

  stderrTail(maxChars = 4_000): string {
    return this.stderr.text(maxChars);
  }

  stdoutTail(maxChars = 4_000): string {
    return this.stdout.text(maxChars);
  }

  private spawnChild(): ChildProcess {
    const child = spawn(this.spec.command, this.args, {
      cwd: this.spec.cwd,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
    });
    child.stdout?.on('data', (chunk: Buffer) => this.stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    return child;
  }

  private async startProcess(): Promise<void> {
    const child = this.spawnChild();
    this.child = child;
    this.exitInfo = undefined;
    let spawnError: Error | undefined;
    const closed = new Promise<void>((res) => child.once('close', () => res()));
    child.once('error', (err) => {
      spawnError = err;
      this.recordExit(child, null, null);
    });
    child.once('exit', (code, signal) => this.recordExit(child, code, signal));
    if (child.pid !== undefined) liveChildren.add(child);

    const timeoutMs = this.spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const deadline = performance.now() + timeoutMs;
    const exited = new Promise<void>((res) => {
      if (this.exitInfo !== undefined) res();
      else this.exitWaiters.push(() => res());
    });
    const cmd = this.description;
    const name = this.spec.name;
    for (;;) {
      const early = this.exit;
      if (early !== undefined) {
        // Let stderr drain before quoting it.
        await Promise.race([closed, sleep(500)]);
        if (spawnError !== undefined) {
          throw fpError('FP_TARGET_START_FAILED', `target "${name}" could not be started: ${spawnError.message}; command: ${cmd}`);
        }
        const how = early.signal !== null ? `was killed by ${early.signal}` : `exited with code ${String(early.code)}`;
        throw fpError(
          'FP_TARGET_START_FAILED',
          `target "${name}" ${how} before it was ready; its stderr: ${stderrSummary(this.stderr.text())}; command: ${cmd}`,
        );
      }
      if (performance.now() >= deadline) {
        await this.killAndWait();
        throw fpError(
          'FP_TARGET_START_FAILED',
          `target "${name}" did not become ready within ${timeoutMs} ms (no connection accepted on ${this.socketPath}); its stderr: ${stderrSummary(this.stderr.text())}; command: ${cmd}`,
        );
      }
      const probe = await probeSocket(this.socketPath, Math.max(50, Math.min(1_000, deadline - performance.now())));
      if (probe === 'connected' && this.exit === undefined) return;
      await Promise.race([sleep(READY_POLL_MS), exited]);
    }
  }

  private recordExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child || this.exitInfo !== undefined) return;
    liveChildren.delete(child);
    const info: ExitInfo = { code, signal, atPerfMs: performance.now() };
    this.exitInfo = info;
    this.event(`target exited (${signal !== null ? `signal ${signal}` : `code ${String(code)}`})`);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w(info);
  }

  private async killAndWait(): Promise<void> {
    if (!this.alive) return;
    this.child?.kill('SIGKILL');
    await this.waitExitInfo(5_000);
  }

  private waitExitInfo(timeoutMs: number): Promise<ExitInfo | 'timeout'> {
    if (this.exitInfo !== undefined) return Promise.resolve(this.exitInfo);
    if (this.child === undefined) return Promise.resolve('timeout');
    return new Promise((res) => {
      const timer = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== waiter);
        res('timeout');
      }, timeoutMs);
      const waiter = (info: ExitInfo): void => {
        clearTimeout(timer);
        res(info);
      };
      this.exitWaiters.push(waiter);
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child === undefined || !this.alive) {
      throw fpError('FP_TARGET_UNREACHABLE', `target "${this.spec.name}" is not running; cannot send ${sig}`);
    }
    this.event(`sent ${sig} to pid ${String(this.child.pid)}`);
    this.child.kill(sig);
  }

  async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number } | 'timeout'> {
    const info = await this.waitExitInfo(timeoutMs);
    if (info === 'timeout') return 'timeout';
    return { code: info.code, signal: info.signal, atMs: Math.round((info.atPerfMs - this.originPerfMs) * 1000) / 1000 };
  }

  /** Stops the current process (SIGTERM, then SIGKILL after the grace period); keeps the temp dir. */
  private async stopProcess(): Promise<StopResult> {
    if (!this.alive) {
      return { escalated: false, code: this.exitInfo?.code ?? null, signal: this.exitInfo?.signal ?? null };
    }
    this.event(`stopping target: SIGTERM to pid ${String(this.child?.pid)}`);
    this.child?.kill('SIGTERM');
    let info = await this.waitExitInfo(this.spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    let escalated = false;
    if (info === 'timeout') {
      escalated = true;
      this.event(`target still running after ${this.spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS} ms: SIGKILL`);
      this.child?.kill('SIGKILL');
      info = await this.waitExitInfo(5_000);
    }
    return info === 'timeout' ? { escalated, code: null, signal: null } : { escalated, code: info.code, signal: info.signal };
  }

  /**
   * Starts the target again on the same socket path and waits until it is ready.
   * A running process is stopped first. With `removeStaleSocket` a leftover socket
   * file is removed before the start (the runner does this after a disruptive case;
   * cases leave it so §2.3 stays under test).
   */
  async restart(opts: { removeStaleSocket?: boolean } = {}): Promise<void> {
    if (this.stopped) throw fpError('FP_TARGET_START_FAILED', `target "${this.spec.name}" has been stopped; it cannot be restarted`);
    await this.stopProcess();
    if (opts.removeStaleSocket === true) await rm(this.socketPath, { force: true });
    this.event('restarting target');
    await this.startProcess();
    this.event(`target restarted (pid ${String(this.pid)})`);
  }

  async ensureReady(opts: { probe?: boolean } = {}): Promise<void> {
    if (this.alive && (opts.probe !== true || (await probeSocket(this.socketPath)) === 'connected')) return;
    await this.restart({ removeStaleSocket: true });
  }

  async spawnSecondInstance(
    timeoutMs: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string } | 'timeout'> {
    const ring = new OutputRing(DEFAULT_RING_BYTES);
    const child = spawn(this.spec.command, this.args, { cwd: this.spec.cwd, env: this.env, stdio: ['ignore', 'ignore', 'pipe'], shell: false });
    liveChildren.add(child);
    child.stderr?.on('data', (chunk: Buffer) => ring.push(chunk));
    this.event(`spawned a second instance on the same socket (pid ${String(child.pid)})`);
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
      child.once('error', () => res({ code: null, signal: null }));
      child.once('close', (code, signal) => res({ code, signal }));
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => {
      timer = setTimeout(() => res('timeout'), timeoutMs);
    });
    const first = await Promise.race([done, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      this.event(`second instance still running after ${timeoutMs} ms: SIGKILL`);
      child.kill('SIGKILL');
      await Promise.race([done, sleep(5_000)]);
      liveChildren.delete(child);
      return 'timeout';
    }
    liveChildren.delete(child);
    this.event(`second instance exited (${first.signal !== null ? `signal ${first.signal}` : `code ${String(first.code)}`})`);
    return { ...first, stderr: ring.text() };
  }

  async rssBytes(): Promise<number | undefined> {
    return procRssBytes(this.alive ? this.pid : undefined);
  }

  async openFds(): Promise<number | undefined> {
    return procOpenFds(this.alive ? this.pid : undefined);
  }

  async stop(): Promise<StopResult> {
    this.stopped = true;
    const result = await this.stopProcess();
    await rm(this.tempDir, { recursive: true, force: true });
    liveTempDirs.delete(this.tempDir);
    return result;
  }
}

/** A running server the suite only connects to (`unix:/path.sock` or a target file with `socket`). */
export class AttachedTarget implements RunningTarget {
  readonly spawned = false;
  /** An attached target has no temp dir of the suite's. */
  readonly dir = undefined;
  readonly description: string;
  constructor(
    readonly name: string,
    readonly socketPath: string,
    readonly pid: number | undefined,
  ) {
    this.description = `attached to ${socketPath}${pid === undefined ? '' : ` (pid ${pid})`}`;
  }

  get alive(): boolean {
    if (this.pid === undefined) return true;
    try {
      process.kill(this.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  private notSpawned(what: string): never {
    throw fpError('FP_TARGET_INVALID', `target "${this.name}" is attached, not spawned: the suite cannot ${what}`);
  }

  signal(sig: NodeJS.Signals): void {
    this.notSpawned(`send ${sig}`);
  }

  async waitExit(): Promise<never> {
    return this.notSpawned('wait for its exit');
  }

  async restart(): Promise<never> {
    return this.notSpawned('restart it');
  }

  async spawnSecondInstance(): Promise<never> {
    return this.notSpawned('spawn a second instance');
  }

  rssBytes(): Promise<number | undefined> {
    return procRssBytes(this.pid);
  }

  openFds(): Promise<number | undefined> {
    return procOpenFds(this.pid);
  }

  /**
   * With `probe`, checks that the socket accepts a connection.
   * @throws FastPathError FP_TARGET_UNREACHABLE with the errno.
   */
  async ensureReady(opts: { probe?: boolean } = {}): Promise<void> {
    if (opts.probe !== true) return;
    const probe = await probeSocket(this.socketPath);
    if (probe !== 'connected') {
      throw fpError('FP_TARGET_UNREACHABLE', `target "${this.name}": cannot connect to ${this.socketPath} (${probe}); is the server running?`);
    }
  }

  async stop(): Promise<StopResult> {
    return { escalated: false, code: null, signal: null };
  }

  stderrTail(): string {
    return '';
  }

  stdoutTail(): string {
    return '';
  }

  setEventSink(): void {
    // an attached target has no lifecycle events
  }
}

/** Resident set size of `pid` from /proc/<pid>/status (VmRSS), or undefined. */
export async function procRssBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of `pid` from /proc/<pid>/fd, or undefined. */
export async function procOpenFds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return undefined;
  }
}

/**
 * Starts (spawned) or reaches (attached) `target` in `mode`.
 * @throws FastPathError FP_TARGET_START_FAILED or FP_TARGET_UNREACHABLE.
 */
export async function startTarget(target: ResolvedTarget, mode: ModeInfo): Promise<RunningTarget> {
  if (target.spawn !== undefined) {
    const grace = Math.max(DEFAULT_STOP_GRACE_MS, (target.capabilities.shutdownDeadlineMs ?? 0) + 1_000);
    return SpawnedTarget.launch({
      name: target.name,
      command: target.spawn.command,
      args: target.spawn.args,
      cwd: target.spawn.cwd,
      env: target.spawn.env,
      readyTimeoutMs: target.spawn.readyTimeoutMs,
      framing: mode.framingName,
      auth: mode.auth,
      secret: mode.secret,
      stopGraceMs: grace,
    });
  }
  if (target.socketPath === undefined) throw fpError('FP_TARGET_INVALID', `target "${target.name}" has neither spawn nor socket`);
  const attached = new AttachedTarget(target.name, target.socketPath, target.pid);
  try {
    await attached.ensureReady({ probe: true });
  } catch (err) {
    throw fpError('FP_TARGET_UNREACHABLE', errorMessage(err));
  }
  return attached;
}
