import { randomBytes } from 'node:crypto';
import { type FastMessage, fpError } from '../protocol/index.js';
import { initRingHeader, readRingHeader, ringSegmentBytes } from './layout.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_PEER_STALE_MS, peerState } from './liveness.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type IncomingMessage, MessageReader, MessageWriter } from './message-channel.js';
import { RingConsumer, RingProducer } from './ring.js';
import { type SharedSegment, createSegment, futexWake, openSegment, unlinkSegment } from './segment.js';
import { AsyncRingWaiter, type WaitPolicy, waitForData, waitForSpace } from './wait.js';

/**
 * A fast session over two rings (docs/SPEC.md §10): the segments, the handshake-side
 * validation, and {@link RingSession}, one end of the conversation (the client writes
 * the request ring and reads the response ring; the server the other way round).
 */

/** Default data capacity of each ring: 4 MiB (records up to 2 MiB; larger messages are chunked). */
export const DEFAULT_RING_CAPACITY_BYTES = 4 * 1024 * 1024;

export interface RingPairNames {
  readonly requestRing: string;
  readonly responseRing: string;
}

let nameCounter = 0;

/** Fresh segment names `fastpath-<pid>-<n>-req` / `-rsp` (§10.6.2). */
export function newRingPairNames(pid: number = process.pid): RingPairNames {
  const n = `${(nameCounter++).toString(36)}${randomBytes(3).toString('hex')}`;
  return { requestRing: `fastpath-${pid}-${n}-req`, responseRing: `fastpath-${pid}-${n}-rsp` };
}

/** Both segments of a session, created by the client (§10.1.2). */
export interface CreatedRingPair {
  readonly names: RingPairNames;
  readonly capacityBytes: number;
  readonly request: SharedSegment;
  readonly response: SharedSegment;
  /** Removes both names from /dev/shm (the mappings stay); idempotent. */
  unlink(): void;
}

/** Creates and initialises both rings of a session (mode 0600). */
export function createRingPair(capacityBytes: number = DEFAULT_RING_CAPACITY_BYTES, names: RingPairNames = newRingPairNames()): CreatedRingPair {
  const size = ringSegmentBytes(capacityBytes);
  const request = createSegment(names.requestRing, size);
  let response: SharedSegment;
  try {
    response = createSegment(names.responseRing, size);
  } catch (err) {
    request.close();
    unlinkSegment(names.requestRing);
    throw err;
  }
  initRingHeader(request.buffer, capacityBytes, process.pid);
  initRingHeader(response.buffer, capacityBytes, process.pid);
  let unlinked = false;
  return {
    names,
    capacityBytes,
    request,
    response,
    unlink() {
      if (unlinked) return;
      unlinked = true;
      unlinkSegment(names.requestRing);
      unlinkSegment(names.responseRing);
    },
  };
}

/**
 * Opens a segment created by the peer and refuses it (FP_RING_INVALID, naming the
 * field) unless it is a 0600 file of this user, of exactly the announced size, with a
 * valid ring header (§10.2.3).
 */
export function openRingSegment(name: string, capacityBytes: number): SharedSegment {
  const segment = openSegment(name);
  try {
    const refuse = (what: string): never => {
      throw fpError('FP_RING_INVALID', `segment ${name} refused: ${what}`, { segment: name });
    };
    if (segment.mode !== 0o600) refuse(`mode ${segment.mode.toString(8).padStart(4, '0')}, expected 0600 (owner read-write only)`);
    const uid = process.getuid?.();
    if (uid !== undefined && segment.ownerUid !== uid) refuse(`owned by uid ${segment.ownerUid}, expected this user's uid ${uid}`);
    const expected = ringSegmentBytes(capacityBytes);
    if (segment.sizeBytes !== expected) refuse(`size ${segment.sizeBytes} bytes, expected ${expected} (320 + capacity ${capacityBytes})`);
    try {
      readRingHeader(segment.buffer, { capacityBytes, fileBytes: segment.sizeBytes });
    } catch (err) {
      refuse((err as Error).message);
    }
    return segment;
  } catch (err) {
    segment.close();
    throw err;
  }
}

function wakeFutex(buffer: ArrayBuffer, byteOffset: number): void {
  futexWake(buffer, byteOffset, 1);
}

export interface RingSessionOptions {
  readonly wait: WaitPolicy;
  readonly maxMessageBytes?: number;
  readonly heartbeatIntervalMs?: number;
  /** Heartbeat age after which the peer counts as dead (default 5 s). */
  readonly peerStaleMs?: number;
}

/**
 * One end of a fast session: writes FastMessages into `out`, reads them from `in`.
 * Synchronous methods block the calling thread (benchmark clients, worker threads);
 * {@link startReceiving} delivers messages on the event loop (servers, libraries).
 */
export class RingSession {
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
  private readonly writer: MessageWriter;
  private readonly reader: MessageReader;
  private readonly heartbeat: NodeJS.Timeout;
  private waiter: AsyncRingWaiter | undefined;
  private flushTimer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private flushAttempts = 0;
  private closed = false;
  readonly maxMessageBytes: number;
  private readonly peerStaleMs: number;

  constructor(
    private readonly out: SharedSegment,
    private readonly incoming: SharedSegment,
    readonly options: RingSessionOptions,
  ) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.peerStaleMs = options.peerStaleMs ?? DEFAULT_PEER_STALE_MS;
    this.producer = new RingProducer(out.buffer, { wake: wakeFutex });
    this.consumer = new RingConsumer(incoming.buffer, { wake: wakeFutex });
    this.writer = new MessageWriter(this.producer, this.maxMessageBytes);
    this.reader = new MessageReader(this.consumer, this.maxMessageBytes);
    const beat = (): void => {
      this.producer.heartbeat();
      this.consumer.heartbeat();
    };
    beat();
    this.heartbeat = setInterval(beat, options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
  }

  /** The client end: writes the request ring, reads the response ring. */
  static client(pair: CreatedRingPair, options: RingSessionOptions): RingSession {
    return new RingSession(pair.request, pair.response, options);
  }

  /** The server end: reads the request ring, writes the response ring. */
  static server(request: SharedSegment, response: SharedSegment, options: RingSessionOptions): RingSession {
    return new RingSession(response, request, options);
  }

  /** Throws FP_RING_PEER_DEAD when the peer closed, died or stopped beating (§10.6.1). */
  checkPeer(): void {
    for (const [buffer, role] of [
      [this.incoming.buffer, 'producer'],
      [this.out.buffer, 'consumer'],
    ] as const) {
      const state = peerState(buffer, role, this.peerStaleMs);
      if (state.state === 'dead') throw fpError('FP_RING_PEER_DEAD', `fast-session peer is gone: ${state.reason}`, { pid: state.pid });
      if (state.state === 'closed' && role === 'consumer') throw fpError('FP_RING_PEER_DEAD', `fast-session peer (pid ${state.pid}) closed the session`);
    }
  }

  /** Queues a message and writes what fits now; true when all of it was written. */
  send(message: FastMessage): boolean {
    this.assertOpen();
    this.writer.enqueue(message);
    return this.writer.flush();
  }

  /** Writes queued messages while they fit; true when nothing is left queued. */
  flush(): boolean {
    this.assertOpen();
    return this.writer.flush();
  }

  /** Blocks until everything queued is written (or `timeoutMs`, FP_TIMEOUT). */
  flushSync(timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs;
    while (!this.writer.flush()) {
      const left = deadline - performance.now();
      if (left <= 0 || waitForSpace(this.producer, this.writer.nextRecordPayloadBytes(), this.options.wait, left, () => this.checkPeer()) === 'timed-out') {
        throw fpError('FP_TIMEOUT', `no room in the fast-session ring within ${timeoutMs} ms: the peer is not reading`);
      }
    }
  }

  /** Writes what is queued as room appears, polling on the event loop. */
  flushAsync(onError: (err: unknown) => void): void {
    if (this.flushTimer !== undefined || this.closed) return;
    if (this.writer.flush()) {
      this.flushAttempts = 0;
      return;
    }
    const retry = (): void => {
      this.flushTimer = undefined;
      if (this.closed) return;
      try {
        if (!this.writer.flush()) {
          this.checkPeer();
          this.flushAttempts++;
          this.flushTimer = this.flushAttempts < 1000 ? setImmediate(retry) : setTimeout(retry, 1);
        } else {
          this.flushAttempts = 0;
        }
      } catch (err) {
        onError(err);
      }
    };
    this.flushTimer = setImmediate(retry);
  }

  /** Messages queued and not yet completely written. */
  get queuedMessages(): number {
    return this.writer.queued;
  }

  /** The next complete message if one is there. */
  tryReceive(): IncomingMessage | null {
    this.assertOpen();
    return this.reader.tryRead();
  }

  /** Blocks until a message arrives; null after `timeoutMs` or when the peer closed its ring. */
  receiveSync(timeoutMs: number): IncomingMessage | null {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const message = this.reader.tryRead();
      if (message !== null) return message;
      if (this.consumer.ended) return null;
      const left = deadline - performance.now();
      if (left <= 0) return null;
      waitForData(this.consumer, this.options.wait, left, () => this.checkPeer());
    }
  }

  /**
   * Delivers every incoming message to `onMessage` on the event loop (in order), and
   * liveness or ring errors to `onError` (after which nothing more is delivered).
   */
  startReceiving(onMessage: (message: IncomingMessage) => void, onError: (err: unknown) => void): void {
    this.assertOpen();
    if (this.waiter !== undefined) throw fpError('FP_RING_CLOSED', 'startReceiving was already called');
    const drain = (): void => {
      try {
        for (let m = this.reader.tryRead(); m !== null; m = this.closed ? null : this.reader.tryRead()) onMessage(m);
        if (this.closed) return; // onMessage closed the session: the mapping is gone
        if (this.consumer.ended) throw fpError('FP_RING_PEER_DEAD', 'fast-session peer closed its ring');
      } catch (err) {
        if (this.closed) return;
        this.waiter?.stop();
        onError(err);
      }
    };
    this.waiter = new AsyncRingWaiter(this.consumer, this.options.wait, drain);
    this.waiter.start();
    const liveness = setInterval(() => {
      if (this.closed) return clearInterval(liveness);
      try {
        this.checkPeer();
      } catch (err) {
        clearInterval(liveness);
        this.waiter?.stop();
        onError(err);
      }
    }, Math.max(100, Math.min(this.peerStaleMs / 4, 1_000)));
    liveness.unref();
  }

  private assertOpen(): void {
    if (this.closed) throw fpError('FP_RING_CLOSED', 'the fast session is closed');
  }

  /** Closes both ends (the peer sees `closed`), stops waiting, unmaps both segments. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.flushTimer !== undefined) {
      // clearImmediate must only get an Immediate: given a Timeout it corrupts Node's immediate queue.
      if ('refresh' in this.flushTimer) clearTimeout(this.flushTimer);
      else clearImmediate(this.flushTimer);
    }
    this.waiter?.stop();
    this.producer.close();
    this.consumer.close();
    this.out.close();
    this.incoming.close();
  }
}
