import { promises as fsp, statSync, unlinkSync, linkSync, renameSync, chmodSync, type Stats } from 'node:fs';
import net from 'node:net';
import { z } from 'zod';
import {
  AUTH_MODES,
  DEFAULT_LEDGER_LIMIT,
  type AuthMode,
  type DecodeEvent,
  type EnvelopeId,
  type FramingSpec,
  createFrameDecoder,
  decodeBody,
  decodeV2Body,
  encodeBody,
  encodeMessage,
  fpError,
  framingName,
  isHelloSignal,
  isPlainObject,
  readEnvelopeId,
  rejectedReply,
  verifyEnvelope,
} from '../protocol/index.js';
import { WAIT_STRATEGIES, collectGarbageSegments } from '../ring/index.js';
import {
  DEFAULT_MAX_FAST_MESSAGE_BYTES,
  DEFAULT_SHM_WAIT,
  type FastSessionConfig,
  type FastSessionHost,
  ServerFastSession,
  acceptHello,
} from './fast-session.js';
import { FAULT_NAMES, type Fault } from './faults.js';
import { FramingOptionSchema, describeIssues } from './framing-option.js';
import { HttpEndpoint, type HttpAddress } from './http-endpoint.js';
import { DEFAULT_MAX_LEDGER_ENTRIES, MessageLedger } from './message-ledger.js';
import { Metrics, type MetricsSnapshot, roundUs } from './metrics.js';
import { NonceCache } from './nonce-cache.js';
import { DEFAULT_MAX_RETAINED_SIGNALS, SignalBook } from './signal-book.js';
import { validateSignal } from './signal-validator.js';
import { TokenBucket } from './token-bucket.js';

/**
 * The fastpath reference server (docs/SPEC.md §2–§7, §10, §11): a Unix-socket
 * request/reply server for one framing and one auth mode. MESSAGEs (§11) are
 * applied through a {@link MessageLedger}, file-backed with `ledgerFile`.
 *
 * Per connection, replies go through an ordered queue only while a delayed
 * request (`delay_ms`) is pending; otherwise each reply is appended to the batch
 * of the current 'data' event and the whole batch is written once (no promise or
 * closure per request).
 *
 * Optionally the same signal endpoint is also served over HTTP (`POST /signal`,
 * see http-endpoint.ts): decoded envelopes from both transports go through
 * {@link FastPathServer}'s one request path and share the signal book, nonce
 * cache and metrics.
 */

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes including the NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

export const DEFAULT_WRITE_HIGH_WATER_BYTES = 1_048_576;
export const DEFAULT_REPLAY_CACHE_MAX_ENTRIES = 2_000_000;
/** Host of the optional HTTP listener when `httpHost` is not given: loopback only. */
export const DEFAULT_HTTP_HOST = '127.0.0.1';
/** How long a closing connection keeps reading and discarding input after its last reply (§5.6 note). */
export const CLOSE_LINGER_MS = 200;
/** How long start() waits for a connection to an existing socket file before calling it live. */
export const STALE_PROBE_TIMEOUT_MS = 1_000;
/**
 * Garbage segments (§10.6.2) younger than this are left alone at start: a grace period
 * for processes that share /dev/shm and are still tearing down (the next start, or
 * `fastpath shm gc`, removes them).
 */
export const STARTUP_GC_MIN_AGE_MS = 5_000;
/** Largest `maxFastMessageBytes`: 1 GiB. */
export const MAX_FAST_MESSAGE_BYTES_LIMIT = 1_073_741_824;

const intMin = (min: number) => z.number().int().min(min);

/**
 * Server configuration (defaults of docs/SPEC.md §1.2). `framing` is a
 * {@link FramingSpec} or a preset / `lp:` string (then `maxFrameBytes` is the default).
 */
export const ServerConfigSchema = z
  .object({
    socketPath: z
      .string()
      .min(1, 'socketPath must not be empty')
      .refine((p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES, {
        message: `socketPath is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit for Unix socket paths: use a shorter path`,
      }),
    framing: FramingOptionSchema,
    auth: z.enum(AUTH_MODES),
    secret: z.string().default(''),
    maxConnections: intMin(1).default(10),
    prepareTtlMs: intMin(1).default(5_000),
    risk: z
      .object({
        maxLeverage: z.number().positive().default(20),
        maxNotional: z.number().positive().default(1_000_000),
        maxOpenOrders: intMin(0).default(100),
      })
      .prefault({}),
    /** Per-connection token bucket (§6.7); undefined disables rate limiting. */
    rateLimit: z.object({ burst: intMin(1), refillPerSec: z.number().min(0) }).optional(),
    /** 0 disables the idle timeout. */
    idleTimeoutMs: intMin(0).default(30_000),
    shutdownDeadlineMs: intMin(0).default(5_000),
    timestampWindowMs: intMin(0).default(30_000),
    /** Stop reading a connection while more than this many reply bytes wait to be written (§7.2). */
    writeHighWaterBytes: intMin(1).default(DEFAULT_WRITE_HIGH_WATER_BYTES),
    /** Bound on signals remembered by the signal book (see {@link SignalBook}). */
    maxRetainedSignals: intMin(1).default(DEFAULT_MAX_RETAINED_SIGNALS),
    /** Bound on hmac-v2 nonces remembered (see {@link NonceCache}). */
    replayCacheMaxEntries: intMin(1).default(DEFAULT_REPLAY_CACHE_MAX_ENTRIES),
    /**
     * The message ledger file (docs/SPEC.md §11): entries survive restarts and a kill -9,
     * so MESSAGE deduplication holds across them. Undefined: the ledger is kept in memory
     * only and deduplication does not survive a restart.
     */
    ledgerFile: z.string().min(1, 'ledgerFile must not be empty').optional(),
    /** fdatasync the ledger file after every append (durable against power loss too; one disk flush per MESSAGE). */
    ledgerFsync: z.boolean().default(false),
    /** Bound on ledger entries; at the bound new MESSAGEs are refused with RATE_LIMITED (§11.2.8). */
    maxLedgerEntries: intMin(1).default(DEFAULT_MAX_LEDGER_ENTRIES),
    /** Test-only deliberate violations (see faults.ts). Never set in a real deployment. */
    faults: z.array(z.enum(FAULT_NAMES as [Fault, ...Fault[]])).default([]),
    /**
     * Also serve `POST /signal` over HTTP on this TCP port (0 = any free port, see
     * {@link FastPathServer.httpAddress}); undefined = no HTTP listener.
     */
    httpPort: z.number().int('httpPort must be a whole number').min(0, 'httpPort must be 0-65535').max(65_535, 'httpPort must be 0-65535').optional(),
    /** Host the HTTP listener binds; default {@link DEFAULT_HTTP_HOST} (loopback). Needs `httpPort`. */
    httpHost: z.string().min(1, 'httpHost must not be empty').optional(),
    /** Answer HELLO and open fast sessions (§10); false: a HELLO is an unknown signal (INVALID_SIGNAL). */
    fastSessions: z.boolean().default(true),
    /** Accept `shm` HELLOs; false: SESSION_REFUSED, so clients fall back to `uds` sessions. */
    shmSessions: z.boolean().default(true),
    /** How the server waits on a session's request ring (§10.3.4). */
    shmWait: z.enum(WAIT_STRATEGIES).default(DEFAULT_SHM_WAIT),
    /** Largest FastMessage accepted or sent in a session (a HELLO may lower it for its session). */
    maxFastMessageBytes: intMin(1).max(MAX_FAST_MESSAGE_BYTES_LIMIT, `maxFastMessageBytes must be at most ${MAX_FAST_MESSAGE_BYTES_LIMIT} (1 GiB)`).default(DEFAULT_MAX_FAST_MESSAGE_BYTES),
    /** Where operator messages go (one line each, no newline); default stderr. */
    log: z.custom<(line: string) => void>((v) => typeof v === 'function', 'log must be a function taking one line').optional(),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.auth !== 'none' && cfg.secret.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: `auth ${cfg.auth} needs a non-empty secret` });
    }
    if (cfg.httpHost !== undefined && cfg.httpPort === undefined) {
      ctx.addIssue({ code: 'custom', path: ['httpHost'], message: 'httpHost is set but httpPort is not: set httpPort to enable the HTTP listener' });
    }
  });

/** What a caller passes to {@link FastPathServer} (defaults filled in by {@link ServerConfigSchema}). */
export type ServerConfig = z.input<typeof ServerConfigSchema>;
/** A validated configuration with every default applied. */
export type ResolvedServerConfig = z.output<typeof ServerConfigSchema>;

/**
 * Validates a configuration.
 * @throws FastPathError FP_CONFIG_INVALID naming every bad field.
 */
export function resolveServerConfig(config: ServerConfig): ResolvedServerConfig {
  const res = ServerConfigSchema.safeParse(config);
  if (res.success) return res.data;
  throw fpError('FP_CONFIG_INVALID', `invalid server configuration: ${describeIssues(res.error, '(config)')}`);
}

/** The `status` object of a STATUS reply and of {@link FastPathServer.getStatus} (§6.8). */
export interface ServerStatus {
  readonly running: boolean;
  readonly socketPath: string;
  /** Open connections, fast sessions included (each holds a socket connection). */
  readonly activeConnections: number;
  readonly maxConnections: number;
  /** Fast sessions open (§10), counted in activeConnections too. */
  readonly activeFastSessions: number;
  readonly metrics: MetricsSnapshot;
}

/** A reply body before encoding. */
export type ReplyBody = Record<string, unknown>;

/**
 * Where the replies to one transport's requests go: a socket {@link Connection},
 * or one HTTP exchange. The request path ({@link FastPathServer}'s handleEnvelope)
 * only talks to this.
 */
export interface RequestSink {
  /** The token bucket of the connection the request came on (§6.7), if rate limiting is on. */
  readonly bucket: TokenBucket | undefined;
  /** A reply ready now. */
  reply(body: ReplyBody, startedMs: number): void;
  /** A reply due after `delayMs` (§6.9). */
  replyLater(body: ReplyBody, startedMs: number, delayMs: number): void;
}

/** Encoded reply frames: text for ndjson (all chunks of a connection are then strings), bytes otherwise. */
type WireChunk = string | Buffer;

type ServerState = 'new' | 'starting' | 'listening' | 'stopping' | 'stopped';

/** Fault switches, resolved once so the hot path tests a boolean. */
interface FaultFlags {
  readonly signaturePrefix: boolean;
  readonly unorderedReplies: boolean;
  readonly noMaxFrame: boolean;
  readonly silentConnectionLimit: boolean;
  readonly noReplayCheck: boolean;
  readonly keepsSocketFile: boolean;
  readonly dropsInFlight: boolean;
  readonly unframedCloseReply: boolean;
  readonly confirmTwice: boolean;
  readonly worldWritableSocket: boolean;
  readonly volatileLedger: boolean;
  readonly appliesDuplicates: boolean;
}

/**
 * The reference server.
 *
 * ```ts
 * const server = new FastPathServer({ socketPath: '/tmp/fp.sock', framing: 'ndjson', auth: 'hmac-v2', secret });
 * await server.start();
 * // …
 * await server.stop(5_000);
 * ```
 */
export class FastPathServer {
  /** The validated configuration. */
  readonly config: ResolvedServerConfig;
  private readonly metrics = new Metrics();
  private readonly book: SignalBook;
  private readonly nonces: NonceCache;
  private readonly connections = new Set<Connection>();
  private readonly sessions = new Set<ServerFastSession>();
  private readonly fastConfig: FastSessionConfig;
  private readonly sessionHost: FastSessionHost;
  private readonly log: (line: string) => void;
  private readonly faults: FaultFlags;
  /** Framing used to decode requests (differs from config.framing only under fault no-max-frame). */
  private readonly decodeFraming: FramingSpec;
  /** Reused for every verifyEnvelope call (nowMs updated per request). */
  private readonly verifyCtx: { nowMs: number; timestampWindowMs: number };
  /** What connections may call back into; keeps these out of the public class surface. */
  private readonly host: ConnectionHost;
  private server: net.Server | undefined;
  private http: HttpEndpoint | undefined;
  /** The message ledger (§11), opened by start(); closed once stopped. */
  private ledger: MessageLedger | undefined;
  private state: ServerState = 'new';
  private socketStats: Stats | undefined;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private finishStop: (() => void) | undefined;

  constructor(config: ServerConfig) {
    this.config = resolveServerConfig(config);
    const c = this.config;
    this.book = new SignalBook({ prepareTtlMs: c.prepareTtlMs, risk: c.risk, maxRetainedSignals: c.maxRetainedSignals });
    this.nonces = new NonceCache({ timestampWindowMs: c.timestampWindowMs, maxEntries: c.replayCacheMaxEntries });
    const has = (f: Fault): boolean => c.faults.includes(f);
    this.faults = {
      signaturePrefix: has('signature-prefix'),
      unorderedReplies: has('unordered-replies'),
      noMaxFrame: has('no-max-frame'),
      silentConnectionLimit: has('silent-connection-limit'),
      noReplayCheck: has('no-replay-check'),
      keepsSocketFile: has('keeps-socket-file'),
      dropsInFlight: has('drops-in-flight'),
      unframedCloseReply: has('unframed-close-reply'),
      confirmTwice: has('confirm-twice'),
      worldWritableSocket: has('world-writable-socket'),
      volatileLedger: has('volatile-ledger'),
      appliesDuplicates: has('applies-duplicates'),
    };
    // Fault no-max-frame: the decoder gets an unreachable limit.
    this.decodeFraming = this.faults.noMaxFrame ? { ...c.framing, maxFrameBytes: Number.MAX_SAFE_INTEGER } : c.framing;
    this.verifyCtx = { nowMs: 0, timestampWindowMs: c.timestampWindowMs };
    this.host = {
      isStopping: () => this.stopping,
      handleEvent: (conn, event) => this.handleEvent(conn, event),
      finalizeReply: (reply, startedMs, closing) => this.finalizeReply(reply, startedMs, closing),
      onConnectionClosed: (conn) => this.onConnectionClosed(conn),
    };
    this.log = c.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
    this.fastConfig = { fastSessions: c.fastSessions, shmSessions: c.shmSessions, shmWait: c.shmWait, maxFastMessageBytes: c.maxFastMessageBytes };
    this.sessionHost = {
      codec: c.framing.codec,
      writeHighWaterBytes: c.writeHighWaterBytes,
      handleSignalBody: (sink, body, startedMs) => this.handleBody(sink, body, startedMs),
      account: (reply, startedMs) => this.account(reply, startedMs),
      onSessionClosed: (session) => {
        this.sessions.delete(session);
        this.maybeFinishStop();
      },
      log: this.log,
    };
  }

  /** The socket path this server listens on. */
  get socketPath(): string {
    return this.config.socketPath;
  }

  /** The framing's canonical name (`ndjson`, `lp32-json`, … or an `lp:` string). */
  get framingName(): string {
    return framingName(this.config.framing);
  }

  /** The auth mode. */
  get auth(): AuthMode {
    return this.config.auth;
  }

  /**
   * Where the HTTP listener (`httpPort`) is bound once {@link start} resolved:
   * the actual port when `httpPort` was 0. Undefined without `httpPort`, before
   * start and after stop.
   */
  get httpAddress(): HttpAddress | undefined {
    return this.http?.address;
  }

  /**
   * Binds and listens; resolves once clients can connect. The socket has mode
   * 0600 from the start (umask set around bind, §2.2). An existing socket file
   * that refuses connections is removed (§2.3).
   * With `httpPort`, the HTTP listener is started next; when it cannot listen,
   * the socket is closed again and start() rejects.
   * The ledger (`ledgerFile`, §11) is opened after the socket path checks and before binding.
   * @throws FastPathError FP_SOCKET_IN_USE when a server answers on the path (§2.4),
   *   FP_SOCKET_NOT_SOCKET when the path is not a socket, FP_CONFIG_INVALID when it cannot bind
   *   (the socket path or the HTTP port), FP_LEDGER_INVALID when the ledger file cannot be used.
   */
  start(): Promise<void> {
    if (this.state !== 'new') {
      return Promise.reject(fpError('FP_USAGE', `start() called on a server that is ${this.state}: create a new FastPathServer`));
    }
    this.state = 'starting';
    this.startPromise = this.listen();
    return this.startPromise;
  }

  /** §2.3/§2.4 checks, then bind + listen under umask 0177. */
  private async listen(): Promise<void> {
    const path = this.config.socketPath;
    try {
      await removeStaleSocket(path);
      this.openLedger();
      if (this.config.fastSessions) this.collectGarbageSegments();
      const server = net.createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
      this.server = server;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          reject(listenError(path, err));
        };
        const onListening = (): void => {
          server.off('error', onError);
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        // bind() runs synchronously inside listen(): the file is created 0600 under this umask.
        const previousUmask = process.umask(0o177);
        try {
          server.listen(path);
        } finally {
          process.umask(previousUmask);
        }
      });
      // Fault world-writable-socket: chmod 0666 instead of confirming 0600.
      chmodSync(path, this.faults.worldWritableSocket ? 0o666 : 0o600);
      this.socketStats = statSync(path);
      server.on('error', () => undefined); // errors after listening are per-connection; keep serving
      await this.listenHttp();
      this.state = 'listening';
    } catch (err) {
      this.state = 'stopped';
      this.server?.close();
      this.removeOwnSocketFile(); // start() failed after binding (the HTTP port): leave no socket file
      this.http?.destroy();
      this.http = undefined;
      this.closeLedger();
      throw err;
    }
  }

  /** Opens the message ledger (§11): the file of `ledgerFile`, or memory only. */
  private openLedger(): void {
    const c = this.config;
    // Fault volatile-ledger: the ledger file is ignored; entries live only as long as the process.
    const file = this.faults.volatileLedger ? undefined : c.ledgerFile;
    this.ledger = MessageLedger.open({ file, maxEntries: c.maxLedgerEntries, fsync: c.ledgerFsync, log: this.log, allowRepeats: this.faults.appliesDuplicates });
  }

  private closeLedger(): void {
    this.ledger?.close();
  }

  /** §10.6.2: removes the segments of dead fast-session clients, saying how many. */
  private collectGarbageSegments(): void {
    if (process.platform !== 'linux') return;
    try {
      const { removed } = collectGarbageSegments({ minAgeMs: STARTUP_GC_MIN_AGE_MS });
      if (removed.length > 0) {
        const names = removed.map((s) => s.name);
        const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')}, …` : names.join(', ');
        this.log(`fastpath server: removed ${removed.length} garbage shared-memory segment(s) of dead processes from /dev/shm (${shown})`);
      }
    } catch (err) {
      this.log(`fastpath server: could not collect garbage shared-memory segments: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Starts the optional HTTP listener (`httpPort`). */
  private async listenHttp(): Promise<void> {
    const c = this.config;
    if (c.httpPort === undefined) return;
    const http = new HttpEndpoint(
      {
        isStopping: () => this.stopping,
        handleEnvelope: (sink, env, startedMs) => this.handleEnvelope(sink, env, startedMs),
        account: (reply, startedMs) => this.account(reply, startedMs),
        onClosed: () => this.maybeFinishStop(),
      },
      {
        host: c.httpHost ?? DEFAULT_HTTP_HOST,
        port: c.httpPort,
        maxBodyBytes: c.framing.maxFrameBytes,
        rateLimit: c.rateLimit,
        keepAliveTimeoutMs: c.idleTimeoutMs,
      },
    );
    this.http = http;
    await http.listen();
  }

  /**
   * Graceful shutdown (§7.4): stops accepting and removes the socket file at
   * once; completes every request already read and sends its reply; answers a
   * request read afterwards with SHUTTING_DOWN and closes; closes each connection
   * once its replies are flushed; at `deadlineMs` forces the rest closed.
   * Resolves when every connection is closed. Idempotent.
   */
  stop(deadlineMs: number = this.config.shutdownDeadlineMs): Promise<void> {
    if (this.stopPromise !== undefined) return this.stopPromise;
    if (this.state === 'starting' && this.startPromise !== undefined) {
      // Let start() finish (or fail), then stop what it started.
      const afterStart = this.startPromise.then(
        () => undefined,
        () => undefined,
      );
      this.stopPromise = afterStart.then(() => {
        this.stopPromise = undefined;
        return this.stop(deadlineMs);
      });
      return this.stopPromise;
    }
    if (this.state !== 'listening') {
      this.state = 'stopped';
      this.closeLedger();
      this.stopPromise = Promise.resolve();
      return this.stopPromise;
    }
    this.state = 'stopping';
    this.stopPromise = new Promise<void>((resolve) => {
      const deadline = setTimeout(() => {
        for (const conn of this.connections) conn.destroy();
        for (const session of this.sessions) session.destroy();
        this.http?.destroy();
      }, Math.max(0, deadlineMs));
      this.finishStop = () => {
        clearTimeout(deadline);
        this.state = 'stopped';
        this.closeLedger();
        this.finishStop = undefined;
        resolve();
      };
      this.closeListener();
      if (this.faults.dropsInFlight) {
        // Fault drops-in-flight: in-flight requests are never answered.
        for (const conn of this.connections) conn.destroy();
        for (const session of this.sessions) session.destroy();
        this.http?.destroy();
      } else {
        for (const conn of this.connections) conn.beginShutdown();
        for (const session of this.sessions) session.beginShutdown();
        this.http?.beginShutdown();
      }
      this.maybeFinishStop();
    });
    return this.stopPromise;
  }

  /** Seed 000's status object (§6.8). */
  getStatus(): ServerStatus {
    return {
      running: this.state === 'listening',
      socketPath: this.config.socketPath,
      activeConnections: this.connections.size + this.sessions.size,
      maxConnections: this.config.maxConnections,
      activeFastSessions: this.sessions.size,
      metrics: this.metrics.snapshot(this.book.openOrders),
    };
  }

  /** Zeroes the counters and latency figures (openOrders is a gauge and stays). */
  resetMetrics(): void {
    this.metrics.reset();
  }

  // ── internals, reached by Connection through `host` ──────────────────────

  private get stopping(): boolean {
    return this.state === 'stopping' || this.state === 'stopped';
  }

  private onConnectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    this.maybeFinishStop();
  }

  /**
   * Encodes a reply frame; closing replies obey fault unframed-close-reply.
   * ndjson frames are returned as text (`JSON.stringify(reply) + "\n"`, byte-identical to
   * protocol `encodeMessage`, see server.test.ts) so a batch is one string written once.
   */
  private encodeReply(reply: ReplyBody, closing: boolean): WireChunk {
    const framing = this.config.framing;
    // Fault unframed-close-reply: the rejection written before a close lacks its framing.
    if (closing && this.faults.unframedCloseReply) return framing.kind === 'ndjson' ? JSON.stringify(reply) : encodeBody(framing.codec, reply);
    return framing.kind === 'ndjson' ? `${JSON.stringify(reply)}\n` : encodeMessage(framing, reply);
  }

  /** Adds ipc_latency_ms to an accepted reply and counts the reply (every transport). */
  private account(reply: ReplyBody, startedMs: number): void {
    if (reply.accepted === true) {
      const latencyMs = roundUs(performance.now() - startedMs);
      reply.ipc_latency_ms = latencyMs;
      this.metrics.recordAccepted(latencyMs);
    } else {
      this.metrics.recordRejected(reply.reason === 'INVALID_SIGNATURE');
    }
  }

  /** Accounts a socket reply and encodes it. */
  private finalizeReply(reply: ReplyBody, startedMs: number, closing: boolean): WireChunk {
    this.account(reply, startedMs);
    return this.encodeReply(reply, closing);
  }

  /** A frame-level event (§3) on `conn`. */
  private handleEvent(conn: Connection, event: DecodeEvent): void {
    const startedMs = performance.now();
    if (this.stopping) {
      // §7.4.3: a request read after the signal.
      const id = event.type === 'frame' ? peekId(this.config.framing.codec, event.body) : undefined;
      conn.replyAndClose(rejectedReply('SHUTTING_DOWN', 'the server is shutting down: reconnect to its replacement', id), startedMs);
      return;
    }
    if (event.type === 'frame') {
      this.handleFrame(conn, event.body, startedMs);
      return;
    }
    if (event.kind === 'FRAME_TOO_LARGE') {
      conn.replyAndClose(rejectedReply('FRAME_TOO_LARGE', event.message), startedMs);
    } else if (event.fatal) {
      conn.replyAndClose(rejectedReply('IPC_ERROR', `${event.message}: framing is lost, closing`), startedMs);
    } else {
      conn.reply(rejectedReply('IPC_ERROR', event.message), startedMs);
    }
  }

  /** The request path of §4.6 for a socket frame: body decoding (§3.5), then {@link handleEnvelope}. */
  private handleFrame(conn: Connection, body: Buffer, startedMs: number): void {
    this.handleBody(conn, body, startedMs);
  }

  /** Body decoding (§3.5), then {@link handleEnvelope}: socket frames and fast-session `signal` params. */
  private handleBody(conn: RequestSink, body: Uint8Array, startedMs: number): void {
    const decoded = decodeBody(this.config.framing.codec, body);
    if (!decoded.ok) return conn.reply(rejectedReply('IPC_ERROR', decoded.error), startedMs);
    const env = decoded.value;
    if (!isPlainObject(env)) {
      return conn.reply(rejectedReply('IPC_ERROR', 'body must be a JSON object or MessagePack map (the envelope)'), startedMs);
    }
    this.handleEnvelope(conn, env, startedMs);
  }

  /**
   * The request path of §4.6 after body decoding, for every transport: rate limit →
   * envelope → signature → timestamp → replay → schema → semantics.
   */
  private handleEnvelope(conn: RequestSink, env: Record<string, unknown>, startedMs: number): void {
    const id: EnvelopeId | undefined = readEnvelopeId(env) ?? undefined;
    if (conn.bucket !== undefined && !conn.bucket.tryTake()) {
      const rl = this.config.rateLimit!;
      return conn.reply(
        rejectedReply('RATE_LIMITED', `rate limit: burst ${rl.burst}, refill ${rl.refillPerSec}/s per connection; slow down`, id),
        startedMs,
      );
    }
    // Fault signature-prefix: only the first 64 characters of the signature are looked at.
    if (this.faults.signaturePrefix) truncateSignatures(env);
    const ctx = this.verifyCtx;
    if (this.config.auth === 'hmac-v2') ctx.nowMs = Date.now(); // only hmac-v2 reads the clock
    const verified = verifyEnvelope(this.config.auth, this.config.secret, env, ctx);
    if (!verified.ok) return conn.reply(rejectedReply(verified.reason, verified.error, verified.id), startedMs);
    let signalValue = verified.signal;
    if (verified.nonce !== undefined) {
      // Fault no-replay-check: nonces are neither checked nor remembered.
      const check = this.faults.noReplayCheck ? 'fresh' : this.nonces.checkAndRecord(verified.nonce, env.ts as number);
      if (check === 'replay') {
        return conn.reply(rejectedReply('REPLAY_DETECTED', `nonce "${verified.nonce}" was already used within the timestamp window`, id), startedMs);
      }
      if (check === 'full') {
        return conn.reply(
          rejectedReply('RATE_LIMITED', `replay cache full (${this.config.replayCacheMaxEntries} nonces in the window): slow down`, id),
          startedMs,
        );
      }
      const body2 = decodeV2Body(verified.v2Body!);
      if (!body2.ok) return conn.reply(rejectedReply('IPC_ERROR', body2.error, id), startedMs);
      signalValue = body2.value;
    }
    if (this.config.fastSessions && isHelloSignal(signalValue)) return this.handleHello(conn, signalValue, id, startedMs);
    const parsed = validateSignal(signalValue);
    if (!parsed.ok) return conn.reply(rejectedReply('INVALID_SIGNAL', `invalid signal: ${parsed.error}`, id), startedMs);
    const signal = parsed.signal;
    let reply: ReplyBody;
    let delayMs = 0;
    switch (signal.type) {
      case 'STATUS':
        reply = { accepted: true, status: this.getStatus() };
        break;
      case 'PREPARE':
        reply = this.book.prepare(signal);
        delayMs = signal.delay_ms ?? 0;
        break;
      case 'CONFIRM': {
        // Fault confirm-twice: a retried CONFIRM executes again.
        const outcome = this.faults.confirmTwice ? this.book.confirmAgain(signal.signal_id) : this.book.confirm(signal.signal_id);
        if ('accepted' in outcome && outcome.duplicate !== true) this.metrics.recordExecution();
        reply = outcome;
        delayMs = signal.delay_ms ?? 0;
        break;
      }
      case 'ABORT':
        reply = this.book.abort(signal.signal_id);
        delayMs = signal.delay_ms ?? 0;
        break;
      case 'MESSAGE':
        // Applied (durably) when read; delay_ms only delays the reply (§6.9, §11.2.5).
        reply = this.applyMessage(signal.message_id);
        delayMs = signal.delay_ms ?? 0;
        break;
      case 'LEDGER':
        reply = { accepted: true, ledger: this.ledger!.page(signal.from ?? 0, signal.limit ?? DEFAULT_LEDGER_LIMIT) };
        break;
    }
    if (id !== undefined) reply.id = id;
    if (delayMs > 0) conn.replyLater(reply, startedMs, delayMs);
    else conn.reply(reply, startedMs);
  }

  /**
   * §11.2: applies a MESSAGE once; the ledger append is on disk (in the kernel, or
   * synced with `ledgerFsync`) before this returns, so before the reply can be sent.
   */
  private applyMessage(messageId: string): ReplyBody {
    const ledger = this.ledger!;
    let outcome: ReturnType<MessageLedger['apply']>;
    try {
      // Fault applies-duplicates: no deduplication, a redelivered message is applied again.
      outcome = this.faults.appliesDuplicates ? ledger.applyAgain(messageId) : ledger.apply(messageId);
    } catch (err) {
      this.log(`fastpath server: ${err instanceof Error ? err.message : String(err)}`);
      return rejectedReply('IPC_ERROR', `internal error: the message ledger could not record message ${JSON.stringify(messageId)}, it was not applied; retry later`);
    }
    if (outcome === 'full') {
      return rejectedReply(
        'RATE_LIMITED',
        `the message ledger is full (${this.config.maxLedgerEntries} entries): new messages are refused rather than forgetting applied ones; duplicates are still answered`,
      );
    }
    if (outcome.duplicate) {
      this.metrics.recordDeduplicated();
      return { accepted: true, message_id: messageId, state: 'APPLIED', seq: outcome.seq, duplicate: true };
    }
    this.metrics.recordApplied();
    return { accepted: true, message_id: messageId, state: 'APPLIED', seq: outcome.seq };
  }

  /**
   * A HELLO (§10.1): READY and a switch to a fast session once READY is written, or a
   * rejection after which the connection stays ordinary.
   */
  private handleHello(sink: RequestSink, signal: unknown, id: EnvelopeId | undefined, startedMs: number): void {
    if (!(sink instanceof Connection)) {
      return sink.reply(rejectedReply('IPC_ERROR', 'fast sessions need a socket connection: send the HELLO as a request on a Unix-socket connection', id), startedMs);
    }
    const outcome = acceptHello(signal, id, this.fastConfig);
    if (!outcome.accepted) return sink.reply(outcome.reply, startedMs);
    const plan = outcome.plan;
    sink.upgrade(outcome.ready, startedMs, {
      switchTo: (socket, strayInput) => {
        this.connections.delete(sink);
        this.sessions.add(ServerFastSession.start(this.sessionHost, socket, sink.bucket, plan, strayInput));
      },
      abandon: () => plan.abandon(),
    });
  }

  private onConnection(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (this.connections.size + this.sessions.size >= this.config.maxConnections) {
      socket.on('error', () => undefined);
      // Fault silent-connection-limit: close without the rejection frame.
      if (this.faults.silentConnectionLimit) {
        socket.destroy();
        return;
      }
      const frame = this.encodeReply(
        rejectedReply('MAX_CONNECTIONS_REACHED', `connection limit reached (${this.config.maxConnections} connections): retry later`),
        true,
      );
      socket.once('finish', () => lingerThenDestroy(socket));
      socket.end(frame);
      return;
    }
    const c = this.config;
    const conn = new Connection(
      this.host,
      socket,
      createFrameDecoder(this.decodeFraming),
      c.rateLimit === undefined ? undefined : new TokenBucket(c.rateLimit),
      c.writeHighWaterBytes,
      !this.faults.unorderedReplies,
    );
    this.connections.add(conn);
    if (c.idleTimeoutMs > 0) socket.setTimeout(c.idleTimeoutMs);
  }

  private closeListener(): void {
    const server = this.server;
    if (server === undefined) return;
    const path = this.config.socketPath;
    // Fault keeps-socket-file: keep a hard link to the socket inode and put it back after close.
    const keepPath = this.faults.keepsSocketFile ? `${path}.keep-${process.pid}` : undefined;
    if (keepPath !== undefined) linkSync(path, keepPath);
    server.close(); // libuv unlinks the path here
    this.removeOwnSocketFile();
    if (keepPath !== undefined) renameSync(keepPath, path);
  }

  /** Unlinks the socket path if it is still the inode this server created. */
  private removeOwnSocketFile(): void {
    const own = this.socketStats;
    if (own === undefined) return;
    try {
      const now = statSync(this.config.socketPath);
      if (now.ino === own.ino && now.dev === own.dev) unlinkSync(this.config.socketPath);
    } catch {
      // already gone
    }
  }

  private maybeFinishStop(): void {
    if (this.finishStop !== undefined && this.connections.size === 0 && this.sessions.size === 0 && (this.http === undefined || this.http.closed)) {
      this.http = undefined;
      this.finishStop();
    }
  }
}

/** The server side a {@link Connection} talks to. */
interface ConnectionHost {
  isStopping(): boolean;
  handleEvent(conn: Connection, event: DecodeEvent): void;
  finalizeReply(reply: ReplyBody, startedMs: number, closing: boolean): WireChunk;
  onConnectionClosed(conn: Connection): void;
}

/** A reply waiting for its `delay_ms` (§6.9). */
class PendingReply {
  frame: WireChunk | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  constructor(
    readonly conn: Connection,
    readonly reply: ReplyBody,
    readonly startedMs: number,
  ) {}
}

function onPendingDue(pending: PendingReply): void {
  pending.conn.completePending(pending);
}

/** A connection becoming a fast session once its READY frame is written (§10.1). */
interface Upgrade {
  /** Called right after the READY frame was handed to the socket; the socket is paused and free of this connection's listeners. */
  readonly switchTo: (socket: net.Socket, strayInput: boolean) => void;
  /** Called instead when the connection closes before the switch. */
  readonly abandon: () => void;
}

/**
 * One accepted connection: decodes frames, keeps replies in request order,
 * batches writes, applies backpressure (§7.2), idle timeout (§7.3) and the
 * close rules (§5.6, §7.4).
 */
class Connection implements RequestSink {
  /** Replies behind a pending one (ordered mode only); Buffers are ready frames. */
  private queue: (WireChunk | PendingReply)[] = [];
  /** Pending replies not yet completed. */
  private readonly pending = new Set<PendingReply>();
  /** Frames produced by the current 'data' event, written once at its end. */
  private batch: WireChunk[] = [];
  /** A closing reply was produced: read nothing more, end once everything is flushed. */
  private closeAfterFlush = false;
  private peerEnded = false;
  private ended = false;
  private readPaused = false;
  /** A HELLO was accepted: nothing more is decoded; the socket goes to the session after READY. */
  private upgrading: Upgrade | undefined;
  /** Input that arrived after the HELLO before the switch (a client must wait for READY). */
  private strayInput = false;
  /** The socket listeners, kept so that {@link maybeSwitch} can remove exactly these (net.Socket's listener type). */
  private readonly listeners: ReadonlyArray<readonly [string, (...args: any[]) => void]>;

  constructor(
    private readonly server: ConnectionHost,
    private readonly socket: net.Socket,
    private readonly decoder: ReturnType<typeof createFrameDecoder>,
    readonly bucket: TokenBucket | undefined,
    private readonly highWaterBytes: number,
    private readonly ordered: boolean,
  ) {
    this.listeners = [
      ['data', (chunk: Buffer) => this.onData(chunk)],
      ['end', () => this.onEnd()],
      ['drain', () => this.onDrain()],
      ['timeout', () => this.onIdle()],
      ['finish', () => lingerThenDestroy(socket)],
      ['error', () => undefined], // EPIPE/ECONNRESET from a vanished peer; 'close' follows
      ['close', () => this.onClose()],
    ];
    for (const [event, listener] of this.listeners) socket.on(event, listener);
  }

  private onData(chunk: Buffer): void {
    if (this.closeAfterFlush || this.ended) return;
    if (this.upgrading !== undefined) {
      this.strayInput = true;
      return;
    }
    const events = this.decoder.push(chunk);
    const server = this.server;
    for (let i = 0; i < events.length; i++) {
      server.handleEvent(this, events[i]!);
      if (this.closeAfterFlush) break;
      if (this.upgrading !== undefined) {
        // Later bytes belong to the session, which the client may only use after READY.
        if (i < events.length - 1 || this.decoder.midFrame) this.strayInput = true;
        break;
      }
    }
    this.flushBatch();
    this.maybeSwitch();
  }

  /**
   * Answers a HELLO with READY (in order behind earlier replies) and hands the socket
   * to a fast session right after READY is written (§10.1). Reading stops now.
   */
  upgrade(ready: ReplyBody, startedMs: number, upgrade: Upgrade): void {
    this.upgrading = upgrade;
    this.socket.pause();
    this.reply(ready, startedMs);
  }

  /** Completes an upgrade once every reply up to READY is written. */
  private maybeSwitch(): void {
    const upgrade = this.upgrading;
    if (upgrade === undefined || this.ended || this.pending.size > 0 || this.queue.length > 0 || this.batch.length > 0) return;
    this.upgrading = undefined;
    this.ended = true; // this object is done with the socket
    for (const [event, listener] of this.listeners) this.socket.off(event, listener);
    upgrade.switchTo(this.socket, this.strayInput);
  }

  /** A reply ready now. */
  reply(body: ReplyBody, startedMs: number): void {
    const frame = this.server.finalizeReply(body, startedMs, false);
    if (this.pending.size === 0 || !this.ordered) this.batch.push(frame);
    else this.queue.push(frame);
  }

  /** A reply due after `delayMs` (§6.9); later replies wait behind it (§5.2). */
  replyLater(body: ReplyBody, startedMs: number, delayMs: number): void {
    const pending = new PendingReply(this, body, startedMs);
    this.pending.add(pending);
    if (this.ordered) this.queue.push(pending);
    pending.timer = setTimeout(onPendingDue, delayMs, pending);
  }

  /** A reply after which the connection closes (§5.6): nothing more is read. */
  replyAndClose(body: ReplyBody, startedMs: number): void {
    this.closeAfterFlush = true;
    this.socket.pause();
    const frame = this.server.finalizeReply(body, startedMs, true);
    if (this.pending.size === 0 || !this.ordered) this.batch.push(frame);
    else this.queue.push(frame);
  }

  completePending(pending: PendingReply): void {
    pending.timer = undefined;
    this.pending.delete(pending);
    if (this.ended) return;
    pending.frame = this.server.finalizeReply(pending.reply, pending.startedMs, false);
    if (!this.ordered) {
      this.write(pending.frame);
      return;
    }
    const queue = this.queue;
    let n = 0;
    while (n < queue.length) {
      const item = queue[n]!;
      if (item instanceof PendingReply) {
        if (item.frame === undefined) break;
        queue[n] = item.frame;
      }
      n++;
    }
    if (n === 0) return;
    this.write(joinChunks(queue.splice(0, n) as WireChunk[]));
    this.maybeSwitch();
  }

  /** §7.4: close now when idle, else once the replies in flight are flushed. */
  beginShutdown(): void {
    if (this.ended) return;
    if (this.pending.size === 0 && this.queue.length === 0) this.endSocket(undefined);
  }

  /** Forces the connection closed (deadline passed, or fault drops-in-flight). */
  destroy(): void {
    this.clearPending();
    this.ended = true;
    this.socket.destroy();
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (batch.length === 0) {
      if (this.shouldEnd()) this.endSocket(undefined);
      return;
    }
    this.batch = [];
    this.write(joinChunks(batch));
  }

  private write(data: WireChunk): void {
    if (this.ended) return;
    if (this.shouldEnd()) {
      this.endSocket(data);
      return;
    }
    const socket = this.socket;
    socket.write(data);
    if (!this.readPaused && socket.writableLength > this.highWaterBytes) {
      this.readPaused = true;
      socket.pause();
    }
  }

  /** True when nothing is pending and the connection must close once flushed. */
  private shouldEnd(): boolean {
    return (this.closeAfterFlush || this.peerEnded || this.server.isStopping()) && this.pending.size === 0 && this.queue.length === 0;
  }

  private endSocket(data: WireChunk | undefined): void {
    this.ended = true;
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
    // 'finish' (everything handed to the kernel) then lingers briefly and destroys the socket.
  }

  private onDrain(): void {
    if (this.readPaused && !this.closeAfterFlush && !this.ended && this.upgrading === undefined) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  private onEnd(): void {
    // The peer will send nothing more; a partial frame is discarded (§3.1.2). Reply to what was read, then close.
    this.peerEnded = true;
    if (!this.ended && this.shouldEnd()) this.endSocket(undefined);
  }

  private onIdle(): void {
    // §7.3: only when no reply is pending.
    if (this.ended || this.pending.size > 0 || this.queue.length > 0 || this.socket.writableLength > 0) return;
    this.endSocket(undefined);
  }

  private onClose(): void {
    this.clearPending();
    this.ended = true;
    const upgrade = this.upgrading;
    this.upgrading = undefined;
    upgrade?.abandon();
    this.server.onConnectionClosed(this);
  }

  private clearPending(): void {
    for (const p of this.pending) clearTimeout(p.timer);
    this.pending.clear();
    this.queue = [];
  }
}

/** Joins chunks of one connection (all strings for ndjson, all Buffers otherwise) into one write. */
function joinChunks(chunks: WireChunk[]): WireChunk {
  if (chunks.length === 1) return chunks[0]!;
  if (typeof chunks[0] === 'string') return chunks.join('');
  return Buffer.concat(chunks as Buffer[]);
}

/**
 * After our FIN ('finish': every reply handed to the kernel), reads and discards
 * the peer's input until it closes or {@link CLOSE_LINGER_MS} pass, then destroys
 * the socket. Closing with unread input would make the peer's next read fail with
 * ECONNRESET, which can destroy the reply it has not consumed yet (§5.6 note).
 * Discarding keeps memory flat whatever the peer still sends.
 */
function lingerThenDestroy(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.readableEnded) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
  socket.resume(); // flowing: our 'data' handler ignores everything once the connection has ended
}

/** Fault signature-prefix: keeps only the first 64 characters of `signature` / `sig`. */
function truncateSignatures(env: Record<string, unknown>): void {
  if (typeof env.signature === 'string' && env.signature.length > 64) env.signature = env.signature.slice(0, 64);
  if (typeof env.sig === 'string' && env.sig.length > 64) env.sig = env.sig.slice(0, 64);
}

/** The envelope id of a frame body, when it decodes (for SHUTTING_DOWN replies, §5.3). */
function peekId(codec: FramingSpec['codec'], body: Buffer): EnvelopeId | undefined {
  const decoded = decodeBody(codec, body);
  if (!decoded.ok || !isPlainObject(decoded.value)) return undefined;
  return readEnvelopeId(decoded.value) ?? undefined;
}

/** §2.3 / §2.4: removes a stale socket file; refuses a live socket or a non-socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let stats: Stats;
  try {
    stats = await fsp.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fpError('FP_CONFIG_INVALID', `cannot inspect socket path ${path}: ${(err as Error).message}`, { socketPath: path }, err);
  }
  if (!stats.isSocket()) {
    throw fpError(
      'FP_SOCKET_NOT_SOCKET',
      `${path} exists and is not a socket (it is ${describeFileType(stats)}): refusing to remove it; choose another --socket path`,
      { socketPath: path },
    );
  }
  const probe = await probeSocket(path);
  if (probe === 'live') {
    throw fpError(
      'FP_SOCKET_IN_USE',
      `a server is already listening on ${path} (a test connection succeeded): stop it first or choose another --socket path`,
      { socketPath: path },
    );
  }
  if (probe === 'refused') {
    try {
      await fsp.unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw fpError('FP_CONFIG_INVALID', `cannot remove stale socket file ${path}: ${(err as Error).message}`, { socketPath: path }, err);
      }
    }
  }
}

/** Connects to an existing socket file: `live` (accepted), `refused` (stale), `gone` (removed meanwhile). */
function probeSocket(path: string): Promise<'live' | 'refused' | 'gone'> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('live'); // a socket that neither accepts nor refuses has a process behind it
    }, STALE_PROBE_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      if (err.code === 'ECONNREFUSED') resolve('refused');
      else if (err.code === 'ENOENT') resolve('gone');
      else reject(fpError('FP_SOCKET_IN_USE', `cannot probe existing socket ${path} (${err.code ?? err.message}): remove it if no server uses it, or choose another --socket path`, { socketPath: path }, err));
    });
  });
}

function listenError(path: string, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE') {
    return fpError('FP_SOCKET_IN_USE', `${path} was taken by another process while starting: stop it or choose another --socket path`, { socketPath: path }, err);
  }
  return fpError('FP_CONFIG_INVALID', `cannot listen on ${path}: ${err.code ?? ''} ${err.message}; check that the directory exists and is writable`, { socketPath: path }, err);
}

function describeFileType(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isFile()) return 'a regular file';
  return 'not a socket';
}
