import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import type { BenchReport, CodecMatrixRow, HttpComparison, PinMode } from '../harness/bench-result.js';
import { defaultBenchDir, writeBenchFiles } from '../harness/bench-files.js';
import { formatBenchTable } from '../harness/bench-report-console.js';
import { runBench, type BenchRun, type FastSessionBenchConfig, type ScenarioHistograms } from '../harness/bench-runner.js';
import { DEFAULT_TRANSFER_SIZES_BYTES } from '../harness/fast-session-bench.js';
import { parsePayloadSize, type ScenarioSpec } from '../harness/bench-scenario.js';
import { compareIpcHttp } from '../harness/http-bench.js';
import { displayPath } from '../harness/report-json.js';
import { dialectRefOf } from '../harness/load-plan.js';
import { parsePinMode, planPinning } from '../harness/pinning.js';
import { chooseLoadMode, resolveTarget, type ResolvedTarget } from '../harness/targets.js';
import type { ModeInfo } from '../harness/case.js';
import { fpError, framingName, parseFraming } from '../protocol/index.js';
import { DEFAULT_RING_CAPACITY_BYTES, MAX_RING_CAPACITY_BYTES, MIN_RING_CAPACITY_BYTES } from '../ring/index.js';
import { runCodecMatrix } from '../suites/bench/codec-matrix.js';
import { registerBenchCompare } from './bench-compare.js';
import { durationFlag, intFlag, numberFlag, sizeFlag, sizeListFlag } from './flags.js';
import { readPackageVersion } from './package-info.js';

/**
 * `fastpath bench`: latency and throughput of a target (same target model and flags
 * as `fastpath conform`), with floors measured in the same run, HdrHistogram files,
 * a console table, `--json` and a self-contained HTML report. Exit 0 when every
 * scenario ran clean, 1 when a scenario saw errors, unanswered requests or a target
 * that stopped answering; usage errors exit 2 (cli/main.ts). `--transport` adds the
 * fast-session measures (harness/fast-session-bench.ts); a session that cannot be
 * opened or a measure with errors exits 1, a missed performance target never does.
 */

const MAX_CONNECTIONS = 10_000;

export const BenchOptionsSchema = z.object({
  target: z.string().min(1, { message: '--target must not be empty (reference, unix:/path.sock or a target file)' }),
  framing: z.string().min(1, { message: '--framing must not be empty' }).optional(),
  auth: z.string().min(1, { message: '--auth must not be empty' }).optional(),
  secret: z.string().min(1, { message: '--secret must not be empty' }).optional(),
  standard: z.boolean().optional(),
  loop: z.enum(['closed', 'open'], { message: '--loop must be closed or open' }),
  connections: intFlag('--connections', 1, MAX_CONNECTIONS),
  depth: intFlag('--depth', 1, 100_000).optional(),
  rate: numberFlag('--rate', 0, 10_000_000, { exclusiveMin: true, example: '20000' }).optional(),
  payload: z.string().min(1, { message: '--payload must not be empty' }),
  duration: durationFlag('--duration', 100, 24 * 3_600_000),
  warmup: durationFlag('--warmup', 0, 3_600_000),
  repeat: intFlag('--repeat', 1, 100),
  threads: intFlag('--threads', 0, 64).optional(),
  presign: intFlag('--presign', 0, 10_000_000),
  pin: z.string().transform((text, ctx) => {
    try {
      return parsePinMode(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  }),
  floor: z.boolean(),
  native: z.boolean(),
  http: z.boolean().optional(),
  codecMatrix: z.boolean().optional(),
  json: z.boolean().optional(),
  reportDir: z.string().min(1, { message: '--report-dir must not be empty' }).optional(),
  report: z.boolean(),
  replyTimeoutMs: intFlag('--reply-timeout-ms', 10, 600_000),
  lateThresholdUs: intFlag('--late-threshold-us', 1, 60_000_000),
  intervalMs: intFlag('--interval-ms', 10, 3_600_000),
  transport: z.enum(['shm', 'uds', 'both'], { message: '--transport must be shm, uds or both' }).optional(),
  ringCapacity: sizeFlag('--ring-capacity', MIN_RING_CAPACITY_BYTES, MAX_RING_CAPACITY_BYTES, { powerOfTwo: true, example: '16MiB' }),
  transfer: sizeListFlag('--transfer', 1, 256 * 1_048_576),
  transferRingCapacity: z.string().transform((text, ctx): number | 'auto' => {
    if (text.trim() === 'auto') return 'auto';
    const parsed = sizeFlag('--transfer-ring-capacity', MIN_RING_CAPACITY_BYTES, MAX_RING_CAPACITY_BYTES, { powerOfTwo: true, example: 'auto' }).safeParse(text);
    if (parsed.success) return parsed.data;
    ctx.addIssue({ code: 'custom', message: parsed.error.issues[0]?.message ?? '--transfer-ring-capacity must be auto or a power of two' });
    return z.NEVER;
  }),
});
/** Validated options of `fastpath bench`. */
export type BenchCliOptions = z.infer<typeof BenchOptionsSchema>;

/**
 * Validates commander's option object, and the combinations (`--loop open` needs
 * `--rate`; `--rate` makes no sense in closed loop).
 * @throws FastPathError FP_USAGE naming the flag.
 */
export function parseBenchOptions(raw: unknown): BenchCliOptions {
  const res = BenchOptionsSchema.safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw fpError('FP_USAGE', issue === undefined ? 'invalid options' : issue.message);
  }
  const o = res.data;
  if (o.loop === 'open' && o.rate === undefined && o.standard !== true) {
    throw fpError('FP_USAGE', '--loop open needs --rate R (requests per second over all connections), e.g. --loop open --rate 20000');
  }
  if (o.loop === 'closed' && o.rate !== undefined) {
    throw fpError('FP_USAGE', '--rate applies to --loop open only (closed loop sends as fast as replies come back)');
  }
  for (const part of o.payload.split(',')) parsePayloadSize(part);
  if (o.transport !== undefined && o.standard !== true) {
    const why = 'measures one connection, one request in flight';
    if (o.loop !== 'closed') throw fpError('FP_USAGE', `--transport ${why}: drop --loop ${o.loop}`);
    if (o.connections !== 1) throw fpError('FP_USAGE', `--transport ${why}: drop --connections ${o.connections}`);
    if (o.depth !== undefined && o.depth !== 1) throw fpError('FP_USAGE', `--transport ${why}: drop --depth ${o.depth}`);
  }
  return o;
}

/** The scenario set of `npm run bench` for one mode (see docs/PERFORMANCE.md). */
export function standardScenarios(framing: string, auth: ScenarioSpec['auth'], full: boolean): ScenarioSpec[] {
  const base = { peer: 'target' as const, framing, auth };
  const closed = (connections: number, depth: number, signalBytes: number): ScenarioSpec => ({ ...base, loop: 'closed', connections, depth, signalBytes });
  if (!full) return [closed(1, 1, 64), closed(1, 256, 64)];
  return [
    closed(1, 1, 64),
    closed(1, 1, 1_024),
    closed(1, 1, 65_536),
    closed(1, 1, 1_048_576),
    closed(1, 256, 64),
    { ...base, loop: 'open', connections: 1, depth: 64, ratePerSec: 20_000, signalBytes: 64 },
    closed(100, 1, 64),
  ];
}

/** The modes of the standard set: the seed's ndjson/hmac-json (every scenario) and lp32-msgpack/hmac-v2 (latency and pipelined). */
const STANDARD_MODES: readonly { framing: string; auth: ScenarioSpec['auth']; full: boolean }[] = [
  { framing: 'ndjson', auth: 'hmac-json', full: true },
  { framing: 'lp32-msgpack', auth: 'hmac-v2', full: false },
];

/** Registers `fastpath bench` (and `fastpath bench compare`) on `program`. */
export function registerBench(program: Command): Command {
  const bench = program
    .command('bench')
    .description('measure latency and throughput of a target with HdrHistogram reports and same-run floors')
    .option('--target <target>', 'reference (built-in), unix:/path.sock (attach), or a target file (.json, .js, .mjs)', 'reference')
    .option('--framing <framing>', 'mode to measure: ndjson, lp32-json, lp32-msgpack or an lp: string (reference default: ndjson)')
    .option('--auth <auth>', 'mode to measure: none, hmac-json, hmac-v2 (reference default: hmac-json)')
    .option('--secret <secret>', "HMAC secret (default: the target file's, or a random one for spawned targets)")
    .option(
      '--standard',
      'run the standard scenario set (npm run bench): payload sweep, pipelined, open loop, 100 connections, two modes, codec matrix, IPC vs HTTP, fast sessions (shm and uds) when the target offers them',
    )
    .addOption(new Option('--loop <kind>', 'closed (ping-pong, --depth in flight per connection) or open (constant --rate)').default('closed'))
    .option('--connections <n>', `connections (1-${MAX_CONNECTIONS})`, '1')
    .option('--depth <n>', 'requests in flight per connection (closed loop, default 1) or most outstanding (open loop, default 64)')
    .option('--rate <r>', 'open loop: requests per second over all connections')
    .option('--payload <sizes>', 'signal sizes, comma-separated: 64B, 1KiB, 64KiB, 1MiB or a byte count', '64B')
    .option('--duration <d>', 'measured time per scenario and run (e.g. 5s, 500ms, 2m)', '5s')
    .option('--warmup <d>', 'warm-up before each measured phase, not recorded', '1s')
    .option('--repeat <n>', 'runs of every scenario (for bench compare significance)', '1')
    .option('--threads <n>', 'worker threads generating load when --connections > 1 (default: min(connections, CPUs))')
    .option('--presign <n>', 'requests per connection built and signed before the clock starts, so signing does not cap throughput (0: as sent)', '0')
    .option('--pin <mode>', 'CPU pinning with taskset: none, same (client and target on one CPU), split (different CPUs)', 'none')
    .option('--no-floor', 'skip the Node raw-echo floor')
    .option('--no-native', 'skip the native (C) echo floor and client')
    .option('--http', 'also measure the reference over HTTP on loopback (autocannon) and print the IPC/HTTP ratio')
    .option('--codec-matrix', 'also measure encode/decode/sign/verify per message (tinybench)')
    .option('--json', 'print the report as JSON ({ env, scenarios, ... }) instead of the table')
    .option('--report-dir <dir>', 'report directory (default reports/bench/<timestamp>)')
    .option('--no-report', 'write no files')
    .option('--reply-timeout-ms <ms>', 'a connection whose oldest request waited this long is reported as not answering', '5000')
    .option('--late-threshold-us <us>', 'open loop: a send later than intended by more than this is late', '1000')
    .option('--interval-ms <ms>', 'length of the intervals of the interval log and the over-time plots', '1000')
    .option(
      '--transport <t>',
      'fast sessions (docs/SPEC.md §10): shm (shared-memory rings), uds (FastMessages on the socket) or both, side by side with the socket floors and a native C ring floor',
    )
    .option('--ring-capacity <size>', 'data capacity of each shm ring, a power of two (e.g. 4MiB, 32MiB)', `${DEFAULT_RING_CAPACITY_BYTES / 1_048_576}MiB`)
    .option('--transfer <sizes>', 'fast-session transfer sizes (sink), comma-separated', DEFAULT_TRANSFER_SIZES_BYTES.map(sizeText).join(','))
    .option(
      '--transfer-ring-capacity <size>',
      'ring capacity of the transfer sessions: auto (each message fits one record, read in place by the server) or a power of two such as 4MiB (larger messages are chunked)',
      'auto',
    )
    .action(async (raw: unknown) => {
      await benchAction(parseBenchOptions(raw));
    });
  registerBenchCompare(bench);
  return bench;
}

function sizeText(bytes: number): string {
  return bytes % 1_048_576 === 0 ? `${bytes / 1_048_576}MiB` : bytes % 1_024 === 0 ? `${bytes / 1_024}KiB` : String(bytes);
}

/** Fast-session settings of a run: `--transport` (or `both` in the standard set, with shorter measures). */
function fastSessionConfig(opts: BenchCliOptions, standard: boolean): FastSessionBenchConfig | undefined {
  const transport = opts.transport ?? (standard ? 'both' : undefined);
  if (transport === undefined) return undefined;
  return {
    transports: transport === 'both' ? ['shm', 'uds'] : [transport],
    capacityBytes: opts.ringCapacity,
    transferSizesBytes: opts.transfer,
    transferCapacityBytes: opts.transferRingCapacity,
    // The standard set keeps the fast-session part short (about 25 s).
    durationMs: standard ? Math.min(opts.duration, 2_000) : opts.duration,
    warmupMs: standard ? Math.min(opts.warmup, 500) : opts.warmup,
  };
}

/** Merges the runs of several modes into one report (their scenario names differ by mode). */
function mergeRuns(runs: readonly BenchRun[]): { report: BenchReport; histograms: Map<string, ScenarioHistograms>; notes: string[] } {
  const first = runs[0];
  if (first === undefined) throw fpError('FP_USAGE', 'nothing to run');
  const histograms = new Map<string, ScenarioHistograms>();
  for (const r of runs) for (const [k, v] of r.histograms) histograms.set(k, v);
  const seen = new Set<string>();
  const scenarios = runs.flatMap((r) => r.report.scenarios).filter((s) => (seen.has(s.name) ? false : (seen.add(s.name), true)));
  const fastSession = runs.find((r) => r.report.fastSession !== undefined)?.report.fastSession;
  return { report: { ...first.report, scenarios, fastSession }, histograms, notes: [...new Set(runs.flatMap((r) => r.notes))] };
}

/** The body of `fastpath bench` (exported for tests and other front ends). */
export async function benchAction(opts: BenchCliOptions): Promise<void> {
  const progress = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  const pin: PinMode = opts.pin;
  const cpus = (await import('node:os')).availableParallelism();
  const threads = opts.threads ?? Math.min(opts.connections, cpus);
  const payloads = opts.payload.split(',').map(parsePayloadSize);
  const common = {
    nodeFloor: opts.floor,
    nativeFloor: opts.native,
    warmupMs: opts.warmup,
    durationMs: opts.duration,
    repeat: opts.repeat,
    replyTimeoutMs: opts.replyTimeoutMs,
    lateThresholdUs: opts.lateThresholdUs,
    intervalMs: opts.intervalMs,
    threads,
    pin,
    presign: opts.presign,
    toolVersion: readPackageVersion(),
    onProgress: progress,
  };
  const runs: BenchRun[] = [];
  let httpMode: { target: ResolvedTarget; mode: ModeInfo } | undefined;
  if (opts.standard === true) {
    for (const m of STANDARD_MODES) {
      if (opts.framing !== undefined && framingName(parseFraming(opts.framing)) !== m.framing) continue;
      if (opts.auth !== undefined && opts.auth !== m.auth) continue;
      const target = await resolveTarget(opts.target, { framing: m.framing, auth: m.auth, secret: opts.secret }, 'bench').catch((err: unknown) => {
        progress(`skipping ${m.framing}/${m.auth}: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (target === undefined) continue;
      const mode = chooseLoadMode(target, opts.framing !== undefined || opts.auth !== undefined, 'benchmark');
      httpMode ??= { target, mode };
      // Fast sessions once, in the first (seed) mode, when the target declares them (or --transport asks).
      const offersFast = target.capabilities.fastSession === true || opts.transport !== undefined;
      const fastSession = runs.length === 0 && offersFast ? fastSessionConfig(opts, true) : undefined;
      runs.push(await runBench({ ...common, target, mode, dialect: dialectRefOf(target), scenarios: standardScenarios(mode.framingName, mode.auth, m.full), fastSession }));
    }
    if (runs.length === 0) throw fpError('FP_USAGE', `target ${opts.target} declares none of the standard modes (ndjson/hmac-json, lp32-msgpack/hmac-v2); run without --standard`);
  } else {
    const target = await resolveTarget(opts.target, { framing: opts.framing, auth: opts.auth, secret: opts.secret }, 'bench');
    const mode = chooseLoadMode(target, opts.framing !== undefined || opts.auth !== undefined, 'benchmark');
    httpMode = { target, mode };
    const depth = opts.depth ?? (opts.loop === 'open' ? 64 : 1);
    const scenarios: ScenarioSpec[] = payloads.map((signalBytes) => ({
      peer: 'target',
      loop: opts.loop,
      connections: opts.connections,
      depth,
      ratePerSec: opts.rate,
      signalBytes,
      framing: mode.framingName,
      auth: mode.auth,
    }));
    runs.push(await runBench({ ...common, target, mode, dialect: dialectRefOf(target), scenarios, fastSession: fastSessionConfig(opts, false) }));
  }
  const merged = mergeRuns(runs);
  let codecMatrix: CodecMatrixRow[] | undefined;
  if (opts.codecMatrix === true || opts.standard === true) {
    progress('codec matrix (tinybench)');
    codecMatrix = await runCodecMatrix();
  }
  let http: HttpComparison | undefined;
  let httpFailure: string | undefined;
  if ((opts.http === true || opts.standard === true) && httpMode !== undefined) {
    if (httpMode.target.source !== 'built-in') {
      if (opts.http === true) throw fpError('FP_USAGE', '--http measures the built-in reference only (it serves the same endpoint over HTTP); drop --http or use --target reference');
    } else {
      try {
        http = await compareIpcHttp({
          target: httpMode.target,
          mode: httpMode.mode,
          durationMs: opts.duration,
          warmupMs: Math.max(opts.warmup, 500),
          connections: 1,
          pinCpu: planPinning(pin).targetCpu,
          onProgress: progress,
        });
      } catch (err) {
        // The scenarios already measured are still reported; the run fails.
        httpFailure = `IPC vs HTTP not measured: ${err instanceof Error ? err.message : String(err)}`;
        merged.notes.push(httpFailure);
      }
    }
  }
  let report: BenchReport = { ...merged.report, codecMatrix, http };
  for (const n of merged.notes) progress(n);
  if (opts.report) {
    const dir = opts.reportDir ?? defaultBenchDir();
    report = await writeBenchFiles(dir, report, merged.histograms);
    progress(`report: ${displayPath(resolve(dir, 'index.html'))}`);
  }
  if (opts.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatBenchTable(report, { color: process.stdout.isTTY === true && process.env.NO_COLOR === undefined }));
  const bad = report.scenarios.filter((s) => s.failure !== undefined || s.errors > 0 || s.unanswered > 0);
  if (bad.length > 0 || (http?.errors ?? 0) > 0 || httpFailure !== undefined) process.exitCode = 1;
  // Asked for explicitly, fast sessions that could not run (or saw errors) fail the run; in the standard set a target without them is only noted.
  const fast = report.fastSession;
  if (fast !== undefined && opts.transport !== undefined) {
    const fastBad =
      fast.failure !== undefined ||
      fast.roundTrips.some((r) => r.failure !== undefined || r.errors > 0) ||
      fast.transfers.some((t) => t.failure !== undefined || t.errors > 0) ||
      fast.oneWay.some((o) => o.failure !== undefined);
    if (fastBad) process.exitCode = 1;
  }
}
