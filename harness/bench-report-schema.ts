import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { fpError } from '../protocol/index.js';
import type {
  BenchReport,
  CodecMatrixRow,
  FastComparison,
  FastOneWayResult,
  FastRoundTripResult,
  FastSessionResult,
  FastTargetCheck,
  FastTransferResult,
  HttpComparison,
  NativeRingFloor,
  ScenarioResult,
} from './bench-result.js';
import { describeValue, errorMessage } from './dialect.js';
import { formatJsonPath } from './target-file.js';

/**
 * Reading a `fastpath bench --json` report back (for `bench compare`): a zod schema
 * of {@link BenchReport} and a loader whose every failure is one line naming the
 * file, what is wrong and how to fix it. Unknown extra fields are tolerated (and
 * dropped), so a report from a newer fastpath with more fields still loads.
 *
 * A measured figure may be `null`: `JSON.stringify` writes NaN and ±Infinity (an
 * empty histogram's ratio, a rate over zero time) as `null`. It is read back as NaN,
 * which `bench compare` treats as "not measured".
 */

const HOW_TO_WRITE = 'was it written by `fastpath bench --json > file`?';

/** A measured figure: a number, or null (NaN/Infinity after JSON.stringify) read back as NaN. */
const measured = z
  .number()
  .nullable()
  .transform((v) => v ?? Number.NaN);
/** A count of events. */
const count = z.number().int().nonnegative();

const latencyShape = {
  p50Us: measured,
  p90Us: measured,
  p99Us: measured,
  p999Us: measured,
  p9999Us: measured,
  maxUs: measured,
  meanUs: measured,
  count,
};

export const LatencySummarySchema = z.object(latencyShape);

export const PercentilePointSchema = z.object({ percentile: z.number().min(0).max(100), valueUs: measured });

export const IntervalPointSchema = z.object({
  startMs: z.number().nonnegative(),
  durationMs: z.number().nonnegative(),
  throughputPerSec: measured,
  p50Us: measured,
  p99Us: measured,
  maxUs: measured,
});

export const RunSampleSchema = z.object({
  p50Us: measured,
  p90Us: measured,
  p99Us: measured,
  p999Us: measured,
  throughputPerSec: measured,
  floorRatioP50: measured.optional(),
  floorRatioP99: measured.optional(),
});

export const FairnessSchema = z.object({
  connections: count,
  minPerConnection: z.number().nonnegative(),
  maxPerConnection: z.number().nonnegative(),
  meanPerConnection: measured,
  jainIndex: measured,
});

export const FloorRefSchema = z.object({ name: z.string(), p50Us: measured, p99Us: measured });

export const ScenarioResultSchema = z
  .object({
    ...latencyShape,
    name: z.string().min(1),
    peer: z.enum(['target', 'node-echo', 'native-echo', 'native-client', 'http']),
    mode: z.string(),
    loop: z.enum(['closed', 'open']),
    connections: count,
    depth: count,
    ratePerSec: z.number().positive().optional(),
    payloadBytes: count,
    durationMs: z.number().nonnegative(),
    warmupMs: z.number().nonnegative(),
    sent: count,
    received: count,
    throughputPerSec: measured,
    errors: count,
    errorSamples: z.array(z.string()),
    late: count,
    unanswered: count,
    uncorrected: LatencySummarySchema.optional(),
    floor: FloorRefSchema.optional(),
    ratioToFloor: z.object({ p50: measured, p99: measured }).optional(),
    fairness: FairnessSchema.optional(),
    percentiles: z.array(PercentilePointSchema),
    intervals: z.array(IntervalPointSchema),
    runs: z.array(RunSampleSchema),
    files: z.object({ hgrm: z.string().optional(), intervalLog: z.string().optional(), uncorrectedHgrm: z.string().optional() }),
    failure: z.string().optional(),
  })
  // JSON has no `undefined`: absent keys become explicit `undefined` members of the data model.
  .transform(
    (s): ScenarioResult => ({
      ...s,
      ratePerSec: s.ratePerSec,
      uncorrected: s.uncorrected,
      floor: s.floor,
      ratioToFloor: s.ratioToFloor,
      fairness: s.fairness,
      failure: s.failure,
    }),
  );

export const BenchEnvSchema = z.object({
  nodeVersion: z.string(),
  v8Version: z.string(),
  platform: z.string(),
  arch: z.string(),
  cpuModel: z.string(),
  cpuCount: count,
  kernel: z.string(),
  loadAverage: z.array(z.number()),
  pinning: z
    .object({ mode: z.enum(['none', 'same', 'split']), clientCpu: count.optional(), targetCpu: count.optional() })
    .transform((p) => ({ ...p, clientCpu: p.clientCpu, targetCpu: p.targetCpu })),
  target: z.string(),
  startedAt: z.string(),
  hostname: z.string(),
});

export const CodecMatrixRowSchema = z.object({
  mode: z.string(),
  operation: z.enum(['encode', 'decode', 'sign', 'verify']),
  meanNs: measured,
  p50Ns: measured,
  p99Ns: measured,
  opsPerSec: measured,
  samples: count,
  frameBytes: count,
}) satisfies z.ZodType<CodecMatrixRow>;

export const HttpComparisonSchema = z.object({
  ipcP50Us: measured,
  ipcMeanUs: measured,
  httpP50Us: measured,
  httpMeanUs: measured,
  httpRequestsPerSec: measured,
  ratioMean: measured,
  ratioP50: measured,
  connections: count,
  errors: count,
}) satisfies z.ZodType<HttpComparison>;

const optionalMeasured = measured.optional();
const failure = z.string().optional();

export const FastRoundTripResultSchema = z
  .object({
    ...latencyShape,
    name: z.string().min(1),
    method: z.enum(['echo', 'signal']),
    transport: z.enum(['shm', 'uds', 'socket']),
    clientWait: z.string().optional(),
    serverWait: z.string().optional(),
    payloadBytes: count,
    durationMs: z.number().nonnegative(),
    warmupMs: z.number().nonnegative(),
    throughputPerSec: measured,
    errors: count,
    errorSamples: z.array(z.string()),
    runs: z.array(z.object({ p50Us: measured, p99Us: measured, throughputPerSec: measured })),
    failure,
  })
  .transform((r): FastRoundTripResult => ({ ...r, clientWait: r.clientWait, serverWait: r.serverWait, failure: r.failure }));

export const FastTransferResultSchema = z
  .object({
    name: z.string().min(1),
    transport: z.enum(['shm', 'uds']),
    clientWait: z.string().optional(),
    capacityBytes: count.optional(),
    sizeBytes: count,
    reps: count,
    p50Us: measured,
    p99Us: measured,
    minUs: measured,
    maxUs: measured,
    meanUs: measured,
    gbPerSecP50: measured,
    gbPerSecSustained: measured,
    errors: count,
    failure,
  })
  .transform((t): FastTransferResult => ({ ...t, clientWait: t.clientWait, capacityBytes: t.capacityBytes, failure: t.failure }));

export const FastOneWayResultSchema = z
  .object({
    name: z.string().min(1),
    transport: z.enum(['shm', 'uds']),
    payloadBytes: count,
    messages: count,
    durationMs: z.number().nonnegative(),
    messagesPerSec: measured,
    runs: z.array(z.object({ messagesPerSec: measured })),
    failure,
  })
  .transform((o): FastOneWayResult => ({ ...o, failure: o.failure }));

export const NativeRingFloorSchema = z
  .object({
    capacityBytes: count,
    payloadBytes: count,
    count,
    p50Us: measured,
    p90Us: measured,
    p99Us: measured,
    p999Us: measured,
    maxUs: measured,
    meanUs: measured,
    transfers: z.array(z.object({ sizeBytes: count, capacityBytes: count, reps: count, p50Us: measured, p99Us: measured, gbPerSecP50: measured })),
    cpus: z.array(count).optional(),
  })
  .transform((f): NativeRingFloor => ({ ...f, cpus: f.cpus }));

export const FastComparisonSchema = z
  .object({
    measure: z.string(),
    unit: z.enum(['us', 'msg/s', 'GB/s']),
    shm: optionalMeasured,
    uds: optionalMeasured,
    shmOverUds: optionalMeasured,
    socket: optionalMeasured,
    shmOverSocket: optionalMeasured,
    nativeRing: optionalMeasured,
    shmOverNativeRing: optionalMeasured,
  })
  .transform(
    (c): FastComparison => ({
      ...c,
      shm: c.shm,
      uds: c.uds,
      shmOverUds: c.shmOverUds,
      socket: c.socket,
      shmOverSocket: c.shmOverSocket,
      nativeRing: c.nativeRing,
      shmOverNativeRing: c.shmOverNativeRing,
    }),
  );

export const FastTargetCheckSchema = z
  .object({
    id: z.string().min(1),
    description: z.string(),
    basis: z.string(),
    comparison: z.enum(['<=', '>=']),
    limit: z.number(),
    unit: z.enum(['us', 'ms', 'x', 'GB/s', 'msg/s']),
    measured: optionalMeasured,
    met: z.boolean().optional(),
  })
  .transform((t): FastTargetCheck => ({ ...t, measured: t.measured, met: t.met }));

export const FastSessionResultSchema = z
  .object({
    transports: z.array(z.enum(['shm', 'uds'])),
    capacityBytes: count,
    ready: z.array(
      z
        .object({ transport: z.enum(['shm', 'uds']), wait: z.string().optional(), maxMessageBytes: count, serverPid: count })
        .transform((r) => ({ ...r, wait: r.wait })),
    ),
    roundTrips: z.array(FastRoundTripResultSchema),
    transfers: z.array(FastTransferResultSchema),
    oneWay: z.array(FastOneWayResultSchema),
    nativeRing: NativeRingFloorSchema.optional(),
    udsFloor: FloorRefSchema.optional(),
    nativeUdsFloor: FloorRefSchema.optional(),
    socketSignal: FloorRefSchema.optional(),
    comparisons: z.array(FastComparisonSchema),
    targets: z.array(FastTargetCheckSchema),
    notes: z.array(z.string()),
    failure,
  })
  .transform(
    (f): FastSessionResult => ({
      ...f,
      nativeRing: f.nativeRing,
      udsFloor: f.udsFloor,
      nativeUdsFloor: f.nativeUdsFloor,
      socketSignal: f.socketSignal,
      failure: f.failure,
    }),
  );

/** A whole `fastpath bench --json` report. Scenario names must be unique (`bench compare` matches by name). */
export const BenchReportSchema = z
  .object({
    env: BenchEnvSchema,
    scenarios: z.array(ScenarioResultSchema),
    codecMatrix: z.array(CodecMatrixRowSchema).optional(),
    http: HttpComparisonSchema.optional(),
    fastSession: FastSessionResultSchema.optional(),
    tool: z.object({ name: z.literal('fastpath'), version: z.string(), timer: z.literal('process.hrtime.bigint') }),
  })
  .superRefine((report, ctx) => {
    const seen = new Map<string, number>();
    report.scenarios.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first === undefined) seen.set(s.name, i);
      else ctx.addIssue({ code: 'custom', path: ['scenarios', i, 'name'], message: `scenario name "${s.name}" repeats scenarios[${first}] (names must be unique)` });
    });
  })
  .transform((r): BenchReport => ({ ...r, codecMatrix: r.codecMatrix, http: r.http, fastSession: r.fastSession }));

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** One zod issue as a phrase: `at scenarios[2].p99Us: expected number, got "12"`. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const at = formatJsonPath(issue.path);
  const where = at === '' ? 'at the top level' : `at ${at}`;
  const actual = valueAt(input, issue.path);
  if (issue.code === 'invalid_type') {
    if (actual === undefined) return `missing key "${String(issue.path[issue.path.length - 1] ?? '')}" ${issue.path.length > 1 ? `at ${formatJsonPath(issue.path.slice(0, -1))}` : 'at the top level'}`;
    return `${where}: expected ${issue.expected}, got ${describeValue(actual)}`;
  }
  if (issue.code === 'invalid_value') return `${where}: ${describeValue(actual)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'custom') return `${where}: ${issue.message}`;
  return `${where}: ${issue.message} (got ${describeValue(actual)})`;
}

/**
 * Validates a parsed JSON value as a bench report.
 * @param file How to name the source in messages.
 * @throws FastPathError FP_USAGE, one line: file, first problem, count of the others, and the fix.
 */
export function parseBenchReport(value: unknown, file: string): BenchReport {
  const res = BenchReportSchema.safeParse(value);
  if (res.success) return res.data;
  const issues = res.error.issues;
  const first = issues[0];
  const problem = first === undefined ? 'does not match the schema' : describeIssue(first, value);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length === 2 ? '' : 's'})` : '';
  throw fpError('FP_USAGE', `${file} is not a fastpath bench report: ${problem}${more}; ${HOW_TO_WRITE}`);
}

/**
 * Reads and validates a bench report written by `fastpath bench --json > file`.
 * @throws FastPathError FP_USAGE when the file is missing or unreadable, is not JSON, or is not a bench report.
 */
export async function loadBenchReport(path: string): Promise<BenchReport> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file (check the path)'
        : code === 'EISDIR'
          ? 'it is a directory (give the report file, not its folder)'
          : code === 'EACCES'
            ? 'permission denied (check the file mode)'
            : errorMessage(err);
    throw fpError('FP_USAGE', `cannot read bench report ${path}: ${why}`, { path }, err);
  }
  if (text.trim() === '') throw fpError('FP_USAGE', `bench report ${path} is empty; ${HOW_TO_WRITE}`, { path });
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw fpError('FP_USAGE', `bench report ${path} is not valid JSON (${errorMessage(err)}); ${HOW_TO_WRITE}`, { path }, err);
  }
  return parseBenchReport(value, path);
}
