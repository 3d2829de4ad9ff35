import { connect, type Socket } from 'node:net';
import {
  createFrameDecoder,
  decodeBody,
  DecoderState,
  encodeRequest,
  fpError,
  type FrameDecoder,
  type FramingSpec,
  type SignOptions,
} from '../protocol/index.js';
import type { ClassifiedReply, ModeInfo, ReadEvent, WireConnection } from './case.js';
import type { Dialect } from './dialect.js';
import type { WireLog } from './wire-log.js';

/**
 * A client connection for conformance cases (harness/case.ts `WireConnection`) over
 * node:net, with every byte in the case's wire log. Replies are delimited with the
 * mode's framing (with a large limit: the client must see what the server sent),
 * decoded with its body codec and classified by the target's dialect. Reading never
 * throws for a timeout, a close or an undecodable reply: those are events.
 */

/** Largest reply body the client accepts before calling the reply stream broken. */
export const REPLY_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Default time to wait for one reply. */
export const DEFAULT_READ_TIMEOUT_MS = 3_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const END_WAIT_MS = 500;
const REPLY_SUMMARY_CHARS = 300;

/** What a connection needs: where, how to frame and sign, how to classify, where to log. */
export interface WireConnectionOptions {
  readonly socketPath: string;
  readonly mode: ModeInfo;
  readonly dialect: Dialect;
  readonly log: WireLog;
  /** Number of this connection within the case, shown in the log. */
  readonly connId: number;
  /** Timeout of read() without an argument. */
  readonly defaultReadTimeoutMs?: number | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly replyMaxFrameBytes?: number | undefined;
}

type Waiter = (event: ReadEvent) => void;

function replyFraming(spec: FramingSpec, maxFrameBytes: number): FramingSpec {
  return { ...spec, maxFrameBytes };
}

function summarize(reply: ClassifiedReply): string {
  switch (reply.kind) {
    case 'accepted':
      return 'accepted';
    case 'rejected':
      return `rejected ${reply.reason}${reply.error === undefined ? '' : ` (${reply.error})`}`;
    case 'malformed':
      return `malformed: ${reply.problem}`;
  }
}

function jsonPreview(value: unknown): string {
  let text: string;
  try {
    // Buffers are seen before their toJSON() runs through the holder object.
    text =
      JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
        const original = this[key];
        return original instanceof Uint8Array ? `<${original.length} bytes>` : v;
      }) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > REPLY_SUMMARY_CHARS ? `${text.slice(0, REPLY_SUMMARY_CHARS)}…` : text;
}

/** A {@link WireConnection} over a Unix socket. Create with {@link openWireConnection}. */
export class SocketWireConnection implements WireConnection {
  private readonly queue: ReadEvent[] = [];
  private waiters: Waiter[] = [];
  private closeWaiters: Array<() => void> = [];
  private closedEvent: ReadEvent | undefined;
  private readonly decoder: FrameDecoder;
  private readonly lpPrefixBytes: number;
  /** Bytes received after the reply decoder failed (framing lost). */
  private bytesAfterFailure = 0;
  private replies = 0;
  private readonly defaultReadTimeoutMs: number;

  private constructor(
    private readonly socket: Socket,
    private readonly opts: WireConnectionOptions,
  ) {
    this.decoder = createFrameDecoder(replyFraming(opts.mode.framing, opts.replyMaxFrameBytes ?? REPLY_MAX_FRAME_BYTES));
    this.lpPrefixBytes = opts.mode.framing.kind === 'lp' ? opts.mode.framing.prefixBytes : 0;
    this.defaultReadTimeoutMs = opts.defaultReadTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.markClosed('peer closed the connection (FIN)'));
    socket.on('error', (err: NodeJS.ErrnoException) => this.markClosed(`socket error: ${err.code ?? err.message}`));
    socket.on('close', () => this.markClosed('connection closed'));
  }

  /**
   * Connects to `opts.socketPath`.
   * @throws FastPathError FP_CONNECT_ENOENT / FP_CONNECT_REFUSED / FP_CONNECT_FAILED / FP_TIMEOUT.
   */
  static open(opts: WireConnectionOptions): Promise<SocketWireConnection> {
    const { log, connId, socketPath } = opts;
    return new Promise((resolvePromise, reject) => {
      const socket = connect(socketPath);
      const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      const timer = setTimeout(() => {
        socket.destroy();
        log.event(`connect timed out after ${timeoutMs} ms`, connId);
        reject(fpError('FP_TIMEOUT', `connect to ${socketPath} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        const code = err.code ?? 'ERROR';
        log.event(`connect failed: ${code}`, connId);
        const fp = code === 'ENOENT' ? 'FP_CONNECT_ENOENT' : code === 'ECONNREFUSED' ? 'FP_CONNECT_REFUSED' : 'FP_CONNECT_FAILED';
        reject(fpError(fp, `connect to ${socketPath} failed: ${code}`, { code }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        log.event('connected', connId);
        resolvePromise(new SocketWireConnection(socket, opts));
      });
    });
  }

  get closed(): boolean {
    return this.closedEvent !== undefined;
  }

  get pendingWriteBytes(): number {
    return this.socket.destroyed ? 0 : this.socket.writableLength;
  }

  private emit(event: ReadEvent): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(event);
    else this.queue.push(event);
  }

  private onData(chunk: Buffer): void {
    const { log, connId } = this.opts;
    log.bytes('in', connId, chunk);
    if (this.decoder.state === DecoderState.Failed) {
      this.bytesAfterFailure += chunk.length;
      return;
    }
    for (const ev of this.decoder.push(chunk)) {
      const atMs = log.nowMs();
      if (ev.type === 'error') {
        if (ev.fatal) this.bytesAfterFailure = Math.max(1, chunk.length);
        log.event(`reply stream: ${ev.message}${ev.fatal ? ' (framing lost)' : ''}`, connId);
        this.emit({ type: 'undecodable', raw: Buffer.alloc(0), error: `reply frame: ${ev.message}`, atMs });
        continue;
      }
      const decoded = decodeBody(this.opts.mode.framing.codec, ev.body);
      if (!decoded.ok) {
        log.event(`undecodable reply: ${decoded.error}`, connId);
        this.emit({ type: 'undecodable', raw: ev.body, error: decoded.error, atMs });
        continue;
      }
      const reply = this.opts.dialect.classify(decoded.value);
      this.replies++;
      const body = this.opts.mode.framing.codec === 'msgpack' ? ` ${jsonPreview(decoded.value)}` : '';
      log.event(`reply #${this.replies}: ${summarize(reply)}${body}`, connId);
      this.emit({ type: 'reply', reply, raw: ev.body, atMs });
    }
  }

  /** Bytes of an incomplete reply frame held right now. */
  private partialBytes(): number {
    if (this.decoder.state === DecoderState.Failed) return this.bytesAfterFailure;
    if (this.decoder.state === DecoderState.Body) return this.decoder.bufferedBytes + this.lpPrefixBytes;
    return this.decoder.bufferedBytes;
  }

  private markClosed(why: string): void {
    if (this.closedEvent !== undefined) return;
    const partialBytes = this.partialBytes();
    const { log, connId } = this.opts;
    log.event(partialBytes > 0 ? `${why}; ${partialBytes} bytes of an incomplete reply frame` : why, connId);
    this.closedEvent = { type: 'closed', partialBytes, atMs: log.nowMs() };
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(this.closedEvent);
    const closeWaiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of closeWaiters) w();
    if (!this.socket.destroyed) this.socket.destroy();
  }

  async write(bytes: Uint8Array | string): Promise<void> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const { log, connId } = this.opts;
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) {
      log.event(`write of ${buf.length} bytes skipped: connection already closed`, connId);
      return;
    }
    log.bytes('out', connId, buf);
    this.socket.write(buf);
  }

  async writeChunked(bytes: Uint8Array, chunkBytes: number, gapMs: number): Promise<void> {
    const step = Math.max(1, Math.floor(chunkBytes));
    for (let offset = 0; offset < bytes.length; offset += step) {
      await this.write(bytes.subarray(offset, Math.min(bytes.length, offset + step)));
      if (gapMs > 0 && offset + step < bytes.length) await new Promise((res) => setTimeout(res, gapMs));
    }
  }

  /** Encodes a request frame for `signal` (dialect applied, signed for the mode). */
  encode(signal: Record<string, unknown>, opts?: SignOptions): Buffer {
    return encodeRequest(this.opts.mode, this.opts.dialect.toTarget(signal), opts);
  }

  async send(signal: Record<string, unknown>, opts?: SignOptions): Promise<void> {
    const frame = this.encode(signal, opts);
    if (this.opts.mode.framing.codec === 'msgpack') {
      this.opts.log.event(`send ${jsonPreview(signal)}`, this.opts.connId);
    }
    await this.write(frame);
  }

  read(timeoutMs: number = this.defaultReadTimeoutMs): Promise<ReadEvent> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closedEvent !== undefined) return Promise.resolve(this.closedEvent);
    return new Promise((resolvePromise) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.opts.log.event(`no reply within ${timeoutMs} ms`, this.opts.connId);
        resolvePromise({ type: 'timeout', afterMs: timeoutMs });
      }, timeoutMs);
      const waiter: Waiter = (event) => {
        clearTimeout(timer);
        resolvePromise(event);
      };
      this.waiters.push(waiter);
    });
  }

  async request(signal: Record<string, unknown>, opts?: SignOptions, timeoutMs?: number): Promise<ReadEvent> {
    await this.send(signal, opts);
    return this.read(timeoutMs);
  }

  waitClose(timeoutMs: number): Promise<'closed' | 'timeout'> {
    if (this.closed) return Promise.resolve('closed');
    this.resumeReading();
    return new Promise((resolvePromise) => {
      const timer = setTimeout(() => {
        this.closeWaiters = this.closeWaiters.filter((w) => w !== waiter);
        this.opts.log.event(`connection still open after ${timeoutMs} ms`, this.opts.connId);
        resolvePromise('timeout');
      }, timeoutMs);
      const waiter = (): void => {
        clearTimeout(timer);
        resolvePromise('closed');
      };
      this.closeWaiters.push(waiter);
    });
  }

  pauseReading(): void {
    if (!this.socket.isPaused()) this.opts.log.event('client stopped reading', this.opts.connId);
    this.socket.pause();
  }

  resumeReading(): void {
    if (this.socket.isPaused()) this.opts.log.event('client resumed reading', this.opts.connId);
    this.socket.resume();
  }

  async end(): Promise<void> {
    if (this.closed) return;
    this.opts.log.event('client sent FIN', this.opts.connId);
    this.socket.end();
    await this.waitCloseQuiet(END_WAIT_MS);
  }

  private waitCloseQuiet(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((res) => {
      const timer = setTimeout(() => {
        this.closeWaiters = this.closeWaiters.filter((w) => w !== waiter);
        res();
      }, timeoutMs);
      const waiter = (): void => {
        clearTimeout(timer);
        res();
      };
      this.closeWaiters.push(waiter);
    });
  }

  destroy(): void {
    if (this.closed) return;
    this.markClosed('client closed the connection');
  }

  /**
   * Closes the way a polite client does: sends FIN and waits (at most `timeoutMs`)
   * for the server to close its side, so the server has seen the close before the
   * next case connects; then resets whatever is left. Used by the runner after a case.
   */
  async closeGracefully(timeoutMs: number): Promise<void> {
    if (!this.closed) {
      this.socket.resume();
      this.socket.end();
      await this.waitCloseQuiet(timeoutMs);
    }
    this.destroy();
  }
}

/** Opens a {@link WireConnection}; see {@link SocketWireConnection.open}. */
export function openWireConnection(opts: WireConnectionOptions): Promise<SocketWireConnection> {
  return SocketWireConnection.open(opts);
}
