import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

/**
 * The numbered test stream of the ring's cross-process and crash tests (test support:
 * not exported from ring/index.ts; the child process ring/test-producer.mjs imports
 * the compiled dist/ring/test-records.js, the tests this source).
 *
 * Each record's payload is a 16-byte prefix - sequence number, payload length, an
 * offset into a seeded random pool, and a CRC-32 of those three words - followed by
 * the pool's bytes from that offset. Both processes regenerate the pool from the same
 * seed, so the reader checks every payload byte exactly (a memcmp), which costs it
 * less than the writer's copy: the writer, not the reader, is the bottleneck, and a
 * SIGKILL at a random moment usually lands in the middle of a write.
 */

/** Bytes of the prefix: seq, payloadBytes, poolOffset, check (u32 little-endian each). */
export const TEST_RECORD_PREFIX_BYTES = 16;

/** Record type of test-stream records. */
export const TEST_RECORD_TYPE = 7;

/** A seeded PRNG (mulberry32): floats in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max] from `rand`. */
export function randomInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** `bytes` pseudo-random bytes (xorshift32 from `seed`), identical in every process. */
export function testPool(seed: number, bytes: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, bytes);
}

/** One record of the stream, before it is written. */
export interface TestRecordPlan {
  readonly seq: number;
  /** Whole payload, prefix included (at least {@link TEST_RECORD_PREFIX_BYTES}). */
  readonly payloadBytes: number;
  readonly poolOffset: number;
}

/** Draws the size (in [minBytes, maxBytes]) and pool offset of record `seq`. */
export function planTestRecord(rand: () => number, seq: number, minBytes: number, maxBytes: number, poolBytes: number): TestRecordPlan {
  const payloadBytes = randomInt(rand, Math.max(minBytes, TEST_RECORD_PREFIX_BYTES), maxBytes);
  const dataBytes = payloadBytes - TEST_RECORD_PREFIX_BYTES;
  if (dataBytes > poolBytes) throw new Error(`record of ${payloadBytes} bytes needs a pool of at least ${dataBytes} bytes, have ${poolBytes}`);
  return { seq, payloadBytes, poolOffset: randomInt(rand, 0, poolBytes - dataBytes) };
}

function prefixCheck(prefix: Uint8Array): number {
  return crc32(prefix.subarray(0, 12));
}

/** The 16-byte prefix of a record: seq, payloadBytes, poolOffset and their CRC-32. */
export function testRecordPrefix(plan: TestRecordPlan): Uint8Array {
  const prefix = new Uint8Array(TEST_RECORD_PREFIX_BYTES);
  const view = new DataView(prefix.buffer);
  view.setUint32(0, plan.seq, true);
  view.setUint32(4, plan.payloadBytes, true);
  view.setUint32(8, plan.poolOffset, true);
  view.setUint32(12, prefixCheck(prefix), true);
  return prefix;
}

/**
 * The record's payload as parts for `RingProducer.tryWrite` (which gathers them): the
 * prefix, then views of the pool of at most `chunkBytes` each (default: one view).
 */
export function testRecordParts(plan: TestRecordPlan, pool: Uint8Array, chunkBytes: number = Infinity): Uint8Array[] {
  const parts = [testRecordPrefix(plan)];
  const end = plan.poolOffset + plan.payloadBytes - TEST_RECORD_PREFIX_BYTES;
  for (let at = plan.poolOffset; at < end; at += chunkBytes) parts.push(pool.subarray(at, Math.min(end, at + chunkBytes)));
  return parts;
}

/**
 * Checks one payload read from the ring: prefix checksum, sequence number, length, and
 * every data byte against the pool. Returns what is wrong, or undefined when intact.
 */
export function testRecordProblem(payload: Uint8Array, expectedSeq: number, pool: Uint8Array): string | undefined {
  if (payload.byteLength < TEST_RECORD_PREFIX_BYTES) return `payload of ${payload.byteLength} bytes is shorter than the ${TEST_RECORD_PREFIX_BYTES}-byte prefix`;
  const view = new DataView(payload.buffer, payload.byteOffset, TEST_RECORD_PREFIX_BYTES);
  const seq = view.getUint32(0, true);
  const length = view.getUint32(4, true);
  const poolOffset = view.getUint32(8, true);
  const check = view.getUint32(12, true);
  const want = prefixCheck(payload);
  if (check !== want) return `prefix checksum 0x${check.toString(16)} != 0x${want.toString(16)} (seq field ${seq})`;
  if (seq !== expectedSeq) return `sequence number ${seq} where ${expectedSeq} was expected`;
  if (length !== payload.byteLength) return `record ${seq} says ${length} bytes, the ring delivered ${payload.byteLength}`;
  const dataBytes = length - TEST_RECORD_PREFIX_BYTES;
  if (poolOffset + dataBytes > pool.byteLength) return `record ${seq} pool offset ${poolOffset} + ${dataBytes} runs past the pool`;
  const data = Buffer.from(payload.buffer, payload.byteOffset + TEST_RECORD_PREFIX_BYTES, dataBytes);
  if (!data.equals(Buffer.from(pool.buffer, pool.byteOffset + poolOffset, dataBytes))) {
    const expected = pool.subarray(poolOffset, poolOffset + dataBytes);
    let at = 0;
    while (at < dataBytes && data[at] === expected[at]) at++;
    return `record ${seq} (${length} bytes) differs from what was written at data byte ${at}`;
  }
  return undefined;
}

/** How a child of {@link startRingChild} ended. */
export interface RingChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running ring/test-producer.mjs. */
export interface RingChild {
  readonly pid: number;
  /** The first JSON line the child prints (e.g. `{"attached":pid}`); rejects if it exits first. */
  readonly firstLine: Promise<Record<string, unknown>>;
  /** Resolves once the process has exited and been reaped (its pid is gone). */
  readonly exited: Promise<RingChildExit>;
  /** Sends a signal unless the child already exited. */
  signal(sig: NodeJS.Signals): void;
}

/**
 * Starts `node ring/test-producer.mjs ...args` (from the sources: the script sits next
 * to this file). The caller registers the teardown (`child.signal('SIGKILL')`) next.
 */
export function startRingChild(args: readonly string[]): RingChild {
  const script = fileURLToPath(new URL('./test-producer.mjs', import.meta.url));
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exitedYet = false;
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<RingChildExit>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      exitedYet = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout.on('data', (d: string) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(stdout.slice(0, nl)) as Record<string, unknown>);
    });
    void exited.then((r) => reject(new Error(`ring child exited (code ${String(r.code)}, signal ${String(r.signal)}) before printing a line: ${r.stderr}`)));
  });
  firstLine.catch(() => undefined);
  if (proc.pid === undefined) throw new Error('could not start ring/test-producer.mjs');
  return {
    pid: proc.pid,
    firstLine,
    exited,
    signal(sig) {
      if (!exitedYet) proc.kill(sig);
    },
  };
}

/** Builds dist/ once if the compiled test support the child processes import is missing (npm test builds it first). */
export function ensureDistBuilt(): void {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const compiled = join(root, 'dist', 'ring', 'test-records.js');
  if (existsSync(compiled) && existsSync(join(root, 'dist', 'ring', 'index.js'))) return;
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(compiled)) throw new Error('dist/ring/test-records.js is missing: run npx tsc -p tsconfig.json');
}

/** Resolves on the next turn of the event loop. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
