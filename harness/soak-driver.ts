import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LatencySummary } from './bench-result.js';
import type { ModeInfo } from './case.js';
import { intervalLogHeader, intervalLogLine } from './interval-log.js';
import { summarizeLatency, toHgrm } from './latency-histogram.js';
import { SpawnedTarget, startTarget, type RunningTarget } from './launcher.js';
import type { LoadCounters } from './load-group.js';
import type { DialectRef, RequestRecipe } from './load-plan.js';
import { runLoad, type LoadSchedule, type StreamedInterval } from './load-runner.js';
import type { SoakProgress } from './soak-progress.js';
import { SoakSampler, PROC_TICKS_PER_SEC, type SoakSample } from './soak-sampler.js';
import { fdTrend, p99Drift, rssTrend, type FdTrend, type LatencyDrift, type RssTrend } from './soak-trend.js';
import { soakChecks, soakVerdict, type SoakCheck, type SoakThresholds, type SoakVerdict } from './soak-verdict.js';
import type { ResolvedTarget } from './targets.js';

/**
 * `fastpath soak` as a programmatic API: constant-rate (open-loop) load on a target
 * for as long as asked, in constant memory. The load engine streams one histogram per
 * interval, which goes straight to the interval log (`soak.hlog`) and leaves only a
 * few numbers behind; the target is sampled every `sampleIntervalMs` (RSS, FDs,
 * sockets, CPU, STATUS) into `samples.jsonl`; at the end the trends after warm-up
 * give the verdict (soak-trend.ts, soak-verdict.ts). The result is data; printing
 * and the HTML are the caller's.
 */

/** Options of {@link runSoak}. */
export interface SoakOptions {
  readonly target: ResolvedTarget;
  readonly mode: ModeInfo;
  /** Where the target's dialect comes from (re-loaded inside worker threads). */
  readonly dialect: DialectRef;
  /** Offered rate over all connections, requests per second. */
  readonly ratePerSec: number;
  /** Measured time (after warm-up). */
  readonly durationMs: number;
  /** Warm-up: load is offered but neither latency nor trends count it. */
  readonly warmupMs: number;
  readonly connections: number;
  /** Most requests outstanding per connection. */
  readonly depth: number;
  /** Worker threads generating the load; 0 runs it on this thread. */
  readonly threads: number;
  /** Size of each signal (padded PREPARE). */
  readonly signalBytes: number;
  /** Length of each interval histogram. */
  readonly intervalMs: number;
  /** Time between two samples of the target. */
  readonly sampleIntervalMs: number;
  readonly replyTimeoutMs: number;
  readonly lateThresholdUs: number;
  readonly thresholds: SoakThresholds;
  /** Directory for `soak.hlog`, `samples.jsonl` and `soak.hgrm` (created); undefined writes nothing. */
  readonly outputDir: string | undefined;
}

/** Receivers of what happens while a soak runs; all optional. */
export interface SoakHooks {
  /** The target runs (command line or socket, pid). */
  readonly onStarted?: ((info: { readonly description: string; readonly pid: number | undefined }) => void) | undefined;
  /** About once a second: the live figures. */
  readonly onProgress?: ((progress: SoakProgress) => void) | undefined;
  /** After every sample of the target, with the live figures. */
  readonly onSample?: ((sample: SoakSample, progress: SoakProgress) => void) | undefined;
}

/** A few numbers per interval: all a soak keeps of an interval histogram once it is in the log. */
export interface SoakIntervalPoint {
  readonly index: number;
  /** ms after the start of the measured phase. */
  readonly startMs: number;
  readonly durationMs: number;
  readonly count: number;
  readonly throughputPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** Files of a soak, relative to its output directory. */
export interface SoakFiles {
  /** HdrHistogram interval log: one corrected histogram per interval (ns). */
  readonly intervalLog: string;
  /** One JSON sample of the target per line. */
  readonly samples: string;
  /** Percentile distribution of the whole measured phase (µs). */
  readonly hgrm: string;
}

/** What a soak measured and concluded. JSON-ready (`null` for what was not measured). */
export interface SoakResult {
  readonly verdict: SoakVerdict;
  /** Good replies in the measured phase. */
  readonly ops: number;
  readonly opsPerSec: number;
  readonly rssGrowthPct: number | null;
  readonly fdGrowth: number | null;
  readonly errors: number;
  /** Requests sent whose reply never came (checked by sequence number). */
  readonly lost: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** The detail of every failed check. */
  readonly reasons: readonly string[];
  readonly checks: readonly SoakCheck[];
  readonly target: { readonly name: string; readonly source: string; readonly mode: string; readonly description: string; readonly pid: number | null };
  readonly config: {
    readonly ratePerSec: number;
    readonly durationMs: number;
    readonly warmupMs: number;
    readonly connections: number;
    readonly depth: number;
    readonly threads: number;
    readonly signalBytes: number;
    readonly intervalMs: number;
    readonly sampleIntervalMs: number;
    readonly replyTimeoutMs: number;
  };
  readonly thresholds: SoakThresholds;
  /** Corrected latency (from the intended send time) of the measured phase. */
  readonly latency: LatencySummary;
  readonly uncorrectedLatency: LatencySummary | null;
  /** Measured requests sent. */
  readonly sent: number;
  /** Sends later than intended by more than the late threshold. */
  readonly late: number;
  /** Scheduled requests that never left (the target fell behind). */
  readonly unsent: number;
  readonly errorSamples: readonly string[];
  /** Why the load stopped early, if it did. */
  readonly failure: string | null;
  readonly targetDeath: string | null;
  readonly rss: RssTrend | null;
  readonly fds: FdTrend | null;
  readonly p99Drift: LatencyDrift | null;
  /** Mean CPU of the target over the measured phase, percent of one core. */
  readonly targetCpuPct: number | null;
  /** Mean CPU of this process (all its threads: the load generator) over the measured phase. */
  readonly generatorCpuPct: number | null;
  /** RSS of this process at the first sample after warm-up and at the end: constant memory shows here. */
  readonly generatorRssStartBytes: number | null;
  readonly generatorRssEndBytes: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Wall-clock start of the measured phase; time zero of the interval log and of `tMs`. */
  readonly measureStartEpochMs: number;
  readonly intervals: readonly SoakIntervalPoint[];
  readonly samples: readonly SoakSample[];
  readonly files: SoakFiles | null;
}

/** File names inside the output directory. */
export const SOAK_FILES: SoakFiles = Object.freeze({ intervalLog: 'soak.hlog', samples: 'samples.jsonl', hgrm: 'soak.hgrm' });

/** Window of the live rate. */
const LIVE_RATE_WINDOW_MS = 5_000;
/** Fewest ms between two progress reports. */
const PROGRESS_EVERY_MS = 1_000;

/** A text file appended to in order while the run goes on. */
class AppendFile {
  private readonly stream: WriteStream;
  private failure: Error | undefined;
  private closed: Promise<void> | undefined;

  constructor(path: string) {
    this.stream = createWriteStream(path, { flags: 'w' });
    this.stream.on('error', (err) => {
      this.failure ??= err;
    });
  }

  write(text: string): void {
    if (this.failure === undefined && this.closed === undefined) this.stream.write(text);
  }

  /** Flushes and closes (once; later calls wait for the same close). @throws the first write error. */
  async close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => this.stream.end(() => resolve()));
    await this.closed;
    if (this.failure !== undefined) throw this.failure;
  }
}

/** How a spawned target died, from the launcher's exit record. */
function describeDeath(running: RunningTarget, tMs: number): string {
  const exit = running instanceof SpawnedTarget ? running.exit : undefined;
  const how = exit === undefined ? 'the process is gone' : exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
  return `${how} (noticed ${(tMs / 1_000).toFixed(0)} s into the measured phase)`;
}

/** Runs the sampler on the schedule `measureStart + k × sampleIntervalMs`, k from the warm-up to just before the end. */
class SampleSchedule {
  /** The next sample to take. */
  private k: number;
  private lastK: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private ended = false;
  private error: unknown;
  private resolveEnd: () => void = () => {};
  private readonly endPromise: Promise<void>;

  constructor(
    private readonly schedule: LoadSchedule,
    private readonly sampleIntervalMs: number,
    durationMs: number,
    private readonly take: (tMs: number) => Promise<void>,
  ) {
    this.k = Math.ceil((Date.now() - schedule.measureStartEpochMs) / sampleIntervalMs);
    // The last sample falls inside the measured phase, while the load still runs (at its very end the load's connections close).
    this.lastK = Math.ceil(durationMs / sampleIntervalMs) - 1;
    this.endPromise = new Promise((res) => (this.resolveEnd = res));
    this.next();
  }

  private end(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.ended = true;
    this.resolveEnd();
  }

  private next(): void {
    // Samples missed (a slow STATUS) are skipped, not taken in a burst.
    this.k = Math.max(this.k, Math.ceil((Date.now() - this.schedule.measureStartEpochMs) / this.sampleIntervalMs));
    if (this.ended || this.k > this.lastK) {
      this.end();
      return;
    }
    const at = this.schedule.measureStartEpochMs + this.k * this.sampleIntervalMs;
    this.timer = setTimeout(() => {
      const tMs = this.k * this.sampleIntervalMs;
      this.k++;
      this.running = this.take(tMs).then(
        () => this.next(),
        (err: unknown) => {
          this.error ??= err;
          this.next();
        },
      );
    }, Math.max(0, at - Date.now()));
  }

  /**
   * Takes no sample scheduled after `tMs`; resolves once the samples due up to then
   * are taken. @throws the first error a sample threw.
   */
  async stopAfter(tMs: number): Promise<void> {
    this.lastK = Math.min(this.lastK, Math.floor(tMs / this.sampleIntervalMs));
    if (this.k > this.lastK) {
      // The pending timer is for a sample past the end: cancel it, let the one under way finish.
      if (this.timer !== undefined) clearTimeout(this.timer);
      await this.running;
      this.end();
    }
    await this.endPromise;
    if (this.error !== undefined) throw this.error;
  }
}

/**
 * Runs a soak: starts (or reaches) the target, offers `ratePerSec` for warm-up plus
 * duration, samples the target, and returns the verdict with everything behind it.
 * Stops the target it started, whatever happens.
 * @throws FastPathError when the target cannot be started or reached.
 */
export async function runSoak(options: SoakOptions, hooks: SoakHooks = {}): Promise<SoakResult> {
  const startedAt = new Date();
  const o = options;
  const running = await startTarget(o.target, o.mode);
  const pid = running.pid ?? o.target.pid;
  hooks.onStarted?.({ description: running.description, pid });
  let hlog: AppendFile | undefined;
  let samplesFile: AppendFile | undefined;
  try {
    if (o.outputDir !== undefined) {
      await mkdir(o.outputDir, { recursive: true });
      hlog = new AppendFile(join(o.outputDir, SOAK_FILES.intervalLog));
      samplesFile = new AppendFile(join(o.outputDir, SOAK_FILES.samples));
    }
    const sampler = new SoakSampler({
      pid,
      alive: running.spawned ? () => running.alive : undefined,
      socketPath: running.socketPath,
      status: o.target.capabilities.status === true ? { mode: o.mode, dialect: o.target.dialect, timeoutMs: Math.min(2_000, Math.max(200, o.sampleIntervalMs / 2)) } : undefined,
    });

    const intervals: SoakIntervalPoint[] = [];
    const samples: SoakSample[] = [];
    let schedule: LoadSchedule | undefined;
    let counters: LoadCounters = { sent: 0, received: 0, answered: 0, errors: 0, late: 0, lost: 0, inFlight: 0, retainedIntervals: 0 };
    const recent: { atMs: number; answered: number }[] = [];
    let lastProgressMs = -Infinity;
    let targetDeath: string | undefined;
    let generatorCpuAtStart: { usage: NodeJS.CpuUsage; atMs: number } | undefined;
    let generatorCpuPct: number | undefined;
    let generatorRssStartBytes: number | undefined;

    const progress = (): SoakProgress => {
      const startEpoch = (schedule?.measureStartEpochMs ?? Date.now()) - o.warmupMs;
      const elapsedMs = Date.now() - startEpoch;
      const first = recent[0];
      const last = recent[recent.length - 1];
      const spanMs = first !== undefined && last !== undefined ? last.atMs - first.atMs : 0;
      const lastIv = intervals[intervals.length - 1];
      const lastSample = samples[samples.length - 1];
      return {
        phase: elapsedMs < o.warmupMs ? 'warm-up' : elapsedMs < o.warmupMs + o.durationMs ? 'measuring' : 'finishing',
        elapsedMs: Math.min(elapsedMs, o.warmupMs + o.durationMs),
        totalMs: o.warmupMs + o.durationMs,
        liveRatePerSec: spanMs >= 500 && first !== undefined && last !== undefined ? ((last.answered - first.answered) * 1_000) / spanMs : undefined,
        p50Us: lastIv?.p50Us,
        p99Us: lastIv?.p99Us,
        rssBytes: lastSample?.rssBytes,
        fds: lastSample?.fds,
        cpuPct: lastSample?.cpuPct,
        ops: counters.received,
        errors: counters.errors,
        lost: counters.lost,
      };
    };

    const takeSample = async (tMs: number): Promise<void> => {
      const s = await sampler.sample(tMs);
      samples.push(s);
      samplesFile?.write(`${JSON.stringify(s)}\n`);
      if (!s.alive && targetDeath === undefined) targetDeath = describeDeath(running, tMs);
      if (tMs >= 0) {
        const usage = process.cpuUsage();
        const atMs = performance.now();
        if (generatorCpuAtStart === undefined) {
          generatorCpuAtStart = { usage, atMs };
          generatorRssStartBytes = process.memoryUsage.rss();
        }
        else {
          const d = process.cpuUsage(generatorCpuAtStart.usage);
          generatorCpuPct = ((d.user + d.system) / 1_000 / (atMs - generatorCpuAtStart.atMs)) * 100;
        }
      }
      hooks.onSample?.(s, progress());
    };

    let sampling: SampleSchedule | undefined;
    const runId = randomBytes(3).toString('hex');
    const recipe: RequestRecipe = {
      framing: o.mode.framingName,
      maxFrameBytes: Math.max(o.mode.framing.maxFrameBytes, o.signalBytes * 2 + 4_096),
      auth: o.mode.auth,
      secret: o.mode.secret,
      signalBytes: o.signalBytes,
      dialect: o.dialect,
      replyCheck: 'dialect',
      idPrefix: `k${runId}c`,
      presign: 0,
    };
    const outcome = await runLoad(
      {
        socketPath: running.socketPath,
        loop: 'open',
        connections: o.connections,
        depth: o.depth,
        ratePerSec: o.ratePerSec,
        warmupMs: o.warmupMs,
        durationMs: o.durationMs,
        replyTimeoutMs: o.replyTimeoutMs,
        lateThresholdUs: o.lateThresholdUs,
        intervalMs: o.intervalMs,
        request: recipe,
        threads: o.threads,
        streamIntervals: true,
        progressMs: 500,
      },
      {
        onStart: (s) => {
          schedule = s;
          hlog?.write(
            intervalLogHeader(s.measureStartEpochMs, [
              `fastpath soak: target ${o.target.name} (${o.target.source}), ${o.mode.label}, ${o.ratePerSec} requests/s over ${o.connections} connections, ${o.signalBytes} B signals`,
              `[intervals of ${o.intervalMs} ms after a ${o.warmupMs} ms warm-up; latency from the intended send time (coordinated omission corrected)]`,
            ]),
          );
          sampling = new SampleSchedule(s, o.sampleIntervalMs, o.durationMs, takeSample);
        },
        onInterval: (iv: StreamedInterval) => {
          hlog?.write(intervalLogLine(iv));
          const s = summarizeLatency(iv.histogram);
          intervals.push({
            index: iv.index,
            startMs: iv.startMs,
            durationMs: iv.durationMs,
            count: s.count,
            throughputPerSec: iv.durationMs > 0 ? (s.count * 1_000) / iv.durationMs : 0,
            p50Us: s.p50Us,
            p99Us: s.p99Us,
            maxUs: s.maxUs,
          });
        },
        onCounters: (c) => {
          counters = c;
          const atMs = performance.now();
          recent.push({ atMs, answered: c.answered });
          while (recent.length > 2 && atMs - (recent[0]?.atMs ?? atMs) > LIVE_RATE_WINDOW_MS) recent.shift();
          if (atMs - lastProgressMs >= PROGRESS_EVERY_MS) {
            lastProgressMs = atMs;
            hooks.onProgress?.(progress());
          }
        },
      },
    );

    // The samples due up to now; after an early stop, one more to see the state the run ended in.
    const measureStart = schedule?.measureStartEpochMs ?? Date.now();
    const endedAtMs = Date.now() - measureStart;
    const ranToEnd = endedAtMs >= o.durationMs;
    await sampling?.stopAfter(Math.min(endedAtMs, o.durationMs));
    if (!ranToEnd) await takeSample(endedAtMs);
    if (targetDeath === undefined && running.spawned && !running.alive) targetDeath = describeDeath(running, endedAtMs);

    const rss = rssTrend(samples);
    const fds = fdTrend(samples);
    const drift = p99Drift(intervals);
    const checks = soakChecks(
      {
        rss,
        fds,
        p99Drift: drift,
        errors: outcome.errors,
        errorSamples: outcome.errorSamples,
        lost: outcome.lost,
        unsent: outcome.unsent,
        loadFailure: outcome.failure,
        targetDeath,
        depth: o.depth,
      },
      o.thresholds,
    );
    const { verdict, reasons } = soakVerdict(checks);

    let files: SoakFiles | null = null;
    if (o.outputDir !== undefined) {
      await hlog?.close();
      await samplesFile?.close();
      await writeFile(join(o.outputDir, SOAK_FILES.hgrm), toHgrm(outcome.corrected));
      files = SOAK_FILES;
    }
    const measured = samples.filter((s) => s.tMs >= 0 && s.cpuTicks !== undefined);
    const firstM = measured[0];
    const lastM = measured[measured.length - 1];
    const targetCpuPct =
      firstM !== undefined && lastM !== undefined && lastM.epochMs > firstM.epochMs
        ? (((lastM.cpuTicks as number) - (firstM.cpuTicks as number)) / PROC_TICKS_PER_SEC / ((lastM.epochMs - firstM.epochMs) / 1_000)) * 100
        : null;
    return {
      verdict,
      ops: outcome.received,
      opsPerSec: (outcome.received * 1_000) / o.durationMs,
      rssGrowthPct: rss === undefined ? null : rss.growthPct,
      fdGrowth: fds === undefined ? null : fds.growth,
      errors: outcome.errors,
      lost: outcome.lost,
      p50Us: outcome.summary.p50Us,
      p99Us: outcome.summary.p99Us,
      reasons,
      checks,
      target: { name: o.target.name, source: o.target.source, mode: o.mode.label, description: running.description, pid: pid ?? null },
      config: {
        ratePerSec: o.ratePerSec,
        durationMs: o.durationMs,
        warmupMs: o.warmupMs,
        connections: o.connections,
        depth: o.depth,
        threads: o.threads,
        signalBytes: outcome.signalBytes,
        intervalMs: o.intervalMs,
        sampleIntervalMs: o.sampleIntervalMs,
        replyTimeoutMs: o.replyTimeoutMs,
      },
      thresholds: o.thresholds,
      latency: outcome.summary,
      uncorrectedLatency: outcome.uncorrectedSummary ?? null,
      sent: outcome.sent,
      late: outcome.late,
      unsent: outcome.unsent,
      errorSamples: outcome.errorSamples,
      failure: outcome.failure ?? null,
      targetDeath: targetDeath ?? null,
      rss: rss ?? null,
      fds: fds ?? null,
      p99Drift: drift ?? null,
      targetCpuPct,
      generatorCpuPct: generatorCpuPct ?? null,
      generatorRssStartBytes: generatorRssStartBytes ?? null,
      generatorRssEndBytes: process.memoryUsage.rss(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      measureStartEpochMs: measureStart,
      intervals,
      samples,
      files,
    };
  } finally {
    await hlog?.close().catch(() => undefined);
    await samplesFile?.close().catch(() => undefined);
    await running.stop();
  }
}
