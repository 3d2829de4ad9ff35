import net from 'node:net';
import { createFrameDecoder, type FrameDecoder } from '../protocol/index.js';
import { createLatencyHistogram, encodeHistogram, recordLatencyNs, type Histogram } from './latency-histogram.js';
import { createRequestFactory, type LoadPlan, type RequestFactory } from './load-plan.js';

/**
 * The load engine of one thread (DESIGN "Measurement model", after wrk2): drives the
 * connections of a {@link LoadPlan} in closed loop (each connection keeps `depth`
 * requests in flight) or open loop (evenly spaced intended send times; latency from
 * the intended time, the uncorrected latency beside it; late sends counted).
 * Requests sent during warm-up are not recorded. Time is `process.hrtime.bigint()`
 * relative to the plan's origin, so every thread shares one clock.
 */

/** Serialisable result of one load group (crosses back from worker threads). */
export interface LoadGroupResult {
  /** Corrected histogram (open loop: from the intended time; closed loop: from the send time), compressed base64. */
  readonly histogram: string;
  /** Open loop only: from the actual send time. */
  readonly uncorrectedHistogram: string | undefined;
  /** Per-interval corrected histograms, by interval index since the measured phase began. */
  readonly intervals: readonly { readonly index: number; readonly histogram: string }[];
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly late: number;
  readonly unanswered: number;
  /** Measured replies per connection, in connection order. */
  readonly perConnection: readonly number[];
  /** Why a connection stopped early (first reason), if any did. */
  readonly failure: string | undefined;
  readonly signalBytes: number;
  /** Requests sent (warm-up included) whose reply never came: in flight when their connection was stopped. Part of `unanswered`. */
  readonly lost: number;
  /** Open loop: intended sends of the measured phase that never left. The rest of `unanswered`. */
  readonly unsent: number;
}

/** Counters of a load group so far (streaming mode, see {@link LoadPlan.streamIntervals}). */
export interface LoadCounters {
  /** Measured requests sent. */
  readonly sent: number;
  /** Measured good replies. */
  readonly received: number;
  /** Good replies of every phase, warm-up included (for a live rate). */
  readonly answered: number;
  readonly errors: number;
  readonly late: number;
  /** Requests whose reply never came so far (see {@link LoadGroupResult.lost}). */
  readonly lost: number;
  /** Requests in flight right now. */
  readonly inFlight: number;
  /** Interval histograms held right now (streaming keeps only the incomplete ones). */
  readonly retainedIntervals: number;
}

/**
 * What a streaming load group reports while it runs: each interval histogram once no
 * request intended in it can still be answered (then it is dropped), and its counters
 * every `progressMs`.
 */
export type LoadGroupEvent =
  | { readonly kind: 'interval'; readonly index: number; readonly histogram: string; readonly counters: LoadCounters }
  | { readonly kind: 'counters'; readonly counters: LoadCounters };

/**
 * Messages of a load worker thread to its parent: streaming events while it runs,
 * then exactly one final message with the result (or the error).
 */
export type LoadWorkerMessage =
  | { readonly kind: 'event'; readonly event: LoadGroupEvent }
  | { readonly ok: true; readonly result: LoadGroupResult }
  | { readonly ok: false; readonly error: string };

const MAX_ERROR_SAMPLES = 5;
const EMPTY = Buffer.alloc(0);
/** A start this much past the beginning of the measured phase is reported (setup overran the warm-up). */
const SETUP_OVERRUN_TOLERANCE_NS = 5_000_000;
const WATCHDOG_MS = 50;
/** Above this much time to the next send, sleep with a timer instead of yielding with setImmediate. */
const SPIN_WINDOW_NS = 1_500_000;

class GroupState {
  readonly corrected = createLatencyHistogram();
  readonly uncorrected: Histogram | undefined;
  readonly intervals = new Map<number, Histogram>();
  sent = 0;
  received = 0;
  errors = 0;
  late = 0;
  unanswered = 0;
  lost = 0;
  answered = 0;
  readonly errorSamples: string[] = [];
  failure: string | undefined;
  readonly measureStartNs: number;
  readonly measureEndNs: number;
  readonly intervalNs: number;
  /** Streaming: the next interval index to emit (every lower one has been emitted and dropped). */
  nextEmitIndex = 0;
  /** Index of the last interval of the measured phase (the last may be shorter). */
  readonly lastIndex: number;

  constructor(
    readonly plan: LoadPlan,
    readonly onEvent: ((event: LoadGroupEvent) => void) | undefined,
  ) {
    this.uncorrected = plan.loop === 'open' ? createLatencyHistogram() : undefined;
    this.measureStartNs = plan.startAtNs + plan.warmupMs * 1e6;
    this.measureEndNs = this.measureStartNs + plan.durationMs * 1e6;
    this.intervalNs = plan.intervalMs * 1e6;
    this.lastIndex = Math.max(0, Math.ceil(plan.durationMs / plan.intervalMs) - 1);
  }

  get streaming(): boolean {
    return this.onEvent !== undefined;
  }

  counters(conns: readonly LoadConnection[]): LoadCounters {
    let inFlight = 0;
    for (const c of conns) inFlight += c.inFlight;
    return { sent: this.sent, received: this.received, answered: this.answered, errors: this.errors, late: this.late, lost: this.lost, inFlight, retainedIntervals: this.intervals.size };
  }

  /**
   * Streaming: emits (and drops) every interval up to `upToIndex` that has not been
   * emitted yet, in order; an interval without replies is emitted empty.
   */
  emitIntervals(upToIndex: number, conns: readonly LoadConnection[]): void {
    const emit = this.onEvent;
    if (emit === undefined) return;
    const last = Math.min(upToIndex, this.lastIndex);
    while (this.nextEmitIndex <= last) {
      const index = this.nextEmitIndex++;
      const h = this.intervals.get(index) ?? createLatencyHistogram();
      this.intervals.delete(index);
      emit({ kind: 'interval', index, histogram: encodeHistogram(h), counters: this.counters(conns) });
    }
  }

  /**
   * Streaming: the intervals complete at `nowNs`, i.e. those ending at or before the
   * earliest intended time that may still be recorded: the oldest request in flight,
   * an open-loop send not yet made, and `nowNs` itself (closed loop sends at now).
   * Returns the highest complete index (-1 when none).
   */
  completeUpTo(nowNs: number, conns: readonly LoadConnection[]): number {
    let frontier = Math.min(nowNs, this.measureEndNs);
    for (const c of conns) {
      if (c.dead) continue;
      const oldest = c.oldestIntendedNs();
      if (oldest !== undefined && oldest < frontier) frontier = oldest;
      if (this.plan.loop === 'open') {
        const due = c.nextDueNs();
        if (due < this.measureEndNs && due < frontier) frontier = due;
      }
    }
    if (frontier >= this.measureEndNs) return this.lastIndex;
    return Math.floor((frontier - this.measureStartNs) / this.intervalNs) - 1;
  }

  error(text: string): void {
    this.errors++;
    if (this.errorSamples.length < MAX_ERROR_SAMPLES && !this.errorSamples.includes(text)) this.errorSamples.push(text);
  }

  fail(text: string): void {
    this.failure ??= text;
  }

  measured(intendedNs: number): boolean {
    return intendedNs >= this.measureStartNs && intendedNs < this.measureEndNs;
  }

  record(intendedNs: number, sentNs: number, nowNs: number): void {
    recordLatencyNs(this.corrected, nowNs - intendedNs);
    if (this.uncorrected !== undefined) recordLatencyNs(this.uncorrected, nowNs - sentNs);
    const index = Math.floor((intendedNs - this.measureStartNs) / this.intervalNs);
    let h = this.intervals.get(index);
    if (h === undefined) {
      h = createLatencyHistogram();
      this.intervals.set(index, h);
    }
    recordLatencyNs(h, nowNs - intendedNs);
  }
}

/** One connection's in-flight window: a ring of (seq, intended, sent) triples. */
class LoadConnection {
  private readonly seqs: Float64Array;
  private readonly intended: Float64Array;
  private readonly sentAt: Float64Array;
  private head = 0;
  private count = 0;
  private nextSeq = 0;
  /** Open loop: index of the next scheduled send. */
  private nextTick = 0;
  replies = 0;
  dead = false;
  private readonly decoder: FrameDecoder;
  private corked = false;
  /** Frames built before the clock started (`request.presign`), released as they are sent. */
  private readonly presigned: Buffer[] | undefined;

  constructor(
    readonly index: number,
    private readonly socket: net.Socket,
    private readonly factory: RequestFactory,
    private readonly state: GroupState,
    private readonly now: () => number,
    private readonly periodNs: number,
    private readonly phaseNs: number,
  ) {
    const cap = state.plan.depth;
    this.seqs = new Float64Array(cap);
    this.intended = new Float64Array(cap);
    this.sentAt = new Float64Array(cap);
    this.decoder = createFrameDecoder({ ...factory.framing, maxFrameBytes: Math.max(factory.framing.maxFrameBytes, 64 * 1024 * 1024) });
    const n = state.plan.request.presign;
    this.presigned = n > 0 ? Array.from({ length: n }, (_, seq) => factory.build(seq)) : undefined;
  }

  get inFlight(): number {
    return this.count;
  }

  oldestSentNs(): number | undefined {
    return this.count === 0 ? undefined : this.sentAt[this.head];
  }

  /** Intended send time of the oldest request in flight. */
  oldestIntendedNs(): number | undefined {
    return this.count === 0 ? undefined : this.intended[this.head];
  }

  /** Intended time of the next open-loop send. */
  nextDueNs(): number {
    return this.state.plan.startAtNs + this.phaseNs + this.nextTick * this.periodNs;
  }

  send(intendedNs: number, closedLoop: boolean): void {
    const seq = this.nextSeq++;
    const pre = this.presigned;
    const frame = pre !== undefined && seq < pre.length ? (pre[seq] as Buffer) : this.factory.build(seq);
    if (pre !== undefined && seq < pre.length) pre[seq] = EMPTY;
    const depth = this.state.plan.depth;
    const slot = (this.head + this.count) % depth;
    this.seqs[slot] = seq;
    this.intended[slot] = intendedNs;
    this.count++;
    if (!this.corked && this.count > 1) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    // Stamp right before the write so request building is not part of the round trip;
    // in closed loop the intended time is the send time.
    const sentNs = this.now();
    this.sentAt[slot] = sentNs;
    if (closedLoop) this.intended[slot] = sentNs;
    this.socket.write(frame);
    if (this.state.measured(this.intended[slot] as number)) this.state.sent++;
  }

  /** Closed loop: fill the window while the measured phase lasts. */
  fillClosed(): void {
    while (!this.dead && this.count < this.state.plan.depth) {
      const t = this.now();
      if (t < this.state.plan.startAtNs || t >= this.state.measureEndNs) return;
      this.send(t, true);
    }
  }

  /** Open loop: send every request whose intended time has come, as far as the window allows. */
  sendDue(nowNs: number): void {
    while (!this.dead) {
      const due = this.nextDueNs();
      if (due > nowNs || due >= this.state.measureEndNs) return;
      if (this.count >= this.state.plan.depth) return;
      this.nextTick++;
      if (nowNs - due > this.state.plan.lateThresholdUs * 1_000 && this.state.measured(due)) this.state.late++;
      this.send(due, false);
    }
  }

  /** Open loop: intended sends of the measured phase that never left (window full until the end). */
  unsentScheduled(): number {
    let n = 0;
    for (let k = this.nextTick; ; k++) {
      const due = this.state.plan.startAtNs + this.phaseNs + k * this.periodNs;
      if (due >= this.state.measureEndNs) break;
      if (due >= this.state.measureStartNs) n++;
    }
    return n;
  }

  onData(chunk: Buffer): void {
    const nowNs = this.now();
    for (const ev of this.decoder.push(chunk)) {
      if (this.count === 0) {
        this.state.error('reply without a request in flight');
        continue;
      }
      const slot = this.head;
      this.head = (this.head + 1) % this.state.plan.depth;
      this.count--;
      const intendedNs = this.intended[slot] as number;
      const measured = this.state.measured(intendedNs);
      if (ev.type !== 'frame') {
        this.state.error(`unreadable reply frame: ${ev.message}`);
        continue;
      }
      const problem = this.factory.check(ev.body, this.seqs[slot] as number);
      if (problem !== undefined) {
        this.state.error(problem);
        continue;
      }
      this.state.answered++;
      if (measured) {
        this.replies++;
        this.state.received++;
        this.state.record(intendedNs, this.sentAt[slot] as number, nowNs);
      }
    }
  }

  /** Stops the connection, counting what it still owed as unanswered. */
  kill(reason: string | undefined): void {
    if (this.dead) return;
    this.dead = true;
    if (reason !== undefined) this.state.fail(reason);
    // Warm-up requests too: a request left without a reply is a failure whenever it was sent.
    this.state.unanswered += this.count;
    this.state.lost += this.count;
    this.count = 0;
    this.socket.destroy();
  }
}

/** Receives the bytes of a connection (set once the connection's engine exists). */
type ChunkSink = (chunk: Buffer) => void;

/**
 * Connects with Node's `onread` option: replies land in one reused buffer and reach
 * `sink` without the readable-stream machinery ('data' events), which is a large part
 * of a Node round trip. Each chunk is copied out, since the decoder may keep part of it.
 */
function connect(socketPath: string, timeoutMs: number, sinkRef: { sink: ChunkSink | undefined }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      path: socketPath,
      onread: {
        buffer: Buffer.allocUnsafe(256 * 1024),
        callback: (nread: number, buf: Uint8Array): boolean => {
          sinkRef.sink?.(Buffer.from(buf.subarray(0, nread)));
          return true;
        },
      },
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection to ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${socketPath}: ${err.message}`));
    });
  });
}

/**
 * Runs one load group to completion in this thread. Never throws for target misbehaviour: it is reported.
 * With `plan.streamIntervals`, `onEvent` receives each interval histogram as soon as it
 * is complete (which is then dropped: the result's `intervals` is empty) and the
 * counters every `plan.progressMs`.
 */
export async function runLoadGroup(plan: LoadPlan, onEvent?: (event: LoadGroupEvent) => void): Promise<LoadGroupResult> {
  const origin = BigInt(plan.originNs);
  const now = (): number => Number(process.hrtime.bigint() - origin);
  const state = new GroupState(plan, plan.streamIntervals ? (onEvent ?? (() => {})) : undefined);
  const conns: LoadConnection[] = [];
  const sockets: net.Socket[] = [];
  const sinks: { sink: ChunkSink | undefined }[] = [];
  let signalBytes = 0;
  try {
    for (let i = 0; i < plan.connections; i++) {
      const index = plan.firstConnection + i;
      const factory = await createRequestFactory(plan.request, index);
      signalBytes = factory.signalBytes;
      let socket: net.Socket;
      const sinkRef: { sink: ChunkSink | undefined } = { sink: undefined };
      try {
        socket = await connect(plan.socketPath, plan.replyTimeoutMs, sinkRef);
      } catch (err) {
        state.error(err instanceof Error ? err.message : String(err));
        state.fail(`connection ${index}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      sockets.push(socket);
      const periodNs = plan.loop === 'open' ? (1e9 * plan.totalConnections) / (plan.ratePerSec ?? 1) : 0;
      const phaseNs = plan.loop === 'open' ? (1e9 * index) / (plan.ratePerSec ?? 1) : 0;
      const conn = new LoadConnection(index, socket, factory, state, now, periodNs, phaseNs);
      conns.push(conn);
      sinks.push(sinkRef);
    }
    if (conns.length === 0) return finish(state, conns, signalBytes, now());
    await drive(plan, state, conns, sockets, sinks, now);
    return finish(state, conns, signalBytes, now());
  } finally {
    for (const s of sockets) s.destroy();
  }
}

function drive(
  plan: LoadPlan,
  state: GroupState,
  conns: LoadConnection[],
  sockets: net.Socket[],
  sinks: { sink: ChunkSink | undefined }[],
  now: () => number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const live = (): LoadConnection[] => conns.filter((c) => !c.dead);
    // Called after every reply chunk: no allocation, and the clock is read only once the window is drained.
    const finishIfDone = (): void => {
      if (done) return;
      let alive = 0;
      let inFlight = 0;
      for (const c of conns) {
        if (c.dead) continue;
        alive++;
        inFlight += c.inFlight;
      }
      if (alive === 0 || (inFlight === 0 && now() >= state.measureEndNs)) {
        done = true;
        clearInterval(watchdog);
        if (timer !== undefined) clearTimeout(timer);
        if (immediate !== undefined) clearImmediate(immediate);
        resolve();
      }
    };
    conns.forEach((c, i) => {
      const socket = sockets[i] as net.Socket;
      (sinks[i] as { sink: ChunkSink | undefined }).sink = (chunk: Buffer) => {
        c.onData(chunk);
        if (plan.loop === 'closed') c.fillClosed();
        else c.sendDue(now());
        finishIfDone();
      };
      socket.on('error', (err) => {
        state.error(`socket error on connection ${c.index}: ${err.message}`);
        c.kill(`connection ${c.index}: ${err.message}`);
        finishIfDone();
      });
      socket.on('close', () => {
        if (!c.dead && (c.inFlight > 0 || now() < state.measureEndNs)) {
          c.kill(`connection ${c.index} was closed by the target with ${c.inFlight} request(s) unanswered`);
        }
        finishIfDone();
      });
    });
    let lastCountersNs = now();
    const watchdog = setInterval(() => {
      const t = now();
      for (const c of live()) {
        const oldest = c.oldestSentNs();
        if (oldest !== undefined && t - oldest > plan.replyTimeoutMs * 1e6) {
          c.kill(`the target stopped answering: no reply within ${plan.replyTimeoutMs} ms on connection ${c.index} (${c.inFlight} request(s) outstanding)`);
        }
      }
      if (plan.loop === 'closed') for (const c of live()) if (c.inFlight === 0) c.fillClosed();
      if (state.onEvent !== undefined) {
        state.emitIntervals(state.completeUpTo(now(), conns), conns);
        if (t - lastCountersNs >= plan.progressMs * 1e6) {
          lastCountersNs = t;
          state.onEvent({ kind: 'counters', counters: state.counters(conns) });
        }
      }
      finishIfDone();
    }, WATCHDOG_MS);
    const startDelayMs = Math.max(0, (plan.startAtNs - now()) / 1e6);
    const begin = (): void => {
      // Timers may fire a little early against the hrtime clock.
      if (now() < plan.startAtNs) {
        setTimeout(begin, 1);
        return;
      }
      if (now() > state.measureStartNs + SETUP_OVERRUN_TOLERANCE_NS) {
        // Setup (e.g. --presign) ran into the measured phase: its figures would be short.
        state.fail(`setup took until ${((now() - plan.startAtNs) / 1e6).toFixed(0)} ms after the planned start, past the warm-up; raise --warmup (or lower --presign)`);
      }
      if (plan.loop === 'closed') {
        for (const c of conns) c.fillClosed();
        finishIfDone();
        return;
      }
      const tick = (): void => {
        timer = undefined;
        immediate = undefined;
        if (done) return;
        const t = now();
        let nextDue = Infinity;
        for (const c of conns) {
          if (c.dead) continue;
          c.sendDue(t);
          const due = c.nextDueNs();
          if (due < state.measureEndNs && c.inFlight < plan.depth) nextDue = Math.min(nextDue, due);
          else if (due < state.measureEndNs) nextDue = Math.min(nextDue, t + 50_000);
        }
        finishIfDone();
        if (done || nextDue === Infinity) {
          if (!done && now() < state.measureEndNs) timer = setTimeout(tick, 1);
          return;
        }
        const wait = nextDue - now();
        if (wait > SPIN_WINDOW_NS) timer = setTimeout(tick, Math.max(0, (wait - SPIN_WINDOW_NS) / 1e6));
        else immediate = setImmediate(tick);
      };
      tick();
    };
    setTimeout(begin, startDelayMs);
  });
}

function finish(state: GroupState, conns: readonly LoadConnection[], signalBytes: number, nowNs: number): LoadGroupResult {
  let unsent = 0;
  if (state.plan.loop === 'open') for (const c of conns) unsent += c.unsentScheduled();
  state.unanswered += unsent;
  // Streaming: every interval that began before the group stopped (all of them after a full run).
  if (state.streaming) state.emitIntervals(Math.ceil((Math.min(nowNs, state.measureEndNs) - state.measureStartNs) / state.intervalNs) - 1, conns);
  const perConnection = Array.from({ length: state.plan.connections }, (_, i) => conns.find((c) => c.index === state.plan.firstConnection + i)?.replies ?? 0);
  return {
    histogram: encodeHistogram(state.corrected),
    uncorrectedHistogram: state.uncorrected === undefined ? undefined : encodeHistogram(state.uncorrected),
    intervals: [...state.intervals.entries()].sort((a, b) => a[0] - b[0]).map(([index, h]) => ({ index, histogram: encodeHistogram(h) })),
    sent: state.sent,
    received: state.received,
    errors: state.errors,
    errorSamples: state.errorSamples,
    late: state.late,
    unanswered: state.unanswered,
    perConnection,
    failure: state.failure,
    signalBytes,
    lost: state.lost,
    unsent,
  };
}
