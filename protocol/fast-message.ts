import { Packr } from 'msgpackr';
import { z } from 'zod';
import { decodeMsgpack } from './body-codec.js';
import { formatIssues } from './schemas.js';

/**
 * FastMessage (docs/SPEC.md §10.4, seed 001): the MessagePack message of a fast
 * session, carried in shared-memory ring records or in lp32 frames over the socket.
 *
 * Encoding is split in two so that large payloads are copied once: `head` is the
 * MessagePack map up to and including the bin header of the `params` or `result`
 * bytes, `tail` is those bytes. `head` followed by `tail` is exactly the MessagePack
 * encoding of the whole message, readable by any MessagePack decoder.
 */

export const FAST_MESSAGE_VERSION = 1;

export const FAST_MESSAGE_TYPES = ['request', 'response', 'notification'] as const;
export type FastMessageType = (typeof FAST_MESSAGE_TYPES)[number];

/** Methods the reference serves in a fast session (§10.5). */
export const FAST_METHODS = ['signal', 'echo', 'sink'] as const;

/** Error codes of a FastMessage `error` (§10.4), besides the reason codes of §5.5. */
export const FAST_ERROR_CODES = ['UNKNOWN_METHOD', 'BAD_MESSAGE', 'TOO_LARGE', 'SHUTTING_DOWN'] as const;

const bytes = z.instanceof(Uint8Array);

export const FastErrorSchema = z.strictObject({
  code: z.string().min(1).max(64),
  message: z.string().max(4096),
});
export type FastError = z.infer<typeof FastErrorSchema>;

export const FastMessageSchema = z
  .strictObject({
    version: z.literal(FAST_MESSAGE_VERSION),
    type: z.enum(FAST_MESSAGE_TYPES),
    id: z.number().int().min(0).max(0xffffffff).optional(),
    method: z.string().min(1).max(64).optional(),
    params: bytes.optional(),
    result: bytes.optional(),
    error: FastErrorSchema.optional(),
  })
  .superRefine((m, ctx) => {
    const issue = (message: string): void => ctx.addIssue({ code: 'custom', message });
    if (m.type === 'request' && (m.id === undefined || m.method === undefined)) issue('a request needs an id and a method');
    if (m.type === 'notification' && (m.id !== undefined || m.method === undefined)) issue('a notification has a method and no id');
    if (m.type === 'response') {
      if (m.id === undefined) issue('a response needs the id of its request');
      if ((m.result === undefined) === (m.error === undefined)) issue('a response has exactly one of result and error');
      if (m.method !== undefined || m.params !== undefined) issue('a response has no method or params');
    } else if (m.result !== undefined || m.error !== undefined) {
      issue(`a ${m.type} has no result or error`);
    }
  });

/** A validated FastMessage. `params` / `result` may be views into a ring segment. */
export type FastMessage = z.infer<typeof FastMessageSchema>;

/** The two pieces of an encoded message; `tail` is the caller's bytes, not copied. */
export interface EncodedFastMessage {
  readonly head: Uint8Array;
  readonly tail: Uint8Array | undefined;
  readonly totalBytes: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, variableMapSize: true, int64AsType: 'number' });
const EMPTY = new Uint8Array(0);
/** Payloads up to this size are packed with the rest of the message (one copy either way). */
const INLINE_PAYLOAD_BYTES = 4096;

/**
 * Encodes a message as `head` + `tail`. A payload above 4 KiB (`params` or `result`)
 * is written last and not copied: msgpackr packs it as an empty bin8 (`c4 00`), which
 * is replaced by the bin header of the real length, and the payload is the `tail`.
 */
export function encodeFastMessage(message: FastMessage): EncodedFastMessage {
  const payload = message.params ?? message.result;
  const key = message.params !== undefined ? 'params' : 'result';
  const shell: Record<string, unknown> = { version: message.version, type: message.type };
  if (message.id !== undefined) shell.id = message.id;
  if (message.method !== undefined) shell.method = message.method;
  if (message.error !== undefined) shell.error = { code: message.error.code, message: message.error.message };
  if (payload === undefined || payload.byteLength <= INLINE_PAYLOAD_BYTES) {
    // Small payloads: one pack call is cheaper than a split head.
    if (payload !== undefined) shell[key] = payload;
    const head = packr.pack(shell);
    return { head, tail: undefined, totalBytes: head.byteLength };
  }
  shell[key] = EMPTY;
  const packed = packr.pack(shell);
  const cut = packed.byteLength - 2; // the placeholder `c4 00`
  const n = payload.byteLength;
  const binHeader = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const head = new Uint8Array(cut + binHeader);
  head.set(packed.subarray(0, cut));
  if (n < 0x100) {
    head[cut] = 0xc4;
    head[cut + 1] = n;
  } else if (n < 0x10000) {
    head[cut] = 0xc5;
    head[cut + 1] = n >>> 8;
    head[cut + 2] = n & 0xff;
  } else {
    head[cut] = 0xc6;
    new DataView(head.buffer, head.byteOffset + cut + 1, 4).setUint32(0, n, false);
  }
  return { head, tail: payload, totalBytes: head.byteLength + n };
}

/** One buffer with the whole encoding (copies the payload; for the socket transport). */
export function encodeFastMessageBytes(message: FastMessage): Buffer {
  const { head, tail, totalBytes } = encodeFastMessage(message);
  const out = Buffer.allocUnsafe(totalBytes);
  out.set(head, 0);
  if (tail !== undefined) out.set(tail, head.byteLength);
  return out;
}

export type FastMessageDecodeResult = { readonly ok: true; readonly message: FastMessage } | { readonly ok: false; readonly error: string };

/**
 * Decodes and validates one message. `params` / `result` are views into `bytes`
 * (zero copy): copy them before `bytes` is released if they must outlive it.
 */
export function decodeFastMessage(bytes: Uint8Array): FastMessageDecodeResult {
  const decoded = decodeMsgpack(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (!decoded.ok) return { ok: false, error: `FastMessage: ${decoded.error}` };
  if (isFastMessage(decoded.value)) return { ok: true, message: decoded.value };
  const parsed = FastMessageSchema.safeParse(decoded.value);
  if (!parsed.success) return { ok: false, error: `FastMessage: ${formatIssues(parsed.error)}` };
  return { ok: true, message: parsed.data };
}

const FIELDS = new Set(['version', 'type', 'id', 'method', 'params', 'result', 'error']);

function isOptionalString(v: unknown, min: number, max: number): boolean {
  return v === undefined || (typeof v === 'string' && v.length >= min && v.length <= max);
}

/**
 * True exactly when `FastMessageSchema.safeParse(value).success` would be true: a
 * hand-written fast path for the hot path of a session (zod costs about a third of a
 * microsecond per message); rejections still go through zod for their messages.
 * fast-message.test.ts checks the two agree on generated inputs.
 */
export function isFastMessage(value: unknown): value is FastMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return false;
  const m = value as Record<string, unknown>;
  for (const key in m) if (!FIELDS.has(key)) return false;
  const { id, params, result, error, type } = m;
  if (m.version !== FAST_MESSAGE_VERSION) return false;
  if (id !== undefined && !(typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffffffff)) return false;
  if (!isOptionalString(m.method, 1, 64)) return false;
  if (params !== undefined && !(params instanceof Uint8Array)) return false;
  if (result !== undefined && !(result instanceof Uint8Array)) return false;
  if (error !== undefined) {
    if (typeof error !== 'object' || error === null || Array.isArray(error)) return false;
    const e = error as Record<string, unknown>;
    for (const key in e) if (key !== 'code' && key !== 'message') return false;
    if (!isOptionalString(e.code, 1, 64) || e.code === undefined || typeof e.message !== 'string' || e.message.length > 4096) return false;
  }
  switch (type) {
    case 'request':
      return id !== undefined && m.method !== undefined && result === undefined && error === undefined;
    case 'notification':
      return id === undefined && m.method !== undefined && result === undefined && error === undefined;
    case 'response':
      return id !== undefined && (result === undefined) !== (error === undefined) && m.method === undefined && params === undefined;
    default:
      return false;
  }
}
