import type { Socket } from 'node:net';
import type { CaseContext } from '../../harness/case.js';
import { helloExchange, type HelloExchange, type HelloOutcome, openFastSession, type FastSessionClient, type FastSessionClientOptions } from '../../harness/fast-session-client.js';
import {
  decodeFastMessage,
  encodeFastMessageBytes,
  FAST_MESSAGE_VERSION,
  FAST_SESSION_VERSION,
  type FastMessage,
  type ReadyReply,
} from '../../protocol/index.js';
import {
  createSegment,
  type IncomingMessage,
  initRingHeader,
  newRingPairNames,
  RingSession,
  ringSegmentBytes,
  type RingPairNames,
  type SharedSegment,
  shmSupport,
  unlinkSegment,
} from '../../ring/index.js';
import { Mismatch, show } from './expect.js';

/**
 * Client-side building blocks of the fast-session cases (docs/SPEC.md §10): sessions
 * through the harness client (harness/fast-session-client.ts), a raw shm session that
 * shows every message the server writes (nothing matched away by id), deliberately
 * wrong segments, and lp32 FastMessage frames on a socket.
 */

/** Ring capacity of the cases' sessions unless a case needs more: 64 KiB (records up to 32 KiB). */
export const SMALL_RING_BYTES = 64 * 1024;

/** Why shared memory cannot be used by the suite itself here, or undefined when it can. */
export function harnessShmProblem(): string | undefined {
  const support = shmSupport();
  return support.available ? undefined : `shared memory is unavailable on the harness side, so shm sessions cannot be tried: ${support.reason}`;
}

/** The client options of a case: the target's socket, framing, auth mode and secret. */
export function clientOptions(ctx: CaseContext, transport: 'shm' | 'uds', extra: Partial<FastSessionClientOptions> = {}): FastSessionClientOptions {
  return { socketPath: ctx.target.socketPath, mode: ctx.mode, transport, capacityBytes: transport === 'shm' ? SMALL_RING_BYTES : undefined, ...extra };
}

/** One line for what the server answered to a HELLO. */
export function describeHello(outcome: HelloOutcome): string {
  switch (outcome.kind) {
    case 'ready':
      return `READY ${show(outcome.ready)}`;
    case 'rejected':
      return `rejected ${outcome.reason}${outcome.error === undefined ? '' : ` (${show(outcome.error, 200)})`}`;
    case 'malformed':
      return `a reply that is neither READY nor a rejection: ${outcome.problem}`;
  }
}

/** Releases what a {@link helloExchange} left open: the socket and the rings. */
export function releaseExchange(ex: HelloExchange): void {
  ex.socket.destroy();
  if (ex.pair !== undefined) {
    ex.pair.unlink();
    ex.pair.request.close();
    ex.pair.response.close();
  }
}

/**
 * Opens a session with the harness client; a refusal becomes a {@link Mismatch}
 * stating what the server answered.
 */
export async function openSession(ctx: CaseContext, transport: 'shm' | 'uds', extra: Partial<FastSessionClientOptions> = {}): Promise<FastSessionClient> {
  try {
    return await openFastSession(clientOptions(ctx, transport, extra));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'FP_SESSION_REFUSED' || code === 'FP_CLOSED' || code === 'FP_TIMEOUT') {
      throw new Mismatch(`a valid ${transport} HELLO was not answered with READY: ${(err as Error).message}`);
    }
    throw err;
  }
}

/** `n` bytes of a repeatable pattern that differs at every offset within 251 bytes. */
export function patternBytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) % 251;
  return out;
}

/** Where two byte strings first differ, for messages; undefined when equal. */
export function firstDifference(actual: Uint8Array | undefined, expected: Uint8Array): string | undefined {
  if (actual === undefined) return 'no result';
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))) return undefined;
  const n = Math.min(actual.byteLength, expected.byteLength);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  return actual.byteLength !== expected.byteLength && i === n
    ? `${actual.byteLength} bytes came back for ${expected.byteLength} sent`
    : `byte ${i} of ${expected.byteLength} differs (0x${(actual[i] ?? 0).toString(16)} for 0x${(expected[i] ?? 0).toString(16)})`;
}

/** A response must carry `result` (not `error`) with exactly `expected`. */
export function expectEchoed(response: FastMessage, expected: Uint8Array, what: string): void {
  if (response.error !== undefined) throw new Mismatch(`${what}: error response ${show(response.error)}, expected the ${expected.byteLength} bytes back`);
  const diff = firstDifference(response.result, expected);
  if (diff !== undefined) throw new Mismatch(`${what}: result is not the bytes sent: ${diff}`);
}

/** A FastMessage request. */
export function request(id: number, method: string, params?: Uint8Array<ArrayBuffer>): FastMessage {
  return params === undefined ? { version: FAST_MESSAGE_VERSION, type: 'request', id, method } : { version: FAST_MESSAGE_VERSION, type: 'request', id, method, params };
}

/** A FastMessage notification. */
export function notification(method: string, params?: Uint8Array<ArrayBuffer>): FastMessage {
  return params === undefined ? { version: FAST_MESSAGE_VERSION, type: 'notification', method } : { version: FAST_MESSAGE_VERSION, type: 'notification', method, params };
}

/** A copy whose byte fields outlive the ring record (`Buffer#slice` would be a view: use Uint8Array's). */
function copyBytes(m: FastMessage): FastMessage {
  const copy: FastMessage = { ...m };
  if (m.result !== undefined) copy.result = Uint8Array.prototype.slice.call(m.result);
  if (m.params !== undefined) copy.params = Uint8Array.prototype.slice.call(m.params);
  return copy;
}

/**
 * The client end of an shm session driven directly over the rings: {@link next}
 * returns every message the server writes into the response ring, in ring order,
 * so a case sees stray or reordered responses that a client matching by id would
 * hide.
 */
export class RawShmSession {
  private readonly queue: FastMessage[] = [];
  private wake: (() => void) | undefined;
  private failure: string | undefined;
  private closed = false;

  private constructor(
    readonly exchange: HelloExchange,
    readonly ready: ReadyReply,
    private readonly ring: RingSession,
  ) {}

  /** HELLO (shm) with a fresh pair of rings; a refusal is a {@link Mismatch}. The caller closes it. */
  static async open(ctx: CaseContext, capacityBytes: number = SMALL_RING_BYTES): Promise<RawShmSession> {
    const ex = await helloExchange(clientOptions(ctx, 'shm', { capacityBytes }));
    if (ex.outcome.kind !== 'ready' || ex.pair === undefined) {
      releaseExchange(ex);
      throw new Mismatch(`a valid shm HELLO was answered with ${describeHello(ex.outcome)}, expected READY`);
    }
    const ring = RingSession.client(ex.pair, { wait: { strategy: 'spin-then-futex' }, maxMessageBytes: ex.outcome.ready.maxMessageBytes });
    const session = new RawShmSession(ex, ex.outcome.ready, ring);
    session.start();
    return session;
  }

  private start(): void {
    const socket: Socket = this.exchange.socket;
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => this.stop('the server closed the control connection'));
    socket.resume();
    this.ring.startReceiving(
      (incoming: IncomingMessage) => {
        if (!incoming.ok) return this.stop(`the server wrote an undecodable FastMessage (${incoming.totalBytes} bytes): ${incoming.error}`);
        this.queue.push(incoming.zeroCopy ? copyBytes(incoming.message) : incoming.message);
        incoming.release();
        this.notify();
      },
      (err) => this.stop(`the response ring ended: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  private stop(why: string): void {
    this.failure ??= why;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Writes a message into the request ring (waiting for room in the background). */
  send(message: FastMessage): void {
    if (!this.ring.send(message)) this.ring.flushAsync((err) => this.stop(`writing a request failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** The next message from the server, or `undefined` after `timeoutMs` without one. */
  async next(timeoutMs: number, what: string): Promise<FastMessage | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) return m;
      if (this.failure !== undefined) throw new Mismatch(`${what}: ${this.failure}`);
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next message, which must arrive within `timeoutMs`. */
  async expectNext(timeoutMs: number, what: string): Promise<FastMessage> {
    const m = await this.next(timeoutMs, what);
    if (m === undefined) throw new Mismatch(`${what}: no message from the server within ${timeoutMs} ms`);
    return m;
  }

  /** Closes the rings (the server sees the producer closed) and the socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ring.close();
    this.exchange.pair?.unlink();
    this.exchange.socket.end();
    this.exchange.socket.destroy();
  }
}

/** Two segments made on purpose for a HELLO; `remove()` unmaps and unlinks both. */
export interface PreparedRings extends RingPairNames {
  readonly capacityBytes: number;
  remove(): void;
}

/**
 * Creates the two rings of a HELLO the way a client does (§10.1.2), then lets `spoil`
 * damage the request ring (mode, header) before the HELLO is sent.
 */
export function prepareRings(options: { capacityBytes?: number; requestMode?: number; spoilRequest?: (segment: SharedSegment) => void } = {}): PreparedRings {
  const capacityBytes = options.capacityBytes ?? SMALL_RING_BYTES;
  const names = newRingPairNames();
  const made: SharedSegment[] = [];
  const remove = (): void => {
    for (const s of made) {
      s.close();
      unlinkSegment(s.name);
    }
  };
  try {
    const request = createSegment(names.requestRing, ringSegmentBytes(capacityBytes), options.requestMode === undefined ? {} : { mode: options.requestMode });
    made.push(request);
    const response = createSegment(names.responseRing, ringSegmentBytes(capacityBytes));
    made.push(response);
    initRingHeader(request.buffer, capacityBytes, process.pid);
    initRingHeader(response.buffer, capacityBytes, process.pid);
    options.spoilRequest?.(request);
  } catch (err) {
    remove();
    throw err;
  }
  return { ...names, capacityBytes, remove };
}

/** A HELLO signal (§10.1.1) for `rings`, with `overrides` applied (`undefined` removes a field). */
export function shmHello(rings: { requestRing: string; responseRing: string; capacityBytes: number }, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const hello: Record<string, unknown> = {
    type: 'HELLO',
    version: FAST_SESSION_VERSION,
    transport: 'shm',
    requestRing: rings.requestRing,
    responseRing: rings.responseRing,
    capacityBytes: rings.capacityBytes,
    wait: 'spin-then-futex',
    pid: process.pid,
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete hello[key];
    else hello[key] = value;
  }
  return hello;
}

/** One lp32 FastMessage frame (§10.1.4): 4-byte big-endian body length, MessagePack body. */
export function lp32Frame(message: FastMessage): Buffer {
  const body = encodeFastMessageBytes(message);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(body.byteLength, 0);
  return Buffer.concat([prefix, body]);
}

/**
 * Reads lp32 FastMessage frames from a socket whose first bytes (`initial`) were
 * already read, as the server writes them in a uds session.
 */
export class Lp32Reader {
  private buffered: Buffer;
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    initial: Buffer,
  ) {
    this.buffered = initial;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.poke();
    });
    socket.on('close', () => {
      this.ended = true;
      this.poke();
    });
    socket.on('error', () => undefined);
    socket.resume();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next frame's decoded message; a {@link Mismatch} on a close, a timeout or an undecodable body. */
  async next(timeoutMs: number, what: string): Promise<FastMessage> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.buffered.length >= 4) {
        const length = this.buffered.readUInt32BE(0);
        if (this.buffered.length >= 4 + length) {
          const body = this.buffered.subarray(4, 4 + length);
          this.buffered = this.buffered.subarray(4 + length);
          const decoded = decodeFastMessage(body);
          if (!decoded.ok) throw new Mismatch(`${what}: an lp32 frame of ${length} bytes that is not a FastMessage (${decoded.error}); first bytes 0x${body.subarray(0, 16).toString('hex')}`);
          return decoded.message;
        }
      }
      if (this.ended) throw new Mismatch(`${what}: the server closed the connection${this.buffered.length > 0 ? ` with ${this.buffered.length} bytes of an incomplete lp32 frame` : ''}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Mismatch(`${what}: no complete lp32 frame within ${timeoutMs} ms (${this.buffered.length} bytes received)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
