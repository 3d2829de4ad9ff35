import net from 'node:net';
import autocannon from 'autocannon';
import { fpError, signEnvelope, type AuthMode } from '../protocol/index.js';
import type { HttpComparison } from './bench-result.js';
import type { ModeInfo } from './case.js';
import { startTarget } from './launcher.js';
import { runLoad } from './load-runner.js';
import { pinnedCommand } from './pinning.js';
import type { ResolvedTarget } from './targets.js';
import { createLatencyHistogram, recordLatencyNs, summarizeLatency, type Histogram } from './latency-histogram.js';

/**
 * HTTP side of the IPC-vs-HTTP comparison (seed 000 claims IPC is 60–125x faster than
 * an HTTP POST): autocannon drives `POST /signal` of the reference server's HTTP
 * listener on loopback with the same signals the IPC scenarios send, one fresh signal
 * id per request. autocannon's own latency histogram has whole-millisecond
 * resolution, so the round trip of every request is also timed here (from when
 * autocannon builds the request to its response) into an HdrHistogram in ns, and the
 * mean comes from the request rate (one connection, one request in flight: mean =
 * 1 / rate).
 */

export interface HttpLoadOptions {
  readonly url: string;
  readonly auth: AuthMode;
  readonly secret: string;
  readonly connections: number;
  readonly durationMs: number;
  /** Prefix of signal ids, unique per run. */
  readonly idPrefix: string;
}

export interface HttpLoadResult {
  readonly requestsPerSec: number;
  readonly histogram: Histogram;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Mean round trip from the request rate: connections / rate. */
  readonly meanUs: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly requests: number;
}

interface Ctx {
  startNs?: bigint;
}

/** Runs autocannon against `POST url` for `durationMs`; every request carries a freshly signed PREPARE. */
export async function runHttpLoad(opts: HttpLoadOptions): Promise<HttpLoadResult> {
  const histogram = createLatencyHistogram();
  let seq = 0;
  let rejected = 0;
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    pipelining: 1,
    duration: Math.max(1, Math.round(opts.durationMs / 1_000)),
    requests: [
      {
        method: 'POST',
        path: '/signal',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req: autocannon.Request, ctx: object) => {
          const context = ctx as Ctx;
          const signal = { type: 'PREPARE', signal_id: `${opts.idPrefix}${(seq++).toString(36)}`, symbol: 'BTC', side: 'Buy', qty: 1 };
          context.startNs = process.hrtime.bigint();
          return { ...req, body: JSON.stringify(signEnvelope(opts.auth, opts.secret, signal, { id: seq })) };
        },
        onResponse: (status: number, body: string, ctx: object) => {
          const context = ctx as Ctx;
          if (context.startNs !== undefined) recordLatencyNs(histogram, Number(process.hrtime.bigint() - context.startNs));
          if (status !== 200 || !body.includes('"accepted":true')) rejected++;
        },
      },
    ],
  });
  const rps = result.requests.average;
  const s = summarizeLatency(histogram);
  return {
    requestsPerSec: rps,
    histogram,
    p50Us: s.p50Us,
    p99Us: s.p99Us,
    meanUs: rps > 0 ? (opts.connections * 1e6) / rps : 0,
    errors: result.errors + result.timeouts + rejected,
    non2xx: result.non2xx,
    requests: result.requests.total,
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Options of {@link compareIpcHttp}. */
export interface IpcHttpOptions {
  /** The reference target (bench profile); it is started once more with `--http-port`. */
  readonly target: ResolvedTarget;
  readonly mode: ModeInfo;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  readonly pinCpu: number | undefined;
  readonly onProgress?: ((line: string) => void) | undefined;
}

/**
 * Measures the same reference server instance over its Unix socket (closed loop) and
 * over HTTP on loopback (autocannon), one after the other in the same run.
 */
export async function compareIpcHttp(opts: IpcHttpOptions): Promise<HttpComparison> {
  if (opts.target.spawn === undefined) throw fpError('FP_USAGE', '--http needs a spawned target that serves HTTP (the built-in reference)');
  const port = await freeLoopbackPort();
  const spawn = opts.target.spawn;
  const args = [...spawn.args, '--http-port', String(port)];
  const pinned = pinnedCommand(spawn.command, args, opts.pinCpu);
  const target: ResolvedTarget = { ...opts.target, spawn: { ...spawn, command: pinned.command, args: pinned.args } };
  const running = await startTarget(target, opts.mode);
  try {
    opts.onProgress?.(`http: IPC closed loop c${opts.connections} on ${running.socketPath}`);
    const ipc = await runLoad({
      socketPath: running.socketPath,
      loop: 'closed',
      connections: opts.connections,
      depth: 1,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      replyTimeoutMs: 5_000,
      lateThresholdUs: 1_000,
      intervalMs: 1_000,
      threads: 0,
      request: {
        framing: opts.mode.framingName,
        maxFrameBytes: opts.mode.framing.maxFrameBytes,
        auth: opts.mode.auth,
        secret: opts.mode.secret,
        signalBytes: 64,
        dialect: { kind: 'spec' },
        replyCheck: 'dialect',
        idPrefix: 'hi',
        presign: 0,
      },
    });
    opts.onProgress?.(`http: autocannon POST http://127.0.0.1:${port}/signal c${opts.connections}`);
    // Warm the HTTP path too, then measure.
    await runHttpLoad({ url: `http://127.0.0.1:${port}`, auth: opts.mode.auth, secret: opts.mode.secret, connections: opts.connections, durationMs: opts.warmupMs, idPrefix: 'hw' });
    const http = await runHttpLoad({ url: `http://127.0.0.1:${port}`, auth: opts.mode.auth, secret: opts.mode.secret, connections: opts.connections, durationMs: opts.durationMs, idPrefix: 'hh' });
    const ipcRate = (ipc.received * 1_000) / opts.durationMs;
    const ipcMeanUs = ipcRate > 0 ? (opts.connections * 1e6) / ipcRate : 0;
    const r = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
    return {
      ipcP50Us: ipc.summary.p50Us,
      ipcMeanUs: Math.round(ipcMeanUs * 1_000) / 1_000,
      httpP50Us: http.p50Us,
      httpMeanUs: Math.round(http.meanUs * 1_000) / 1_000,
      httpRequestsPerSec: Math.round(http.requestsPerSec),
      ratioMean: r(http.meanUs, ipcMeanUs),
      ratioP50: r(http.p50Us, ipc.summary.p50Us),
      connections: opts.connections,
      errors: ipc.errors + ipc.unanswered + http.errors,
    };
  } finally {
    await running.stop();
  }
}
