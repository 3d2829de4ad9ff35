import { encodeBody, type BodyCodecName } from '../../protocol/index.js';

/**
 * Pure mutations for the fuzzer (bytes in, bytes out; values in, values out). Every
 * mutation is data (so fast-check can generate, shrink and print it) and is applied
 * deterministically: a position `at` is taken modulo the length it applies to, so the
 * same mutation means the same thing however long the frame turns out to be.
 * No sockets, no timers, no randomness here.
 */

/** Byte sequences that are not valid UTF-8 (§3.2.2, §3.3.4). */
export const INVALID_UTF8_SEQUENCES = {
  /** A byte that never occurs in UTF-8. */
  ff: [0xff],
  /** A lone continuation byte. */
  continuation: [0x80],
  /** Overlong encoding of NUL. */
  'overlong-nul': [0xc0, 0x80],
  /** Overlong encoding of '/'. */
  'overlong-slash': [0xe0, 0x80, 0xaf],
  /** An encoded UTF-16 surrogate (CESU-8 style). */
  surrogate: [0xed, 0xa0, 0x80],
  /** A three-byte sequence cut after two bytes. */
  truncated: [0xe2, 0x82],
  /** Beyond U+10FFFF. */
  'too-large': [0xf4, 0x90, 0x80, 0x80],
} as const satisfies Record<string, readonly number[]>;
/** Name of one of {@link INVALID_UTF8_SEQUENCES}. */
export type InvalidUtf8Name = keyof typeof INVALID_UTF8_SEQUENCES;
/** Every name of {@link INVALID_UTF8_SEQUENCES}. */
export const INVALID_UTF8_NAMES = Object.keys(INVALID_UTF8_SEQUENCES) as InvalidUtf8Name[];

/** A mutation of a byte string. */
export type ByteMutation =
  /** Flips bit `bit` (0–7) of the byte at `at`. */
  | { readonly kind: 'bit-flip'; readonly at: number; readonly bit: number }
  /** Keeps the first `keep mod length` bytes (always shorter, never longer). */
  | { readonly kind: 'truncate'; readonly keep: number }
  /** Appends bytes. */
  | { readonly kind: 'extend'; readonly bytes: Uint8Array }
  /** Inserts bytes before position `at`. */
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  /** Removes `count` bytes from `at`. */
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  /** Overwrites bytes from `at` (the length stays the same; bytes past the end are dropped). */
  | { readonly kind: 'overwrite'; readonly at: number; readonly bytes: Uint8Array }
  /** Inserts an invalid UTF-8 sequence before `at`. */
  | { readonly kind: 'invalid-utf8'; readonly at: number; readonly sequence: InvalidUtf8Name }
  /** Inserts a NUL byte before `at`. */
  | { readonly kind: 'nul'; readonly at: number }
  /** Repeats the `count` bytes starting at `at` right after themselves. */
  | { readonly kind: 'repeat'; readonly at: number; readonly count: number };

/** `at` as a position in [0, length]. */
export function positionIn(at: number, length: number): number {
  return Math.abs(Math.trunc(at)) % (length + 1);
}

/** Applies one byte mutation; returns a new buffer (the input is not modified). */
export function applyByteMutation(input: Uint8Array, m: ByteMutation): Buffer {
  const bytes = Buffer.from(input);
  const len = bytes.length;
  switch (m.kind) {
    case 'bit-flip': {
      if (len === 0) return bytes;
      const i = Math.abs(Math.trunc(m.at)) % len;
      bytes[i] = bytes[i]! ^ (1 << (Math.abs(Math.trunc(m.bit)) % 8));
      return bytes;
    }
    case 'truncate':
      return len === 0 ? bytes : bytes.subarray(0, Math.abs(Math.trunc(m.keep)) % len);
    case 'extend':
      return Buffer.concat([bytes, m.bytes]);
    case 'insert': {
      const at = positionIn(m.at, len);
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    }
    case 'delete': {
      const at = positionIn(m.at, len);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(len, at + Math.max(1, Math.abs(Math.trunc(m.count)))))]);
    }
    case 'overwrite': {
      const at = positionIn(m.at, len);
      for (let i = 0; i < m.bytes.length && at + i < len; i++) bytes[at + i] = m.bytes[i]!;
      return bytes;
    }
    case 'invalid-utf8': {
      const at = positionIn(m.at, len);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(INVALID_UTF8_SEQUENCES[m.sequence]), bytes.subarray(at)]);
    }
    case 'nul': {
      const at = positionIn(m.at, len);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([0]), bytes.subarray(at)]);
    }
    case 'repeat': {
      if (len === 0) return bytes;
      const at = Math.abs(Math.trunc(m.at)) % len;
      const end = Math.min(len, at + Math.max(1, Math.abs(Math.trunc(m.count))));
      return Buffer.concat([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end)]);
    }
  }
}

/** Applies mutations in order. */
export function applyByteMutations(input: Uint8Array, mutations: readonly ByteMutation[]): Buffer {
  let out: Buffer = Buffer.from(input);
  for (const m of mutations) out = applyByteMutation(out, m);
  return out;
}

// ── Values ───────────────────────────────────────────────────────────────────

/** Numbers at the edges: beyond 2^53, beyond 64 bits, negative zero, subnormal, non-finite. */
export const HUGE_NUMBERS: readonly number[] = [
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  -(2 ** 63),
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 32,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  5e-324,
  -0,
  0.1,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
];

/**
 * An unusual value for a field, as data: small values are literal; long strings and
 * deep nesting are described and built only when a frame is encoded (deep nesting is
 * spliced into the encoded bytes, beyond what this process's own encoders can nest).
 */
export type WeirdValue =
  | { readonly kind: 'literal'; readonly value: unknown }
  | { readonly kind: 'huge-number'; readonly value: number }
  | { readonly kind: 'long-string'; readonly length: number; readonly char: string }
  | { readonly kind: 'deep-nesting'; readonly depth: number; readonly container: 'array' | 'object' }
  | { readonly kind: 'nul-string'; readonly text: string; readonly at: number };

/** Encoded bytes waiting to be spliced in: the encoder sees a unique marker string instead. */
export interface Splice {
  /** The marker string that stands in for the value until the bytes are spliced. */
  readonly marker: string;
  /** What replaces the marker's JSON string literal in JSON text. */
  readonly json: string;
  /** What replaces the marker's MessagePack str in MessagePack bytes. */
  readonly msgpack: Buffer;
}

/** Collects the splices one frame needs, with markers unique within the set (and across sets with different prefixes). */
export class SpliceSet {
  readonly splices: Splice[] = [];
  constructor(private readonly prefix: string = 's') {}

  private nextMarker(): string {
    return `\u0001fuzz-${this.prefix}-${this.splices.length}\u0001`;
  }

  /** Deep nesting, beyond what this process's own encoders can nest. */
  add(depth: number, container: 'array' | 'object'): string {
    const marker = this.nextMarker();
    this.splices.push({ marker, json: deepJsonText(depth, container), msgpack: deepMsgpack(depth, container) });
    return marker;
  }

  /** Already encoded content: JSON text, or MessagePack bytes. */
  addRaw(content: string | Buffer): string {
    const marker = this.nextMarker();
    const json = typeof content === 'string' ? content : 'null';
    const msgpack = typeof content === 'string' ? Buffer.from([0xc0]) : content;
    this.splices.push({ marker, json, msgpack });
    return marker;
  }

  /** Takes over a splice of another set (its marker must come from a set with another prefix). */
  adopt(s: Splice): void {
    this.splices.push(s);
  }
}

/** Builds the value of `w`; deep nesting becomes a marker registered in `splices`. */
export function materialize(w: WeirdValue, splices: SpliceSet): unknown {
  switch (w.kind) {
    case 'literal':
      return w.value;
    case 'huge-number':
      return w.value;
    case 'long-string':
      return (w.char === '' ? 'x' : w.char).repeat(Math.max(0, Math.trunc(w.length)));
    case 'deep-nesting':
      return splices.add(Math.max(1, Math.trunc(w.depth)), w.container);
    case 'nul-string': {
      const at = positionIn(w.at, w.text.length);
      return `${w.text.slice(0, at)}\u0000${w.text.slice(at)}`;
    }
  }
}

/** JSON text of `depth` nested containers around `null`: `[[null]]` or `{"a":{"a":null}}`. */
export function deepJsonText(depth: number, container: 'array' | 'object'): string {
  return container === 'array' ? `${'['.repeat(depth)}null${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`;
}

/** MessagePack bytes of `depth` nested one-element arrays (or one-key maps) around nil. */
export function deepMsgpack(depth: number, container: 'array' | 'object'): Buffer {
  if (container === 'array') {
    const out = Buffer.alloc(depth + 1, 0x91);
    out[depth] = 0xc0;
    return out;
  }
  // fixmap of one entry, key "a" (0xa1 0x61), then the value.
  const unit = [0x81, 0xa1, 0x61];
  const out = Buffer.alloc(depth * unit.length + 1);
  for (let i = 0; i < depth; i++) out.set(unit, i * unit.length);
  out[depth * unit.length] = 0xc0;
  return out;
}

/**
 * Replaces each splice marker (as a JSON string literal) in JSON text with its
 * content. A marker that is not found (its field was overwritten later) is ignored.
 */
export function spliceJsonText(text: string, splices: readonly Splice[]): string {
  let out = text;
  for (const s of splices) {
    const literal = JSON.stringify(s.marker);
    const i = out.indexOf(literal);
    if (i !== -1) out = `${out.slice(0, i)}${s.json}${out.slice(i + literal.length)}`;
    else {
      // Inside a JSON string (an hmac-v2 body nested in a JSON envelope) the marker is escaped once more.
      const nested = JSON.stringify(literal).slice(1, -1);
      const j = out.indexOf(nested);
      if (j !== -1) out = `${out.slice(0, j)}${JSON.stringify(s.json).slice(1, -1)}${out.slice(j + nested.length)}`;
    }
  }
  return out;
}

/** Replaces each splice marker (as a MessagePack str) in MessagePack bytes with its content. */
export function spliceMsgpack(bytes: Uint8Array, splices: readonly Splice[]): Buffer {
  let out: Buffer = Buffer.from(bytes);
  for (const s of splices) {
    const encoded = encodeBody('msgpack', s.marker);
    const i = out.indexOf(encoded);
    if (i !== -1) out = Buffer.concat([out.subarray(0, i), s.msgpack, out.subarray(i + encoded.length)]);
  }
  return out;
}

/** Splices into a body of `codec`. */
export function spliceBody(codec: BodyCodecName, bytes: Uint8Array, splices: readonly Splice[]): Buffer {
  if (splices.length === 0) return Buffer.from(bytes);
  return codec === 'json' ? Buffer.from(spliceJsonText(Buffer.from(bytes).toString('utf8'), splices), 'utf8') : spliceMsgpack(bytes, splices);
}

// ── Duplicate keys ───────────────────────────────────────────────────────────

/**
 * Inserts `"key":valueJson` into the JSON object that starts at `objectStart` (the
 * index of its `{`): first (before the existing members) or last (before its `}`),
 * so a decoder that keeps the last duplicate sees the original value or the new one.
 * @returns the text unchanged when `objectStart` is not a `{`.
 */
export function insertJsonMember(text: string, objectStart: number, key: string, valueJson: string, position: 'first' | 'last'): string {
  if (text[objectStart] !== '{') return text;
  const member = `${JSON.stringify(key)}:${valueJson}`;
  if (position === 'first') {
    const empty = /^\{\s*\}/.test(text.slice(objectStart));
    return `${text.slice(0, objectStart + 1)}${member}${empty ? '' : ','}${text.slice(objectStart + 1)}`;
  }
  const end = matchingBrace(text, objectStart);
  if (end === -1) return text;
  const inner = text.slice(objectStart + 1, end).trim();
  return `${text.slice(0, end)}${inner === '' ? '' : ','}${member}${text.slice(end)}`;
}

/** Index of the `}` closing the object at `start`, skipping strings; -1 if unbalanced. */
export function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return c === '}' ? i : -1;
    }
  }
  return -1;
}

/**
 * Adds a member with key `key` to the MessagePack map at the start of `bytes` (a fixmap
 * with fewer than 15 entries, or a map16): first (right after the map header) or last.
 * @returns the bytes unchanged when they do not start with such a map.
 */
export function msgpackAddMember(bytes: Uint8Array, key: string, valueBytes: Uint8Array, position: 'first' | 'last'): Buffer {
  const buf = Buffer.from(bytes);
  if (buf.length === 0) return buf;
  const first = buf[0]!;
  let header: Buffer;
  let rest: Buffer;
  if (first >= 0x80 && first < 0x8f) {
    header = Buffer.from([first + 1]);
    rest = buf.subarray(1);
  } else if (first === 0xde && buf.length >= 3 && buf.readUInt16BE(1) < 0xffff) {
    header = Buffer.alloc(3);
    header[0] = 0xde;
    header.writeUInt16BE(buf.readUInt16BE(1) + 1, 1);
    rest = buf.subarray(3);
  } else {
    return buf;
  }
  const member = Buffer.concat([encodeBody('msgpack', key), valueBytes]);
  return position === 'first' ? Buffer.concat([header, member, rest]) : Buffer.concat([header, rest, member]);
}
