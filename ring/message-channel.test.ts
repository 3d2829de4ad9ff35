import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FastMessage } from '../protocol/index.js';
import { initRingHeader, ringSegmentBytes } from './layout.js';
import { MessageReader, MessageWriter, RECORD_MESSAGE, RECORD_MESSAGE_PART, RECORD_MESSAGE_START } from './message-channel.js';
import { RingConsumer, RingProducer } from './ring.js';

const CAPACITY = 16 * 1024;

function channel(maxMessageBytes?: number): { writer: MessageWriter; reader: MessageReader; producer: RingProducer; consumer: RingConsumer } {
  const buffer = new ArrayBuffer(ringSegmentBytes(CAPACITY));
  initRingHeader(buffer, CAPACITY, 1);
  const producer = new RingProducer(buffer, { pid: 1 });
  const consumer = new RingConsumer(buffer, { pid: 2 });
  return { producer, consumer, writer: new MessageWriter(producer, maxMessageBytes), reader: new MessageReader(consumer, maxMessageBytes) };
}

function echo(id: number, params: Uint8Array): FastMessage {
  return { version: 1, type: 'request', id, method: 'echo', params };
}

describe('FastMessages over a ring', () => {
  it('delivers any sequence of messages, small and chunked, byte-exact and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 7000, maxLength: 40_000 })), { maxLength: 12 }), (payloads) => {
        const { writer, reader } = channel();
        payloads.forEach((p, i) => writer.enqueue(echo(i, p)));
        const got: FastMessage[] = [];
        for (let spins = 0; got.length < payloads.length && spins < 10_000; spins++) {
          writer.flush();
          const m = reader.tryRead();
          if (m === null) continue;
          expect(m.ok).toBe(true);
          if (!m.ok) return;
          got.push({ ...m.message, params: Buffer.from(m.message.params!) });
          m.release();
        }
        expect(writer.flush()).toBe(true);
        expect(got.map((m) => m.id)).toEqual(payloads.map((_, i) => i));
        got.forEach((m, i) => expect(Buffer.compare(m.params!, payloads[i]!)).toBe(0));
      }),
      { numRuns: 100 },
    );
  });

  it('reads a message that fits in one record in place, and chunks a larger one', () => {
    const { writer, reader, consumer } = channel();
    writer.enqueue(echo(1, new Uint8Array(100)));
    writer.flush();
    const small = reader.tryRead()!;
    expect(small.ok && small.zeroCopy).toBe(true);
    expect(consumer.heldRecords).toBe(1);
    if (small.ok) small.release();
    expect(consumer.heldRecords).toBe(0);

    writer.enqueue(echo(2, new Uint8Array(CAPACITY)));
    expect(writer.flush()).toBe(false); // larger than the ring: written as room appears
    let big = reader.tryRead();
    while (big === null) {
      writer.flush();
      big = reader.tryRead();
    }
    expect(big.ok && !big.zeroCopy && big.message.params!.byteLength).toBe(CAPACITY);
  });

  it('refuses to queue a message above the session limit', () => {
    const { writer } = channel(1000);
    expect(() => writer.enqueue(echo(1, new Uint8Array(1000)))).toThrow(expect.objectContaining({ code: 'FP_RING_TOO_LARGE' }));
  });

  it('stops with FP_RING_CORRUPT when a peer breaks the chunking rules', () => {
    const cases: Array<[string, (p: RingProducer) => void]> = [
      ['a part without a start', (p) => p.tryWrite(RECORD_MESSAGE_PART, new Uint8Array(8))],
      ['a start shorter than its prefix', (p) => p.tryWrite(RECORD_MESSAGE_START, new Uint8Array(2))],
      ['a start announcing more than the limit', (p) => p.tryWrite(RECORD_MESSAGE_START, new Uint8Array([0xff, 0xff, 0xff, 0x7f]))],
      [
        'a whole message inside a chunked one',
        (p) => {
          p.tryWrite(RECORD_MESSAGE_START, new Uint8Array([100, 0, 0, 0, 1]));
          p.tryWrite(RECORD_MESSAGE, new Uint8Array([0xc0]));
        },
      ],
      ['an unknown record type', (p) => p.tryWrite(9, new Uint8Array(4))],
    ];
    for (const [name, write] of cases) {
      const { producer, reader } = channel(1 << 20);
      write(producer);
      expect(() => reader.tryRead(), name).toThrow(expect.objectContaining({ code: 'FP_RING_CORRUPT' }));
    }
  });

  it('returns a decoding error for a record that is not a FastMessage, and goes on', () => {
    const { producer, writer, reader } = channel();
    producer.tryWrite(RECORD_MESSAGE, new Uint8Array([0x81, 0xa1]));
    writer.enqueue(echo(5, new Uint8Array([1])));
    writer.flush();
    const bad = reader.tryRead()!;
    expect(bad.ok).toBe(false);
    const good = reader.tryRead()!;
    expect(good.ok && good.message.id).toBe(5);
  });
});
