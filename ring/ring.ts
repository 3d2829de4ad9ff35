import { fpError } from '../protocol/index.js';
import {
  RECORD_FLAGS_MAX,
  RECORD_HEADER_BYTES,
  RECORD_TYPE_MAX,
  RECORD_TYPE_PAD,
  RING_HEADER_BYTES,
  RingWord,
  type RingHeader,
  readRingHeader,
  recordBytes,
  recordCheck,
} from './layout.js';

/**
 * The single-producer single-consumer byte ring of docs/SPEC.md §10.3, over any
 * ArrayBuffer laid out by `layout.ts` (a shared-memory mapping in production, a plain
 * ArrayBuffer in the model tests). No timers, no system calls: waking a sleeping peer
 * goes through the `wake` callback the transport passes in (a futex wake).
 */

/** Called after a doorbell word was bumped, to wake a peer sleeping on it. */
export type WakeFn = (buffer: ArrayBuffer, byteOffset: number) => void;

const NO_WAKE: WakeFn = () => undefined;

/** Options of both ends of a ring. */
export interface RingEndOptions {
  /** Process id recorded in the ring for liveness checks (default `process.pid`). */
  readonly pid?: number;
  /** Wakes the peer after a doorbell was rung (default: none, for spinning peers). */
  readonly wake?: WakeFn;
  /** Validation of the header, e.g. the capacity announced in the handshake. */
  readonly expectCapacityBytes?: number;
}

class RingEnd {
  readonly header: RingHeader;
  protected readonly words: Int32Array;
  protected readonly recordWords: Uint32Array;
  protected readonly bytes: Uint8Array;
  protected readonly mask: number;
  protected readonly wake: WakeFn;
  protected closed = false;

  constructor(
    readonly buffer: ArrayBuffer,
    options: RingEndOptions,
  ) {
    this.header = readRingHeader(buffer, options.expectCapacityBytes === undefined ? {} : { capacityBytes: options.expectCapacityBytes });
    const capacity = this.header.capacityBytes;
    this.words = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
    this.recordWords = new Uint32Array(buffer, RING_HEADER_BYTES, capacity / 4);
    this.bytes = new Uint8Array(buffer, RING_HEADER_BYTES, capacity);
    this.mask = capacity - 1;
    this.wake = options.wake ?? NO_WAKE;
  }

  get capacityBytes(): number {
    return this.header.capacityBytes;
  }

  protected claim(pidWord: number, pid: number, role: string): void {
    const previous = Atomics.compareExchange(this.words, pidWord, 0, pid);
    if (previous !== 0 && previous !== pid) {
      throw fpError('FP_RING_INVALID', `ring already has a ${role} (pid ${previous}); a ring has exactly one ${role}`, { pid: previous });
    }
  }

  protected ring(doorbellWord: number, waitingWord: number): void {
    if (Atomics.load(this.words, waitingWord) !== 0) {
      Atomics.add(this.words, doorbellWord, 1);
      this.wake(this.buffer, doorbellWord * 4);
    }
  }

  protected assertOpen(): void {
    if (this.closed) throw fpError('FP_RING_CLOSED', 'this end of the ring was closed');
  }
}

/** The writing end. */
export class RingProducer extends RingEnd {
  private writePos: number;
  private readPosSeen: number;
  private seq: number;

  constructor(buffer: ArrayBuffer, options: RingEndOptions = {}) {
    super(buffer, options);
    this.claim(RingWord.producerPid, options.pid ?? process.pid, 'producer');
    this.writePos = Atomics.load(this.words, RingWord.writePos) >>> 0;
    this.readPosSeen = Atomics.load(this.words, RingWord.readPos) >>> 0;
    this.seq = Atomics.load(this.words, RingWord.nextSeq) >>> 0;
  }

  /** Largest payload a single record can carry. */
  get maxPayloadBytes(): number {
    return this.header.maxRecordBytes - RECORD_HEADER_BYTES;
  }

  /** Bytes free right now (re-reads the consumer's position). */
  freeBytes(): number {
    this.readPosSeen = Atomics.load(this.words, RingWord.readPos) >>> 0;
    return this.capacityBytes - ((this.writePos - this.readPosSeen) >>> 0);
  }

  /**
   * Appends one record made of `parts` (gathered, copied once) if it fits now.
   * Returns false when the ring has no room; throws FP_RING_TOO_LARGE when the record
   * could never fit, so a caller chunks instead.
   */
  tryWrite(type: number, parts: Uint8Array | readonly Uint8Array[], flags = 0): boolean {
    this.assertOpen();
    if (!Number.isInteger(type) || type <= RECORD_TYPE_PAD || type > RECORD_TYPE_MAX) {
      throw fpError('FP_SHM_ARGUMENT', `record type ${type} is not an integer in 1..${RECORD_TYPE_MAX} (0 is padding)`);
    }
    if (!Number.isInteger(flags) || flags < 0 || flags > RECORD_FLAGS_MAX) {
      throw fpError('FP_SHM_ARGUMENT', `record flags ${flags} are not an integer in 0..${RECORD_FLAGS_MAX}`);
    }
    let payloadBytes = 0;
    if (parts instanceof Uint8Array) payloadBytes = parts.byteLength;
    else for (const p of parts) payloadBytes += p.byteLength;
    const size = recordBytes(payloadBytes);
    if (size > this.header.maxRecordBytes) {
      throw fpError(
        'FP_RING_TOO_LARGE',
        `record of ${payloadBytes} payload bytes exceeds the ring's limit of ${this.maxPayloadBytes} bytes per record: split it into chunks`,
        { payloadBytes, maxPayloadBytes: this.maxPayloadBytes },
      );
    }
    let offset = this.writePos & this.mask;
    const contiguous = this.capacityBytes - offset;
    const padBytes = contiguous < size ? contiguous : 0;
    const need = size + padBytes;
    if (this.capacityBytes - ((this.writePos - this.readPosSeen) >>> 0) < need && this.freeBytes() < need) return false;
    if (Atomics.load(this.words, RingWord.consumerClosed) !== 0) {
      throw fpError('FP_RING_CLOSED', 'the consumer closed the ring; nothing written now would be read');
    }
    if (padBytes > 0) {
      this.writeHeader(offset, padBytes - RECORD_HEADER_BYTES, RECORD_TYPE_PAD, 0);
      this.writePos = (this.writePos + padBytes) >>> 0;
      offset = 0;
    }
    const typeAndFlags = (type | (flags << 16)) >>> 0;
    this.writeHeader(offset, payloadBytes, typeAndFlags, this.seq);
    let at = offset + RECORD_HEADER_BYTES;
    if (parts instanceof Uint8Array) this.bytes.set(parts, at);
    else
      for (const p of parts) {
        this.bytes.set(p, at);
        at += p.byteLength;
      }
    this.seq = (this.seq + 1) >>> 0;
    this.writePos = (this.writePos + size) >>> 0;
    this.words[RingWord.nextSeq] = this.seq | 0;
    Atomics.store(this.words, RingWord.writePos, this.writePos | 0);
    this.ring(RingWord.dataDoorbell, RingWord.consumerWaiting);
    return true;
  }

  /** True when a record of `payloadBytes` (and any padding before it) fits now. */
  fits(payloadBytes: number): boolean {
    const size = recordBytes(payloadBytes);
    const contiguous = this.capacityBytes - (this.writePos & this.mask);
    return this.freeBytes() >= size + (contiguous < size ? contiguous : 0);
  }

  /** True once the consumer closed its end. */
  get consumerClosed(): boolean {
    return Atomics.load(this.words, RingWord.consumerClosed) !== 0;
  }

  private writeHeader(offset: number, payloadBytes: number, typeAndFlags: number, seq: number): void {
    const w = offset >>> 2;
    this.recordWords[w] = payloadBytes;
    this.recordWords[w + 1] = typeAndFlags;
    this.recordWords[w + 2] = seq;
    this.recordWords[w + 3] = recordCheck(payloadBytes, typeAndFlags, seq, this.writePos);
  }

  /** Stores the heartbeat (low 32 bits of the wall clock in ms). */
  heartbeat(nowMs: number = Date.now()): void {
    Atomics.store(this.words, RingWord.producerHeartbeatMs, nowMs % 2 ** 32 | 0);
  }

  /**
   * Before sleeping on a full ring: announces the wait and returns the space doorbell
   * value to wait on, or `undefined` when space for `payloadBytes` appeared meanwhile.
   */
  armWait(payloadBytes: number): number | undefined {
    Atomics.store(this.words, RingWord.producerWaiting, 1);
    const doorbell = Atomics.load(this.words, RingWord.spaceDoorbell);
    if (this.fits(payloadBytes) || Atomics.load(this.words, RingWord.consumerClosed) !== 0) {
      this.disarmWait();
      return undefined;
    }
    return doorbell;
  }

  disarmWait(): void {
    Atomics.store(this.words, RingWord.producerWaiting, 0);
  }

  /** Marks the end of the stream; the consumer reads what is left, then sees `ended`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.words, RingWord.producerClosed, 1);
    Atomics.add(this.words, RingWord.dataDoorbell, 1);
    this.wake(this.buffer, RingWord.dataDoorbell * 4);
  }
}

/**
 * One record read from a ring. `payload` is a view into the shared segment (zero
 * copy): valid until {@link RingConsumer.release}, after which the producer may
 * overwrite it.
 */
export class RingRecord {
  /** @internal */ released = false;
  constructor(
    readonly type: number,
    readonly flags: number,
    readonly seq: number,
    readonly payload: Uint8Array,
    /** @internal position just past this record */ readonly endPos: number,
    /** @internal */ readonly owner: RingConsumer,
  ) {}
}

/** A padding record skipped while earlier records were still held. */
interface PadMark {
  readonly released: true;
  readonly endPos: number;
}

/** The reading end. */
export class RingConsumer extends RingEnd {
  private readCursor: number;
  private writePosSeen: number;
  /** Sequence number of the next record; -1 until the first record when attaching to a ring with unread data. */
  private expectedSeq: number;
  /** Records (and skipped pads) read and not yet freed, oldest first from `head`. */
  private pending: Array<RingRecord | PadMark> = [];
  private head = 0;
  private held = 0;

  constructor(buffer: ArrayBuffer, options: RingEndOptions = {}) {
    super(buffer, options);
    this.claim(RingWord.consumerPid, options.pid ?? process.pid, 'consumer');
    this.readCursor = Atomics.load(this.words, RingWord.readPos) >>> 0;
    this.writePosSeen = this.readCursor;
    this.expectedSeq = Atomics.load(this.words, RingWord.nextSeq) >>> 0;
    if (this.availableBytes() !== 0) this.expectedSeq = -1;
  }

  /** Bytes published and not yet read. */
  availableBytes(): number {
    this.writePosSeen = Atomics.load(this.words, RingWord.writePos) >>> 0;
    return (this.writePosSeen - this.readCursor) >>> 0;
  }

  /** Records read and not yet released. */
  get heldRecords(): number {
    return this.held;
  }

  /** True once the producer closed and every record was read. */
  get ended(): boolean {
    return Atomics.load(this.words, RingWord.producerClosed) !== 0 && this.availableBytes() === 0;
  }

  /**
   * Reads the next record, or returns null when none is published. Throws
   * FP_RING_CORRUPT when a header fails its check (torn or overwritten), a length runs
   * past the published data, or a sequence number is skipped; the ring is then unusable.
   */
  tryRead(): RingRecord | null {
    this.assertOpen();
    for (;;) {
      let available = (this.writePosSeen - this.readCursor) >>> 0;
      if (available === 0) {
        available = this.availableBytes();
        if (available === 0) return null;
      }
      if (available > this.capacityBytes) this.corrupt(`${available} bytes published exceeds capacity ${this.capacityBytes}`);
      const offset = this.readCursor & this.mask;
      const w = offset >>> 2;
      const payloadBytes = this.recordWords[w]!;
      const typeAndFlags = this.recordWords[w + 1]!;
      const seq = this.recordWords[w + 2]!;
      if (this.recordWords[w + 3] !== recordCheck(payloadBytes, typeAndFlags, seq, this.readCursor)) {
        this.corrupt(`record header at position ${this.readCursor} fails its check (torn or overwritten)`);
      }
      const size = recordBytes(payloadBytes);
      if ((typeAndFlags & 0xffff) === RECORD_TYPE_PAD) {
        if (typeAndFlags !== RECORD_TYPE_PAD || offset + size !== this.capacityBytes || size > available) {
          this.corrupt(`padding at offset ${offset} does not fill the data region up to its end`);
        }
        this.readCursor = (this.readCursor + size) >>> 0;
        if (this.head === this.pending.length) this.publishReadPos(this.readCursor);
        else this.pending.push({ released: true, endPos: this.readCursor });
        continue;
      }
      if (size > available || offset + size > this.capacityBytes || size > this.header.maxRecordBytes) {
        this.corrupt(`record of ${payloadBytes} bytes at position ${this.readCursor} runs past the published data`);
      }
      if (this.expectedSeq === -1) this.expectedSeq = seq;
      if (seq !== this.expectedSeq) this.corrupt(`sequence number ${seq} where ${this.expectedSeq} was expected`);
      this.expectedSeq = (seq + 1) >>> 0;
      this.readCursor = (this.readCursor + size) >>> 0;
      const record = new RingRecord(
        typeAndFlags & 0xffff,
        typeAndFlags >>> 16,
        seq,
        new Uint8Array(this.buffer, RING_HEADER_BYTES + offset + RECORD_HEADER_BYTES, payloadBytes),
        this.readCursor,
        this,
      );
      this.pending.push(record);
      this.held++;
      return record;
    }
  }

  /**
   * Gives a record's space back to the producer. Records may be released in any
   * order; space is freed up to the oldest record still held.
   */
  release(record: RingRecord): void {
    if (record.owner !== this || record.released) {
      throw fpError('FP_RING_RELEASE', record.released ? `record seq ${record.seq} was already released` : 'record was not read from this ring');
    }
    record.released = true;
    this.held--;
    let freedTo = -1;
    while (this.head < this.pending.length && this.pending[this.head]!.released) {
      freedTo = this.pending[this.head]!.endPos;
      this.head++;
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    if (freedTo !== -1) this.publishReadPos(freedTo);
  }

  private publishReadPos(pos: number): void {
    Atomics.store(this.words, RingWord.readPos, pos | 0);
    this.ring(RingWord.spaceDoorbell, RingWord.producerWaiting);
  }

  private corrupt(what: string): never {
    throw fpError('FP_RING_CORRUPT', `shared-memory ring is corrupt: ${what}`);
  }

  /** Stores the heartbeat (low 32 bits of the wall clock in ms). */
  heartbeat(nowMs: number = Date.now()): void {
    Atomics.store(this.words, RingWord.consumerHeartbeatMs, nowMs % 2 ** 32 | 0);
  }

  /**
   * Before sleeping: announces the wait and returns the data doorbell value to wait
   * on, or `undefined` when data (or the end of the stream) arrived meanwhile.
   */
  armWait(): number | undefined {
    Atomics.store(this.words, RingWord.consumerWaiting, 1);
    const doorbell = Atomics.load(this.words, RingWord.dataDoorbell);
    if (this.availableBytes() !== 0 || Atomics.load(this.words, RingWord.producerClosed) !== 0) {
      this.disarmWait();
      return undefined;
    }
    return doorbell;
  }

  disarmWait(): void {
    Atomics.store(this.words, RingWord.consumerWaiting, 0);
  }

  /** Stops reading; tells a producer waiting for space that none will come. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.words, RingWord.consumerClosed, 1);
    Atomics.add(this.words, RingWord.spaceDoorbell, 1);
    this.wake(this.buffer, RingWord.spaceDoorbell * 4);
  }
}
