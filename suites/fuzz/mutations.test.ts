import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../../protocol/index.js';
import { byteMutationArb } from './frame-arbitraries.js';
import {
  applyByteMutation,
  applyByteMutations,
  deepJsonText,
  deepMsgpack,
  INVALID_UTF8_NAMES,
  INVALID_UTF8_SEQUENCES,
  insertJsonMember,
  matchingBrace,
  materialize,
  msgpackAddMember,
  positionIn,
  spliceJsonText,
  spliceMsgpack,
  SpliceSet,
} from './mutations.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

describe('byte mutations', () => {
  it('flips exactly one bit', () => {
    const out = applyByteMutation(bytes('AAAA'), { kind: 'bit-flip', at: 6, bit: 5 });
    expect(out.toString('latin1')).toBe('AAaA'); // 6 mod 4 = 2; 0x41 ^ 0x20 = 0x61
  });

  it('truncates to fewer bytes, never to the same length', () => {
    expect(applyByteMutation(bytes('abcdef'), { kind: 'truncate', keep: 3 }).toString()).toBe('abc');
    expect(applyByteMutation(bytes('abcdef'), { kind: 'truncate', keep: 6 }).toString()).toBe('');
    expect(applyByteMutation(bytes('abcdef'), { kind: 'truncate', keep: 13 }).toString()).toBe('a');
  });

  it('extends, inserts, deletes, overwrites and repeats at positions taken modulo length + 1', () => {
    expect(applyByteMutation(bytes('ab'), { kind: 'extend', bytes: Uint8Array.from([0x7a]) }).toString()).toBe('abz');
    expect(applyByteMutation(bytes('ab'), { kind: 'insert', at: 4, bytes: Uint8Array.from([0x7a]) }).toString()).toBe('azb');
    expect(applyByteMutation(bytes('abcd'), { kind: 'delete', at: 1, count: 2 }).toString()).toBe('ad');
    expect(applyByteMutation(bytes('abcd'), { kind: 'overwrite', at: 3, bytes: Uint8Array.from([0x7a, 0x7a]) }).toString()).toBe('abcz');
    expect(applyByteMutation(bytes('abcd'), { kind: 'repeat', at: 1, count: 2 }).toString()).toBe('abcbcd');
    expect(applyByteMutation(bytes('ab'), { kind: 'nul', at: 1 })).toEqual(Buffer.from([0x61, 0, 0x62]));
  });

  it('inserts sequences that are not valid UTF-8', () => {
    for (const name of INVALID_UTF8_NAMES) {
      const out = applyByteMutation(Buffer.from('{"a":"b"}'), { kind: 'invalid-utf8', at: 6, sequence: name });
      expect(() => utf8Strict.decode(out), name).toThrow();
      expect(out.length).toBe(9 + INVALID_UTF8_SEQUENCES[name].length);
    }
  });

  it('never modifies its input and never throws, for any mutation and any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(byteMutationArb(), { maxLength: 4 }), (input, mutations) => {
        const copy = Buffer.from(input);
        const out = applyByteMutations(input, mutations);
        expect(Buffer.from(input)).toEqual(copy);
        expect(out).toBeInstanceOf(Buffer);
      }),
    );
  });

  it('positions are in [0, length]', () => {
    fc.assert(fc.property(fc.integer(), fc.nat({ max: 1000 }), (at, len) => positionIn(at, len) >= 0 && positionIn(at, len) <= len));
  });
});

describe('duplicate keys', () => {
  it('adds a JSON member first (the original wins in JSON.parse) or last (the new one wins)', () => {
    const text = '{"a":1,"b":{"c":"}"}}';
    const first = insertJsonMember(text, 0, 'a', '2', 'first');
    const last = insertJsonMember(text, 0, 'a', '2', 'last');
    expect(first).toBe('{"a":2,"a":1,"b":{"c":"}"}}');
    expect(last).toBe('{"a":1,"b":{"c":"}"},"a":2}');
    expect((JSON.parse(first) as { a: number }).a).toBe(1);
    expect((JSON.parse(last) as { a: number }).a).toBe(2);
    expect(insertJsonMember('{}', 0, 'k', 'null', 'last')).toBe('{"k":null}');
    expect(insertJsonMember('{}', 0, 'k', 'null', 'first')).toBe('{"k":null}');
  });

  it('finds the brace closing an object, skipping strings', () => {
    const text = '{"x":"{\\"}","y":[{}]} tail';
    expect(matchingBrace(text, 0)).toBe(text.indexOf(' tail') - 1);
    expect(matchingBrace('{"a":[}', 0)).toBe(-1);
  });

  it('adds a MessagePack map member; the decoder keeps the last one', () => {
    const map = encodeBody('msgpack', { a: 1, b: 'x' });
    const last = msgpackAddMember(map, 'a', encodeBody('msgpack', 2), 'last');
    const first = msgpackAddMember(map, 'a', encodeBody('msgpack', 2), 'first');
    const decodedLast = decodeBody('msgpack', last);
    const decodedFirst = decodeBody('msgpack', first);
    expect(decodedLast.ok && decodedLast.value).toEqual({ a: 2, b: 'x' });
    expect(decodedFirst.ok && decodedFirst.value).toEqual({ a: 1, b: 'x' });
    expect(msgpackAddMember(Buffer.from([0xc0]), 'a', Buffer.from([0xc0]), 'last')).toEqual(Buffer.from([0xc0]));
  });
});

describe('splices', () => {
  it('replaces a marker with deep nesting in JSON text and in MessagePack bytes', () => {
    const set = new SpliceSet('t');
    const value = { x: materialize({ kind: 'deep-nesting', depth: 3, container: 'array' }, set) };
    expect(spliceJsonText(JSON.stringify(value), set.splices)).toBe('{"x":[[[null]]]}');
    const packed = spliceMsgpack(encodeBody('msgpack', value), set.splices);
    const decoded = decodeBody('msgpack', packed);
    expect(decoded.ok && decoded.value).toEqual({ x: [[[null]]] });
  });

  it('replaces a marker with raw content, and in a JSON string nested in JSON (escaped once more)', () => {
    const set = new SpliceSet('r');
    const marker = set.addRaw('{"a":1,"a":2}');
    expect(spliceJsonText(JSON.stringify({ s: marker }), set.splices)).toBe('{"s":{"a":1,"a":2}}');
    const nested = JSON.stringify({ body: JSON.stringify({ s: marker }) });
    expect(JSON.parse(JSON.parse(spliceJsonText(nested, set.splices)).body as string)).toEqual({ s: { a: 2 } });
  });

  it('builds nesting deeper than JSON.stringify can', () => {
    const text = deepJsonText(50_000, 'object');
    expect(text.startsWith('{"a":{"a":')).toBe(true);
    expect(text.length).toBe(50_000 * 6 + 4);
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(deepMsgpack(2, 'object')).toEqual(Buffer.from([0x81, 0xa1, 0x61, 0x81, 0xa1, 0x61, 0xc0]));
  });

  it('materializes long strings and NUL strings', () => {
    const set = new SpliceSet();
    expect(materialize({ kind: 'long-string', length: 5, char: 'é' }, set)).toBe('ééééé');
    expect(materialize({ kind: 'nul-string', text: 'ab', at: 1 }, set)).toBe('a\u0000b');
    expect(set.splices).toHaveLength(0);
  });
});
