// The other process of ring/segment.test.ts: a plain Node process that uses the compiled
// segment API (dist/ring/segment.js, so run tsc first) on a segment the test created.
// Usage: node ring/segment-child.test-helper.mjs <command> <segment name> [args...]
// It prints one JSON line on success and exits by itself (never process.exit), so the
// "exits by itself" checks are real. Word offsets are byte offsets.
import { readFileSync } from 'node:fs';

const seg = await import(new URL('../dist/ring/segment.js', import.meta.url).href);
const [command, name, ...args] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const num = (i) => Number(args[i]);

/** Polls (event loop free) until the word at byteOffset is nonzero: the test's "go". */
async function waitForGo(words, byteOffset) {
  const deadline = Date.now() + 10_000;
  while (Atomics.load(words, byteOffset / 4) === 0) {
    if (Date.now() > deadline) throw new Error(`no go at byte ${byteOffset} within 10 s`);
    await sleep(1);
  }
}

const FUTEX_SYSCALL = { x64: 202, arm64: 98 }[process.arch];

/**
 * Waits until the main thread of process `pid` sleeps in futex(FUTEX_WAIT) without the
 * PRIVATE flag (op 0), from /proc/<pid>/syscall; falls back to /proc/<pid>/wchan, then to
 * a fixed pause, where those are not readable. Returns what it saw.
 */
async function waitUntilInSharedFutexWait(pid) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    let fields;
    try {
      fields = readFileSync(`/proc/${pid}/syscall`, 'utf8').trim().split(' ');
    } catch {
      fields = undefined;
    }
    if (fields !== undefined && FUTEX_SYSCALL !== undefined) {
      if (Number(fields[0]) === FUTEX_SYSCALL && Number(fields[2]) === 0) return 'syscall futex op 0 (FUTEX_WAIT, shared)';
    } else {
      let wchan = '';
      try {
        wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8');
      } catch {
        await sleep(300);
        return 'fixed pause';
      }
      if (wchan.includes('futex')) return `wchan ${wchan}`;
    }
    await sleep(2);
  }
  throw new Error(`process ${pid} did not enter a shared FUTEX_WAIT within 10 s`);
}

const commands = {
  /** write-pattern <name>: fills the segment with byte i = (i * 7 + 3) & 255. */
  async 'write-pattern'() {
    const s = seg.openSegment(name);
    const bytes = new Uint8Array(s.buffer);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 255;
    s.close();
    return { sizeBytes: s.sizeBytes };
  },

  /** wake-when-waiting <name> <pid> <goOffset> <wordOffset> <value>: once pid waits, store value and wake. */
  async 'wake-when-waiting'() {
    const s = seg.openSegment(name);
    const words = new Int32Array(s.buffer);
    await waitForGo(words, num(1));
    const saw = await waitUntilInSharedFutexWait(num(0));
    Atomics.store(words, num(2) / 4, num(3));
    const woken = seg.futexWake(s.buffer, num(2));
    s.close();
    return { woken, saw };
  },

  /** store-after <name> <goOffset> <wordOffset> <value> <delayMs>: after go and a pause, store value (no wake). */
  async 'store-after'() {
    const s = seg.openSegment(name);
    const words = new Int32Array(s.buffer);
    await waitForGo(words, num(0));
    await sleep(num(3));
    Atomics.store(words, num(1) / 4, num(2));
    s.close();
    return {};
  },

  /** bump <name> <goOffset> <wordOffset> <count> <doneOffset>: after go, count x (add 1, wake); then done = 1. */
  async bump() {
    const s = seg.openSegment(name);
    const words = new Int32Array(s.buffer);
    await waitForGo(words, num(0));
    for (let i = 0; i < num(2); i++) {
      Atomics.add(words, num(1) / 4, 1);
      seg.futexWake(s.buffer, num(1));
    }
    Atomics.store(words, num(3) / 4, 1);
    seg.futexWake(s.buffer, num(3));
    s.close();
    return { bumps: num(2) };
  },

  /**
   * watcher-lifecycle <name> <close|leave-open>: creates the segment and a watcher, rings
   * it itself, then closes the watcher (or leaves it and the mapping open); the process
   * must then exit on its own.
   */
  async 'watcher-lifecycle'() {
    const s = seg.createSegment(name, 4096);
    const words = new Int32Array(s.buffer);
    let rings = 0;
    const rang = new Promise((resolve) => {
      const watcher = new seg.DoorbellWatcher(s.buffer, 0, () => {
        rings++;
        resolve(watcher);
      });
    });
    Atomics.add(words, 0, 1);
    seg.futexWake(s.buffer, 0);
    const timer = setTimeout(() => {
      throw new Error('no ring within 5 s');
    }, 5_000);
    const watcher = await rang;
    clearTimeout(timer);
    let closeMs = null;
    if (args[0] === 'close') {
      const started = performance.now();
      watcher.close();
      closeMs = performance.now() - started;
    }
    return { rings, closeMs, watcherClosed: watcher.closed };
  },
};

const run = commands[command];
if (run === undefined) throw new Error(`unknown command ${command}`);
process.stdout.write(`${JSON.stringify(await run())}\n`);
