import type { Command } from 'commander';
import { z } from 'zod';
import { compareReports, DEFAULT_ALPHA, formatComparison, type Comparison } from '../harness/bench-compare.js';
import { loadBenchReport } from '../harness/bench-report-schema.js';
import { fpError } from '../protocol/index.js';

/**
 * `fastpath bench compare <base> <candidate>`: compares two `fastpath bench --json`
 * reports scenario by scenario with a significance test (harness/bench-compare.ts).
 * Exit 1 when `--fail-on-regression` is given and a regression is found, else 0;
 * unreadable reports and bad flag values are FP_USAGE (exit 2 in cli/main.ts).
 */

/** A decimal number as typed on the command line (no hex, no exponent surprises, no empty string). */
const DECIMAL = /^[+]?(\d+(\.\d*)?|\.\d+)$/;

const failOnRegressionFlag = z.string().transform((text, ctx) => {
  const trimmed = text.trim().replace(/%$/, '');
  const value = DECIMAL.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!(Number.isFinite(value) && value >= 0)) {
    ctx.addIssue({ code: 'custom', message: `--fail-on-regression must be a percentage ≥ 0 (e.g. 10 to allow up to 10% worse), got "${text}"` });
    return z.NEVER;
  }
  return value;
});

const alphaFlag = z.string().transform((text, ctx) => {
  const trimmed = text.trim();
  const value = DECIMAL.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!(value > 0 && value < 1)) {
    ctx.addIssue({ code: 'custom', message: `--alpha must be a number between 0 and 1 (exclusive), e.g. ${DEFAULT_ALPHA}, got "${text}"` });
    return z.NEVER;
  }
  return value;
});

/** The raw options commander hands to the action, validated at the edge. */
export const BenchCompareOptionsSchema = z.object({
  failOnRegression: failOnRegressionFlag.optional(),
  alpha: alphaFlag.optional(),
  json: z.boolean().optional(),
});
/** Validated options of `fastpath bench compare`. */
export type BenchCompareOptions = z.infer<typeof BenchCompareOptionsSchema>;

/**
 * Validates commander's option object.
 * @throws FastPathError FP_USAGE naming the flag and the value.
 */
export function parseBenchCompareOptions(raw: unknown): BenchCompareOptions {
  const res = BenchCompareOptionsSchema.safeParse(raw);
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  throw fpError('FP_USAGE', issue === undefined ? 'invalid options' : issue.message);
}

/**
 * Registers `compare <base> <candidate>` on the `bench` command.
 * The subcommand throws on commander errors (exitOverride) like the rest of the CLI.
 */
export function registerBenchCompare(bench: Command): Command {
  return bench
    .command('compare')
    .description('compare two `fastpath bench --json` reports: per scenario and metric, delta and a Mann–Whitney U verdict')
    .argument('<base>', 'report of the baseline run (fastpath bench --json > base.json)')
    .argument('<candidate>', 'report of the run to judge')
    .option('--fail-on-regression <pct>', 'exit 1 when a metric is significantly worse by more than <pct> percent (e.g. 10)')
    .option('--alpha <a>', `significance level of the two-sided test, 0 < a < 1 (default ${DEFAULT_ALPHA})`)
    .option('--json', 'print the comparison as JSON')
    .exitOverride()
    .action(async (basePath: string, candidatePath: string, raw: unknown) => {
      await benchCompareAction(basePath, candidatePath, parseBenchCompareOptions(raw));
    });
}

/**
 * The body of `fastpath bench compare` (exported for tests and other front ends):
 * loads both reports, compares, prints, and sets `process.exitCode = 1` on a regression
 * when `--fail-on-regression` was given.
 * @returns the comparison that was printed.
 */
export async function benchCompareAction(basePath: string, candidatePath: string, opts: BenchCompareOptions): Promise<Comparison> {
  // One after the other, so that with two bad files the error is always about <base>.
  const base = await loadBenchReport(basePath);
  const candidate = await loadBenchReport(candidatePath);
  const comparison = compareReports(base, candidate, { alpha: opts.alpha, failOnRegressionPct: opts.failOnRegression });
  process.stdout.write(opts.json === true ? `${JSON.stringify(comparison, null, 2)}\n` : formatComparison(comparison));
  if (comparison.regressed) {
    if (opts.failOnRegression !== undefined) process.exitCode = 1;
    else process.stderr.write('fastpath: regressions found; add --fail-on-regression <pct> to make them fail the run (exit 1)\n');
  }
  return comparison;
}
