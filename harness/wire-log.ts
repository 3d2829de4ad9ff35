import { performance } from 'node:perf_hooks';

/**
 * The per-case wire log (DESIGN "Conformance model"): bytes each way, notes and
 * events, with times in ms since the case started. Bounded per entry and in total.
 */

export type WireDirection = 'out' | 'in' | 'note' | 'event';

export interface WireLogEntry {
  readonly dir: WireDirection;
  /** ms since the case started. */
  readonly atMs: number;
  /** Connection number within the case (1, 2, …); absent for case-wide notes and events. */
  readonly conn?: number;
  /** Bytes on the wire for out/in; characters of text for notes and events. */
  readonly bytes: number;
  /** How `preview` is written: `utf8` text, `hex` bytes, or `text` for notes/events. */
  readonly encoding: 'utf8' | 'hex' | 'text';
  readonly preview: string;
  /** True when `preview` shows only the first bytes of the entry. */
  readonly truncated?: boolean;
}

export interface WireLogLimits {
  /** Bytes of payload shown per entry (default 4096). */
  readonly previewBytes: number;
  /** Preview characters kept for the whole case (default 256 KiB); later entries are counted, not kept. */
  readonly totalChars: number;
}

export const DEFAULT_WIRE_LOG_LIMITS: WireLogLimits = { previewBytes: 4_096, totalChars: 256 * 1024 };

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Printable UTF-8 (tabs, CR, LF allowed) is shown as text, anything else as hex. */
export function previewBytes(bytes: Uint8Array, maxBytes: number): { encoding: 'utf8' | 'hex'; preview: string; truncated: boolean } {
  const truncated = bytes.length > maxBytes;
  const shown = truncated ? bytes.subarray(0, maxBytes) : bytes;
  let text: string | undefined;
  try {
    // A cut may split a multi-byte character: allow up to 3 bytes of slack.
    text = utf8Strict.decode(shown);
  } catch {
    if (truncated) {
      for (let cut = 1; cut <= 3 && text === undefined; cut++) {
        try {
          text = utf8Strict.decode(shown.subarray(0, shown.length - cut));
        } catch {
          // keep trying
        }
      }
    }
  }
  // eslint-disable-next-line no-control-regex
  if (text !== undefined && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
    return { encoding: 'utf8', preview: text, truncated };
  }
  return { encoding: 'hex', preview: Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString('hex'), truncated };
}

/** A bounded log of one case. */
export class WireLog {
  private readonly list: WireLogEntry[] = [];
  private chars = 0;
  /** Entries not kept because the total cap was reached. */
  droppedEntries = 0;
  droppedBytes = 0;

  constructor(
    /** performance.now() at the start of the case. */
    readonly originPerfMs: number = performance.now(),
    readonly limits: WireLogLimits = DEFAULT_WIRE_LOG_LIMITS,
  ) {}

  /** ms since the case started, to the microsecond. */
  nowMs(): number {
    return Math.round((performance.now() - this.originPerfMs) * 1000) / 1000;
  }

  private push(entry: WireLogEntry): void {
    if (this.chars + entry.preview.length > this.limits.totalChars) {
      this.droppedEntries++;
      this.droppedBytes += entry.bytes;
      return;
    }
    this.chars += entry.preview.length;
    this.list.push(entry);
  }

  /** Records bytes sent (`out`) or received (`in`) on connection `conn`. */
  bytes(dir: 'out' | 'in', conn: number, data: Uint8Array): void {
    const p = previewBytes(data, this.limits.previewBytes);
    this.push({
      dir,
      atMs: this.nowMs(),
      conn,
      bytes: data.length,
      encoding: p.encoding,
      preview: p.preview,
      ...(p.truncated ? { truncated: true } : {}),
    });
  }

  /** A note written by the case. */
  note(text: string, conn?: number): void {
    this.text('note', text, conn);
  }

  /** Something the harness observed (a close, a timeout, a signal, a decoded reply). */
  event(text: string, conn?: number): void {
    this.text('event', text, conn);
  }

  private text(dir: 'note' | 'event', text: string, conn: number | undefined): void {
    const max = this.limits.previewBytes;
    const truncated = text.length > max;
    this.push({
      dir,
      atMs: this.nowMs(),
      ...(conn === undefined ? {} : { conn }),
      bytes: text.length,
      encoding: 'text',
      preview: truncated ? text.slice(0, max) : text,
      ...(truncated ? { truncated: true } : {}),
    });
  }

  get entries(): readonly WireLogEntry[] {
    return this.list;
  }
}
