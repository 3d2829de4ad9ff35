/**
 * The data model of `fastpath bench` (DESIGN "Measurement model"): what one scenario
 * measured and what a whole run records. Plain data: the CLI prints it with `--json`,
 * the reporters (console, HTML, files) render it, `bench compare` reads it back.
 * Every latency is in microseconds and says so in its name.
 */

/** How load is offered. */
export type LoopKind = 'closed' | 'open';

/** What a scenario talks to: the target under test or a floor peer of the same run. */
export type PeerKind = 'target' | 'node-echo' | 'native-echo' | 'native-client' | 'http';

/** Percentiles of one latency distribution, in microseconds. */
export interface LatencySummary {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly p9999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
  /** Number of recorded latencies. */
  readonly count: number;
}

/** One point of a percentile distribution (for plots on the 1/(1-p) axis). */
export interface PercentilePoint {
  /** Percentile in [0, 100]. */
  readonly percentile: number;
  readonly valueUs: number;
}

/** One interval (normally one second) of a scenario's measured phase. */
export interface IntervalPoint {
  /** Start of the interval, ms after the measured phase began. */
  readonly startMs: number;
  readonly durationMs: number;
  /** Replies received in this interval per second. */
  readonly throughputPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** Fairness across connections: replies per connection and Jain's index (1 = perfectly fair). */
export interface Fairness {
  readonly connections: number;
  readonly minPerConnection: number;
  readonly maxPerConnection: number;
  readonly meanPerConnection: number;
  /** (Σx)² / (n·Σx²), in (0, 1]. */
  readonly jainIndex: number;
}

/** The floor a scenario is compared with, measured in the same run. */
export interface FloorRef {
  /** Name of the floor scenario. */
  readonly name: string;
  readonly p50Us: number;
  readonly p99Us: number;
}

/** One repetition of a scenario, kept so `bench compare` can test significance. */
export interface RunSample {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly throughputPerSec: number;
  /** p50 over the floor's p50 in the same repetition (scenarios with a floor). */
  readonly floorRatioP50?: number | undefined;
  /** p99 over the floor's p99 in the same repetition. */
  readonly floorRatioP99?: number | undefined;
}

/** The result of one scenario. Latencies measured from the intended send time in open loop. */
export interface ScenarioResult extends LatencySummary {
  /** Stable scenario name, e.g. `closed.c1.d1.64B` or `floor.node-echo.c1.d1.64B`. */
  readonly name: string;
  readonly peer: PeerKind;
  /** Mode label of the target (`ndjson/hmac-json`) or the floor's framing. */
  readonly mode: string;
  readonly loop: LoopKind;
  readonly connections: number;
  /** Requests in flight per connection (closed loop) or allowed outstanding (open loop). */
  readonly depth: number;
  /** Open loop only: the offered rate over all connections. */
  readonly ratePerSec: number | undefined;
  /** Size of the request frame body in bytes. */
  readonly payloadBytes: number;
  /** Length of the measured phase (warm-up excluded). */
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly sent: number;
  readonly received: number;
  readonly throughputPerSec: number;
  /** Replies that were not an acceptance (rejections, malformed or undecodable frames), plus socket errors. */
  readonly errors: number;
  /** First few distinct error descriptions, for the report. */
  readonly errorSamples: readonly string[];
  /** Open loop: sends that left later than their intended time by more than the lateness threshold. */
  readonly late: number;
  /** Requests without a reply when the scenario ended (timeout or close; warm-up requests included), plus open-loop sends that never left. */
  readonly unanswered: number;
  /** Open loop: the uncorrected distribution (measured from the actual send time). */
  readonly uncorrected: LatencySummary | undefined;
  readonly floor: FloorRef | undefined;
  readonly ratioToFloor: { readonly p50: number; readonly p99: number } | undefined;
  readonly fairness: Fairness | undefined;
  readonly percentiles: readonly PercentilePoint[];
  readonly intervals: readonly IntervalPoint[];
  /** One entry per repetition (`--repeat`); the top-level figures come from the merged histogram. */
  readonly runs: readonly RunSample[];
  /** Files written for this scenario, relative to the report directory. */
  readonly files: { readonly hgrm?: string; readonly intervalLog?: string; readonly uncorrectedHgrm?: string };
  /** Set when the scenario could not complete (e.g. the target stopped answering). */
  readonly failure: string | undefined;
}

/** Where the run happened. */
export interface BenchEnv {
  readonly nodeVersion: string;
  readonly v8Version: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly kernel: string;
  readonly loadAverage: readonly number[];
  /** `none`, `same` (client and target on one CPU) or `split` (different CPUs), with the CPUs used. */
  readonly pinning: { readonly mode: PinMode; readonly clientCpu: number | undefined; readonly targetCpu: number | undefined };
  /** Target name and source (`reference (built-in)`, a target file path, `unix:/x.sock`). */
  readonly target: string;
  readonly startedAt: string;
  readonly hostname: string;
}

export type PinMode = 'none' | 'same' | 'split';

/** A codec matrix row (tinybench): per-message cost of one operation in one mode. */
export interface CodecMatrixRow {
  /** `ndjson/hmac-json`, `lp32-json/hmac-v2`, `lp32-msgpack/hmac-v2`. */
  readonly mode: string;
  readonly operation: 'encode' | 'decode' | 'sign' | 'verify';
  readonly meanNs: number;
  readonly p50Ns: number;
  readonly p99Ns: number;
  readonly opsPerSec: number;
  readonly samples: number;
  /** Frame size on the wire for this mode's sample signal. */
  readonly frameBytes: number;
}

/** IPC vs HTTP on loopback, same signal endpoint of the reference server. */
export interface HttpComparison {
  readonly ipcP50Us: number;
  readonly ipcMeanUs: number;
  readonly httpP50Us: number;
  readonly httpMeanUs: number;
  readonly httpRequestsPerSec: number;
  /** httpMean / ipcMean and httpP50 / ipcP50. */
  readonly ratioMean: number;
  readonly ratioP50: number;
  readonly connections: number;
  readonly errors: number;
}

/** Everything one `fastpath bench` invocation measured (`--json` prints exactly this). */
export interface BenchReport {
  readonly env: BenchEnv;
  readonly scenarios: readonly ScenarioResult[];
  readonly codecMatrix: readonly CodecMatrixRow[] | undefined;
  readonly http: HttpComparison | undefined;
  /** Tool identification, so a report says what produced it. */
  readonly tool: { readonly name: 'fastpath'; readonly version: string; readonly timer: 'process.hrtime.bigint' };
}
