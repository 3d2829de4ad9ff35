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

// ---------------------------------------------------------------------------
// Fast sessions (docs/SPEC.md §10): `fastpath bench --transport shm|uds|both`

/** How a fast-session measure reached the server: shm rings, lp32 frames after a uds HELLO, or the ordinary socket protocol. */
export type FastMeasureTransport = 'shm' | 'uds' | 'socket';

/** A closed-loop round-trip measure of a fast session (one request in flight). */
export interface FastRoundTripResult extends LatencySummary {
  /** Stable name, e.g. `fast.echo.64B.shm.spin`, `fast.signal.64B.uds`. */
  readonly name: string;
  readonly method: 'echo' | 'signal';
  readonly transport: FastMeasureTransport;
  /** The client's wait strategy on the response ring (shm). */
  readonly clientWait: string | undefined;
  /** The server's wait strategy as announced in READY (shm). */
  readonly serverWait: string | undefined;
  /** Size of `params` (echo) or of the signal text (signal). */
  readonly payloadBytes: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly throughputPerSec: number;
  /** Responses that were errors or did not match the request. */
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** One entry per repetition. */
  readonly runs: readonly { readonly p50Us: number; readonly p99Us: number; readonly throughputPerSec: number }[];
  /** Set when the measure could not complete. */
  readonly failure: string | undefined;
}

/** Transfers of one size: `sink` with `sizeBytes` of params, time from send to response. */
export interface FastTransferResult {
  /** e.g. `fast.sink.1MiB.shm`. */
  readonly name: string;
  readonly transport: 'shm' | 'uds';
  readonly clientWait: string | undefined;
  /** Data capacity of each ring of the session (shm). */
  readonly capacityBytes: number | undefined;
  readonly sizeBytes: number;
  readonly reps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly minUs: number;
  readonly maxUs: number;
  readonly meanUs: number;
  /** sizeBytes over the p50 time, in 10^9 bytes per second. */
  readonly gbPerSecP50: number;
  /** All bytes over all measured time (back to back), in 10^9 bytes per second. */
  readonly gbPerSecSustained: number;
  readonly errors: number;
  readonly failure: string | undefined;
}

/** One-way throughput: notifications sent as fast as possible, then one echo to sync. */
export interface FastOneWayResult {
  /** e.g. `fast.notify.64B.shm`. */
  readonly name: string;
  readonly transport: 'shm' | 'uds';
  readonly payloadBytes: number;
  readonly messages: number;
  /** From the first notification to the response of the sync echo. */
  readonly durationMs: number;
  readonly messagesPerSec: number;
  readonly runs: readonly { readonly messagesPerSec: number }[];
  readonly failure: string | undefined;
}

/** The native C ring floor (harness/native/ring-pingpong.c), two processes spinning. */
export interface NativeRingFloor {
  readonly capacityBytes: number;
  /** Round trips of one record of `payloadBytes`. */
  readonly payloadBytes: number;
  readonly count: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
  /** Transfers, each in a ring of the capacity the shm transfer of that size used. */
  readonly transfers: readonly {
    readonly sizeBytes: number;
    readonly capacityBytes: number;
    readonly reps: number;
    readonly p50Us: number;
    readonly p99Us: number;
    readonly gbPerSecP50: number;
  }[];
  /** CPUs of the two processes when pinned. */
  readonly cpus: readonly number[] | undefined;
}

/** One side-by-side comparison: shm against uds (and the ordinary socket) and the native floors. */
export interface FastComparison {
  /** What is compared, e.g. `echo 64 B round trip p50 (spin)`. */
  readonly measure: string;
  readonly unit: 'us' | 'msg/s' | 'GB/s';
  readonly shm: number | undefined;
  readonly uds: number | undefined;
  /** shm / uds (lower is better for `us`, higher for the rates). */
  readonly shmOverUds: number | undefined;
  /** The ordinary socket protocol (signal only). */
  readonly socket: number | undefined;
  readonly shmOverSocket: number | undefined;
  /** The same measure on the native C ring floor. */
  readonly nativeRing: number | undefined;
  /** shm / native ring. */
  readonly shmOverNativeRing: number | undefined;
}

/** A target of issue 4, judged on this run (reported, never a failing test). */
export interface FastTargetCheck {
  readonly id: string;
  /** e.g. `round trip p50 <= 5 us with spinning`. */
  readonly description: string;
  /** Which measure it is judged on. */
  readonly basis: string;
  readonly comparison: '<=' | '>=';
  readonly limit: number;
  readonly unit: 'us' | 'ms' | 'x' | 'GB/s' | 'msg/s';
  readonly measured: number | undefined;
  /** undefined when not measured in this run. */
  readonly met: boolean | undefined;
}

/** What the server answered to a HELLO in this run. */
export interface FastReadyInfo {
  readonly transport: 'shm' | 'uds';
  readonly wait: string | undefined;
  readonly maxMessageBytes: number;
  readonly serverPid: number;
}

/** The `fastSession` section of a bench report. */
export interface FastSessionResult {
  readonly transports: readonly ('shm' | 'uds')[];
  /** Data capacity of each ring of the shm sessions. */
  readonly capacityBytes: number;
  readonly ready: readonly FastReadyInfo[];
  readonly roundTrips: readonly FastRoundTripResult[];
  readonly transfers: readonly FastTransferResult[];
  readonly oneWay: readonly FastOneWayResult[];
  readonly nativeRing: NativeRingFloor | undefined;
  /** The ordinary-socket floors of the same run this section compares with (Node echo, native C client on the native echo peer). */
  readonly udsFloor: FloorRef | undefined;
  readonly nativeUdsFloor: FloorRef | undefined;
  /** The target's ordinary-socket signal scenario of the same run. */
  readonly socketSignal: FloorRef | undefined;
  readonly comparisons: readonly FastComparison[];
  readonly targets: readonly FastTargetCheck[];
  readonly notes: readonly string[];
  /** Set when no fast session could be opened at all (e.g. the target refused the HELLO). */
  readonly failure: string | undefined;
}

/** Everything one `fastpath bench` invocation measured (`--json` prints exactly this). */
export interface BenchReport {
  readonly env: BenchEnv;
  readonly scenarios: readonly ScenarioResult[];
  readonly codecMatrix: readonly CodecMatrixRow[] | undefined;
  readonly http: HttpComparison | undefined;
  /** Fast sessions (`--transport`, and the standard set when the target supports them). */
  readonly fastSession?: FastSessionResult | undefined;
  /** Tool identification, so a report says what produced it. */
  readonly tool: { readonly name: 'fastpath'; readonly version: string; readonly timer: 'process.hrtime.bigint' };
}
