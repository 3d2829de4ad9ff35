import { connect, type Socket } from 'node:net';
import { z } from 'zod';
import {
  createFrameDecoder,
  decodeBody,
  decodeFastMessage,
  DecoderState,
  encodeFastMessage,
  encodeRequest,
  FAST_MESSAGE_VERSION,
  FAST_SESSION_VERSION,
  FAST_TRANSPORTS,
  formatIssues,
  fpError,
  isFastPathError,
  parseFraming,
  ReadyReplySchema,
  type FastMessage,
  type FastTransport,
  type FrameDecoder,
  type FramingSpec,
  type ReadyReply,
} from '../protocol/index.js';
import {
  AsyncRingWaiter,
  createRingPair,
  DEFAULT_RING_CAPACITY_BYTES,
  RingSession,
  WAIT_STRATEGIES,
  type CreatedRingPair,
  type IncomingMessage,
  type RingPairNames,
  type WaitPolicy,
} from '../ring/index.js';
import type { ModeInfo } from './case.js';
import { classifySpecReply, describeValue } from './dialect.js';

/**
 * The harness's client of a fast session (docs/SPEC.md §10): the HELLO/READY handshake
 * on an ordinary connection, then FastMessages through two shared-memory rings (`shm`)
 * or as lp32 MessagePack frames on the same socket (`uds`). Used by the benchmarks
 * (`fastpath bench --transport`) and the conformance cases of §10; it talks to any
 * server over its socket, never to reference-impl/ code.
 *
 * Two entry points: {@link openFastSession} for a working session (it throws
 * FP_SESSION_REFUSED, with the decoded reply in `details`, when the server does not
 * answer READY), and {@link helloExchange} for cases that inspect the reply to a
 * HELLO, refusals included.
 */

/** Default time for the handshake (connect, HELLO, reply). */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000;
/** Default time {@link FastSessionClient.request} waits for a response. */
export const DEFAULT_FAST_REQUEST_TIMEOUT_MS = 5_000;
/** Envelope id of the HELLO request; the reply carries it back (§5.3). */
export const HELLO_ENVELOPE_ID = 'fast-hello';
/** Largest reply to a HELLO the client reads before giving up on the stream. */
const HELLO_REPLY_MAX_BYTES = 1_048_576;
/** Notifications on `uds` are coalesced into writes of about this many bytes. */
const UDS_BATCH_BYTES = 64 * 1024;
/** `notify` on `uds` reports backpressure (false) once this much is waiting in the socket. */
const UDS_BACKPRESSURE_BYTES = 1024 * 1024;
const CLOSE_WAIT_MS = 1_000;

/** Options of {@link openFastSession} and {@link helloExchange}. */
export interface FastSessionClientOptions {
  readonly socketPath: string;
  /** Framing, auth mode and secret of the target (harness/targets.ts `makeMode`): the HELLO is signed like any request of the mode. */
  readonly mode: ModeInfo;
  readonly transport: FastTransport;
  /** Data capacity of each ring, a power of two (shm; default ring/session `DEFAULT_RING_CAPACITY_BYTES`, 4 MiB). */
  readonly capacityBytes?: number | undefined;
  /** How this client waits on the response ring (shm; default `{ strategy: 'spin-then-futex' }`). Sent in the HELLO. */
  readonly wait?: WaitPolicy | undefined;
  /** Largest message this client will send, announced in the HELLO (optional there). */
  readonly maxMessageBytes?: number | undefined;
  /** Fields merged into the HELLO signal, for conformance cases that send a deliberately wrong one; `undefined` removes a field. */
  readonly helloOverrides?: Record<string, unknown> | undefined;
  /** Time for the handshake (default {@link DEFAULT_HELLO_TIMEOUT_MS}). */
  readonly timeoutMs?: number | undefined;
  /** Leave the segment names in /dev/shm after READY (default false: unlink them, §10.1.3). They are unlinked at {@link FastSessionClient.close} anyway. */
  readonly keepSegmentNames?: boolean | undefined;
}

const WaitPolicySchema = z.object({ strategy: z.enum(WAIT_STRATEGIES), spinNs: z.number().nonnegative().optional() });

const OptionsSchema = z.object({
  socketPath: z.string().min(1, { message: 'socketPath must not be empty' }),
  mode: z.custom<ModeInfo>((v) => typeof v === 'object' && v !== null && 'framing' in v && 'auth' in v, { message: 'mode must be a ModeInfo (harness/targets.ts makeMode)' }),
  transport: z.enum(FAST_TRANSPORTS, { message: 'transport must be shm or uds' }),
  capacityBytes: z.number().int().positive().optional(),
  wait: WaitPolicySchema.optional(),
  maxMessageBytes: z.number().int().positive().optional(),
  helloOverrides: z.record(z.string(), z.unknown()).optional(),
  timeoutMs: z.number().positive().optional(),
  keepSegmentNames: z.boolean().optional(),
});

function checkOptions(opts: FastSessionClientOptions): void {
  const res = OptionsSchema.safeParse(opts);
  if (!res.success) throw fpError('FP_CONFIG_INVALID', `fast-session client options: ${formatIssues(res.error)}`);
}

/** What the server answered to a HELLO, in spec vocabulary. */
export type HelloOutcome =
  | { readonly kind: 'ready'; readonly ready: ReadyReply }
  | { readonly kind: 'rejected'; readonly reason: string; readonly error: string | undefined }
  /** Decoded (or not), but neither a valid READY nor a rejection of §5.4. */
  | { readonly kind: 'malformed'; readonly problem: string };

/** The result of {@link helloExchange}. The caller owns `socket` and `pair` (close / unlink them). */
export interface HelloExchange {
  /** The HELLO signal as sent (overrides applied). */
  readonly hello: Record<string, unknown>;
  /** The decoded reply body, or undefined when it could not be decoded. */
  readonly reply: unknown;
  /** The reply frame's body bytes as received. */
  readonly replyBody: Buffer;
  readonly outcome: HelloOutcome;
  /** The rings created for the HELLO (shm), still mapped; names unlinked only after a READY unless `keepSegmentNames`. */
  readonly pair: CreatedRingPair | undefined;
  /** The connection, still open and paused (nothing read past the reply; `resume()` it to read on). */
  readonly socket: Socket;
  /** Bytes received after the reply frame (uds: the beginning of the lp32 stream). */
  readonly rest: Buffer;
}

/** A fast session, opened with {@link openFastSession}. */
export interface FastSessionClient {
  readonly transport: FastTransport;
  readonly ready: ReadyReply;
  /** The session's message limit (the server's `maxMessageBytes` from READY). */
  readonly maxMessageBytes: number;
  /** The segment names of an shm session (already unlinked unless `keepSegmentNames`). */
  readonly segmentNames: RingPairNames | undefined;
  /**
   * Blocking request/response for closed-loop benchmarks (shm only: spins or
   * futex-waits per the wait policy; `uds` has no synchronous form, use
   * {@link request}). Returns the response, `error` responses included; its `result`
   * is a private copy. Responses of earlier {@link request} calls that arrive first
   * are delivered to them.
   * @throws FastPathError FP_TIMEOUT, FP_RING_PEER_DEAD, FP_CLOSED, FP_RING_TOO_LARGE, FP_RING_CORRUPT.
   */
  requestSync?(method: string, params: Uint8Array, timeoutMs: number): FastMessage;
  /**
   * Sends a request and resolves with its response (`error` responses included; check
   * `message.error`). Rejects with FP_TIMEOUT after `timeoutMs` (default
   * {@link DEFAULT_FAST_REQUEST_TIMEOUT_MS}), FP_CLOSED / FP_RING_PEER_DEAD when the
   * session ends first.
   */
  request(method: string, params: Uint8Array, timeoutMs?: number): Promise<FastMessage>;
  /**
   * Sends a notification (no response). Returns false when it could not be written
   * completely yet (ring full, or socket buffers above 1 MiB): it stays queued and is
   * written in the background; call {@link drained} (or `flushSync` on shm) before
   * sending much more.
   */
  notify(method: string, params: Uint8Array): boolean;
  /** shm: blocks until every queued message is in the ring. @throws FastPathError FP_TIMEOUT. */
  flushSync?(timeoutMs: number): void;
  /** Resolves when everything queued has been handed over: written into the ring (shm), or the socket's buffer is below its high-water mark (uds). */
  drained(): Promise<void>;
  /** True after close() or once the session failed. */
  readonly closed: boolean;
  /** Ends the session: closes the rings (the server sees the producer closed), the socket, and unlinks the segment names. */
  close(): Promise<void>;
}

/** Byte length of the first complete frame of `buf` in `framing`, or undefined when it is not complete yet. */
function firstFrame(framing: FramingSpec, buf: Buffer): { body: Buffer; consumed: number } | { error: string } | undefined {
  if (framing.kind === 'ndjson') {
    const nl = buf.indexOf(0x0a);
    if (nl === -1) return buf.length > HELLO_REPLY_MAX_BYTES ? { error: `no newline within ${HELLO_REPLY_MAX_BYTES} bytes` } : undefined;
    return { body: buf.subarray(0, nl), consumed: nl + 1 };
  }
  const p = framing.prefixBytes;
  if (buf.length < p) return undefined;
  const length = p === 2 ? (framing.endian === 'be' ? buf.readUInt16BE(0) : buf.readUInt16LE(0)) : framing.endian === 'be' ? buf.readUInt32BE(0) : buf.readUInt32LE(0);
  const total = framing.lengthIncludes === 'frame' ? length : p + length;
  const bodyStart = p + framing.header.length;
  if (total < bodyStart) return { error: `reply length ${length} is smaller than the frame's fixed parts` };
  if (total - bodyStart > HELLO_REPLY_MAX_BYTES) return { error: `reply of ${total - bodyStart} bytes exceeds ${HELLO_REPLY_MAX_BYTES}` };
  if (buf.length < total) return undefined;
  return { body: buf.subarray(bodyStart, total), consumed: total };
}

function connectSocket(socketPath: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(fpError('FP_TIMEOUT', `connect to ${socketPath} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const code = err.code ?? 'ERROR';
      const fp = code === 'ENOENT' ? 'FP_CONNECT_ENOENT' : code === 'ECONNREFUSED' ? 'FP_CONNECT_REFUSED' : 'FP_CONNECT_FAILED';
      reject(fpError(fp, `connect to ${socketPath} failed: ${code}`, { code }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Reads the first reply frame; resolves with it and the bytes after it. */
function readFirstFrame(socket: Socket, framing: FramingSpec, timeoutMs: number, socketPath: string): Promise<{ body: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(fpError('FP_TIMEOUT', `no reply to the fast-session HELLO from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const frame = firstFrame(framing, buf);
      if (frame === undefined) return;
      cleanup();
      if ('error' in frame) reject(fpError('FP_SESSION_REFUSED', `the reply to the fast-session HELLO cannot be delimited: ${frame.error}`));
      else {
        // Stop the flow until the session decides who reads the socket.
        socket.pause();
        resolve({ body: Buffer.from(frame.body), rest: Buffer.from(buf.subarray(frame.consumed)) });
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(fpError('FP_CLOSED', `${socketPath} closed the connection before answering the fast-session HELLO${buf.length > 0 ? ` (${buf.length} bytes of an incomplete reply)` : ''}`));
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      cleanup();
      reject(fpError('FP_CLOSED', `connection to ${socketPath} failed during the fast-session HELLO: ${err.code ?? err.message}`));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
  });
}

/** Classifies the decoded reply to a HELLO: READY (§10.1.2), a rejection (§5.4), or malformed. */
export function classifyHelloReply(value: unknown, transport: FastTransport): HelloOutcome {
  const reply = classifySpecReply(value);
  if (reply.kind === 'malformed') return { kind: 'malformed', problem: reply.problem };
  if (reply.kind === 'rejected') return { kind: 'rejected', reason: reply.reason, error: reply.error };
  if (reply.id !== HELLO_ENVELOPE_ID) return { kind: 'malformed', problem: `READY carries id ${describeValue(reply.id)}, the HELLO had "${HELLO_ENVELOPE_ID}" (§5.3)` };
  const ready = ReadyReplySchema.safeParse(value);
  if (!ready.success) return { kind: 'malformed', problem: `accepted reply to the HELLO is not a READY of §10.1.2: ${formatIssues(ready.error)}` };
  if (ready.data.transport !== transport) return { kind: 'malformed', problem: `READY is for transport ${ready.data.transport}, the HELLO asked for ${transport}` };
  return { kind: 'ready', ready: ready.data };
}

/**
 * Connects, creates the rings (shm), sends the HELLO signed like any request of the
 * mode (in spec vocabulary, envelope id {@link HELLO_ENVELOPE_ID}) and reads one reply
 * frame. Never throws for what the server answered (see {@link HelloExchange.outcome});
 * on READY the segment names are unlinked unless `keepSegmentNames`.
 * @throws FastPathError FP_CONFIG_INVALID (options), FP_CONNECT_*, FP_TIMEOUT (no reply),
 *   FP_CLOSED (closed before replying), FP_SHM_* (the rings could not be created); the
 *   socket and rings are released in every case.
 */
export async function helloExchange(opts: FastSessionClientOptions): Promise<HelloExchange> {
  checkOptions(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
  const started = performance.now();
  let pair: CreatedRingPair | undefined;
  const hello: Record<string, unknown> = { type: 'HELLO', version: FAST_SESSION_VERSION, transport: opts.transport };
  if (opts.transport === 'shm') {
    const capacityBytes = opts.capacityBytes ?? DEFAULT_RING_CAPACITY_BYTES;
    pair = createRingPair(capacityBytes);
    hello.requestRing = pair.names.requestRing;
    hello.responseRing = pair.names.responseRing;
    hello.capacityBytes = capacityBytes;
  }
  if (opts.maxMessageBytes !== undefined) hello.maxMessageBytes = opts.maxMessageBytes;
  if (opts.transport === 'shm') hello.wait = (opts.wait ?? { strategy: 'spin-then-futex' }).strategy;
  hello.pid = process.pid;
  for (const [key, value] of Object.entries(opts.helloOverrides ?? {})) {
    if (value === undefined) delete hello[key];
    else hello[key] = value;
  }
  const release = (): void => {
    if (pair !== undefined) {
      pair.unlink();
      pair.request.close();
      pair.response.close();
    }
  };
  let socket: Socket | undefined;
  try {
    socket = await connectSocket(opts.socketPath, timeoutMs);
    const frame = encodeRequest(opts.mode, hello, { id: HELLO_ENVELOPE_ID });
    socket.write(frame);
    const left = Math.max(1, timeoutMs - (performance.now() - started));
    const { body, rest } = await readFirstFrame(socket, opts.mode.framing, left, opts.socketPath);
    const decoded = decodeBody(opts.mode.framing.codec, body);
    const outcome: HelloOutcome = decoded.ok ? classifyHelloReply(decoded.value, opts.transport) : { kind: 'malformed', problem: `undecodable reply: ${decoded.error}` };
    if (outcome.kind === 'ready' && pair !== undefined && opts.keepSegmentNames !== true) pair.unlink();
    return { hello, reply: decoded.ok ? decoded.value : undefined, replyBody: body, outcome, pair, socket, rest };
  } catch (err) {
    socket?.destroy();
    release();
    throw err;
  }
}

/**
 * Opens a fast session: {@link helloExchange}, then a client over the rings (shm) or
 * the socket (uds).
 * @throws FastPathError FP_SESSION_REFUSED when the reply is not a READY (`details`:
 *   `reply` - the decoded reply -, `kind`, `reason`, `error`, `problem`), and everything
 *   {@link helloExchange} throws.
 */
export async function openFastSession(opts: FastSessionClientOptions): Promise<FastSessionClient> {
  const ex = await helloExchange(opts);
  const { outcome, socket, pair } = ex;
  if (outcome.kind !== 'ready') {
    socket.destroy();
    if (pair !== undefined) {
      pair.unlink();
      pair.request.close();
      pair.response.close();
    }
    const what =
      outcome.kind === 'rejected'
        ? `rejected with ${outcome.reason}${outcome.error === undefined ? '' : `: ${outcome.error}`}`
        : `answered with something that is not a READY: ${outcome.problem}`;
    const hint = outcome.kind === 'rejected' && outcome.reason === 'INVALID_SIGNAL' ? ' (a server without the fastSession capability answers so, §10)' : '';
    throw fpError('FP_SESSION_REFUSED', `${opts.socketPath} ${what}${hint}`, {
      reply: ex.reply,
      kind: outcome.kind,
      reason: outcome.kind === 'rejected' ? outcome.reason : undefined,
      error: outcome.kind === 'rejected' ? outcome.error : undefined,
      problem: outcome.kind === 'malformed' ? outcome.problem : undefined,
    });
  }
  if (opts.transport === 'shm') {
    if (pair === undefined) throw fpError('FP_SESSION_REFUSED', 'internal: shm session without rings');
    return new ShmFastSessionClient(outcome.ready, pair, socket, opts.wait ?? { strategy: 'spin-then-futex' });
  }
  return new UdsFastSessionClient(outcome.ready, socket, ex.rest);
}

interface Pending {
  readonly resolve: (m: FastMessage) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** The client's message ids: u32, never 0, wrapping. */
class IdSource {
  private next = 1;
  take(): number {
    const id = this.next;
    this.next = this.next >= 0xffffffff ? 1 : this.next + 1;
    return id;
  }
}

/** The bytes type of FastMessage fields (any Uint8Array over a non-shared buffer). */
type MessageBytes = NonNullable<FastMessage['params']>;

function fastMessage(type: 'request' | 'notification', method: string, params: Uint8Array, id?: number): FastMessage {
  const bytes = params as MessageBytes;
  return id === undefined ? { version: FAST_MESSAGE_VERSION, type, method, params: bytes } : { version: FAST_MESSAGE_VERSION, type, id, method, params: bytes };
}

function copyResult(m: FastMessage): FastMessage {
  if (m.result === undefined || m.result.byteLength === 0) return m;
  return { ...m, result: Uint8Array.prototype.slice.call(m.result) };
}

/** Shared bookkeeping of pending async requests. */
abstract class BaseClient {
  protected readonly ids = new IdSource();
  protected readonly pending = new Map<number, Pending>();
  protected failure: Error | undefined;
  protected isClosed = false;

  constructor(
    readonly ready: ReadyReply,
    protected readonly socket: Socket,
  ) {}

  get maxMessageBytes(): number {
    return this.ready.maxMessageBytes;
  }

  get closed(): boolean {
    return this.isClosed || this.failure !== undefined;
  }

  protected assertUsable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.isClosed) throw fpError('FP_CLOSED', 'the fast session is closed');
  }

  protected track(id: number, timeoutMs: number, resolve: (m: FastMessage) => void, reject: (err: unknown) => void): void {
    const timer = setTimeout(() => {
      if (this.pending.delete(id)) {
        this.afterSettle();
        reject(fpError('FP_TIMEOUT', `no response to fast-session request ${id} within ${timeoutMs} ms`, { id }));
      }
    }, timeoutMs);
    this.pending.set(id, { resolve, reject, timer });
  }

  /** Delivers a response to its pending request; false when none waits for it. */
  protected settle(m: FastMessage): boolean {
    if (m.type !== 'response' || m.id === undefined) return false;
    const p = this.pending.get(m.id);
    if (p === undefined) return false;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    this.afterSettle();
    p.resolve(m);
    return true;
  }

  /** Hook: the number of pending requests went down. */
  protected afterSettle(): void {}

  /** Ends the session with an error: every pending request is rejected with it. */
  protected fail(err: unknown): void {
    if (this.failure !== undefined || this.isClosed) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.rejectAll(this.failure);
    this.teardown();
  }

  protected rejectAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Drops everything at once after a failure. */
  protected abstract teardown(): void;

  /** What a clean close does before the socket is ended. */
  protected abstract beforeSocketClose(): void;

  /** Rejects what is in flight, then closes cleanly (nothing more after a failure: teardown did it). */
  async close(): Promise<void> {
    if (this.isClosed) return;
    const alreadyFailed = this.failure !== undefined;
    this.isClosed = true;
    this.rejectAll(fpError('FP_CLOSED', 'the fast session was closed'));
    if (alreadyFailed) return;
    this.beforeSocketClose();
    await this.closeSocket();
  }

  protected async closeSocket(): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.resume();
      socket.end();
    });
  }
}

/** A fast session over two shared-memory rings. */
class ShmFastSessionClient extends BaseClient implements FastSessionClient {
  readonly transport = 'shm' as const;
  readonly segmentNames: RingPairNames;
  private readonly session: RingSession;
  private waiter: AsyncRingWaiter | undefined;
  private liveness: NodeJS.Timeout | undefined;
  private syncCalls = 0;

  constructor(
    ready: ReadyReply,
    private readonly pair: CreatedRingPair,
    socket: Socket,
    private readonly wait: WaitPolicy,
  ) {
    super(ready, socket);
    this.segmentNames = pair.names;
    this.session = RingSession.client(pair, { wait, maxMessageBytes: ready.maxMessageBytes });
    // §10.1.5: the socket stays open, silent, as the liveness channel.
    socket.on('close', () => this.fail(fpError('FP_CLOSED', 'the server closed the fast-session control connection')));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(fpError('FP_CLOSED', `fast-session control connection failed: ${err.code ?? err.message}`)));
    socket.on('data', () => undefined);
    socket.resume();
  }

  private message(type: 'request' | 'notification', method: string, params: Uint8Array, id?: number): FastMessage {
    return fastMessage(type, method, params, id);
  }

  /** Refreshes both heartbeats (§10.6.1) every few hundred blocking calls, since a blocking caller starves the event-loop timer. */
  private beat(): void {
    if ((++this.syncCalls & 255) === 0) {
      const now = Date.now();
      this.session.producer.heartbeat(now);
      this.session.consumer.heartbeat(now);
    }
  }

  requestSync(method: string, params: Uint8Array, timeoutMs: number): FastMessage {
    this.assertUsable();
    if (this.waiter !== undefined) this.stopWaiter();
    const deadline = performance.now() + timeoutMs;
    const id = this.ids.take();
    try {
      this.beat();
      if (!this.session.send(this.message('request', method, params, id))) this.session.flushSync(timeoutMs);
      for (;;) {
        const left = deadline - performance.now();
        const incoming = this.session.receiveSync(Math.max(0, left));
        if (incoming === null) {
          if (this.session.consumer.ended) throw fpError('FP_RING_PEER_DEAD', 'the server closed its response ring');
          throw fpError('FP_TIMEOUT', `no response to fast-session request ${id} (${method}) within ${timeoutMs} ms`, { id });
        }
        const m = this.take(incoming);
        if (m === undefined) continue;
        if (m.type === 'response' && m.id === id) return m;
        if (!this.settle(m)) continue; // a late response to a timed-out request, or a stray message
      }
    } catch (err) {
      if (isFastPathError(err) && (err.code === 'FP_RING_PEER_DEAD' || err.code === 'FP_RING_CORRUPT' || err.code === 'FP_RING_CLOSED')) this.fail(err);
      throw err;
    } finally {
      if (this.pending.size > 0 && !this.closed) this.startWaiter();
    }
  }

  /** Decodes, copies (zero-copy results live in the ring) and releases one incoming message. */
  private take(incoming: IncomingMessage): FastMessage | undefined {
    if (!incoming.ok) throw fpError('FP_RING_CORRUPT', `the server sent an undecodable FastMessage (${incoming.totalBytes} bytes): ${incoming.error}`);
    const m = incoming.zeroCopy ? copyResult(incoming.message) : incoming.message;
    incoming.release();
    return m;
  }

  request(method: string, params: Uint8Array, timeoutMs: number = DEFAULT_FAST_REQUEST_TIMEOUT_MS): Promise<FastMessage> {
    return new Promise((resolve, reject) => {
      try {
        this.assertUsable();
        const id = this.ids.take();
        // Written first (it may throw, e.g. FP_RING_TOO_LARGE); the response is read on a later turn of the loop.
        const written = this.session.send(this.message('request', method, params, id));
        this.track(id, timeoutMs, resolve, reject);
        this.startWaiter();
        if (!written) this.session.flushAsync((err) => this.fail(err));
      } catch (err) {
        reject(err);
      }
    });
  }

  notify(method: string, params: Uint8Array): boolean {
    this.assertUsable();
    const written = this.session.send(this.message('notification', method, params));
    if (!written) this.session.flushAsync((err) => this.fail(err));
    return written;
  }

  flushSync(timeoutMs: number): void {
    this.assertUsable();
    this.beat();
    this.session.flushSync(timeoutMs);
  }

  async drained(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.assertUsable();
      if (this.session.flush()) return;
      this.session.checkPeer();
      await new Promise<void>((r) => (attempt < 1_000 ? setImmediate(r) : setTimeout(r, 1)));
    }
  }

  private startWaiter(): void {
    if (this.waiter !== undefined || this.closed) return;
    const drain = (): void => {
      try {
        for (let incoming = this.session.tryReceive(); incoming !== null; incoming = this.closed ? null : this.session.tryReceive()) {
          const m = this.take(incoming);
          if (m !== undefined) this.settle(m);
        }
        if (this.session.consumer.ended) throw fpError('FP_RING_PEER_DEAD', 'the server closed its response ring');
      } catch (err) {
        this.fail(err);
      }
    };
    this.waiter = new AsyncRingWaiter(this.session.consumer, this.wait, drain);
    this.waiter.start();
    this.liveness = setInterval(() => {
      try {
        this.session.checkPeer();
      } catch (err) {
        this.fail(err);
      }
    }, 250);
    this.liveness.unref();
  }

  private stopWaiter(): void {
    this.waiter?.stop();
    this.waiter = undefined;
    if (this.liveness !== undefined) clearInterval(this.liveness);
    this.liveness = undefined;
  }

  protected override afterSettle(): void {
    if (this.pending.size === 0) this.stopWaiter();
  }

  protected teardown(): void {
    this.beforeSocketClose();
    this.socket.destroy();
  }

  /** Stops waiting, closes both ring ends and removes the names if still there. */
  protected beforeSocketClose(): void {
    this.stopWaiter();
    this.session.close();
    try {
      this.pair.unlink();
    } catch {
      // already gone
    }
  }
}

/** A fast session on the socket itself: lp32 MessagePack frames (§10.1.4). */
class UdsFastSessionClient extends BaseClient implements FastSessionClient {
  readonly transport = 'uds' as const;
  readonly segmentNames = undefined;
  private readonly decoder: FrameDecoder;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchTimer: NodeJS.Immediate | undefined;

  constructor(ready: ReadyReply, socket: Socket, rest: Buffer) {
    super(ready, socket);
    this.decoder = createFrameDecoder(parseFraming('lp32-msgpack', ready.maxMessageBytes));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.fail(fpError('FP_CLOSED', 'the server closed the fast session (uds)')));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(fpError('FP_CLOSED', `fast-session connection failed: ${err.code ?? err.message}`)));
    if (rest.length > 0) this.onData(rest);
    socket.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.decoder.state === DecoderState.Failed) return;
    for (const ev of this.decoder.push(chunk)) {
      if (ev.type === 'error') {
        this.fail(fpError('FP_RING_CORRUPT', `fast-session stream from the server is broken: ${ev.message}`));
        return;
      }
      const decoded = decodeFastMessage(ev.body);
      if (!decoded.ok) {
        this.fail(fpError('FP_RING_CORRUPT', `the server sent an undecodable FastMessage (${ev.body.length} bytes): ${decoded.error}`));
        return;
      }
      this.settle(decoded.message);
    }
  }

  /** `length ‖ head` as one buffer, and the payload as a second (not copied). */
  private frame(message: FastMessage): Buffer[] {
    const { head, tail, totalBytes } = encodeFastMessage(message);
    if (totalBytes > this.ready.maxMessageBytes) {
      throw fpError('FP_RING_TOO_LARGE', `message of ${totalBytes} bytes exceeds the session limit of ${this.ready.maxMessageBytes} bytes`, {
        totalBytes,
        maxMessageBytes: this.ready.maxMessageBytes,
      });
    }
    const first = Buffer.allocUnsafe(4 + head.byteLength);
    first.writeUInt32BE(totalBytes, 0);
    first.set(head, 4);
    if (tail === undefined || tail.byteLength === 0) return [first];
    // Small payloads are merged (one write); large ones go as their own buffer.
    if (tail.byteLength <= 4096) return [Buffer.concat([first, tail])];
    return [first, Buffer.isBuffer(tail) ? tail : Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength)];
  }

  private flushBatch(): void {
    if (this.batchTimer !== undefined) clearImmediate(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batchBytes === 0) return;
    const data = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (!this.socket.destroyed) this.socket.write(data);
  }

  request(method: string, params: Uint8Array, timeoutMs: number = DEFAULT_FAST_REQUEST_TIMEOUT_MS): Promise<FastMessage> {
    return new Promise((resolve, reject) => {
      try {
        this.assertUsable();
        const id = this.ids.take();
        const parts = this.frame(fastMessage('request', method, params, id));
        this.track(id, timeoutMs, resolve, reject);
        this.flushBatch();
        if (parts.length === 1) this.socket.write(parts[0]!);
        else {
          this.socket.cork();
          for (const p of parts) this.socket.write(p);
          this.socket.uncork();
        }
      } catch (err) {
        reject(err);
      }
    });
  }

  notify(method: string, params: Uint8Array): boolean {
    this.assertUsable();
    for (const p of this.frame(fastMessage('notification', method, params))) {
      this.batch.push(p);
      this.batchBytes += p.byteLength;
    }
    if (this.batchBytes >= UDS_BATCH_BYTES) this.flushBatch();
    else this.batchTimer ??= setImmediate(() => this.flushBatch());
    return this.socket.writableLength + this.batchBytes < UDS_BACKPRESSURE_BYTES;
  }

  async drained(): Promise<void> {
    this.assertUsable();
    this.flushBatch();
    if (!this.socket.writableNeedDrain) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(this.failure ?? fpError('FP_CLOSED', 'the fast session closed before its writes drained'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  protected teardown(): void {
    if (this.batchTimer !== undefined) clearImmediate(this.batchTimer);
    this.batch = [];
    this.batchBytes = 0;
    this.socket.destroy();
  }

  /** Writes the notifications still batched. */
  protected beforeSocketClose(): void {
    this.flushBatch();
  }
}
