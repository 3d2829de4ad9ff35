import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import { checkCrashTarget, runCrash, type CrashResult } from '../harness/crash-driver.js';
import { findPackageRoot, resolveTarget } from '../harness/targets.js';
import { durationFlag, intFlag, numberFlag, parseFlags } from './flags.js';

/**
 * `fastpath crash`: the crash-recovery driver (harness/crash-driver.ts) against a
 * target. Exit 0 when nothing acknowledged was lost and nothing was applied twice,
 * 1 otherwise; usage and target errors exit 2 (cli/main.ts).
 */

export const CrashOptionsSchema = z.object({
  target: z.string().min(1, { message: '--target must not be empty (reference or a target file)' }),
  framing: z.string().min(1, { message: '--framing must not be empty' }).optional(),
  auth: z.string().min(1, { message: '--auth must not be empty' }).optional(),
  secret: z.string().min(1, { message: '--secret must not be empty' }).optional(),
  cycles: intFlag('--cycles', 1, 100_000),
  seed: intFlag('--seed', 0, 2 ** 32 - 1).optional(),
  synchronous: z.enum(['full', 'normal'], { message: '--synchronous must be full or normal' }),
  rate: numberFlag('--rate', 0, 1_000_000, { exclusiveMin: true, example: '2000' }),
  producerKills: numberFlag('--producer-kills', 0, 1, { example: '0.25' }),
  replyTimeoutMs: intFlag('--reply-timeout-ms', 1, 600_000),
  drainTimeout: durationFlag('--drain-timeout', 100, 3_600_000),
  json: z.boolean().optional(),
});
export type CrashCliOptions = z.infer<typeof CrashOptionsSchema>;

/**
 * Validates commander's option object.
 * @throws FastPathError FP_USAGE naming the flag.
 */
export function parseCrashOptions(raw: unknown): CrashCliOptions {
  return parseFlags(CrashOptionsSchema, raw);
}

const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} ms`);

/** The console summary of a crash run. */
export function formatCrashResult(r: CrashResult, mode: string, target: string): string {
  const lines = [
    `fastpath crash: ${target} (${mode}), ${r.cycles} cycles (${r.targetKills} target kills, ${r.producerKills} producer kills), seed ${r.seed}, queue synchronous=${r.synchronous}`,
    `  sent ${r.sent}, acknowledged ${r.acknowledged} (${r.deliveredDirect} delivered directly, ${r.acknowledgedQueued} queued first), ledger entries ${r.ledgerEntries}`,
    `  lost ${r.lost}, applied twice ${r.duplicatesApplied}, redelivered and deduplicated ${r.redelivered}, still queued ${r.queued}, rejected ${r.rejected}, dead-lettered ${r.deadLettered}`,
    `  recovery after a target restart (accepting again → first delivery): p50 ${ms(r.recoveryP50Ms)}, p99 ${ms(r.recoveryP99Ms)}`,
  ];
  if (r.lostIds.length > 0) lines.push(`  lost ids (first ${r.lostIds.length}): ${r.lostIds.join(', ')}`);
  if (r.duplicateIds.length > 0) lines.push(`  applied twice (first ${r.duplicateIds.length}): ${r.duplicateIds.join(', ')}`);
  if (r.synchronous === 'normal') {
    lines.push('  note: synchronous=normal survives a process kill like full does; what it gives up is durability against power loss or an OS crash, which kill -9 cannot show');
  }
  lines.push(r.passed ? `PASSED in ${(r.durationMs / 1000).toFixed(1)} s: nothing acknowledged was lost, nothing was applied twice` : 'FAILED: acknowledged messages were lost or applied twice');
  return `${lines.join('\n')}\n`;
}

/** The `--json` object: the fields first, then the details. */
export function crashJson(r: CrashResult): Record<string, unknown> {
  const { lost, duplicatesApplied, redelivered, queued, recoveryP50Ms, recoveryP99Ms, cycles, ...rest } = r;
  return { lost, duplicatesApplied, redelivered, queued, recoveryP50Ms: recoveryP50Ms ?? null, recoveryP99Ms: recoveryP99Ms ?? null, cycles, ...rest };
}

/** Registers `fastpath crash` on `program`. */
export function registerCrash(program: Command): Command {
  return program
    .command('crash')
    .description('kill -9 a target (and the producer) while messages flow through the failover client; check nothing acknowledged is lost or applied twice')
    .option('--target <target>', 'reference (built-in) or a target file declaring lifecycle and ledger (docs/SPEC.md §11)', 'reference')
    .option('--framing <framing>', 'framing to use (default: lp32-json for the reference, else the first declared mode)')
    .option('--auth <auth>', 'auth mode to use (default: hmac-v2 for the reference, else the first declared mode)')
    .option('--secret <secret>', "HMAC secret (default: the target file's, or a random one)")
    .option('--cycles <n>', 'kill-and-restart cycles', '20')
    .option('--seed <n>', 'seed of the kill schedule (printed; replays the same schedule)')
    .option('--synchronous <mode>', "durability of the producer's queue: full or normal", 'full')
    .option('--rate <msgPerSec>', 'messages per second the producer offers', '2000')
    .option('--producer-kills <share>', 'share of cycles that kill the producer instead of the target (0-1)', '0.25')
    .option('--reply-timeout-ms <ms>', 'a reply slower than this sends the message to the queue', '500')
    .option('--drain-timeout <duration>', 'time the final drain of the queue may take', '30s')
    .option('--json', 'print the result as JSON')
    .action(async (raw: unknown) => {
      const o = parseCrashOptions(raw);
      const isReference = o.target === 'reference';
      const target = await resolveTarget(o.target, {
        framing: o.framing ?? (isReference ? 'lp32-json' : undefined),
        auth: o.auth ?? (isReference ? 'hmac-v2' : undefined),
        secret: o.secret,
      });
      checkCrashTarget(target);
      const mode = target.modes[0]!;
      const seed = o.seed ?? randomInt(0, 2 ** 31);
      const workDir = await mkdtemp(join(tmpdir(), 'fastpath-crash-'));
      const producerEntry = join(findPackageRoot(), 'dist', 'cli', 'crash-producer.js');
      if (!o.json) process.stderr.write(`fastpath crash: ${target.name} (${mode.label}), ${o.cycles} cycles, seed ${seed} (replay with --seed ${seed})\n`);
      try {
        const result = await runCrash({
          target,
          mode,
          producer: { command: process.execPath, args: [producerEntry] },
          cycles: o.cycles,
          seed,
          synchronous: o.synchronous,
          ratePerSec: o.rate,
          producerKillShare: o.producerKills,
          replyTimeoutMs: o.replyTimeoutMs,
          workDir,
          drainTimeoutMs: o.drainTimeout,
          onProgress: o.json ? undefined : (line) => process.stderr.write(`  ${line}\n`),
        });
        process.stdout.write(o.json ? `${JSON.stringify(crashJson(result), null, 2)}\n` : formatCrashResult(result, mode.label, target.name));
        process.exitCode = result.passed ? 0 : 1;
      } finally {
        await rm(workDir, { recursive: true, force: true });
      }
    });
}
