import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { fpError } from '../protocol/index.js';
import { pinnedCommand } from './pinning.js';
import { findPackageRoot } from './targets.js';

/**
 * The native floor tools of `fastpath bench` (harness/native/*.c), compiled at first
 * use with the system C compiler and cached by source hash: `echo-peer` (the native
 * echo floor, started like a target), `pingpong-client` (a C closed-loop client,
 * to measure the harness's own overhead) and `ring-pingpong` (two C processes over
 * the shared-memory rings of docs/SPEC.md §10.3, the floor of `--transport shm`).
 * Without a compiler the bench still runs and says why the native floor is missing
 * ({@link NativeToolUnavailable}).
 */

export type NativeToolName = 'echo-peer' | 'pingpong-client' | 'ring-pingpong';

export const NATIVE_TOOL_NAMES: readonly NativeToolName[] = ['echo-peer', 'pingpong-client', 'ring-pingpong'];

/** A compiled native tool. */
export interface NativeTool {
  readonly name: NativeToolName;
  /** Absolute path of the executable. */
  readonly path: string;
}

/** Why a native tool cannot be used here, e.g. `no C compiler (cc) on PATH`. */
export interface NativeToolUnavailable {
  readonly unavailable: string;
}

export interface NativeToolOptions {
  /** Where binaries are kept (default `<packageRoot>/node_modules/.cache/fastpath-native`). */
  readonly cacheDir?: string;
  /** C compiler command (default `cc`). */
  readonly compiler?: string;
}

/** Flags every tool is compiled with. */
export const NATIVE_CFLAGS: readonly string[] = ['-O2', '-Wall', '-pthread'];

const COMPILE_TIMEOUT_MS = 120_000;
const MAX_MESSAGE_CHARS = 2_000;

export function isNativeToolUnavailable(x: NativeTool | NativeToolUnavailable): x is NativeToolUnavailable {
  return 'unavailable' in x;
}

/** The C source of a tool: `<packageRoot>/harness/native/<name>.c`. */
export function nativeToolSource(name: NativeToolName, packageRoot: string = findPackageRoot()): string {
  return join(packageRoot, 'harness', 'native', `${name}.c`);
}

/** The default binary cache: `<packageRoot>/node_modules/.cache/fastpath-native`. */
export function defaultNativeCacheDir(packageRoot: string = findPackageRoot()): string {
  return join(packageRoot, 'node_modules', '.cache', 'fastpath-native');
}

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > MAX_MESSAGE_CHARS ? `…${trimmed.slice(trimmed.length - MAX_MESSAGE_CHARS)}` : trimmed;
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function execCompiler(compiler: string, args: readonly string[]): Promise<{ error: (Error & { code?: unknown; killed?: boolean }) | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(compiler, args, { timeout: COMPILE_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 4 * 1024 * 1024 }, (error, _stdout, stderr) =>
      resolve({ error, stderr }),
    );
  });
}

/** Compilations in flight in this process, by binary path. */
const inFlight = new Map<string, Promise<NativeTool | NativeToolUnavailable>>();

/**
 * Compiles `sourcePath` into `<cacheDir>/<name>-<12 hex of the source's sha256>`,
 * or reuses that binary when it exists. The compiler writes a temp name that is
 * renamed into place, so concurrent callers (processes too) never see half a binary.
 * Never throws: a missing compiler, a missing source or a compile error is returned
 * as {@link NativeToolUnavailable} with the compiler's message.
 */
export async function compileNativeTool(
  name: NativeToolName,
  sourcePath: string,
  opts: { readonly cacheDir: string; readonly compiler?: string },
): Promise<NativeTool | NativeToolUnavailable> {
  let source: Buffer;
  try {
    source = await readFile(sourcePath);
  } catch (err) {
    return { unavailable: `cannot read the C source of ${name} (${sourcePath}): ${errnoOf(err) ?? String(err)}` };
  }
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binary = join(opts.cacheDir, `${name}-${hash}`);
  const pending = inFlight.get(binary);
  if (pending !== undefined) return pending;
  const work = buildOnce(name, sourcePath, binary, opts.cacheDir, opts.compiler ?? 'cc');
  inFlight.set(binary, work);
  const result = await work;
  // Keep successes (same path forever); let a failure be retried.
  if (isNativeToolUnavailable(result)) inFlight.delete(binary);
  return result;
}

async function buildOnce(name: NativeToolName, sourcePath: string, binary: string, cacheDir: string, compiler: string): Promise<NativeTool | NativeToolUnavailable> {
  try {
    await access(binary, constants.X_OK);
    return { name, path: binary };
  } catch {
    // not built yet
  }
  try {
    await mkdir(cacheDir, { recursive: true });
  } catch (err) {
    return { unavailable: `cannot create the native tool cache ${cacheDir}: ${errnoOf(err) ?? String(err)}` };
  }
  const temp = `${binary}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const { error, stderr } = await execCompiler(compiler, [...NATIVE_CFLAGS, '-o', temp, sourcePath]);
  if (error !== null) {
    await rm(temp, { force: true });
    if (error.code === 'ENOENT') return { unavailable: `no C compiler (${compiler}) on PATH; install one (e.g. apt-get install gcc) to build ${name}` };
    const why = error.killed === true ? `timed out after ${COMPILE_TIMEOUT_MS} ms` : tail(stderr) || error.message;
    return { unavailable: `compiling ${name} (${compiler} ${[...NATIVE_CFLAGS, sourcePath].join(' ')}) failed: ${why}` };
  }
  try {
    await rename(temp, binary);
  } catch (err) {
    await rm(temp, { force: true });
    return { unavailable: `cannot install the compiled ${name} as ${binary}: ${errnoOf(err) ?? String(err)}` };
  }
  return { name, path: binary };
}

function fallbackCacheDir(): string {
  let user: string;
  try {
    user = String(userInfo().uid);
  } catch {
    user = 'user';
  }
  return join(tmpdir(), `fastpath-native-${user}`);
}

/**
 * The compiled tool `name`, built at first use (see {@link compileNativeTool}).
 * Without `cacheDir`, a package directory that cannot be written (read-only install)
 * falls back to `<tmpdir>/fastpath-native-<uid>`.
 * Never throws: returns {@link NativeToolUnavailable} saying why the tool is missing.
 */
export async function ensureNativeTool(name: NativeToolName, opts: NativeToolOptions = {}): Promise<NativeTool | NativeToolUnavailable> {
  let packageRoot: string;
  try {
    packageRoot = findPackageRoot();
  } catch (err) {
    return { unavailable: err instanceof Error ? err.message : String(err) };
  }
  const source = nativeToolSource(name, packageRoot);
  const compiler = opts.compiler ?? 'cc';
  if (opts.cacheDir !== undefined) return compileNativeTool(name, source, { cacheDir: opts.cacheDir, compiler });
  const first = await compileNativeTool(name, source, { cacheDir: defaultNativeCacheDir(packageRoot), compiler });
  if (!isNativeToolUnavailable(first) || !first.unavailable.startsWith('cannot create the native tool cache')) return first;
  return compileNativeTool(name, source, { cacheDir: fallbackCacheDir(), compiler });
}

/** How to start the native echo peer: `args` hold the launcher's `{socket}` placeholder. */
export function nativeEchoPeerCommand(tool: NativeTool): { command: string; args: string[] } {
  return { command: tool.path, args: ['{socket}'] };
}

/** Round-trip latencies measured by the native ping-pong client, in nanoseconds. */
export interface PingpongResult {
  /** Measured round trips (warm-up excluded). */
  readonly count: number;
  readonly p50Ns: number;
  readonly p90Ns: number;
  readonly p99Ns: number;
  readonly p999Ns: number;
  readonly p9999Ns: number;
  readonly maxNs: number;
  readonly minNs: number;
  readonly meanNs: number;
  /** Wall time of the measured round trips. */
  readonly durationNs: number;
}

const nanos = z.number().nonnegative();
const PingpongResultSchema = z.object({
  count: z.number().int().positive(),
  p50Ns: nanos,
  p90Ns: nanos,
  p99Ns: nanos,
  p999Ns: nanos,
  p9999Ns: nanos,
  maxNs: nanos,
  minNs: nanos,
  meanNs: nanos,
  durationNs: nanos,
});

/** Default limit for one ping-pong run. */
export const DEFAULT_PINGPONG_TIMEOUT_MS = 60_000;

/**
 * Runs the native ping-pong client against `socketPath`: `warmup` + `count` round
 * trips of `frame` (one request frame; an echo peer returns it as the reply), one in
 * flight, optionally pinned with `taskset -c CPU`.
 * @throws FastPathError FP_USAGE for bad arguments; FP_TIMEOUT when it runs longer than
 * `timeoutMs`; FP_CONNECT_FAILED when the client fails (its stderr quoted) or prints no valid result.
 */
export async function runPingpongClient(
  tool: NativeTool,
  socketPath: string,
  frame: Buffer,
  count: number,
  warmup: number,
  opts: { cpu?: number; timeoutMs?: number } = {},
): Promise<PingpongResult> {
  if (tool.name !== 'pingpong-client') throw fpError('FP_USAGE', `runPingpongClient needs the pingpong-client tool, got ${tool.name}`);
  if (!Number.isInteger(count) || count < 1) throw fpError('FP_USAGE', `ping-pong count must be an integer >= 1, got ${count}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw fpError('FP_USAGE', `ping-pong warm-up must be an integer >= 0, got ${warmup}`);
  if (frame.length === 0) throw fpError('FP_USAGE', 'ping-pong frame is empty');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PINGPONG_TIMEOUT_MS;
  const dir = await mkdtemp(join(tmpdir(), 'fastpath-pingpong-'));
  try {
    const frameFile = join(dir, 'frame.bin');
    await writeFile(frameFile, frame);
    const { command, args } = pinnedCommand(tool.path, [socketPath, frameFile, String(count), String(warmup)], opts.cpu);
    const run = await runCollect(command, args, timeoutMs);
    const commandLine = [command, ...args].join(' ');
    if (run.timedOut) {
      throw fpError('FP_TIMEOUT', `native ping-pong client did not finish ${warmup} + ${count} round trips within ${timeoutMs} ms on ${socketPath}`, {
        stderr: tail(run.stderr),
      });
    }
    if (run.spawnError !== undefined) {
      throw fpError('FP_CONNECT_FAILED', `native ping-pong client could not be started (${commandLine}): ${run.spawnError.message}`);
    }
    if (run.code !== 0) {
      const how = run.signal !== null ? `was killed by ${run.signal}` : `exited with code ${String(run.code)}`;
      throw fpError('FP_CONNECT_FAILED', `native ping-pong client ${how}: ${tail(run.stderr) || '(no stderr)'}`, {
        stderr: run.stderr,
        command: commandLine,
      });
    }
    const line = run.stdout.trim().split('\n').pop() ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw fpError('FP_CONNECT_FAILED', `native ping-pong client printed no JSON result: ${tail(run.stdout) || '(no output)'}`);
    }
    const result = PingpongResultSchema.safeParse(parsed);
    if (!result.success) {
      throw fpError('FP_CONNECT_FAILED', `native ping-pong client printed an invalid result ${line}: ${result.error.message}`);
    }
    return result.data;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface CollectedRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly spawnError: Error | undefined;
}

function runCollect(command: string, args: readonly string[], timeoutMs: number): Promise<CollectedRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    let spawnError: Error | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        spawnError,
      });
    };
    child.once('error', (e) => {
      spawnError = e;
      // Not started at all (e.g. taskset missing): no 'close' is guaranteed to follow.
      if (child.pid === undefined) finish(null, null);
    });
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** What the native ring floor measured (harness/native/ring-pingpong.c), in nanoseconds. */
export interface RingFloorResult {
  readonly capacityBytes: number;
  readonly recordLimitBytes: number;
  /** Round trips of one small record between the two processes, both spinning. */
  readonly pingpong: {
    readonly count: number;
    readonly sizeBytes: number;
    readonly p50Ns: number;
    readonly p90Ns: number;
    readonly p99Ns: number;
    readonly p999Ns: number;
    readonly maxNs: number;
    readonly minNs: number;
    readonly meanNs: number;
    readonly durationNs: number;
  };
  /** One message of `sizeBytes` to the other process and an empty answer back, per repetition. */
  readonly transfers: readonly {
    readonly sizeBytes: number;
    readonly reps: number;
    readonly p50Ns: number;
    readonly p99Ns: number;
    readonly minNs: number;
    readonly maxNs: number;
    readonly meanNs: number;
  }[];
}

const RingFloorResultSchema = z.object({
  capacityBytes: z.number().int().positive(),
  recordLimitBytes: z.number().int().positive(),
  pingpong: z.object({
    count: z.number().int().positive(),
    sizeBytes: z.number().int().positive(),
    p50Ns: nanos,
    p90Ns: nanos,
    p99Ns: nanos,
    p999Ns: nanos,
    maxNs: nanos,
    minNs: nanos,
    meanNs: nanos,
    durationNs: nanos,
  }),
  transfers: z.array(
    z.object({ sizeBytes: z.number().int().positive(), reps: z.number().int().positive(), p50Ns: nanos, p99Ns: nanos, minNs: nanos, maxNs: nanos, meanNs: nanos }),
  ),
});

/** Options of {@link runRingPingpong}. */
export interface RingPingpongOptions {
  /** Measured round trips (default 100,000) after `warmup` (default a tenth). */
  readonly count?: number;
  readonly warmup?: number;
  /** Size of the ping-pong record payload (default 64). */
  readonly sizeBytes?: number;
  /** Message sizes of the transfers (default 1 MiB). */
  readonly transferSizesBytes?: readonly number[];
  /** Transfers per size (default 50). */
  readonly reps?: number;
  /** Data capacity of each ring (default 4 MiB, as ring/session). */
  readonly capacityBytes?: number;
  /** Pin the parent and the child to these CPUs (sched_setaffinity). */
  readonly cpus?: readonly [number, number] | undefined;
  readonly timeoutMs?: number;
}

/**
 * Runs the native ring floor: two C processes, one ring each way in /dev/shm,
 * spinning (see harness/native/ring-pingpong.c).
 * @throws FastPathError FP_USAGE for bad arguments; FP_TIMEOUT past `timeoutMs`;
 * FP_SHM_SYSTEM when the tool fails (its stderr quoted) or prints no valid result.
 */
export async function runRingPingpong(tool: NativeTool, opts: RingPingpongOptions = {}): Promise<RingFloorResult> {
  if (tool.name !== 'ring-pingpong') throw fpError('FP_USAGE', `runRingPingpong needs the ring-pingpong tool, got ${tool.name}`);
  const count = opts.count ?? 100_000;
  const numbers: [string, number | undefined][] = [
    ['count', count],
    ['warmup', opts.warmup],
    ['sizeBytes', opts.sizeBytes],
    ['reps', opts.reps],
    ['capacityBytes', opts.capacityBytes],
    ...(opts.transferSizesBytes ?? []).map((n): [string, number] => ['transferSizesBytes', n]),
    ...(opts.cpus ?? []).map((n): [string, number] => ['cpus', n + 1]),
  ];
  for (const [name, n] of numbers) {
    if (n !== undefined && (!Number.isSafeInteger(n) || n < (name === 'warmup' ? 0 : 1))) throw fpError('FP_USAGE', `runRingPingpong: ${name} must be a positive integer, got ${String(n)}`);
  }
  const args = ['--count', String(count), '--warmup', String(opts.warmup ?? Math.max(100, Math.round(count / 10)))];
  if (opts.sizeBytes !== undefined) args.push('--size', String(opts.sizeBytes));
  args.push('--transfer', (opts.transferSizesBytes ?? [1_048_576]).map(String).join(',') || '-');
  if (opts.reps !== undefined) args.push('--reps', String(opts.reps));
  if (opts.capacityBytes !== undefined) args.push('--capacity', String(opts.capacityBytes));
  if (opts.cpus !== undefined) args.push('--cpus', `${opts.cpus[0]},${opts.cpus[1]}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PINGPONG_TIMEOUT_MS;
  const run = await runCollect(tool.path, args, timeoutMs);
  const commandLine = [tool.path, ...args].join(' ');
  if (run.timedOut) throw fpError('FP_TIMEOUT', `native ring floor did not finish within ${timeoutMs} ms (${commandLine})`, { stderr: tail(run.stderr) });
  if (run.spawnError !== undefined) throw fpError('FP_SHM_SYSTEM', `native ring floor could not be started (${commandLine}): ${run.spawnError.message}`);
  if (run.code !== 0) {
    const how = run.signal !== null ? `was killed by ${run.signal}` : `exited with code ${String(run.code)}`;
    throw fpError('FP_SHM_SYSTEM', `native ring floor ${how}: ${tail(run.stderr) || '(no stderr)'}`, { command: commandLine });
  }
  const line = run.stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw fpError('FP_SHM_SYSTEM', `native ring floor printed no JSON result: ${tail(run.stdout) || '(no output)'}`);
  }
  const result = RingFloorResultSchema.safeParse(parsed);
  if (!result.success) throw fpError('FP_SHM_SYSTEM', `native ring floor printed an invalid result ${line}: ${result.error.message}`);
  return result.data;
}
