import net from 'node:net';
import { z } from 'zod';
import {
  AUTH_MODES,
  DEFAULT_MAX_FRAME_BYTES,
  FAST_MESSAGE_VERSION,
  FAST_SESSION_VERSION,
  FAST_TRANSPORTS,
  type FastMessage,
  type FastTransport,
  type FrameDecoder,
  type ReadyReply,
  ReadyReplySchema,
  type Reply,
  ReplySchema,
  type WireMode,
  createFrameDecoder,
  decodeBody,
  decodeFastMessage,
  encodeBody,
  encodeFastMessage,
  encodeRequest,
  fpError,
  isFastPathError,
  parseFraming,
  signEnvelope,
  type FastPathError,
} from '../protocol/index.js';
import {
  type CreatedRingPair,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RING_CAPACITY_BYTES,
  type IncomingMessage,
  RingSession,
  WAIT_STRATEGIES,
  type WaitStrategy,
  checkCapacity,
  createRingPair,
  peekFastMessageId,
  shmSupport,
} from '../ring/index.js';
import { type SignalInput, connectError } from './client.js';
import { FramingOptionSchema, describeIssues } from './framing-option.js';

/**
 * `FastClient`: the reference client of fast sessions (docs/SPEC.md §10). It opens a
 * socket connection, sends a HELLO signed like any request, and then exchanges
 * FastMessages through two shared-memory rings (`shm`) or as lp32 frames on the
 * socket (`uds`). When shared memory cannot be used (not available here, the rings
 * cannot be created, or the server refuses them) it falls back to `uds` on a new
 * connection and says why.
 *
 * ```ts
 * const client = await FastClient.connect({ socketPath: '/tmp/fp.sock', framing: 'ndjson', auth: 'hmac-v2', secret });
 * const bytes = await client.request('echo', new Uint8Array([1, 2, 3]));
 * const reply = await client.signal({ type: 'STATUS' });
 * await client.close();
 * ```
 */

/** Environment variable choosing the transport when the `transport` option is not given. */
export const FAST_TRANSPORT_ENV = 'FASTPATH_TRANSPORT';
/** Default wait strategy of the client on its response ring. */
export const DEFAULT_CLIENT_WAIT: WaitStrategy = 'spin-then-futex';
/** Envelope id of the HELLO request. */
const HELLO_ID = 1;

export const FastClientOptionsSchema = z.object({
  socketPath: z.string().min(1, 'socketPath must not be empty'),
  framing: FramingOptionSchema,
  auth: z.enum(AUTH_MODES),
  secret: z.string().default(''),
  /** `shm` or `uds`; default: $FASTPATH_TRANSPORT, else `shm` (with fallback to `uds`). */
  transport: z.enum(FAST_TRANSPORTS).optional(),
  /** Data capacity of each ring (power of two, 4 KiB to 1 GiB); `shm` only. */
  capacityBytes: z.number().int().default(DEFAULT_RING_CAPACITY_BYTES),
  /** How the client waits on its response ring (§10.3.4); `shm` only. */
  wait: z.enum(WAIT_STRATEGIES).default(DEFAULT_CLIENT_WAIT),
  /** Largest message this client sends or accepts; the server may lower it (READY). */
  maxMessageBytes: z.number().int().min(1).default(DEFAULT_MAX_MESSAGE_BYTES),
  /** Time allowed for connecting, for the handshake, and for each request's response. */
  requestTimeoutMs: z.number().int().min(1).default(5_000),
  /** Where the one-line fallback notice goes; default console.warn. */
  log: z.custom<(line: string) => void>((v) => typeof v === 'function', 'log must be a function taking one line').optional(),
});

/** Options of {@link FastClient.connect}. */
export type FastClientOptions = z.input<typeof FastClientOptionsSchema>;
type ResolvedOptions = z.output<typeof FastClientOptionsSchema>;

/** Options of one {@link FastClient.request}. */
export interface FastRequestOptions {
  /** Overrides the client's requestTimeoutMs for this request. */
  readonly timeoutMs?: number;
}

/** FastMessage byte fields. */
type Bytes = NonNullable<FastMessage['params']>;

interface Pending {
  readonly method: string;
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly resolve: (result: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

/** The connection carrying a session: the socket, and the rings for `shm`. */
interface Link {
  readonly socket: net.Socket;
  readonly ring: RingSession | undefined;
  readonly ready: ReadyReply;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The transport from $FASTPATH_TRANSPORT, validated; undefined when unset or empty. */
function transportFromEnv(env: NodeJS.ProcessEnv): FastTransport | undefined {
  const value = env[FAST_TRANSPORT_ENV];
  if (value === undefined || value === '') return undefined;
  if ((FAST_TRANSPORTS as readonly string[]).includes(value)) return value as FastTransport;
  throw fpError('FP_CONFIG_INVALID', `${FAST_TRANSPORT_ENV} must be one of ${FAST_TRANSPORTS.join(', ')}, got ${JSON.stringify(value)}: unset it or set e.g. ${FAST_TRANSPORT_ENV}=uds`);
}

/**
 * A fast-session client: many requests in flight, answered in order and matched by
 * id. Errors are {@link FastPathError}s: FP_FAST_ERROR (the server answered with an
 * `error`; its code, e.g. UNKNOWN_METHOD, is `details.code`), FP_TIMEOUT, FP_CLOSED
 * (the socket closed or {@link close} was called), FP_RING_PEER_DEAD (the server's end
 * of the rings is gone), FP_RING_TOO_LARGE (a message above the session's limit), and
 * at connect FP_CONFIG_INVALID, FP_SESSION_REFUSED and the connect errors of
 * FastPathClient.
 */
export class FastClient {
  /** The transport in use. */
  readonly transport: FastTransport;
  /** Why `shm` was not used when it was asked for (undefined when it is in use or `uds` was asked for). */
  readonly fallbackReason: string | undefined;
  /** The server's READY (§10.1.2). */
  readonly ready: ReadyReply;
  /** Largest message of this session (the smaller of both sides' limits). */
  readonly maxMessageBytes: number;
  private readonly options: ResolvedOptions;
  private readonly socket: net.Socket;
  private readonly ring: RingSession | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private nextEnvelopeId = 1;
  private timer: NodeJS.Timeout | undefined;
  /** The pump's next turn: an immediate while the peer keeps up, then a 1 ms timeout (never both). */
  private pumpImmediate: NodeJS.Immediate | undefined;
  private pumpTimeout: NodeJS.Timeout | undefined;
  private pumpAttempts = 0;
  /** Why the session ended, once it did. */
  private endError: FastPathError | undefined;
  private socketClosed: Promise<void>;

  private constructor(options: ResolvedOptions, link: Link, fallbackReason: string | undefined) {
    this.options = options;
    this.socket = link.socket;
    this.ring = link.ring;
    this.ready = link.ready;
    this.transport = link.ring === undefined ? 'uds' : 'shm';
    this.fallbackReason = fallbackReason;
    this.maxMessageBytes = link.ready.maxMessageBytes;
    const socket = link.socket;
    this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(fpError('FP_CLOSED', `fast session on ${this.options.socketPath}: socket error ${err.code ?? err.message}`)));
    socket.on('close', () => this.onSocketGone('closed'));
    socket.on('end', () => this.onSocketGone('ended'));
    if (link.ring !== undefined) {
      socket.on('data', () => this.fail(fpError('FP_CLOSED', `${this.options.socketPath} sent bytes on the control socket of a shm session (§10.1.5): session ended`)));
      link.ring.startReceiving(
        (incoming) => this.onIncoming(incoming),
        (err) => this.fail(isFastPathError(err) ? err : fpError('FP_RING_PEER_DEAD', errorText(err))),
      );
    } else {
      const decoder = createFrameDecoder(parseFraming('lp32-msgpack', this.maxMessageBytes));
      socket.on('data', (chunk: Buffer) => this.onSocketData(decoder, chunk));
    }
    socket.resume();
  }

  /**
   * Connects and opens a fast session. With transport `shm` (the default), falls back
   * to `uds` on a new connection when shared memory is not available here, the rings
   * cannot be created, or the server refuses them (SESSION_REFUSED, or INVALID_SIGNAL
   * from a server that does not know `shm`), logging one line that says why.
   * @throws FastPathError FP_CONFIG_INVALID (options, $FASTPATH_TRANSPORT), FP_SESSION_REFUSED
   *   (the server did not answer READY), FP_CONNECT_*, FP_TIMEOUT, FP_CLOSED.
   */
  static async connect(options: FastClientOptions): Promise<FastClient> {
    const res = FastClientOptionsSchema.safeParse(options);
    if (!res.success) throw fpError('FP_CONFIG_INVALID', `invalid fast client options: ${describeIssues(res.error, '(options)')}`);
    const opts = res.data;
    if (opts.auth !== 'none' && opts.secret.length === 0) {
      throw fpError('FP_CONFIG_INVALID', `invalid fast client options: auth ${opts.auth} needs a non-empty secret`);
    }
    const transport = opts.transport ?? transportFromEnv(process.env) ?? 'shm';
    if (transport === 'uds') return new FastClient(opts, await openUds(opts, undefined), undefined);
    try {
      checkCapacity(opts.capacityBytes);
    } catch (err) {
      throw fpError('FP_CONFIG_INVALID', `invalid fast client options: capacityBytes: ${errorText(err)}`);
    }
    const shm = await openShm(opts);
    if ('link' in shm) return new FastClient(opts, shm.link, undefined);
    (opts.log ?? console.warn)(`fastpath fast client: shared memory not used (${shm.fallback}); falling back to the socket transport (uds)`);
    return new FastClient(opts, await openUds(opts, shm.fallback), shm.fallback);
  }

  /** True once the session ended (closed by either side, or broken). */
  get closed(): boolean {
    return this.endError !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlightCount(): number {
    return this.pending.size;
  }

  /**
   * Sends a request and resolves with its result (copied out of the ring). `params` is
   * read when the message is written; do not modify it before the promise settles.
   * @throws FastPathError FP_FAST_ERROR (the server's `error`, code in `details.code`),
   *   FP_TIMEOUT, FP_CLOSED, FP_RING_PEER_DEAD, FP_RING_TOO_LARGE.
   */
  request(method: string, params: Uint8Array, opts: FastRequestOptions = {}): Promise<Uint8Array> {
    if (this.endError !== undefined) return Promise.reject(this.endError);
    const id = this.allocateId();
    const timeoutMs = opts.timeoutMs ?? this.options.requestTimeoutMs;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { method, timeoutMs, deadlineMs: performance.now() + timeoutMs, resolve, reject });
      if (this.timer === undefined) this.armTimer();
      try {
        this.send({ version: FAST_MESSAGE_VERSION, type: 'request', id, method, params: params as Bytes });
      } catch (err) {
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  /**
   * Sends a notification (no response, §10.4.1).
   * @throws FastPathError FP_CLOSED after the session ended, FP_RING_TOO_LARGE.
   */
  notify(method: string, params: Uint8Array): void {
    if (this.endError !== undefined) throw this.endError;
    this.send({ version: FAST_MESSAGE_VERSION, type: 'notification', method, params: params as Bytes });
  }

  /**
   * Sends one signal through the `signal` method (§10.5): the envelope is signed and
   * encoded like a FastPathClient request, and the server's reply body is decoded.
   * @returns the reply, accepted or rejected (§5.4).
   */
  async signal(signal: SignalInput, opts: FastRequestOptions = {}): Promise<Reply> {
    const { framing, auth, secret } = this.options;
    const envelope = signEnvelope(auth, secret, signal, { id: this.nextEnvelopeId++ });
    const result = await this.request('signal', encodeBody(framing.codec, envelope), opts);
    const decoded = decodeBody(framing.codec, result);
    const parsed = decoded.ok ? ReplySchema.safeParse(decoded.value) : undefined;
    if (parsed === undefined || !parsed.success) {
      const why = !decoded.ok ? decoded.error : describeIssues(parsed!.error!, '(reply)');
      throw fpError('FP_FAST_ERROR', `the result of a signal request is not a reply body (§5.4) in ${framing.codec}: ${why}`, { code: 'BAD_REPLY' });
    }
    return parsed.data;
  }

  /**
   * Ends the session: requests in flight are rejected with FP_CLOSED, the rings are
   * closed (the server sees an orderly end) and the socket is closed.
   */
  async close(): Promise<void> {
    if (this.endError === undefined) this.ring?.close(); // before the socket's FIN, so the server sees an orderly end
    this.fail(fpError('FP_CLOSED', `fast session on ${this.options.socketPath} was closed by the client`));
    const socket = this.socket;
    if (!socket.destroyed) {
      const timer = setTimeout(() => socket.destroy(), 1_000);
      timer.unref();
      socket.end();
      await this.socketClosed;
      clearTimeout(timer);
    }
  }

  // ── sending ───────────────────────────────────────────────────────────────

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  private send(message: FastMessage): void {
    const ring = this.ring;
    if (ring !== undefined) {
      if (!ring.send(message)) this.startPump();
      return;
    }
    const { head, tail, totalBytes } = encodeFastMessage(message);
    if (totalBytes > this.maxMessageBytes) {
      throw fpError('FP_RING_TOO_LARGE', `message of ${totalBytes} bytes exceeds the session limit of ${this.maxMessageBytes} bytes`, {
        totalBytes,
        maxMessageBytes: this.maxMessageBytes,
      });
    }
    const frame = Buffer.allocUnsafe(4 + totalBytes);
    frame.writeUInt32BE(totalBytes, 0);
    frame.set(head, 4);
    if (tail !== undefined) frame.set(tail, 4 + head.byteLength);
    this.socket.write(frame);
  }

  /** Writes what the request ring could not take yet, as room appears. */
  private startPump(): void {
    if (this.pumpImmediate !== undefined || this.pumpTimeout !== undefined || this.endError !== undefined) return;
    this.pumpAttempts = 0;
    this.pumpImmediate = setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    this.pumpImmediate = undefined;
    this.pumpTimeout = undefined;
    const ring = this.ring;
    if (ring === undefined || this.endError !== undefined) return;
    try {
      if (ring.flush()) return;
      if (this.pumpAttempts % 64 === 0) ring.checkPeer();
    } catch (err) {
      this.fail(isFastPathError(err) ? err : fpError('FP_RING_PEER_DEAD', errorText(err)));
      return;
    }
    this.pumpAttempts++;
    if (this.pumpAttempts < 1_000) this.pumpImmediate = setImmediate(this.pump);
    else this.pumpTimeout = setTimeout(this.pump, 1);
  };

  // ── receiving ─────────────────────────────────────────────────────────────

  private onSocketData(decoder: FrameDecoder, chunk: Buffer): void {
    for (const event of decoder.push(chunk)) {
      if (this.endError !== undefined) return;
      if (event.type === 'error') {
        this.fail(fpError('FP_CLOSED', `${this.options.socketPath} sent a malformed lp32 frame (${event.message}): session ended`));
        return;
      }
      const body = event.body;
      const decoded = decodeFastMessage(body);
      this.onIncoming(
        decoded.ok
          ? { ok: true, message: decoded.message, release: noop, zeroCopy: false, totalBytes: body.byteLength }
          : { ok: false, error: decoded.error, totalBytes: body.byteLength, id: peekFastMessageId(body) },
      );
    }
  }

  private onIncoming(incoming: IncomingMessage): void {
    if (!incoming.ok) {
      const entry = incoming.id === undefined ? undefined : this.take(incoming.id);
      if (entry === undefined) {
        this.fail(fpError('FP_CLOSED', `${this.options.socketPath} sent an undecodable message (${incoming.error}): session ended`));
        return;
      }
      entry.reject(fpError('FP_FAST_ERROR', `the response to ${entry.method} could not be decoded: ${incoming.error}`, { code: 'BAD_MESSAGE', id: incoming.id }));
      return;
    }
    const message = incoming.message;
    const entry = message.type === 'response' ? this.take(message.id!) : undefined;
    if (entry === undefined) {
      incoming.release(); // a late response to a timed-out request, or nothing a client expects
      return;
    }
    if (message.error !== undefined) {
      incoming.release();
      entry.reject(
        fpError('FP_FAST_ERROR', `${entry.method} failed on the server: ${message.error.code}: ${message.error.message}`, {
          code: message.error.code,
          message: message.error.message,
          id: message.id,
        }),
      );
      return;
    }
    const view = message.result!;
    const result = incoming.zeroCopy ? Buffer.from(view) : view;
    incoming.release();
    entry.resolve(result);
  }

  private take(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (entry === undefined) return undefined;
    this.pending.delete(id);
    if (this.pending.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return entry;
  }

  private onSocketGone(how: 'ended' | 'closed'): void {
    if (this.endError !== undefined) return;
    // Responses the server wrote before closing are still in the ring: deliver them first.
    const ring = this.ring;
    if (ring !== undefined) {
      try {
        for (let m = ring.tryReceive(); m !== null && this.endError === undefined; m = ring.tryReceive()) this.onIncoming(m);
      } catch {
        // a broken ring: the socket end is the reason reported
      }
    }
    this.fail(fpError('FP_CLOSED', `the server ${how} the fast-session socket ${this.options.socketPath}`));
  }

  // ── timeouts: responses come in order, so the oldest deadline is the next ──

  private armTimer(): void {
    this.timer = undefined;
    for (const entry of this.pending.values()) {
      this.timer = setTimeout(this.onTimer, Math.max(0, entry.deadlineMs - performance.now()));
      return;
    }
  }

  private readonly onTimer = (): void => {
    const nowMs = performance.now();
    for (const [id, entry] of this.pending) {
      if (entry.deadlineMs > nowMs) continue;
      this.pending.delete(id);
      entry.reject(
        fpError('FP_TIMEOUT', `no response to ${entry.method} (id ${id}) from ${this.options.socketPath} within ${entry.timeoutMs} ms: the server may be stuck or overloaded; check it or raise requestTimeoutMs`, {
          socketPath: this.options.socketPath,
          id,
          timeoutMs: entry.timeoutMs,
        }),
      );
    }
    this.armTimer();
  };

  // ── ending ────────────────────────────────────────────────────────────────

  /** Ends the session once: rejects what is pending with `err`, closes the rings and the socket. */
  private fail(err: FastPathError): void {
    if (this.endError !== undefined) return;
    this.endError = err;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    // clearImmediate must only ever get an Immediate: given a Timeout it corrupts Node's immediate queue.
    if (this.pumpImmediate !== undefined) clearImmediate(this.pumpImmediate);
    if (this.pumpTimeout !== undefined) clearTimeout(this.pumpTimeout);
    this.pumpImmediate = undefined;
    this.pumpTimeout = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) entry.reject(err);
    // Not synchronously: fail() may run inside the ring's delivery loop, which must not find its mapping gone.
    const ring = this.ring;
    if (ring !== undefined) setImmediate(() => ring.close());
    if (!this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1_000).unref();
    }
  }
}

function noop(): void {}

// ── handshake ───────────────────────────────────────────────────────────────

type HandshakeResult = { readonly socket: net.Socket; readonly reply: Reply };

/** Connects, sends the HELLO as a signed request, and reads the one reply (§10.1.1). */
function handshake(opts: ResolvedOptions, hello: Record<string, unknown>): Promise<HandshakeResult> {
  const path = opts.socketPath;
  const mode: WireMode = { framing: opts.framing, auth: opts.auth, secret: opts.secret };
  const framing = opts.framing;
  const decoder = createFrameDecoder({ ...framing, maxFrameBytes: Math.max(framing.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES) });
  return new Promise<HandshakeResult>((resolve, reject) => {
    const socket = net.createConnection(path);
    let connected = false;
    const finish = (err: Error | undefined, reply?: Reply): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err !== undefined) {
        socket.destroy();
        reject(err);
        return;
      }
      socket.pause();
      resolve({ socket, reply: reply! });
    };
    const timer = setTimeout(
      () => finish(fpError('FP_TIMEOUT', `${connected ? 'no answer to the HELLO' : 'no connection'} from ${path} within ${opts.requestTimeoutMs} ms (requestTimeoutMs)`, { socketPath: path })),
      opts.requestTimeoutMs,
    );
    const onError = (err: NodeJS.ErrnoException): void => finish(connected ? fpError('FP_CLOSED', `${path}: ${err.code ?? err.message} during the HELLO`, { socketPath: path }, err) : connectError(path, err));
    const onClose = (): void => finish(fpError('FP_CLOSED', `${path} closed the connection before answering the HELLO`, { socketPath: path }));
    const onData = (chunk: Buffer): void => {
      const events = decoder.push(chunk);
      const event = events[0];
      if (event === undefined) return;
      if (event.type === 'error') return finish(fpError('FP_CLOSED', `${path} answered the HELLO with a malformed frame (${event.message})`, { socketPath: path }));
      if (events.length > 1 || decoder.midFrame) return finish(fpError('FP_CLOSED', `${path} sent more than one frame in answer to the HELLO`, { socketPath: path }));
      const decoded = decodeBody(framing.codec, event.body);
      const parsed = decoded.ok ? ReplySchema.safeParse(decoded.value) : undefined;
      if (parsed === undefined || !parsed.success) {
        return finish(fpError('FP_CLOSED', `${path} answered the HELLO with something that is not a reply (§5.4)`, { socketPath: path }));
      }
      finish(undefined, parsed.data);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      connected = true;
      socket.on('data', onData);
      socket.write(encodeRequest(mode, hello, { id: HELLO_ID }));
    });
  });
}

function rejectionText(reply: Reply): string {
  if (reply.rejected !== true) return 'an accepted reply that is not READY';
  return `${reply.reason}${reply.error === undefined ? '' : `: ${reply.error}`}`;
}

/** The READY of `reply` for `transport`, or undefined when it is not one. */
function readyOf(reply: Reply, transport: FastTransport): ReadyReply | undefined {
  const parsed = ReadyReplySchema.safeParse(reply);
  return parsed.success && parsed.data.transport === transport ? parsed.data : undefined;
}

/** Closes and removes a ring pair the session will not use. */
function discardPair(pair: CreatedRingPair): void {
  pair.unlink();
  pair.request.close();
  pair.response.close();
}

/** Tries a `shm` session: a link, or why the client should fall back to `uds`. */
async function openShm(opts: ResolvedOptions): Promise<{ link: Link } | { fallback: string }> {
  const support = shmSupport();
  if (!support.available) return { fallback: `shared memory is not available in this process: ${support.reason}` };
  let pair: CreatedRingPair;
  try {
    pair = createRingPair(opts.capacityBytes);
  } catch (err) {
    return { fallback: `cannot create the rings in /dev/shm: ${errorText(err)}` };
  }
  let result: HandshakeResult;
  try {
    result = await handshake(opts, {
      type: 'HELLO',
      version: FAST_SESSION_VERSION,
      transport: 'shm',
      requestRing: pair.names.requestRing,
      responseRing: pair.names.responseRing,
      capacityBytes: opts.capacityBytes,
      maxMessageBytes: opts.maxMessageBytes,
      wait: opts.wait,
      pid: process.pid,
    });
  } catch (err) {
    discardPair(pair);
    throw err;
  }
  const ready = readyOf(result.reply, 'shm');
  if (ready === undefined) {
    discardPair(pair);
    result.socket.destroy();
    const reply = result.reply;
    if (reply.rejected === true && (reply.reason === 'SESSION_REFUSED' || reply.reason === 'INVALID_SIGNAL')) {
      return { fallback: `the server refused shm: ${rejectionText(reply)}` };
    }
    throw fpError('FP_SESSION_REFUSED', `${opts.socketPath} answered the shm HELLO with ${rejectionText(reply)}`, { socketPath: opts.socketPath });
  }
  // §10.1.3: both processes have the segments mapped; nothing stays in /dev/shm if either dies.
  pair.unlink();
  let ring: RingSession;
  try {
    ring = RingSession.client(pair, { wait: { strategy: opts.wait }, maxMessageBytes: ready.maxMessageBytes });
  } catch (err) {
    pair.request.close();
    pair.response.close();
    result.socket.destroy();
    throw err;
  }
  return { link: { socket: result.socket, ring, ready } };
}

/** Opens a `uds` session (§10.1.4). */
async function openUds(opts: ResolvedOptions, fallbackReason: string | undefined): Promise<Link> {
  const result = await handshake(opts, { type: 'HELLO', version: FAST_SESSION_VERSION, transport: 'uds', maxMessageBytes: opts.maxMessageBytes, pid: process.pid });
  const ready = readyOf(result.reply, 'uds');
  if (ready === undefined) {
    result.socket.destroy();
    const after = fallbackReason === undefined ? '' : ` (after falling back from shm: ${fallbackReason})`;
    throw fpError('FP_SESSION_REFUSED', `${opts.socketPath} answered the uds HELLO with ${rejectionText(result.reply)}${after}: the server does not offer fast sessions`, {
      socketPath: opts.socketPath,
    });
  }
  return { socket: result.socket, ring: undefined, ready };
}
