import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { decodeJson, decodeMsgpack, isPlainObject, parseJsonText } from './body-codec.js';
import { fpError } from './errors.js';
import type { ReasonCode } from './reason-codes.js';

/**
 * Envelope signing and verification for every auth mode (docs/SPEC.md §4).
 * Pure: the clock is a parameter, the replay cache lives with the server.
 */

export const AUTH_MODES = ['none', 'hmac-json', 'hmac-v2'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export function parseAuthMode(name: string): AuthMode {
  if ((AUTH_MODES as readonly string[]).includes(name)) return name as AuthMode;
  throw fpError('FP_AUTH_INVALID', `unknown auth mode "${name}": use one of ${AUTH_MODES.join(', ')}`);
}

/** Correlation id of an envelope (§4.1). */
export type EnvelopeId = string | number;

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** With the u flag a surrogate pair is one code point, so this matches only unpaired surrogates. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** True when `s` has no lone surrogate (so its UTF-8 form round-trips). `String.prototype.isWellFormed` where available (Node ≥ 20). */
const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** §4.5: exactly 64 hex digits, nothing before or after. */
export function isHex64(value: unknown): value is string {
  return typeof value === 'string' && value.length === 64 && HEX64.test(value);
}

// ── HMAC-SHA256 ──────────────────────────────────────────────────────────────
//
// Every request in an HMAC mode costs one HMAC-SHA256 (node:crypto). The secret is
// turned into a KeyObject once and reused, which saves the key import of every
// createHmac call; the digest goes into one reused buffer.

/** The last computed MAC (valid until the next call). */
const macOut = Buffer.alloc(32);
/** The decoded signature being compared. */
const givenSig = Buffer.alloc(32);

let lastStringSecret: string | undefined;
let lastStringKey: KeyObject | undefined;
let lastBufferSecret: Buffer | undefined;
let lastBufferKey: KeyObject | undefined;

/** The KeyObject for `secret`; the last string and the last Buffer secret are cached. */
function hmacKeyFor(secret: string | Uint8Array): KeyObject {
  if (typeof secret === 'string') {
    if (lastStringKey === undefined || secret !== lastStringSecret) {
      lastStringKey = createSecretKey(Buffer.from(secret, 'utf8'));
      lastStringSecret = secret;
    }
    return lastStringKey;
  }
  if (lastBufferKey === undefined || lastBufferSecret === undefined || !lastBufferSecret.equals(secret)) {
    lastBufferSecret = Buffer.from(secret);
    lastBufferKey = createSecretKey(lastBufferSecret);
  }
  return lastBufferKey;
}

/**
 * HMAC-SHA256 of `head` (UTF-8) followed by `data` (UTF-8 of a string, or the bytes).
 * Returns the shared {@link macOut} buffer: copy or consume it before the next call.
 */
function computeMac(secret: string | Uint8Array, head: string, data: string | Uint8Array): Buffer {
  const hmac = createHmac('sha256', hmacKeyFor(secret));
  if (head.length > 0) hmac.update(head, 'utf8');
  hmac.update(data).digest().copy(macOut);
  return macOut;
}

/** Hex HMAC-SHA256 of `data` (a string contributes its UTF-8 bytes). */
export function hmacHex(secret: string | Buffer, data: string | Uint8Array): string {
  return computeMac(secret, '', data).toString('hex');
}

/** Constant-time comparison of a 64-hex signature with the expected HMAC digest (§4.5). */
export function signatureMatches(secret: string | Buffer, data: string | Uint8Array, signatureHex: string): boolean {
  return macMatches(computeMac(secret, '', data), signatureHex);
}

/** Compares the 32 bytes of a 64-hex signature with `expected` in constant time; false for anything but 64 hex digits. */
function macMatches(expected: Buffer, signatureHex: string): boolean {
  return readSignature(signatureHex) && timingSafeEqual(givenSig, expected);
}

/** Value of each hex digit by char code, -1 for every other code. */
const HEX_DIGIT_VALUES = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_DIGIT_VALUES[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_DIGIT_VALUES[0x41 + i] = 10 + i;
  HEX_DIGIT_VALUES[0x61 + i] = 10 + i;
}

/**
 * §4.5 format check and decoding in one pass: true when `value` is exactly 64 hex
 * digits, and then its 32 bytes are in {@link givenSig}. (Same acceptance as
 * {@link isHex64}; ~2x cheaper than the regular expression followed by a hex decode.)
 */
function readSignature(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 64) return false;
  const digits = HEX_DIGIT_VALUES;
  let bad = 0;
  for (let i = 0; i < 32; i++) {
    const hi = value.charCodeAt(2 * i);
    const lo = value.charCodeAt(2 * i + 1);
    // Codes above 0xff are never digits (masking alone would alias U+0130 to '0').
    const h = hi > 0xff ? -1 : digits[hi]!;
    const l = lo > 0xff ? -1 : digits[lo]!;
    bad |= h | l;
    givenSig[i] = (h << 4) | l;
  }
  return bad >= 0;
}

/** The hmac-v2 signature prefix: `${ts}.${nonce}.` (§4.4). */
function v2Head(ts: number, nonce: string): string {
  return `${ts}.${nonce}.`;
}

/** The exact bytes hmac-v2 signs: `${ts}.${nonce}.` followed by the body bytes (§4.4). */
export function v2SignedBytes(ts: number, nonce: string, body: string | Uint8Array): Buffer {
  const head = Buffer.from(v2Head(ts, nonce), 'utf8');
  const tail = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([head, tail], head.length + tail.length);
}

export interface SignOptions {
  id?: EnvelopeId;
  /** hmac-v2: timestamp in ms; default `Date.now()`. */
  ts?: number;
  /** hmac-v2: nonce; default 16 random url-safe characters. */
  nonce?: string;
  /** hmac-v2: carry the signal as MessagePack bytes instead of JSON text. */
  binaryBody?: Uint8Array;
  /** hmac-v2: carry this exact JSON text (default `JSON.stringify(signal)`). */
  bodyText?: string;
}

let nonceCounter = 0;
const nonceSalt = Math.random().toString(36).slice(2, 10).padEnd(8, '0');
/** A process-unique nonce (salt + counter), cheap enough for benchmarks. */
export function freshNonce(): string {
  nonceCounter = (nonceCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${nonceSalt}-${nonceCounter.toString(36)}`;
}

/**
 * Builds the envelope object for `signal` in `mode` (not yet encoded).
 * Fields appear in the order the spec lists them.
 */
export function signEnvelope(mode: AuthMode, secret: string, signal: unknown, opts: SignOptions = {}): Record<string, unknown> {
  const env: Record<string, unknown> = {};
  if (opts.id !== undefined) env.id = opts.id;
  switch (mode) {
    case 'none':
      env.signal = signal;
      return env;
    case 'hmac-json':
      env.signal = signal;
      env.signature = hmacHex(secret, JSON.stringify(signal));
      return env;
    case 'hmac-v2': {
      const ts = opts.ts ?? Date.now();
      const nonce = opts.nonce ?? freshNonce();
      const body: string | Uint8Array = opts.binaryBody ?? opts.bodyText ?? JSON.stringify(signal);
      env.ts = ts;
      env.nonce = nonce;
      env.body = body;
      env.sig = computeMac(secret, v2Head(ts, nonce), body).toString('hex');
      return env;
    }
  }
}

export interface VerifyContext {
  readonly nowMs: number;
  readonly timestampWindowMs: number;
}

/** Outcome of verifying an envelope up to (not including) the replay check. */
export type VerifyResult =
  | {
      readonly ok: true;
      readonly id: EnvelopeId | undefined;
      /** hmac-v2 only: the nonce to check and record for replay (§4.4.3). */
      readonly nonce: string | undefined;
      /** The signal value (none, hmac-json) or the raw v2 body still to decode. */
      readonly signal: unknown;
      readonly v2Body: string | Uint8Array | undefined;
    }
  | { readonly ok: false; readonly id: EnvelopeId | undefined; readonly reason: ReasonCode; readonly error: string };

/** Reads the optional `id` (§4.1): undefined when absent, null when present but invalid. */
export function readEnvelopeId(env: Record<string, unknown>): EnvelopeId | undefined | null {
  const id = env.id;
  if (id === undefined) return undefined;
  if (typeof id === 'string' && id.length <= 128) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  return null;
}

function reject(id: EnvelopeId | undefined, reason: ReasonCode, error: string): VerifyResult {
  return { ok: false, id, reason, error };
}

/** `JSON.stringify(signal)`, or undefined when it throws (a `RangeError` for a signal nested thousands of levels deep). */
function serializeSignal(signal: Record<string, unknown>): string | undefined {
  try {
    return JSON.stringify(signal);
  } catch {
    return undefined;
  }
}

/**
 * Verifies an envelope: shape, signature format and HMAC, and timestamp window, in
 * the order of §4.6. The caller then checks the nonce for replay and decodes the
 * v2 body with {@link decodeV2Body}.
 */
export function verifyEnvelope(mode: AuthMode, secret: string, env: unknown, ctx: VerifyContext): VerifyResult {
  if (!isPlainObject(env)) return reject(undefined, 'IPC_ERROR', 'envelope must be an object');
  const rawId = readEnvelopeId(env);
  if (rawId === null) return reject(undefined, 'IPC_ERROR', 'envelope id must be a string of at most 128 characters or a safe integer');
  const id = rawId;
  if (mode === 'none' || mode === 'hmac-json') {
    const signal = env.signal;
    if (!isPlainObject(signal)) return reject(id, 'IPC_ERROR', 'envelope field "signal" must be an object');
    if (mode === 'none') return { ok: true, id, nonce: undefined, signal, v2Body: undefined };
    const signature = env.signature;
    // The format is checked (and the digits decoded) before any HMAC is computed (§4.5).
    if (!readSignature(signature)) return reject(id, 'INVALID_SIGNATURE', describeBadSignature('signature', signature));
    const signed = serializeSignal(signal);
    // §4.3.2: a signal too deep for the serializer is refused, never a crash of the server.
    if (signed === undefined) return reject(id, 'IPC_ERROR', 'envelope field "signal" cannot be serialized for the HMAC (nested too deeply)');
    if (!timingSafeEqual(givenSig, computeMac(secret, '', signed))) {
      return reject(id, 'INVALID_SIGNATURE', 'HMAC-SHA256 of JSON.stringify(signal) does not match "signature"');
    }
    return { ok: true, id, nonce: undefined, signal, v2Body: undefined };
  }
  const { ts, nonce, body, sig } = env;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
    return reject(id, 'IPC_ERROR', 'envelope field "ts" must be a non-negative integer (milliseconds since the epoch)');
  }
  if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) {
    return reject(id, 'IPC_ERROR', 'envelope field "nonce" must be 8-64 characters of [A-Za-z0-9_-]');
  }
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    return reject(id, 'IPC_ERROR', 'envelope field "body" must be a string (JSON text) or bytes (MessagePack)');
  }
  if (typeof body === 'string' && !isWellFormed(body)) {
    // A lone surrogate has no UTF-8 form: Buffer.from would sign and decode U+FFFD instead (§3.2.2: never repair).
    return reject(id, 'IPC_ERROR', 'envelope field "body" is not well-formed Unicode (lone surrogate)');
  }
  if (!readSignature(sig)) return reject(id, 'INVALID_SIGNATURE', describeBadSignature('sig', sig));
  if (!timingSafeEqual(givenSig, computeMac(secret, v2Head(ts, nonce), body))) {
    return reject(id, 'INVALID_SIGNATURE', 'HMAC-SHA256 of `${ts}.${nonce}.${body}` does not match "sig"');
  }
  const skew = ts - ctx.nowMs;
  if (Math.abs(skew) > ctx.timestampWindowMs) {
    return reject(
      id,
      'STALE_TIMESTAMP',
      `ts is ${Math.abs(skew)} ms ${skew < 0 ? 'in the past' : 'in the future'}, outside the ±${ctx.timestampWindowMs} ms window`,
    );
  }
  return { ok: true, id, nonce, signal: undefined, v2Body: body };
}

function describeBadSignature(field: string, value: unknown): string {
  if (value === undefined) return `envelope field "${field}" is missing`;
  if (typeof value !== 'string') return `envelope field "${field}" must be a string of 64 hex digits, got ${typeof value}`;
  return `envelope field "${field}" must be exactly 64 hex digits, got ${value.length} characters${value.length >= 64 && /^[0-9a-fA-F]{64}/.test(value) ? ' (characters after the 64 digits)' : ''}`;
}

/** Decodes an hmac-v2 body: JSON text (string) or MessagePack (bytes). */
export function decodeV2Body(body: string | Uint8Array): { ok: true; value: unknown } | { ok: false; error: string } {
  // A well-formed string is exactly the text its UTF-8 bytes decode to: parse it directly.
  const res = typeof body !== 'string' ? decodeMsgpack(body) : isWellFormed(body) ? parseJsonText(body) : decodeJson(Buffer.from(body, 'utf8'));
  if (!res.ok) return { ok: false, error: `hmac-v2 body: ${res.error}` };
  if (!isPlainObject(res.value)) return { ok: false, error: 'hmac-v2 body must hold an object' };
  return res;
}
