import type { FramingSpec, LengthPrefixedFraming, NdjsonFraming } from './framing.js';

/**
 * Pure, incremental frame decoders (docs/SPEC.md §3): bytes in, events out, no
 * sockets and no timers. Feed any chunking; the events are the same.
 */

/** Why a frame could not be delimited or accepted. `fatal` errors end the stream (§5.6). */
export type FrameErrorKind =
  | 'FRAME_TOO_LARGE' // §3.1.1 (fatal)
  | 'BAD_LENGTH' // §3.3.1 frame-inclusive length smaller than its own overhead (fatal)
  | 'EMPTY_BODY' // §3.3.2 (recoverable)
  | 'BAD_HEADER'; // §3.3.3 (recoverable)

export type DecodeEvent =
  | { readonly type: 'frame'; readonly body: Buffer }
  | { readonly type: 'error'; readonly kind: FrameErrorKind; readonly fatal: boolean; readonly message: string };

/** Parser states. `failed` is terminal: after a fatal error all input is ignored. */
export enum DecoderState {
  /** ndjson: accumulating a line. lp: accumulating the length prefix. */
  Head = 'head',
  /** lp only: accumulating header+body of a known length. */
  Body = 'body',
  Failed = 'failed',
}

export interface FrameDecoder {
  /** Feeds a chunk; returns the events it completes, in order. */
  push(chunk: Buffer): DecodeEvent[];
  readonly state: DecoderState;
  /** Bytes held for an incomplete frame. */
  readonly bufferedBytes: number;
  /** True when bytes of an incomplete frame are held (a close now would be a partial frame, §3.1.2). */
  readonly midFrame: boolean;
}

export function createFrameDecoder(spec: FramingSpec): FrameDecoder {
  return spec.kind === 'ndjson' ? new NdjsonDecoder(spec) : new LengthPrefixedDecoder(spec);
}

const NEWLINE = 0x0a;

function isJsonWhitespaceOnly(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

class NdjsonDecoder implements FrameDecoder {
  state: DecoderState = DecoderState.Head;
  private parts: Buffer[] = [];
  private held = 0;
  constructor(private readonly spec: NdjsonFraming) {}

  get bufferedBytes(): number {
    return this.held;
  }
  get midFrame(): boolean {
    return this.held > 0;
  }

  push(chunk: Buffer): DecodeEvent[] {
    const events: DecodeEvent[] = [];
    if (this.state === DecoderState.Failed) return events;
    let start = 0;
    const max = this.spec.maxFrameBytes;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.held + (end - start) > max) {
        this.fail(events, `line exceeds maxFrameBytes (${max}) before its newline`);
        return events;
      }
      if (nl === -1) {
        this.parts.push(chunk.subarray(start));
        this.held += chunk.length - start;
        break;
      }
      let line: Buffer;
      if (this.held === 0) {
        line = chunk.subarray(start, nl);
      } else {
        this.parts.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.parts, this.held + (nl - start));
        this.parts = [];
        this.held = 0;
      }
      start = nl + 1;
      if (line.length === 0 || isJsonWhitespaceOnly(line)) continue; // §3.2.1
      events.push({ type: 'frame', body: line });
    }
    return events;
  }

  private fail(events: DecodeEvent[], message: string): void {
    this.state = DecoderState.Failed;
    this.parts = [];
    this.held = 0;
    events.push({ type: 'error', kind: 'FRAME_TOO_LARGE', fatal: true, message });
  }
}

class LengthPrefixedDecoder implements FrameDecoder {
  state: DecoderState = DecoderState.Head;
  private parts: Buffer[] = [];
  private held = 0;
  /** Bytes of header+body still expected in state Body. */
  private need = 0;
  private readonly overhead: number;
  constructor(private readonly spec: LengthPrefixedFraming) {
    this.overhead = spec.lengthIncludes === 'frame' ? spec.prefixBytes : 0;
  }

  get bufferedBytes(): number {
    return this.held;
  }
  get midFrame(): boolean {
    return this.held > 0 || this.state === DecoderState.Body;
  }

  push(chunk: Buffer): DecodeEvent[] {
    const events: DecodeEvent[] = [];
    let offset = 0;
    while (offset < chunk.length && this.state !== DecoderState.Failed) {
      if (this.state === DecoderState.Head) {
        const want = this.spec.prefixBytes - this.held;
        const take = Math.min(want, chunk.length - offset);
        this.parts.push(chunk.subarray(offset, offset + take));
        this.held += take;
        offset += take;
        if (this.held < this.spec.prefixBytes) break;
        const prefix = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.held);
        this.parts = [];
        this.held = 0;
        this.onLength(this.readLength(prefix), events);
      } else {
        const take = Math.min(this.need - this.held, chunk.length - offset);
        this.parts.push(chunk.subarray(offset, offset + take));
        this.held += take;
        offset += take;
        if (this.held === this.need) {
          const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.held);
          this.parts = [];
          this.held = 0;
          this.state = DecoderState.Head;
          this.emitFrame(whole, events);
        }
      }
    }
    return events;
  }

  private readLength(prefix: Buffer): number {
    const { prefixBytes, endian } = this.spec;
    if (prefixBytes === 2) return endian === 'be' ? prefix.readUInt16BE(0) : prefix.readUInt16LE(0);
    return endian === 'be' ? prefix.readUInt32BE(0) : prefix.readUInt32LE(0);
  }

  private onLength(length: number, events: DecodeEvent[]): void {
    const headerLen = this.spec.header.length;
    const afterPrefix = length - this.overhead; // header + body
    if (afterPrefix < headerLen) {
      // The declared length cannot even hold the fixed parts: framing is lost.
      this.state = DecoderState.Failed;
      events.push({
        type: 'error',
        kind: 'BAD_LENGTH',
        fatal: true,
        message: `length ${length} is smaller than the frame overhead (${this.overhead + headerLen} bytes)`,
      });
      return;
    }
    const bodyLen = afterPrefix - headerLen;
    if (bodyLen > this.spec.maxFrameBytes) {
      this.state = DecoderState.Failed;
      events.push({
        type: 'error',
        kind: 'FRAME_TOO_LARGE',
        fatal: true,
        message: `length prefix announces a ${bodyLen}-byte body, above maxFrameBytes (${this.spec.maxFrameBytes})`,
      });
      return;
    }
    if (afterPrefix === 0) {
      events.push({ type: 'error', kind: 'EMPTY_BODY', fatal: false, message: 'frame has an empty body' });
      return;
    }
    this.need = afterPrefix;
    this.state = DecoderState.Body;
  }

  private emitFrame(whole: Buffer, events: DecodeEvent[]): void {
    const header = this.spec.header;
    for (let i = 0; i < header.length; i++) {
      if (whole[i] !== header[i]) {
        events.push({
          type: 'error',
          kind: 'BAD_HEADER',
          fatal: false,
          message: `fixed header bytes ${whole.subarray(0, header.length).toString('hex')} differ from the expected ${Buffer.from(header).toString('hex')}`,
        });
        return;
      }
    }
    const body = whole.subarray(header.length);
    if (body.length === 0) {
      events.push({ type: 'error', kind: 'EMPTY_BODY', fatal: false, message: 'frame has an empty body' });
      return;
    }
    events.push({ type: 'frame', body });
  }
}
