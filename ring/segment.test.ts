import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { loadShmAddon, probeShmSupport } from './native.js';
import {
  createSegment,
  DoorbellWatcher,
  futexWait,
  futexWake,
  isProcessAlive,
  listSegments,
  openSegment,
  shmSupport,
  spinWait,
  unlinkSegment,
  type SharedSegment,
} from './segment.js';

/**
 * Real /dev/shm, real futexes, real child processes (ring/segment-child.test-helper.mjs,
 * which uses the compiled dist/ring/segment.js): no mocks.
 */

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const childScript = join(root, 'ring', 'segment-child.test-helper.mjs');
const distEntry = join(root, 'dist', 'ring', 'segment.js');

beforeAll(() => {
  if (existsSync(distEntry)) return;
  // tsc emits even when files others are editing have type errors; only the output matters here.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(distEntry)) throw new Error(`${distEntry} is missing and tsc did not build it; run npm run build`);
}, 120_000);

let counter = 0;
function uniqueName(): string {
  return `fastpath-test-${process.pid}-${++counter}`;
}

/** Creates a fresh segment and registers its teardown (close, unlink). */
function newSegment(sizeBytes = 4096, mode?: number): SharedSegment {
  const seg = createSegment(uniqueName(), sizeBytes, mode === undefined ? {} : { mode });
  onTestFinished(() => void (seg.close(), unlinkSegment(seg.name)));
  return seg;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Starts the helper; the caller registers `onTestFinished(() => child.kill())` next. */
function startChild(args: string[]): { kill: () => void; done: Promise<ChildResult> } {
  const started = performance.now();
  const proc = spawn(process.execPath, [childScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<ChildResult>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - started }));
  });
  return { kill: () => void proc.kill('SIGKILL'), done };
}

/** The child's JSON line; fails with its stderr when it did not exit 0. */
function childOutput(r: ChildResult): Record<string, unknown> {
  if (r.code !== 0) throw new Error(`child exited with ${r.code ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FastPathError);
    return (err as FastPathError).code;
  }
  throw new Error('expected a throw');
}

function errorOf(fn: () => unknown): FastPathError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FastPathError);
    return err as FastPathError;
  }
  throw new Error('expected a throw');
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const support = shmSupport();

it('shared memory is available on this machine (shmSupport)', () => {
  expect(support).toEqual({ available: true });
});

describe('shmSupport reasons', () => {
  it('names the missing addon and the command that builds it', () => {
    const { support: s } = probeShmSupport({ addonPath: '/nonexistent/build/Release/fastpath_shm.node' });
    expect(s.available).toBe(false);
    expect(!s.available && s.reason).toMatch(/fastpath_shm\.node not found.*npm run build:native.*python3, make and a C compiler/);
  });

  it('names a missing shared-memory directory', () => {
    const { support: s } = probeShmSupport({ shmDir: '/nonexistent-shm-dir' });
    expect(!s.available && s.reason).toMatch(/no \/nonexistent-shm-dir: mount a tmpfs/);
  });

  it('says Linux is required elsewhere', () => {
    const { support: s } = probeShmSupport({ platform: 'darwin' });
    expect(!s.available && s.reason).toMatch(/needs Linux.*darwin/);
  });
});

describe.runIf(support.available)('shared-memory segments', () => {
  describe('create, open, list, unlink', () => {
    it('creates mode 0600 even with a permissive umask, and the file in /dev/shm has that mode', () => {
      const old = process.umask(0);
      onTestFinished(() => void process.umask(old));
      const seg = newSegment(8192);
      expect(seg.mode).toBe(0o600);
      expect(seg.created).toBe(true);
      expect(seg.sizeBytes).toBe(8192);
      expect(seg.buffer.byteLength).toBe(8192);
      expect(seg.ownerUid).toBe(process.getuid?.());
      const st = statSync(`/dev/shm/${seg.name}`);
      expect(st.mode & 0o7777).toBe(0o600);
      expect(st.size).toBe(8192);
    });

    it('gives exactly the requested mode: a restrictive umask does not narrow it', () => {
      const old = process.umask(0o077);
      onTestFinished(() => void process.umask(old));
      const seg = newSegment(4096, 0o640);
      expect(seg.mode).toBe(0o640);
      expect(statSync(`/dev/shm/${seg.name}`).mode & 0o7777).toBe(0o640);
    });

    it('starts zeroed', () => {
      const seg = newSegment(65536);
      expect(new Uint8Array(seg.buffer).every((b) => b === 0)).toBe(true);
    });

    it('refuses to create a name that exists (FP_SHM_EXISTS)', () => {
      const seg = newSegment();
      const err = errorOf(() => createSegment(seg.name, 4096));
      expect(err.code).toBe('FP_SHM_EXISTS');
      expect(err.message).toContain(`/dev/shm/${seg.name}`);
    });

    it('reports a missing name on open (FP_SHM_NOT_FOUND)', () => {
      expect(codeOf(() => openSegment(uniqueName()))).toBe('FP_SHM_NOT_FOUND');
    });

    it.each([
      ['a slash', 'fastpath/x'],
      ['a leading slash', '/fastpath-x'],
      ['empty', ''],
      ['..', '..'],
      ['a leading dot', '.fastpath'],
      ['a space', 'fastpath x'],
      ['201 characters', `f${'x'.repeat(200)}`],
    ])('refuses a name with %s (FP_SHM_NAME_INVALID) in create, open and unlink', (_what, name) => {
      expect(codeOf(() => createSegment(name, 4096))).toBe('FP_SHM_NAME_INVALID');
      expect(codeOf(() => openSegment(name))).toBe('FP_SHM_NAME_INVALID');
      expect(codeOf(() => unlinkSegment(name))).toBe('FP_SHM_NAME_INVALID');
    });

    it('validates names in C too, with the same code', () => {
      const addon = loadShmAddon();
      for (const name of ['a/b', '', '..', 'x'.repeat(201), 'bad\0name']) {
        let code: unknown;
        try {
          addon.create(name, 4096, 0o600);
        } catch (err) {
          code = (err as { code?: unknown }).code;
        }
        expect(code, JSON.stringify(name)).toBe('FP_SHM_NAME_INVALID');
      }
      expect(() => addon.open(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'FP_SHM_NAME_INVALID' }));
    });

    it.each([
      ['0', 0],
      ['negative', -4096],
      ['not an integer', 4096.5],
      ['2^31', 2 ** 31],
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['a string', '4096' as unknown as number],
    ])('refuses size %s (FP_SHM_ARGUMENT) and leaves no file behind', (_what, size) => {
      const name = uniqueName();
      onTestFinished(() => void unlinkSegment(name));
      const err = errorOf(() => createSegment(name, size));
      expect(err.code).toBe('FP_SHM_ARGUMENT');
      expect(err.message).toMatch(/sizeBytes/);
      expect(existsSync(`/dev/shm/${name}`)).toBe(false);
    });

    it('refuses a mode outside 0..0o777 (FP_SHM_ARGUMENT)', () => {
      const name = uniqueName();
      onTestFinished(() => void unlinkSegment(name));
      expect(codeOf(() => createSegment(name, 4096, { mode: 0o4755 }))).toBe('FP_SHM_ARGUMENT');
      expect(existsSync(`/dev/shm/${name}`)).toBe(false);
    });

    it('open reports size, mode, owner and created: false', () => {
      const seg = newSegment(12288, 0o644);
      const other = openSegment(seg.name);
      onTestFinished(() => other.close());
      expect(other).toMatchObject({ name: seg.name, sizeBytes: 12288, mode: 0o644, ownerUid: seg.ownerUid, created: false });
      expect(other.buffer.byteLength).toBe(12288);
    });

    it('open refuses an empty file and a directory with a clear message (FP_SHM_ARGUMENT)', () => {
      const empty = uniqueName();
      writeFileSync(`/dev/shm/${empty}`, '', { mode: 0o600 });
      onTestFinished(() => unlinkSync(`/dev/shm/${empty}`));
      const err = errorOf(() => openSegment(empty));
      expect(err.code).toBe('FP_SHM_ARGUMENT');
      expect(err.message).toMatch(/empty \(0 bytes\)/);

      const dir = uniqueName();
      mkdirSync(`/dev/shm/${dir}`);
      onTestFinished(() => rmdirSync(`/dev/shm/${dir}`));
      expect(errorOf(() => openSegment(dir)).message).toMatch(/directory/);
    });

    it('writes through one mapping are visible through a second open of the same name', () => {
      const seg = newSegment();
      const other = openSegment(seg.name);
      onTestFinished(() => other.close());
      new Uint32Array(seg.buffer)[10] = 0xdeadbeef;
      expect(new Uint32Array(other.buffer)[10]).toBe(0xdeadbeef);
      new Uint8Array(other.buffer)[4095] = 0x5a;
      expect(new Uint8Array(seg.buffer)[4095]).toBe(0x5a);
    });

    it('writes by a child process are visible to the parent', async () => {
      const seg = newSegment(10_000);
      const child = startChild(['write-pattern', seg.name]);
      onTestFinished(child.kill);
      expect(childOutput(await child.done)).toEqual({ sizeBytes: 10_000 });
      const bytes = new Uint8Array(seg.buffer);
      const bad = bytes.findIndex((b, i) => b !== ((i * 7 + 3) & 255));
      expect(bad).toBe(-1);
    });

    it('a mapping stays usable after its name is unlinked', () => {
      const seg = newSegment();
      expect(unlinkSegment(seg.name)).toBe(true);
      new Uint32Array(seg.buffer)[0] = 7;
      expect(futexWait(seg.buffer, 0, 7, 0)).toBe('timed-out');
      expect(codeOf(() => openSegment(seg.name))).toBe('FP_SHM_NOT_FOUND');
    });

    it('unlinkSegment returns true, then false', () => {
      const seg = newSegment();
      expect(unlinkSegment(seg.name)).toBe(true);
      expect(existsSync(`/dev/shm/${seg.name}`)).toBe(false);
      expect(unlinkSegment(seg.name)).toBe(false);
    });

    it('listSegments lists a created segment with its size, mode and owner, filtered by prefix', () => {
      const seg = newSegment(8192, 0o640);
      const entry = listSegments().find((s) => s.name === seg.name);
      expect(entry).toMatchObject({ name: seg.name, sizeBytes: 8192, mode: 0o640, ownerUid: seg.ownerUid });
      expect(entry?.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
      expect(listSegments(seg.name).map((s) => s.name)).toEqual([seg.name]);
      expect(listSegments('fastpath-no-such-prefix-')).toEqual([]);
    });
  });

  describe('close', () => {
    it('detaches the buffer (byteLength 0, views empty), is idempotent, and later waits throw instead of crashing', () => {
      const seg = newSegment();
      const view = new Uint32Array(seg.buffer);
      view[0] = 1;
      seg.close();
      expect(seg.closed).toBe(true);
      expect(seg.buffer.byteLength).toBe(0);
      expect(view.length).toBe(0);
      expect(view[0]).toBeUndefined();
      expect(() => seg.close()).not.toThrow();
      const err = errorOf(() => futexWait(seg.buffer, 0, 1, 10));
      expect(err.code).toBe('FP_SHM_ARGUMENT');
      expect(err.message).toMatch(/detached/);
      expect(codeOf(() => futexWake(seg.buffer, 0))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => spinWait(seg.buffer, 0, 1, 1000))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => new DoorbellWatcher(seg.buffer, 0, () => {}))).toBe('FP_SHM_ARGUMENT');
    });
  });

  describe('argument checks', () => {
    it('refuses offsets past the end or negative (FP_SHM_OUT_OF_BOUNDS), naming the value and the limit', () => {
      const seg = newSegment(4096);
      const err = errorOf(() => futexWait(seg.buffer, 4096, 0, 0));
      expect(err.code).toBe('FP_SHM_OUT_OF_BOUNDS');
      expect(err.message).toMatch(/byteOffset 4096 .*byteLength 4096/);
      expect(codeOf(() => futexWake(seg.buffer, -4))).toBe('FP_SHM_OUT_OF_BOUNDS');
      expect(codeOf(() => spinWait(seg.buffer, 1 << 20, 0, 0))).toBe('FP_SHM_OUT_OF_BOUNDS');
      expect(codeOf(() => new DoorbellWatcher(seg.buffer, 4096, () => {}))).toBe('FP_SHM_OUT_OF_BOUNDS');
      expect(futexWait(seg.buffer, 4092, 0, 0)).toBe('timed-out');
    });

    it('refuses misaligned and non-integer offsets (FP_SHM_ARGUMENT)', () => {
      const seg = newSegment(4096);
      const err = errorOf(() => futexWait(seg.buffer, 2, 0, 0));
      expect(err.code).toBe('FP_SHM_ARGUMENT');
      expect(err.message).toMatch(/byteOffset 2 is not 4-byte aligned/);
      expect(codeOf(() => futexWake(seg.buffer, 4090))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => spinWait(seg.buffer, 4.5, 0, 0))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWait(seg.buffer, NaN, 0, 0))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWait(seg.buffer, '0' as unknown as number, 0, 0))).toBe('FP_SHM_ARGUMENT');
    });

    it('refuses typed arrays, SharedArrayBuffers, other objects and detached ArrayBuffers (FP_SHM_ARGUMENT)', () => {
      const seg = newSegment(4096);
      const typed = errorOf(() => futexWait(new Uint32Array(seg.buffer) as unknown as ArrayBuffer, 0, 0, 0));
      expect(typed.code).toBe('FP_SHM_ARGUMENT');
      expect(typed.message).toMatch(/view\.buffer/);
      for (const bad of [new SharedArrayBuffer(64), {}, null, undefined, 'buffer']) {
        expect(codeOf(() => futexWait(bad as unknown as ArrayBuffer, 0, 0, 0))).toBe('FP_SHM_ARGUMENT');
        expect(codeOf(() => futexWake(bad as unknown as ArrayBuffer, 0))).toBe('FP_SHM_ARGUMENT');
      }
      const plain = new ArrayBuffer(64);
      structuredClone(plain, { transfer: [plain] });
      expect(plain.byteLength).toBe(0);
      expect(codeOf(() => spinWait(plain, 0, 0, 0))).toBe('FP_SHM_ARGUMENT');
    });

    it('refuses bad expected values, timeouts and counts (FP_SHM_ARGUMENT)', () => {
      const seg = newSegment(4096);
      expect(codeOf(() => futexWait(seg.buffer, 0, 2 ** 32, 0))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWait(seg.buffer, 0, 0.5, 0))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWait(seg.buffer, 0, 0, -1))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWait(seg.buffer, 0, 0, NaN))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWake(seg.buffer, 0, 0))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => futexWake(seg.buffer, 0, 1.5))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => spinWait(seg.buffer, 0, 0, Infinity))).toBe('FP_SHM_ARGUMENT');
      expect(codeOf(() => spinWait(seg.buffer, 0, 0, -1))).toBe('FP_SHM_ARGUMENT');
    });

    it('accepts a plain ArrayBuffer for futex and spin calls, but a DoorbellWatcher needs a segment buffer', () => {
      const plain = new ArrayBuffer(16);
      expect(futexWait(plain, 8, 1, 0)).toBe('not-equal');
      expect(futexWake(plain, 8)).toBe(0);
      expect(spinWait(plain, 8, 0, 0)).toBe(false);
      const err = errorOf(() => new DoorbellWatcher(plain, 0, () => {}));
      expect(err.code).toBe('FP_SHM_ARGUMENT');
      expect(err.message).toMatch(/SharedSegment/);
    });

    it('isProcessAlive: true for this process, false for a reaped child, refuses non-positive or non-integer pids', async () => {
      expect(isProcessAlive(process.pid)).toBe(true);
      const child = spawn(process.execPath, ['-e', '']);
      onTestFinished(() => void child.kill('SIGKILL'));
      await new Promise((res) => child.on('close', res));
      expect(isProcessAlive(child.pid ?? 0)).toBe(false);
      for (const bad of [0, -1, 1.5, NaN, 2 ** 31]) expect(codeOf(() => isProcessAlive(bad))).toBe('FP_SHM_ARGUMENT');
    });
  });

  describe('futexWait and futexWake', () => {
    it("returns 'not-equal' at once when the word differs", () => {
      const seg = newSegment();
      new Uint32Array(seg.buffer)[1] = 5;
      const started = performance.now();
      expect(futexWait(seg.buffer, 4, 4, 10_000)).toBe('not-equal');
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it("compares as uint32: -1 and 0xffffffff both match a word of all ones", () => {
      const seg = newSegment();
      new Uint32Array(seg.buffer)[0] = 0xffffffff;
      expect(futexWait(seg.buffer, 0, -1, 0)).toBe('timed-out');
      expect(futexWait(seg.buffer, 0, 0xffffffff, 0)).toBe('timed-out');
      expect(futexWait(seg.buffer, 0, 0x7fffffff, 0)).toBe('not-equal');
    });

    it("returns 'timed-out' after about the timeout, including fractional milliseconds", () => {
      const seg = newSegment();
      let started = performance.now();
      expect(futexWait(seg.buffer, 0, 0, 30)).toBe('timed-out');
      expect(performance.now() - started).toBeGreaterThanOrEqual(29);
      started = performance.now();
      expect(futexWait(seg.buffer, 0, 0, 0.05)).toBe('timed-out');
      expect(performance.now() - started).toBeGreaterThanOrEqual(0.04);
      expect(futexWait(seg.buffer, 0, 0, 0)).toBe('timed-out');
    });

    it("returns 'woken' when a child process stores a new value and calls futexWake (process-shared futex)", async () => {
      const seg = newSegment();
      const words = new Int32Array(seg.buffer);
      const child = startChild(['wake-when-waiting', seg.name, String(process.pid), '0', '64', '7']);
      onTestFinished(child.kill);
      Atomics.store(words, 0, 1); // go: the child now watches for this thread to be in FUTEX_WAIT
      const outcome = futexWait(seg.buffer, 64, 0, 10_000);
      const out = childOutput(await child.done);
      expect(outcome).toBe('woken');
      expect(words[16]).toBe(7);
      expect(out.woken).toBe(1);
    });

    it('futexWake returns 0 when nobody waits', () => {
      const seg = newSegment();
      expect(futexWake(seg.buffer, 0)).toBe(0);
      expect(futexWake(seg.buffer, 0, 1)).toBe(0);
    });
  });

  describe('spinWait', () => {
    it('sees a change made by a child process', async () => {
      const seg = newSegment();
      const words = new Int32Array(seg.buffer);
      const child = startChild(['store-after', seg.name, '0', '128', '9', '20']);
      onTestFinished(child.kill);
      Atomics.store(words, 0, 1);
      expect(spinWait(seg.buffer, 128, 0, 10e9)).toBe(true);
      expect(words[32]).toBe(9);
      childOutput(await child.done);
    });

    it('returns true at once when the word already differs, false after about the timeout', () => {
      const seg = newSegment();
      new Uint32Array(seg.buffer)[0] = 3;
      expect(spinWait(seg.buffer, 0, 2, 10e9)).toBe(true);
      const started = performance.now();
      expect(spinWait(seg.buffer, 0, 3, 2e6)).toBe(false);
      expect(performance.now() - started).toBeGreaterThanOrEqual(1.9);
      expect(spinWait(seg.buffer, 0, 3, 0)).toBe(false);
    });
  });

  describe('DoorbellWatcher', () => {
    it('calls onRing after a child process bumps the word and wakes', async () => {
      const seg = newSegment();
      const words = new Int32Array(seg.buffer);
      let seen = -1;
      const rang = new Promise<void>((resolve) => {
        const watcher = new DoorbellWatcher(seg.buffer, 64, () => {
          seen = Atomics.load(words, 16);
          resolve();
        });
        onTestFinished(() => watcher.close());
      });
      const child = startChild(['bump', seg.name, '0', '64', '1', '128']);
      onTestFinished(child.kill);
      Atomics.store(words, 0, 1);
      await within(rang, 5_000, 'onRing');
      expect(seen).toBe(1);
      childOutput(await child.done);
    });

    it('coalesces the rings that arrive while the JS thread is busy into one or two onRing calls', async () => {
      const seg = newSegment();
      const words = new Int32Array(seg.buffer);
      const seen: number[] = [];
      const watcher = new DoorbellWatcher(seg.buffer, 64, () => seen.push(Atomics.load(words, 16)));
      onTestFinished(() => watcher.close());
      const child = startChild(['bump', seg.name, '0', '64', '1000', '128']);
      onTestFinished(child.kill);
      Atomics.store(words, 0, 1);
      // Keep the JS thread busy until the child has rung 1000 times: no onRing can run meanwhile.
      expect(futexWait(seg.buffer, 128, 0, 10_000)).not.toBe('timed-out');
      expect(Atomics.load(words, 32)).toBe(1);
      childOutput(await child.done);
      await sleep(150);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen.length).toBeLessThanOrEqual(2);
      expect(seen.at(-1)).toBe(1000);
    });

    it('close() is prompt and idempotent, and no onRing runs after it', async () => {
      const seg = newSegment();
      const words = new Int32Array(seg.buffer);
      let rings = 0;
      const watcher = new DoorbellWatcher(seg.buffer, 0, () => rings++);
      onTestFinished(() => watcher.close());
      Atomics.add(words, 0, 1);
      futexWake(seg.buffer, 0);
      const started = performance.now();
      watcher.close(); // the ring above may be queued: it must not run now
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(watcher.closed).toBe(true);
      watcher.close();
      Atomics.add(words, 0, 1);
      futexWake(seg.buffer, 0);
      await sleep(100);
      expect(rings).toBe(0);
    });

    it('closing the segment first closes its watchers, without crashing', async () => {
      const seg = newSegment();
      let rings = 0;
      const watcher = new DoorbellWatcher(seg.buffer, 8, () => rings++);
      onTestFinished(() => watcher.close());
      seg.close();
      expect(watcher.closed).toBe(true);
      expect(seg.buffer.byteLength).toBe(0);
      await sleep(100);
      expect(rings).toBe(0);
    });

    it('a process with a closed watcher exits by itself, close() taking well under a second', async () => {
      const name = uniqueName();
      onTestFinished(() => void unlinkSegment(name));
      const child = startChild(['watcher-lifecycle', name, 'close']);
      onTestFinished(child.kill);
      const result = await within(child.done, 5_000, 'the child to exit by itself');
      const out = childOutput(result);
      expect(out.rings).toBe(1);
      expect(out.watcherClosed).toBe(true);
      expect(out.closeMs).toBeLessThan(1_000);
    });

    it('a running watcher does not keep the process alive', async () => {
      const name = uniqueName();
      onTestFinished(() => void unlinkSegment(name));
      const child = startChild(['watcher-lifecycle', name, 'leave-open']);
      onTestFinished(child.kill);
      const out = childOutput(await within(child.done, 5_000, 'the child to exit with a watcher still running'));
      expect(out).toMatchObject({ rings: 1, watcherClosed: false });
    });
  });
});
