import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RECORD_HEADER_BYTES, RING_HEADER_BYTES, initRingHeader, recordBytes, ringSegmentBytes } from './layout.js';
import { RingConsumer, RingProducer, type RingRecord } from './ring.js';

/**
 * Model-based tests of the ring against an array model (after fast-check's circular
 * buffer example): random record sizes, wrap-around, full and empty, and releases in
 * any order. The model knows only the rules of docs/SPEC.md §10.3: a record never
 * straddles the end of the data region (the tail is padded), and space is freed up to
 * the oldest record still held.
 */

const CAPACITY = 4096;

interface Expected {
  /** Where the record starts: after the padding when one was needed. */
  readonly startPos: number;
  readonly padded: boolean;
  readonly type: number;
  readonly flags: number;
  readonly payload: Uint8Array;
  readonly endPos: number;
}

/** A record read and not yet freed, or a skipped pad (released from the start). */
interface Held {
  readonly endPos: number;
  readonly expected?: Expected;
  readonly record?: RingRecord;
  released: boolean;
}

class Model {
  writePos = 0;
  freedPos = 0;
  readonly unread: Expected[] = [];
  /** Read records in read order, released or not, until freed. */
  readonly held: Held[] = [];

  fits(payloadBytes: number): boolean {
    const size = recordBytes(payloadBytes);
    const contiguous = CAPACITY - (this.writePos % CAPACITY);
    const pad = contiguous < size ? contiguous : 0;
    return CAPACITY - (this.writePos - this.freedPos) >= size + pad;
  }

  write(type: number, flags: number, payload: Uint8Array): void {
    const size = recordBytes(payload.byteLength);
    const contiguous = CAPACITY - (this.writePos % CAPACITY);
    const padded = contiguous < size;
    if (padded) this.writePos += contiguous;
    const startPos = this.writePos;
    this.writePos += size;
    this.unread.push({ startPos, padded, type, flags, payload, endPos: this.writePos });
  }

  /** Reading past a pad frees it at once when nothing is held, else once all before it are. */
  skipPad(next: Expected): void {
    if (!next.padded) return;
    if (this.held.length === 0) this.freedPos = next.startPos;
    else this.held.push({ endPos: next.startPos, released: true });
  }

  /** Frees up to the oldest record still held. */
  free(): void {
    while (this.held.length > 0 && this.held[0]!.released) this.freedPos = this.held.shift()!.endPos;
  }
}

interface Real {
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
  readonly ring: ArrayBuffer;
}

function payloadOf(len: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = (seed + i * 31) & 0xff;
  return bytes;
}

class WriteCommand implements fc.Command<Model, Real> {
  constructor(
    readonly type: number,
    readonly flags: number,
    readonly len: number,
    readonly seed: number,
    readonly split: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const payload = payloadOf(this.len, this.seed);
    const maxPayload = CAPACITY / 2 - RECORD_HEADER_BYTES;
    if (this.len > maxPayload) {
      expect(() => r.producer.tryWrite(this.type, payload, this.flags)).toThrow(expect.objectContaining({ code: 'FP_RING_TOO_LARGE' }));
      return;
    }
    const cut = Math.min(this.split, this.len);
    const parts = [payload.subarray(0, cut), payload.subarray(cut)];
    const expected = m.fits(this.len);
    expect(r.producer.tryWrite(this.type, parts, this.flags)).toBe(expected);
    if (expected) m.write(this.type, this.flags, payload);
  }
  toString(): string {
    return `write(type ${this.type}, flags ${this.flags}, ${this.len} B)`;
  }
}

class ReadCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const record = r.consumer.tryRead();
    const next = m.unread.shift();
    if (next === undefined) {
      expect(record).toBeNull();
      m.free();
      return;
    }
    m.skipPad(next);
    expect(record).not.toBeNull();
    expect(record!.type).toBe(next.type);
    expect(record!.flags).toBe(next.flags);
    expect(Buffer.from(record!.payload).equals(Buffer.from(next.payload))).toBe(true);
    m.held.push({ endPos: next.endPos, expected: next, record: record!, released: false });
  }
  toString(): string {
    return 'read';
  }
}

class ReleaseCommand implements fc.Command<Model, Real> {
  constructor(readonly pick: number) {}
  check(m: Model): boolean {
    return m.held.some((h) => !h.released);
  }
  run(m: Model, r: Real): void {
    const candidates = m.held.filter((h) => !h.released);
    const chosen = candidates[this.pick % candidates.length]!;
    r.consumer.release(chosen.record!);
    chosen.released = true;
    expect(() => r.consumer.release(chosen.record!)).toThrow(expect.objectContaining({ code: 'FP_RING_RELEASE' }));
    m.free();
  }
  toString(): string {
    return `release(#${this.pick})`;
  }
}

/** After every command: held payloads are intact and the free space matches the model. */
function checkInvariants(m: Model, r: Real): void {
  for (const h of m.held) {
    if (!h.released) expect(Buffer.from(h.record!.payload).equals(Buffer.from(h.expected!.payload))).toBe(true);
  }
  expect(r.consumer.heldRecords).toBe(m.held.filter((h) => !h.released).length);
  expect(r.producer.freeBytes()).toBe(CAPACITY - (m.writePos - m.freedPos));
}

function freshRing(): Real {
  const ring = new ArrayBuffer(ringSegmentBytes(CAPACITY));
  initRingHeader(ring, CAPACITY, 1);
  return { ring, producer: new RingProducer(ring, { pid: 1 }), consumer: new RingConsumer(ring, { pid: 2 }) };
}

describe('ring against an array model', () => {
  it('writes, reads and releases in any order like the model, across many wraps', () => {
    const commands = [
      fc
        .tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 2100 })), fc.nat(255), fc.nat(2100))
        .map(([type, flags, len, seed, split]) => new WriteCommand(type, flags, len, seed, split)),
      fc.constant(new ReadCommand()),
      fc.nat().map((pick) => new ReleaseCommand(pick)),
    ];
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 1000, size: "max" }), (cmds) => {
        const real = freshRing();
        const model = new Model();
        fc.modelRun(
          () => ({ model, real }),
          [...cmds].flatMap((c) => [c, { check: () => true, run: checkInvariants, toString: () => '' } as fc.Command<Model, Real>]),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('fills up exactly, refuses the next record, and accepts it after a release', () => {
    const { producer, consumer } = freshRing();
    const payload = new Uint8Array(240); // 256-byte records: 16 fill the 4 KiB ring
    let written = 0;
    while (producer.tryWrite(7, payload)) written++;
    expect(written).toBe(CAPACITY / 256);
    expect(producer.freeBytes()).toBe(0);
    const first = consumer.tryRead()!;
    expect(producer.tryWrite(7, payload)).toBe(false);
    consumer.release(first);
    expect(producer.tryWrite(7, payload)).toBe(true);
  });

  it('pads the tail before a record that would straddle the end, and reads across the wrap', () => {
    const { producer, consumer } = freshRing();
    const big = payloadOf(1500, 3);
    for (let lap = 0; lap < 20; lap++) {
      expect(producer.tryWrite(1, big)).toBe(true);
      expect(producer.tryWrite(2, big)).toBe(true);
      const a = consumer.tryRead()!;
      const b = consumer.tryRead()!;
      expect([a.type, b.type]).toEqual([1, 2]);
      expect(Buffer.from(b.payload).equals(Buffer.from(big))).toBe(true);
      consumer.release(b);
      consumer.release(a);
      expect(consumer.tryRead()).toBeNull();
      expect(producer.freeBytes()).toBe(CAPACITY);
    }
  });

  it('reads a payload as a view into the segment, not a copy', () => {
    const { producer, consumer, ring } = freshRing();
    producer.tryWrite(1, payloadOf(32, 9));
    const record = consumer.tryRead()!;
    expect(record.payload.buffer).toBe(ring);
    expect(record.payload.byteOffset).toBe(RING_HEADER_BYTES + RECORD_HEADER_BYTES);
  });

  it('accepts an empty payload and the largest one, and refuses one byte more', () => {
    const { producer, consumer } = freshRing();
    expect(producer.tryWrite(1, new Uint8Array(0))).toBe(true);
    expect(consumer.tryRead()!.payload.byteLength).toBe(0);
    expect(producer.maxPayloadBytes).toBe(CAPACITY / 2 - RECORD_HEADER_BYTES);
    expect(() => producer.tryWrite(1, new Uint8Array(producer.maxPayloadBytes + 1))).toThrow(expect.objectContaining({ code: 'FP_RING_TOO_LARGE' }));
  });
});
