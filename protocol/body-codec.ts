import { isUtf8 } from 'node:buffer';
import { Packr } from 'msgpackr';
import type { BodyCodecName } from './framing.js';

/**
 * Body codecs (docs/SPEC.md §3.1, §3.2.2, §3.3.4, §3.5): bytes <-> one value.
 * Decoding never throws; it returns a result with a message saying what was wrong.
 */

export type BodyDecodeResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

// Maps decode to plain objects, bin to Buffer; no records extension so any MessagePack peer interoperates.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, variableMapSize: true, int64AsType: 'number' });

export function decodeBody(codec: BodyCodecName, bytes: Uint8Array): BodyDecodeResult {
  return codec === 'json' ? decodeJson(bytes) : decodeMsgpack(bytes);
}

/**
 * Encodes one value. MessagePack integers use the smallest integer format; safe
 * integers outside the 32-bit range (e.g. a millisecond `ts`) are written as int64
 * (0xd3), never as float64, so that peers with integer fields (rmp-serde `u64`,
 * Python `int`) read them back as integers.
 */
export function encodeBody(codec: BodyCodecName, value: unknown): Buffer {
  return codec === 'json' ? Buffer.from(JSON.stringify(value), 'utf8') : packr.pack(widenLargeIntegers(value));
}

function isWideInteger(value: number): boolean {
  return Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x80000000);
}

/** Returns `value`, or a copy in which safe integers beyond 32 bits are BigInts (msgpackr writes those as int64). */
function widenLargeIntegers(value: unknown): unknown {
  if (typeof value === 'number') return isWideInteger(value) ? BigInt(value) : value;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const widened = widenLargeIntegers(item);
      if (widened !== item) {
        out ??= value.slice();
        out[i] = widened;
      }
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = value[key];
    const widened = widenLargeIntegers(item);
    if (widened !== item) {
      out ??= { ...value };
      out[key] = widened;
    }
  }
  return out ?? value;
}

/** Strict UTF-8 then JSON.parse; invalid UTF-8 is an error, never repaired (§3.2.2). */
export function decodeJson(bytes: Uint8Array): BodyDecodeResult {
  let text: string;
  try {
    text = utf8Strict.decode(bytes);
  } catch {
    return { ok: false, error: 'body is not valid UTF-8' };
  }
  return parseJsonText(text);
}

/** JSON.parse of an already decoded text, with the error message of {@link decodeJson}. */
export function parseJsonText(text: string): BodyDecodeResult {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: `body is not valid JSON: ${(err as Error).message}` };
  }
}

/**
 * Exactly one MessagePack value, no trailing bytes (§3.3.4), restricted to the data
 * model of the protocol: nil, bool, int, float, str (valid UTF-8, never repaired),
 * bin, array and map with string keys. Extension types and the never-used byte 0xc1
 * are rejected: msgpackr would otherwise turn them into BigInts, Dates, Sets, Errors,
 * `undefined` or shared references that no JSON peer can represent.
 */
export function decodeMsgpack(bytes: Uint8Array): BodyDecodeResult {
  const problem = checkMsgpack(bytes);
  if (problem !== undefined) return { ok: false, error: `body is not valid MessagePack: ${problem}` };
  try {
    return { ok: true, value: packr.unpack(bytes as Buffer) as unknown };
  } catch (err) {
    return { ok: false, error: `body is not valid MessagePack: ${(err as Error).message}` };
  }
}

/**
 * Walks the structure of one MessagePack value without building it. Returns what is
 * wrong, or undefined when `bytes` holds exactly one value of the protocol's data model.
 * Iterative, so deep nesting cannot overflow the stack.
 */
function checkMsgpack(bytes: Uint8Array): string | undefined {
  const len = bytes.length;
  if (len === 0) return 'empty body';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Open containers: items still expected, and whether the container is a map (even items are keys).
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  const index: number[] = [];
  let pos = 0;
  let done = false;
  while (!done) {
    if (pos >= len) return 'unexpected end of data';
    const depth = remaining.length;
    const mustBeKey = depth > 0 && isMap[depth - 1]! && index[depth - 1]! % 2 === 0;
    const b = bytes[pos]!;
    let count = -1; // >= 0 opens a container of `count` items
    let map = false;
    let strLen = -1;
    let skip = 0; // payload bytes after the type byte and length
    let head = 1;
    if (b <= 0x7f || b >= 0xe0) {
      // positive / negative fixint
    } else if (b <= 0x8f) {
      count = (b & 0x0f) * 2;
      map = true;
    } else if (b <= 0x9f) {
      count = b & 0x0f;
    } else if (b <= 0xbf) {
      strLen = b & 0x1f;
    } else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc1:
          return `never-used byte 0xc1 at offset ${pos}`;
        case 0xc4:
        case 0xc5:
        case 0xc6:
        case 0xd9:
        case 0xda:
        case 0xdb: {
          const w = b === 0xc4 || b === 0xd9 ? 1 : b === 0xc5 || b === 0xda ? 2 : 4;
          if (pos + 1 + w > len) return 'unexpected end of data';
          const n = w === 1 ? bytes[pos + 1]! : w === 2 ? view.getUint16(pos + 1) : view.getUint32(pos + 1);
          head = 1 + w;
          if (b >= 0xd9) strLen = n;
          else skip = n;
          break;
        }
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return `extension type (0x${b.toString(16)}) at offset ${pos} is not part of the protocol`;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xdc:
        case 0xdd:
        case 0xde:
        case 0xdf: {
          const w = b === 0xdc || b === 0xde ? 2 : 4;
          if (pos + 1 + w > len) return 'unexpected end of data';
          const n = w === 2 ? view.getUint16(pos + 1) : view.getUint32(pos + 1);
          head = 1 + w;
          map = b >= 0xde;
          count = map ? n * 2 : n;
          break;
        }
        default:
          return `unexpected byte 0x${b.toString(16)} at offset ${pos}`;
      }
    }
    if (mustBeKey && strLen < 0) return `map key at offset ${pos} is not a string`;
    if (strLen >= 0) {
      const start = pos + head;
      if (start + strLen > len) return 'unexpected end of data';
      if (!isAsciiRange(bytes, start, start + strLen) && !isUtf8(bytes.subarray(start, start + strLen))) {
        return `string at offset ${pos} is not valid UTF-8`;
      }
      skip = strLen;
    }
    pos += head + skip;
    if (pos > len) return 'unexpected end of data';
    if (count > 0) {
      // Every item takes at least one byte: refuse absurd counts before looping.
      if (count > len - pos) return 'unexpected end of data';
      remaining.push(count);
      isMap.push(map);
      index.push(0);
      continue;
    }
    // A scalar or an empty container completed: close every container it completes.
    for (;;) {
      const d = remaining.length;
      if (d === 0) {
        done = true;
        break;
      }
      index[d - 1]!++;
      if (--remaining[d - 1]! > 0) break;
      remaining.pop();
      isMap.pop();
      index.pop();
    }
  }
  if (pos !== len) return `${len - pos} trailing byte(s) after the value`;
  return undefined;
}

function isAsciiRange(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/**
 * True for a plain object (a JSON object or MessagePack map): its prototype is
 * `Object.prototype` or null. Arrays, buffers, null, Dates, Maps and class instances are not.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
