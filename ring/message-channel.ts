import { type EncodedFastMessage, type FastMessage, decodeFastMessage, decodeMsgpack, encodeFastMessage, fpError } from '../protocol/index.js';
import { type RingConsumer, type RingProducer } from './ring.js';

/**
 * FastMessages over one ring (docs/SPEC.md §10.4): a message that fits in one record
 * is one MESSAGE record (read zero-copy); a larger one is a MESSAGE_START record
 * (total length as a little-endian u32, then the first bytes) followed by
 * MESSAGE_PART records until the total is reached.
 */
export const RECORD_MESSAGE = 1;
export const RECORD_MESSAGE_START = 2;
export const RECORD_MESSAGE_PART = 3;

/** Default bound of a reassembled message (64 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const START_PREFIX_BYTES = 4;

interface Outgoing {
  readonly encoded: EncodedFastMessage;
  /** Bytes of the message already written. */
  written: number;
}

/**
 * Writes messages into a ring in order. {@link flush} writes as much as fits now and
 * keeps the rest, so the caller decides how to wait for space (block, spin, or poll
 * on the event loop).
 */
export class MessageWriter {
  private readonly queue: Outgoing[] = [];
  private head = 0;

  constructor(
    private readonly producer: RingProducer,
    private readonly maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /** Messages queued and not completely written. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Queues a message; FP_RING_TOO_LARGE beyond the session's message limit. */
  enqueue(message: FastMessage): void {
    const encoded = encodeFastMessage(message);
    if (encoded.totalBytes > this.maxMessageBytes) {
      throw fpError(
        'FP_RING_TOO_LARGE',
        `message of ${encoded.totalBytes} bytes exceeds the session limit of ${this.maxMessageBytes} bytes`,
        { totalBytes: encoded.totalBytes, maxMessageBytes: this.maxMessageBytes },
      );
    }
    this.queue.push({ encoded, written: 0 });
  }

  /** Writes queued messages while they fit; true when nothing is left queued. */
  flush(): boolean {
    const producer = this.producer;
    const maxPayload = producer.maxPayloadBytes;
    while (this.head < this.queue.length) {
      const out = this.queue[this.head]!;
      const { head, tail, totalBytes } = out.encoded;
      if (out.written === 0 && totalBytes <= maxPayload) {
        if (!producer.tryWrite(RECORD_MESSAGE, tail === undefined ? head : [head, tail])) return false;
        out.written = totalBytes;
      } else {
        while (out.written < totalBytes) {
          const first = out.written === 0;
          const room = first ? maxPayload - START_PREFIX_BYTES : maxPayload;
          const end = Math.min(totalBytes, out.written + room);
          const parts = slices(head, tail, out.written, end);
          if (first) parts.unshift(u32le(totalBytes));
          if (!producer.tryWrite(first ? RECORD_MESSAGE_START : RECORD_MESSAGE_PART, parts)) return false;
          out.written = end;
        }
      }
      this.head++;
    }
    this.queue.length = 0;
    this.head = 0;
    return true;
  }

  /** Bytes the next record needs, for a wait for space. */
  nextRecordPayloadBytes(): number {
    const out = this.queue[this.head];
    if (out === undefined) return 0;
    const maxPayload = this.producer.maxPayloadBytes;
    const left = out.encoded.totalBytes - out.written;
    return out.written === 0 && out.encoded.totalBytes <= maxPayload ? left : Math.min(maxPayload, left + (out.written === 0 ? START_PREFIX_BYTES : 0));
  }
}

/** `[from, to)` of the concatenation `head ‖ tail`, as at most two views. */
function slices(head: Uint8Array, tail: Uint8Array | undefined, from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const h = head.byteLength;
  if (from < h) out.push(head.subarray(from, Math.min(to, h)));
  if (tail !== undefined && to > h) out.push(tail.subarray(Math.max(from - h, 0), to - h));
  return out;
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** One message read from a ring, or why it could not be decoded. */
export type IncomingMessage =
  | {
      readonly ok: true;
      readonly message: FastMessage;
      /** Gives the ring space back; `params` / `result` are invalid afterwards when {@link zeroCopy}. */
      readonly release: () => void;
      /** True when the payload is a view into the ring (single-record message). */
      readonly zeroCopy: boolean;
      readonly totalBytes: number;
    }
  | {
      readonly ok: false;
      readonly error: string;
      readonly totalBytes: number;
      /** The message's numeric `id` when its bytes still decode to a map with one (for a BAD_MESSAGE response, §10.5). */
      readonly id: number | undefined;
    };

/**
 * The numeric `id` of a message that failed to decode as a FastMessage, when its
 * bytes are still one MessagePack map with an integer `id` in 0..2^32-1; else undefined.
 */
export function peekFastMessageId(bytes: Uint8Array): number | undefined {
  const decoded = decodeMsgpack(bytes);
  if (!decoded.ok || typeof decoded.value !== 'object' || decoded.value === null) return undefined;
  const id = (decoded.value as { id?: unknown }).id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffffffff ? id : undefined;
}

/**
 * Reads messages from a ring: single records zero-copy, chunked ones reassembled into
 * one buffer bounded by `maxMessageBytes`. A record sequence that breaks the
 * chunking rules throws FP_RING_CORRUPT: the peer does not speak §10.4.
 */
export class MessageReader {
  private assembling: Buffer | undefined;
  private assembled = 0;

  constructor(
    private readonly consumer: RingConsumer,
    private readonly maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /** The next complete message, or null when none is complete yet. */
  tryRead(): IncomingMessage | null {
    const consumer = this.consumer;
    for (;;) {
      const record = consumer.tryRead();
      if (record === null) return null;
      const payload = record.payload;
      if (record.type === RECORD_MESSAGE) {
        if (this.assembling !== undefined) this.violation('a MESSAGE record inside a chunked message');
        const decoded = decodeFastMessage(payload);
        if (!decoded.ok) {
          const id = peekFastMessageId(payload);
          consumer.release(record);
          return { ok: false, error: decoded.error, totalBytes: payload.byteLength, id };
        }
        return { ok: true, message: decoded.message, release: () => consumer.release(record), zeroCopy: true, totalBytes: payload.byteLength };
      }
      if (record.type === RECORD_MESSAGE_START) {
        if (this.assembling !== undefined) this.violation('MESSAGE_START inside a chunked message');
        if (payload.byteLength < START_PREFIX_BYTES) this.violation('MESSAGE_START shorter than its length prefix');
        const total = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
        if (total > this.maxMessageBytes) this.violation(`chunked message of ${total} bytes exceeds the session limit of ${this.maxMessageBytes}`);
        this.assembling = Buffer.allocUnsafe(total);
        this.assembled = 0;
        this.append(payload.subarray(START_PREFIX_BYTES));
      } else if (record.type === RECORD_MESSAGE_PART) {
        if (this.assembling === undefined) this.violation('MESSAGE_PART without MESSAGE_START');
        this.append(payload);
      } else {
        this.violation(`unknown record type ${record.type}`);
      }
      consumer.release(record);
      const whole = this.assembling!;
      if (this.assembled === whole.byteLength) {
        this.assembling = undefined;
        const decoded = decodeFastMessage(whole);
        if (!decoded.ok) return { ok: false, error: decoded.error, totalBytes: whole.byteLength, id: peekFastMessageId(whole) };
        return { ok: true, message: decoded.message, release: noop, zeroCopy: false, totalBytes: whole.byteLength };
      }
    }
  }

  private append(part: Uint8Array): void {
    const whole = this.assembling!;
    if (this.assembled + part.byteLength > whole.byteLength) this.violation('chunks exceed the announced message length');
    whole.set(part, this.assembled);
    this.assembled += part.byteLength;
  }

  private violation(what: string): never {
    throw fpError('FP_RING_CORRUPT', `ring does not follow the FastMessage record rules (§10.4): ${what}`);
  }
}

function noop(): void {}
