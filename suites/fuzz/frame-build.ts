import { randomBytes } from 'node:crypto';
import type { ModeInfo } from '../../harness/case.js';
import {
  decodeBody,
  encodeBody,
  hmacHex,
  isPlainObject,
  v2SignedBytes,
  writeLength,
  type SignOptions,
} from '../../protocol/index.js';
import {
  applyByteMutations,
  insertJsonMember,
  materialize,
  msgpackAddMember,
  positionIn,
  spliceJsonText,
  spliceMsgpack,
  SpliceSet,
  type ByteMutation,
  type WeirdValue,
} from './mutations.js';

/**
 * Turns generated templates into frames at run time. A template is pure data (what
 * fast-check generates, shrinks and prints); the things that must be new on every
 * run — hmac-v2 nonces and timestamps, signal ids — are drawn here from a
 * {@link FreshSource}, so a replayed counterexample is never a replay attack and
 * never collides with state left by earlier inputs. Fresh values have fixed lengths,
 * so byte positions in a template mean the same bytes on every run.
 */

/** Signal types the fuzzer builds (HELLO is left out: it would switch the connection to a fast session). */
export const FUZZ_SIGNAL_TYPES = ['PREPARE', 'CONFIRM', 'ABORT', 'STATUS', 'MESSAGE', 'LEDGER'] as const;
/** One of {@link FUZZ_SIGNAL_TYPES}. */
export type FuzzSignalType = (typeof FUZZ_SIGNAL_TYPES)[number];

/** How the `signal_id` (or `message_id`) of a signal is chosen when the frame is built. */
export type IdRef =
  /** A new id nobody has used. */
  | { readonly kind: 'fresh' }
  /** The id of an earlier PREPARE (or MESSAGE) in the same input (`index` modulo their number); fresh when there is none. */
  | { readonly kind: 'earlier'; readonly index: number }
  /** This exact value (possibly invalid: empty, too long, not a string). */
  | { readonly kind: 'literal'; readonly value: unknown };

/** A signal in spec vocabulary, except its id. */
export interface SignalTemplate {
  readonly type: FuzzSignalType;
  readonly ref: IdRef;
  /** Other fields (spec vocabulary); values may be out of range or of the wrong type. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The envelope `id` of a frame (§4.1). */
export type EnvelopeIdChoice =
  | { readonly kind: 'none' }
  /** A number unique within the input: 1 + the frame's position. */
  | { readonly kind: 'index' }
  | { readonly kind: 'value'; readonly value: string | number };

/** A valid request frame, as data. */
export interface FrameTemplate {
  readonly signal: SignalTemplate;
  readonly id: EnvelopeIdChoice;
  /** hmac-v2 in a MessagePack framing: carry the signal as MessagePack bytes instead of JSON text (§4.4). */
  readonly binaryBody: boolean;
}

/** Where a structural mutation applies: the envelope, or the signal inside it (the hmac-v2 `body`). */
export type FieldScope = 'envelope' | 'signal';

/** A mutation of one field of the decoded envelope or signal. */
export type FieldMutation =
  | { readonly kind: 'set'; readonly scope: FieldScope; readonly field: string; readonly value: WeirdValue }
  | { readonly kind: 'delete'; readonly scope: FieldScope; readonly field: string }
  /** Appends text to a string field (sets it to `text` when it is not a string). */
  | { readonly kind: 'append'; readonly scope: FieldScope; readonly field: string; readonly text: string }
  /** Keeps the first `keep mod length` characters of a string field. */
  | { readonly kind: 'truncate'; readonly scope: FieldScope; readonly field: string; readonly keep: number }
  /** Adds a second member with the same key, before (`first`) or after (`last`) the existing ones. */
  | { readonly kind: 'duplicate-key'; readonly scope: FieldScope; readonly field: string; readonly value: WeirdValue; readonly position: 'first' | 'last' };

/** A mutated frame, as data: a valid frame, then field mutations, optional re-signing, then byte mutations. */
export interface MutatedFrameTemplate {
  readonly frame: FrameTemplate;
  readonly fields: readonly FieldMutation[];
  /** Re-computes the signature after the field mutations (so the checks after §4.5 are reached). */
  readonly resign: boolean;
  /** Byte mutations of the encoded body (the frame around it stays intact). */
  readonly body: readonly ByteMutation[];
  /** Byte mutations of the whole frame (length prefix, header and newline included). */
  readonly frameBytes: readonly ByteMutation[];
}

/** Values that must be new on every run. */
export interface FreshSource {
  /** A signal or message id never used before (fixed length). */
  id(): string;
  /** An hmac-v2 nonce never used before (fixed length, valid format). */
  nonce(): string;
  /** The clock for hmac-v2 `ts`. */
  nowMs(): number;
  /** Every id handed out so far. */
  readonly ids: ReadonlySet<string>;
  /** Every nonce handed out so far. */
  readonly nonces: ReadonlySet<string>;
}

/** A {@link FreshSource} backed by crypto randomness and the wall clock. */
export function randomFreshSource(): FreshSource {
  const ids = new Set<string>();
  const nonces = new Set<string>();
  return {
    ids,
    nonces,
    id() {
      const id = `fz-${randomBytes(8).toString('hex')}`;
      ids.add(id);
      return id;
    },
    nonce() {
      const nonce = `fz${randomBytes(12).toString('base64url')}`;
      nonces.add(nonce);
      return nonce;
    },
    nowMs: () => Date.now(),
  };
}

/** What a builder needs from the case context: the mode and its encoders (the target's dialect applied). */
export interface FrameEncoder {
  readonly mode: ModeInfo;
  encode(signal: Record<string, unknown>, opts?: SignOptions): Buffer;
  encodeRaw(value: unknown): Buffer;
}

/** Ids of earlier signals in the same input, for {@link IdRef} `earlier`. */
export class InputState {
  readonly prepared: string[] = [];
  readonly messages: string[] = [];
  /** Envelope ids handed out by `index`. */
  frames = 0;
}

function idFieldOf(type: FuzzSignalType): 'signal_id' | 'message_id' | undefined {
  if (type === 'MESSAGE') return 'message_id';
  if (type === 'PREPARE' || type === 'CONFIRM' || type === 'ABORT') return 'signal_id';
  return undefined;
}

/** Builds the signal of a template (spec vocabulary) and records its id in `state`. */
export function buildSignal(t: SignalTemplate, state: InputState, fresh: FreshSource): Record<string, unknown> {
  const signal: Record<string, unknown> = { type: t.type };
  const idField = idFieldOf(t.type);
  if (idField !== undefined) {
    const pool = t.type === 'MESSAGE' ? state.messages : state.prepared;
    let value: unknown;
    if (t.ref.kind === 'literal') value = t.ref.value;
    else if (t.ref.kind === 'earlier' && pool.length > 0) value = pool[Math.abs(Math.trunc(t.ref.index)) % pool.length];
    else value = fresh.id();
    if (value !== undefined) signal[idField] = value;
    if (typeof value === 'string' && (t.type === 'PREPARE' || t.type === 'MESSAGE')) pool.push(value);
  }
  for (const [key, value] of Object.entries(t.fields)) {
    if (key === 'type' || key === idField) continue;
    signal[key] = value;
  }
  return signal;
}

/** The body of a frame built by our own encoder. */
export function bodyOfFrame(mode: ModeInfo, frame: Uint8Array): Buffer {
  const buf = Buffer.from(frame);
  const f = mode.framing;
  return f.kind === 'ndjson' ? buf.subarray(0, buf.length - 1) : buf.subarray(f.prefixBytes + f.header.length);
}

/**
 * Frames a body in the mode's framing, whatever it holds: in ndjson a newline inside
 * the body splits it (that is what the server will see); in lp a body too long for
 * the prefix gets the largest length the prefix can hold.
 */
export function frameBody(mode: ModeInfo, body: Uint8Array): Buffer {
  const f = mode.framing;
  if (f.kind === 'ndjson') return Buffer.concat([body, Buffer.from('\n')]);
  const max = f.prefixBytes === 2 ? 0xffff : 0xffffffff;
  const length = Math.min(max, f.header.length + body.length + (f.lengthIncludes === 'frame' ? f.prefixBytes : 0));
  const prefix = Buffer.alloc(f.prefixBytes);
  writeLength(prefix, f.prefixBytes, f.endian, length);
  return Buffer.concat([prefix, f.header, body]);
}

function envelopeIdOf(choice: EnvelopeIdChoice, state: InputState): string | number | undefined {
  state.frames++;
  if (choice.kind === 'none') return undefined;
  if (choice.kind === 'index') return state.frames;
  return choice.value;
}

/** A built frame: its bytes and the envelope (target vocabulary) it carries. */
export interface BuiltFrame {
  readonly bytes: Buffer;
  readonly envelope: Record<string, unknown>;
}

/**
 * Builds a valid request frame for `t` (dialect applied, signed with fresh nonce and
 * timestamp in hmac-v2).
 */
export function buildFrame(enc: FrameEncoder, t: FrameTemplate, state: InputState, fresh: FreshSource): BuiltFrame {
  const signal = buildSignal(t.signal, state, fresh);
  const id = envelopeIdOf(t.id, state);
  const opts: SignOptions = {};
  if (id !== undefined) opts.id = id;
  if (enc.mode.auth === 'hmac-v2') {
    opts.ts = fresh.nowMs();
    opts.nonce = fresh.nonce();
  }
  let bytes = enc.encode(signal, opts);
  let envelope = decodeOwnEnvelope(enc.mode, bytes);
  if (t.binaryBody && enc.mode.auth === 'hmac-v2' && enc.mode.framing.codec === 'msgpack' && typeof envelope.body === 'string') {
    const targetSignal = JSON.parse(envelope.body) as unknown;
    bytes = enc.encode(signal, { ...opts, binaryBody: encodeBody('msgpack', targetSignal) });
    envelope = decodeOwnEnvelope(enc.mode, bytes);
  }
  return { bytes, envelope };
}

function decodeOwnEnvelope(mode: ModeInfo, frame: Buffer): Record<string, unknown> {
  const res = decodeBody(mode.framing.codec, bodyOfFrame(mode, frame));
  if (!res.ok || !isPlainObject(res.value)) throw new Error(`internal: cannot decode our own envelope: ${res.ok ? 'not an object' : res.error}`);
  return { ...res.value };
}

const SIGNATURE_FIELDS = new Set(['signature', 'sig']);

function applyField(target: Record<string, unknown>, m: FieldMutation, splices: SpliceSet): void {
  switch (m.kind) {
    case 'set':
      target[m.field] = materialize(m.value, splices);
      return;
    case 'delete':
      delete target[m.field];
      return;
    case 'append': {
      const current = target[m.field];
      target[m.field] = typeof current === 'string' ? current + m.text : m.text;
      return;
    }
    case 'truncate': {
      const current = target[m.field];
      if (typeof current === 'string') target[m.field] = current.slice(0, positionIn(m.keep, current.length) % Math.max(1, current.length));
      return;
    }
    case 'duplicate-key':
      return; // applied to the encoded bytes
  }
}

/** Adds duplicate members to the encoded object `bytes` (JSON text or a MessagePack map). */
function addDuplicates(codec: 'json' | 'msgpack', bytes: Buffer, dups: readonly FieldMutation[], splices: SpliceSet): Buffer {
  let out = bytes;
  for (const d of dups) {
    if (d.kind !== 'duplicate-key') continue;
    const value = materialize(d.value, splices);
    if (codec === 'json') {
      const text = out.toString('utf8');
      const start = text.indexOf('{');
      if (start === -1) continue;
      out = Buffer.from(insertJsonMember(text, start, d.field, safeJson(value), d.position), 'utf8');
    } else {
      out = msgpackAddMember(out, d.field, safePack(value), d.position);
    }
  }
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return 'null';
  }
}

function safePack(value: unknown): Buffer {
  try {
    return encodeBody('msgpack', value);
  } catch {
    return Buffer.from([0xc0]);
  }
}

/** Encodes one value with `codec`; undefined when it cannot be encoded. */
function tryEncode(codec: 'json' | 'msgpack', value: unknown): Buffer | undefined {
  try {
    return encodeBody(codec, value);
  } catch {
    return undefined;
  }
}

/** Splices deep values into encoded bytes; the last registered splice first (it may contain earlier markers). */
function splice(codec: 'json' | 'msgpack', bytes: Buffer, splices: SpliceSet): Buffer {
  if (splices.splices.length === 0) return bytes;
  const ordered = [...splices.splices].reverse();
  return codec === 'json' ? Buffer.from(spliceJsonText(bytes.toString('utf8'), ordered), 'utf8') : spliceMsgpack(bytes, ordered);
}

/** Re-signs an envelope after mutations, where the signed data can still be computed. */
function resign(mode: ModeInfo, env: Record<string, unknown>, signalForHmacJson: unknown): void {
  try {
    if (mode.auth === 'hmac-json') {
      const text = JSON.stringify(signalForHmacJson);
      if (typeof text === 'string') env.signature = hmacHex(mode.secret, text);
    } else if (mode.auth === 'hmac-v2') {
      const { ts, nonce, body } = env;
      if (typeof ts === 'number' && Number.isSafeInteger(ts) && ts >= 0 && typeof nonce === 'string' && (typeof body === 'string' || body instanceof Uint8Array)) {
        env.sig = hmacHex(mode.secret, v2SignedBytes(ts, nonce, body));
      }
    }
  } catch {
    // Not computable (e.g. a value JSON.stringify cannot nest this deep): left as it is.
  }
}

/**
 * Builds a mutated frame: the valid frame of `t.frame`, its decoded envelope edited by
 * `t.fields` (the hmac-v2 signal inside `body` edited through the body), optionally
 * re-signed, encoded, then `t.body` applied to the body bytes and `t.frameBytes` to
 * the framed bytes. Nothing here guarantees the result is invalid: the model decides
 * what the server must answer from the bytes actually sent.
 */
export function buildMutatedFrame(enc: FrameEncoder, t: MutatedFrameTemplate, state: InputState, fresh: FreshSource): Buffer {
  const { mode } = enc;
  const codec = mode.framing.codec;
  const built = buildFrame(enc, t.frame, state, fresh);
  const env = built.envelope;
  const signalMutations = t.fields.filter((m) => m.scope === 'signal');
  const envelopeMutations = t.fields.filter((m) => m.scope === 'envelope');
  const envSplices = new SpliceSet('e');

  // The signal: an object inside the envelope (none, hmac-json) or the hmac-v2 body.
  let signalForHmacJson: unknown = env.signal;
  if (signalMutations.length > 0) {
    if (mode.auth === 'hmac-v2') {
      const body = env.body;
      const bodyCodec = typeof body === 'string' ? 'json' : 'msgpack';
      const decoded = typeof body === 'string' ? decodeBody('json', Buffer.from(body, 'utf8')) : body instanceof Uint8Array ? decodeBody('msgpack', body) : undefined;
      if (decoded !== undefined && decoded.ok && isPlainObject(decoded.value)) {
        const signal: Record<string, unknown> = { ...decoded.value };
        const bodySplices = new SpliceSet('b');
        for (const m of signalMutations) applyField(signal, m, bodySplices);
        let bytes = tryEncode(bodyCodec, signal);
        if (bytes !== undefined) {
          bytes = addDuplicates(bodyCodec, bytes, signalMutations, bodySplices);
          bytes = splice(bodyCodec, bytes, bodySplices);
          env.body = bodyCodec === 'json' ? bytes.toString('utf8') : bytes;
        }
      }
    } else if (isPlainObject(env.signal)) {
      const signal: Record<string, unknown> = { ...env.signal };
      for (const m of signalMutations) applyField(signal, m, envSplices);
      signalForHmacJson = signal;
      const dups = signalMutations.filter((m) => m.kind === 'duplicate-key');
      if (dups.length > 0) {
        // The signal's own bytes get the duplicate key; the envelope carries a marker spliced with them.
        const inner = new SpliceSet('i');
        const bytes = tryEncode(codec, signal);
        if (bytes !== undefined) {
          const withDups = addDuplicates(codec, bytes, dups, inner);
          const marker = envSplices.addRaw(codec === 'json' ? withDups.toString('utf8') : withDups);
          env.signal = marker;
          for (const s of inner.splices) envSplices.adopt(s);
        }
      } else {
        env.signal = signal;
      }
    }
  }

  for (const m of envelopeMutations) if (!SIGNATURE_FIELDS.has(m.field)) applyField(env, m, envSplices);
  if (t.resign) resign(mode, env, signalForHmacJson);
  for (const m of envelopeMutations) if (SIGNATURE_FIELDS.has(m.field)) applyField(env, m, envSplices);

  let body = tryEncode(codec, env) ?? bodyOfFrame(mode, built.bytes);
  body = addDuplicates(codec, body, envelopeMutations, envSplices);
  body = splice(codec, body, envSplices);
  body = applyByteMutations(body, t.body);
  return applyByteMutations(frameBody(mode, body), t.frameBytes);
}
