/**
 * Framing names and frame encoding (docs/SPEC.md §3.3, §3.4): presets, `lp:` spec
 * strings, errors naming the bad part, canonical names, and the bytes encodeFrame writes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFastPathError } from './errors.js';
import { encodeFrame } from './frame-encoder.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAMING_PRESETS, framingName, lpLengthFor, parseFraming, type LengthPrefixedFraming } from './framing.js';

function framingError(name: string, max?: number): string {
  try {
    parseFraming(name, max);
  } catch (err) {
    expect(isFastPathError(err) && err.code).toBe('FP_FRAMING_INVALID');
    return (err as Error).message;
  }
  throw new Error(`parseFraming(${JSON.stringify(name)}) did not throw`);
}

describe('parseFraming', () => {
  it('knows the presets of §3.4', () => {
    expect(parseFraming('ndjson')).toEqual({ kind: 'ndjson', codec: 'json', maxFrameBytes: DEFAULT_MAX_FRAME_BYTES });
    const body = { kind: 'lp', prefixBytes: 4, endian: 'be', lengthIncludes: 'body', header: new Uint8Array(0), maxFrameBytes: 10 };
    expect(parseFraming('lp32-json', 10)).toEqual({ ...body, codec: 'json' });
    expect(parseFraming('lp32-msgpack', 10)).toEqual({ ...body, codec: 'msgpack' });
  });

  it('parses lp spec strings, header hex in either case', () => {
    expect(parseFraming('lp:2:le:frame:01:msgpack', 99)).toEqual({
      kind: 'lp',
      prefixBytes: 2,
      endian: 'le',
      lengthIncludes: 'frame',
      header: Uint8Array.from([1]),
      codec: 'msgpack',
      maxFrameBytes: 99,
    });
    expect((parseFraming('lp:4:be:body:01FF:json') as LengthPrefixedFraming).header).toEqual(Uint8Array.from([1, 255]));
    expect(parseFraming('lp:4:be:body:-:json')).toEqual(parseFraming('lp32-json'));
  });

  it.each([
    ['lp:3:be:body:-:json', /prefix width must be 2 or 4, got "3"/],
    ['lp:8:be:body:-:json', /prefix width/],
    ['lp:4:BE:body:-:json', /endianness must be be or le, got "BE"/],
    ['lp:4:mid:body:-:json', /endianness/],
    ['lp:4:be:header:-:json', /length must count body or frame, got "header"/],
    ['lp:4:be:body:-:cbor', /codec must be json or msgpack, got "cbor"/],
    ['lp:4:be:body:1:json', /header must be 1-16 bytes of hex .* got "1"/],
    ['lp:4:be:body:zz:json', /header must be .* got "zz"/],
    ['lp:4:be:body::json', /header must be .* got ""/],
    [`lp:4:be:body:${'00'.repeat(17)}:json`, /header must be 1-16 bytes/],
    ['lp:4:be:body:-', /unknown framing "lp:4:be:body:-": use a preset \(ndjson, lp32-json, lp32-msgpack\) or lp:/],
    ['lp:4:be:body:-:json:extra', /unknown framing/],
    ['json', /unknown framing "json"/],
    ['', /unknown framing ""/],
    ['LP32-JSON', /unknown framing/],
  ])('rejects %j naming the bad part', (name, message) => {
    expect(framingError(name)).toMatch(message);
  });

  it.each([[0], [-1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY]])('rejects maxFrameBytes %d', (max) => {
    expect(framingError('ndjson', max)).toMatch(/maxFrameBytes must be a positive integer/);
  });

  it('accepts the largest header (16 bytes) and a maxFrameBytes of 1', () => {
    expect((parseFraming(`lp:2:be:frame:${'ab'.repeat(16)}:json`, 1) as LengthPrefixedFraming).header).toHaveLength(16);
  });
});

describe('framingName', () => {
  it('names presets by their preset name', () => {
    for (const p of FRAMING_PRESETS) expect(framingName(parseFraming(p))).toBe(p);
    expect(framingName(parseFraming('lp:4:be:body:-:msgpack'))).toBe('lp32-msgpack');
  });

  it('writes other framings as canonical lp strings (lowercase header hex)', () => {
    expect(framingName(parseFraming('lp:2:le:frame:0A:json'))).toBe('lp:2:le:frame:0a:json');
    expect(framingName(parseFraming('lp:4:le:body:-:json'))).toBe('lp:4:le:body:-:json');
  });

  it('round-trips through parseFraming for every lp spec', () => {
    const spec = fc.record({
      width: fc.constantFrom('2', '4'),
      endian: fc.constantFrom('be', 'le'),
      includes: fc.constantFrom('body', 'frame'),
      header: fc.oneof(fc.constant('-'), fc.uint8Array({ minLength: 1, maxLength: 16 }).map((h) => Buffer.from(h).toString('hex'))),
      codec: fc.constantFrom('json', 'msgpack'),
      max: fc.integer({ min: 1, max: 2 ** 32 }),
    });
    fc.assert(
      fc.property(spec, ({ width, endian, includes, header, codec, max }) => {
        const parsed = parseFraming(`lp:${width}:${endian}:${includes}:${header}:${codec}`, max);
        const name = framingName(parsed);
        expect(parseFraming(name, max)).toEqual(parsed);
        expect(framingName(parseFraming(name, max))).toBe(name);
      }),
      { numRuns: 200 },
    );
  });
});

describe('encodeFrame', () => {
  const body = Buffer.from('{"a":1}');

  it('ndjson appends one newline', () => {
    expect(encodeFrame(parseFraming('ndjson'), body).toString()).toBe('{"a":1}\n');
  });

  it('ndjson refuses a body containing a newline', () => {
    expect(() => encodeFrame(parseFraming('ndjson'), Buffer.from('{}\n{}'))).toThrow(expect.objectContaining({ code: 'FP_ENCODE' }));
  });

  it.each([
    ['lp32-json', '00000007', 7],
    ['lp:4:le:body:-:json', '07000000', 7],
    ['lp:2:be:body:-:json', '0007', 7],
    ['lp:2:le:frame:-:json', '0900', 9],
    ['lp:2:be:body:0102:json', '00090102', 9],
    ['lp:4:be:frame:0102:json', '0000000d0102', 13],
  ])('%s writes the prefix and header %s before the body (length %d)', (name, head, length) => {
    const spec = parseFraming(name) as LengthPrefixedFraming;
    expect(encodeFrame(spec, body).toString('hex')).toBe(head + body.toString('hex'));
    expect(lpLengthFor(spec, body.length)).toBe(length);
  });

  it('refuses a body that does not fit a 2-byte prefix', () => {
    const spec = parseFraming('lp:2:be:frame:01:json');
    expect(encodeFrame(spec, Buffer.alloc(0xffff - 3)).length).toBe(0xffff);
    expect(() => encodeFrame(spec, Buffer.alloc(0xffff - 2))).toThrow(expect.objectContaining({ code: 'FP_ENCODE' }));
  });
});
