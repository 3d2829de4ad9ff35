import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AUTH_MODES,
  DEFAULT_MAX_FRAME_BYTES,
  FRAMING_PRESETS,
  fpError,
  framingName,
  isFastPathError,
  parseAuthMode,
  parseFraming,
  type AuthMode,
} from '../protocol/index.js';
import type { Capabilities, ModeInfo } from './case.js';
import { specDialect, type Dialect } from './dialect.js';
import { loadTargetFile, type LoadedTargetFile } from './target-file.js';
import { packageRootAbove, shmSupport } from '../ring/native.js';

/**
 * Target resolution: `reference`, `unix:/path.sock` or a target file become one
 * {@link ResolvedTarget} (data only; nothing is started here, see launcher.ts).
 */

/** How to spawn a target; `args` and `env` values still hold the placeholders `{socket}` `{secret}` `{framing}` `{auth}` `{dir}`. */
export interface SpawnPlan {
  readonly command: string;
  readonly args: readonly string[];
  /** Absolute working directory, or undefined for the current one. */
  readonly cwd: string | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly readyTimeoutMs: number;
}

/** A target ready to be launched (spawn) or reached (attach) in each of its modes. */
export interface ResolvedTarget {
  readonly name: string;
  /** Where it came from: `built-in`, `unix:/path.sock`, or the target file's path. */
  readonly source: string;
  /** Set for spawned targets. */
  readonly spawn: SpawnPlan | undefined;
  /** Set for attached targets. */
  readonly socketPath: string | undefined;
  /** Known pid of an attached target (`--pid`). */
  readonly pid: number | undefined;
  readonly modes: readonly ModeInfo[];
  readonly capabilities: Capabilities;
  readonly dialect: Dialect;
}

/** Command-line narrowing and overrides. */
export interface TargetOptions {
  /** Only this framing (preset or `lp:` string). */
  readonly framing?: string | undefined;
  /** Only this auth mode. */
  readonly auth?: string | undefined;
  /** Secret to use instead of the declared or generated one. */
  readonly secret?: string | undefined;
  /** Pid of an attached target, for /proc measurements. */
  readonly pid?: number | undefined;
}

/** Time a spawned target has to accept its first connection, unless its file says otherwise. */
export const DEFAULT_READY_TIMEOUT_MS = 5_000;
const REFERENCE_READY_TIMEOUT_MS = 10_000;

/**
 * The reference offers fast sessions (docs/SPEC.md §10) where the shared-memory addon
 * is built: without it (no C compiler at install) the §10 cases are UNIMPLEMENTED for
 * the reference instead of FAILED, and `fastpath shm`/`FastClient` say why.
 */
const REFERENCE_HAS_SHM = shmSupport().available;

/** Capabilities of the built-in reference target, matching the flags it is started with. */
export const REFERENCE_CAPABILITIES: Capabilities = Object.freeze({
  status: true,
  delay: true,
  lifecycle: true,
  maxConnections: 10,
  maxFrameBytes: 1_048_576,
  prepareTtlMs: 1_000,
  risk: { maxLeverage: 20, maxNotional: 1_000_000, maxOpenOrders: 20 },
  rateLimit: { burst: 500, refillPerSec: 1_000 },
  idleTimeoutMs: 3_000,
  shutdownDeadlineMs: 2_000,
  timestampWindowMs: 30_000,
  fastSession: REFERENCE_HAS_SHM,
  ledger: true,
});

/** Which flags the built-in reference is started with: the conformance suite's small limits, or load-friendly ones. */
export type ReferenceProfile = 'conformance' | 'bench';

/**
 * The reference's message ledger (docs/SPEC.md §11) lives in the target's temp dir,
 * which survives restarts (so deduplication survives a kill -9) and is removed with it.
 */
const REFERENCE_LEDGER_FLAGS = ['--ledger', '{dir}/ledger.log'] as const;

/** Flags of the reference for conformance runs (small limits the cases provoke). */
export const REFERENCE_CONFORMANCE_FLAGS: readonly string[] = Object.freeze([
  '--ttl-ms', '1000', '--max-open-orders', '20', '--rate-burst', '500', '--rate-per-sec', '1000',
  '--idle-timeout-ms', '3000', '--shutdown-deadline-ms', '2000', ...REFERENCE_LEDGER_FLAGS,
]);

/**
 * Flags of the reference for `fastpath bench`: every benchmark signal is a PREPARE with
 * a fresh id, so the TTL is short (signals expire and are forgotten 10 TTLs later), open
 * orders are unbounded, there is no rate limit or idle timeout, 1000 connections are
 * allowed and frames up to 2 MiB fit the 1 MiB payload of the sweep.
 */
export const REFERENCE_BENCH_FLAGS: readonly string[] = Object.freeze([
  '--ttl-ms', '20', '--max-open-orders', '10000000', '--max-connections', '1000',
  '--idle-timeout-ms', '0', '--max-frame-bytes', '2097152', '--shutdown-deadline-ms', '2000', ...REFERENCE_LEDGER_FLAGS,
]);

/** Capabilities matching {@link REFERENCE_BENCH_FLAGS}. */
export const REFERENCE_BENCH_CAPABILITIES: Capabilities = Object.freeze({
  status: true,
  delay: true,
  lifecycle: true,
  maxConnections: 1_000,
  maxFrameBytes: 2_097_152,
  prepareTtlMs: 20,
  risk: { maxLeverage: 20, maxNotional: 1_000_000, maxOpenOrders: 10_000_000 },
  shutdownDeadlineMs: 2_000,
  timestampWindowMs: 30_000,
  fastSession: REFERENCE_HAS_SHM,
  ledger: true,
});

/** A fresh random secret: 32 bytes as 64 hex digits. */
export function randomSecret(): string {
  return randomBytes(32).toString('hex');
}

/** Report-friendly label of a mode: `${framingName}/${auth}`. */
export function modeLabel(framing: string, auth: AuthMode): string {
  return `${framing}/${auth}`;
}

/** Builds a {@link ModeInfo}; the framing's `maxFrameBytes` is the target's declared limit. */
export function makeMode(framing: string, auth: AuthMode, secret: string, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): ModeInfo {
  const spec = parseFraming(framing, maxFrameBytes);
  const name = framingName(spec);
  return { framing: spec, framingName: name, auth, secret, label: modeLabel(name, auth) };
}

/**
 * Finds the root of this package (the directory whose package.json is named
 * `fastpath-harness`) by walking up from `fromUrl`; works from dist/ and from sources.
 * @throws FastPathError FP_CONFIG_INVALID when there is none.
 */
export function findPackageRoot(fromUrl: string = import.meta.url): string {
  const root = packageRootAbove(fromUrl);
  if (root === undefined) throw fpError('FP_CONFIG_INVALID', `no package.json named fastpath-harness above ${fileURLToPath(fromUrl)}`);
  return root;
}

function usage(flag: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  throw fpError('FP_USAGE', `${flag}: ${message}`);
}

function checkedFraming(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  try {
    return framingName(parseFraming(name));
  } catch (err) {
    return usage('--framing', err);
  }
}

function checkedAuth(name: string | undefined): AuthMode | undefined {
  if (name === undefined) return undefined;
  try {
    return parseAuthMode(name);
  } catch (err) {
    return usage('--auth', err);
  }
}

/**
 * The built-in reference target: the reference server of this package, started as a
 * separate process (`dist/cli/main.js serve`), in every preset × auth mode unless narrowed.
 */
export function referenceTarget(opts: TargetOptions = {}, packageRoot: string = findPackageRoot(), profile: ReferenceProfile = 'conformance'): ResolvedTarget {
  if (opts.pid !== undefined) throw fpError('FP_USAGE', '--pid applies only to an attached target (--target unix:/path.sock)');
  const framing = checkedFraming(opts.framing);
  const auth = checkedAuth(opts.auth);
  const secret = opts.secret ?? randomSecret();
  const framings = framing === undefined ? [...FRAMING_PRESETS] : [framing];
  const auths = auth === undefined ? [...AUTH_MODES] : [auth];
  const maxFrameBytes = profile === 'bench' ? REFERENCE_BENCH_CAPABILITIES.maxFrameBytes : REFERENCE_CAPABILITIES.maxFrameBytes;
  const modes = framings.flatMap((f) => auths.map((a) => makeMode(f, a, secret, maxFrameBytes)));
  return {
    name: 'reference',
    source: 'built-in',
    spawn: {
      command: process.execPath,
      args: [
        join(packageRoot, 'dist', 'cli', 'main.js'),
        'serve',
        '--socket',
        '{socket}',
        '--framing',
        '{framing}',
        '--auth',
        '{auth}',
        '--secret',
        '{secret}',
        ...(profile === 'bench' ? REFERENCE_BENCH_FLAGS : REFERENCE_CONFORMANCE_FLAGS),
      ],
      cwd: packageRoot,
      env: {},
      readyTimeoutMs: REFERENCE_READY_TIMEOUT_MS,
    },
    socketPath: undefined,
    pid: undefined,
    modes,
    capabilities: profile === 'bench' ? REFERENCE_BENCH_CAPABILITIES : REFERENCE_CAPABILITIES,
    dialect: specDialect,
  };
}

/**
 * An attached target (`unix:/path.sock`): one mode from `--framing`/`--auth`
 * (default ndjson/none), no declared capabilities, no lifecycle control.
 */
export function attachTarget(socketPath: string, opts: TargetOptions = {}): ResolvedTarget {
  if (socketPath === '') throw fpError('FP_USAGE', '--target unix: needs a socket path, e.g. unix:/tmp/server.sock');
  const framing = checkedFraming(opts.framing) ?? 'ndjson';
  const auth = checkedAuth(opts.auth) ?? 'none';
  if (auth !== 'none' && opts.secret === undefined) {
    throw fpError('FP_USAGE', `--auth ${auth} needs --secret for an attached target (the secret the server was started with)`);
  }
  const path = resolve(socketPath);
  return {
    name: `unix:${path}`,
    source: `unix:${path}`,
    spawn: undefined,
    socketPath: path,
    pid: opts.pid,
    modes: [makeMode(framing, auth, opts.secret ?? '')],
    capabilities: { lifecycle: false },
    dialect: specDialect,
  };
}

/**
 * Turns a loaded target file into a {@link ResolvedTarget}, narrowed by `opts`.
 * @throws FastPathError FP_USAGE when narrowing leaves no mode; FP_TARGET_INVALID for a missing secret.
 */
export function targetFromFile(loaded: LoadedTargetFile, opts: TargetOptions = {}, label: string = loaded.file): ResolvedTarget {
  const desc = loaded.description;
  const framing = checkedFraming(opts.framing);
  const auth = checkedAuth(opts.auth);
  const declared = desc.modes ?? [{ framing: desc.framing ?? 'ndjson', auth: desc.auth ?? 'none' }];
  const normalized = declared.map((m) => ({ framing: framingName(parseFraming(m.framing)), auth: m.auth }));
  const chosen = normalized.filter((m) => (framing === undefined || m.framing === framing) && (auth === undefined || m.auth === auth));
  if (chosen.length === 0) {
    const wanted = [framing === undefined ? undefined : `--framing ${framing}`, auth === undefined ? undefined : `--auth ${auth}`]
      .filter((x) => x !== undefined)
      .join(' ');
    throw fpError(
      'FP_USAGE',
      `target "${desc.name}" (${label}) declares no mode matching ${wanted}; its modes: ${normalized.map((m) => modeLabel(m.framing, m.auth)).join(', ')}`,
    );
  }
  const spawned = desc.spawn !== undefined;
  if (spawned && opts.pid !== undefined) throw fpError('FP_USAGE', '--pid applies only to an attached target, this one is spawned');
  let secret = opts.secret ?? desc.secret;
  if (secret === undefined) {
    if (!spawned && chosen.some((m) => m.auth !== 'none')) {
      throw fpError('FP_TARGET_INVALID', `${label}: "secret" is required for an attached target in an HMAC mode (add "secret" or pass --secret)`);
    }
    secret = spawned ? randomSecret() : '';
  }
  const maxFrameBytes = desc.capabilities.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const modes = chosen.map((m) => makeMode(m.framing, m.auth, secret, maxFrameBytes));
  const spawn = desc.spawn;
  return {
    name: desc.name,
    source: label,
    spawn:
      spawn === undefined
        ? undefined
        : {
            command: spawn.command,
            args: spawn.args ?? [],
            cwd: spawn.cwd === undefined ? loaded.baseDir : resolve(loaded.baseDir, spawn.cwd),
            env: spawn.env ?? {},
            readyTimeoutMs: spawn.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
          },
    socketPath: desc.socket === undefined ? undefined : resolve(loaded.baseDir, desc.socket),
    pid: spawned ? undefined : opts.pid,
    modes,
    capabilities: resolveLedgerFile(desc.capabilities, loaded.baseDir),
    dialect: loaded.dialect,
  };
}

/**
 * A relative `ledger.file` (§11.4) resolves against the target file's directory, like
 * `socket`; a path starting with `{dir}` is left for the launcher's temp dir.
 */
function resolveLedgerFile(capabilities: Capabilities, baseDir: string): Capabilities {
  const ledger = capabilities.ledger;
  if (typeof ledger !== 'object' || ledger.file.startsWith('{dir}') || isAbsolute(ledger.file)) return capabilities;
  return { ...capabilities, ledger: { file: resolve(baseDir, ledger.file) } };
}

/**
 * Resolves `--target`: `reference` (default), `unix:/path.sock`, or a target file.
 * @throws FastPathError FP_USAGE / FP_TARGET_INVALID with a one-line message per problem.
 */
export async function resolveTarget(spec: string = 'reference', opts: TargetOptions = {}, profile: ReferenceProfile = 'conformance'): Promise<ResolvedTarget> {
  if (spec === 'reference') {
    const target = referenceTarget(opts, findPackageRoot(), profile);
    const entry = target.spawn?.args[0];
    if (entry !== undefined && !existsSync(entry)) {
      throw fpError('FP_TARGET_START_FAILED', `the reference server is not built: ${entry} is missing (run npm run build)`);
    }
    return target;
  }
  if (spec.startsWith('unix:')) return attachTarget(spec.slice('unix:'.length), opts);
  try {
    const loaded = await loadTargetFile(spec);
    return targetFromFile(loaded, opts, spec);
  } catch (err) {
    if (isFastPathError(err)) throw err;
    throw fpError('FP_TARGET_INVALID', `${spec}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The mode a load driver (`bench`, `soak`) measures: for the built-in reference, when
 * no `--framing`/`--auth` narrowed it, the seed's ndjson/hmac-json; otherwise the
 * target's first mode.
 * @throws FastPathError FP_USAGE when the target has no mode.
 */
export function chooseLoadMode(target: ResolvedTarget, narrowed: boolean, purpose: string): ModeInfo {
  if (target.source === 'built-in' && !narrowed) {
    const preferred = target.modes.find((m) => m.framingName === 'ndjson' && m.auth === 'hmac-json');
    if (preferred !== undefined) return preferred;
  }
  const first = target.modes[0];
  if (first === undefined) throw fpError('FP_USAGE', `target ${target.name} has no mode to ${purpose}`);
  return first;
}
