/**
 * Body codecs (docs/SPEC.md §3.2.2, §3.3.4, §3.5): strict UTF-8 JSON, exactly one
 * MessagePack value of the protocol's data model, object detection, bin round trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeV2Body } from './auth.js';
import { decodeBody, decodeJson, decodeMsgpack, encodeBody, isPlainObject } from './body-codec.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('JSON bodies', () => {
  it.each([
    ['overlong encoding of "/"', '7b2261223a22c0af227d'],
    ['lone continuation byte', '7b2261223a2280227d'],
    ['truncated 3-byte sequence', '7b2261223a22e282227d'],
    ['UTF-16 surrogate encoded in UTF-8', '7b2261223a22eda080227d'],
    ['code point above U+10FFFF', '7b2261223a22f4908080227d'],
    ['0xff byte', 'ff7b7d'],
  ])('rejects invalid UTF-8 (%s) instead of repairing it (§3.2.2)', (_why, h) => {
    const res = decodeJson(hex(h));
    expect(res).toEqual({ ok: false, error: 'body is not valid UTF-8' });
  });

  it('decodes valid multi-byte UTF-8 unchanged', () => {
    expect(decodeJson(Buffer.from('{"r":"é—✋🚀"}', 'utf8'))).toEqual({ ok: true, value: { r: 'é—✋🚀' } });
  });

  it('reports JSON syntax errors', () => {
    const res = decodeBody('json', Buffer.from('{"a":'));
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/^body is not valid JSON: /);
  });

  it('decodes non-object JSON values (objects are checked by the envelope layer)', () => {
    for (const text of ['[1]', '"s"', '1', 'null', 'true']) {
      const res = decodeJson(Buffer.from(text));
      expect(res.ok).toBe(true);
      expect(res.ok && isPlainObject(res.value)).toBe(false);
    }
  });

  it('round-trips any JSON object through encodeBody/decodeBody', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const res = decodeBody('json', encodeBody('json', obj));
        expect(res).toEqual({ ok: true, value: JSON.parse(JSON.stringify(obj)) as unknown });
      }),
      { numRuns: 100 },
    );
  });
});

describe('MessagePack bodies', () => {
  it('decodes one map', () => {
    expect(decodeMsgpack(hex('81a16101'))).toEqual({ ok: true, value: { a: 1 } });
  });

  it.each([
    ['a nil after the map', '81a16101 c0'],
    ['a second map', '81a16101 81a16102'],
    ['an incomplete second value', '81a16101 92'],
  ])('rejects trailing bytes: %s (§3.3.4)', (_why, h) => {
    const res = decodeMsgpack(hex(h));
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/^body is not valid MessagePack: .*trailing byte/);
  });

  it.each([
    ['empty body', ''],
    ['map missing its value', '81a161'],
    ['str8 longer than the data', 'd905616263'],
    ['array32 announcing 4 billion items', 'ddffffffff c0'],
    ['map16 announcing more pairs than bytes', 'de0100 a16101'],
  ])('rejects truncated data: %s', (_why, h) => {
    const res = decodeMsgpack(hex(h));
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/^body is not valid MessagePack: /);
  });

  it.each([
    ['fixstr value', '81a161 a2c328'],
    ['str8 value', '81a161 d902c328'],
    ['map key', '81 a2c328 01'],
    ['surrogate in a nested string', '81a161 81a162 a3eda080'],
  ])('rejects invalid UTF-8 in a %s instead of repairing it', (_why, h) => {
    const res = decodeMsgpack(hex(h));
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/not valid UTF-8/);
  });

  it.each([
    ['timestamp (-1), decoded by msgpackr as a Date', 'd6ff00000001'],
    ['0x42 bigint, which JSON.stringify cannot serialise', '81a161 c70142 01'],
    ['ext 0, decoded by msgpackr as undefined', '81a161 d40000'],
    ['0x73 set', 'c70073 90'],
    ['unknown type 10', 'd40a00'],
  ])('rejects an extension type: %s', (_why, h) => {
    const res = decodeMsgpack(hex(h));
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/extension type/);
  });

  it('rejects the never-used byte 0xc1 (msgpackr would return a placeholder object)', () => {
    expect(decodeMsgpack(hex('c1'))).toMatchObject({ ok: false, error: expect.stringMatching(/0xc1/) });
    expect(decodeMsgpack(hex('81a161c1'))).toMatchObject({ ok: false });
  });

  it.each([
    ['integer', '81 01 01'],
    ['nil', '81 c0 01'],
    ['array', '81 90 01'],
    ['empty map', '81 80 01'],
  ])('rejects a map key that is not a string (%s)', (_why, h) => {
    expect(decodeMsgpack(hex(h))).toMatchObject({ ok: false, error: expect.stringMatching(/map key .* not a string/) });
  });

  it('does not throw on deep nesting', () => {
    const deep = Buffer.concat([Buffer.alloc(200_000, 0x91), Buffer.from([0xc0])]);
    expect(() => decodeMsgpack(deep)).not.toThrow();
  });

  it('decodes every scalar type of the data model', () => {
    const body = hex(
      '8a a161c0 a162c2 a163c3 a164cc80 a165cd0100 a166ce00010000 a167cf0000000100000000 a168d3ffffffffffffff00 a169cb3fb999999999999a a16aca3fc00000',
    );
    expect(decodeMsgpack(body)).toEqual({
      ok: true,
      value: { a: null, b: false, c: true, d: 128, e: 256, f: 65536, g: 2 ** 32, h: -256, i: 0.1, j: 1.5 },
    });
  });

  it('round-trips bin as bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const res = decodeMsgpack(encodeBody('msgpack', { bin: Buffer.from(bytes) }));
        if (!res.ok) throw new Error(res.error);
        const bin = (res.value as { bin: unknown }).bin;
        expect(bin).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(bin as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips JSON-like objects with well-formed strings', () => {
    // msgpackr renames a "__proto__" key (prototype-pollution guard), so keys exclude it.
    const key = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength }).filter((k) => k !== '__proto__');
    const scalar = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.maxSafeInteger().map((n) => (Object.is(n, -0) ? 0 : n)),
      fc.double({ noNaN: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
      fc.boolean(),
      fc.constant(null),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key(8), tie('value'), { maxKeys: 4 })),
    }));
    fc.assert(
      fc.property(fc.dictionary(key(12), value, { maxKeys: 20 }), (obj) => {
        expect(decodeMsgpack(encodeBody('msgpack', obj))).toEqual({ ok: true, value: obj });
      }),
      { numRuns: 150 },
    );
  });
});

describe('MessagePack encoding of integers', () => {
  it.each([
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [65535, 'cdffff'],
    [0xffffffff, 'ceffffffff'],
    [-32, 'e0'],
    [-33, 'd0df'],
    [-32768, 'd18000'],
    [-0x80000000, 'd280000000'],
    [2 ** 32, 'd30000000100000000'],
    [1_700_000_000_000, 'd30000018bcfe56800'],
    [-0x80000001, 'd3ffffffff7fffffff'],
    [Number.MAX_SAFE_INTEGER, 'd3001fffffffffffff'],
    [0.5, 'cb3fe0000000000000'],
    [2 ** 53, 'cb4340000000000000'],
  ])('writes %d as %s (int64, not float64, beyond 32 bits)', (n, h) => {
    expect(encodeBody('msgpack', n).toString('hex')).toBe(h);
    expect(decodeMsgpack(hex(h))).toEqual({ ok: true, value: n });
  });

  it('widens nested integers without mutating the input', () => {
    const input = { a: [1, { ts: 1_700_000_000_000 }], b: 'x' };
    const copy = structuredClone(input);
    expect(decodeMsgpack(encodeBody('msgpack', input))).toEqual({ ok: true, value: copy });
    expect(input).toEqual(copy);
  });
});

describe('object detection (§3.5)', () => {
  it('accepts plain objects and null-prototype objects', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(JSON.parse('{"a":1}'))).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
  });

  it('rejects everything else', () => {
    class Klass {}
    for (const v of [null, undefined, 1, 's', true, [], [1], Buffer.from('x'), new Uint8Array(1), new Date(0), new Map(), new Set(), new Klass(), () => 1]) {
      expect(isPlainObject(v)).toBe(false);
    }
  });

  it('hmac-v2 bodies must hold an object', () => {
    expect(decodeV2Body('[1,2]')).toEqual({ ok: false, error: 'hmac-v2 body must hold an object' });
    expect(decodeV2Body(hex('93010203'))).toEqual({ ok: false, error: 'hmac-v2 body must hold an object' });
    expect(decodeV2Body('{"type":"STATUS"}')).toEqual({ ok: true, value: { type: 'STATUS' } });
    expect(decodeV2Body(hex('81a474797065a6535441545553'))).toEqual({ ok: true, value: { type: 'STATUS' } });
    expect(decodeV2Body('{"a":')).toMatchObject({ ok: false, error: expect.stringMatching(/^hmac-v2 body: body is not valid JSON/) });
  });
});
