import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, fpError, type ErrorCode } from '../protocol/index.js';
import { loadShmAddon, SHM_DIR, shmSupport, type NativeMapping, type NativeWatcherHandle, type ShmAddon, type ShmSupport } from './native.js';

/**
 * POSIX shared-memory segments for the ring transport: create, open, list and unlink
 * `/dev/shm/<name>`, map them into ArrayBuffers, and wait on 32-bit words of them across
 * processes (process-shared futex, CPU-pause spin, doorbell watcher threads). Linux only;
 * the native half is native/fastpath_shm.c (`npm run build:native`).
 *
 * Every error is a `FastPathError` with a stable FP_SHM_* code: FP_SHM_UNAVAILABLE when
 * the addon is not built or there is no /dev/shm ({@link shmSupport} says why),
 * FP_SHM_NAME_INVALID, FP_SHM_EXISTS, FP_SHM_NOT_FOUND, FP_SHM_ACCESS,
 * FP_SHM_OUT_OF_BOUNDS (an offset outside the buffer), FP_SHM_ARGUMENT (anything else
 * malformed: sizes, misaligned offsets, detached or foreign buffers, timeouts) and
 * FP_SHM_SYSTEM (a system call failed; the message names it and its errno).
 */

export { shmSupport, type ShmSupport };

/** Segment names: a letter or digit, then up to 199 of `[A-Za-z0-9._-]` (no slash, no leading dot). */
export const SEGMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The prefix {@link listSegments} uses by default. */
export const DEFAULT_SEGMENT_PREFIX = 'fastpath-';

/** The largest segment: 2^31-1 bytes. */
export const MAX_SEGMENT_BYTES = 2 ** 31 - 1;

/** The mode {@link createSegment} gives a segment unless told otherwise: owner read-write only. */
export const DEFAULT_SEGMENT_MODE = 0o600;

/** A mapped shared-memory segment (`/dev/shm/<name>`). */
export interface SharedSegment {
  readonly name: string;
  /**
   * The mapping: MAP_SHARED, the whole file. An external ArrayBuffer; it becomes
   * detached (byteLength 0) after {@link SharedSegment.close}, so views over it become
   * empty instead of dangling.
   */
  readonly buffer: ArrayBuffer;
  /** The file's size at open/create time, which is the mapping's length. */
  readonly sizeBytes: number;
  /** `st_mode & 0o7777` of the file at open/create time. */
  readonly mode: number;
  /** `st_uid` of the file at open/create time. */
  readonly ownerUid: number;
  /** Whether this process created the segment ({@link createSegment}) rather than opened it. */
  readonly created: boolean;
  /** Whether {@link SharedSegment.close} was called. */
  readonly closed: boolean;
  /**
   * Unmaps now: closes the segment's {@link DoorbellWatcher}s, detaches the buffer
   * (napi_detach_arraybuffer), then munmaps. Idempotent. Does not unlink the file: call
   * {@link unlinkSegment} for that.
   */
  close(): void;
}

/** Options of {@link createSegment}. */
export interface CreateSegmentOptions {
  /** Permission bits, 0..0o777, set with fchmod so the umask neither widens nor narrows them (default 0o600). */
  readonly mode?: number;
}

/** One entry of {@link listSegments}. */
export interface SegmentInfo {
  readonly name: string;
  readonly sizeBytes: number;
  /** `st_mode & 0o7777`. */
  readonly mode: number;
  readonly ownerUid: number;
  readonly mtimeMs: number;
}

/** The outcome of {@link futexWait}. */
export type FutexWaitResult = 'woken' | 'not-equal' | 'timed-out';

const FUTEX_RESULTS: readonly FutexWaitResult[] = ['woken', 'not-equal', 'timed-out'];

/** {@link futexWake}'s default count: every waiter. */
const WAKE_ALL = 2 ** 31 - 1;

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Re-throws an addon error as the FastPathError with the same code and message; anything else unchanged. */
function rethrow(err: unknown): never {
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error && isErrorCode(code) && code.startsWith('FP_SHM_')) throw fpError(code, err.message);
  throw err;
}

function nameError(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'segment name must be a string';
  if (SEGMENT_NAME_PATTERN.test(name)) return undefined;
  const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}...` : name);
  if (name.length === 0) return 'segment name is empty; use 1 to 200 characters [A-Za-z0-9._-], starting with a letter or digit';
  if (name.length > 200) return `segment name ${shown} is ${name.length} characters long; the limit is 200`;
  return `segment name ${shown} is invalid: names are [A-Za-z0-9][A-Za-z0-9._-]{0,199} (no slash, no leading dot)`;
}

function checkName(name: unknown): void {
  const problem = nameError(name);
  if (problem !== undefined) throw fpError('FP_SHM_NAME_INVALID', problem);
}

/** Whether `name` is a valid segment name ({@link SEGMENT_NAME_PATTERN}). */
export function isValidSegmentName(name: string): boolean {
  return SEGMENT_NAME_PATTERN.test(name);
}

/** Watchers per buffer, so that closing a segment closes its watchers first. */
const watchersByBuffer = new WeakMap<ArrayBuffer, Set<DoorbellWatcher>>();

class Segment implements SharedSegment {
  readonly name: string;
  readonly buffer: ArrayBuffer;
  readonly sizeBytes: number;
  readonly mode: number;
  readonly ownerUid: number;
  readonly created: boolean;
  #closed = false;

  constructor(name: string, mapping: NativeMapping, created: boolean) {
    this.name = name;
    this.buffer = mapping.buffer;
    this.sizeBytes = mapping.sizeBytes;
    this.mode = mapping.mode;
    this.ownerUid = mapping.ownerUid;
    this.created = created;
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    const watchers = watchersByBuffer.get(this.buffer);
    if (watchers !== undefined) for (const w of [...watchers]) w.close();
    try {
      loadShmAddon().unmap(this.buffer);
    } catch (err) {
      rethrow(err);
    }
    this.#closed = true;
  }
}

/**
 * Creates `/dev/shm/<name>` (O_CREAT | O_EXCL | O_RDWR), sets its mode with fchmod
 * (default 0o600, whatever the umask), sizes it, reserves its pages (so a full /dev/shm
 * fails here instead of with SIGBUS later) and maps it read-write. The memory reads as
 * zeros. On any failure after the file was created, it is unlinked again.
 *
 * @param name see {@link SEGMENT_NAME_PATTERN}; the file is `/dev/shm/<name>`.
 * @param sizeBytes an integer from 1 to 2^31-1.
 * @throws FastPathError FP_SHM_NAME_INVALID, FP_SHM_ARGUMENT (size or mode), FP_SHM_EXISTS,
 *   FP_SHM_ACCESS, FP_SHM_SYSTEM (e.g. ENOSPC), FP_SHM_UNAVAILABLE.
 */
export function createSegment(name: string, sizeBytes: number, options: CreateSegmentOptions = {}): SharedSegment {
  checkName(name);
  const addon = loadShmAddon();
  try {
    return new Segment(name, addon.create(name, sizeBytes, options.mode ?? DEFAULT_SEGMENT_MODE), true);
  } catch (err) {
    rethrow(err);
  }
}

/**
 * Opens the existing `/dev/shm/<name>` read-write and maps the whole file. It does not
 * judge the file's mode or owner: it reports them ({@link SharedSegment.mode},
 * {@link SharedSegment.ownerUid}) so the caller can refuse them with its own error.
 *
 * @throws FastPathError FP_SHM_NAME_INVALID, FP_SHM_NOT_FOUND, FP_SHM_ACCESS, FP_SHM_ARGUMENT
 *   (not a regular file, empty - e.g. its creator has not sized it yet - or larger than
 *   2^31-1 bytes), FP_SHM_SYSTEM, FP_SHM_UNAVAILABLE.
 */
export function openSegment(name: string): SharedSegment {
  checkName(name);
  const addon = loadShmAddon();
  try {
    return new Segment(name, addon.open(name), false);
  } catch (err) {
    rethrow(err);
  }
}

/**
 * Removes `/dev/shm/<name>`. Mappings of it stay valid until closed.
 * @returns true if it was removed, false if it did not exist.
 * @throws FastPathError FP_SHM_NAME_INVALID, FP_SHM_ACCESS, FP_SHM_SYSTEM, FP_SHM_UNAVAILABLE.
 */
export function unlinkSegment(name: string): boolean {
  checkName(name);
  const addon = loadShmAddon();
  try {
    return addon.unlink(name);
  } catch (err) {
    rethrow(err);
  }
}

/**
 * The segments in /dev/shm whose names start with `prefix` (default `fastpath-`; `''`
 * for all), sorted by name: regular files with valid segment names only. Works without
 * the native addon.
 * @throws FastPathError FP_SHM_UNAVAILABLE (not Linux, or /dev/shm cannot be read).
 */
export function listSegments(prefix: string = DEFAULT_SEGMENT_PREFIX): SegmentInfo[] {
  if (typeof prefix !== 'string') throw fpError('FP_SHM_ARGUMENT', 'listSegments prefix must be a string');
  if (process.platform !== 'linux') throw fpError('FP_SHM_UNAVAILABLE', `the shared-memory transport needs Linux; this is ${process.platform}`);
  let names: string[];
  try {
    names = readdirSync(SHM_DIR);
  } catch (err) {
    throw fpError('FP_SHM_UNAVAILABLE', `cannot read ${SHM_DIR}: ${err instanceof Error ? err.message : String(err)}`, undefined, err);
  }
  const found: SegmentInfo[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !SEGMENT_NAME_PATTERN.test(name)) continue;
    let st;
    try {
      st = lstatSync(join(SHM_DIR, name));
    } catch {
      continue; // unlinked since readdir
    }
    if (!st.isFile()) continue;
    found.push({ name, sizeBytes: st.size, mode: st.mode & 0o7777, ownerUid: st.uid, mtimeMs: st.mtimeMs });
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Blocks the calling thread in FUTEX_WAIT - process-shared (not FUTEX_PRIVATE), so it
 * pairs with {@link futexWake} from any process that maps the same file - on the aligned
 * 32-bit word at byteOffset while it equals `expected` (compared as uint32: Int32Array
 * values such as -1 work), for at most timeoutMs (fractional allowed, e.g. 0.05; 0
 * returns at once; Infinity has no limit). EINTR is retried with the remaining time.
 *
 * @returns 'not-equal' at once if the word differs, 'timed-out' when the time is up,
 *   'woken' after a FUTEX_WAKE (possibly spurious: re-check the word).
 * @throws FastPathError FP_SHM_OUT_OF_BOUNDS (byteOffset negative or byteOffset + 4 >
 *   byteLength), FP_SHM_ARGUMENT (not an ArrayBuffer, detached, misaligned or non-integer
 *   offset, expected outside -2^31..2^32-1, bad timeout), FP_SHM_SYSTEM, FP_SHM_UNAVAILABLE.
 */
export function futexWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult {
  const addon = loadShmAddon();
  let outcome: number;
  try {
    outcome = addon.futexWait(buffer, byteOffset, expected, timeoutMs);
  } catch (err) {
    rethrow(err);
  }
  return FUTEX_RESULTS[outcome] as FutexWaitResult;
}

/**
 * FUTEX_WAKE (process-shared) on the aligned 32-bit word at byteOffset: wakes up to
 * `count` waiters in any process (default: all).
 * @returns how many were woken.
 * @throws FastPathError as {@link futexWait}; FP_SHM_ARGUMENT for a count that is not an integer from 1 to 2^31-1.
 */
export function futexWake(buffer: ArrayBuffer, byteOffset: number, count: number = WAKE_ALL): number {
  const addon = loadShmAddon();
  try {
    return addon.futexWake(buffer, byteOffset, count === Infinity ? WAKE_ALL : count);
  } catch (err) {
    rethrow(err);
  }
}

/**
 * Busy-waits in C, with a CPU pause instruction between reads, while the aligned 32-bit
 * word at byteOffset equals `expected` (as uint32), for at most timeoutNs of
 * CLOCK_MONOTONIC. Burns a core: for waits of microseconds, before falling back to
 * {@link futexWait}.
 * @returns true if the value changed (including at once), false on timeout.
 * @throws FastPathError as {@link futexWait}; FP_SHM_ARGUMENT for a negative or non-finite timeoutNs.
 */
export function spinWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutNs: number): boolean {
  const addon = loadShmAddon();
  try {
    return addon.spinWait(buffer, byteOffset, expected, timeoutNs);
  } catch (err) {
    rethrow(err);
  }
}

/**
 * A doorbell watcher: one dedicated thread waits (FUTEX_WAIT, re-checking at least every
 * 50 ms) on the 32-bit word at byteOffset of a {@link SharedSegment}'s buffer and, whenever
 * the word differs from the last value it saw (first: the value at construction), calls
 * `onRing()` on this JS thread. Rings coalesce: while one call is pending, further rings
 * are folded into it (it runs after them, so it sees their effects), so onRing must read
 * the shared state rather than count calls.
 *
 * The watcher never keeps the event loop alive. {@link DoorbellWatcher.close} stops, wakes
 * and joins the thread (the FUTEX_WAKE it uses is a spurious wake-up for any other waiter
 * on the word, in any process); no onRing call runs after it returns. Closing the segment
 * closes its watchers first. An exception thrown by onRing is reported as an uncaught
 * exception.
 */
export class DoorbellWatcher {
  /** The watched buffer (a segment's). */
  readonly buffer: ArrayBuffer;
  /** The watched word's offset in {@link DoorbellWatcher.buffer}. */
  readonly byteOffset: number;
  #handle: NativeWatcherHandle | undefined;
  #addon: ShmAddon;

  /**
   * @param buffer a {@link SharedSegment.buffer} (other ArrayBuffers are refused: their memory could be freed under the thread).
   * @param byteOffset a multiple of 4 with byteOffset + 4 <= buffer.byteLength.
   * @throws FastPathError FP_SHM_ARGUMENT (not a live segment buffer, onRing not a function,
   *   misaligned offset), FP_SHM_OUT_OF_BOUNDS, FP_SHM_SYSTEM, FP_SHM_UNAVAILABLE.
   */
  constructor(buffer: ArrayBuffer, byteOffset: number, onRing: () => void) {
    if (typeof onRing !== 'function') throw fpError('FP_SHM_ARGUMENT', 'onRing must be a function');
    this.#addon = loadShmAddon();
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    try {
      this.#handle = this.#addon.watcherStart(buffer, byteOffset, () => {
        if (this.#handle !== undefined) onRing();
      });
    } catch (err) {
      rethrow(err);
    }
    let set = watchersByBuffer.get(buffer);
    if (set === undefined) watchersByBuffer.set(buffer, (set = new Set()));
    set.add(this);
  }

  /** Whether {@link DoorbellWatcher.close} was called (or the segment was closed). */
  get closed(): boolean {
    return this.#handle === undefined;
  }

  /** Stops and joins the watcher thread and releases it; idempotent. */
  close(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    watchersByBuffer.get(this.buffer)?.delete(this);
    try {
      this.#addon.watcherClose(handle);
    } catch (err) {
      rethrow(err);
    }
  }
}

/**
 * Whether process `pid` exists: `process.kill(pid, 0)` succeeds or fails with EPERM (it
 * exists but belongs to someone else); false on ESRCH.
 * @throws FastPathError FP_SHM_ARGUMENT unless pid is an integer from 1 to 2^31-1.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid < 1 || pid > 2 ** 31 - 1) {
    throw fpError('FP_SHM_ARGUMENT', `pid must be an integer from 1 to ${2 ** 31 - 1}, got ${String(pid)}`);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EPERM') return true;
    if (code === 'ESRCH') return false;
    throw err;
  }
}
