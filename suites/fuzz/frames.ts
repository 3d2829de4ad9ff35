import * as fc from 'fast-check';
import type { ModeInfo } from '../../harness/case.js';
import { fuzzProperty, type FuzzArbitraryContext, type FuzzProperty } from '../../harness/fuzz-property.js';
import { hmacHex, lpLengthFor, writeLength, type LengthPrefixedFraming } from '../../protocol/index.js';
import { evenPieces, exchangeOnce, FuzzEnv, piecesOf, ONE_WRITE } from './exchange.js';
import {
  anyString,
  frameTemplateArb,
  mutatedFrameArb,
  splitPlanArb,
  type AnyFrameTemplate,
  type SplitPlan,
} from './frame-arbitraries.js';
import {
  bodyOfFrame,
  buildFrame,
  buildMutatedFrame,
  buildSignal,
  frameBody,
  InputState,
  type FrameTemplate,
  type MutatedFrameTemplate,
} from './frame-build.js';

/**
 * Frame-level fuzz properties (docs/SPEC.md §3, §4, §5): valid frames with random
 * field values, mutated frames, malformed signatures, wrong length prefixes and
 * oversize frames. Every reply is judged by the model of frame-model.ts.
 */

/** Builds a valid or mutated frame of an input. */
export function buildAny(env: FuzzEnv, state: InputState, t: AnyFrameTemplate): Buffer {
  return t.kind === 'valid' ? buildFrame(env.ctx, t.frame, state, env.fresh).bytes : buildMutatedFrame(env.ctx, t.frame, state, env.fresh);
}

/** A stream split into even pieces gets at most this many (each costs an event-loop turn). */
export const MAX_SPLIT_PIECES = 64;

/** The pieces of a split plan (even pieces grow so that there are at most {@link MAX_SPLIT_PIECES}). */
export function splitPieces(bytes: Buffer, plan: SplitPlan): Buffer[] {
  if (plan.kind === 'cuts') return piecesOf(bytes, plan.cuts);
  return evenPieces(bytes, Math.max(plan.pieceBytes, Math.ceil(bytes.length / MAX_SPLIT_PIECES)));
}

const lpOnly = (mode: ModeInfo): boolean => mode.framing.kind === 'lp';

// ── fuzz.frame.valid ─────────────────────────────────────────────────────────

interface ValidInput {
  readonly frames: readonly FrameTemplate[];
}

const validFrames: FuzzProperty<ValidInput> = {
  id: 'fuzz.frame.valid',
  section: '5.1',
  level: 'MUST',
  description: 'Valid request frames with random field values, pipelined in one write',
  expected:
    'one well-formed reply per frame, in order, echoing its id, with an outcome the checks of §4.6 allow (INVALID_SIGNAL only for a signal outside §6.1, UNKNOWN_SIGNAL for an id never prepared, RISK_REJECTED above a declared limit)',
  weight: 2,
  arbitrary: (ctx) => fc.record({ frames: fc.array(frameTemplateArb(ctx), { minLength: 1, maxLength: 8 }) }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const bytes = Buffer.concat(input.frames.map((t) => buildFrame(ctx, t, state, env.fresh).bytes));
    return exchangeOnce(env, bytes);
  },
};

// ── fuzz.frame.mutated ───────────────────────────────────────────────────────

interface MutatedInput {
  readonly before: readonly FrameTemplate[];
  readonly mutated: MutatedFrameTemplate;
  readonly after: readonly FrameTemplate[];
}

const mutatedFrames: FuzzProperty<MutatedInput> = {
  id: 'fuzz.frame.mutated',
  section: '4.6',
  level: 'MUST',
  description:
    'A valid frame mutated: fields set to huge numbers, wrong types, long strings, deep nesting, NUL; duplicated keys; bit flips, truncation, extension, invalid UTF-8 (optionally re-signed), between valid frames',
  expected:
    'the reply §4.6 prescribes for the bytes actually sent: IPC_ERROR for an undecodable body (§3.5), INVALID_SIGNATURE for a changed signed content or a malformed signature (§4.5), INVALID_SIGNAL for a signal outside §6.1, acceptance only when the mutation left the frame valid; the connection stays open',
  weight: 3,
  arbitrary: (ctx) =>
    fc.record({
      before: fc.array(frameTemplateArb(ctx), { maxLength: 2 }),
      mutated: mutatedFrameArb(ctx),
      after: fc.array(frameTemplateArb(ctx), { maxLength: 2 }),
    }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const frames = [
      ...input.before.map((t) => buildFrame(ctx, t, state, env.fresh).bytes),
      buildMutatedFrame(ctx, input.mutated, state, env.fresh),
      ...input.after.map((t) => buildFrame(ctx, t, state, env.fresh).bytes),
    ];
    return exchangeOnce(env, Buffer.concat(frames));
  },
};

// ── fuzz.auth.signature ──────────────────────────────────────────────────────

/** A change to the signature field of an HMAC envelope (§4.5). */
export type SignatureVariant =
  | { readonly kind: 'suffix'; readonly text: string }
  | { readonly kind: 'prefix'; readonly text: string }
  | { readonly kind: 'truncate'; readonly keep: number }
  /** Upper-case hex digits: still valid (§4.5 allows 0-9a-fA-F). */
  | { readonly kind: 'uppercase' }
  | { readonly kind: 'replace-char'; readonly at: number; readonly char: string }
  | { readonly kind: 'wrong-type'; readonly value: unknown }
  | { readonly kind: 'missing' }
  | { readonly kind: 'doubled' }
  /** 64 hex digits of the HMAC of other data: the format is right, the comparison fails. */
  | { readonly kind: 'other-mac' };

/** Signature variants; suffixes (characters after the 64 digits) are the most frequent. */
export function signatureVariantArb(): fc.Arbitrary<SignatureVariant> {
  const tail = fc.oneof(fc.constantFrom('0', 'f', 'zz', ' ', '\t', '\n', '\u0000', '=', 'G'), anyString(4).filter((s) => s.length > 0));
  return fc.oneof(
    { weight: 4, arbitrary: tail.map((text): SignatureVariant => ({ kind: 'suffix', text })) },
    { weight: 1, arbitrary: tail.map((text): SignatureVariant => ({ kind: 'prefix', text })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 63 }).map((keep): SignatureVariant => ({ kind: 'truncate', keep })) },
    { weight: 1, arbitrary: fc.constant<SignatureVariant>({ kind: 'uppercase' }) },
    {
      weight: 1,
      arbitrary: fc
        .record({ at: fc.integer({ min: 0, max: 63 }), char: fc.constantFrom('g', 'G', 'x', ' ', '-', 'é', '\u0130') })
        .map((r): SignatureVariant => ({ kind: 'replace-char', ...r })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(null, 0, 1234, true, [], {}, ['a'.repeat(64)]).map((value): SignatureVariant => ({ kind: 'wrong-type', value })),
    },
    { weight: 1, arbitrary: fc.constant<SignatureVariant>({ kind: 'missing' }) },
    { weight: 1, arbitrary: fc.constant<SignatureVariant>({ kind: 'doubled' }) },
    { weight: 1, arbitrary: fc.constant<SignatureVariant>({ kind: 'other-mac' }) },
  );
}

/** Applies a signature variant to the envelope field `field` (pure apart from the HMAC of `other-mac`). */
export function applySignatureVariant(env: Record<string, unknown>, field: string, v: SignatureVariant, secret: string): void {
  const sig = typeof env[field] === 'string' ? (env[field] as string) : '';
  switch (v.kind) {
    case 'suffix':
      env[field] = sig + v.text;
      return;
    case 'prefix':
      env[field] = v.text + sig;
      return;
    case 'truncate':
      env[field] = sig.slice(0, v.keep);
      return;
    case 'uppercase':
      env[field] = sig.toUpperCase();
      return;
    case 'replace-char': {
      const at = Math.min(Math.max(0, v.at), Math.max(0, sig.length - 1));
      env[field] = sig.slice(0, at) + v.char + sig.slice(at + 1);
      return;
    }
    case 'wrong-type':
      env[field] = v.value;
      return;
    case 'missing':
      delete env[field];
      return;
    case 'doubled':
      env[field] = sig + sig;
      return;
    case 'other-mac':
      env[field] = hmacHex(secret, 'fuzz: some other signed data');
      return;
  }
}

interface SignatureInput {
  readonly frame: FrameTemplate;
  readonly variant: SignatureVariant;
  readonly after: readonly FrameTemplate[];
}

const signatures: FuzzProperty<SignatureInput> = {
  id: 'fuzz.auth.signature',
  section: '4.5',
  level: 'MUST',
  description: 'A valid signed frame whose signature is changed: characters before or after the 64 hex digits, shortened, doubled, non-hex, wrong type, missing, the MAC of other data',
  expected:
    'a signature that is not exactly 64 hex digits, or does not match, is never accepted: INVALID_SIGNATURE (IPC_ERROR only where the envelope shape fails first, §4.6); upper-case hex digits are valid; the connection stays open',
  appliesTo: (mode) => mode.auth !== 'none',
  weight: 1.5,
  arbitrary: (ctx) =>
    fc.record({ frame: frameTemplateArb(ctx), variant: signatureVariantArb(), after: fc.array(frameTemplateArb(ctx), { maxLength: 1 }) }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const built = buildFrame(ctx, input.frame, state, env.fresh);
    const envelope = { ...built.envelope };
    applySignatureVariant(envelope, ctx.mode.auth === 'hmac-v2' ? 'sig' : 'signature', input.variant, ctx.mode.secret);
    const frames = [ctx.encodeRaw(envelope), ...input.after.map((t) => buildFrame(ctx, t, state, env.fresh).bytes)];
    return exchangeOnce(env, Buffer.concat(frames));
  },
};

// ── fuzz.frame.length-prefix ─────────────────────────────────────────────────

/** A wrong length prefix (§3.3.1). */
export type LengthVariant =
  | { readonly kind: 'zero' }
  | { readonly kind: 'one-less' }
  | { readonly kind: 'one-more' }
  | { readonly kind: 'max' }
  /** The right length written in the other byte order (little-endian where big is expected, and back). */
  | { readonly kind: 'swapped-endian' }
  | { readonly kind: 'delta'; readonly by: number }
  | { readonly kind: 'value'; readonly value: number };

/** The value written into the prefix for a frame whose right length is `right`. */
export function lengthFieldFor(spec: LengthPrefixedFraming, right: number, v: LengthVariant): { value: number; endian: 'be' | 'le' } {
  const max = spec.prefixBytes === 2 ? 0xffff : 0xffffffff;
  const clamp = (n: number): number => Math.min(max, Math.max(0, n));
  switch (v.kind) {
    case 'zero':
      return { value: 0, endian: spec.endian };
    case 'one-less':
      return { value: clamp(right - 1), endian: spec.endian };
    case 'one-more':
      return { value: clamp(right + 1), endian: spec.endian };
    case 'max':
      return { value: max, endian: spec.endian };
    case 'swapped-endian':
      return { value: right, endian: spec.endian === 'be' ? 'le' : 'be' };
    case 'delta':
      return { value: clamp(right + v.by), endian: spec.endian };
    case 'value':
      return { value: v.value % (max + 1), endian: spec.endian };
  }
}

/** Length variants. */
export function lengthVariantArb(): fc.Arbitrary<LengthVariant> {
  return fc.oneof(
    fc.constantFrom<LengthVariant>({ kind: 'zero' }, { kind: 'one-less' }, { kind: 'one-more' }, { kind: 'max' }, { kind: 'swapped-endian' }),
    fc.integer({ min: -64, max: 64 }).map((by): LengthVariant => ({ kind: 'delta', by })),
    fc.nat({ max: 0xffffffff }).map((value): LengthVariant => ({ kind: 'value', value })),
  );
}

interface LengthInput {
  readonly frames: readonly FrameTemplate[];
  readonly target: number;
  readonly variant: LengthVariant;
  readonly split: SplitPlan;
}

const lengthPrefixes: FuzzProperty<LengthInput> = {
  id: 'fuzz.frame.length-prefix',
  section: '3.3.1',
  level: 'MUST',
  description: 'Valid frames, one with a wrong length prefix: 0, one less, one more, the largest value, the other byte order, off by up to 64, any value; written in pieces',
  expected:
    'each frame as the prefix delimits it: IPC_ERROR then close for a length too small for the fixed parts, FRAME_TOO_LARGE then close beyond maxFrameBytes, IPC_ERROR for an empty body or an undecodable one; a frame left incomplete is discarded without a reply at our close',
  appliesTo: lpOnly,
  weight: 1.5,
  arbitrary: (ctx) =>
    fc.record({
      frames: fc.array(frameTemplateArb(ctx), { minLength: 1, maxLength: 3 }),
      target: fc.nat(),
      variant: lengthVariantArb(),
      split: splitPlanArb(),
    }),
  async run(input, ctx) {
    const spec = ctx.mode.framing as LengthPrefixedFraming;
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const frames = input.frames.map((t) => buildFrame(ctx, t, state, env.fresh).bytes);
    const i = input.target % frames.length;
    const frame = Buffer.from(frames[i]!);
    const right = lpLengthFor(spec, frame.length - spec.prefixBytes - spec.header.length);
    const { value, endian } = lengthFieldFor(spec, right, input.variant);
    writeLength(frame, spec.prefixBytes, endian, value);
    ctx.note(`frame ${i + 1}: length field ${value} (${endian}) instead of ${right}`);
    frames[i] = frame;
    const bytes = Buffer.concat(frames);
    return exchangeOnce(env, bytes, ONE_WRITE, splitPieces(bytes, input.split));
  },
};

// ── fuzz.frame.oversize ──────────────────────────────────────────────────────

/** An oversize frame, or one exactly at the limit. */
export type OversizeVariant =
  | {
      readonly kind: 'over';
      /** Body bytes beyond maxFrameBytes. */
      readonly excessBytes: number;
      readonly content: 'request' | 'garbage';
      /** ndjson: the newline is sent after the body. */
      readonly terminated: boolean;
      /** lp: body bytes sent after the prefix (the rest is never sent). */
      readonly sentBodyBytes: number;
      /** lp: announce the largest length the prefix holds. */
      readonly maxPrefix: boolean;
    }
  | { readonly kind: 'at-limit'; readonly content: 'request' | 'garbage' };

interface OversizeInput {
  readonly before: readonly FrameTemplate[];
  readonly frame: FrameTemplate;
  readonly variant: OversizeVariant;
  readonly cuts: readonly number[];
}

/** Largest body a framing's prefix can announce. */
function announceableBody(mode: ModeInfo): number {
  const f = mode.framing;
  if (f.kind === 'ndjson') return Number.POSITIVE_INFINITY;
  const max = f.prefixBytes === 2 ? 0xffff : 0xffffffff;
  return max - f.header.length - (f.lengthIncludes === 'frame' ? f.prefixBytes : 0);
}

/**
 * The body of a request padded (through an unknown signal field, §6.1) to exactly
 * `bodyBytes`, or undefined when that size cannot be hit.
 */
function paddedRequestBody(env: FuzzEnv, t: FrameTemplate, state: InputState, bodyBytes: number): Buffer | undefined {
  const { ctx, fresh } = env;
  const signal = buildSignal(t.signal, state, fresh);
  let pad = 0;
  for (let attempt = 0; attempt < 8; attempt++) {
    const opts = ctx.mode.auth === 'hmac-v2' ? { id: 1, ts: fresh.nowMs(), nonce: fresh.nonce() } : { id: 1 };
    const body = bodyOfFrame(ctx.mode, ctx.encode({ ...signal, x_pad: 'x'.repeat(pad) }, opts));
    if (body.length === bodyBytes) return body;
    pad += bodyBytes - body.length;
    if (pad < 0) return undefined;
  }
  return undefined;
}

const oversize: FuzzProperty<OversizeInput> = {
  id: 'fuzz.frame.oversize',
  section: '3.1.1',
  level: 'MUST',
  description:
    'A frame beyond maxFrameBytes (a padded request or garbage; ndjson with or without its newline; lp with the prefix announcing it and part of the body), after valid frames, in pieces; or a frame exactly at the limit',
  expected:
    'the frames before it answered, then one complete FRAME_TOO_LARGE reply and a close, as soon as the limit is passed (§3.1.1, §5.6); a frame of exactly maxFrameBytes is processed like any other',
  requires: ['maxFrameBytes'],
  appliesTo: (mode) => announceableBody(mode) > mode.framing.maxFrameBytes,
  weight: 0.7,
  timeoutMs: 20_000,
  arbitrary: (ctx: FuzzArbitraryContext) =>
    fc.record({
      before: fc.array(frameTemplateArb(ctx), { maxLength: 2 }),
      frame: frameTemplateArb(ctx),
      variant: fc.oneof(
        {
          weight: 4,
          arbitrary: fc.record({
            kind: fc.constant<'over'>('over'),
            excessBytes: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 65_536 })),
            content: fc.constantFrom<'request' | 'garbage'>('request', 'garbage'),
            terminated: fc.boolean(),
            sentBodyBytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4_096 })),
            maxPrefix: fc.boolean(),
          }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant<'at-limit'>('at-limit'), content: fc.constantFrom<'request' | 'garbage'>('request', 'garbage') }) },
      ),
      cuts: fc.array(fc.nat(), { maxLength: 4 }),
    }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const max = ctx.capabilities.maxFrameBytes ?? ctx.mode.framing.maxFrameBytes;
    const v = input.variant;
    const size = v.kind === 'at-limit' ? max : max + v.excessBytes;
    const body = (v.content === 'request' ? paddedRequestBody(env, input.frame, state, size) : undefined) ?? Buffer.alloc(size, 'x');
    const f = ctx.mode.framing;
    let big: Buffer;
    if (v.kind === 'at-limit') big = frameBody(ctx.mode, body);
    else if (f.kind === 'ndjson') big = v.terminated ? Buffer.concat([body, Buffer.from('\n')]) : body;
    else {
      const prefix = Buffer.alloc(f.prefixBytes);
      const length = v.maxPrefix ? (f.prefixBytes === 2 ? 0xffff : 0xffffffff) : lpLengthFor(f, body.length);
      writeLength(prefix, f.prefixBytes, f.endian, length);
      big = Buffer.concat([prefix, f.header, body.subarray(0, Math.min(body.length, v.sentBodyBytes))]);
    }
    ctx.note(`${v.kind === 'at-limit' ? 'frame at the limit' : 'oversize frame'}: body ${size} bytes (maxFrameBytes ${max})`);
    const before = input.before.map((t) => buildFrame(ctx, t, state, env.fresh).bytes);
    const bytes = Buffer.concat([...before, big]);
    return exchangeOnce(env, bytes, { cuts: input.cuts, gapMs: 0 });
  },
};

/** The frame-level properties. */
export const frameFuzzProperties: readonly FuzzProperty[] = [
  fuzzProperty(validFrames),
  fuzzProperty(mutatedFrames),
  fuzzProperty(signatures),
  fuzzProperty(lengthPrefixes),
  fuzzProperty(oversize),
];

