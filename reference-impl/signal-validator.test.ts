import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignalSchema, parseSignal } from '../protocol/index.js';
import { isValidSignal, validateSignal } from './signal-validator.js';

/** Values around every boundary of the §6.1 table. */
const anyNumber = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 10_000, 10_001, 9_999.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity, -Infinity, 1e-300),
  fc.double(),
  fc.integer({ min: -5, max: 10_005 }),
);
const anyString = fc.oneof(
  fc.constantFrom('', 'Buy', 'Sell', 'buy', 'PREPARE', 'MESSAGE', 'x'.repeat(32), 'x'.repeat(33), 'y'.repeat(128), 'y'.repeat(129), 'z'.repeat(1024), 'z'.repeat(1025)),
  // message_id and topic boundaries (§11.1.1): control characters, lone surrogates, 256/257 characters
  fc.constantFrom('a\nb', 'tab\there', '\u0000', 'del\u007f', '\u0080ok', 'lone\ud800', '\udc00', 'pair\u{1F680}', 't'.repeat(256), 't'.repeat(257)),
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20, unit: 'binary' }),
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(anyNumber, anyString, fc.constant(undefined), fc.constant(null), fc.boolean(), fc.constant([]), fc.constant({}));

const DELETE = Symbol('delete');
const FIELDS = ['type', 'signal_id', 'symbol', 'side', 'qty', 'leverage', 'price', 'timestamp', 'delay_ms', 'reason', 'message_id', 'topic', 'payload', 'from', 'limit'] as const;

/** A valid signal of a random type (all optional fields present or not), then 0–2 fields replaced by arbitrary values or deleted. */
const signalArb: fc.Arbitrary<unknown> = fc
  .record({
    type: fc.constantFrom('PREPARE', 'CONFIRM', 'ABORT', 'STATUS', 'MESSAGE', 'LEDGER'),
    signal_id: fc.string({ minLength: 1, maxLength: 128 }),
    symbol: fc.string({ minLength: 1, maxLength: 32 }),
    side: fc.constantFrom('Buy', 'Sell'),
    qty: fc.double({ min: 1e-9, max: 1e9, noNaN: true }),
    leverage: fc.option(fc.double({ min: 1e-9, max: 100, noNaN: true }), { nil: undefined }),
    price: fc.option(fc.double({ min: 1e-9, max: 1e9, noNaN: true }), { nil: undefined }),
    timestamp: fc.option(fc.integer(), { nil: undefined }),
    delay_ms: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
    reason: fc.option(fc.string({ maxLength: 1024 }), { nil: undefined }),
    message_id: fc.string({ minLength: 1, maxLength: 128 }).filter((id) => !/[\u0000-\u001f\u007f]/.test(id)),
    topic: fc.option(fc.string({ minLength: 1, maxLength: 256 }), { nil: undefined }),
    payload: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
    from: fc.option(fc.nat({ max: 1_000_000 }), { nil: undefined }),
    limit: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
    unknown_field: fc.option(anyValue, { nil: undefined }),
  })
  .chain((base) =>
    fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.oneof(anyValue, fc.constant(DELETE))), { maxLength: 2 }).map((mutations) => {
      const obj: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(base)) if (v !== undefined) obj[k] = v;
      for (const [field, value] of mutations) {
        if (value === DELETE) delete obj[field];
        else obj[field] = value;
      }
      return obj;
    }),
  );

describe('hand-written signal validator agrees with the zod schema of record (§6.1)', () => {
  it('accepts exactly what SignalSchema accepts on generated near-valid signals', () => {
    fc.assert(
      fc.property(signalArb, (value) => {
        expect(isValidSignal(value)).toBe(SignalSchema.safeParse(value).success);
      }),
      { numRuns: 30_000 },
    );
  });

  it('agrees on non-object inputs', () => {
    for (const value of [null, undefined, 1, 'PREPARE', [], [{ type: 'STATUS' }], Buffer.from('{}'), { type: 'LEDGER' }, { type: 'MESSAGE' }]) {
      expect(isValidSignal(value)).toBe(SignalSchema.safeParse(value).success);
    }
  });

  it('agrees on message_id and LEDGER boundaries (§11.1)', () => {
    const values: unknown[] = [
      ...['', 'a', 'x'.repeat(128), 'x'.repeat(129), 'a\nb', 'a\rb', '\u001f', '\u007f', '\u0080', 'é✓🚀', 'lone\ud800', '\udfff', 'pair\ud83d\ude80', 5, null].map((message_id) => ({
        type: 'MESSAGE',
        message_id,
      })),
      ...[0, 1, 10_000, 10_001, -1, 1.5, '10', null, Number.MAX_SAFE_INTEGER, 2 ** 53].flatMap((n) => [
        { type: 'LEDGER', from: n },
        { type: 'LEDGER', limit: n },
      ]),
      { type: 'MESSAGE', message_id: 'm', topic: '' },
      { type: 'MESSAGE', message_id: 'm', topic: 't'.repeat(256), payload: { nested: [1, 'two', null] }, timestamp: 1, delay_ms: 10_000 },
      { type: 'MESSAGE', message_id: 'm', payload: undefined },
    ];
    for (const value of values) expect(isValidSignal(value), JSON.stringify(value)).toBe(SignalSchema.safeParse(value).success);
  });

  it('returns zod’s error message for a rejected signal', () => {
    const bad = { type: 'PREPARE', signal_id: 'a', symbol: 'BTC', side: 'Hold', qty: 1 };
    expect(validateSignal(bad)).toEqual(parseSignal(bad));
  });
});
