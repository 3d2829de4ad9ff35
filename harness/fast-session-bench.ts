import type {
  FastComparison,
  FastOneWayResult,
  FastReadyInfo,
  FastRoundTripResult,
  FastSessionResult,
  FastTargetCheck,
  FastTransferResult,
  FloorRef,
  NativeRingFloor,
  PinMode,
} from './bench-result.js';
import { payloadLabel } from './bench-scenario.js';
import type { ModeInfo } from './case.js';
import { errorMessage } from './dialect.js';
import { openFastSession, type FastSessionClient } from './fast-session-client.js';
import { createLatencyHistogram, mergeHistograms, recordLatencyNs, summarizeLatency, type Histogram } from './latency-histogram.js';
import { createRequestFactory, type DialectRef, type RequestFactory } from './load-plan.js';
import { ensureNativeTool, isNativeToolUnavailable, runRingPingpong } from './native-tools.js';
import type { PinPlan } from './pinning.js';
import type { FastMessage, FastTransport, FramingSpec } from '../protocol/index.js';
import { MAX_RING_CAPACITY_BYTES, type WaitStrategy } from '../ring/index.js';

/**
 * The fast-session part of `fastpath bench` (`--transport shm|uds|both`, docs/SPEC.md
 * §10, issue 4): small-message round trips (`echo`, `signal`), transfers (`sink` of
 * 1 KiB … 10 MiB), one-way notification throughput, and the native C ring floor, all
 * against a running target, shm and uds side by side. {@link runFastSessionBench}
 * measures; {@link completeFastSession} adds the ratios to the floors measured by the
 * ordinary bench in the same run and judges the issue's targets.
 *
 * Round trips over shm are timed with the client's blocking `requestSync` (the thread
 * spins or sleeps in a futex per the wait policy, no event loop in between); over uds
 * with `await request()`, the way a Node client uses a socket. The event loop gets a
 * turn every {@link YIELD_EVERY_MS} so timers (heartbeats, §10.6) keep running.
 */

/** Size of the small messages (echo params, notifications). */
export const FAST_SMALL_BYTES = 64;
/** Default transfer sizes: 1 KiB, 1 MiB, 10 MiB. */
export const DEFAULT_TRANSFER_SIZES_BYTES: readonly number[] = [1_024, 1_048_576, 10 * 1_048_576];
/** A blocking measure loop lets the event loop run this often. */
export const YIELD_EVERY_MS = 20;
/** Notifications written between two checks of the clock. */
const ONE_WAY_BATCH = 256;

/** Options of {@link runFastSessionBench}. */
export interface FastSessionBenchOptions {
  readonly socketPath: string;
  readonly mode: ModeInfo;
  /** Where the dialect of the `signal` requests comes from (as the ordinary bench). */
  readonly dialect: DialectRef;
  readonly transports: readonly ('shm' | 'uds')[];
  readonly warmupMs: number;
  /** Measured time of each round-trip and one-way measure, per repetition. */
  readonly durationMs: number;
  readonly repeat: number;
  /** Data capacity of each ring. */
  readonly capacityBytes: number;
  readonly transferSizesBytes: readonly number[];
  /**
   * Ring capacity of the transfer sessions: `auto` (default) is the larger of
   * `capacityBytes` and the smallest ring whose record limit holds the whole message
   * (so the server reads it in place, §10.4.2); a number forces it (e.g. to measure
   * chunked transfers).
   */
  readonly transferCapacityBytes?: number | 'auto' | undefined;
  readonly replyTimeoutMs: number;
  readonly pin: PinMode;
  /** CPUs of client and target (for the native ring floor). */
  readonly pins: PinPlan;
  /** Measure the native C ring floor. */
  readonly nativeFloor: boolean;
  /** Prefix of the signal ids, unique per run. */
  readonly idPrefix: string;
  readonly onProgress?: ((line: string) => void) | undefined;
}

/** The names of the same-run scenarios the section is compared with. */
export interface FastSessionFloorRefs {
  readonly udsFloor: FloorRef | undefined;
  readonly nativeUdsFloor: FloorRef | undefined;
  readonly socketSignal: FloorRef | undefined;
}

const nowMs = (): number => performance.now();
const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function round3(n: number): number {
  return Math.round(n * 1_000) / 1_000;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a) ? undefined : round3(a / b);
}

/** The body of a request frame (the `signal` params: envelope and signature, no framing). */
export function frameBody(framing: FramingSpec, frame: Buffer): Buffer {
  if (framing.kind === 'ndjson') return frame.subarray(0, frame.length - 1);
  return frame.subarray(framing.prefixBytes + framing.header.length);
}

/** What one closed loop measured. */
interface LoopOutcome {
  readonly histogram: Histogram;
  readonly count: number;
  readonly measuredMs: number;
  readonly errors: number;
  readonly errorSamples: string[];
  readonly failure: string | undefined;
}

/**
 * A closed loop, one request in flight: `prepare(seq)` builds the params outside the
 * clock, `exec` sends and returns the response (synchronously, or a promise), `check`
 * judges it. Latency from just before `exec` to its response.
 */
async function closedLoop<P>(
  prepare: (seq: number) => P,
  exec: (p: P) => FastMessage | Promise<FastMessage>,
  check: (m: FastMessage, seq: number) => string | undefined,
  warmupMs: number,
  durationMs: number,
): Promise<LoopOutcome> {
  const histogram = createLatencyHistogram();
  const errorSamples: string[] = [];
  let errors = 0;
  let count = 0;
  const start = nowMs();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let yieldAt = start + YIELD_EVERY_MS;
  let failure: string | undefined;
  let measuredMs = 0;
  for (let seq = 0; ; seq++) {
    const p = prepare(seq);
    const t0 = nowMs();
    if (t0 >= end) break;
    let m: FastMessage;
    try {
      const r = exec(p);
      m = r instanceof Promise ? await r : r;
    } catch (err) {
      failure = errorMessage(err);
      break;
    }
    const t1 = nowMs();
    const problem = check(m, seq);
    if (problem !== undefined) {
      errors++;
      if (errorSamples.length < 5 && !errorSamples.includes(problem)) errorSamples.push(problem);
    }
    if (t0 >= measureFrom) {
      recordLatencyNs(histogram, (t1 - t0) * 1e6);
      count++;
      measuredMs = t1 - measureFrom;
    }
    if (t1 >= yieldAt) {
      await yieldLoop();
      yieldAt = nowMs() + YIELD_EVERY_MS;
    }
  }
  return { histogram, count, measuredMs, errors, errorSamples, failure };
}

function checkEcho(expected: Uint8Array): (m: FastMessage) => string | undefined {
  return (m) => {
    if (m.error !== undefined) return `echo answered ${m.error.code}: ${m.error.message}`;
    const r = m.result;
    if (r === undefined || r.byteLength !== expected.byteLength) return `echo returned ${r?.byteLength ?? 0} bytes, sent ${expected.byteLength}`;
    return undefined;
  };
}

/** Round-trip measure being accumulated over repetitions. */
interface RoundTripAcc {
  readonly name: string;
  readonly method: 'echo' | 'signal';
  readonly transport: 'shm' | 'uds';
  readonly clientWait: WaitStrategy | undefined;
  serverWait: string | undefined;
  payloadBytes: number;
  readonly outcomes: LoopOutcome[];
  failure: string | undefined;
}

interface TransferAcc {
  readonly name: string;
  readonly transport: 'shm' | 'uds';
  readonly clientWait: WaitStrategy | undefined;
  readonly capacityBytes: number | undefined;
  readonly sizeBytes: number;
  readonly samplesNs: number[];
  errors: number;
  failure: string | undefined;
}

interface OneWayAcc {
  readonly name: string;
  readonly transport: 'shm' | 'uds';
  readonly runs: { messages: number; durationMs: number }[];
  failure: string | undefined;
}

/** Transfers per size and transport per repetition, and their time budget. */
function transferPlan(sizeBytes: number, durationMs: number): { reps: number; warmup: number; budgetMs: number } {
  const reps = sizeBytes <= 65_536 ? 2_000 : sizeBytes <= 2 * 1_048_576 ? 300 : 60;
  return { reps, warmup: Math.max(3, Math.round(reps / 20)), budgetMs: Math.max(1_000, durationMs) };
}

/** Bytes of a FastMessage around `params` of `sizeBytes`, generously (map keys, id, method, bin header). */
const MESSAGE_OVERHEAD_BYTES = 128;

/**
 * The ring capacity of a transfer session: the forced one, or (`auto`) the larger of
 * `baseBytes` and the smallest power of two whose record limit (half the ring, §10.3.1)
 * holds the whole message in one record.
 */
export function transferRingCapacity(sizeBytes: number, baseBytes: number, setting: number | 'auto'): number {
  if (setting !== 'auto') return setting;
  const need = 2 * (sizeBytes + MESSAGE_OVERHEAD_BYTES + 16);
  let capacity = baseBytes;
  while (capacity < need && capacity < MAX_RING_CAPACITY_BYTES) capacity *= 2;
  return capacity;
}

/** A filled buffer of `n` bytes (not zeros, so nothing can shortcut on them). */
function payload(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4096) b[i] = i & 0xff;
  b.fill(0x5a, 0, Math.min(n, 4096));
  return b;
}

/** Measures the fast-session section against a running target; ratios come later ({@link completeFastSession}). */
export async function runFastSessionBench(opts: FastSessionBenchOptions): Promise<FastSessionResult> {
  const progress = opts.onProgress ?? (() => {});
  const notes: string[] = [];
  const ready = new Map<string, FastReadyInfo>();
  const spinOk = opts.pin !== 'same';
  if (!spinOk) notes.push('--pin same: the spinning measures (shm wait spin, native ring floor) are skipped: a spinning client and server need two CPUs (--pin split)');
  const timeoutMs = opts.replyTimeoutMs;
  const base = {
    transports: [...opts.transports],
    capacityBytes: opts.capacityBytes,
    udsFloor: undefined,
    nativeUdsFloor: undefined,
    socketSignal: undefined,
    comparisons: [],
    targets: [],
  };

  const open = async (transport: FastTransport, wait: WaitStrategy | undefined, capacityBytes: number = opts.capacityBytes): Promise<FastSessionClient> => {
    const client = await openFastSession({
      socketPath: opts.socketPath,
      mode: opts.mode,
      transport,
      capacityBytes,
      wait: wait === undefined ? undefined : { strategy: wait },
      timeoutMs: Math.max(timeoutMs, 1_000),
    });
    const r = client.ready;
    ready.set(`${r.transport}/${r.wait ?? ''}`, { transport: r.transport, wait: r.wait, maxMessageBytes: r.maxMessageBytes, serverPid: r.serverPid });
    return client;
  };

  // One HELLO first: a target without fast sessions ends the section here, with the reason.
  try {
    const probe = await open(opts.transports[0] ?? 'shm', 'futex');
    await probe.close();
  } catch (err) {
    const failure = `no fast session with ${opts.socketPath}: ${errorMessage(err)}`;
    return { ...base, ready: [], roundTrips: [], transfers: [], oneWay: [], nativeRing: undefined, notes, failure };
  }

  const signalFactory: RequestFactory = await createRequestFactory(
    {
      framing: opts.mode.framingName,
      maxFrameBytes: Math.max(opts.mode.framing.maxFrameBytes, FAST_SMALL_BYTES * 2 + 4_096),
      auth: opts.mode.auth,
      secret: opts.mode.secret,
      signalBytes: FAST_SMALL_BYTES,
      dialect: opts.dialect,
      replyCheck: 'dialect',
      idPrefix: `${opts.idPrefix}f`,
      presign: 0,
    },
    0,
  );

  const roundTrips: RoundTripAcc[] = [];
  const rtAcc = (name: string, method: 'echo' | 'signal', transport: 'shm' | 'uds', clientWait: WaitStrategy | undefined): RoundTripAcc => {
    let acc = roundTrips.find((a) => a.name === name);
    if (acc === undefined) {
      acc = { name, method, transport, clientWait, serverWait: undefined, payloadBytes: 0, outcomes: [], failure: undefined };
      roundTrips.push(acc);
    }
    return acc;
  };
  const transfers: TransferAcc[] = [];
  const oneWays: OneWayAcc[] = [];
  const small = payload(FAST_SMALL_BYTES);
  let signalSeq = 0;
  const label = (rep: number): string => (opts.repeat > 1 ? ` (run ${rep + 1}/${opts.repeat})` : '');

  const echoWaits: WaitStrategy[] = spinOk ? ['spin', 'futex', 'spin-then-futex'] : ['futex', 'spin-then-futex'];
  const bulkWait: WaitStrategy = spinOk ? 'spin' : 'futex';

  const measureRoundTrip = async (acc: RoundTripAcc, rep: number): Promise<void> => {
    if (acc.failure !== undefined) return;
    progress(`${acc.name}${label(rep)}: ${opts.warmupMs} ms warm-up + ${opts.durationMs} ms`);
    let client: FastSessionClient | undefined;
    try {
      client = await open(acc.transport, acc.clientWait);
      acc.serverWait = client.ready.wait;
      const c = client;
      let outcome: LoopOutcome;
      if (acc.method === 'echo') {
        acc.payloadBytes = small.byteLength;
        const exec = c.requestSync !== undefined ? (p: Buffer) => c.requestSync!('echo', p, timeoutMs) : (p: Buffer) => c.request('echo', p, timeoutMs);
        outcome = await closedLoop(() => small, exec, checkEcho(small), opts.warmupMs, opts.durationMs);
      } else {
        acc.payloadBytes = signalFactory.signalBytes;
        const prepare = (): { seq: number; body: Buffer } => {
          const seq = signalSeq++;
          return { seq, body: frameBody(signalFactory.framing, signalFactory.build(seq)) };
        };
        let lastSeq = 0;
        const exec =
          c.requestSync !== undefined
            ? (p: { seq: number; body: Buffer }) => ((lastSeq = p.seq), c.requestSync!('signal', p.body, timeoutMs))
            : (p: { seq: number; body: Buffer }) => ((lastSeq = p.seq), c.request('signal', p.body, timeoutMs));
        const check = (m: FastMessage): string | undefined => {
          if (m.error !== undefined) return `signal answered ${m.error.code}: ${m.error.message}`;
          if (m.result === undefined) return 'signal response without a result';
          return signalFactory.check(Buffer.from(m.result.buffer, m.result.byteOffset, m.result.byteLength), lastSeq);
        };
        outcome = await closedLoop(prepare, exec, check, opts.warmupMs, opts.durationMs);
      }
      acc.outcomes.push(outcome);
      if (outcome.failure !== undefined) acc.failure = outcome.failure;
    } catch (err) {
      acc.failure = errorMessage(err);
    } finally {
      await client?.close().catch(() => undefined);
    }
  };

  const measureTransfers = async (transport: 'shm' | 'uds', sizeBytes: number, rep: number): Promise<void> => {
    const name = `fast.sink.${payloadLabelLong(sizeBytes)}.${transport}`;
    let acc = transfers.find((t) => t.name === name);
    const capacityBytes = transport === 'shm' ? transferRingCapacity(sizeBytes, opts.capacityBytes, opts.transferCapacityBytes ?? 'auto') : undefined;
    if (acc === undefined) {
      acc = { name, transport, clientWait: transport === 'shm' ? bulkWait : undefined, capacityBytes, sizeBytes, samplesNs: [], errors: 0, failure: undefined };
      transfers.push(acc);
    }
    if (acc.failure !== undefined) return;
    const plan = transferPlan(sizeBytes, opts.durationMs);
    progress(`${name}${label(rep)}: up to ${plan.reps} transfers or ${plan.budgetMs} ms`);
    let client: FastSessionClient | undefined;
    try {
      client = await open(transport, acc.clientWait, capacityBytes);
      if (client.maxMessageBytes < sizeBytes + 64) {
        acc.failure = `the server's maxMessageBytes (${client.maxMessageBytes}) is below ${sizeBytes} + the message header`;
        return;
      }
      const data = payload(sizeBytes);
      const c = client;
      const send = c.requestSync !== undefined ? (): FastMessage => c.requestSync!('sink', data, Math.max(timeoutMs, 10_000)) : (): Promise<FastMessage> => c.request('sink', data, Math.max(timeoutMs, 10_000));
      const started = nowMs();
      let yieldAt = started + YIELD_EVERY_MS;
      for (let i = 0; i < plan.warmup + plan.reps; i++) {
        const t0 = nowMs();
        const r = send();
        const m = r instanceof Promise ? await r : r;
        const t1 = nowMs();
        if (m.error !== undefined) acc.errors++;
        if (i >= plan.warmup) acc.samplesNs.push((t1 - t0) * 1e6);
        if (t1 >= yieldAt) {
          await yieldLoop();
          yieldAt = nowMs() + YIELD_EVERY_MS;
        }
        if (t1 - started > plan.budgetMs && i >= plan.warmup + 5) break;
      }
    } catch (err) {
      acc.failure = errorMessage(err);
    } finally {
      await client?.close().catch(() => undefined);
    }
  };

  const measureOneWay = async (transport: 'shm' | 'uds', rep: number): Promise<void> => {
    const name = `fast.notify.${payloadLabel(FAST_SMALL_BYTES)}.${transport}`;
    let acc = oneWays.find((o) => o.name === name);
    if (acc === undefined) {
      acc = { name, transport, runs: [], failure: undefined };
      oneWays.push(acc);
    }
    if (acc.failure !== undefined) return;
    progress(`${name}${label(rep)}: ${opts.warmupMs} ms warm-up + ${opts.durationMs} ms of notifications, then one echo`);
    let client: FastSessionClient | undefined;
    try {
      client = await open(transport, transport === 'shm' ? bulkWait : undefined);
      const c = client;
      const blast = async (forMs: number): Promise<number> => {
        let sent = 0;
        const end = nowMs() + forMs;
        let yieldAt = nowMs() + YIELD_EVERY_MS;
        for (;;) {
          const now = nowMs();
          if (now >= end) break;
          for (let i = 0; i < ONE_WAY_BATCH; i++) {
            if (!c.notify('sink', small)) {
              if (c.flushSync !== undefined) c.flushSync(timeoutMs);
              else await c.drained();
            }
          }
          sent += ONE_WAY_BATCH;
          if (now >= yieldAt) {
            await yieldLoop();
            yieldAt = nowMs() + YIELD_EVERY_MS;
          }
        }
        return sent;
      };
      const sync = async (): Promise<void> => {
        if (c.flushSync !== undefined) c.flushSync(timeoutMs);
        const m = c.requestSync !== undefined ? c.requestSync('echo', small, Math.max(timeoutMs, 30_000)) : await c.request('echo', small, Math.max(timeoutMs, 30_000));
        if (m.error !== undefined) throw new Error(`the sync echo answered ${m.error.code}: ${m.error.message}`);
      };
      if (opts.warmupMs > 0) {
        await blast(opts.warmupMs);
        await sync();
      }
      const t0 = nowMs();
      const messages = await blast(opts.durationMs);
      await sync();
      acc.runs.push({ messages, durationMs: nowMs() - t0 });
    } catch (err) {
      acc.failure = errorMessage(err);
    } finally {
      await client?.close().catch(() => undefined);
    }
  };

  const shm = opts.transports.includes('shm');
  const uds = opts.transports.includes('uds');
  for (let rep = 0; rep < opts.repeat; rep++) {
    if (shm) for (const w of echoWaits) await measureRoundTrip(rtAcc(`fast.echo.${payloadLabel(FAST_SMALL_BYTES)}.shm.${w}`, 'echo', 'shm', w), rep);
    if (uds) await measureRoundTrip(rtAcc(`fast.echo.${payloadLabel(FAST_SMALL_BYTES)}.uds`, 'echo', 'uds', undefined), rep);
    if (shm) await measureRoundTrip(rtAcc(`fast.signal.${payloadLabel(FAST_SMALL_BYTES)}.shm.${bulkWait}`, 'signal', 'shm', bulkWait), rep);
    if (uds) await measureRoundTrip(rtAcc(`fast.signal.${payloadLabel(FAST_SMALL_BYTES)}.uds`, 'signal', 'uds', undefined), rep);
    for (const size of opts.transferSizesBytes) {
      if (shm) await measureTransfers('shm', size, rep);
      if (uds) await measureTransfers('uds', size, rep);
    }
    if (shm) await measureOneWay('shm', rep);
    if (uds) await measureOneWay('uds', rep);
  }

  let nativeRing: NativeRingFloor | undefined;
  if (opts.nativeFloor && shm) {
    if (!spinOk) notes.push('native ring floor not measured: it spins, and --pin same puts both processes on one CPU');
    else {
      const tool = await ensureNativeTool('ring-pingpong');
      if (isNativeToolUnavailable(tool)) notes.push(`native ring floor not measured: ${tool.unavailable}`);
      else {
        progress('native ring floor (C, two processes spinning)');
        const cpus = opts.pin === 'split' && opts.pins.clientCpu !== undefined && opts.pins.targetCpu !== undefined ? ([opts.pins.clientCpu, opts.pins.targetCpu] as const) : undefined;
        try {
          // Each transfer runs in a ring of the capacity its shm measure used, so both read in place or both chunk.
          const groups = new Map<number, number[]>([[opts.capacityBytes, []]]);
          for (const size of opts.transferSizesBytes) {
            const capacity = transferRingCapacity(size, opts.capacityBytes, opts.transferCapacityBytes ?? 'auto');
            groups.set(capacity, [...(groups.get(capacity) ?? []), size]);
          }
          let pingpong: Awaited<ReturnType<typeof runRingPingpong>>['pingpong'] | undefined;
          const ringTransfers: NativeRingFloor['transfers'][number][] = [];
          for (const [capacityBytes, sizes] of groups) {
            const main = capacityBytes === opts.capacityBytes;
            if (!main && sizes.length === 0) continue;
            const r = await runRingPingpong(tool, {
              count: main ? 200_000 : 1_000,
              warmup: main ? 20_000 : 100,
              sizeBytes: FAST_SMALL_BYTES,
              transferSizesBytes: sizes,
              reps: 50,
              capacityBytes,
              cpus,
              timeoutMs: 120_000,
            });
            if (main) pingpong = r.pingpong;
            for (const t of r.transfers) {
              ringTransfers.push({ sizeBytes: t.sizeBytes, capacityBytes, reps: t.reps, p50Us: t.p50Ns / 1e3, p99Us: t.p99Ns / 1e3, gbPerSecP50: round3(t.sizeBytes / t.p50Ns) });
            }
          }
          if (pingpong !== undefined) {
            nativeRing = {
              capacityBytes: opts.capacityBytes,
              payloadBytes: pingpong.sizeBytes,
              count: pingpong.count,
              p50Us: pingpong.p50Ns / 1e3,
              p90Us: pingpong.p90Ns / 1e3,
              p99Us: pingpong.p99Ns / 1e3,
              p999Us: pingpong.p999Ns / 1e3,
              maxUs: pingpong.maxNs / 1e3,
              meanUs: round3(pingpong.meanNs / 1e3),
              transfers: ringTransfers.sort((a, b) => a.sizeBytes - b.sizeBytes),
              cpus: cpus === undefined ? undefined : [...cpus],
            };
          }
        } catch (err) {
          notes.push(`native ring floor not measured: ${errorMessage(err)}`);
        }
      }
    }
  }

  return {
    ...base,
    ready: [...ready.values()],
    roundTrips: roundTrips.map((a) => finishRoundTrip(a, opts)),
    transfers: transfers.map(finishTransfer),
    oneWay: oneWays.map(finishOneWay),
    nativeRing,
    notes,
    failure: undefined,
  };
}

/** `1KiB`, `1MiB`, `10MiB` (payloadLabel knows only the sweep sizes). */
export function payloadLabelLong(bytes: number): string {
  if (bytes >= 1_048_576 && bytes % 1_048_576 === 0) return `${bytes / 1_048_576}MiB`;
  if (bytes >= 1_024 && bytes % 1_024 === 0) return `${bytes / 1_024}KiB`;
  return payloadLabel(bytes);
}

function finishRoundTrip(a: RoundTripAcc, opts: FastSessionBenchOptions): FastRoundTripResult {
  const merged = mergeHistograms(a.outcomes.map((o) => o.histogram));
  const summary = summarizeLatency(merged);
  const count = a.outcomes.reduce((s, o) => s + o.count, 0);
  const measuredMs = a.outcomes.reduce((s, o) => s + o.measuredMs, 0);
  const errorSamples = [...new Set(a.outcomes.flatMap((o) => o.errorSamples))].slice(0, 5);
  return {
    name: a.name,
    method: a.method,
    transport: a.transport,
    clientWait: a.clientWait,
    serverWait: a.serverWait,
    payloadBytes: a.payloadBytes,
    durationMs: Math.round(measuredMs),
    warmupMs: opts.warmupMs,
    throughputPerSec: measuredMs > 0 ? Math.round((count * 1_000) / measuredMs) : 0,
    errors: a.outcomes.reduce((s, o) => s + o.errors, 0),
    errorSamples,
    ...summary,
    runs: a.outcomes.map((o) => {
      const s = summarizeLatency(o.histogram);
      return { p50Us: s.p50Us, p99Us: s.p99Us, throughputPerSec: o.measuredMs > 0 ? Math.round((o.count * 1_000) / o.measuredMs) : 0 };
    }),
    failure: a.failure ?? (count === 0 ? 'no round trip completed in the measured time' : undefined),
  };
}

function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

function finishTransfer(t: TransferAcc): FastTransferResult {
  const sorted = [...t.samplesNs].sort((x, y) => x - y);
  const total = sorted.reduce((s, x) => s + x, 0);
  const p50 = nearestRank(sorted, 50);
  return {
    name: t.name,
    transport: t.transport,
    clientWait: t.clientWait,
    capacityBytes: t.capacityBytes,
    sizeBytes: t.sizeBytes,
    reps: sorted.length,
    p50Us: round3(p50 / 1e3),
    p99Us: round3(nearestRank(sorted, 99) / 1e3),
    minUs: round3((sorted[0] ?? 0) / 1e3),
    maxUs: round3((sorted[sorted.length - 1] ?? 0) / 1e3),
    meanUs: sorted.length === 0 ? 0 : round3(total / sorted.length / 1e3),
    gbPerSecP50: p50 > 0 ? round3(t.sizeBytes / p50) : 0,
    gbPerSecSustained: total > 0 ? round3((t.sizeBytes * sorted.length) / total) : 0,
    errors: t.errors,
    failure: t.failure ?? (sorted.length === 0 ? 'no transfer completed' : undefined),
  };
}

function finishOneWay(o: OneWayAcc): FastOneWayResult {
  const messages = o.runs.reduce((s, r) => s + r.messages, 0);
  const durationMs = o.runs.reduce((s, r) => s + r.durationMs, 0);
  return {
    name: o.name,
    transport: o.transport,
    payloadBytes: FAST_SMALL_BYTES,
    messages,
    durationMs: Math.round(durationMs),
    messagesPerSec: durationMs > 0 ? Math.round((messages * 1_000) / durationMs) : 0,
    runs: o.runs.map((r) => ({ messagesPerSec: r.durationMs > 0 ? Math.round((r.messages * 1_000) / r.durationMs) : 0 })),
    failure: o.failure ?? (o.runs.length === 0 ? 'not measured' : undefined),
  };
}

/** The issue-4 targets (docs/PERFORMANCE.md "Shared-memory transport"). */
export const FAST_TARGETS = {
  roundTripSpinP50Us: 5,
  roundTripFutexOverUdsFloor: 1.2,
  transfer1MiBMs: 0.25,
  transfer10MiBMs: 2.5,
  sustainedGbPerSec: 4,
  oneWayMessagesPerSec: 500_000,
} as const;

function judge(measured: number | undefined, comparison: '<=' | '>=', limit: number): boolean | undefined {
  if (measured === undefined || !Number.isFinite(measured)) return undefined;
  return comparison === '<=' ? measured <= limit : measured >= limit;
}

/**
 * Adds the same-run floors, the side-by-side comparisons (shm/uds, shm/socket,
 * shm/native ring) and the issue's targets with met / not met.
 */
export function completeFastSession(r: FastSessionResult, refs: FastSessionFloorRefs): FastSessionResult {
  if (r.failure !== undefined) return { ...r, ...refs };
  const ok = <T extends { failure: string | undefined }>(x: T | undefined): T | undefined => (x === undefined || x.failure !== undefined ? undefined : x);
  const rt = (name: string): FastRoundTripResult | undefined => ok(r.roundTrips.find((x) => x.name === name));
  const small = payloadLabel(FAST_SMALL_BYTES);
  const udsEcho = rt(`fast.echo.${small}.uds`);
  const ring = r.nativeRing;
  const comparisons: FastComparison[] = [];
  const compare = (measure: string, unit: FastComparison['unit'], shm: number | undefined, uds: number | undefined, extra: { socket?: number | undefined; nativeRing?: number | undefined } = {}): void => {
    if (shm === undefined && uds === undefined) return;
    comparisons.push({
      measure,
      unit,
      shm,
      uds,
      shmOverUds: ratio(shm, uds),
      socket: extra.socket,
      shmOverSocket: ratio(shm, extra.socket),
      nativeRing: extra.nativeRing,
      shmOverNativeRing: ratio(shm, extra.nativeRing),
    });
  };
  for (const wait of ['spin', 'futex', 'spin-then-futex'] as const) {
    const s = rt(`fast.echo.${small}.shm.${wait}`);
    if (s === undefined) continue;
    compare(`echo ${small} round trip p50 (shm wait ${wait})`, 'us', s.p50Us, udsEcho?.p50Us, { nativeRing: ring?.p50Us });
    compare(`echo ${small} round trip p99 (shm wait ${wait})`, 'us', s.p99Us, udsEcho?.p99Us, { nativeRing: ring?.p99Us });
  }
  if (!r.roundTrips.some((x) => x.transport === 'shm') && udsEcho !== undefined) compare(`echo ${small} round trip p50`, 'us', undefined, udsEcho.p50Us);
  const shmSignal = r.roundTrips.find((x) => x.method === 'signal' && x.transport === 'shm' && x.failure === undefined);
  const udsSignal = rt(`fast.signal.${small}.uds`);
  compare(`signal ${small} round trip p50`, 'us', shmSignal?.p50Us, udsSignal?.p50Us, { socket: refs.socketSignal?.p50Us });
  compare(`signal ${small} round trip p99`, 'us', shmSignal?.p99Us, udsSignal?.p99Us, { socket: refs.socketSignal?.p99Us });
  const sizes = [...new Set(r.transfers.map((t) => t.sizeBytes))].sort((a, b) => a - b);
  for (const size of sizes) {
    const s = ok(r.transfers.find((t) => t.sizeBytes === size && t.transport === 'shm'));
    const u = ok(r.transfers.find((t) => t.sizeBytes === size && t.transport === 'uds'));
    const floor = ring?.transfers.find((t) => t.sizeBytes === size);
    compare(`sink ${payloadLabelLong(size)} send to response p50`, 'us', s?.p50Us, u?.p50Us, { nativeRing: floor?.p50Us });
    compare(`sink ${payloadLabelLong(size)} GB/s (p50)`, 'GB/s', s?.gbPerSecP50, u?.gbPerSecP50, { nativeRing: floor?.gbPerSecP50 });
  }
  const shmOneWay = ok(r.oneWay.find((o) => o.transport === 'shm'));
  const udsOneWay = ok(r.oneWay.find((o) => o.transport === 'uds'));
  compare(`notifications ${small} one way`, 'msg/s', shmOneWay?.messagesPerSec, udsOneWay?.messagesPerSec);

  const targets: FastTargetCheck[] = [];
  if (r.transports.includes('shm')) {
    const target = (t: Omit<FastTargetCheck, 'met'>): void => {
      targets.push({ ...t, met: judge(t.measured, t.comparison, t.limit) });
    };
    const spin = rt(`fast.echo.${small}.shm.spin`);
    target({
      id: 'round-trip-spin',
      description: `round trip p50 <= ${FAST_TARGETS.roundTripSpinP50Us} us with spinning`,
      basis: spin?.name ?? `fast.echo.${small}.shm.spin (not measured)`,
      comparison: '<=',
      limit: FAST_TARGETS.roundTripSpinP50Us,
      unit: 'us',
      measured: spin?.p50Us,
    });
    const futex = rt(`fast.echo.${small}.shm.futex`);
    target({
      id: 'round-trip-futex',
      description: `round trip p50 with futex waits <= ${FAST_TARGETS.roundTripFutexOverUdsFloor}x the UDS floor of the same run`,
      basis: `${futex?.name ?? `fast.echo.${small}.shm.futex`} p50 / ${refs.udsFloor?.name ?? 'Node echo floor (not measured)'} p50`,
      comparison: '<=',
      limit: FAST_TARGETS.roundTripFutexOverUdsFloor,
      unit: 'x',
      measured: ratio(futex?.p50Us, refs.udsFloor?.p50Us),
    });
    const shmTransfer = (size: number): FastTransferResult | undefined => ok(r.transfers.find((t) => t.transport === 'shm' && t.sizeBytes === size));
    const one = shmTransfer(1_048_576);
    target({
      id: 'transfer-1MiB',
      description: `1 MiB send to response p50 <= ${FAST_TARGETS.transfer1MiBMs} ms`,
      basis: one?.name ?? 'fast.sink.1MiB.shm (not measured)',
      comparison: '<=',
      limit: FAST_TARGETS.transfer1MiBMs,
      unit: 'ms',
      measured: one === undefined ? undefined : round3(one.p50Us / 1e3),
    });
    const ten = shmTransfer(10 * 1_048_576);
    target({
      id: 'transfer-10MiB',
      description: `10 MiB send to response p50 <= ${FAST_TARGETS.transfer10MiBMs} ms`,
      basis: ten?.name ?? 'fast.sink.10MiB.shm (not measured)',
      comparison: '<=',
      limit: FAST_TARGETS.transfer10MiBMs,
      unit: 'ms',
      measured: ten === undefined ? undefined : round3(ten.p50Us / 1e3),
    });
    const largest = [...r.transfers].filter((t) => t.transport === 'shm' && t.failure === undefined && t.sizeBytes >= 1_048_576).sort((a, b) => b.sizeBytes - a.sizeBytes)[0];
    target({
      id: 'throughput',
      description: `>= ${FAST_TARGETS.sustainedGbPerSec} GB/s sustained`,
      basis: largest === undefined ? 'a shm transfer of 1 MiB or more (not measured)' : `${largest.name}, back to back`,
      comparison: '>=',
      limit: FAST_TARGETS.sustainedGbPerSec,
      unit: 'GB/s',
      measured: largest?.gbPerSecSustained,
    });
    target({
      id: 'one-way',
      description: `>= ${FAST_TARGETS.oneWayMessagesPerSec.toLocaleString('en-US')} small messages/s one way`,
      basis: shmOneWay?.name ?? `fast.notify.${small}.shm (not measured)`,
      comparison: '>=',
      limit: FAST_TARGETS.oneWayMessagesPerSec,
      unit: 'msg/s',
      measured: shmOneWay?.messagesPerSec,
    });
  }
  return { ...r, ...refs, comparisons, targets };
}
