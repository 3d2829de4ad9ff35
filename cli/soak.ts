import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { parsePayloadSize } from '../harness/bench-scenario.js';
import { dialectRefOf } from '../harness/load-plan.js';
import { displayPath } from '../harness/report-json.js';
import { runSoak, type SoakResult } from '../harness/soak-driver.js';
import { formatSoakProgress } from '../harness/soak-progress.js';
import { formatSoakSummary } from '../harness/soak-report-console.js';
import { renderSoakHtml } from '../harness/soak-report-html.js';
import { DEFAULT_SOAK_THRESHOLDS } from '../harness/soak-verdict.js';
import { chooseLoadMode, resolveTarget } from '../harness/targets.js';
import { fpError } from '../protocol/index.js';
import { intFlag, numberFlag, parseFlags } from './flags.js';

/**
 * `fastpath soak`: constant-rate load on a target for minutes or hours in constant
 * memory, the target sampled every few seconds, leaks found by trends after warm-up
 * (harness/soak-driver.ts). Exit 0 PASS, 1 FAIL; usage and target errors exit 2
 * (cli/main.ts). `npm run soak` runs it against the reference at 13,400 requests/s
 * for 60 s.
 */

const MAX_DURATION_MS = 7 * 24 * 3_600_000;
const MAX_WARMUP_MS = 3_600_000;

/**
 * A duration with its unit (`500ms`, `5s`, `2m`, `2h`), in [minMs, maxMs]. A bare
 * number is refused: in a soak `--duration 5` could mean 5 ms, 5 s or 5 minutes.
 */
export function unitDurationFlag(flag: string, minMs: number, maxMs: number, example: string) {
  const show = (ms: number): string => (ms >= 3_600_000 && ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms >= 1_000 && ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`);
  return z.string().transform((text, ctx) => {
    const t = text.trim();
    if (/^\d+(\.\d+)?$/.test(t)) {
      ctx.addIssue({ code: 'custom', message: `${flag} needs a unit: "${text}" is ambiguous (ms? seconds? minutes?); write e.g. ${flag} ${t}s or ${flag} ${t}m` });
      return z.NEVER;
    }
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(t);
    const factor = m?.[2] === 'h' ? 3_600_000 : m?.[2] === 'm' ? 60_000 : m?.[2] === 's' ? 1_000 : 1;
    const value = m === null ? Number.NaN : Math.round(Number(m[1]) * factor);
    if (!(value >= minMs && value <= maxMs)) {
      const what = m === null ? 'is not a duration' : value < minMs ? `is below the minimum ${show(minMs)}` : `is above the maximum ${show(maxMs)}`;
      ctx.addIssue({ code: 'custom', message: `${flag} "${text}" ${what}; write a duration from ${show(minMs)} to ${show(maxMs)} with its unit (ms, s, m, h), e.g. ${flag} ${example}` });
      return z.NEVER;
    }
    return value;
  });
}

/** The flags of `fastpath soak` as commander hands them over (strings), validated and converted (durations in ms, sizes in bytes). */
export const SoakOptionsSchema = z.object({
  target: z.string().min(1, { message: '--target must not be empty (reference, unix:/path.sock or a target file)' }),
  framing: z.string().min(1, { message: '--framing must not be empty' }).optional(),
  auth: z.string().min(1, { message: '--auth must not be empty' }).optional(),
  secret: z.string().min(1, { message: '--secret must not be empty' }).optional(),
  pid: intFlag('--pid', 1, 4_194_304).optional(),
  rate: numberFlag('--rate', 0, 10_000_000, { exclusiveMin: true, example: '13400' }),
  duration: unitDurationFlag('--duration', 1_000, MAX_DURATION_MS, '2h'),
  warmup: unitDurationFlag('--warmup', 0, MAX_WARMUP_MS, '20s'),
  connections: intFlag('--connections', 1, 10_000),
  depth: intFlag('--depth', 1, 100_000),
  threads: intFlag('--threads', 0, 64),
  payload: z.string().transform((text, ctx) => {
    try {
      return parsePayloadSize(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  }),
  interval: unitDurationFlag('--interval', 100, 3_600_000, '5s'),
  sampleInterval: unitDurationFlag('--sample-interval', 200, 3_600_000, '5s'),
  maxRssGrowthPct: numberFlag('--max-rss-growth-pct', 0, 10_000, { example: '5' }),
  maxFdGrowth: intFlag('--max-fd-growth', 0, 10_000_000),
  maxErrors: intFlag('--max-errors', 0, Number.MAX_SAFE_INTEGER),
  maxP99DriftPct: numberFlag('--max-p99-drift-pct', 0, 100_000, { example: '50' }).optional(),
  replyTimeoutMs: intFlag('--reply-timeout-ms', 10, 600_000),
  lateThresholdUs: intFlag('--late-threshold-us', 1, 60_000_000),
  json: z.boolean().optional(),
  reportDir: z.string().min(1, { message: '--report-dir must not be empty' }).optional(),
  report: z.boolean(),
});
/** Validated options of `fastpath soak`. */
export type SoakCliOptions = z.infer<typeof SoakOptionsSchema>;

function showMs(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`;
}

/**
 * Validates commander's option object and the combinations: at least two sample
 * intervals and one histogram interval in the run (a trend needs three samples after
 * warm-up), `--report-dir` without `--no-report`.
 * @throws FastPathError FP_USAGE naming the flag and the fix.
 */
export function parseSoakOptions(raw: unknown): SoakCliOptions {
  const o = parseFlags(SoakOptionsSchema, raw);
  if (o.duration < 2 * o.sampleInterval) {
    throw fpError(
      'FP_USAGE',
      `--duration ${showMs(o.duration)} is shorter than two sample intervals (--sample-interval ${showMs(o.sampleInterval)}): the RSS and FD trends need at least 3 samples after warm-up; use --duration ${showMs(2 * o.sampleInterval)} or more, or a shorter --sample-interval`,
    );
  }
  if (o.interval > o.duration) {
    throw fpError('FP_USAGE', `--interval ${showMs(o.interval)} is longer than --duration ${showMs(o.duration)}: the latency trend needs several intervals; use a shorter --interval (default 5s)`);
  }
  if (!o.report && o.reportDir !== undefined) throw fpError('FP_USAGE', '--report-dir and --no-report contradict each other: drop one');
  if (o.rate / o.connections > 1_000_000) {
    throw fpError('FP_USAGE', `--rate ${o.rate} over ${o.connections} connection(s) is above 1,000,000 requests/s per connection; add --connections`);
  }
  return o;
}

/** The ndjson/hmac-json mode of the seed for the built-in reference, else the target's first mode (as `fastpath bench`). */
/** `reports/soak/<timestamp>` under `cwd`. */
export function defaultSoakDir(at: Date = new Date(), cwd: string = process.cwd()): string {
  return join(cwd, 'reports', 'soak', at.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-'));
}

/** The `--json` object: the issue's headline fields first, then the details (intervals and samples are in the report files). */
export function soakJson(r: SoakResult, report: { dir: string; html: string; json: string } | undefined): Record<string, unknown> {
  const { intervals, samples, ...rest } = r;
  return {
    ...rest,
    intervalCount: intervals.length,
    sampleCount: samples.length,
    report: report === undefined ? null : { ...report, files: r.files === null ? null : Object.fromEntries(Object.entries(r.files).map(([k, v]) => [k, join(report.dir, v)])) },
  };
}

/** Registers `fastpath soak` on `program`. */
export function registerSoak(program: Command): Command {
  return program
    .command('soak')
    .description('constant-rate load for minutes or hours in constant memory; finds leaks (RSS, FDs), errors, lost replies and latency drift by trends over time')
    .option('--target <target>', 'reference (built-in), unix:/path.sock (attach, with --pid) or a target file (.json, .js, .mjs)', 'reference')
    .option('--framing <framing>', 'mode to use: ndjson, lp32-json, lp32-msgpack or an lp: string (reference default: ndjson)')
    .option('--auth <auth>', 'mode to use: none, hmac-json, hmac-v2 (reference default: hmac-json)')
    .option('--secret <secret>', "HMAC secret (default: the target file's, or a random one for spawned targets)")
    .option('--pid <pid>', 'pid of an attached target (unix:), for RSS, FDs and CPU from /proc (required for unix: targets)')
    .option('--rate <r>', 'offered requests per second over all connections (open loop)', '13400')
    .option('--duration <d>', 'measured time after warm-up, with its unit: 60s, 30m, 2h', '60s')
    .option('--warmup <d>', 'warm-up before the measured phase, excluded from the trends and latency figures', '20s')
    .option('--connections <n>', 'connections the rate is spread over', '4')
    .option('--depth <n>', 'most requests outstanding per connection', '64')
    .option('--threads <n>', 'worker threads generating the load (0: this thread)', '1')
    .option('--payload <size>', 'signal size: 64B, 1KiB, 64KiB, 1MiB or a byte count', '64B')
    .option('--interval <d>', 'length of each interval histogram (the interval log and the p99 trend)', '5s')
    .option('--sample-interval <d>', 'time between two samples of the target (RSS, FDs, CPU, STATUS)', '5s')
    .option('--max-rss-growth-pct <p>', 'fail when RSS grows more than this after warm-up (percent of the fitted start)', String(DEFAULT_SOAK_THRESHOLDS.maxRssGrowthPct))
    .option('--max-fd-growth <n>', 'fail when open FDs grow by more than this after warm-up', String(DEFAULT_SOAK_THRESHOLDS.maxFdGrowth))
    .option('--max-errors <n>', 'fail on more error replies than this', String(DEFAULT_SOAK_THRESHOLDS.maxErrors))
    .option('--max-p99-drift-pct <p>', 'also fail when the fitted p99 drifts up by more than this over the run (default: reported only)')
    .option('--reply-timeout-ms <ms>', 'a connection whose oldest request waited this long is reported as not answering', '5000')
    .option('--late-threshold-us <us>', 'a send later than intended by more than this is counted late', '1000')
    .option('--json', 'print one JSON object: { verdict, ops, opsPerSec, rssGrowthPct, fdGrowth, errors, lost, p50Us, p99Us, ... }')
    .option('--report-dir <dir>', 'report directory (default reports/soak/<timestamp>)')
    .option('--no-report', 'write no files')
    .action(async (raw: unknown) => {
      await soakAction(parseSoakOptions(raw));
    });
}

/** The body of `fastpath soak` (exported for tests and other front ends). */
export async function soakAction(opts: SoakCliOptions): Promise<void> {
  const err = process.stderr;
  const tty = err.isTTY === true;
  const note = (line: string): void => {
    if (tty) err.write('\r\x1b[K');
    err.write(`soak: ${line}\n`);
  };
  const target = await resolveTarget(opts.target, { framing: opts.framing, auth: opts.auth, secret: opts.secret, pid: opts.pid }, 'bench');
  if (target.spawn === undefined && target.pid === undefined) {
    throw fpError('FP_USAGE', `--target ${opts.target} is attached: pass --pid PID of the server process, so its RSS, FDs and CPU can be read from /proc (a soak without them cannot find leaks)`);
  }
  const mode = chooseLoadMode(target, opts.framing !== undefined || opts.auth !== undefined, 'soak');
  const dir = opts.report ? resolve(opts.reportDir ?? defaultSoakDir()) : undefined;
  note(`${target.name} in ${mode.label}: ${opts.rate} requests/s over ${opts.connections} connections for ${showMs(opts.warmup)} warm-up + ${showMs(opts.duration)}`);
  const result = await runSoak(
    {
      target,
      mode,
      dialect: dialectRefOf(target),
      ratePerSec: opts.rate,
      durationMs: opts.duration,
      warmupMs: opts.warmup,
      connections: opts.connections,
      depth: opts.depth,
      threads: opts.threads,
      signalBytes: opts.payload,
      intervalMs: opts.interval,
      sampleIntervalMs: opts.sampleInterval,
      replyTimeoutMs: opts.replyTimeoutMs,
      lateThresholdUs: opts.lateThresholdUs,
      thresholds: { maxRssGrowthPct: opts.maxRssGrowthPct, maxFdGrowth: opts.maxFdGrowth, maxErrors: opts.maxErrors, maxP99DriftPct: opts.maxP99DriftPct },
      outputDir: dir,
    },
    {
      onStarted: (info) => note(`target running: ${info.description}${info.pid === undefined ? '' : ` (pid ${info.pid})`}`),
      onProgress: tty ? (p) => err.write(`\r\x1b[K${formatSoakProgress(p)}`) : undefined,
      onSample: tty ? undefined : (_s, p) => err.write(`${formatSoakProgress(p)}\n`),
    },
  );
  if (tty) err.write('\r\x1b[K');
  let report: { dir: string; html: string; json: string } | undefined;
  if (dir !== undefined) {
    report = { dir, html: join(dir, 'index.html'), json: join(dir, 'report.json') };
    await writeFile(report.json, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(report.html, renderSoakHtml(result));
    note(`report: ${displayPath(report.html)}`);
  }
  if (opts.json === true) process.stdout.write(`${JSON.stringify(soakJson(result, report), null, 2)}\n`);
  else process.stdout.write(formatSoakSummary(result));
  process.exitCode = result.verdict === 'PASS' ? 0 : 1;
}
