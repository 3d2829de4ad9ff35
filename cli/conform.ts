import type { Command } from 'commander';
import { z } from 'zod';
import type { ConformanceCase } from '../harness/case.js';
import { formatConsoleReport, ProgressTracker } from '../harness/console-report.js';
import { probeSocket } from '../harness/launcher.js';
import { buildIndex, defaultReportDir, displayPath, writeReports } from '../harness/report-json.js';
import { DEFAULT_JOBS, listCases, runConformance, selectCases, type CaseListing } from '../harness/runner.js';
import { resolveTarget } from '../harness/targets.js';
import { fpError } from '../protocol/index.js';
import { intFlag, parseFlags } from './flags.js';

/**
 * `fastpath conform`: runs the conformance cases against a target and writes
 * index.json, per-case JSON and junit.xml. Exit 0 when nothing FAILED, 1 when a case
 * FAILED; usage and target errors are thrown as FastPathError (exit 2 in cli/main.ts).
 */

const MAX_JOBS = 64;
const MAX_CASE_TIMEOUT_MS = 3_600_000;

const globs = (flag: string) =>
  z.array(z.string().min(1, { message: `${flag} needs a non-empty glob (e.g. 'framing.*')` }), { message: `${flag} needs at least one glob` });

/** The raw options commander hands to the action, validated at the edge. */
export const ConformOptionsSchema = z.object({
  target: z.string().min(1, { message: '--target must not be empty (reference, unix:/path.sock or a target file)' }),
  framing: z.string().min(1, { message: '--framing must not be empty' }).optional(),
  auth: z.string().min(1, { message: '--auth must not be empty' }).optional(),
  secret: z.string().min(1, { message: '--secret must not be empty' }).optional(),
  pid: intFlag('--pid', 1, 4_194_304).optional(),
  strict: z.boolean().optional(),
  cases: globs('--cases').optional(),
  exclude: globs('--exclude').optional(),
  list: z.boolean().optional(),
  json: z.boolean().optional(),
  reportDir: z.string().min(1, { message: '--report-dir must not be empty' }).optional(),
  jobs: intFlag('--jobs', 1, MAX_JOBS),
  caseTimeoutMs: intFlag('--case-timeout-ms', 1, MAX_CASE_TIMEOUT_MS).optional(),
});
/** Validated options of `fastpath conform`. */
export type ConformOptions = z.infer<typeof ConformOptionsSchema>;

/**
 * Validates commander's option object.
 * @throws FastPathError FP_USAGE naming the flag.
 */
export function parseConformOptions(raw: unknown): ConformOptions {
  return parseFlags(ConformOptionsSchema, raw);
}

/** `--list` as text: one line per case. */
export function formatCaseList(rows: readonly CaseListing[], modeCount: number): string {
  if (rows.length === 0) return 'no conformance cases selected\n';
  const idWidth = Math.max(...rows.map((r) => r.id.length));
  const lines = rows.map((r) => {
    const modes = r.modes.length === modeCount ? 'all modes' : r.modes.length === 0 ? 'no mode' : r.modes.join(',');
    return `${r.id.padEnd(idWidth)}  §${r.section.padEnd(6)} ${r.level.padEnd(6)} ${modes.padEnd(12)} ${r.description}`;
  });
  lines.push('', `${rows.length} case${rows.length === 1 ? '' : 's'}`);
  return `${lines.join('\n')}\n`;
}

/** Registers `fastpath conform` on `program`, running `cases`. */
export function registerConform(program: Command, cases: readonly ConformanceCase[]): Command {
  return program
    .command('conform')
    .description('run the conformance suite against a target and write JSON and JUnit reports')
    .option('--target <target>', 'reference (built-in), unix:/path.sock (attach), or a target file (.json, .js, .mjs)', 'reference')
    .option('--framing <framing>', 'only this framing: ndjson, lp32-json, lp32-msgpack or an lp: spec string')
    .option('--auth <auth>', 'only this auth mode: none, hmac-json, hmac-v2')
    .option('--secret <secret>', 'HMAC secret (default: the target file\'s, or a random one for spawned targets)')
    .option('--pid <pid>', 'pid of an attached target, for memory and fd measurements')
    .option('--strict', 'a missed SHOULD (NON-STRICT) counts as FAILED')
    .option('--cases <glob...>', 'run only cases whose id matches a glob (* and ?)')
    .option('--exclude <glob...>', 'skip cases whose id matches a glob')
    .option('--list', 'list the cases and the modes they apply to, without running them')
    .option('--json', 'print index.json to stdout instead of the table')
    .option('--report-dir <dir>', 'report directory (default reports/conform/<timestamp>)')
    .option('--jobs <n>', `modes run at once, each with its own target process (1-${MAX_JOBS})`, String(DEFAULT_JOBS))
    .option('--case-timeout-ms <ms>', 'budget of a case that sets none (default 10000)')
    .action(async (raw: unknown) => {
      await conformAction(parseConformOptions(raw), cases);
    });
}

/** The body of `fastpath conform` (exported for tests and other front ends). */
export async function conformAction(opts: ConformOptions, cases: readonly ConformanceCase[]): Promise<void> {
  const target = await resolveTarget(opts.target, { framing: opts.framing, auth: opts.auth, secret: opts.secret, pid: opts.pid });
  if (opts.cases !== undefined && selectCases(cases, opts.cases, []).length === 0) {
    throw fpError('FP_USAGE', `no conformance case id matches --cases ${opts.cases.join(' ')} (see fastpath conform --list)`);
  }
  if (opts.list === true) {
    const rows = listCases(cases, target.modes, opts.cases, opts.exclude);
    process.stdout.write(opts.json === true ? `${JSON.stringify(rows, null, 2)}\n` : formatCaseList(rows, target.modes.length));
    return;
  }

  if (target.spawn === undefined && target.socketPath !== undefined) {
    // Nothing to run against: say so at once instead of writing an empty report.
    const probe = await probeSocket(target.socketPath);
    if (probe !== 'connected') {
      throw fpError('FP_TARGET_UNREACHABLE', `cannot connect to ${target.socketPath} (${probe}); is the server running?`);
    }
  }

  const tracker = new ProgressTracker();
  const tty = process.stderr.isTTY === true;
  let statusShown = false;
  const result = await runConformance({
    target,
    cases,
    strict: opts.strict === true,
    include: opts.cases,
    exclude: opts.exclude,
    jobs: opts.jobs,
    caseTimeoutMs: opts.caseTimeoutMs,
    onProgress: (event) => {
      const line = tracker.update(event);
      if (tty) {
        const status = tracker.status();
        const width = process.stderr.columns ?? 100;
        const clear = statusShown ? '\r\x1b[K' : '';
        const permanent = line === undefined ? '' : `${line}\n`;
        const shown = status === '' ? '' : status.length > width - 1 ? `${status.slice(0, width - 2)}…` : status;
        process.stderr.write(`${clear}${permanent}${shown}`);
        statusShown = shown !== '';
      } else if (line !== undefined) {
        process.stderr.write(`${line}\n`);
      }
    },
  });
  if (tty && statusShown) process.stderr.write('\r\x1b[K');

  const written = await writeReports(result, opts.reportDir ?? defaultReportDir());
  const where = `report: ${displayPath(written.indexPath)} (JUnit: ${displayPath(written.junitPath)})\n`;
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(buildIndex(result), null, 2)}\n`);
    process.stderr.write(where);
  } else {
    const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
    process.stdout.write(formatConsoleReport(result, { reportDir: written.dir, color }));
    process.stdout.write(where);
  }

  const broken = result.modes.find((m) => m.startError !== undefined);
  if (broken?.startError !== undefined) {
    throw fpError(target.spawn !== undefined ? 'FP_TARGET_START_FAILED' : 'FP_TARGET_UNREACHABLE', `[${broken.label}] ${broken.startError}`);
  }
  if (result.summary.FAILED > 0) process.exitCode = 1;
}
