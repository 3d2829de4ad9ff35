import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { initRingHeader, ringSegmentBytes } from './layout.js';
import { peerState } from './liveness.js';
import { RingConsumer, RingProducer } from './ring.js';
import { createSegment, futexWake, unlinkSegment, type SharedSegment } from './segment.js';
import { newRingPairNames } from './session.js';
import { planTestRecord, seededRandom, startRingChild, testPool, testRecordParts, testRecordProblem, TEST_RECORD_TYPE, ensureDistBuilt, yieldToLoop } from './test-records.js';
import { type WaitStrategy, waitForData, waitForSpace } from './wait.js';

/**
 * The ring between two real processes (docs/SPEC.md §10.3): a child process
 * (ring/test-producer.mjs, compiled library) at one end, this test at the other,
 * through a real /dev/shm segment and process-shared futexes. Every record carries its
 * sequence number, length and a checksum, and its bytes are compared exactly.
 */

beforeAll(ensureDistBuilt, 120_000);

const wake = (buffer: ArrayBuffer, byteOffset: number): void => void futexWake(buffer, byteOffset, 1);

/** A fresh, initialised ring segment named like a session's (`fastpath-<pid>-<n>-req`). */
function newRingSegment(capacityBytes: number): SharedSegment {
  const segment = createSegment(newRingPairNames().requestRing, ringSegmentBytes(capacityBytes));
  initRingHeader(segment.buffer, capacityBytes, process.pid);
  return segment;
}

function dropSegment(segment: SharedSegment): void {
  segment.close();
  unlinkSegment(segment.name);
}

const CAPACITY = 64 * 1024;
const COUNT = 20_000;
const MIN_BYTES = 16;
/** Up to the largest record a 64 KiB ring takes (32 KiB with its 16-byte header). */
const MAX_BYTES = CAPACITY / 2 - 16;

describe('a ring between two processes', () => {
  for (const strategy of ['spin-then-futex', 'futex'] as const satisfies readonly WaitStrategy[]) {
    it(`delivers a child's numbered stream of random sizes across many wraps, in order and intact, then ended (${strategy})`, async () => {
      const segment = newRingSegment(CAPACITY);
      onTestFinished(() => dropSegment(segment));
      const consumer = new RingConsumer(segment.buffer, { wake });
      const seed = 0x5eed0000 + (strategy === 'futex' ? 1 : 2);
      const child = startRingChild(['stream', segment.name, String(CAPACITY), String(COUNT), String(seed), String(MIN_BYTES), String(MAX_BYTES), strategy]);
      onTestFinished(() => child.signal('SIGKILL'));
      const pool = testPool(seed, 2 * MAX_BYTES);
      const held: ReturnType<RingConsumer['tryRead']>[] = [];
      const releaseRandom = seededRandom(seed);
      let read = 0;
      let bytes = 0;
      let sliceStart = performance.now();
      while (!consumer.ended) {
        const record = consumer.tryRead();
        if (record === null) {
          // Free what we hold before sleeping, or a full ring would wait for us forever.
          while (held.length > 0) consumer.release(held.pop()!);
          waitForData(consumer, { strategy }, 100, () => {
            const state = peerState(segment.buffer, 'producer');
            if (state.state === 'dead') expect.fail(`the producing child died after ${read} records: ${state.reason}`);
          });
        } else {
          const problem = testRecordProblem(record.payload, read, pool);
          if (problem !== undefined) expect.fail(problem);
          expect(record.seq).toBe(read);
          expect(record.type).toBe(TEST_RECORD_TYPE);
          read++;
          bytes += record.payload.byteLength;
          // Hold up to 3 records and give them back in reverse order (§10.3.5).
          held.push(record);
          if (held.length > releaseRandom() * 4) while (held.length > 0) consumer.release(held.pop()!);
        }
        if (performance.now() - sliceStart > 50) {
          await yieldToLoop();
          sliceStart = performance.now();
        }
      }
      while (held.length > 0) consumer.release(held.pop()!);
      const exit = await child.exited;
      expect(exit.code, exit.stderr).toBe(0);
      expect(JSON.parse(exit.stdout)).toEqual({ written: COUNT, bytes });
      expect(read).toBe(COUNT);
      expect(bytes).toBeGreaterThan(100 * CAPACITY); // well over a hundred wraps
      expect(consumer.tryRead()).toBeNull();
      expect(waitForData(consumer, { strategy }, 10_000)).toBe('ready'); // ended counts as ready: no sleep
      expect(peerState(segment.buffer, 'producer').state).toBe('closed');
    });
  }

  it("delivers this process's stream to a consuming child, waking it and being woken through futexes", async () => {
    const segment = newRingSegment(CAPACITY);
    onTestFinished(() => dropSegment(segment));
    const producer = new RingProducer(segment.buffer, { wake });
    const seed = 0x5eed0003;
    const child = startRingChild(['consume', segment.name, String(CAPACITY), String(COUNT), String(seed), String(MAX_BYTES), 'futex']);
    onTestFinished(() => child.signal('SIGKILL'));
    const pool = testPool(seed, 2 * MAX_BYTES);
    const rand = seededRandom(seed);
    let sliceStart = performance.now();
    for (let seq = 0; seq < COUNT; seq++) {
      const plan = planTestRecord(rand, seq, MIN_BYTES, MAX_BYTES, pool.byteLength);
      const parts = testRecordParts(plan, pool);
      while (!producer.tryWrite(TEST_RECORD_TYPE, parts)) {
        waitForSpace(producer, plan.payloadBytes, { strategy: 'futex' }, 100, () => {
          const state = peerState(segment.buffer, 'consumer');
          if (state.state === 'dead') expect.fail(`the consuming child died: ${state.reason}`);
        });
      }
      if (performance.now() - sliceStart > 50) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    producer.close();
    const exit = await child.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(JSON.parse(exit.stdout)).toEqual({ read: COUNT });
  });
});
