/**
 * Model-based properties of the incremental frame decoders (docs/SPEC.md §3).
 * A random stream is built from items with a known expected event (frames, ndjson
 * blank lines, lp empty bodies and bad headers, and optionally one fatal item), split
 * at random points and fed to the decoder; after every push the decoder must agree
 * with the model on events, `state`, `midFrame` and `bufferedBytes`.
 * fast-check prints the seed and path of any counterexample so it can be replayed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFrameDecoder, DecoderState, type DecodeEvent, type FrameErrorKind } from './frame-decoder.js';
import { encodeFrame, writeLength } from './frame-encoder.js';
import { framingName, parseFraming, type FramingSpec, type LengthPrefixedFraming } from './framing.js';

const MAX = 48; // small maxFrameBytes so oversize cases are cheap
const FRAMINGS = [
  'ndjson',
  'lp32-json',
  'lp32-msgpack',
  'lp:2:le:body:-:json',
  'lp:2:le:frame:01:msgpack',
  'lp:4:le:frame:cafe:json',
  'lp:2:be:body:0102:msgpack',
].map((name) => parseFraming(name, MAX));

type Expected = { type: 'frame'; body: Buffer } | { type: 'error'; kind: FrameErrorKind; fatal: boolean };

interface Item {
  bytes: Buffer;
  expected: Expected | undefined;
  /** Fatal items: offset within `bytes` after which the decoder has failed. */
  failAfter?: number;
}

const isWs = (b: number) => b === 0x20 || b === 0x09 || b === 0x0d;

/** Any non-empty body of at most `max` bytes that is a frame in `spec` (ndjson: no newline, not blank). */
function bodyArb(spec: FramingSpec, max = MAX, min = 1): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ minLength: min, maxLength: max }).map((a) => {
    const b = Buffer.from(a);
    if (spec.kind === 'ndjson') {
      for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) b[i] = 0x41;
      if (b.every(isWs)) b[0] = 0x7b;
    }
    return b;
  });
}

function lpFrame(spec: LengthPrefixedFraming, length: number, rest: Uint8Array): Buffer {
  const out = Buffer.alloc(spec.prefixBytes + rest.length);
  writeLength(out, spec.prefixBytes, spec.endian, length);
  out.set(rest, spec.prefixBytes);
  return out;
}

const overhead = (spec: LengthPrefixedFraming) => (spec.lengthIncludes === 'frame' ? spec.prefixBytes : 0);

/** Recoverable items: frames, blank lines (ndjson), empty bodies and bad headers (lp). */
function itemArb(spec: FramingSpec): fc.Arbitrary<Item> {
  const frame = bodyArb(spec).map((body) => ({ bytes: encodeFrame(spec, body), expected: { type: 'frame' as const, body } }));
  if (spec.kind === 'ndjson') {
    const blank = fc
      .array(fc.constantFrom(0x20, 0x09, 0x0d), { maxLength: 4 })
      .map((ws) => ({ bytes: Buffer.from([...ws, 0x0a]), expected: undefined }));
    return fc.oneof({ arbitrary: frame, weight: 4 }, { arbitrary: blank, weight: 1 });
  }
  const empty = fc.constant(null).map(() => ({
    bytes: lpFrame(spec, spec.header.length + overhead(spec), spec.header),
    expected: { type: 'error' as const, kind: 'EMPTY_BODY' as const, fatal: false },
  }));
  const arbs: fc.WeightedArbitrary<Item>[] = [
    { arbitrary: frame, weight: 4 },
    { arbitrary: empty, weight: 1 },
  ];
  if (spec.header.length > 0) {
    const badHeader = fc.tuple(bodyArb(spec), fc.integer({ min: 0, max: spec.header.length - 1 })).map(([body, i]) => {
      const bytes = encodeFrame(spec, body);
      bytes[spec.prefixBytes + i] = bytes[spec.prefixBytes + i]! ^ 0xff;
      return { bytes, expected: { type: 'error' as const, kind: 'BAD_HEADER' as const, fatal: false } };
    });
    arbs.push({ arbitrary: badHeader, weight: 1 });
  }
  return fc.oneof(...arbs);
}

/** Fatal items followed by trailing garbage that must be ignored. */
function fatalArb(spec: FramingSpec): fc.Arbitrary<Item> {
  const garbage = fc.uint8Array({ maxLength: 80 });
  if (spec.kind === 'ndjson') {
    // An unterminated line: the error comes with byte max+1, whatever follows (even a newline).
    return fc.tuple(bodyArb(spec, MAX + 1, MAX + 1), garbage).map(([line, tail]) => ({
      bytes: Buffer.concat([line, tail]),
      expected: { type: 'error' as const, kind: 'FRAME_TOO_LARGE' as const, fatal: true },
      failAfter: MAX + 1,
    }));
  }
  const limit = spec.prefixBytes === 2 ? 0xffff : 0xffffffff;
  const fixed = spec.header.length + overhead(spec);
  const tooLarge = fc.tuple(fc.integer({ min: fixed + MAX + 1, max: limit }), garbage).map(([length, tail]) => ({
    bytes: lpFrame(spec, length, tail),
    expected: { type: 'error' as const, kind: 'FRAME_TOO_LARGE' as const, fatal: true },
    failAfter: spec.prefixBytes,
  }));
  if (fixed === 0) return tooLarge;
  const badLength = fc.tuple(fc.integer({ min: 0, max: fixed - 1 }), garbage).map(([length, tail]) => ({
    bytes: lpFrame(spec, length, tail),
    expected: { type: 'error' as const, kind: 'BAD_LENGTH' as const, fatal: true },
    failAfter: spec.prefixBytes,
  }));
  return fc.oneof(tooLarge, badLength);
}

function streamArb(spec: FramingSpec, withFatal: boolean) {
  return fc
    .tuple(fc.array(itemArb(spec), { maxLength: 12 }), withFatal ? fatalArb(spec).map((f) => [f]) : fc.constant([] as Item[]))
    .chain(([items, fatal]) => {
      const all = [...items, ...fatal];
      const total = all.reduce((n, i) => n + i.bytes.length, 0);
      return fc.tuple(fc.constant(all), fc.array(fc.integer({ min: 0, max: total }), { maxLength: 24 }));
    });
}

function project(e: DecodeEvent): Expected {
  return e.type === 'frame' ? { type: 'frame', body: Buffer.from(e.body) } : { type: 'error', kind: e.kind, fatal: e.fatal };
}

/** Feeds `items` split at `points`, checking the model after every push. */
function runModel(spec: FramingSpec, items: Item[], points: number[]): void {
  const stream = Buffer.concat(items.map((i) => i.bytes));
  // Model: item end offsets (frame boundaries), the offset at which the decoder fails.
  const boundaries = new Set<number>([0]);
  const expectedEvents: { at: number; event: Expected }[] = [];
  let failAt = Infinity;
  let off = 0;
  for (const item of items) {
    if (item.failAfter !== undefined) {
      failAt = off + item.failAfter;
      expectedEvents.push({ at: failAt, event: item.expected! });
      break;
    }
    off += item.bytes.length;
    boundaries.add(off);
    if (item.expected) expectedEvents.push({ at: off, event: item.expected });
  }
  const cuts = [...new Set(points), stream.length].sort((a, b) => a - b);
  const dec = createFrameDecoder(spec);
  const got: Expected[] = [];
  let prev = 0;
  for (const cut of cuts) {
    const events = dec.push(stream.subarray(prev, cut)).map(project);
    // Exactly the events whose completing byte lies in this chunk.
    const due = expectedEvents.filter((e) => e.at > prev && e.at <= cut).map((e) => e.event);
    expect(events).toEqual(due);
    got.push(...events);
    prev = cut;
    const failed = cut >= failAt;
    expect(dec.state === DecoderState.Failed).toBe(failed);
    expect(dec.midFrame).toBe(!failed && !boundaries.has(cut));
    // Memory never grows with the announced or sent size (§3.1.1).
    if (spec.kind === 'ndjson') {
      expect(dec.bufferedBytes).toBeLessThanOrEqual(spec.maxFrameBytes);
    } else if (dec.state === DecoderState.Body) {
      expect(dec.bufferedBytes).toBeLessThanOrEqual(spec.maxFrameBytes + spec.header.length);
    } else {
      expect(dec.bufferedBytes).toBeLessThan(spec.prefixBytes);
    }
    if (failed) expect(dec.bufferedBytes).toBe(0);
  }
  expect(got).toEqual(expectedEvents.map((e) => e.event));
}

describe.each(FRAMINGS.map((spec) => [framingName(spec), spec] as const))('%s decoder', (_name, spec) => {
  it('decodes any sequence of frames, split anywhere, to the bodies in order (§3.1.3)', () => {
    fc.assert(
      fc.property(
        fc.array(bodyArb(spec), { maxLength: 10 }).chain((bodies) => {
          const total = bodies.reduce((n, b) => n + encodeFrame(spec, b).length, 0);
          return fc.tuple(fc.constant(bodies), fc.array(fc.integer({ min: 0, max: total }), { maxLength: 20 }));
        }),
        ([bodies, points]) => {
          const items = bodies.map((body) => ({ bytes: encodeFrame(spec, body), expected: { type: 'frame' as const, body } }));
          runModel(spec, items, points);
        },
      ),
      { numRuns: 150 },
    );
  });

  it(spec.kind === 'ndjson' ? 'skips blank lines; midFrame/bufferedBytes follow the model' : 'recovers from empty bodies and bad headers; midFrame/bufferedBytes follow the model', () => {
    fc.assert(
      fc.property(streamArb(spec, false), ([items, points]) => runModel(spec, items, points)),
      { numRuns: 150 },
    );
  });

  it('fails at the first oversize/malformed byte, stays failed and ignores the rest (§3.1.1, §3.3.1)', () => {
    fc.assert(
      fc.property(streamArb(spec, true), fc.uint8Array({ maxLength: 32 }), ([items, points], later) => {
        runModel(spec, items, points);
        // Reach the same decoder state again and push more input, including a valid frame.
        const dec = createFrameDecoder(spec);
        dec.push(Buffer.concat(items.map((i) => i.bytes)));
        expect(dec.state).toBe(DecoderState.Failed);
        expect(dec.push(Buffer.from(later))).toEqual([]);
        expect(dec.push(encodeFrame(spec, Buffer.from('{}')))).toEqual([]);
        expect(dec.state).toBe(DecoderState.Failed);
        expect(dec.bufferedBytes).toBe(0);
        expect(dec.midFrame).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it('accepts a body of exactly maxFrameBytes and refuses maxFrameBytes + 1', () => {
    fc.assert(
      fc.property(bodyArb(spec, MAX + 1, MAX + 1), (big) => {
        const exact = big.subarray(0, MAX);
        const ok = createFrameDecoder(spec);
        expect(ok.push(encodeFrame(spec, exact)).map(project)).toEqual([{ type: 'frame', body: exact }]);
        const tooBig = createFrameDecoder(spec);
        expect(tooBig.push(encodeFrame(spec, big)).map(project)).toEqual([{ type: 'error', kind: 'FRAME_TOO_LARGE', fatal: true }]);
        expect(tooBig.state).toBe(DecoderState.Failed);
      }),
      { numRuns: 25 },
    );
  });
});

describe('oversize detection does not wait for the announced bytes (§3.1.1)', () => {
  it('lp: a 4 GiB announcement fails as soon as the 4-byte prefix is read, holding nothing', () => {
    const spec = parseFraming('lp32-msgpack', 1024);
    const dec = createFrameDecoder(spec);
    expect(dec.push(Buffer.from([0xff, 0xff, 0xff]))).toEqual([]);
    expect(dec.bufferedBytes).toBe(3);
    const [ev] = dec.push(Buffer.from([0xff]));
    expect(ev).toMatchObject({ type: 'error', kind: 'FRAME_TOO_LARGE', fatal: true });
    expect(ev!.type === 'error' && ev!.message).toMatch(/4294967295-byte body, above maxFrameBytes \(1024\)/);
    for (let i = 0; i < 64; i++) expect(dec.push(Buffer.alloc(64 * 1024, 0x61))).toEqual([]);
    expect(dec.bufferedBytes).toBe(0);
  });

  it('ndjson: an endless line fails with byte maxFrameBytes + 1 and then holds nothing', () => {
    const dec = createFrameDecoder(parseFraming('ndjson', 1000));
    expect(dec.push(Buffer.alloc(1000, 0x61))).toEqual([]);
    expect(dec.bufferedBytes).toBe(1000);
    expect(dec.push(Buffer.from('a'))).toMatchObject([{ type: 'error', kind: 'FRAME_TOO_LARGE', fatal: true }]);
    for (let i = 0; i < 64; i++) expect(dec.push(Buffer.alloc(64 * 1024, 0x61))).toEqual([]);
    expect(dec.bufferedBytes).toBe(0);
  });

  it('ndjson: a line of maxFrameBytes + 1 is refused even when its newline comes in the same chunk', () => {
    const dec = createFrameDecoder(parseFraming('ndjson', 4));
    expect(dec.push(Buffer.from('{"a"}\n{}\n'))).toMatchObject([{ type: 'error', kind: 'FRAME_TOO_LARGE' }]);
  });

  it('frames before the oversize one in the same chunk are still delivered', () => {
    const spec = parseFraming('lp:2:le:frame:01:json', 8);
    const good = encodeFrame(spec, Buffer.from('{"a":1}'));
    const bad = Buffer.from([0xff, 0x00, 0x01]);
    const events = createFrameDecoder(spec).push(Buffer.concat([good, bad, good]));
    expect(events.map(project)).toEqual([
      { type: 'frame', body: Buffer.from('{"a":1}') },
      { type: 'error', kind: 'FRAME_TOO_LARGE', fatal: true },
    ]);
  });
});
