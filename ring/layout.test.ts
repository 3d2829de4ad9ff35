import { describe, expect, it } from 'vitest';
import { RING_HEADER_BYTES, RingOffset, initRingHeader, readRingHeader, recordBytes, recordCheck, ringSegmentBytes } from './layout.js';
import { RingProducer } from './ring.js';

/** The byte layout of docs/SPEC.md §10.3, written out by hand from the tables there. */

function u32(buffer: ArrayBuffer, offset: number): number {
  return new DataView(buffer).getUint32(offset, true);
}

describe('ring layout', () => {
  it('writes the header words of §10.3.1 at their offsets, little-endian', () => {
    const buffer = new ArrayBuffer(ringSegmentBytes(4096));
    initRingHeader(buffer, 4096, 4242);
    const bytes = Buffer.from(buffer, 0, 28);
    expect(bytes.toString('hex')).toBe(
      [
        '46505247', // "FPRG"
        '01000000', // layout version 1
        '40010000', // header size 320
        '00100000', // capacity 4096
        '40110000', // segment size 4416
        '00080000', // record limit 2048
        '92100000', // creator pid 4242
      ].join(''),
    );
    expect(u32(buffer, 60)).toBe(1); // ready
    expect(RING_HEADER_BYTES).toBe(320);
  });

  it('places producer and consumer fields on separate 64-byte cache lines', () => {
    const line = (offset: number): number => Math.floor(offset / 64);
    const producer = [RingOffset.writePos, RingOffset.producerPid, RingOffset.producerHeartbeatMs, RingOffset.nextSeq, RingOffset.producerClosed].map(line);
    const consumer = [RingOffset.readPos, RingOffset.consumerPid, RingOffset.consumerHeartbeatMs, RingOffset.consumerClosed].map(line);
    expect(new Set(producer)).toEqual(new Set([1]));
    expect(new Set(consumer)).toEqual(new Set([2]));
    expect(line(RingOffset.dataDoorbell)).not.toBe(line(RingOffset.spaceDoorbell));
  });

  it('writes a record as length, type, flags, seq, check, payload, padded to 16 bytes (§10.3.3)', () => {
    const buffer = new ArrayBuffer(ringSegmentBytes(4096));
    initRingHeader(buffer, 4096, 1);
    const producer = new RingProducer(buffer, { pid: 1 });
    producer.tryWrite(0x0102, Buffer.from('hello'), 0x0304);
    const record = Buffer.from(buffer, RING_HEADER_BYTES, 32);
    expect(record.subarray(0, 12).toString('hex')).toBe('05000000' + '0201' + '0403' + '00000000');
    expect(record.readUInt32LE(12)).toBe(recordCheck(5, 0x03040102, 0, 0));
    expect(record.subarray(16, 21).toString()).toBe('hello');
    expect(u32(buffer, RingOffset.writePos)).toBe(recordBytes(5));
    expect(recordBytes(5)).toBe(32);
    expect(u32(buffer, RingOffset.nextSeq)).toBe(1);
  });

  it('pins the check word function (a change here breaks every other implementation)', () => {
    expect([recordCheck(0, 0, 0, 0), recordCheck(5, 0x03040102, 0, 0), recordCheck(64, 1, 7, 4096), recordCheck(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)]).toMatchInlineSnapshot(`
      [
        4289745439,
        2946555636,
        3495346122,
        2930571358,
      ]
    `);
  });

  it.each([
    ['a ring that is not ready', (b: ArrayBuffer) => new DataView(b).setUint32(60, 0, true), /ready flag is 0/],
    ['a wrong magic', (b: ArrayBuffer) => new DataView(b).setUint32(0, 0x12345678, true), /magic is 0x12345678/],
    ['another layout version', (b: ArrayBuffer) => new DataView(b).setUint32(4, 2, true), /layout version 2/],
    ['a capacity that is not a power of two', (b: ArrayBuffer) => new DataView(b).setUint32(12, 5000, true), /capacity 5000/],
    ['a segment size that disagrees', (b: ArrayBuffer) => new DataView(b).setUint32(16, 9999, true), /segment size field 9999/],
    ['a wrong record limit', (b: ArrayBuffer) => new DataView(b).setUint32(20, 4096, true), /record limit 4096/],
  ])('refuses %s, naming the field', (_name, damage, message) => {
    const buffer = new ArrayBuffer(ringSegmentBytes(4096));
    initRingHeader(buffer, 4096, 1);
    damage(buffer);
    expect(() => readRingHeader(buffer)).toThrow(expect.objectContaining({ code: 'FP_RING_INVALID', message: expect.stringMatching(message) }));
  });

  it('refuses a capacity other than the announced one and a file of another size', () => {
    const buffer = new ArrayBuffer(ringSegmentBytes(4096));
    initRingHeader(buffer, 4096, 1);
    expect(() => readRingHeader(buffer, { capacityBytes: 8192 })).toThrow(/differs from the announced 8192/);
    expect(() => readRingHeader(buffer, { fileBytes: 5000 })).toThrow(/file is 5000 bytes/);
  });
});
