import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { RECORD_HEADER_BYTES, RECORD_TYPE_PAD, RING_HEADER_BYTES, RingWord, initRingHeader, recordBytes, recordCheck, ringSegmentBytes } from './layout.js';
import { peerState } from './liveness.js';
import { RingConsumer, RingProducer } from './ring.js';
import { createSegment, futexWake, isProcessAlive, unlinkSegment, type SharedSegment } from './segment.js';
import { RingSession, newRingPairNames } from './session.js';
import { randomInt, seededRandom, startRingChild, testPool, testRecordProblem, TEST_RECORD_PREFIX_BYTES, ensureDistBuilt, yieldToLoop } from './test-records.js';
import { type WaitStrategy, waitForData } from './wait.js';

/**
 * Crash safety of the ring (docs/SPEC.md §10.3.3, §10.6.1): a producer killed with
 * SIGKILL at random points leaves nothing torn visible, a stopped producer is declared
 * dead after the staleness bound, and damaged records stop the consumer with
 * FP_RING_CORRUPT instead of being read on. Real processes, real /dev/shm, no mocks.
 *
 * The kill loop's random delays, sizes and strategies come from one seed, printed at
 * the start; `FASTPATH_CRASH_SEED=<seed>` replays it (timing aside), and
 * `FASTPATH_CRASH_ITERATIONS` changes the number of kills (default 50).
 */

beforeAll(ensureDistBuilt, 120_000);

const wake = (buffer: ArrayBuffer, byteOffset: number): void => void futexWake(buffer, byteOffset, 1);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof FastPathError ? err.code : `not a FastPathError: ${String(err)}`;
  }
  return 'no error';
}

function errorOf(fn: () => unknown): FastPathError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected a FastPathError, nothing was thrown');
}

/**
 * The server end of a session whose request ring a child process will produce into:
 * the test reads raw records from `session.consumer` and asks `session.checkPeer()`
 * about the child. Registers its teardown.
 */
function serverSession(capacityBytes: number, peerStaleMs?: number): { session: RingSession; requestRing: string } {
  const names = newRingPairNames();
  const size = ringSegmentBytes(capacityBytes);
  const request = createSegment(names.requestRing, size);
  const response = createSegment(names.responseRing, size);
  initRingHeader(request.buffer, capacityBytes, process.pid);
  initRingHeader(response.buffer, capacityBytes, process.pid);
  const session = RingSession.server(request, response, { wait: { strategy: 'futex' }, ...(peerStaleMs === undefined ? {} : { peerStaleMs }) });
  onTestFinished(() => {
    session.close();
    unlinkSegment(names.requestRing);
    unlinkSegment(names.responseRing);
  });
  return { session, requestRing: names.requestRing };
}

const CRASH_CAPACITY = 4 * 1024 * 1024;
const CRASH_MIN_BYTES = 64 * 1024;
const CRASH_MAX_BYTES = 1024 * 1024;
/** Longest time the child writes before it is killed, after its first record arrived. */
const CRASH_MAX_DELAY_MS = 120;

/** What the kill left beyond `writePos`: nothing, a record being copied, or one copied but not published. */
type Leftover = 'none' | 'torn' | 'unpublished';

/**
 * Looks at the bytes right after the published data, where the dead producer was
 * writing: a header whose check holds for that position means the kill landed after
 * the header was written and before `writePos` was stored (following a padding
 * record to the start of the region).
 */
function leftoverAfterWritePos(buffer: ArrayBuffer, capacityBytes: number, pool: Uint8Array, nextSeq: number): Leftover {
  const words = new Uint32Array(buffer, 0, RING_HEADER_BYTES / 4);
  let position = Atomics.load(words, RingWord.writePos);
  for (let hop = 0; hop < 2; hop++) {
    const offset = position & (capacityBytes - 1);
    const [payloadBytes, typeAndFlags, seq, check] = new Uint32Array(buffer, RING_HEADER_BYTES + offset, 4);
    if (check !== recordCheck(payloadBytes!, typeAndFlags!, seq!, position)) return 'none';
    if (typeAndFlags === RECORD_TYPE_PAD) {
      position = (position + recordBytes(payloadBytes!)) >>> 0;
      continue;
    }
    if (offset + recordBytes(payloadBytes!) > capacityBytes || seq !== nextSeq) return 'none';
    const payload = new Uint8Array(buffer, RING_HEADER_BYTES + offset + RECORD_HEADER_BYTES, payloadBytes!);
    return testRecordProblem(payload, nextSeq, pool) === undefined ? 'unpublished' : 'torn';
  }
  return 'none';
}

interface CrashRun {
  readonly records: number;
  readonly leftover: Leftover;
}

/** One child that floods the ring with large records and is SIGKILLed `delayMs` after its first record arrived. */
async function killProducerMidStream(strategy: WaitStrategy, childSeed: number, delayMs: number, label: string): Promise<CrashRun> {
  const { session, requestRing } = serverSession(CRASH_CAPACITY);
  const consumer = session.consumer;
  const buffer = consumer.buffer;
  const child = startRingChild(['flood', requestRing, String(CRASH_CAPACITY), String(childSeed), String(CRASH_MIN_BYTES), String(CRASH_MAX_BYTES), 'spin-then-futex']);
  onTestFinished(() => child.signal('SIGKILL'));
  const pool = testPool(childSeed, 2 * CRASH_MAX_BYTES);
  let records = 0;
  const readOne = (): boolean => {
    const record = consumer.tryRead(); // throws FP_RING_CORRUPT on anything torn: the test fails
    if (record === null) return false;
    const problem = testRecordProblem(record.payload, records, pool);
    if (problem !== undefined) expect.fail(`${label}: ${problem}`);
    expect(record.seq, label).toBe(records);
    consumer.release(record);
    records++;
    return true;
  };

  // Read while the child writes; kill it `delayMs` after its first record.
  let killAt: number | undefined;
  const waitingSince = performance.now();
  for (;;) {
    const now = performance.now();
    if (killAt !== undefined && now >= killAt) break;
    if (readOne()) {
      killAt ??= performance.now() + delayMs;
      continue;
    }
    const sliceMs = killAt === undefined ? 20 : Math.min(20, killAt - now);
    waitForData(consumer, { strategy }, sliceMs, () => session.checkPeer());
    if (killAt === undefined) await yieldToLoop(); // the child is still starting: let its events in
    if (killAt === undefined && performance.now() - waitingSince > 30_000) expect.fail(`${label}: no record from the child within 30 s`);
  }
  child.signal('SIGKILL');
  const exit = await child.exited; // reaped: its pid is gone now
  expect(exit.signal, `${label}: ${exit.stderr}`).toBe('SIGKILL');

  // Drain what it published: every record intact and in sequence, no FP_RING_CORRUPT.
  while (readOne());
  const leftover = leftoverAfterWritePos(buffer, CRASH_CAPACITY, pool, records);

  const state = peerState(buffer, 'producer');
  expect(state, label).toEqual({ state: 'dead', pid: child.pid, reason: `producer pid ${child.pid} no longer exists` });
  const started = performance.now();
  const err = errorOf(() => waitForData(consumer, { strategy }, 10_000, () => session.checkPeer()));
  expect(err.code, label).toBe('FP_RING_PEER_DEAD');
  expect(err.message, label).toContain(`pid ${child.pid}`);
  expect(performance.now() - started, `${label}: waitForData kept waiting for a dead producer`).toBeLessThan(2_000);
  return { records, leftover };
}

describe('a producer killed with SIGKILL', () => {
  it('leaves only intact, contiguous records, never FP_RING_CORRUPT, and is then reported dead (50 random kills)', async () => {
    const seed = Number(process.env.FASTPATH_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32));
    const iterations = Number(process.env.FASTPATH_CRASH_ITERATIONS ?? 50);
    console.log(`ring crash test: seed ${seed}, ${iterations} kills (replay with FASTPATH_CRASH_SEED=${seed})`);
    const rand = seededRandom(seed);
    const leftovers: Record<Leftover, number> = { none: 0, torn: 0, unpublished: 0 };
    let records = 0;
    const started = performance.now();
    // On a loaded machine the reader may become the bottleneck and the writer mostly wait
    // for space; then up to as many kills again are added until one lands inside a write.
    let i = 0;
    for (; i < iterations || (leftovers.torn + leftovers.unpublished === 0 && i < 2 * iterations); i++) {
      const strategy: WaitStrategy = i % 2 === 0 ? 'spin-then-futex' : 'futex';
      const childSeed = randomInt(rand, 1, 2 ** 32 - 1);
      const delayMs = rand() * CRASH_MAX_DELAY_MS;
      const label = `kill ${i + 1} (seed ${seed}, child seed ${childSeed}, delay ${delayMs.toFixed(1)} ms, ${strategy})`;
      const run = await killProducerMidStream(strategy, childSeed, delayMs, label);
      leftovers[run.leftover]++;
      records += run.records;
    }
    console.log(
      `ring crash test: ${i} kills in ${((performance.now() - started) / 1000).toFixed(1)} s, ${records} records checked; ` +
        `the kill found a record half copied ${leftovers.torn} times, copied but unpublished ${leftovers.unpublished} times, between records ${leftovers.none} times`,
    );
    // The child is the bottleneck (the reader compares bytes faster than it copies them), so
    // most kills land inside a write; one in the whole run is a generous floor.
    expect(leftovers.torn + leftovers.unpublished, 'no kill landed inside a write').toBeGreaterThan(0);
  }, 120_000);
});

describe('a stopped producer', () => {
  it('is reported dead once its heartbeat is older than the staleness bound, though its pid exists', async () => {
    const STALE_MS = 300;
    const { session, requestRing } = serverSession(64 * 1024, STALE_MS);
    const buffer = session.consumer.buffer;
    const child = startRingChild(['beat', requestRing, String(64 * 1024), '50']);
    onTestFinished(() => {
      child.signal('SIGCONT');
      child.signal('SIGKILL');
    });
    await child.firstLine;
    await sleep(2 * STALE_MS); // beating: alive well past the bound
    expect(peerState(buffer, 'producer', STALE_MS)).toEqual({ state: 'alive', pid: child.pid });
    expect(() => session.checkPeer()).not.toThrow();

    child.signal('SIGSTOP');
    const stoppedAt = performance.now();
    let state = peerState(buffer, 'producer', STALE_MS);
    while (state.state === 'alive' && performance.now() - stoppedAt < 10_000) {
      await sleep(10);
      state = peerState(buffer, 'producer', STALE_MS);
    }
    const deadAfterMs = performance.now() - stoppedAt;
    expect(state).toMatchObject({ state: 'dead', pid: child.pid, reason: expect.stringMatching(/has not refreshed its heartbeat for \d+ ms \(bound 300 ms\)/) });
    expect(isProcessAlive(child.pid)).toBe(true);
    const ageMs = Number(/for (\d+) ms/.exec(state.state === 'dead' ? state.reason : '')?.[1]);
    expect(ageMs).toBeGreaterThan(STALE_MS);
    expect(deadAfterMs).toBeLessThan(5_000);

    const started = performance.now();
    const err = errorOf(() => waitForData(session.consumer, { strategy: 'futex' }, 10_000, () => session.checkPeer()));
    expect(err.code).toBe('FP_RING_PEER_DEAD');
    expect(err.message).toMatch(/heartbeat/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

// ---------------------------------------------------------------------------------------
// Damage on purpose, in one process, on real segments.

const CAPACITY = 4096;

/** A producer and a consumer on a fresh segment; registers the teardown. */
function ringOnSegment(): { producer: RingProducer; consumer: RingConsumer; segment: SharedSegment; words: Uint32Array; data: Uint8Array } {
  const segment = createSegment(newRingPairNames().requestRing, ringSegmentBytes(CAPACITY));
  onTestFinished(() => {
    segment.close();
    unlinkSegment(segment.name);
  });
  initRingHeader(segment.buffer, CAPACITY, process.pid);
  return {
    segment,
    producer: new RingProducer(segment.buffer),
    consumer: new RingConsumer(segment.buffer),
    words: new Uint32Array(segment.buffer, 0, RING_HEADER_BYTES / 4),
    data: new Uint8Array(segment.buffer, RING_HEADER_BYTES, CAPACITY),
  };
}

const payload = (n: number, fill = 0xab): Uint8Array => new Uint8Array(n).fill(fill);

/** Overwrites a record header at `offset` of the data region, with a valid check for `position`. */
function writeHeader(data: Uint8Array, offset: number, position: number, payloadBytes: number, typeAndFlags: number, seq: number): void {
  const header = new Uint32Array(data.buffer, data.byteOffset + offset, 4);
  header[0] = payloadBytes;
  header[1] = typeAndFlags;
  header[2] = seq;
  header[3] = recordCheck(payloadBytes, typeAndFlags, seq, position);
}

describe('a damaged ring', () => {
  it('stops with FP_RING_CORRUPT when any byte of a published record header is flipped in place', () => {
    for (let byte = 0; byte < RECORD_HEADER_BYTES; byte++) {
      const { producer, consumer, data } = ringOnSegment();
      expect(producer.tryWrite(1, payload(100))).toBe(true);
      expect(producer.tryWrite(1, payload(100))).toBe(true);
      const first = consumer.tryRead()!;
      consumer.release(first);
      const second = recordBytes(100); // offset of the second record
      data[second + byte] ^= 0x5a;
      expect(codeOf(() => consumer.tryRead()), `header byte ${byte}`).toBe('FP_RING_CORRUPT');
      expect(errorOf(() => consumer.tryRead()).message, `header byte ${byte}`).toMatch(/fails its check \(torn or overwritten\)/);
    }
  });

  it('stops with FP_RING_CORRUPT on a record whose length runs past writePos, even with a valid check', () => {
    const { producer, consumer, data, words } = ringOnSegment();
    expect(producer.tryWrite(1, payload(100))).toBe(true);
    writeHeader(data, 0, 0, 1000, 1, 0);
    expect(Atomics.load(words, RingWord.writePos)).toBe(recordBytes(100));
    const err = errorOf(() => consumer.tryRead());
    expect(err.code).toBe('FP_RING_CORRUPT');
    expect(err.message).toMatch(/record of 1000 bytes at position 0 runs past the published data/);
  });

  it('stops with FP_RING_CORRUPT when a sequence number is skipped', () => {
    const { producer, consumer, data } = ringOnSegment();
    producer.tryWrite(1, payload(32));
    producer.tryWrite(1, payload(32));
    consumer.release(consumer.tryRead()!);
    writeHeader(data, recordBytes(32), recordBytes(32), 32, 1, 5);
    expect(errorOf(() => consumer.tryRead()).message).toMatch(/sequence number 5 where 1 was expected/);
  });

  it('stops with FP_RING_CORRUPT on a padding record that does not end at the end of the region', () => {
    const { producer, consumer, data, words } = ringOnSegment();
    producer.tryWrite(1, payload(32));
    consumer.release(consumer.tryRead()!);
    const at = recordBytes(32);
    writeHeader(data, at, at, 64, RECORD_TYPE_PAD, 0);
    Atomics.store(words, RingWord.writePos, at + recordBytes(64));
    expect(errorOf(() => consumer.tryRead()).message).toMatch(/padding at offset 48 does not fill the data region/);
  });

  it('does not show a record that is completely written but not yet published', () => {
    const { producer, consumer, data, words } = ringOnSegment();
    expect(producer.tryWrite(1, payload(40, 1))).toBe(true);
    consumer.release(consumer.tryRead()!);
    // What a producer killed before its release store of writePos leaves behind.
    const position = Atomics.load(words, RingWord.writePos);
    writeHeader(data, position, position, 40, 1, 1);
    data.set(payload(40, 2), position + RECORD_HEADER_BYTES);
    expect(consumer.availableBytes()).toBe(0);
    expect(consumer.tryRead()).toBeNull();
    expect(consumer.tryRead()).toBeNull();
    // Published, the same bytes read back as a valid record: it was hidden only for lack of publication.
    Atomics.store(words, RingWord.writePos, position + recordBytes(40));
    const record = consumer.tryRead()!;
    expect(record.seq).toBe(1);
    expect(Buffer.from(record.payload).equals(Buffer.from(payload(40, 2)))).toBe(true);
  });

  it('does not show a half-written record, and the next producer overwrites it cleanly', () => {
    const { producer, consumer, data, words, segment } = ringOnSegment();
    expect(producer.tryWrite(1, payload(40, 1))).toBe(true);
    consumer.release(consumer.tryRead()!);
    const position = Atomics.load(words, RingWord.writePos);
    writeHeader(data, position, position, 2000, 1, 1);
    data.set(payload(500, 9), position + RECORD_HEADER_BYTES); // 500 of 2000 bytes copied
    expect(consumer.tryRead()).toBeNull();
    // The same ring, written on by a producer that attaches later (same pid: it may re-attach).
    const again = new RingProducer(segment.buffer);
    expect(again.tryWrite(1, payload(TEST_RECORD_PREFIX_BYTES, 3))).toBe(true);
    const record = consumer.tryRead()!;
    expect(record.seq).toBe(1);
    expect(Buffer.from(record.payload).equals(Buffer.from(payload(TEST_RECORD_PREFIX_BYTES, 3)))).toBe(true);
    expect(consumer.tryRead()).toBeNull();
  });
});
