import { Bench, type Task } from 'tinybench';
import type { CodecMatrixRow } from '../../harness/bench-result.js';
import {
  createFrameDecoder,
  decodeBody,
  decodeV2Body,
  encodeRequest,
  fpError,
  freshNonce,
  parseAuthMode,
  parseFraming,
  signEnvelope,
  verifyEnvelope,
  type AuthMode,
  type SignOptions,
  type VerifyContext,
  type WireMode,
} from '../../protocol/index.js';

/**
 * The codec matrix of `fastpath bench` (tinybench): what one message costs on the
 * CPU in each wire mode, without a socket. It is the measured version of the
 * comparison table of seed 001 (NDJSON vs MessagePack): encode, decode, sign and
 * verify of one sample PREPARE signal, per mode, as mean, p50 and p99 in
 * nanoseconds plus the frame size on the wire.
 *
 * Every sample is one call of one operation on one message (no batching), timed
 * with `process.hrtime.bigint` and corrected for the cost of reading the timer, so
 * p50 and p99 are per-message figures.
 */

/** The modes the matrix measures, as `framing/auth` labels. */
export const CODEC_MATRIX_MODES = ['ndjson/hmac-json', 'lp32-json/hmac-v2', 'lp32-msgpack/hmac-v2'] as const;
export type CodecMatrixMode = (typeof CODEC_MATRIX_MODES)[number];

/** The operations measured per mode, in the order of the rows. */
export const CODEC_OPERATIONS = ['encode', 'decode', 'sign', 'verify'] as const satisfies readonly CodecMatrixRow['operation'][];
export type CodecOperation = (typeof CODEC_OPERATIONS)[number];

/** The sample signal (95 bytes as JSON text). */
export const CODEC_SAMPLE_SIGNAL: Readonly<Record<string, string | number>> = Object.freeze({
  type: 'PREPARE',
  signal_id: 's-000001',
  symbol: 'BTCUSDT',
  side: 'Buy',
  qty: 1,
  price: 50000,
});

/** hmac-v2 timestamp of the sample frame that `decode` and `verify` read (and `frameBytes` measures). */
export const CODEC_SAMPLE_TS_MS = 1_700_000_000_000;
/** hmac-v2 nonce of the sample frame: 16 characters, the length a typical client draws. */
export const CODEC_SAMPLE_NONCE = 'cmx-sample-nonce';
/** HMAC secret used by the matrix. */
export const CODEC_MATRIX_SECRET = 'fastpath-codec-matrix-secret-0123456789';

const NS_PER_MS = 1_000_000;
const MS_PER_SEC = 1_000;
const VERIFY_WINDOW_MS = 30_000;

export const DEFAULT_CODEC_TIME_MS = 500;
export const DEFAULT_CODEC_WARMUP_MS = 100;

/** Options of {@link runCodecMatrix}. */
export interface CodecMatrixOptions {
  /** Measuring time per operation and mode (tinybench `time`), default 500 ms. */
  readonly timeMs?: number;
  /** Warm-up time per operation and mode (tinybench `warmupTime`), default 100 ms; 0 disables warm-up. */
  readonly warmupMs?: number;
  /** Modes to measure, default all of {@link CODEC_MATRIX_MODES}. */
  readonly modes?: readonly CodecMatrixMode[];
}

/** Parses a `framing/auth` label of the matrix into a wire mode. */
export function codecWireMode(mode: CodecMatrixMode, secret: string = CODEC_MATRIX_SECRET): WireMode {
  const [framing, auth] = mode.split('/') as [string, string];
  return { framing: parseFraming(framing), auth: parseAuthMode(auth), secret };
}

/** The sample frame of `mode` (fixed ts and nonce), the input of `decode` and `verify`. */
export function codecSampleFrame(mode: CodecMatrixMode): Buffer {
  const wire = codecWireMode(mode);
  return encodeRequest(wire, CODEC_SAMPLE_SIGNAL, { ts: CODEC_SAMPLE_TS_MS, nonce: CODEC_SAMPLE_NONCE });
}

/** Written by every measured call so that no work can be optimised away. */
let sink: unknown;

/** Per-message sign options: a client's fresh ts and nonce for hmac-v2, nothing otherwise. */
function freshSignOptions(auth: AuthMode): () => SignOptions {
  return auth === 'hmac-v2' ? () => ({ ts: Date.now(), nonce: freshNonce() }) : () => ({});
}

/** The four measured functions of one mode, each checked once on the sample before it is timed. */
function operationsFor(mode: CodecMatrixMode): Record<CodecOperation, () => void> {
  const wire = codecWireMode(mode);
  const { framing, auth, secret } = wire;
  const signOpts = freshSignOptions(auth);
  const frame = codecSampleFrame(mode);
  const ctx: VerifyContext = { nowMs: CODEC_SAMPLE_TS_MS, timestampWindowMs: VERIFY_WINDOW_MS };
  // One decoder for the whole run, as on a connection: after a complete frame it is back in its head state.
  const decoder = createFrameDecoder(framing);

  /** Frame bytes -> envelope -> signal: the receive path before and after verification. */
  const decode = (): { envelope: unknown; signal: unknown } => {
    const event = decoder.push(frame)[0];
    if (event?.type !== 'frame') throw fpError('FP_ENCODE', `codec matrix ${mode}: the sample frame did not decode to one frame`);
    const body = decodeBody(framing.codec, event.body);
    if (!body.ok) throw fpError('FP_ENCODE', `codec matrix ${mode}: ${body.error}`);
    const env = body.value as Record<string, unknown>;
    if (auth !== 'hmac-v2') return { envelope: env, signal: env.signal };
    const inner = decodeV2Body(env.body as string | Uint8Array);
    if (!inner.ok) throw fpError('FP_ENCODE', `codec matrix ${mode}: ${inner.error}`);
    return { envelope: env, signal: inner.value };
  };

  const decoded = decode();
  const verify = (): void => {
    const res = verifyEnvelope(auth, secret, decoded.envelope, ctx);
    if (!res.ok) throw fpError('FP_ENCODE', `codec matrix ${mode}: the sample envelope does not verify: ${res.reason} ${res.error}`);
    sink = res;
  };
  verify();
  if (JSON.stringify(decoded.signal) !== JSON.stringify(CODEC_SAMPLE_SIGNAL)) {
    throw fpError('FP_ENCODE', `codec matrix ${mode}: the sample signal does not survive a round trip`);
  }

  return {
    encode: () => {
      sink = encodeRequest(wire, CODEC_SAMPLE_SIGNAL, signOpts());
    },
    decode: () => {
      sink = decode();
    },
    sign: () => {
      sink = signEnvelope(auth, secret, CODEC_SAMPLE_SIGNAL, signOpts());
    },
    verify,
  };
}

function checkMs(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) {
    throw fpError('FP_USAGE', `codec matrix: ${name} must be a finite number ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

/** Converts one finished tinybench task into a row (tinybench latencies are in ms). */
function rowOf(task: Task, mode: CodecMatrixMode, operation: CodecOperation, frameBytes: number): CodecMatrixRow {
  const result = task.result;
  if (result.state === 'errored') throw fpError('FP_ENCODE', `codec matrix ${mode} ${operation}: ${result.error.message}`, undefined, result.error);
  if (result.state !== 'completed') throw fpError('FP_ENCODE', `codec matrix ${mode} ${operation}: tinybench task ended in state "${result.state}"`);
  const latencyMs = result.latency;
  const meanNs = latencyMs.mean * NS_PER_MS;
  return {
    mode,
    operation,
    meanNs,
    p50Ns: latencyMs.p50 * NS_PER_MS,
    p99Ns: latencyMs.p99 * NS_PER_MS,
    // Messages per second of one core: runs / total time, not the mean of per-sample rates (which overweights fast outliers).
    opsPerSec: result.period > 0 ? MS_PER_SEC / result.period : 0,
    samples: latencyMs.samplesCount,
    frameBytes,
  };
}

/**
 * Measures encode, decode, sign and verify of {@link CODEC_SAMPLE_SIGNAL} in each mode.
 *
 * - `encode`: sign (fresh ts and nonce per message for hmac-v2), encode the envelope and frame it.
 * - `decode`: frame decoder + body decode of the sample frame, down to the signal object
 *   (for hmac-v2 this includes decoding the carried body), so decode + verify is the whole receive path.
 * - `sign`: only {@link signEnvelope} (for hmac-json this includes `JSON.stringify(signal)`).
 * - `verify`: {@link verifyEnvelope} of the decoded sample envelope, at a clock equal to its ts
 *   (replay protection is the server's nonce cache, not part of verify).
 *
 * @returns one row per mode and operation, in the order of {@link CODEC_MATRIX_MODES} × {@link CODEC_OPERATIONS}.
 * @throws FastPathError FP_USAGE for a bad time option, FP_ENCODE when a codec fails on the sample.
 */
export async function runCodecMatrix(opts: CodecMatrixOptions = {}): Promise<CodecMatrixRow[]> {
  const timeMs = checkMs('timeMs', opts.timeMs ?? DEFAULT_CODEC_TIME_MS, Number.MIN_VALUE);
  const warmupMs = checkMs('warmupMs', opts.warmupMs ?? DEFAULT_CODEC_WARMUP_MS, 0);
  const modes = opts.modes ?? CODEC_MATRIX_MODES;
  const bench = new Bench({
    name: 'fastpath codec matrix',
    time: timeMs,
    warmup: warmupMs > 0,
    warmupTime: warmupMs,
    timestampProvider: 'hrtimeNow',
    subtractTimerOverhead: true,
    throws: true,
  });
  const planned: { task: string; mode: CodecMatrixMode; operation: CodecOperation; frameBytes: number }[] = [];
  for (const mode of modes) {
    const ops = operationsFor(mode);
    const frameBytes = codecSampleFrame(mode).length;
    for (const operation of CODEC_OPERATIONS) {
      const task = `${mode} ${operation}`;
      bench.add(task, ops[operation], { async: false });
      planned.push({ task, mode, operation, frameBytes });
    }
  }
  await bench.run();
  const rows = planned.map(({ task, mode, operation, frameBytes }) => {
    const found = bench.getTask(task);
    if (found === undefined) throw fpError('FP_ENCODE', `codec matrix: tinybench lost task "${task}"`);
    return rowOf(found, mode, operation, frameBytes);
  });
  sink = undefined;
  return rows;
}

/** The matrix as a text table: one line per mode and operation. */
export function formatCodecMatrix(rows: readonly CodecMatrixRow[]): string {
  const header = ['mode', 'operation', 'mean ns', 'p50 ns', 'p99 ns', 'msg/s', 'samples', 'frame B'];
  const body = rows.map((r) => [
    r.mode,
    r.operation,
    r.meanNs.toFixed(0),
    r.p50Ns.toFixed(0),
    r.p99Ns.toFixed(0),
    Math.round(r.opsPerSec).toString(),
    r.samples.toString(),
    r.frameBytes.toString(),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return `${[line(header), ...body.map(line)].join('\n')}\n`;
}
