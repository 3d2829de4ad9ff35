import * as fc from 'fast-check';
import type { Capabilities, ModeInfo } from '../../harness/case.js';
import type { FuzzArbitraryContext } from '../../harness/fuzz-property.js';
import type {
  EnvelopeIdChoice,
  FieldMutation,
  FieldScope,
  FrameTemplate,
  FuzzSignalType,
  IdRef,
  MutatedFrameTemplate,
  SignalTemplate,
} from './frame-build.js';
import { HUGE_NUMBERS, INVALID_UTF8_NAMES, type ByteMutation, type WeirdValue } from './mutations.js';

/**
 * fast-check arbitraries for every layer of the protocol: signals with random field
 * values (§6.1), envelopes and ids (§4), unusual values (huge numbers, wrong types,
 * long strings, deep nesting, NUL, lone surrogates), byte mutations, and write plans.
 * Pure: they depend only on the mode and the declared capabilities, so a replay with
 * the same seed and path rebuilds the same input.
 */

const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'] as const;

/** Strings of every kind: printable ASCII, any code point (lone surrogates included), graphemes. */
export function anyString(maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength }),
    fc.string({ maxLength, unit: 'binary' }),
    fc.string({ maxLength, unit: 'grapheme' }),
  );
}

/** Numbers at the edges, as values of a field. */
export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...HUGE_NUMBERS),
  fc.double(),
  fc.integer(),
);

/** Drops undefined fields (fc.record with optional keys leaves none, but `fc.option` does). */
function defined(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out;
}

/** `arb` or absent, each half of the time. */
const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });
/** `arb` once in `oneIn` times, else absent. */
const rarely = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

/** An id reference: fresh (unknown to the server), an earlier signal of the input, or a literal (often invalid). */
export function idRefArb(): fc.Arbitrary<IdRef> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant<IdRef>({ kind: 'fresh' }) },
    { weight: 4, arbitrary: fc.nat({ max: 7 }).map((index): IdRef => ({ kind: 'earlier', index })) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.constantFrom<unknown>('', 'x'.repeat(129), null, 0, true), anyString(12), fc.integer())
        .map((value): IdRef => ({ kind: 'literal', value })),
    },
  );
}

function delayArb(caps: Capabilities): fc.Arbitrary<number | undefined> {
  return caps.delay === true ? rarely(fc.integer({ min: 0, max: 10 }), 6) : fc.constant(undefined);
}

const extraField = rarely(fc.jsonValue({ maxDepth: 2 }), 4);

/** A PREPARE's fields: mostly in range, sometimes not (§6.1, §6.6). */
function prepareFields(caps: Capabilities): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      symbol: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...SYMBOLS) }, { weight: 1, arbitrary: anyString(40) }),
      side: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('Buy', 'Sell') }, { weight: 1, arbitrary: fc.constantFrom('buy', 'SELL', '', 'Hold') }),
      qty: fc.oneof({ weight: 6, arbitrary: fc.double({ min: 0.0001, max: 50, noNaN: true }) }, { weight: 1, arbitrary: edgeNumber }),
      leverage: opt(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 25 }) }, { weight: 1, arbitrary: edgeNumber })),
      price: opt(fc.oneof({ weight: 4, arbitrary: fc.double({ min: 1, max: 100_000, noNaN: true }) }, { weight: 1, arbitrary: edgeNumber })),
      timestamp: opt(fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), edgeNumber)),
      delay_ms: delayArb(caps),
      x_fuzz: extraField,
    })
    .map(defined);
}

/** The signal types the fuzzer may send to a target with these capabilities, with weights. */
function typeWeights(caps: Capabilities): Array<{ type: FuzzSignalType; weight: number }> {
  const list: Array<{ type: FuzzSignalType; weight: number }> = [
    { type: 'PREPARE', weight: 4 },
    { type: 'CONFIRM', weight: 3 },
    { type: 'ABORT', weight: 3 },
    { type: 'STATUS', weight: 1 },
  ];
  if (caps.ledger !== undefined && caps.ledger !== false) list.push({ type: 'MESSAGE', weight: 1 });
  if (caps.ledger === true) list.push({ type: 'LEDGER', weight: 1 });
  return list;
}

/** A signal with random field values (§6.1), of a type the target has (MESSAGE/LEDGER only with `ledger`). */
export function signalTemplateArb(caps: Capabilities): fc.Arbitrary<SignalTemplate> {
  const byType = (type: FuzzSignalType): fc.Arbitrary<SignalTemplate> => {
    switch (type) {
      case 'PREPARE':
        return fc.record({ type: fc.constant(type), ref: idRefArb(), fields: prepareFields(caps) });
      case 'CONFIRM':
        return fc.record({ type: fc.constant(type), ref: idRefArb(), fields: fc.record({ timestamp: opt(fc.integer({ min: 0 })), delay_ms: delayArb(caps), x_fuzz: extraField }).map(defined) });
      case 'ABORT':
        return fc.record({
          type: fc.constant(type),
          ref: idRefArb(),
          fields: fc.record({ reason: opt(fc.oneof(anyString(30), fc.constant('r'.repeat(1025)))), delay_ms: delayArb(caps), x_fuzz: extraField }).map(defined),
        });
      case 'STATUS':
        return fc.record({ type: fc.constant(type), ref: fc.constant<IdRef>({ kind: 'fresh' }), fields: fc.record({ x_fuzz: extraField }).map(defined) });
      case 'MESSAGE':
        return fc.record({
          type: fc.constant(type),
          ref: idRefArb(),
          fields: fc.record({ topic: opt(anyString(20)), payload: opt(fc.jsonValue({ maxDepth: 2 })), delay_ms: delayArb(caps) }).map(defined),
        });
      case 'LEDGER':
        return fc.record({
          type: fc.constant(type),
          ref: fc.constant<IdRef>({ kind: 'fresh' }),
          fields: fc.record({ from: opt(fc.oneof(fc.nat(), edgeNumber)), limit: opt(fc.oneof(fc.integer({ min: 1, max: 20 }), edgeNumber)) }).map(defined),
        });
    }
  };
  return fc.oneof(...typeWeights(caps).map(({ type, weight }) => ({ weight, arbitrary: byType(type) })));
}

/** An envelope id (§4.1): none, a unique index, or any value (some invalid: too long, not an integer). */
export function envelopeIdArb(): fc.Arbitrary<EnvelopeIdChoice> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<EnvelopeIdChoice>({ kind: 'none' }) },
    { weight: 4, arbitrary: fc.constant<EnvelopeIdChoice>({ kind: 'index' }) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.integer(), fc.maxSafeInteger(), anyString(20), fc.string({ minLength: 120, maxLength: 140 }), fc.double())
        .map((value): EnvelopeIdChoice => ({ kind: 'value', value })),
    },
  );
}

/** A valid frame with random field values, in the mode's framing and auth. */
export function frameTemplateArb(ctx: FuzzArbitraryContext): fc.Arbitrary<FrameTemplate> {
  const binary = ctx.mode.auth === 'hmac-v2' && ctx.mode.framing.codec === 'msgpack' ? fc.boolean() : fc.constant(false);
  return fc.record({ signal: signalTemplateArb(ctx.capabilities), id: envelopeIdArb(), binaryBody: binary });
}

/**
 * Depths of deep nesting, around the limits of common recursive encoders and decoders
 * (V8's JSON.stringify and msgpackr overflow their stack between 4 000 and 5 000 levels;
 * JSON.parse does not), so every run reaches past them instead of hoping a random
 * integer does.
 */
export const DEEP_NESTING_DEPTHS: readonly number[] = [500, 1_000, 2_000, 4_300, 5_000, 10_000, 100_000];

/** An unusual value: huge numbers, wrong types, long strings, deep nesting, NUL, any JSON. */
export function weirdValueArb(): fc.Arbitrary<WeirdValue> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HUGE_NUMBERS).map((value): WeirdValue => ({ kind: 'huge-number', value })) },
    {
      weight: 3,
      arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, '', [], {}, [1, 2], { a: 1 }, '0', 'null').map((value): WeirdValue => ({ kind: 'literal', value })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ length: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1_024, 65_535, 65_536, 100_000)), char: fc.constantFrom('a', 'é', '😀', '\\', '"', '\n', '\u2028', '0') })
        .map((r): WeirdValue => ({ kind: 'long-string', ...r })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ depth: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constantFrom(...DEEP_NESTING_DEPTHS)), container: fc.constantFrom<'array' | 'object'>('array', 'object') })
        .map((r): WeirdValue => ({ kind: 'deep-nesting', ...r })),
    },
    { weight: 1, arbitrary: fc.record({ text: fc.string({ maxLength: 8 }), at: fc.nat() }).map((r): WeirdValue => ({ kind: 'nul-string', ...r })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value): WeirdValue => ({ kind: 'literal', value })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map((value): WeirdValue => ({ kind: 'literal', value })) },
  );
}

/** Envelope fields of an auth mode (§4.2–§4.4), plus an unknown one. */
export function envelopeFields(mode: ModeInfo): readonly string[] {
  switch (mode.auth) {
    case 'none':
      return ['id', 'signal', 'x_fuzz'];
    case 'hmac-json':
      return ['id', 'signal', 'signature', 'x_fuzz'];
    case 'hmac-v2':
      return ['id', 'ts', 'nonce', 'body', 'sig', 'x_fuzz'];
  }
}

/** Signal fields of §6.1, plus an unknown one. */
export const SIGNAL_FIELDS: readonly string[] = ['type', 'signal_id', 'symbol', 'side', 'qty', 'leverage', 'price', 'timestamp', 'delay_ms', 'reason', 'message_id', 'x_fuzz'];

/** A field mutation of the envelope or of the signal. */
export function fieldMutationArb(mode: ModeInfo): fc.Arbitrary<FieldMutation> {
  const target = fc.oneof(
    fc.record({ scope: fc.constant<FieldScope>('envelope'), field: fc.constantFrom(...envelopeFields(mode)) }),
    fc.record({ scope: fc.constant<FieldScope>('signal'), field: fc.constantFrom(...SIGNAL_FIELDS) }),
  );
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ t: target, value: weirdValueArb() }).map(({ t, value }): FieldMutation => ({ kind: 'set', ...t, value })) },
    { weight: 2, arbitrary: target.map((t): FieldMutation => ({ kind: 'delete', ...t })) },
    {
      weight: 2,
      arbitrary: fc
        .record({ t: target, text: fc.oneof(fc.constantFrom(' ', 'z', '0', 'ff', '\u0000', '\n', '\t'), anyString(6)) })
        .map(({ t, text }): FieldMutation => ({ kind: 'append', ...t, text: text === '' ? 'z' : text })),
    },
    { weight: 1, arbitrary: fc.record({ t: target, keep: fc.nat() }).map(({ t, keep }): FieldMutation => ({ kind: 'truncate', ...t, keep })) },
    {
      weight: 2,
      arbitrary: fc
        .record({ t: target, value: weirdValueArb(), position: fc.constantFrom<'first' | 'last'>('first', 'last') })
        .map(({ t, value, position }): FieldMutation => ({ kind: 'duplicate-key', ...t, value, position })),
    },
  );
}

/** A byte mutation: bit flips, truncation, extension, insertion, deletion, invalid UTF-8, NUL, repetition. */
export function byteMutationArb(): fc.Arbitrary<ByteMutation> {
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 16 });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }).map((r): ByteMutation => ({ kind: 'bit-flip', ...r })) },
    { weight: 2, arbitrary: fc.nat().map((keep): ByteMutation => ({ kind: 'truncate', keep })) },
    { weight: 2, arbitrary: bytes.map((b): ByteMutation => ({ kind: 'extend', bytes: b })) },
    { weight: 2, arbitrary: fc.record({ at: fc.nat(), bytes }).map((r): ByteMutation => ({ kind: 'insert', ...r })) },
    { weight: 1, arbitrary: fc.record({ at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }).map((r): ByteMutation => ({ kind: 'delete', ...r })) },
    { weight: 1, arbitrary: fc.record({ at: fc.nat(), bytes }).map((r): ByteMutation => ({ kind: 'overwrite', ...r })) },
    { weight: 2, arbitrary: fc.record({ at: fc.nat(), sequence: fc.constantFrom(...INVALID_UTF8_NAMES) }).map((r): ByteMutation => ({ kind: 'invalid-utf8', ...r })) },
    { weight: 1, arbitrary: fc.nat().map((at): ByteMutation => ({ kind: 'nul', at })) },
    { weight: 1, arbitrary: fc.record({ at: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }).map((r): ByteMutation => ({ kind: 'repeat', ...r })) },
  );
}

/** A mutated frame: at least one field or byte mutation of a valid frame. */
export function mutatedFrameArb(ctx: FuzzArbitraryContext): fc.Arbitrary<MutatedFrameTemplate> {
  return fc
    .record({
      frame: frameTemplateArb(ctx),
      fields: fc.array(fieldMutationArb(ctx.mode), { maxLength: 3 }),
      resign: fc.boolean(),
      body: fc.array(byteMutationArb(), { maxLength: 2 }),
      frameBytes: fc.array(byteMutationArb(), { maxLength: 1 }),
    })
    .filter((t) => t.fields.length + t.body.length + t.frameBytes.length > 0);
}

/** Either a valid or a mutated frame. */
export type AnyFrameTemplate = { readonly kind: 'valid'; readonly frame: FrameTemplate } | { readonly kind: 'mutated'; readonly frame: MutatedFrameTemplate };

/** Mostly valid frames, some mutated ones (integer weights). */
export function anyFrameArb(ctx: FuzzArbitraryContext, validWeight = 3, mutatedWeight = 1): fc.Arbitrary<AnyFrameTemplate> {
  return fc.oneof(
    { weight: validWeight, arbitrary: frameTemplateArb(ctx).map((frame): AnyFrameTemplate => ({ kind: 'valid', frame })) },
    { weight: mutatedWeight, arbitrary: mutatedFrameArb(ctx).map((frame): AnyFrameTemplate => ({ kind: 'mutated', frame })) },
  );
}

/** A plan to split a byte stream: cut points, or pieces of a fixed size (down to one byte). */
export type SplitPlan = { readonly kind: 'cuts'; readonly cuts: readonly number[] } | { readonly kind: 'every'; readonly pieceBytes: number };

/** Split plans for §3.1.3. */
export function splitPlanArb(): fc.Arbitrary<SplitPlan> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 12 }).map((cuts): SplitPlan => ({ kind: 'cuts', cuts })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }).map((pieceBytes): SplitPlan => ({ kind: 'every', pieceBytes })) },
  );
}
