import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fpError } from '../protocol/index.js';
import type { ModeInfo } from './case.js';
import { specDialect } from './dialect.js';
import { startTarget, waitForSocket, type RunningTarget } from './launcher.js';
import type { ResolvedTarget } from './targets.js';
import { openWireConnection } from './wire-connection.js';
import { seededRandom } from '../ring/test-records.js';
import { WireLog } from './wire-log.js';

/**
 * The crash-recovery driver behind `fastpath crash` (issue: zero data loss under
 * kill -9). A producer process sends a numbered stream of docs/SPEC.md §11 MESSAGEs
 * through a failover client (socket first, durable queue when the server is away)
 * while this driver kill -9s the target at random points and restarts it, and in some
 * cycles kill -9s the producer itself mid-send and restarts it on the same queue file.
 * At the end the producer drains its queue and the driver reads the target's ledger
 * (§11: LEDGER requests, or the ledger file the target appends to) and checks that
 * every message the producer saw acknowledged (delivered or durably queued) was
 * applied, and that none was applied twice.
 *
 * The harness does not import the reference implementation: the producer is a
 * separate program (the CLI passes `dist/cli/crash-producer.js`) speaking the line
 * protocol documented there.
 */

/** How to start the producer process; its JSON configuration is appended as the last argument. */
export interface ProducerCommand {
  readonly command: string;
  readonly args: readonly string[];
}

export interface CrashOptions {
  readonly target: ResolvedTarget;
  readonly mode: ModeInfo;
  readonly producer: ProducerCommand;
  /** Kill-and-restart cycles. */
  readonly cycles: number;
  readonly seed: number;
  /** The producer's queue durability. */
  readonly synchronous: 'full' | 'normal';
  /** Messages per second the producer offers. */
  readonly ratePerSec: number;
  /** Share of cycles that kill the producer instead of the target (0–1). */
  readonly producerKillShare: number;
  /** The producer's reply timeout: a slower reply sends the message to the queue. */
  readonly replyTimeoutMs: number;
  /** Directory for the producer's queue file (the caller removes it). */
  readonly workDir: string;
  /** Time the final drain may take. */
  readonly drainTimeoutMs: number;
  /** Progress lines (one per cycle). */
  readonly onProgress?: ((line: string) => void) | undefined;
}

/** One kill-and-restart. */
export interface CrashCycle {
  readonly cycle: number;
  readonly killed: 'target' | 'producer';
  /** Time the victim was down (kill → ready again), ms. */
  readonly downMs: number;
  /** Target cycles: from the restarted target accepting connections to the producer's first delivery after it, ms. */
  readonly recoveryMs: number | undefined;
}

/** Result of a crash run; `lost > 0` or `duplicatesApplied > 0` is a failure. */
export interface CrashResult {
  /** Acknowledged messages (delivered or queued) that are neither in the ledger nor still queued. */
  readonly lost: number;
  /** Message ids the ledger holds more than once. */
  readonly duplicatesApplied: number;
  /** Deliveries the server answered `duplicate: true`: applied before, redelivered, not applied again. */
  readonly redelivered: number;
  /** Acknowledged messages still in the producer's queue after the final drain. */
  readonly queued: number;
  readonly recoveryP50Ms: number | undefined;
  readonly recoveryP99Ms: number | undefined;
  readonly cycles: number;
  readonly targetKills: number;
  readonly producerKills: number;
  /** Messages sent (highest sequence number + 1). */
  readonly sent: number;
  readonly acknowledged: number;
  readonly deliveredDirect: number;
  readonly acknowledgedQueued: number;
  /** Acknowledged ids missing from the ledger (first 20). */
  readonly lostIds: readonly string[];
  readonly duplicateIds: readonly string[];
  readonly rejected: number;
  readonly deadLettered: number;
  readonly ledgerEntries: number;
  readonly synchronous: 'full' | 'normal';
  readonly seed: number;
  readonly durationMs: number;
  readonly perCycle: readonly CrashCycle[];
  readonly passed: boolean;
}

/** Nearest-rank percentile of `values` (undefined when empty). */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const wallMs = (): number => performance.timeOrigin + performance.now();
const round3 = (v: number | undefined): number | undefined => (v === undefined ? undefined : Math.round(v * 1000) / 1000);

/** What the producer processes reported, across restarts. */
class Ledgerbook {
  /** seq → how it was acknowledged ('d' | 'u' | 'q'). */
  readonly acked = new Map<number, string>();
  /** Wall-clock times of deliveries (direct or drained). */
  readonly deliveries: number[] = [];
  redelivered = 0;
  rejected = 0;
  deadLettered = 0;
  maxSeq = -1;
  stillQueued: string[] = [];
  summaries = 0;

  onLine(line: string): void {
    const [kind, a, b, c] = line.split(' ');
    const seq = Number(a);
    switch (kind) {
      case 'A': {
        this.acked.set(seq, b!);
        if (seq > this.maxSeq) this.maxSeq = seq;
        if (b === 'u') this.redelivered++;
        if (b !== 'q') this.deliveries.push(Number(c));
        break;
      }
      case 'D':
        if (b === '1') this.redelivered++;
        this.deliveries.push(Number(c));
        break;
      case 'J':
        this.rejected++;
        if (seq > this.maxSeq) this.maxSeq = seq;
        break;
      case 'X':
        this.deadLettered++;
        break;
      case 'E':
        if (seq > this.maxSeq) this.maxSeq = seq;
        break;
      case 'S': {
        const summary = JSON.parse(line.slice(2)) as { stillQueued: string[] };
        this.stillQueued = summary.stillQueued;
        this.summaries++;
        break;
      }
      default:
        break;
    }
  }

  /** First delivery at or after `sinceMs` (wall clock). */
  firstDeliveryAfter(sinceMs: number): number | undefined {
    let best: number | undefined;
    for (let i = this.deliveries.length - 1; i >= 0; i--) {
      const t = this.deliveries[i]!;
      if (t < sinceMs) break;
      best = t;
    }
    return best;
  }
}

/** One producer process. */
class ProducerProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stderr = '';
  readonly ready: Promise<void>;

  constructor(cmd: ProducerCommand, config: Record<string, unknown>, secret: string, book: Ledgerbook) {
    this.child = spawn(cmd.command, [...cmd.args, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, FASTPATH_SECRET: secret },
    });
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString('utf8')).slice(-4_000);
    });
    this.child.stdin!.on('error', () => undefined);
    const rl = createInterface({ input: this.child.stdout! });
    let markReady: () => void;
    let failReady: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => undefined);
    rl.on('line', (line) => {
      if (line.startsWith('READY')) markReady();
      else book.onLine(line);
    });
    this.exited.then(() => failReady(fpError('FP_TARGET_START_FAILED', `the crash producer exited before it was ready: ${this.stderr.trim() || '(no stderr)'}`)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  kill(): Promise<void> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Asks it to stop and drain; resolves when it exited (its S line has been read). */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.child.stdin!.end(`stop ${drainTimeoutMs}\n`);
    const t = setTimeout(() => this.child.kill('SIGKILL'), drainTimeoutMs + 10_000);
    await this.exited;
    clearTimeout(t);
  }

  get stderrTail(): string {
    return this.stderr;
  }
}

/** Reads the target's ledger: every entry, in order. */
async function readLedger(target: ResolvedTarget, running: RunningTarget, mode: ModeInfo): Promise<string[]> {
  const ledger = target.capabilities.ledger;
  if (typeof ledger === 'object') {
    const path = ledger.file.replaceAll('{dir}', running.dir ?? '');
    const text = await readFile(path, 'utf8');
    const lines = text.split('\n');
    lines.pop(); // the part after the last newline is a torn entry (or empty)
    return lines;
  }
  const conn = await openWireConnection({
    socketPath: running.socketPath,
    mode,
    dialect: specDialect,
    log: new WireLog(),
    connId: 1,
    defaultReadTimeoutMs: 10_000,
  });
  try {
    const entries: string[] = [];
    let from = 0;
    for (;;) {
      const ev = await conn.request({ type: 'LEDGER', from, limit: 10_000 });
      if (ev.type !== 'reply' || ev.reply.kind !== 'accepted') {
        const what = ev.type === 'reply' ? JSON.stringify(ev.reply) : ev.type;
        throw fpError('FP_TARGET_UNREACHABLE', `LEDGER from ${from} was not answered with a ledger (§11): ${what.slice(0, 300)}`);
      }
      const body = ev.reply.fields.ledger as { entries?: unknown; next?: unknown } | undefined;
      if (body === undefined || !Array.isArray(body.entries)) throw fpError('FP_TARGET_UNREACHABLE', `LEDGER reply without ledger.entries (§11)`);
      for (const e of body.entries) entries.push(String(e));
      if (typeof body.next !== 'number') return entries;
      from = body.next;
    }
  } finally {
    conn.destroy();
  }
}

/** Polls the socket every 2 ms until it accepts; resolves with the wall-clock time it did. */
async function waitAccepting(socketPath: string, timeoutMs: number): Promise<number | undefined> {
  return (await waitForSocket(socketPath, timeoutMs, 2)) ? wallMs() : undefined;
}

/**
 * Checks that `target` can be crash-tested.
 * @throws FastPathError FP_USAGE naming what is missing.
 */
export function checkCrashTarget(target: ResolvedTarget): void {
  const caps = target.capabilities;
  const missing: string[] = [];
  if (target.spawn === undefined || caps.lifecycle !== true) missing.push('"lifecycle": true and a "spawn" section (the driver kills and restarts it)');
  if (caps.ledger === undefined || caps.ledger === false) missing.push('"ledger" (MESSAGE and LEDGER of docs/SPEC.md §11, or a ledger file)');
  if (missing.length > 0) throw fpError('FP_USAGE', `target "${target.name}" cannot be crash-tested: declare ${missing.join(' and ')}`);
  if (target.dialect !== specDialect) {
    throw fpError('FP_USAGE', `target "${target.name}" declares a dialect; the crash producer speaks spec vocabulary (§11 MESSAGE) only`);
  }
}

/**
 * Runs the crash cycles and the final check. The target is started here and stopped
 * at the end.
 */
export async function runCrash(opts: CrashOptions): Promise<CrashResult> {
  checkCrashTarget(opts.target);
  const startedMs = performance.now();
  const random = seededRandom(opts.seed);
  const runId = `c${opts.seed.toString(36)}${Date.now().toString(36)}`;
  const book = new Ledgerbook();
  const running = await startTarget(opts.target, opts.mode);
  const producers: ProducerProcess[] = [];
  const progress = opts.onProgress ?? (() => undefined);
  const config = (startSeq: number): Record<string, unknown> => ({
    socketPath: running.socketPath,
    framing: opts.mode.framingName,
    auth: opts.mode.auth,
    queuePath: `${opts.workDir}/producer-queue.db`,
    synchronous: opts.synchronous,
    runId,
    startSeq,
    ratePerSec: opts.ratePerSec,
    maxInFlight: 64,
    replyTimeoutMs: opts.replyTimeoutMs,
  });
  const startProducer = async (startSeq: number): Promise<ProducerProcess> => {
    const p = new ProducerProcess(opts.producer, config(startSeq), opts.mode.secret, book);
    producers.push(p);
    await p.ready;
    return p;
  };
  const perCycle: CrashCycle[] = [];
  try {
    let producer = await startProducer(0);
    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      await sleep(150 + random() * 350);
      if (random() < opts.producerKillShare) {
        const killedAt = performance.now();
        await producer.kill();
        await sleep(random() * 100);
        producer = await startProducer(book.maxSeq + 1);
        const downMs = performance.now() - killedAt;
        perCycle.push({ cycle, killed: 'producer', downMs: round3(downMs)!, recoveryMs: undefined });
        progress(`cycle ${cycle}/${opts.cycles}: killed the producer mid-send (sent up to #${book.maxSeq}), restarted in ${downMs.toFixed(0)} ms`);
        continue;
      }
      const killedAt = performance.now();
      running.signal('SIGKILL');
      await running.waitExit(5_000);
      await sleep(20 + random() * 280);
      const restarting = running.restart();
      restarting.catch(() => undefined);
      const readyAt = await waitAccepting(running.socketPath, 30_000);
      await restarting;
      const readyWall = readyAt ?? wallMs();
      const downMs = performance.now() - killedAt;
      // Recovery: the first delivery the producer completes after the target is back.
      let recoveryMs: number | undefined;
      const deadline = performance.now() + 10_000;
      while (performance.now() < deadline) {
        const first = book.firstDeliveryAfter(readyWall);
        if (first !== undefined) {
          recoveryMs = Math.max(0, first - readyWall);
          break;
        }
        await sleep(2);
      }
      perCycle.push({ cycle, killed: 'target', downMs: round3(downMs)!, recoveryMs: round3(recoveryMs) });
      progress(
        `cycle ${cycle}/${opts.cycles}: killed the target, down ${downMs.toFixed(0)} ms, ${recoveryMs === undefined ? 'no delivery within 10 s of its restart' : `first delivery ${recoveryMs.toFixed(1)} ms after it accepted again`}`,
      );
    }
    await producer.stop(opts.drainTimeoutMs);
    if (book.summaries === 0) {
      throw fpError('FP_TARGET_UNREACHABLE', `the crash producer ended without its summary: ${producer.stderrTail.trim() || '(no stderr)'}`);
    }
    const ledger = await readLedger(opts.target, running, opts.mode);
    return judge(opts, book, ledger, runId, perCycle, performance.now() - startedMs);
  } finally {
    for (const p of producers) await p.kill();
    await running.stop();
  }
}

function judge(opts: CrashOptions, book: Ledgerbook, ledger: readonly string[], runId: string, perCycle: readonly CrashCycle[], durationMs: number): CrashResult {
  const prefix = `${runId}-`;
  const applied = new Map<string, number>();
  for (const id of ledger) if (id.startsWith(prefix)) applied.set(id, (applied.get(id) ?? 0) + 1);
  const stillQueued = new Set(book.stillQueued.map((s) => `${prefix}${s}`));
  const lostIds: string[] = [];
  let queued = 0;
  let acknowledgedQueued = 0;
  let deliveredDirect = 0;
  for (const [seq, how] of book.acked) {
    const id = `${prefix}${seq}`;
    if (how === 'q') acknowledgedQueued++;
    else deliveredDirect++;
    if (applied.has(id)) continue;
    if (stillQueued.has(id)) queued++;
    else lostIds.push(id);
  }
  const duplicateIds = [...applied].filter(([, n]) => n > 1).map(([id]) => id);
  const recoveries = perCycle.map((c) => c.recoveryMs).filter((v): v is number => v !== undefined);
  return {
    lost: lostIds.length,
    duplicatesApplied: duplicateIds.length,
    redelivered: book.redelivered,
    queued,
    recoveryP50Ms: round3(percentile(recoveries, 50)),
    recoveryP99Ms: round3(percentile(recoveries, 99)),
    cycles: perCycle.length,
    targetKills: perCycle.filter((c) => c.killed === 'target').length,
    producerKills: perCycle.filter((c) => c.killed === 'producer').length,
    sent: book.maxSeq + 1,
    acknowledged: book.acked.size,
    deliveredDirect,
    acknowledgedQueued,
    lostIds: lostIds.slice(0, 20),
    duplicateIds: duplicateIds.slice(0, 20),
    rejected: book.rejected,
    deadLettered: book.deadLettered,
    ledgerEntries: [...applied.values()].reduce((a, b) => a + b, 0),
    synchronous: opts.synchronous,
    seed: opts.seed,
    durationMs: Math.round(durationMs),
    perCycle,
    passed: lostIds.length === 0 && duplicateIds.length === 0,
  };
}
