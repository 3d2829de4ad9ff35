import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { decodeJson, fpError, isPlainObject, rejectedReply } from '../protocol/index.js';
import type { ReplyBody, RequestSink } from './server.js';
import { TokenBucket, type TokenBucketConfig } from './token-bucket.js';

/**
 * The reference server's signal endpoint over HTTP (`POST /signal`), so that a
 * benchmark can compare the Unix-socket transport with an HTTP POST on loopback
 * doing the same work.
 *
 * - The request body is exactly one request envelope in the server's auth mode,
 *   encoded as JSON — the object an ndjson line carries — whatever the socket's
 *   framing. It goes through the server's own request path (§4.6 from the rate
 *   limit on) and shares its signal book, nonce cache and metrics.
 * - The reply object is the response body (`content-type: application/json`):
 *   status 200 for accepted and rejected replies alike (the body says which);
 *   400 with an IPC_ERROR reply when the body is not UTF-8 JSON holding an object
 *   (§3.2.2, §3.5); 413 with a FRAME_TOO_LARGE reply when the body exceeds
 *   `maxFrameBytes` (from Content-Length before reading, or while reading; the
 *   connection then closes); 404 for other paths and 405 (`allow: POST`) for other
 *   methods, each with an IPC_ERROR reply saying what to send instead.
 * - Keep-alive is on; with rate limiting configured, each HTTP connection has its
 *   own token bucket (§6.7). `delay_ms` delays the response (§6.9); Node's HTTP
 *   server keeps pipelined responses in request order (§5.2).
 * - Shutdown follows §7.4: no new connections, idle keep-alive connections closed
 *   at once, requests in flight completed (their responses carry
 *   `connection: close`), a request completed after the signal answered
 *   SHUTTING_DOWN and closed.
 *
 * The listener is not limited by `maxConnections` (that limit is the socket's, §7.1).
 */

/** The path of the signal endpoint. */
export const HTTP_SIGNAL_PATH = '/signal';

/** Backstop: a connection closed after a 413 is destroyed at the latest this long after the response was flushed. */
const HTTP_CLOSE_LINGER_MS = 200;

/** Where the HTTP listener is bound. */
export interface HttpAddress {
  /** The bound address (e.g. `127.0.0.1`, `::1`). */
  readonly host: string;
  /** The bound port (the actual one when 0 was asked for). */
  readonly port: number;
  /** `http://host:port/signal`, ready to POST to. */
  readonly url: string;
}

/** What the endpoint needs from the server (see {@link FastPathServer}). */
export interface HttpEndpointHost {
  /** True once the server is shutting down (§7.4). */
  isStopping(): boolean;
  /** The request path after body decoding: rate limit → envelope → … → semantics (§4.6). */
  handleEnvelope(sink: RequestSink, env: Record<string, unknown>, startedMs: number): void;
  /** Adds `ipc_latency_ms` to an accepted reply and counts the reply in the metrics. */
  account(reply: ReplyBody, startedMs: number): void;
  /** The listener and all its connections are closed. */
  onClosed(): void;
}

/** Options of an {@link HttpEndpoint}. */
export interface HttpEndpointOptions {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  /** Largest accepted request body (the server's `maxFrameBytes`). */
  readonly maxBodyBytes: number;
  /** Per-connection token bucket (§6.7); undefined disables rate limiting. */
  readonly rateLimit: TokenBucketConfig | undefined;
  /** Close keep-alive connections idle this long; 0 = never. */
  readonly keepAliveTimeoutMs: number;
}

/** The HTTP listener of a {@link FastPathServer}; created and driven by the server. */
export class HttpEndpoint {
  private readonly server: http.Server;
  private readonly buckets = new WeakMap<Socket, TokenBucket>();
  /** Exchanges whose reply waits for `delay_ms`. */
  private readonly delayed = new Set<HttpExchange>();
  private boundAddress: HttpAddress | undefined;
  private closeRequested = false;
  private isClosed = false;

  constructor(
    readonly host: HttpEndpointHost,
    private readonly options: HttpEndpointOptions,
  ) {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = options.keepAliveTimeoutMs;
    this.server.on('close', () => {
      this.isClosed = true;
      this.boundAddress = undefined;
      this.host.onClosed();
    });
  }

  /** Where the listener is bound; undefined before {@link listen} and after close. */
  get address(): HttpAddress | undefined {
    return this.boundAddress;
  }

  /** True once the listener and all its connections are closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Listens on the configured host and port.
   * @throws FastPathError FP_CONFIG_INVALID when it cannot (port in use, unknown host, …).
   */
  async listen(): Promise<void> {
    const { host, port } = this.options;
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          fpError(
            'FP_CONFIG_INVALID',
            `cannot listen for HTTP on ${host}:${port}: ${err.code ?? ''} ${err.message}; choose another --http-port (0 = any free port) or --http-host`,
            { httpHost: host, httpPort: port },
            err,
          ),
        );
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', () => undefined); // per-connection errors after listening; keep serving
    const info = server.address() as AddressInfo;
    const urlHost = info.address.includes(':') ? `[${info.address}]` : info.address;
    this.boundAddress = { host: info.address, port: info.port, url: `http://${urlHost}:${info.port}${HTTP_SIGNAL_PATH}` };
  }

  /** §7.4: stop accepting, close idle keep-alive connections, let requests in flight finish. */
  beginShutdown(): void {
    this.requestClose();
    this.server.closeIdleConnections();
  }

  /** Closes everything now (shutdown deadline passed, or start() failed). */
  destroy(): void {
    for (const exchange of this.delayed) exchange.cancel();
    this.delayed.clear();
    this.requestClose();
    this.server.closeAllConnections();
  }

  private requestClose(): void {
    if (this.closeRequested) return;
    this.closeRequested = true;
    this.server.close(); // 'close' follows once every connection has ended
  }

  private bucketFor(socket: Socket): TokenBucket | undefined {
    const config = this.options.rateLimit;
    if (config === undefined) return undefined;
    let bucket = this.buckets.get(socket);
    if (bucket === undefined) {
      bucket = new TokenBucket(config);
      this.buckets.set(socket, bucket);
    }
    return bucket;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => undefined); // aborted uploads; 'close' follows
    res.on('error', () => undefined);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== HTTP_SIGNAL_PATH) {
      this.send(res, 404, rejectedReply('IPC_ERROR', `no endpoint at ${path}: POST the request envelope (JSON) to ${HTTP_SIGNAL_PATH}`));
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      this.send(res, 405, rejectedReply('IPC_ERROR', `method ${req.method ?? '?'} is not allowed on ${HTTP_SIGNAL_PATH}: POST the request envelope (JSON)`));
      return;
    }
    const max = this.options.maxBodyBytes;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) {
      this.tooLarge(req, res, `Content-Length ${declared} exceeds maxFrameBytes (${max})`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        this.tooLarge(req, res, `body exceeds maxFrameBytes (${max}) before its end`);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      this.onBody(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    req.on('data', onData);
    req.on('end', onEnd);
  }

  /** A complete request body: decode (§3.2.2, §3.5), then the server's request path. */
  private onBody(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const startedMs = performance.now();
    if (this.host.isStopping()) {
      // §7.4.3: a request read after the signal.
      const decoded = decodeJson(body);
      const id = decoded.ok && isPlainObject(decoded.value) ? decoded.value.id : undefined;
      const reply = rejectedReply('SHUTTING_DOWN', 'the server is shutting down: reconnect to its replacement', typeof id === 'string' || typeof id === 'number' ? id : undefined);
      this.host.account(reply, startedMs);
      this.send(res, 200, reply, true);
      return;
    }
    const decoded = decodeJson(body);
    if (!decoded.ok) return this.reject400(res, decoded.error, startedMs);
    if (!isPlainObject(decoded.value)) return this.reject400(res, 'body must be a JSON object (the request envelope)', startedMs);
    this.host.handleEnvelope(new HttpExchange(this, res, this.bucketFor(req.socket)), decoded.value, startedMs);
  }

  private reject400(res: http.ServerResponse, error: string, startedMs: number): void {
    const reply = rejectedReply('IPC_ERROR', error);
    this.host.account(reply, startedMs);
    this.send(res, 400, reply);
  }

  /** §3.1.1 over HTTP: one FRAME_TOO_LARGE reply (413), then the connection closes; the rest of the body is discarded. */
  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse, error: string): void {
    const reply = rejectedReply('FRAME_TOO_LARGE', error);
    this.host.account(reply, performance.now());
    req.on('data', () => undefined); // discard whatever still arrives: memory stays flat
    const socket = req.socket;
    res.once('finish', () => {
      const timer = setTimeout(() => socket.destroy(), HTTP_CLOSE_LINGER_MS);
      socket.once('close', () => clearTimeout(timer));
    });
    this.send(res, 413, reply, true);
  }

  /** Writes a reply object as the JSON response body. */
  send(res: http.ServerResponse, status: number, reply: ReplyBody, close = false): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(reply);
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
    if (close || this.host.isStopping()) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(text);
  }

  /** Bookkeeping of delayed replies, so that a forced close can cancel them. */
  trackDelayed(exchange: HttpExchange, pending: boolean): void {
    if (pending) this.delayed.add(exchange);
    else this.delayed.delete(exchange);
  }
}

/** One HTTP request on its way through the server's request path. */
class HttpExchange implements RequestSink {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly endpoint: HttpEndpoint,
    private readonly res: http.ServerResponse,
    readonly bucket: TokenBucket | undefined,
  ) {}

  reply(body: ReplyBody, startedMs: number): void {
    this.endpoint.host.account(body, startedMs);
    this.endpoint.send(this.res, 200, body);
  }

  replyLater(body: ReplyBody, startedMs: number, delayMs: number): void {
    this.endpoint.trackDelayed(this, true);
    this.res.once('close', () => this.cancel()); // the client went away: nothing to answer
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.endpoint.trackDelayed(this, false);
      this.reply(body, startedMs);
    }, delayMs);
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.endpoint.trackDelayed(this, false);
  }
}
