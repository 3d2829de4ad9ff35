import fc from 'fast-check';
import { Packr, pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { type FastMessage, FastMessageSchema, decodeFastMessage, encodeFastMessage, encodeFastMessageBytes, isFastMessage } from './fast-message.js';

const arbMessage: fc.Arbitrary<FastMessage> = fc.oneof(
  fc.record({
    version: fc.constant(1 as const),
    type: fc.constant('request' as const),
    id: fc.nat(0xffffffff),
    method: fc.string({ minLength: 1, maxLength: 64 }),
    params: fc.option(fc.uint8Array({ maxLength: 70_000 }), { nil: undefined }),
  }),
  fc.record({
    version: fc.constant(1 as const),
    type: fc.constant('notification' as const),
    method: fc.string({ minLength: 1, maxLength: 64 }),
    params: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({ version: fc.constant(1 as const), type: fc.constant('response' as const), id: fc.nat(0xffffffff), result: fc.uint8Array({ maxLength: 70_000 }) }),
  fc.record({
    version: fc.constant(1 as const),
    type: fc.constant('response' as const),
    id: fc.nat(0xffffffff),
    error: fc.record({ code: fc.constantFrom('UNKNOWN_METHOD', 'BAD_MESSAGE'), message: fc.string({ maxLength: 100 }) }),
  }),
);

function withoutUndefined(m: FastMessage): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined));
}

describe('FastMessage codec', () => {
  it('head followed by tail is the MessagePack encoding any decoder reads back (bin8, bin16 and bin32 lengths)', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const bytes = encodeFastMessageBytes(m);
        const generic = unpack(bytes) as Record<string, unknown>;
        const expected = withoutUndefined(m);
        expect(Object.keys(generic).sort()).toEqual(Object.keys(expected).sort());
        for (const key of ['params', 'result'] as const) {
          if (expected[key] !== undefined) expect(Buffer.compare(generic[key] as Uint8Array, expected[key] as Uint8Array)).toBe(0);
        }
        const decoded = decodeFastMessage(bytes);
        expect(decoded.ok).toBe(true);
        if (decoded.ok) expect(decoded.message.id).toBe(m.id);
      }),
      { numRuns: 200 },
    );
  });

  it.each([0, 1, 255, 256, 65_535, 65_536, 1 << 20])('writes a %i-byte payload with the smallest bin header any decoder reads', (n) => {
    const params = new Uint8Array(n).map((_, i) => i * 7);
    const bytes = encodeFastMessageBytes({ version: 1, type: 'request', id: 1, method: 'echo', params });
    const plain = new Packr({ useRecords: false, variableMapSize: true });
    expect(Buffer.compare(bytes, plain.pack({ version: 1, type: 'request', id: 1, method: 'echo', params: Buffer.from(params) }))).toBe(0);
  });

  it('does not copy the payload into the head', () => {
    const params = new Uint8Array(1 << 20);
    const { head, tail, totalBytes } = encodeFastMessage({ version: 1, type: 'request', id: 7, method: 'sink', params });
    expect(tail).toBe(params);
    expect(head.byteLength).toBeLessThan(64);
    expect(totalBytes).toBe(head.byteLength + params.byteLength);
  });

  it('decodes params as a view into the given bytes (zero copy)', () => {
    const bytes = encodeFastMessageBytes({ version: 1, type: 'request', id: 1, method: 'echo', params: new Uint8Array([1, 2, 3]) });
    const decoded = decodeFastMessage(bytes);
    expect(decoded.ok && decoded.message.params!.buffer).toBe(bytes.buffer);
  });

  it.each([
    ['a request without id', { version: 1, type: 'request', method: 'echo' }, 'needs an id'],
    ['a response with both result and error', { version: 1, type: 'response', id: 1, result: Buffer.alloc(0), error: { code: 'X', message: '' } }, 'exactly one'],
    ['a notification with an id', { version: 1, type: 'notification', id: 3, method: 'sink' }, 'no id'],
    ['version 2', { version: 2, type: 'notification', method: 'sink' }, 'version'],
    ['an unknown field', { version: 1, type: 'notification', method: 'sink', extra: 1 }, 'extra'],
    ['params as a string', { version: 1, type: 'request', id: 1, method: 'echo', params: 'abc' }, 'params'],
  ])('rejects %s with a message saying what is wrong', (_name, value, fragment) => {
    const decoded = decodeFastMessage(pack(value));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toContain(fragment);
  });

  it('rejects bytes that are not one MessagePack value', () => {
    const decoded = decodeFastMessage(Buffer.from([0x81, 0xa1]));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toMatch(/^FastMessage: body is not valid MessagePack/);
  });
});

describe('isFastMessage (the hot-path check)', () => {
  const field = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.integer({ min: -2, max: 2 ** 33 }),
    fc.double(),
    fc.string({ maxLength: 70 }),
    fc.uint8Array({ maxLength: 4 }),
    fc.constantFrom('request', 'response', 'notification', 'echo', ''),
    fc.record({ code: fc.oneof(fc.string({ maxLength: 70 }), fc.integer()), message: fc.string({ maxLength: 10 }) }, { requiredKeys: [] }),
    fc.array(fc.nat(), { maxLength: 2 }),
  );
  const candidate = fc.oneof(
    arbMessage.map((m) => ({ ...m }) as Record<string, unknown>),
    fc.record(
      {
        version: fc.oneof(fc.constant(1), field),
        type: fc.oneof(fc.constantFrom('request', 'response', 'notification'), field),
        id: field,
        method: field,
        params: field,
        result: field,
        error: field,
        extra: field,
      },
      { requiredKeys: [] },
    ),
  );

  it('accepts exactly what the zod schema accepts', () => {
    fc.assert(
      fc.property(candidate, (value) => {
        const clean = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
        expect(isFastMessage(clean)).toBe(FastMessageSchema.safeParse(clean).success);
      }),
      { numRuns: 3000 },
    );
  });
});
