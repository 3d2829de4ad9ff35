import { performance } from 'node:perf_hooks';

/**
 * The per-case wire log (DESIGN "Conformance model"): bytes each way, notes and
 * events, with times in ms since the case started. Bounded per entry and in total.
 */

export type WireDirection = 'out' | 'in' | 'note' | 'event';

/** One entry of a wire log. */
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

/** Caps that keep a wire log bounded. */
export interface WireLogLimits {
  /** Bytes of payload shown per entry (default 4096). */
  readonly previewBytes: number;
  /** Preview characters kept for the whole case (default 256 KiB); later entries are counted, not kept. */
  readonly totalChars: number;
}

/** 4 KiB shown per entry, 256 KiB of previews per case. */
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

/** Entries kept after the total cap is reached, so the end of a long case stays visible. */
const TAIL_ENTRIES = 64;

/**
 * A bounded log of one case: entries are kept until the total cap, then only the
 * last {@link TAIL_ENTRIES}; the ones in between are counted as dropped.
 */
export class WireLog {
  private readonly list: WireLogEntry[] = [];
  private tail: WireLogEntry[] = [];
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
    if (this.tail.length === 0 && this.chars + entry.preview.length <= this.limits.totalChars) {
      this.chars += entry.preview.length;
      this.list.push(entry);
      return;
    }
    this.tail.push(entry);
    if (this.tail.length > TAIL_ENTRIES) {
      const dropped = this.tail.shift()!;
      this.droppedEntries++;
      this.droppedBytes += dropped.bytes;
    }
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

  /** The kept entries in order; where some were dropped, a note says how many. */
  get entries(): readonly WireLogEntry[] {
    if (this.tail.length === 0) return this.list;
    if (this.droppedEntries === 0) return [...this.list, ...this.tail];
    const gap = `… ${this.droppedEntries} entries (${this.droppedBytes} bytes) not kept: the log of this case exceeded ${this.limits.totalChars} characters …`;
    const marker: WireLogEntry = { dir: 'note', atMs: this.tail[0]!.atMs, bytes: gap.length, encoding: 'text', preview: gap };
    return [...this.list, marker, ...this.tail];
  }
}
