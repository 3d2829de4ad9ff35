import { fpError } from './errors.js';
import { type FramingSpec, lpLengthFor } from './framing.js';

const NEWLINE = Buffer.from('\n');

/**
 * Wraps an encoded body in a frame of `spec` (docs/SPEC.md §3).
 * @throws FastPathError FP_ENCODE when the body contains a newline in ndjson or does not fit the prefix.
 */
export function encodeFrame(spec: FramingSpec, body: Uint8Array): Buffer {
  if (spec.kind === 'ndjson') {
    if (body.indexOf(0x0a) !== -1) throw fpError('FP_ENCODE', 'ndjson body contains a newline byte');
    return Buffer.concat([body, NEWLINE], body.length + 1);
  }
  const length = lpLengthFor(spec, body.length);
  const max = spec.prefixBytes === 2 ? 0xffff : 0xffffffff;
  if (length > max) throw fpError('FP_ENCODE', `body of ${body.length} bytes does not fit a ${spec.prefixBytes}-byte length prefix`);
  const out = Buffer.allocUnsafe(spec.prefixBytes + spec.header.length + body.length);
  writeLength(out, spec.prefixBytes, spec.endian, length);
  out.set(spec.header, spec.prefixBytes);
  out.set(body, spec.prefixBytes + spec.header.length);
  return out;
}

/** Writes an arbitrary length prefix (also values a correct encoder would never write, for tests and fuzzing). */
export function writeLength(out: Buffer, prefixBytes: 2 | 4, endian: 'be' | 'le', length: number, offset = 0): void {
  if (prefixBytes === 2) {
    if (endian === 'be') out.writeUInt16BE(length, offset);
    else out.writeUInt16LE(length, offset);
  } else if (endian === 'be') out.writeUInt32BE(length, offset);
  else out.writeUInt32LE(length, offset);
}
