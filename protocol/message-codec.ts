import { signEnvelope, type AuthMode, type SignOptions } from './auth.js';
import { encodeBody } from './body-codec.js';
import { encodeFrame } from './frame-encoder.js';
import type { FramingSpec } from './framing.js';

/** A framing plus an auth mode: everything needed to put a signal on the wire. */
export interface WireMode {
  readonly framing: FramingSpec;
  readonly auth: AuthMode;
  readonly secret: string;
}

/** Encodes a complete request frame for `signal` (sign, encode body, frame). */
export function encodeRequest(mode: WireMode, signal: unknown, opts: SignOptions = {}): Buffer {
  const env = signEnvelope(mode.auth, mode.secret, signal, opts);
  return encodeFrame(mode.framing, encodeBody(mode.framing.codec, env));
}

/** Encodes a complete frame around an arbitrary envelope/body value (tests, fuzzing, replies). */
export function encodeMessage(framing: FramingSpec, value: unknown): Buffer {
  return encodeFrame(framing, encodeBody(framing.codec, value));
}
