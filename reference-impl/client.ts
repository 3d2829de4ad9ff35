import net from 'node:net';
import { z } from 'zod';
import {
  AUTH_MODES,
  DEFAULT_MAX_FRAME_BYTES,
  type FramingSpec,
  type FrameDecoder,
  type PrepareSignal,
  type RejectedReply,
  type Reply,
  type Signal,
  type StatusReply,
  type WireMode,
  FastPathError,
  StatusReplySchema,
  ReplySchema,
  createFrameDecoder,
  decodeBody,
  encodeRequest,
  fpError,
} from '../protocol/index.js';
import { FramingOptionSchema, describeIssues } from './framing-option.js';

/**
 * `FastPathClient`: seed 000's client API over any framing and auth mode
 * (docs/SPEC.md). Requests may be pipelined; replies are matched to requests in
 * order (§5.2) and by `id` (§5.3).
 */

/** Exponential backoff between reconnection attempts. */
export interface ReconnectPolicy {
  /** Delay before the second attempt; doubles after every failed attempt. */
  readonly initialDelayMs: number;
  /** Upper bound of the delay. */
  readonly maxDelayMs: number;
  /** Attempts per reconnection (0: never reconnect automatically). */
  readonly maxAttempts: number;
}

export const ClientOptionsSchema = z.object({
  socketPath: z.string().min(1, 'socketPath must not be empty'),
  framing: FramingOptionSchema,
  auth: z.enum(AUTH_MODES),
  secret: z.string().default(''),
  /** Time allowed for each request's reply (and for each connection attempt). */
  requestTimeoutMs: z.number().int().min(1).default(5_000),
  reconnect: z
    .object({
      initialDelayMs: z.number().int().min(0).default(100),
      maxDelayMs: z.number().int().min(0).default(5_000),
      maxAttempts: z.number().int().min(0).default(10),
    })
    .prefault({}),
});

/** Options of {@link FastPathClient}. */
export type ClientOptions = z.input<typeof ClientOptionsSchema>;
type ResolvedClientOptions = z.output<typeof ClientOptionsSchema>;

/** Any signal object; {@link Signal} for valid ones, anything else to test rejections. */
export type SignalInput = Signal | Record<string, unknown>;

/** PREPARE fields without `type`. */
export type PrepareFields = Omit<PrepareSignal, 'type'>;

interface InFlight {
  readonly id: number;
  readonly deadlineMs: number;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (err: Error) => void;
  /** Resolved, rejected or timed out; a timed-out request keeps its FIFO slot until its late reply arrives. */
  settled: boolean;
}

type ClientState = 'idle' | 'connecting' | 'connected' | 'closed';

/**
 * A pipelining client.
 *
 * ```ts
 * const client = new FastPathClient({ socketPath: '/tmp/fp.sock', framing: 'ndjson', auth: 'hmac-json', secret });
 * await client.connect();
 * const reply = await client.sendPrepare({ signal_id: 'a1', symbol: 'BTCUSDT', side: 'Buy', qty: 0.1 });
 * await client.close();
 * ```
 *
 * Errors are {@link FastPathError}s naming the socket: FP_CONNECT_ENOENT,
 * FP_CONNECT_REFUSED, FP_CONNECT_FAILED, FP_TIMEOUT, FP_CLOSED.
 */
export class FastPathClient {
  /** The validated options. */
  readonly options: ResolvedClientOptions;
  private readonly mode: WireMode;
  private socket: net.Socket | undefined;
  private decoder: FrameDecoder | undefined;
  private state: ClientState = 'idle';
  private connecting: Promise<void> | undefined;
  private inflight: InFlight[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  /** A rejection that arrived with no request in flight (MAX_CONNECTIONS_REACHED, SHUTTING_DOWN). */
  private closeReason: string | undefined;
  private cancelBackoff: (() => void) | undefined;

  /** @throws FastPathError FP_CONFIG_INVALID for invalid options. */
  constructor(options: ClientOptions) {
    const res = ClientOptionsSchema.safeParse(options);
    if (!res.success) throw fpError('FP_CONFIG_INVALID', `invalid client options: ${describeIssues(res.error, '(options)')}`);
    this.options = res.data;
    if (res.data.auth !== 'none' && res.data.secret.length === 0) {
      throw fpError('FP_CONFIG_INVALID', `invalid client options: auth ${res.data.auth} needs a non-empty secret`);
    }
    this.mode = { framing: res.data.framing, auth: res.data.auth, secret: res.data.secret };
  }

  /** The socket path. */
  get socketPath(): string {
    return this.options.socketPath;
  }

  /** The framing in use. */
  get framing(): FramingSpec {
    return this.options.framing;
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Requests sent and not yet answered (including timed-out ones whose reply may still come). */
  get inFlightCount(): number {
    return this.inflight.length;
  }

  /**
   * Opens the connection (one attempt).
   * @throws FastPathError FP_CONNECT_ENOENT, FP_CONNECT_REFUSED, FP_CONNECT_FAILED or FP_TIMEOUT.
   */
  connect(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.connecting !== undefined) return this.connecting;
    this.state = 'connecting';
    return this.track(this.openSocket());
  }

  /**
   * Sends one signal and resolves with the server's reply (accepted or rejected).
   * Connects first when needed (with the reconnect policy).
   * @throws FastPathError FP_TIMEOUT when no reply comes within requestTimeoutMs;
   *   FP_CLOSED when the connection closes first; a connect error when it cannot connect.
   */
  async send(signal: SignalInput): Promise<Reply> {
    if (this.state !== 'connected') await this.ensureConnected();
    const socket = this.socket!;
    const id = this.nextId++;
    const frame = encodeRequest(this.mode, signal, { id });
    return new Promise<Reply>((resolve, reject) => {
      this.inflight.push({ id, deadlineMs: performance.now() + this.options.requestTimeoutMs, resolve, reject, settled: false });
      if (this.timer === undefined) this.armTimer();
      socket.write(frame);
    });
  }

  /** PREPARE (§6.2). */
  sendPrepare(fields: PrepareFields): Promise<Reply> {
    return this.send({ type: 'PREPARE', ...fields });
  }

  /** CONFIRM (§6.3); idempotent, so safe to retry. */
  sendConfirm(signalId: string): Promise<Reply> {
    return this.send({ type: 'CONFIRM', signal_id: signalId, timestamp: Date.now() });
  }

  /** ABORT (§6.4). */
  sendAbort(signalId: string, reason: string): Promise<Reply> {
    return this.send({ type: 'ABORT', signal_id: signalId, reason, timestamp: Date.now() });
  }

  /** STATUS (§6.8): the server's status, or the rejection it sent. */
  async status(): Promise<StatusReply | RejectedReply> {
    const reply = await this.send({ type: 'STATUS' });
    if (reply.rejected === true) return reply;
    const parsed = StatusReplySchema.safeParse(reply);
    if (!parsed.success) {
      throw fpError('FP_CLOSED', `${this.socketPath} answered STATUS without a valid status object (§6.8): ${describeIssues(parsed.error, '(reply)')}`);
    }
    return parsed.data;
  }

  /** Closes the connection and stops reconnecting; requests in flight are rejected with FP_CLOSED. */
  async close(): Promise<void> {
    this.state = 'closed';
    this.cancelBackoff?.();
    const socket = this.socket;
    this.failInFlight(`client closed the connection to ${this.socketPath}`);
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
  }

  /**
   * Drops the current connection at once (without closing the client): requests in
   * flight are rejected with FP_CLOSED and the next {@link send} connects again. For a
   * caller that gave up on a reply (a timeout) and cannot tell which later replies
   * still belong to which request.
   */
  resetConnection(reason: string): void {
    const socket = this.socket;
    if (socket === undefined) return;
    this.closeReason = reason;
    this.socket = undefined;
    this.decoder = undefined;
    if (this.state === 'connected') this.state = 'idle';
    this.failInFlight(`connection to ${this.socketPath} dropped by the client (${reason})`);
    socket.destroy();
  }

  // ── connection management ─────────────────────────────────────────────────

  private track(attempt: Promise<void>): Promise<void> {
    const p = attempt.finally(() => {
      if (this.connecting === p) this.connecting = undefined;
    });
    this.connecting = p;
    p.catch(() => undefined); // a background reconnect failing is reported to the next send()
    return p;
  }

  private ensureConnected(): Promise<void> {
    if (this.state === 'closed') {
      return Promise.reject(fpError('FP_CLOSED', `client for ${this.socketPath} is closed: call connect() to open it again`));
    }
    if (this.connecting !== undefined) return this.connecting;
    this.state = 'connecting';
    return this.track(this.reconnectLoop(0));
  }

  /** Tries up to maxAttempts times (at least once), first after `firstDelayMs`, then with doubling delays. */
  private async reconnectLoop(firstDelayMs: number): Promise<void> {
    const { initialDelayMs, maxDelayMs, maxAttempts } = this.options.reconnect;
    const attempts = Math.max(1, maxAttempts);
    let delayMs = initialDelayMs;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const waitMs = attempt === 1 ? firstDelayMs : delayMs;
      if (attempt > 1) delayMs = Math.min(delayMs * 2, maxDelayMs);
      if (waitMs > 0) await this.backoff(waitMs);
      if (this.state === 'closed') throw fpError('FP_CLOSED', `client for ${this.socketPath} was closed while reconnecting`);
      try {
        await this.openSocket();
        return;
      } catch (err) {
        lastError = err;
      }
    }
    if (this.state !== 'closed') this.state = 'idle';
    if (lastError instanceof FastPathError && attempts > 1) {
      throw new FastPathError(lastError.code, `${lastError.message} (gave up after ${attempts} attempts)`, lastError.details, { cause: lastError.cause });
    }
    throw lastError;
  }

  private backoff(delayMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, delayMs);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.cancelBackoff = done;
    }).finally(() => {
      this.cancelBackoff = undefined;
    });
  }

  private openSocket(): Promise<void> {
    const path = this.socketPath;
    return new Promise<void>((resolve, reject) => {
      const socket = net.createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(fpError('FP_TIMEOUT', `connecting to ${path} took longer than ${this.options.requestTimeoutMs} ms (requestTimeoutMs): the server may be overloaded; retry or raise requestTimeoutMs`, { socketPath: path }));
      }, this.options.requestTimeoutMs);
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(connectError(path, err));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (this.state === 'closed') {
          socket.destroy();
          reject(fpError('FP_CLOSED', `client for ${path} was closed while connecting`));
          return;
        }
        this.attach(socket);
        resolve();
      });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    // maxFrameBytes limits requests; a reply (e.g. STATUS) may be longer than a small request limit.
    const framing = this.options.framing;
    this.decoder = createFrameDecoder({ ...framing, maxFrameBytes: Math.max(framing.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES) });
    this.closeReason = undefined;
    this.state = 'connected';
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.closeReason ??= `${err.code ?? err.message}`;
    });
    socket.on('close', () => this.onClose(socket));
  }

  private onClose(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.decoder = undefined;
    const reason = this.closeReason === undefined ? '' : ` (${this.closeReason})`;
    this.failInFlight(`connection to ${this.socketPath} closed${reason}`);
    if (this.state === 'closed') return;
    this.state = 'idle';
    if (this.options.reconnect.maxAttempts > 0 && this.connecting === undefined) {
      this.state = 'connecting';
      this.track(this.reconnectLoop(this.options.reconnect.initialDelayMs));
    }
  }

  // ── replies ───────────────────────────────────────────────────────────────

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (this.socket !== socket || this.decoder === undefined) return;
    for (const event of this.decoder.push(chunk)) {
      if (event.type === 'error') {
        this.protocolViolation(`a reply frame is malformed (${event.message})`);
        return;
      }
      const decoded = decodeBody(this.options.framing.codec, event.body);
      if (!decoded.ok) {
        this.protocolViolation(`a reply body could not be decoded (${decoded.error})`);
        return;
      }
      const parsed = ReplySchema.safeParse(decoded.value);
      if (!parsed.success) {
        this.protocolViolation(`a reply is not a §5.4 reply (${describeIssues(parsed.error, '(reply)')})`);
        return;
      }
      if (!this.onReply(parsed.data)) return;
    }
  }

  /** Matches a reply to the oldest request in flight; false when the connection was dropped. */
  private onReply(reply: Reply): boolean {
    const head = this.inflight[0];
    if (head === undefined) {
      if (reply.rejected === true) {
        this.closeReason = `server sent ${reply.reason}${reply.error === undefined ? '' : `: ${reply.error}`}`;
        return true;
      }
      this.protocolViolation('an accepted reply arrived with no request in flight');
      return false;
    }
    if (reply.id !== undefined && reply.id !== head.id) {
      this.protocolViolation(`reply id ${JSON.stringify(reply.id)} does not match the oldest request in flight (id ${head.id}): replies are out of order (§5.2) or ids not echoed (§5.3)`);
      return false;
    }
    this.inflight.shift();
    if (!head.settled) {
      head.settled = true;
      head.resolve(reply);
    }
    if (this.inflight.length === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return true;
  }

  /** The server broke the protocol: reply state is unknown, so drop the connection. */
  private protocolViolation(what: string): void {
    this.closeReason = `protocol violation: ${what}`;
    this.failInFlight(`${this.socketPath} broke the protocol: ${what}; connection closed`);
    this.socket?.destroy();
  }

  private failInFlight(message: string): void {
    const pending = this.inflight;
    this.inflight = [];
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    let open = 0;
    for (const req of pending) if (!req.settled) open++;
    if (open === 0) return;
    const err = fpError(
      'FP_CLOSED',
      `${message} with ${open} request(s) unanswered: they may or may not have been executed; retry them (CONFIRM and ABORT are idempotent)`,
      { socketPath: this.socketPath },
    );
    for (const req of pending) {
      if (req.settled) continue;
      req.settled = true;
      req.reject(err);
    }
  }

  // ── timeouts: deadlines are in FIFO order, so one timer for the oldest suffices ──

  private armTimer(): void {
    this.timer = undefined;
    for (const req of this.inflight) {
      if (req.settled) continue;
      this.timer = setTimeout(() => this.onTimer(), Math.max(0, req.deadlineMs - performance.now()));
      return;
    }
  }

  private onTimer(): void {
    const nowMs = performance.now();
    for (const req of this.inflight) {
      if (req.settled) continue;
      if (req.deadlineMs > nowMs) break;
      req.settled = true;
      req.reject(
        fpError(
          'FP_TIMEOUT',
          `no reply from ${this.socketPath} within ${this.options.requestTimeoutMs} ms (requestTimeoutMs, request id ${req.id}): the server may be stuck or overloaded; check it or raise requestTimeoutMs`,
          { socketPath: this.socketPath, requestTimeoutMs: this.options.requestTimeoutMs, id: req.id },
        ),
      );
    }
    this.armTimer();
  }
}

/** Maps a connect error to an actionable FastPathError naming the socket. */
export function connectError(path: string, err: NodeJS.ErrnoException): FastPathError {
  switch (err.code) {
    case 'ENOENT':
      return fpError('FP_CONNECT_ENOENT', `no socket file at ${path}: is the server running? start it with \`fastpath serve --socket ${path}\``, { socketPath: path }, err);
    case 'ECONNREFUSED':
      return fpError(
        'FP_CONNECT_REFUSED',
        `connection refused at ${path}: a stale socket file with no server behind it (the server crashed or was killed); restart it with \`fastpath serve --socket ${path}\`, which removes the stale file`,
        { socketPath: path },
        err,
      );
    case 'EACCES':
      return fpError('FP_CONNECT_FAILED', `permission denied connecting to ${path}: the socket is mode 0600, connect as the user that runs the server`, { socketPath: path }, err);
    default:
      return fpError('FP_CONNECT_FAILED', `cannot connect to ${path}: ${err.code ?? ''} ${err.message}`, { socketPath: path }, err);
  }
}
