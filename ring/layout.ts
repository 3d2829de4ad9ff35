import { fpError } from '../protocol/index.js';

/**
 * The memory layout of a fastpath ring segment (docs/SPEC.md §10.2). All integers are
 * little-endian 32-bit words; positions are byte counters that wrap at 2^32 and are
 * reduced modulo the (power-of-two) capacity to find an offset in the data region.
 *
 * ```
 * 0    header, 64 bytes: identity, written once; `ready` is stored last
 * 64   producer line:  writePos, producerPid, producerHeartbeatMs, nextSeq, producerClosed
 * 128  consumer line:  readPos, consumerPid, consumerHeartbeatMs, consumerClosed
 * 192  data doorbell:  dataDoorbell, consumerWaiting
 * 256  space doorbell: spaceDoorbell, producerWaiting
 * 320  data region, `capacityBytes` bytes of 16-byte aligned records
 * ```
 */

/** "FPRG" read as a little-endian 32-bit word. */
export const RING_MAGIC = 0x47525046;
export const RING_LAYOUT_VERSION = 1;
/** Header (64) plus metadata (4 cache lines of 64). */
export const RING_HEADER_BYTES = 320;
/** Value of the `ready` word once the creator has written everything else. */
export const RING_READY = 1;

/** Byte offsets of the header and metadata words. */
export const RingOffset = {
  magic: 0,
  layoutVersion: 4,
  headerBytes: 8,
  capacityBytes: 12,
  segmentBytes: 16,
  maxRecordBytes: 20,
  creatorPid: 24,
  ready: 60,
  writePos: 64,
  producerPid: 68,
  producerHeartbeatMs: 72,
  nextSeq: 76,
  producerClosed: 80,
  readPos: 128,
  consumerPid: 132,
  consumerHeartbeatMs: 136,
  consumerClosed: 140,
  dataDoorbell: 192,
  consumerWaiting: 196,
  spaceDoorbell: 256,
  producerWaiting: 260,
} as const;

/** 32-bit word index of each field, for Int32Array / Atomics access. */
export const RingWord = Object.fromEntries(
  Object.entries(RingOffset).map(([k, v]) => [k, v / 4]),
) as { readonly [K in keyof typeof RingOffset]: number };

/** Record header: payloadBytes u32, type u16, flags u16, seq u32, check u32. */
export const RECORD_HEADER_BYTES = 16;
/** Records start on 16-byte boundaries. */
export const RECORD_ALIGN_BYTES = 16;
/** Type of the padding record that fills the tail of the data region before a wrap. */
export const RECORD_TYPE_PAD = 0;
/** Largest record type a user may write. */
export const RECORD_TYPE_MAX = 0xffff;
export const RECORD_FLAGS_MAX = 0xffff;
const CHECK_SALT = 0x9e3779b9;

export const MIN_RING_CAPACITY_BYTES = 4096;
/** 1 GiB: positions wrap at 2^32, so the capacity must stay well below it. */
export const MAX_RING_CAPACITY_BYTES = 1 << 30;

/** Total record size, header included, rounded up to the alignment. */
export function recordBytes(payloadBytes: number): number {
  return (RECORD_HEADER_BYTES + payloadBytes + RECORD_ALIGN_BYTES - 1) & ~(RECORD_ALIGN_BYTES - 1);
}

/**
 * The check word of a record header: binds length, type, flags, sequence number and
 * the record's position, so a header left over from an earlier lap or half written
 * never reads as valid.
 */
export function recordCheck(payloadBytes: number, typeAndFlags: number, seq: number, position: number): number {
  let h = Math.imul(payloadBytes ^ CHECK_SALT, 0x85ebca6b);
  h = Math.imul(h ^ typeAndFlags ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ seq ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ position ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The largest record (header included) a ring of this capacity accepts: half of it. */
export function maxRecordBytesFor(capacityBytes: number): number {
  return capacityBytes / 2;
}

/** Segment size for a data region of `capacityBytes`. */
export function ringSegmentBytes(capacityBytes: number): number {
  checkCapacity(capacityBytes);
  return RING_HEADER_BYTES + capacityBytes;
}

/** Throws FP_RING_INVALID unless `capacityBytes` is a power of two in range. */
export function checkCapacity(capacityBytes: number): void {
  if (
    !Number.isInteger(capacityBytes) ||
    capacityBytes < MIN_RING_CAPACITY_BYTES ||
    capacityBytes > MAX_RING_CAPACITY_BYTES ||
    (capacityBytes & (capacityBytes - 1)) !== 0
  ) {
    throw fpError(
      'FP_RING_INVALID',
      `ring capacity ${capacityBytes} bytes is not a power of two between ${MIN_RING_CAPACITY_BYTES} and ${MAX_RING_CAPACITY_BYTES}: choose e.g. 4194304 (4 MiB)`,
      { capacityBytes },
    );
  }
}

/** The identity fields of a ring header. */
export interface RingHeader {
  readonly layoutVersion: number;
  readonly capacityBytes: number;
  readonly segmentBytes: number;
  readonly maxRecordBytes: number;
  readonly creatorPid: number;
}

/**
 * Writes a fresh header into a zero-filled segment; the `ready` word is stored last so
 * an opener never sees a half-initialised ring.
 */
export function initRingHeader(buffer: ArrayBuffer, capacityBytes: number, creatorPid: number): RingHeader {
  const segmentBytes = ringSegmentBytes(capacityBytes);
  if (buffer.byteLength < segmentBytes) {
    throw fpError('FP_RING_INVALID', `segment of ${buffer.byteLength} bytes is too small for a ring of ${capacityBytes} bytes (needs ${segmentBytes})`);
  }
  const words = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
  const header: RingHeader = {
    layoutVersion: RING_LAYOUT_VERSION,
    capacityBytes,
    segmentBytes,
    maxRecordBytes: maxRecordBytesFor(capacityBytes),
    creatorPid,
  };
  words.fill(0);
  words[RingWord.magic] = RING_MAGIC | 0;
  words[RingWord.layoutVersion] = header.layoutVersion;
  words[RingWord.headerBytes] = RING_HEADER_BYTES;
  words[RingWord.capacityBytes] = capacityBytes | 0;
  words[RingWord.segmentBytes] = segmentBytes | 0;
  words[RingWord.maxRecordBytes] = header.maxRecordBytes | 0;
  words[RingWord.creatorPid] = creatorPid;
  Atomics.store(words, RingWord.ready, RING_READY);
  return header;
}

/** What an opener expects of a ring it did not create. */
export interface RingExpectation {
  /** Capacity announced by the creator, e.g. in the handshake. */
  readonly capacityBytes?: number;
  /** Size of the mapped file. */
  readonly fileBytes?: number;
}

/**
 * Reads and validates a ring header, throwing FP_RING_INVALID with the exact field
 * that is wrong (not ready, magic, layout version, header size, capacity, segment size
 * or record limit), so a peer refuses a foreign or damaged segment before using it.
 */
export function readRingHeader(buffer: ArrayBuffer, expect: RingExpectation = {}): RingHeader {
  if (buffer.byteLength < RING_HEADER_BYTES) {
    throw fpError('FP_RING_INVALID', `segment of ${buffer.byteLength} bytes is smaller than a ring header (${RING_HEADER_BYTES} bytes)`);
  }
  const words = new Uint32Array(buffer, 0, RING_HEADER_BYTES / 4);
  const u32 = (k: keyof typeof RingWord): number => Atomics.load(words, RingWord[k]);
  const bad = (what: string): never => {
    throw fpError('FP_RING_INVALID', `not a usable fastpath ring: ${what}`, { what });
  };
  if (u32('ready') !== RING_READY) bad(`ready flag is ${u32('ready')}, expected ${RING_READY} (the creator has not finished initialising it, or it is not a ring)`);
  if (u32('magic') !== RING_MAGIC) bad(`magic is 0x${u32('magic').toString(16)}, expected 0x${RING_MAGIC.toString(16)} ("FPRG")`);
  if (u32('layoutVersion') !== RING_LAYOUT_VERSION) bad(`layout version ${u32('layoutVersion')}, this implementation speaks ${RING_LAYOUT_VERSION}`);
  if (u32('headerBytes') !== RING_HEADER_BYTES) bad(`header size ${u32('headerBytes')}, expected ${RING_HEADER_BYTES}`);
  const capacityBytes = u32('capacityBytes');
  try {
    checkCapacity(capacityBytes);
  } catch {
    bad(`capacity ${capacityBytes} is not a power of two between ${MIN_RING_CAPACITY_BYTES} and ${MAX_RING_CAPACITY_BYTES}`);
  }
  const segmentBytes = u32('segmentBytes');
  if (segmentBytes !== RING_HEADER_BYTES + capacityBytes) bad(`segment size field ${segmentBytes} does not equal header + capacity (${RING_HEADER_BYTES + capacityBytes})`);
  if (segmentBytes > buffer.byteLength) bad(`segment size field ${segmentBytes} exceeds the mapping (${buffer.byteLength} bytes)`);
  if (expect.fileBytes !== undefined && expect.fileBytes !== segmentBytes) bad(`file is ${expect.fileBytes} bytes, header says ${segmentBytes}`);
  if (expect.capacityBytes !== undefined && expect.capacityBytes !== capacityBytes) bad(`capacity ${capacityBytes} differs from the announced ${expect.capacityBytes}`);
  const maxRecordBytes = u32('maxRecordBytes');
  if (maxRecordBytes !== maxRecordBytesFor(capacityBytes)) bad(`record limit ${maxRecordBytes}, expected ${maxRecordBytesFor(capacityBytes)}`);
  return { layoutVersion: RING_LAYOUT_VERSION, capacityBytes, segmentBytes, maxRecordBytes, creatorPid: u32('creatorPid') };
}
