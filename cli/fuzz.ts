import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { formatDurationMs, formatSummaryTable } from '../harness/console-report.js';
import { DEFAULT_MAX_FD_GROWTH, DEFAULT_MAX_RSS_GROWTH_MIB } from '../harness/fuzz-oracles.js';
import { fuzzPropertyApplies, missingFuzzCapability, planFuzzRun, randomRunSeed, selectFuzzProperties } from '../harness/fuzz-plan.js';
import type { FuzzProperty } from '../harness/fuzz-property.js';
import { readReplayFile } from '../harness/fuzz-replay.js';
import {
  DEFAULT_FUZZ_RUNS,
  DEFAULT_SHRINK_TIME_MS,
  replayFuzz,
  runFuzz,
  targetSpecOf,
  type FuzzProgressEvent,
  type FuzzResult,
} from '../harness/fuzz-runner.js';
import { probeSocket } from '../harness/launcher.js';
import { buildIndex, displayPath, writeReports } from '../harness/report-json.js';
import { resolveTarget, type ResolvedTarget } from '../harness/targets.js';
import { fpError } from '../protocol/index.js';
import { fuzzProperties } from '../suites/index.js';
import { durationFlag, intFlag, parseFlags } from './flags.js';

/**
 * `fastpath fuzz`: runs the fuzz properties of suites/fuzz against a target
 * (docs/FUZZ.md) and writes the conformance report files (index.json, per-case JSON,
 * junit.xml) plus fuzz.json and one replay file per finding. `--replay FILE` runs one
 * saved counterexample again. Exit 0 when nothing was found, 1 on a finding; usage
 * and target errors are thrown as FastPathError (exit 2 in cli/main.ts).
 */

const MAX_RUNS = 100_000_000;
const MAX_TIME_MS = 7 * 24 * 3_600_000;
const MAX_SHRINK_TIME_MS = 3_600_000;

const globs = (flag: string) =>
  z.array(z.string().min(1, { message: `${flag} needs a non-empty glob (e.g. 'fuzz.frame.*')` }), { message: `${flag} needs at least one glob` });

/** The raw options commander hands to the action, validated at the edge. */
export const FuzzOptionsSchema = z.object({
  target: z.string().min(1, { message: '--target must not be empty (reference, unix:/path.sock or a target file)' }).optional(),
  runs: intFlag('--runs', 1, MAX_RUNS).optional(),
  seed: intFlag('--seed', 0, 0xffffffff).optional(),
  time: durationFlag('--time', 1_000, MAX_TIME_MS).optional(),
  shrinkTime: durationFlag('--shrink-time', 0, MAX_SHRINK_TIME_MS).optional(),
  replay: z.string().min(1, { message: '--replay needs the path of a replay file' }).optional(),
  framing: z.string().min(1, { message: '--framing must not be empty' }).optional(),
  auth: z.string().min(1, { message: '--auth must not be empty' }).optional(),
  secret: z.string().min(1, { message: '--secret must not be empty' }).optional(),
  pid: intFlag('--pid', 1, 4_194_304).optional(),
  properties: globs('--properties').optional(),
  exclude: globs('--exclude').optional(),
  list: z.boolean().optional(),
  json: z.boolean().optional(),
  reportDir: z.string().min(1, { message: '--report-dir must not be empty' }).optional(),
  maxRssGrowthMib: intFlag('--max-rss-growth-mib', 1, 1_048_576).optional(),
  maxFdGrowth: intFlag('--max-fd-growth', 1, 1_000_000).optional(),
});
/** Validated options of `fastpath fuzz`. */
export type FuzzCliOptions = z.infer<typeof FuzzOptionsSchema>;

/** Flags that make no sense with `--replay` (the file fixes them), and why. */
const NOT_WITH_REPLAY: ReadonlyArray<[keyof FuzzCliOptions, string]> = [
  ['runs', '--runs'],
  ['seed', '--seed'],
  ['time', '--time'],
  ['shrinkTime', '--shrink-time'],
  ['framing', '--framing'],
  ['auth', '--auth'],
  ['properties', '--properties'],
  ['exclude', '--exclude'],
  ['list', '--list'],
];

/**
 * Validates commander's option object, including flags that exclude each other.
 * @throws FastPathError FP_USAGE naming the flag and what to do.
 */
export function parseFuzzOptions(raw: unknown): FuzzCliOptions {
  const opts = parseFlags(FuzzOptionsSchema, raw);
  if (opts.replay !== undefined) {
    for (const [key, flag] of NOT_WITH_REPLAY) {
      if (opts[key] !== undefined) {
        throw fpError('FP_USAGE', `${flag} cannot be combined with --replay: the replay file fixes the mode, the property, the seed and the path; drop ${flag}`);
      }
    }
  }
  return opts;
}

/** One row of `--list`. */
export interface FuzzListing {
  readonly id: string;
  readonly section: string;
  readonly level: string;
  readonly description: string;
  readonly requires: readonly string[];
  readonly weight: number;
  /** Mode label → planned inputs, for the modes it applies to (0 where a capability is missing). */
  readonly modes: Readonly<Record<string, number>>;
  /** Why it is UNIMPLEMENTED for this target (a capability is missing). */
  readonly unimplemented?: string;
  /** True when it applies to none of the selected modes (e.g. length prefixes in ndjson). */
  readonly notApplicable?: true;
}

/** The selected properties with the modes they apply to and the inputs `runs` gives each. */
export function listFuzzProperties(properties: readonly FuzzProperty[], target: ResolvedTarget, runs: number): FuzzListing[] {
  const plan = planFuzzRun({ modes: target.modes, properties, capabilities: target.capabilities, spawned: target.spawn !== undefined, runs, runSeed: 0 });
  return properties.map((p) => {
    const modes: Record<string, number> = {};
    for (const item of plan) if (item.property === p) modes[item.mode.label] = item.numRuns;
    const missing = missingFuzzCapability(p, target.capabilities, target.spawn !== undefined);
    return {
      id: p.id,
      section: p.section,
      level: p.level,
      description: p.description,
      requires: [...(p.requires ?? [])],
      weight: p.weight ?? 1,
      modes,
      ...(missing !== undefined ? { unimplemented: missing } : {}),
      ...(target.modes.some((m) => fuzzPropertyApplies(p, m)) ? {} : { notApplicable: true as const }),
    };
  });
}

/** `--list` as text. */
export function formatFuzzList(rows: readonly FuzzListing[], runs: number): string {
  if (rows.length === 0) return 'no fuzz property selected\n';
  const idWidth = Math.max(...rows.map((r) => r.id.length));
  const lines = rows.map((r) => {
    const inputs = Object.values(r.modes).reduce((a, b) => a + b, 0);
    const where =
      r.notApplicable === true
        ? 'applies to none of the selected modes'
        : r.unimplemented !== undefined
          ? `UNIMPLEMENTED: ${r.unimplemented}`
          : `${Object.keys(r.modes).length} mode(s), ${inputs} inputs`;
    return `${r.id.padEnd(idWidth)}  §${r.section.padEnd(6)} ${r.level.padEnd(5)} ${where}\n${' '.repeat(idWidth + 2)}${r.description}`;
  });
  lines.push('', `${rows.length} propert${rows.length === 1 ? 'y' : 'ies'}; inputs for --runs ${runs}`);
  return `${lines.join('\n')}\n`;
}

/** `reports/fuzz/<ISO timestamp with : replaced>` under `cwd`. */
export function defaultFuzzReportDir(now: Date = new Date(), cwd: string = process.cwd()): string {
  return resolve(cwd, 'reports', 'fuzz', now.toISOString().replace(/:/g, '-'));
}

/** A progress line for stderr, or undefined. */
export function formatFuzzProgress(event: FuzzProgressEvent): string | undefined {
  switch (event.type) {
    case 'mode-start':
      return `[${event.mode}] fuzzing ${event.properties} propert${event.properties === 1 ? 'y' : 'ies'}`;
    case 'mode-error':
      return `[${event.mode}] target unusable: ${event.error}`;
    case 'target-restarted':
      return `[${event.mode}] target restarted: ${event.why}`;
    case 'property-start':
      return undefined;
    case 'property-progress':
      return `[${event.mode}] ${event.property}: ${event.inputs} inputs, ${event.findings} finding${event.findings === 1 ? '' : 's'}…`;
    case 'property-done': {
      const s = event.stats;
      const head = `[${event.mode}] ${s.property}: ${s.inputs} input${s.inputs === 1 ? '' : 's'} in ${formatDurationMs(s.durationMs)}, ${s.verdict}`;
      const f = event.finding;
      if (f === undefined) return s.verdict === 'OK' ? head : `${head}: ${event.actual}`;
      return [
        `${head} after ${f.inputsToFailure} input${f.inputsToFailure === 1 ? '' : 's'} (shrunk ${f.shrinks}×)`,
        `    ${f.problem}`,
        `    seed ${f.seed}, path ${f.path}`,
        `    replay: ${f.replayCommand}`,
      ].join('\n');
    }
  }
}

/** The console report of a fuzz run. */
export function formatFuzzReport(result: FuzzResult, reportDir: string): string {
  const r = result.report;
  const s = r.summary;
  const rate = result.durationMs > 0 ? (result.inputs / (result.durationMs / 1_000)).toFixed(0) : '0';
  const out = [
    `fastpath fuzz: target "${r.target.name}" (${r.target.kind}, ${r.target.source}), ${r.modes.length} mode${r.modes.length === 1 ? '' : 's'}, seed ${result.runSeed}`,
    '',
    formatSummaryTable(r),
    '',
    `${result.inputs} inputs in ${formatDurationMs(result.durationMs)} (${rate} inputs/s)`,
  ];
  const startErrors = r.modes.filter((m) => m.startError !== undefined);
  if (startErrors.length > 0) {
    out.push('', 'Target errors:');
    for (const m of startErrors) out.push(`  [${m.label}] ${m.startError ?? ''}`);
  }
  if (result.findings.length > 0) {
    out.push('', `Findings (${result.findings.length}):`);
    for (const f of result.findings) {
      out.push(
        `FAILED     ${f.property}  [${f.mode}]  §${f.section}`,
        `    ${f.problem}`,
        `    found after ${f.inputsToFailure} input${f.inputsToFailure === 1 ? '' : 's'}, shrunk ${f.shrinks}×; seed ${f.seed}, path ${f.path}`,
        `    counterexample: ${f.counterexample.length > 400 ? `${f.counterexample.slice(0, 400)}…` : f.counterexample}`,
        `    replay file: ${displayPath(f.replayFile)}`,
        `    replay: ${f.replayCommand}`,
      );
    }
  }
  const otherFailures = r.modes.flatMap((m) => m.cases).filter((c) => c.verdict === 'FAILED' && !result.findings.some((f) => f.property === c.id && f.mode === c.mode));
  for (const c of otherFailures) out.push(`FAILED     ${c.id}  [${c.mode}]  ${c.actual}`);
  out.push(
    '',
    `${s.FAILED > 0 ? 'FAILED' : 'PASSED'}: ${s.total} property runs, ${s.OK} OK, ${s.FAILED} FAILED, ${s.UNIMPLEMENTED} UNIMPLEMENTED; details in ${displayPath(reportDir)}`,
  );
  return `${out.join('\n')}\n`;
}

/** The fuzz-specific data written beside index.json and printed with --json. */
export function fuzzSummaryJson(result: FuzzResult): Record<string, unknown> {
  return {
    runSeed: result.runSeed,
    inputs: result.inputs,
    durationMs: result.durationMs,
    inputsPerSec: result.durationMs > 0 ? Math.round((result.inputs / result.durationMs) * 1_000) : 0,
    findings: result.findings,
    properties: result.stats,
  };
}

/** Registers `fastpath fuzz` on `program`. */
export function registerFuzz(program: Command, properties: readonly FuzzProperty[] = fuzzProperties): Command {
  return program
    .command('fuzz')
    .description('fuzz a target with generated, mutated and malformed input; shrink and save every failure as a replay file')
    .option('--target <target>', 'reference (built-in, default), unix:/path.sock (attach), or a target file (.json, .js, .mjs)')
    .option('--runs <n>', `total inputs over all modes and properties (default ${DEFAULT_FUZZ_RUNS}; with only --time: as many as time allows)`)
    .option('--seed <n>', 'run seed, 0-4294967295 (default: random, printed); the same seed gives the same inputs')
    .option('--time <duration>', 'bound of the whole run, e.g. 90s or 10m; each property gets its share')
    .option('--shrink-time <duration>', `time spent shrinking one failure (default ${DEFAULT_SHRINK_TIME_MS / 1_000}s)`)
    .option('--replay <file>', 're-run exactly the counterexample saved in a replay file')
    .option('--framing <framing>', 'only this framing: ndjson, lp32-json, lp32-msgpack or an lp: spec string')
    .option('--auth <auth>', 'only this auth mode: none, hmac-json, hmac-v2')
    .option('--secret <secret>', "HMAC secret (default: the target file's, or a random one for spawned targets)")
    .option('--pid <pid>', 'pid of an attached target, for the memory and fd oracles')
    .option('--properties <glob...>', "run only properties whose id matches a glob (* and ?), e.g. 'fuzz.frame.*'")
    .option('--exclude <glob...>', 'skip properties whose id matches a glob')
    .option('--list', 'list the properties, their sections and planned inputs, without running them')
    .option('--json', 'print index.json and the fuzz summary to stdout instead of the table')
    .option('--report-dir <dir>', 'report directory (default reports/fuzz/<timestamp>)')
    .option('--max-rss-growth-mib <n>', `allowed growth of the target's RSS over its baseline (default ${DEFAULT_MAX_RSS_GROWTH_MIB})`)
    .option('--max-fd-growth <n>', `allowed growth of the target's open file descriptors over its baseline (default ${DEFAULT_MAX_FD_GROWTH})`)
    .action(async (raw: unknown) => {
      await fuzzAction(parseFuzzOptions(raw), properties);
    });
}

function printProgress(event: FuzzProgressEvent): void {
  if (event.type === 'property-progress' && process.stderr.isTTY !== true) return;
  const line = formatFuzzProgress(event);
  if (line !== undefined) process.stderr.write(`${line}\n`);
}

/** The body of `fastpath fuzz` (exported for tests and other front ends). */
export async function fuzzAction(opts: FuzzCliOptions, properties: readonly FuzzProperty[]): Promise<void> {
  const replay = opts.replay === undefined ? undefined : await readReplayFile(opts.replay);
  const targetSpec = opts.target ?? (replay !== undefined && replay.target.source !== 'built-in' ? replay.target.source : 'reference');
  const target = await resolveTarget(targetSpec, {
    framing: replay?.mode.framing ?? opts.framing,
    auth: replay?.mode.auth ?? opts.auth,
    secret: opts.secret,
    pid: opts.pid,
  });
  const selected = selectFuzzProperties(properties, opts.properties, opts.exclude);
  if (replay === undefined && selected.length === 0) {
    throw fpError('FP_USAGE', `no fuzz property id matches ${[...(opts.properties ?? []).map((g) => `--properties ${g}`), ...(opts.exclude ?? []).map((g) => `--exclude ${g}`)].join(' ')} (see fastpath fuzz --list)`);
  }
  const runs = opts.runs ?? (opts.time !== undefined ? undefined : DEFAULT_FUZZ_RUNS);
  if (opts.list === true) {
    const rows = listFuzzProperties(selected, target, runs ?? DEFAULT_FUZZ_RUNS);
    process.stdout.write(opts.json === true ? `${JSON.stringify(rows, null, 2)}\n` : formatFuzzList(rows, runs ?? DEFAULT_FUZZ_RUNS));
    return;
  }
  if (target.spawn === undefined && target.socketPath !== undefined) {
    const probe = await probeSocket(target.socketPath);
    if (probe !== 'connected') throw fpError('FP_TARGET_UNREACHABLE', `cannot connect to ${target.socketPath} (${probe}); is the server running?`);
  }

  const reportDir = resolve(opts.reportDir ?? defaultFuzzReportDir());
  const common = {
    target,
    properties,
    maxRssGrowthBytes: opts.maxRssGrowthMib === undefined ? undefined : opts.maxRssGrowthMib * 1024 * 1024,
    maxFdGrowth: opts.maxFdGrowth,
    targetSpec: opts.target ?? targetSpecOf(target),
    onProgress: printProgress,
  };
  let result: FuzzResult;
  if (replay !== undefined && opts.replay !== undefined) {
    process.stderr.write(`fastpath fuzz: replaying ${replay.property.id} [${replay.mode.label}] seed ${replay.seed} path ${replay.path}\n`);
    result = await replayFuzz({ ...common, replay, replayFile: resolve(opts.replay) });
  } else {
    const seed = opts.seed ?? randomRunSeed();
    const bound = [runs === undefined ? undefined : `${runs} inputs`, opts.time === undefined ? undefined : `at most ${formatDurationMs(opts.time)}`].filter((x) => x !== undefined).join(', ');
    process.stderr.write(`fastpath fuzz: seed ${seed} (${bound}; the same --seed replays this run)\n`);
    result = await runFuzz({
      ...common,
      include: opts.properties,
      exclude: opts.exclude,
      runs,
      seed,
      timeMs: opts.time,
      shrinkTimeMs: opts.shrinkTime,
      replayDir: join(reportDir, 'replays'),
    });
  }

  const written = await writeReports(result.report, reportDir);
  await writeFile(join(reportDir, 'fuzz.json'), `${JSON.stringify(fuzzSummaryJson(result), null, 2)}\n`);
  const where = `report: ${displayPath(written.indexPath)} (JUnit: ${displayPath(written.junitPath)})\n`;
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ ...buildIndex(result.report), fuzz: fuzzSummaryJson(result) }, null, 2)}\n`);
    process.stderr.write(where);
  } else {
    process.stdout.write(formatFuzzReport(result, reportDir));
    process.stdout.write(where);
  }
  const broken = result.report.modes.find((m) => m.startError !== undefined);
  if (broken?.startError !== undefined) {
    throw fpError(target.spawn !== undefined ? 'FP_TARGET_START_FAILED' : 'FP_TARGET_UNREACHABLE', `[${broken.label}] ${broken.startError}`);
  }
  if (result.report.summary.FAILED > 0) process.exitCode = 1;
}
