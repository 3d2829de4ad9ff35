import { randomBytes } from 'node:crypto';
import type { BenchEnv, BenchReport, FastSessionResult, FloorRef, PinMode, RunSample, ScenarioResult } from './bench-result.js';
import { captureBenchEnv } from './bench-env.js';
import { scenarioName, shapeKey, withPeer, type ScenarioSpec } from './bench-scenario.js';
import type { ModeInfo } from './case.js';
import { nodeEchoPeerCommand } from './echo-peer.js';
import { completeFastSession, FAST_SMALL_BYTES, runFastSessionBench } from './fast-session-bench.js';
import { intervalPoints, type TimedHistogram } from './interval-log.js';
import { mergeHistograms, percentileCurve, summarizeLatency, type Histogram } from './latency-histogram.js';
import { SpawnedTarget, startTarget, type RunningTarget } from './launcher.js';
import type { DialectRef, RequestRecipe } from './load-plan.js';
import { createRequestFactory } from './load-plan.js';
import { runLoad, type LoadOutcome } from './load-runner.js';
import { ensureNativeTool, nativeEchoPeerCommand, runPingpongClient, type NativeTool, type PingpongResult } from './native-tools.js';
import { pinnedCommand, pinProcess, planPinning } from './pinning.js';
import { findPackageRoot, type ResolvedTarget } from './targets.js';

/**
 * `fastpath bench` orchestration: starts the target (and the floor peers) once, runs
 * every scenario and its floors side by side in the same run, repeats them, and turns
 * the merged histograms into a {@link BenchReport}. Pure data out; files and printing
 * are the caller's (bench-files.ts, the reporters).
 */

/** Options of {@link runBench}. */
export interface BenchOptions {
  readonly target: ResolvedTarget;
  readonly mode: ModeInfo;
  /** Where the target's dialect comes from (re-loaded inside worker threads). */
  readonly dialect: DialectRef;
  /** Scenarios against the target. */
  readonly scenarios: readonly ScenarioSpec[];
  /** Measure the Node raw-echo floor for every scenario shape. */
  readonly nodeFloor: boolean;
  /** Measure the native echo floor and the native client (closed-loop, one-connection shapes) when a C compiler exists. */
  readonly nativeFloor: boolean;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly repeat: number;
  readonly replyTimeoutMs: number;
  readonly lateThresholdUs: number;
  readonly intervalMs: number;
  /** Worker threads for scenarios with more than one connection; 0 = always in this thread. */
  readonly threads: number;
  readonly pin: PinMode;
  /** Requests per connection built and signed before each measured run (0: built as sent). */
  readonly presign: number;
  readonly toolVersion: string;
  /**
   * Fast sessions (docs/SPEC.md §10) against the same target instance, after the
   * scenarios, compared with their floors (the first closed c1 d1 scenario's).
   */
  readonly fastSession?: FastSessionBenchConfig | undefined;
  /** Progress lines (for stderr). */
  readonly onProgress?: ((line: string) => void) | undefined;
}

/** What {@link BenchOptions.fastSession} measures. */
export interface FastSessionBenchConfig {
  readonly transports: readonly ('shm' | 'uds')[];
  readonly capacityBytes: number;
  readonly transferSizesBytes: readonly number[];
  /** Ring capacity of the transfer sessions (default `auto`, see harness/fast-session-bench.ts). */
  readonly transferCapacityBytes?: number | 'auto' | undefined;
  /** Measured time per fast-session measure (default: the run's durationMs). */
  readonly durationMs?: number | undefined;
  readonly warmupMs?: number | undefined;
}

/** Histograms kept for the files of a scenario (`.hgrm`, `.hlog`). */
export interface ScenarioHistograms {
  readonly corrected: Histogram;
  readonly uncorrected: Histogram | undefined;
  readonly intervals: readonly TimedHistogram[];
  readonly startEpochMs: number;
}

/** A finished run: the report and the histograms behind it. */
export interface BenchRun {
  readonly report: BenchReport;
  readonly histograms: ReadonlyMap<string, ScenarioHistograms>;
  /** Why a floor was not measured (e.g. no C compiler), for the console. */
  readonly notes: readonly string[];
}

interface Accumulated {
  readonly spec: ScenarioSpec;
  readonly outcomes: LoadOutcome[];
}

/** A peer started for the run (target or floor). */
interface Peer {
  readonly running: RunningTarget;
}

async function startEchoPeer(name: string, command: { command: string; args: string[] }, cpu: number | undefined): Promise<Peer> {
  const pinned = pinnedCommand(command.command, command.args, cpu);
  const running = await SpawnedTarget.launch({ name, command: pinned.command, args: pinned.args, framing: 'raw', auth: 'none', secret: '', readyTimeoutMs: 10_000 });
  return { running };
}

function pinnedTarget(target: ResolvedTarget, cpu: number | undefined): ResolvedTarget {
  if (target.spawn === undefined || cpu === undefined) return target;
  const p = pinnedCommand(target.spawn.command, [...target.spawn.args], cpu);
  return { ...target, spawn: { ...target.spawn, command: p.command, args: p.args } };
}

/** Total wall time of a run without setup, for progress messages. */
export function estimatedRunMs(opts: Pick<BenchOptions, 'scenarios' | 'nodeFloor' | 'nativeFloor' | 'warmupMs' | 'durationMs' | 'repeat'>): number {
  const shapes = new Set(opts.scenarios.map(shapeKey)).size;
  const perScenario = opts.warmupMs + opts.durationMs + 400;
  const floors = (opts.nodeFloor ? shapes : 0) + (opts.nativeFloor ? 2 : 0);
  return (opts.scenarios.length + floors) * perScenario * opts.repeat;
}

/** Runs every scenario with its floors and returns the report. Stops every process it started. */
export async function runBench(opts: BenchOptions): Promise<BenchRun> {
  const progress = opts.onProgress ?? (() => {});
  const pins = planPinning(opts.pin);
  // Before pinning: afterwards the process sees only its own CPU.
  const env: BenchEnv = captureBenchEnv({
    target: `${opts.target.name} (${opts.target.source}), ${opts.mode.label}`,
    pinning: { mode: opts.pin, clientCpu: pins.clientCpu, targetCpu: pins.targetCpu },
  });
  if (pins.clientCpu !== undefined) await pinProcess(process.pid, pins.clientCpu);
  const notes: string[] = [];
  const peers: Peer[] = [];
  const runId = randomBytes(3).toString('hex');
  let scenarioIndex = 0;
  const recipe = (spec: ScenarioSpec, replyCheck: RequestRecipe['replyCheck']): RequestRecipe => ({
    framing: opts.mode.framingName,
    maxFrameBytes: Math.max(opts.mode.framing.maxFrameBytes, spec.signalBytes * 2 + 4_096),
    auth: opts.mode.auth,
    secret: opts.mode.secret,
    signalBytes: spec.signalBytes,
    dialect: opts.dialect,
    replyCheck,
    idPrefix: `b${runId}s${(scenarioIndex++).toString(36)}c`,
    presign: opts.presign,
  });
  try {
    progress(`starting target ${opts.target.name} in ${opts.mode.label}${pins.targetCpu === undefined ? '' : ` on CPU ${pins.targetCpu}`}`);
    const target = await startTarget(pinnedTarget(opts.target, pins.targetCpu), opts.mode);
    const targetPeer: Peer = { running: target };
    peers.push(targetPeer);

    let nodeEcho: Peer | undefined;
    if (opts.nodeFloor) {
      nodeEcho = await startEchoPeer('node-echo', nodeEchoPeerCommand(findPackageRoot()), pins.targetCpu);
      peers.push(nodeEcho);
    }
    let nativeEcho: Peer | undefined;
    let pingpong: NativeTool | undefined;
    if (opts.nativeFloor) {
      const echoTool = await ensureNativeTool('echo-peer');
      const clientTool = await ensureNativeTool('pingpong-client');
      if ('unavailable' in echoTool) notes.push(`native floor not measured: ${echoTool.unavailable}`);
      else if ('unavailable' in clientTool) notes.push(`native client not measured: ${clientTool.unavailable}`);
      else {
        nativeEcho = await startEchoPeer('native-echo', nativeEchoPeerCommand(echoTool), pins.targetCpu);
        peers.push(nativeEcho);
        pingpong = clientTool;
      }
    }

    // Unique shapes, each with its floors, in the order given.
    const targetSpecs = opts.scenarios.map((s) => withPeer(s, 'target'));
    const plan: { spec: ScenarioSpec; peer: Peer }[] = [];
    const seen = new Set<string>();
    for (const s of targetSpecs) {
      const key = shapeKey(s);
      if (!seen.has(key)) {
        seen.add(key);
        const nativeShape = s.loop === 'closed' && s.connections === 1 && s.depth === 1;
        if (nativeEcho !== undefined && nativeShape) plan.push({ spec: withPeer(s, 'native-echo'), peer: nativeEcho });
        if (nodeEcho !== undefined) plan.push({ spec: withPeer(s, 'node-echo'), peer: nodeEcho });
      }
      plan.push({ spec: s, peer: targetPeer });
    }

    const acc = new Map<string, Accumulated>();
    const nativeClient = new Map<string, PingpongResult[]>();
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const { spec, peer } of plan) {
        const name = scenarioName(spec);
        progress(`${name}${opts.repeat > 1 ? ` (run ${rep + 1}/${opts.repeat})` : ''}: ${opts.warmupMs} ms warm-up + ${opts.durationMs} ms`);
        if (spec.peer === 'target') await target.ensureReady();
        const outcome = await runLoad({
          socketPath: peer.running.socketPath,
          loop: spec.loop,
          connections: spec.connections,
          depth: spec.depth,
          ratePerSec: spec.ratePerSec,
          warmupMs: opts.warmupMs,
          durationMs: opts.durationMs,
          replyTimeoutMs: opts.replyTimeoutMs,
          lateThresholdUs: opts.lateThresholdUs,
          intervalMs: opts.intervalMs,
          request: recipe(spec, spec.peer === 'target' ? 'dialect' : 'frame'),
          threads: spec.connections > 1 || spec.loop === 'open' ? Math.max(1, opts.threads) : 0,
        });
        const entry = acc.get(name) ?? { spec, outcomes: [] };
        entry.outcomes.push(outcome);
        acc.set(name, entry);
        if (spec.peer === 'native-echo' && pingpong !== undefined) {
          const factory = await createRequestFactory(recipe(spec, 'frame'), 0);
          const frame = factory.build(0);
          // About as many round trips as the Node client made against the same peer.
          const count = Math.max(200, Math.round(Math.min(outcome.received, opts.durationMs * 50)));
          try {
            const r = await runPingpongClient(pingpong, peer.running.socketPath, frame, count, Math.max(20, Math.round(count / 10)), {
              cpu: pins.clientCpu,
              timeoutMs: opts.durationMs * 10 + 10_000,
            });
            const list = nativeClient.get(name) ?? [];
            list.push(r);
            nativeClient.set(name, list);
          } catch (err) {
            notes.push(`native client on ${name} not measured: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
    }
    let fast: FastSessionResult | undefined;
    if (opts.fastSession !== undefined) {
      await target.ensureReady();
      fast = await runFastSessionBench({
        socketPath: target.socketPath,
        mode: opts.mode,
        dialect: opts.dialect,
        transports: opts.fastSession.transports,
        warmupMs: opts.fastSession.warmupMs ?? opts.warmupMs,
        durationMs: opts.fastSession.durationMs ?? opts.durationMs,
        repeat: opts.repeat,
        capacityBytes: opts.fastSession.capacityBytes,
        transferSizesBytes: opts.fastSession.transferSizesBytes,
        transferCapacityBytes: opts.fastSession.transferCapacityBytes,
        replyTimeoutMs: opts.replyTimeoutMs,
        pin: opts.pin,
        pins,
        nativeFloor: opts.nativeFloor,
        idPrefix: `b${runId}x`,
        onProgress: progress,
      });
      for (const n of fast.notes) notes.push(n);
      if (fast.failure !== undefined) notes.push(fast.failure);
    }
    const run = assemble(opts, env, acc, nativeClient, notes);
    if (fast === undefined) return run;
    const shape = targetSpecs.find((s) => s.loop === 'closed' && s.connections === 1 && s.depth === 1 && s.signalBytes === FAST_SMALL_BYTES);
    const ref = (name: string | undefined): FloorRef | undefined => {
      const sc = name === undefined ? undefined : run.report.scenarios.find((x) => x.name === name);
      return sc === undefined || sc.failure !== undefined || sc.errors > 0 || sc.count === 0 ? undefined : { name: sc.name, p50Us: sc.p50Us, p99Us: sc.p99Us };
    };
    const fastSession = completeFastSession(fast, {
      udsFloor: ref(shape === undefined ? undefined : scenarioName(withPeer(shape, 'node-echo'))),
      nativeUdsFloor: ref(shape === undefined ? undefined : `native-client.${scenarioName(withPeer(shape, 'native-echo')).replace(/^floor\./, '')}`),
      socketSignal: ref(shape === undefined ? undefined : scenarioName(shape)),
    });
    return { ...run, report: { ...run.report, fastSession } };
  } finally {
    for (const p of peers.reverse()) await p.running.stop().catch(() => undefined);
  }
}

function runSample(o: LoadOutcome, durationMs: number, floor: { p50Us: number; p99Us: number } | undefined): RunSample {
  const s = o.summary;
  const sample = { p50Us: s.p50Us, p90Us: s.p90Us, p99Us: s.p99Us, p999Us: s.p999Us, throughputPerSec: (o.received * 1_000) / durationMs };
  return floor === undefined ? sample : { ...sample, floorRatioP50: ratio(s.p50Us, floor.p50Us), floorRatioP99: ratio(s.p99Us, floor.p99Us) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function ratio(a: number, b: number): number {
  return b > 0 ? Math.round((a / b) * 1_000) / 1_000 : 0;
}

function assemble(
  opts: BenchOptions,
  env: BenchEnv,
  acc: ReadonlyMap<string, Accumulated>,
  nativeClient: ReadonlyMap<string, readonly PingpongResult[]>,
  notes: readonly string[],
): BenchRun {
  const histograms = new Map<string, ScenarioHistograms>();
  const scenarios: ScenarioResult[] = [];
  const floorFor = (spec: ScenarioSpec): FloorRef | undefined => {
    const candidates: ScenarioSpec['peer'][] = spec.peer === 'target' ? ['node-echo', 'native-echo'] : spec.peer === 'node-echo' ? ['native-echo'] : [];
    for (const peer of candidates) {
      const floorName = scenarioName(withPeer(spec, peer));
      const f = scenarios.find((s) => s.name === floorName);
      if (f !== undefined) return { name: f.name, p50Us: f.p50Us, p99Us: f.p99Us };
    }
    if (spec.peer === 'native-echo') {
      const name = `native-client.${scenarioName(spec).replace(/^floor\./, '')}`;
      const c = scenarios.find((s) => s.name === name);
      if (c !== undefined) return { name: c.name, p50Us: c.p50Us, p99Us: c.p99Us };
    }
    return undefined;
  };
  /** The floor's figures in repetition `rep`, chosen like {@link floorFor}, for per-run ratios. */
  const floorRunAt = (spec: ScenarioSpec, rep: number): { p50Us: number; p99Us: number } | undefined => {
    const candidates: ScenarioSpec['peer'][] = spec.peer === 'target' ? ['node-echo', 'native-echo'] : spec.peer === 'node-echo' ? ['native-echo'] : [];
    for (const peer of candidates) {
      const floorAcc = acc.get(scenarioName(withPeer(spec, peer)));
      if (floorAcc !== undefined) {
        const s = floorAcc.outcomes[rep]?.summary;
        return s === undefined ? undefined : { p50Us: s.p50Us, p99Us: s.p99Us };
      }
    }
    if (spec.peer === 'native-echo') {
      const r = nativeClient.get(scenarioName(spec))?.[rep];
      return r === undefined ? undefined : { p50Us: r.p50Ns / 1e3, p99Us: r.p99Ns / 1e3 };
    }
    return undefined;
  };
  // Floors first so scenarios can refer to them.
  const ordered = [...acc.values()].sort((a, b) => rank(a.spec) - rank(b.spec));
  for (const [floorName, results] of nativeClient) {
    const name = `native-client.${floorName.replace(/^floor\./, '')}`;
    const spec = acc.get(floorName)?.spec;
    if (spec === undefined) continue;
    const runs: RunSample[] = results.map((r) => ({
      p50Us: r.p50Ns / 1e3,
      p90Us: r.p90Ns / 1e3,
      p99Us: r.p99Ns / 1e3,
      p999Us: r.p999Ns / 1e3,
      throughputPerSec: r.durationNs > 0 ? (r.count * 1e9) / r.durationNs : 0,
    }));
    // The C client prints percentiles, not a histogram: repetitions are combined by their median.
    const med = (f: (r: PingpongResult) => number): number => median(results.map(f)) / 1e3;
    const count = results.reduce((a, r) => a + r.count, 0);
    const durationNs = results.reduce((a, r) => a + r.durationNs, 0);
    scenarios.push({
      name,
      peer: 'native-client',
      mode: opts.mode.framingName,
      loop: 'closed',
      connections: 1,
      depth: 1,
      ratePerSec: undefined,
      payloadBytes: acc.get(floorName)?.outcomes[0]?.signalBytes ?? spec.signalBytes,
      durationMs: Math.round(durationNs / 1e6),
      warmupMs: 0,
      sent: count,
      received: count,
      throughputPerSec: durationNs > 0 ? Math.round((count * 1e9) / durationNs) : 0,
      errors: 0,
      errorSamples: [],
      late: 0,
      unanswered: 0,
      p50Us: med((r) => r.p50Ns),
      p90Us: med((r) => r.p90Ns),
      p99Us: med((r) => r.p99Ns),
      p999Us: med((r) => r.p999Ns),
      p9999Us: med((r) => r.p9999Ns),
      maxUs: Math.max(...results.map((r) => r.maxNs)) / 1e3,
      meanUs: med((r) => r.meanNs),
      count,
      uncorrected: undefined,
      floor: undefined,
      ratioToFloor: undefined,
      fairness: undefined,
      percentiles: [],
      intervals: [],
      runs,
      files: {},
      failure: undefined,
    });
  }
  for (const { spec, outcomes } of ordered) {
    const name = scenarioName(spec);
    const corrected = mergeHistograms(outcomes.map((o) => o.corrected));
    const uncorrected = spec.loop === 'open' ? mergeHistograms(outcomes.flatMap((o) => (o.uncorrected === undefined ? [] : [o.uncorrected]))) : undefined;
    const intervals: TimedHistogram[] = outcomes.flatMap((o, rep) => o.intervals.map((iv) => ({ ...iv, startMs: iv.startMs + rep * opts.durationMs })));
    const first = outcomes[0] as LoadOutcome;
    histograms.set(name, { corrected, uncorrected, intervals, startEpochMs: first.measureStartEpochMs });
    const summary = summarizeLatency(corrected);
    const total = (k: 'sent' | 'received' | 'errors' | 'late' | 'unanswered'): number => outcomes.reduce((a, o) => a + o[k], 0);
    const perConnection = outcomes[0]?.perConnection ?? [];
    const floor = floorFor(spec);
    const errorSamples = [...new Set(outcomes.flatMap((o) => o.errorSamples))].slice(0, 5);
    const failures = outcomes.flatMap((o) => (o.failure === undefined ? [] : [o.failure]));
    scenarios.push({
      name,
      peer: spec.peer,
      mode: spec.peer === 'target' ? opts.mode.label : opts.mode.framingName,
      loop: spec.loop,
      connections: spec.connections,
      depth: spec.depth,
      ratePerSec: spec.ratePerSec,
      payloadBytes: first.signalBytes,
      durationMs: opts.durationMs * outcomes.length,
      warmupMs: opts.warmupMs,
      sent: total('sent'),
      received: total('received'),
      throughputPerSec: Math.round((total('received') * 1_000) / (opts.durationMs * outcomes.length)),
      errors: total('errors'),
      errorSamples,
      late: total('late'),
      unanswered: total('unanswered'),
      ...summary,
      uncorrected: uncorrected === undefined ? undefined : summarizeLatency(uncorrected),
      floor,
      ratioToFloor: floor === undefined ? undefined : { p50: ratio(summary.p50Us, floor.p50Us), p99: ratio(summary.p99Us, floor.p99Us) },
      fairness: outcomes.length > 0 && perConnection.length > 1 ? outcomes[0]?.fairness : undefined,
      percentiles: percentileCurve(corrected),
      intervals: intervalPoints(intervals),
      runs: outcomes.map((o, rep) => runSample(o, opts.durationMs, floorRunAt(spec, rep))),
      files: {},
      failure: failures[0],
    });
  }
  const report: BenchReport = {
    env,
    scenarios: scenarios.sort((a, b) => order(a) - order(b)),
    codecMatrix: undefined,
    http: undefined,
    tool: { name: 'fastpath', version: opts.toolVersion, timer: 'process.hrtime.bigint' },
  };
  return { report, histograms, notes };
}

function rank(spec: ScenarioSpec): number {
  return spec.peer === 'native-echo' ? 0 : spec.peer === 'node-echo' ? 1 : 2;
}

function order(s: ScenarioResult): number {
  return s.peer === 'native-client' ? 0 : s.peer === 'native-echo' ? 1 : s.peer === 'node-echo' ? 2 : 3;
}
