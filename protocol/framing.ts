import { fpError } from './errors.js';

/** Body codec of a framing (docs/SPEC.md §3.1). */
export type BodyCodecName = 'json' | 'msgpack';

/** Newline-delimited JSON (§3.2). */
export interface NdjsonFraming {
  readonly kind: 'ndjson';
  readonly codec: 'json';
  readonly maxFrameBytes: number;
}

/** Length-prefixed framing (§3.3). */
export interface LengthPrefixedFraming {
  readonly kind: 'lp';
  readonly prefixBytes: 2 | 4;
  readonly endian: 'be' | 'le';
  /** `body`: length counts header+body after the length field; `frame`: the whole frame. */
  readonly lengthIncludes: 'body' | 'frame';
  /** Fixed bytes after the length field, identical in requests and replies. */
  readonly header: Uint8Array;
  readonly codec: BodyCodecName;
  readonly maxFrameBytes: number;
}

export type FramingSpec = NdjsonFraming | LengthPrefixedFraming;

export const DEFAULT_MAX_FRAME_BYTES = 1_048_576;

export const FRAMING_PRESETS = ['ndjson', 'lp32-json', 'lp32-msgpack'] as const;
export type FramingPreset = (typeof FRAMING_PRESETS)[number];

const LP_SPEC_HELP =
  'use a preset (ndjson, lp32-json, lp32-msgpack) or lp:<2|4>:<be|le>:<body|frame>:<hex header or ->:<json|msgpack>, e.g. lp:2:le:frame:01:msgpack';

/**
 * Parses a framing name: a preset or an `lp:` spec string (§3.4).
 * @throws FastPathError FP_FRAMING_INVALID naming the bad part.
 */
export function parseFraming(name: string, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): FramingSpec {
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw fpError('FP_FRAMING_INVALID', `maxFrameBytes must be a positive integer, got ${String(maxFrameBytes)}`);
  }
  switch (name) {
    case 'ndjson':
      return { kind: 'ndjson', codec: 'json', maxFrameBytes };
    case 'lp32-json':
      return lp(4, 'be', 'body', new Uint8Array(0), 'json', maxFrameBytes);
    case 'lp32-msgpack':
      return lp(4, 'be', 'body', new Uint8Array(0), 'msgpack', maxFrameBytes);
  }
  const parts = name.split(':');
  if (parts[0] !== 'lp' || parts.length !== 6) {
    throw fpError('FP_FRAMING_INVALID', `unknown framing "${name}": ${LP_SPEC_HELP}`);
  }
  const [, width, endian, includes, headerHex, codec] = parts as [string, string, string, string, string, string];
  if (width !== '2' && width !== '4') throw fpError('FP_FRAMING_INVALID', `framing "${name}": prefix width must be 2 or 4, got "${width}"`);
  if (endian !== 'be' && endian !== 'le') throw fpError('FP_FRAMING_INVALID', `framing "${name}": endianness must be be or le, got "${endian}"`);
  if (includes !== 'body' && includes !== 'frame') throw fpError('FP_FRAMING_INVALID', `framing "${name}": length must count body or frame, got "${includes}"`);
  if (codec !== 'json' && codec !== 'msgpack') throw fpError('FP_FRAMING_INVALID', `framing "${name}": codec must be json or msgpack, got "${codec}"`);
  let header = new Uint8Array(0);
  if (headerHex !== '-') {
    if (!/^([0-9a-fA-F]{2}){1,16}$/.test(headerHex)) {
      throw fpError('FP_FRAMING_INVALID', `framing "${name}": header must be 1-16 bytes of hex (e.g. 01ff) or -, got "${headerHex}"`);
    }
    header = Uint8Array.from(Buffer.from(headerHex, 'hex'));
  }
  const spec = lp(Number(width) as 2 | 4, endian, includes, header, codec, maxFrameBytes);
  const maxLength = width === '2' ? 0xffff : 0xffffffff;
  const overhead = header.length + (includes === 'frame' ? spec.prefixBytes : 0);
  if (overhead + 1 > maxLength) throw fpError('FP_FRAMING_INVALID', `framing "${name}": header too long for the prefix width`);
  return spec;
}

function lp(
  prefixBytes: 2 | 4,
  endian: 'be' | 'le',
  lengthIncludes: 'body' | 'frame',
  header: Uint8Array,
  codec: BodyCodecName,
  maxFrameBytes: number,
): LengthPrefixedFraming {
  return { kind: 'lp', prefixBytes, endian, lengthIncludes, header, codec, maxFrameBytes };
}

/** The canonical name of a framing: a preset name where one matches, else its `lp:` string. */
export function framingName(spec: FramingSpec): string {
  if (spec.kind === 'ndjson') return 'ndjson';
  const headerHex = spec.header.length === 0 ? '-' : Buffer.from(spec.header).toString('hex');
  const str = `lp:${spec.prefixBytes}:${spec.endian}:${spec.lengthIncludes}:${headerHex}:${spec.codec}`;
  if (str === 'lp:4:be:body:-:json') return 'lp32-json';
  if (str === 'lp:4:be:body:-:msgpack') return 'lp32-msgpack';
  return str;
}

/** The value of the length field for a body of `bodyBytes` bytes in this framing (§3.3.1). */
export function lpLengthFor(spec: LengthPrefixedFraming, bodyBytes: number): number {
  return spec.header.length + bodyBytes + (spec.lengthIncludes === 'frame' ? spec.prefixBytes : 0);
}
