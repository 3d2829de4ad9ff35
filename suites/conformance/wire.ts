import { randomBytes } from 'node:crypto';
import type { CaseContext, ModeInfo } from '../../harness/case.js';
import {
  createFrameDecoder,
  decodeBody,
  encodeFrame,
  hmacHex,
  isPlainObject,
  lpLengthFor,
  v2SignedBytes,
  writeLength,
  type DecodeEvent,
  type FramingSpec,
  type LengthPrefixedFraming,
  type SignOptions,
} from '../../protocol/index.js';

/**
 * Byte-level builders for malformed and hand-made frames. Envelopes are taken from
 * `ctx.encode()` and decoded again, so the target's dialect is already applied to
 * the signal before a case mutates the envelope.
 */

export type Envelope = Record<string, unknown>;

/** The body of a frame built by our own encoder (no validation: we built it). */
export function bodyOf(framing: FramingSpec, frame: Uint8Array): Buffer {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (framing.kind === 'ndjson') return buf.subarray(0, buf.length - 1);
  return buf.subarray(framing.prefixBytes + framing.header.length);
}

/** Body bytes of a frame (what `maxFrameBytes` counts). */
export const bodySize = (framing: FramingSpec, frame: Uint8Array): number => bodyOf(framing, frame).length;

/** The decoded envelope `ctx.encode(signal, opts)` would send (dialect applied, signed). */
export function envelopeOf(ctx: CaseContext, signal: Record<string, unknown>, opts?: SignOptions): Envelope {
  const res = decodeBody(ctx.mode.framing.codec, bodyOf(ctx.mode.framing, ctx.encode(signal, opts)));
  if (!res.ok || !isPlainObject(res.value)) throw new Error(`internal: cannot decode our own envelope: ${res.ok ? 'not an object' : res.error}`);
  return { ...res.value };
}

/** The signal as the target sees it (dialect applied), decoded from our own envelope. */
export function targetSignalOf(ctx: CaseContext, signal: Record<string, unknown>): Record<string, unknown> {
  const env = envelopeOf(ctx, signal);
  let value: unknown = env.signal;
  if (ctx.mode.auth === 'hmac-v2') {
    const body = env.body;
    const res = typeof body === 'string' ? decodeBody('json', Buffer.from(body, 'utf8')) : decodeBody('msgpack', body as Uint8Array);
    value = res.ok ? res.value : undefined;
  }
  if (!isPlainObject(value)) throw new Error('internal: our own envelope carries no signal object');
  return value;
}

/** Name of the signature field of the mode's envelope (§4.3, §4.4). */
export function sigField(ctx: CaseContext): 'signature' | 'sig' {
  return ctx.mode.auth === 'hmac-v2' ? 'sig' : 'signature';
}

/** The bytes/text an HMAC mode signs for `env` as it stands (§4.3: JSON.stringify(signal); §4.4: ts.nonce.body). */
export function signedDataOf(ctx: CaseContext, env: Envelope): string | Uint8Array {
  if (ctx.mode.auth === 'hmac-v2') return v2SignedBytes(env.ts as number, env.nonce as string, env.body as string | Uint8Array);
  return JSON.stringify(env.signal);
}

/** Re-computes the signature of `env` after a mutation (HMAC modes), with `secret` (default: the mode's). */
export function resign(ctx: CaseContext, env: Envelope, secret: string = ctx.mode.secret): Envelope {
  if (ctx.mode.auth !== 'none') env[sigField(ctx)] = hmacHex(secret, signedDataOf(ctx, env));
  return env;
}

/** Builds a frame from `ctx.encode(signal, opts)` after `mutate` edits the decoded envelope (not re-signed). */
export function mutatedFrame(
  ctx: CaseContext,
  signal: Record<string, unknown>,
  mutate: (env: Envelope) => void,
  opts?: SignOptions,
): Buffer {
  const env = envelopeOf(ctx, signal, opts);
  mutate(env);
  return ctx.encodeRaw(env);
}

/** A valid-format nonce for hmac-v2 (§4.4), unique per call. */
export function freshNonceFor(): string {
  return `fp_${randomBytes(12).toString('hex')}`;
}

/** Frames an arbitrary body in the mode's framing. */
export function frameOf(ctx: CaseContext, body: Uint8Array): Buffer {
  return encodeFrame(ctx.mode.framing, body);
}

/** A body no decoder of the mode's codec accepts (§3.5). */
export function undecodableBody(ctx: CaseContext): Buffer {
  // 0xc1 is "never used" in MessagePack; the text is not JSON.
  return ctx.mode.framing.codec === 'msgpack' ? Buffer.from([0xc1]) : Buffer.from('this is { not json', 'utf8');
}

/** The length prefix alone, holding `value` (any value, also ones a correct encoder never writes). */
export function lengthPrefix(spec: LengthPrefixedFraming, value: number, endian: 'be' | 'le' = spec.endian): Buffer {
  const out = Buffer.alloc(spec.prefixBytes);
  writeLength(out, spec.prefixBytes, endian, value);
  return out;
}

/** A copy of `frame` whose length field holds `value`. */
export function withLength(spec: LengthPrefixedFraming, frame: Uint8Array, value: number, endian: 'be' | 'le' = spec.endian): Buffer {
  const out = Buffer.from(frame);
  writeLength(out, spec.prefixBytes, endian, value);
  return out;
}

/** The length a correct encoder writes for `frame`. */
export function lengthOf(spec: LengthPrefixedFraming, frame: Uint8Array): number {
  return lpLengthFor(spec, frame.length - spec.prefixBytes - spec.header.length);
}

export const maxLengthValue = (spec: LengthPrefixedFraming): number => (spec.prefixBytes === 2 ? 0xffff : 0xffffffff);

/** Body bytes a length value announces (negative when it cannot hold the fixed parts). */
export function announcedBody(spec: LengthPrefixedFraming, value: number): number {
  return value - spec.header.length - (spec.lengthIncludes === 'frame' ? spec.prefixBytes : 0);
}

export function asLp(ctx: CaseContext): LengthPrefixedFraming {
  const f = ctx.mode.framing;
  if (f.kind !== 'lp') throw new Error('internal: case applies to length-prefixed framings only');
  return f;
}

/**
 * What a conformant server delimits from `bytes` (§3): the events of the protocol's
 * reference frame decoder with `maxFrameBytes` applied. Every event deserves exactly
 * one reply; a fatal event is followed by a close.
 */
export function delimit(ctx: CaseContext, bytes: Uint8Array): DecodeEvent[] {
  const maxFrameBytes = ctx.capabilities.maxFrameBytes ?? ctx.mode.framing.maxFrameBytes;
  const decoder = createFrameDecoder({ ...ctx.mode.framing, maxFrameBytes });
  const events = decoder.push(Buffer.from(bytes));
  const fatal = events.findIndex((e) => e.type === 'error' && e.fatal);
  return fatal === -1 ? events : events.slice(0, fatal + 1);
}

/**
 * Builds a frame for a signal padded (through an unknown field, §6.1) so that its
 * body is exactly `bodyBytes`; undefined when the size cannot be hit.
 */
export function paddedFrame(
  ctx: CaseContext,
  bodyBytes: number,
  make: (pad: string) => Record<string, unknown>,
  opts?: SignOptions,
): Buffer | undefined {
  let padLength = 0;
  for (let attempt = 0; attempt < 8; attempt++) {
    const frame = ctx.encode(make('x'.repeat(padLength)), opts);
    const size = bodySize(ctx.mode.framing, frame);
    if (size === bodyBytes) return frame;
    // Converges in one or two steps (a MessagePack string header may grow by a few bytes).
    padLength += bodyBytes - size;
    if (padLength < 0) return undefined;
  }
  return undefined;
}

/** `appliesTo` predicates. */
export const modes = {
  ndjson: (m: ModeInfo): boolean => m.framing.kind === 'ndjson',
  lp: (m: ModeInfo): boolean => m.framing.kind === 'lp',
  json: (m: ModeInfo): boolean => m.framing.codec === 'json',
  msgpack: (m: ModeInfo): boolean => m.framing.codec === 'msgpack',
  hmac: (m: ModeInfo): boolean => m.auth !== 'none',
  hmacJson: (m: ModeInfo): boolean => m.auth === 'hmac-json',
  hmacV2: (m: ModeInfo): boolean => m.auth === 'hmac-v2',
  none: (m: ModeInfo): boolean => m.auth === 'none',
  /** Envelope `{ signal: {…} }` (auth none and hmac-json). */
  signalEnvelope: (m: ModeInfo): boolean => m.auth !== 'hmac-v2',
};
