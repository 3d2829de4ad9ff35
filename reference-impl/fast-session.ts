import type net from 'node:net';
import {
  type BodyCodecName,
  type EnvelopeId,
  type FastMessage,
  type FastTransport,
  FAST_MESSAGE_VERSION,
  FAST_SESSION_VERSION,
  HelloSchema,
  createFrameDecoder,
  decodeFastMessage,
  encodeBody,
  encodeFastMessage,
  formatIssues,
  isFastPathError,
  parseFraming,
  rejectedReply,
} from '../protocol/index.js';
import {
  type IncomingMessage,
  RingSession,
  type SharedSegment,
  type WaitStrategy,
  checkCapacity,
  openRingSegment,
  peekFastMessageId,
  peerState,
  shmSupport,
} from '../ring/index.js';
import type { ReplyBody, RequestSink } from './server.js';
import type { TokenBucket } from './token-bucket.js';

/**
 * Server-side fast sessions (docs/SPEC.md §10): the HELLO handshake and one session
 * per upgraded socket connection, over two shared-memory rings (`shm`) or as lp32
 * MessagePack frames on the socket itself (`uds`). Serves the methods of §10.5:
 * `signal` (a request body through the server's ordinary request path), `echo` and
 * `sink`. Responses leave in request order (§10.4.3).
 */

/** Default bound of one FastMessage in a session: 64 MiB. */
export const DEFAULT_MAX_FAST_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Default wait of the server on its request rings. */
export const DEFAULT_SHM_WAIT: WaitStrategy = 'spin-then-futex';
/** How long a closing session keeps discarding input on its socket before destroying it (§5.6 note). */
export const SESSION_CLOSE_LINGER_MS = 200;

/** The fast-session part of the server configuration. */
export interface FastSessionConfig {
  /** Answer HELLO at all (false: a HELLO is an unknown signal, INVALID_SIGNAL). */
  readonly fastSessions: boolean;
  /** Accept `shm` HELLOs (false: SESSION_REFUSED, clients fall back to `uds`). */
  readonly shmSessions: boolean;
  /** How the server waits on request rings (reported in READY). */
  readonly shmWait: WaitStrategy;
  /** Largest message the server accepts and sends; a HELLO may lower it for its session. */
  readonly maxFastMessageBytes: number;
}

/** What a session needs from its server. */
export interface FastSessionHost {
  /** The server's body codec: `signal` params and results are bodies in it. */
  readonly codec: BodyCodecName;
  /** Stop reading a `uds` session while more reply bytes than this wait to be written (§7.2). */
  readonly writeHighWaterBytes: number;
  /** Decodes a request body and runs it through the request path of §4.6; the reply goes to `sink`. */
  handleSignalBody(sink: RequestSink, body: Uint8Array, startedMs: number): void;
  /** Counts a reply in the metrics and adds `ipc_latency_ms`, as for socket replies. */
  account(reply: ReplyBody, startedMs: number): void;
  /** The session's socket closed: it no longer counts. */
  onSessionClosed(session: ServerFastSession): void;
  /** One line for the operator (stderr). */
  log(line: string): void;
}

/** An accepted HELLO: what READY announces and what the session starts with. */
export interface SessionPlan {
  readonly transport: FastTransport;
  readonly maxMessageBytes: number;
  readonly clientPid: number | undefined;
  /** `shm`: the server end of the rings, opened and validated while answering the HELLO. */
  readonly ring: RingSession | undefined;
  /** Releases what the HELLO opened when the session never starts (the connection closed first). */
  abandon(): void;
}

/** The answer to a HELLO: READY and a plan, or a rejection (the connection stays ordinary). */
export type HelloOutcome =
  | { readonly accepted: true; readonly ready: ReplyBody; readonly plan: SessionPlan }
  | { readonly accepted: false; readonly reply: ReplyBody };

function refuse(reason: 'INVALID_SIGNAL' | 'SESSION_REFUSED', error: string, id: EnvelopeId | undefined): HelloOutcome {
  return { accepted: false, reply: rejectedReply(reason, error, id) };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function openSegmentFor(field: 'requestRing' | 'responseRing', name: string, capacityBytes: number): SharedSegment | string {
  try {
    return openRingSegment(name, capacityBytes);
  } catch (err) {
    const code = isFastPathError(err) ? `${err.code}: ` : '';
    return `${field} ${name} cannot be used: ${code}${errorText(err)}`;
  }
}

/**
 * Validates a HELLO (§10.1.1) and prepares its session. For `shm` both segments are
 * opened and validated here (§10.2.3), so that any problem becomes a SESSION_REFUSED
 * naming the segment and the reason (§10.1.2); the connection then stays ordinary.
 */
export function acceptHello(signal: unknown, id: EnvelopeId | undefined, config: FastSessionConfig): HelloOutcome {
  const parsed = HelloSchema.safeParse(signal);
  if (!parsed.success) return refuse('INVALID_SIGNAL', `invalid HELLO: ${formatIssues(parsed.error)}`, id);
  const hello = parsed.data;
  const maxMessageBytes = Math.min(hello.maxMessageBytes ?? config.maxFastMessageBytes, config.maxFastMessageBytes);
  const ready = (extra: Record<string, unknown>): ReplyBody => {
    const reply: ReplyBody = {};
    if (id !== undefined) reply.id = id;
    Object.assign(reply, { accepted: true, type: 'READY', version: FAST_SESSION_VERSION, transport: hello.transport, maxMessageBytes }, extra, { serverPid: process.pid });
    return reply;
  };
  if (hello.transport === 'uds') {
    return { accepted: true, ready: ready({}), plan: { transport: 'uds', maxMessageBytes, clientPid: hello.pid, ring: undefined, abandon: () => undefined } };
  }
  try {
    checkCapacity(hello.capacityBytes);
  } catch (err) {
    return refuse('INVALID_SIGNAL', `invalid HELLO: capacityBytes: ${errorText(err)}`, id);
  }
  if (hello.requestRing === hello.responseRing) {
    return refuse('INVALID_SIGNAL', `invalid HELLO: requestRing and responseRing are both ${hello.requestRing}; a session needs two segments`, id);
  }
  if (!config.shmSessions) {
    return refuse('SESSION_REFUSED', 'shared-memory sessions are disabled on this server (--no-shm-sessions): open the session with transport uds', id);
  }
  const support = shmSupport();
  if (!support.available) {
    return refuse('SESSION_REFUSED', `no shared memory on the server side (${support.reason}): open the session with transport uds`, id);
  }
  const request = openSegmentFor('requestRing', hello.requestRing, hello.capacityBytes);
  if (typeof request === 'string') return refuse('SESSION_REFUSED', request, id);
  const response = openSegmentFor('responseRing', hello.responseRing, hello.capacityBytes);
  if (typeof response === 'string') {
    request.close();
    return refuse('SESSION_REFUSED', response, id);
  }
  let ring: RingSession;
  try {
    ring = RingSession.server(request, response, { wait: { strategy: config.shmWait }, maxMessageBytes });
  } catch (err) {
    request.close();
    response.close();
    return refuse('SESSION_REFUSED', `rings ${hello.requestRing} / ${hello.responseRing} cannot be attached: ${errorText(err)}`, id);
  }
  return {
    accepted: true,
    ready: ready({ wait: config.shmWait }),
    plan: { transport: 'shm', maxMessageBytes, clientPid: hello.pid, ring, abandon: () => ring.close() },
  };
}

/** A response waiting for an earlier one (§10.4.3). */
interface Slot {
  readonly id: number;
  response: FastMessage | undefined;
}

type SessionState = 'open' | 'draining' | 'closed';

/** FastMessage byte fields (`params`, `result`). */
type Bytes = NonNullable<FastMessage['result']>;
const EMPTY: Bytes = new Uint8Array(0);
const LP32_PREFIX_BYTES = 4;

function noop(): void {}

function resultMessage(id: number, result: Bytes): FastMessage {
  return { version: FAST_MESSAGE_VERSION, type: 'response', id, result };
}

function errorMessage(id: number, code: string, message: string): FastMessage {
  return { version: FAST_MESSAGE_VERSION, type: 'response', id, error: { code, message: message.length > 4096 ? `${message.slice(0, 4093)}...` : message } };
}

/**
 * One fast session on the server. Created by {@link ServerFastSession.start} once the
 * READY frame was handed to the socket; from then on the socket belongs to the
 * session: for `shm` it is only the liveness channel (any byte or its closing ends
 * the session, §10.1.5), for `uds` it carries lp32 FastMessage frames (§10.1.4).
 */
export class ServerFastSession {
  readonly transport: FastTransport;
  readonly clientPid: number | undefined;
  readonly maxMessageBytes: number;
  private readonly ring: RingSession | undefined;
  private state: SessionState = 'open';
  /** Responses behind one still being computed (a `signal` with delay_ms). */
  private slots: Slot[] = [];
  /** Request records to release once the responses queued before them are in the ring. */
  private deferredReleases: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The pump's next turn: an immediate while the peer keeps up, then a 1 ms timeout (never both). */
  private pumpImmediate: NodeJS.Immediate | undefined;
  private pumpTimeout: NodeJS.Timeout | undefined;
  private pumpAttempts = 0;
  /** `uds`: frames produced while handling one 'data' event, written once at its end. */
  private socketBatch: Buffer[] | undefined;
  private readPaused = false;
  private notifiedClosed = false;

  private constructor(
    private readonly host: FastSessionHost,
    private readonly socket: net.Socket,
    private readonly bucket: TokenBucket | undefined,
    plan: SessionPlan,
  ) {
    this.transport = plan.transport;
    this.clientPid = plan.clientPid;
    this.maxMessageBytes = plan.maxMessageBytes;
    this.ring = plan.ring;
  }

  /**
   * Takes over `socket` (READY already written) and starts serving.
   * @param strayInput the client sent bytes after its HELLO before READY: the session ends at once.
   */
  static start(host: FastSessionHost, socket: net.Socket, bucket: TokenBucket | undefined, plan: SessionPlan, strayInput: boolean): ServerFastSession {
    const session = new ServerFastSession(host, socket, bucket, plan);
    session.attach(strayInput);
    return session;
  }

  /** True once the session ended. */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /** `open` (serving), `draining` (server stopping: answering what was read) or `closed`. */
  get status(): SessionState {
    return this.state;
  }

  private describe(): string {
    return `fast session (${this.transport}${this.clientPid === undefined ? '' : `, client pid ${this.clientPid}`})`;
  }

  private attach(strayInput: boolean): void {
    const socket = this.socket;
    socket.setTimeout(0); // the socket is silent during an shm session; liveness is its closing
    socket.on('error', noop); // ECONNRESET from a vanished client; 'close' follows
    socket.on('close', () => this.onSocketClose());
    if (this.ring !== undefined) {
      const ring = this.ring;
      socket.on('data', () => this.end('the client sent bytes on the control socket after READY (§10.1.5)'));
      socket.on('end', () => this.end(this.clientClosedRing() ? undefined : 'the client closed the control socket without closing its rings'));
      ring.startReceiving(
        (incoming) => this.onIncoming(incoming),
        (err) => this.onRingError(err),
      );
    } else {
      const decoder = createFrameDecoder(parseFraming('lp32-msgpack', this.maxMessageBytes));
      socket.on('data', (chunk: Buffer) => this.onSocketData(decoder, chunk));
      socket.on('end', () => this.onClientEnd());
      socket.on('drain', () => this.onDrain());
    }
    socket.resume();
    if (strayInput) this.end('the client sent data after its HELLO before READY arrived (§10.1)');
  }

  // ── incoming ──────────────────────────────────────────────────────────────

  private onSocketData(decoder: ReturnType<typeof createFrameDecoder>, chunk: Buffer): void {
    if (this.state === 'closed') return;
    const events = decoder.push(chunk);
    this.socketBatch = [];
    try {
      for (const event of events) {
        if (event.type === 'error') {
          this.end(`${event.message} (lp32 FastMessage frames, §10.1.4)`);
          return;
        }
        const body = event.body;
        const decoded = decodeFastMessage(body);
        this.onIncoming(
          decoded.ok
            ? { ok: true, message: decoded.message, release: noop, zeroCopy: false, totalBytes: body.byteLength }
            : { ok: false, error: decoded.error, totalBytes: body.byteLength, id: peekFastMessageId(body) },
        );
        if (this.closed) return;
      }
    } finally {
      this.flushSocketBatch();
    }
  }

  private onIncoming(incoming: IncomingMessage): void {
    if (this.state === 'closed') return; // the rings are being closed: nothing to give back
    if (!incoming.ok) {
      // §10.5: BAD_MESSAGE when the id is still readable, else the session cannot go on.
      if (incoming.id === undefined) this.end(`undecodable message without an id: ${incoming.error}`);
      else this.respond(errorMessage(incoming.id, 'BAD_MESSAGE', incoming.error));
      return;
    }
    const startedMs = performance.now();
    const message = incoming.message;
    const release = incoming.release;
    if (message.type === 'notification') {
      if (message.method === 'signal' && this.state === 'open') this.runSignal(undefined, message.params ?? EMPTY, startedMs);
      this.finishRequest(release);
      return;
    }
    const id = message.id!;
    if (message.type === 'response') {
      this.respond(errorMessage(id, 'BAD_MESSAGE', 'a client sends requests and notifications, not responses'));
      this.finishRequest(release);
      return;
    }
    if (this.state === 'draining') {
      this.respond(errorMessage(id, 'SHUTTING_DOWN', 'the server is shutting down: open a new session with its replacement'));
      this.finishRequest(release);
      return;
    }
    switch (message.method) {
      case 'echo':
        this.respondEcho(id, message.params ?? EMPTY, release);
        return;
      case 'sink':
        this.respond(resultMessage(id, EMPTY));
        this.finishRequest(release);
        return;
      case 'signal':
        this.runSignal(id, message.params ?? EMPTY, startedMs);
        this.finishRequest(release);
        return;
      default:
        this.respond(errorMessage(id, 'UNKNOWN_METHOD', `unknown method "${message.method ?? ''}": this server serves signal, echo and sink`));
        this.finishRequest(release);
    }
  }

  /** `echo`: written now, straight from the request view to the response ring; copied when it must wait. */
  private respondEcho(id: number, params: Bytes, release: () => void): void {
    if (this.slots.length > 0) {
      this.slots.push({ id, response: resultMessage(id, new Uint8Array(params)) });
      this.finishRequest(release);
      return;
    }
    if (this.write(resultMessage(id, params))) this.releaseNow(release);
    else this.deferredReleases.push(release);
  }

  /** `signal`: the params are a request body; the reply body is the result (§10.5). */
  private runSignal(id: number | undefined, body: Uint8Array, startedMs: number): void {
    const slot: Slot | undefined = id === undefined ? undefined : { id, response: undefined };
    if (slot !== undefined) this.slots.push(slot);
    const sink: RequestSink = {
      bucket: this.bucket,
      reply: (reply, started) => this.completeSignal(slot, reply, started),
      replyLater: (reply, started, delayMs) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.completeSignal(slot, reply, started);
        }, delayMs);
        this.timers.add(timer);
      },
    };
    this.host.handleSignalBody(sink, body, startedMs);
  }

  private completeSignal(slot: Slot | undefined, reply: ReplyBody, startedMs: number): void {
    if (this.state === 'closed') return;
    this.host.account(reply, startedMs);
    if (slot === undefined) return; // a notification: no response
    slot.response = resultMessage(slot.id, encodeBody(this.host.codec, reply) as Bytes); // a Buffer over an ArrayBuffer
    this.drainSlots();
  }

  // ── outgoing ──────────────────────────────────────────────────────────────

  /** A response in request order: now when nothing earlier is pending, else behind it. */
  private respond(message: FastMessage): void {
    if (this.slots.length === 0) this.write(message);
    else this.slots.push({ id: message.id!, response: message });
  }

  private drainSlots(): void {
    const slots = this.slots;
    let n = 0;
    while (n < slots.length && !this.closed) {
      const response = slots[n]!.response;
      if (response === undefined) break;
      this.write(response);
      n++;
    }
    if (this.closed) return;
    if (n > 0) slots.splice(0, n);
    this.maybeFinishDrain();
  }

  /** Releases a request now, or after the responses queued before it are written (backpressure on the client). */
  private finishRequest(release: () => void): void {
    if (this.ring !== undefined && this.ring.queuedMessages > 0) this.deferredReleases.push(release);
    else this.releaseNow(release);
  }

  private releaseNow(release: () => void): void {
    if (this.state !== 'closed') release();
  }

  /** Writes or queues a message; true when nothing of it is left queued (views in it may be released). */
  private write(message: FastMessage): boolean {
    if (this.state === 'closed') return true;
    return this.ring !== undefined ? this.writeRing(this.ring, message) : this.writeSocket(message);
  }

  private writeRing(ring: RingSession, message: FastMessage): boolean {
    let done: boolean;
    try {
      done = ring.send(message);
    } catch (err) {
      if (isFastPathError(err) && err.code === 'FP_RING_TOO_LARGE' && message.result !== undefined) {
        return this.writeRing(ring, errorMessage(message.id!, 'TOO_LARGE', `response: ${err.message}`));
      }
      this.onRingError(err);
      return true;
    }
    if (!done) this.startPump();
    return done;
  }

  private writeSocket(message: FastMessage): boolean {
    const { head, tail, totalBytes } = encodeFastMessage(message);
    if (totalBytes > this.maxMessageBytes && message.result !== undefined) {
      return this.writeSocket(
        errorMessage(message.id!, 'TOO_LARGE', `response of ${totalBytes} bytes exceeds the session limit of ${this.maxMessageBytes} bytes`),
      );
    }
    const frame = Buffer.allocUnsafe(LP32_PREFIX_BYTES + totalBytes);
    frame.writeUInt32BE(totalBytes, 0);
    frame.set(head, LP32_PREFIX_BYTES);
    if (tail !== undefined) frame.set(tail, LP32_PREFIX_BYTES + head.byteLength);
    if (this.socketBatch !== undefined) this.socketBatch.push(frame);
    else this.socketWrite(frame);
    return true;
  }

  private flushSocketBatch(): void {
    const batch = this.socketBatch;
    this.socketBatch = undefined;
    if (batch === undefined || batch.length === 0) return;
    this.socketWrite(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
  }

  private socketWrite(data: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(data);
    if (!this.readPaused && socket.writableLength > this.host.writeHighWaterBytes) {
      this.readPaused = true;
      socket.pause();
    }
  }

  private onDrain(): void {
    if (this.readPaused && this.state !== 'closed') {
      this.readPaused = false;
      this.socket.resume();
    }
    this.maybeFinishDrain();
  }

  /** Writes what the response ring could not take yet, as room appears (polling on the event loop). */
  private startPump(): void {
    if (this.pumpImmediate !== undefined || this.pumpTimeout !== undefined || this.state === 'closed') return;
    this.pumpAttempts = 0;
    this.pumpImmediate = setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    this.pumpImmediate = undefined;
    this.pumpTimeout = undefined;
    const ring = this.ring;
    if (this.state === 'closed' || ring === undefined) return;
    let done: boolean;
    try {
      done = ring.flush();
      if (!done && this.pumpAttempts % 64 === 0) ring.checkPeer();
    } catch (err) {
      this.onRingError(err);
      return;
    }
    if (!done) {
      this.pumpAttempts++;
      if (this.pumpAttempts < 1_000) this.pumpImmediate = setImmediate(this.pump);
      else this.pumpTimeout = setTimeout(this.pump, 1);
      return;
    }
    const releases = this.deferredReleases;
    this.deferredReleases = [];
    for (const release of releases) this.releaseNow(release);
    this.maybeFinishDrain();
  };

  private get backlog(): boolean {
    if (this.ring !== undefined) return this.ring.queuedMessages > 0;
    return this.socket.writableLength > 0;
  }

  // ── ending ────────────────────────────────────────────────────────────────

  /**
   * Server shutdown (§7.4 for sessions): requests already read get their responses,
   * later ones SHUTTING_DOWN; the session closes once nothing is left to write.
   */
  beginShutdown(): void {
    if (this.state !== 'open') return;
    this.state = 'draining';
    const ring = this.ring;
    if (ring !== undefined) {
      // Requests already in the ring get an answer (SHUTTING_DOWN) rather than a dead ring.
      try {
        for (let m = ring.tryReceive(); m !== null && !this.closed; m = this.closed ? null : ring.tryReceive()) this.onIncoming(m);
      } catch (err) {
        this.onRingError(err);
        return;
      }
    }
    this.maybeFinishDrain();
  }

  /** Closes at once (shutdown deadline passed). */
  destroy(): void {
    this.end(undefined);
    this.socket.destroy();
  }

  private maybeFinishDrain(): void {
    if (this.state === 'draining' && this.slots.length === 0 && this.deferredReleases.length === 0 && !(this.ring !== undefined && this.ring.queuedMessages > 0)) {
      this.end(undefined);
    }
  }

  private onClientEnd(): void {
    // uds: the client will send nothing more; answer what was read, then close.
    if (this.state === 'open') this.state = 'draining';
    if (this.slots.length === 0 && !this.backlog) this.end(undefined);
    else this.maybeFinishDrain();
  }

  /** True when the client marked its request ring closed (an orderly end, not a crash). */
  private clientClosedRing(): boolean {
    const ring = this.ring;
    if (ring === undefined || ring.consumer.buffer.byteLength === 0) return true;
    return peerState(ring.consumer.buffer, 'producer').state === 'closed';
  }

  private onRingError(err: unknown): void {
    if (this.state === 'closed') return;
    // The client closing its rings (FastClient.close) shows up as a closed peer or ring: not worth a log line.
    const orderly = isFastPathError(err) && (err.code === 'FP_RING_PEER_DEAD' || err.code === 'FP_RING_CLOSED') && this.clientClosedRing();
    this.end(orderly ? undefined : `ring error: ${isFastPathError(err) ? `${err.code} ` : ''}${errorText(err)}`);
  }

  /**
   * Ends the session: stops timers, closes both rings (the client sees `closed`), and
   * closes the socket after what was written is flushed. `reason` (an abnormal end)
   * is logged as one line.
   */
  private end(reason: string | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (reason !== undefined) this.host.log(`${this.describe()} ended: ${reason}`);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.slots = [];
    this.deferredReleases = [];
    // clearImmediate must only ever get an Immediate: given a Timeout it corrupts Node's immediate queue.
    if (this.pumpImmediate !== undefined) clearImmediate(this.pumpImmediate);
    if (this.pumpTimeout !== undefined) clearTimeout(this.pumpTimeout);
    this.pumpImmediate = undefined;
    this.pumpTimeout = undefined;
    // Not synchronously: end() may run inside the ring's delivery loop, which must not find its mapping gone.
    const ring = this.ring;
    if (ring !== undefined) setImmediate(() => ring.close());
    this.flushSocketBatch();
    const socket = this.socket;
    if (socket.destroyed) return;
    // After our FIN, discard the client's input briefly so a late byte does not reset the connection (§5.6 note).
    const timer = setTimeout(() => socket.destroy(), SESSION_CLOSE_LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
    if (socket.readableEnded) socket.once('finish', () => socket.destroy());
    socket.end();
    socket.resume();
  }

  private onSocketClose(): void {
    this.end(this.state === 'closed' || this.clientClosedRing() ? undefined : 'the control socket closed without the client closing its rings');
    if (this.notifiedClosed) return;
    this.notifiedClosed = true;
    this.host.onSessionClosed(this);
  }
}
