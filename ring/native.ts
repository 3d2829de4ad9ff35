import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fpError } from '../protocol/index.js';

/**
 * Loads the shared-memory addon (native/fastpath_shm.c, built by `npm run build:native`
 * into `<packageRoot>/build/Release/fastpath_shm.node`). Loading never throws at import
 * time: {@link shmSupport} says whether shared memory can be used here and, if not,
 * exactly why and how to fix it; {@link loadShmAddon} throws `FP_SHM_UNAVAILABLE` with
 * that reason. The typed public API is ring/segment.ts.
 */

/** The addon's ABI version this wrapper expects (`FASTPATH_SHM_ABI` in the C source). */
export const SHM_ADDON_ABI = 1;

/** Where the addon is built, relative to the package root. */
export const SHM_ADDON_RELATIVE_PATH = 'build/Release/fastpath_shm.node';

/** Where POSIX shared-memory segments live on Linux (`shm_open("/name")` is `/dev/shm/name`). */
export const SHM_DIR = '/dev/shm';

const BUILD_HINT = 'run `npm run build:native` (needs python3, make and a C compiler)';

/** What `create` and `open` of the addon return. */
export interface NativeMapping {
  readonly buffer: ArrayBuffer;
  readonly sizeBytes: number;
  readonly mode: number;
  readonly ownerUid: number;
}

/** An opaque doorbell-watcher handle (a Node-API external). */
export type NativeWatcherHandle = { readonly __brand: 'fastpath-doorbell-watcher' };

/**
 * The functions of the addon, exactly as exported by native/fastpath_shm.c (see the
 * comment above each C function for arguments and errors). Errors are plain `Error`s
 * with a `code` of FP_SHM_*; ring/segment.ts converts them to `FastPathError`.
 */
export interface ShmAddon {
  readonly abi: number;
  create(name: string, sizeBytes: number, mode: number): NativeMapping;
  open(name: string): NativeMapping;
  unlink(name: string): boolean;
  unmap(buffer: ArrayBuffer): boolean;
  /** 0 woken, 1 not-equal, 2 timed-out. */
  futexWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWake(buffer: ArrayBuffer, byteOffset: number, count: number): number;
  spinWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutNs: number): boolean;
  watcherStart(buffer: ArrayBuffer, byteOffset: number, onRing: () => void): NativeWatcherHandle;
  watcherClose(handle: NativeWatcherHandle): void;
}

/** Whether shared memory works here; when not, `reason` says what is wrong and how to fix it. */
export type ShmSupport = { readonly available: true } | { readonly available: false; readonly reason: string };

/** Inputs of {@link probeShmSupport}; the defaults describe this process. */
export interface ShmProbeOptions {
  readonly platform?: NodeJS.Platform;
  /** Absolute path of the addon (default: found from the package root). */
  readonly addonPath?: string;
  readonly shmDir?: string;
}

/**
 * The directory of the package.json named fastpath-harness above `fromUrl` (a source
 * or compiled module of this package), or undefined. Lives here, in the lowest layer
 * that touches the file system, so ring/ needs nothing from harness/.
 */
export function packageRootAbove(fromUrl: string = import.meta.url): string | undefined {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown };
        if (pkg.name === 'fastpath-harness') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The addon's path: `<packageRoot>/build/Release/fastpath_shm.node`, or undefined without a package root. */
export function defaultShmAddonPath(): string | undefined {
  const root = packageRootAbove();
  return root === undefined ? undefined : join(root, SHM_ADDON_RELATIVE_PATH);
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function probeShmDir(shmDir: string): string | undefined {
  let isDir: boolean;
  try {
    isDir = statSync(shmDir).isDirectory();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT') return `no ${shmDir}: mount a tmpfs there (mount -t tmpfs -o mode=1777 tmpfs ${shmDir})`;
    return `cannot stat ${shmDir}: ${errText(err)}`;
  }
  if (!isDir) return `${shmDir} is not a directory: it must be a tmpfs mount (mount -t tmpfs -o mode=1777 tmpfs ${shmDir})`;
  try {
    accessSync(shmDir, constants.W_OK | constants.X_OK);
  } catch {
    const uid = typeof process.getuid === 'function' ? process.getuid() : 'unknown';
    return `${shmDir} is not writable by this user (uid ${uid}): it should be mode 1777 (chmod 1777 ${shmDir})`;
  }
  return undefined;
}

function loadFrom(addonPath: string): { addon: ShmAddon } | { reason: string } {
  if (!existsSync(addonPath)) return { reason: `native addon ${SHM_ADDON_RELATIVE_PATH} not found (${addonPath}): ${BUILD_HINT}` };
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(addonPath);
  } catch (err) {
    return { reason: `native addon ${addonPath} failed to load (${errText(err)}): rebuild it with \`npm run build:native\`` };
  }
  const exported = loaded as Partial<ShmAddon> & { unsupported?: unknown };
  if (typeof exported.unsupported === 'string') return { reason: exported.unsupported };
  if (exported.abi !== SHM_ADDON_ABI) {
    return { reason: `native addon ${addonPath} is stale (ABI ${String(exported.abi)}, this code needs ${SHM_ADDON_ABI}): ${BUILD_HINT}` };
  }
  return { addon: loaded as ShmAddon };
}

/**
 * Checks, in order: the platform is Linux, the addon exists, loads and has the expected
 * ABI, and the shared-memory directory exists and is writable. Never throws. Exposed for
 * tests and diagnostics; {@link shmSupport} is the cached answer for this process.
 */
export function probeShmSupport(options: ShmProbeOptions = {}): { support: ShmSupport; addon?: ShmAddon } {
  const platform = options.platform ?? process.platform;
  if (platform !== 'linux') {
    return { support: { available: false, reason: `the shared-memory transport needs Linux (futex, /dev/shm); this is ${platform}` } };
  }
  const addonPath = options.addonPath ?? defaultShmAddonPath();
  if (addonPath === undefined) {
    return { support: { available: false, reason: `no package.json named fastpath-harness above ${fileURLToPath(import.meta.url)}, so the native addon cannot be found` } };
  }
  const loaded = loadFrom(addonPath);
  if ('reason' in loaded) return { support: { available: false, reason: loaded.reason } };
  const shmProblem = probeShmDir(options.shmDir ?? SHM_DIR);
  if (shmProblem !== undefined) return { support: { available: false, reason: shmProblem } };
  return { support: { available: true }, addon: loaded.addon };
}

let cached: { support: ShmSupport; addon?: ShmAddon } | undefined;

/**
 * Whether shared memory can be used in this process: `{ available: true }`, or
 * `{ available: false, reason }` where reason says what is missing and how to fix it,
 * e.g. "native addon build/Release/fastpath_shm.node not found (...): run `npm run
 * build:native` (needs python3, make and a C compiler)". Computed once per process.
 */
export function shmSupport(): ShmSupport {
  cached ??= probeShmSupport();
  return cached.support;
}

/** The loaded addon; throws `FP_SHM_UNAVAILABLE` with the {@link shmSupport} reason when it cannot be used. */
export function loadShmAddon(): ShmAddon {
  cached ??= probeShmSupport();
  if (cached.addon !== undefined) return cached.addon;
  const support = cached.support;
  throw fpError('FP_SHM_UNAVAILABLE', support.available ? 'shared memory is unavailable' : support.reason);
}
