import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { waitForSocket } from '../harness/launcher.js';
import { findPackageRoot } from '../harness/targets.js';
import { fpError } from '../protocol/index.js';
import { FAILOVER_RECORD_TYPE, FailoverClient, measureQueue, SqliteQueue, type QueueBenchResult } from '../reference-impl/index.js';
import { intFlag, parseFlags } from './flags.js';

/**
 * `fastpath queue`: the reference's durable queue from the command line.
 * `queue bench` measures it (batched and single enqueues under both `synchronous`
 * settings, dequeue+ack, and a drain through the failover client into a reference
 * server process) against the targets; `queue inspect FILE` shows what a queue
 * file holds (a failover client's outbox, for instance) and its dead letters.
 */

/** Targets of the durable queue (docs/PERFORMANCE.md). */
export const QUEUE_TARGETS = {
  batchedEnqueueNormalPerSec: 50_000,
  singleEnqueueFullPerSec: 2_000,
  drainPerSec: 20_000,
} as const;

export const QueueBenchOptionsSchema = z.object({
  dir: z.string().min(1, { message: '--dir must not be empty' }).optional(),
  messages: intFlag('--messages', 1_000, 10_000_000),
  drainMessages: intFlag('--drain-messages', 1_000, 10_000_000),
  payloadBytes: intFlag('--payload-bytes', 0, 1_048_576),
  runs: intFlag('--runs', 1, 100),
  json: z.boolean().optional(),
});
export type QueueBenchCliOptions = z.infer<typeof QueueBenchOptionsSchema>;

export const QueueInspectOptionsSchema = z.object({
  dead: intFlag('--dead', 0, 100_000),
  json: z.boolean().optional(),
});

/** Median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One figure over several runs. */
export interface Figure {
  readonly medianPerSec: number;
  readonly minPerSec: number;
  readonly maxPerSec: number;
  readonly runs: readonly number[];
}

const figure = (runs: readonly number[]): Figure => ({ medianPerSec: median(runs), minPerSec: Math.min(...runs), maxPerSec: Math.max(...runs), runs });

export interface QueueBenchReport {
  readonly normal: { readonly batchedEnqueue: Figure; readonly singleEnqueue: Figure; readonly dequeueAck: Figure };
  readonly full: { readonly batchedEnqueue: Figure; readonly singleEnqueue: Figure; readonly dequeueAck: Figure };
  /** Failover client draining a prefilled queue into a `fastpath serve` process (lp32-json, file ledger), without auth and with hmac-v2. */
  readonly drain: { readonly none: Figure; readonly hmacV2: Figure; readonly messages: number; readonly synchronous: 'full' };
  readonly targets: typeof QUEUE_TARGETS;
  readonly met: { readonly batchedEnqueueNormal: boolean; readonly singleEnqueueFull: boolean; readonly drainNoAuth: boolean; readonly drainHmacV2: boolean };
  readonly runtime: QueueBenchResult['runtime'];
  readonly options: { readonly dir: string; readonly messages: number; readonly drainMessages: number; readonly payloadBytes: number; readonly runs: number };
}

/**
 * Drains `messages` prefilled messages through a {@link FailoverClient} into a reference
 * server process; returns messages per second from the client's start to an empty queue.
 */
export async function measureDrain(dir: string, messages: number, payloadBytes: number, auth: 'none' | 'hmac-v2' = 'hmac-v2'): Promise<number> {
  const work = mkdtempSync(join(dir, 'fp-drain-'));
  const socketPath = join(work, 's.sock');
  const secret = randomBytes(32).toString('hex');
  const main = join(findPackageRoot(), 'dist', 'cli', 'main.js');
  const server = spawn(process.execPath, [main, 'serve', '--socket', socketPath, '--framing', 'lp32-json', '--auth', auth, '--secret', secret, '--ledger', join(work, 'ledger.log'), '--max-connections', '10'], { stdio: 'ignore' });
  try {
    if (!(await waitForSocket(socketPath, 15_000))) throw fpError('FP_TARGET_START_FAILED', `the reference server did not accept connections on ${socketPath} within 15 s`);
    const queuePath = join(work, 'outbox.db');
    const pad = 'x'.repeat(payloadBytes);
    const fill = new SqliteQueue({ path: queuePath, synchronous: 'normal' });
    for (let i = 0; i < messages; i += 1_000) {
      const n = Math.min(1_000, messages - i);
      fill.enqueueBatch(Array.from({ length: n }, (_, k) => ({ id: `drain-${i + k}`, producer: 'bench', type: FAILOVER_RECORD_TYPE, payload: { topic: 'bench', payload: { i: i + k, pad } } })));
    }
    fill.close();
    const client = new FailoverClient({ socketPath, framing: 'lp32-json', auth, secret, queuePath, producer: 'bench', synchronous: 'full', replyTimeoutMs: 5_000 });
    try {
      const started = performance.now();
      client.start();
      const flushed = await client.flush(600_000);
      const elapsedMs = performance.now() - started;
      if (!flushed) throw fpError('FP_TIMEOUT', `the drain benchmark did not empty the queue within 600 s (${client.queuedCount} left)`);
      if (client.stats.drained !== messages) throw fpError('FP_QUEUE_FAILED', `the drain benchmark delivered ${client.stats.drained} of ${messages} messages`);
      return (messages * 1000) / elapsedMs;
    } finally {
      await client.close();
    }
  } finally {
    server.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

/** Runs the queue benchmarks; the result is data (see {@link formatQueueBench}). */
export async function runQueueBench(o: QueueBenchCliOptions, progress: (line: string) => void = () => undefined): Promise<QueueBenchReport> {
  const dir = resolve(o.dir ?? tmpdir());
  if (!existsSync(dir)) throw fpError('FP_USAGE', `--dir ${dir} does not exist: create it, or leave --dir out to use ${tmpdir()}`);
  const results: Record<'normal' | 'full', QueueBenchResult[]> = { normal: [], full: [] };
  const drains: Record<'none' | 'hmac-v2', number[]> = { none: [], 'hmac-v2': [] };
  for (let run = 1; run <= o.runs; run++) {
    for (const synchronous of ['normal', 'full'] as const) {
      progress(`run ${run}/${o.runs}: queue with synchronous=${synchronous}`);
      results[synchronous].push(measureQueue({ dir, synchronous, messages: o.messages, payloadBytes: o.payloadBytes, singleMessages: Math.min(o.messages, 5_000) }));
    }
    for (const auth of ['none', 'hmac-v2'] as const) {
      progress(`run ${run}/${o.runs}: drain of ${o.drainMessages} messages into the reference server (auth ${auth})`);
      drains[auth].push(await measureDrain(dir, o.drainMessages, o.payloadBytes, auth));
    }
  }
  const side = (rs: QueueBenchResult[]) => ({
    batchedEnqueue: figure(rs.map((r) => r.batchedEnqueuePerSec)),
    singleEnqueue: figure(rs.map((r) => r.singleEnqueuePerSec)),
    dequeueAck: figure(rs.map((r) => r.dequeueAckPerSec)),
  });
  const normal = side(results.normal);
  const full = side(results.full);
  const drain = { none: figure(drains.none), hmacV2: figure(drains['hmac-v2']), messages: o.drainMessages, synchronous: 'full' as const };
  return {
    normal,
    full,
    drain,
    targets: QUEUE_TARGETS,
    met: {
      batchedEnqueueNormal: normal.batchedEnqueue.medianPerSec >= QUEUE_TARGETS.batchedEnqueueNormalPerSec,
      singleEnqueueFull: full.singleEnqueue.medianPerSec >= QUEUE_TARGETS.singleEnqueueFullPerSec,
      drainNoAuth: drain.none.medianPerSec >= QUEUE_TARGETS.drainPerSec,
      drainHmacV2: drain.hmacV2.medianPerSec >= QUEUE_TARGETS.drainPerSec,
    },
    runtime: results.full[0]!.runtime,
    options: { dir, messages: o.messages, drainMessages: o.drainMessages, payloadBytes: o.payloadBytes, runs: o.runs },
  };
}

const rate = (f: Figure): string => `${Math.round(f.medianPerSec).toLocaleString('en-US')}/s (${Math.round(f.minPerSec).toLocaleString('en-US')}–${Math.round(f.maxPerSec).toLocaleString('en-US')})`;
const verdict = (met: boolean, target: number): string => `${met ? 'met' : 'NOT MET'} (target ≥ ${target.toLocaleString('en-US')}/s)`;

/** The console table of a queue benchmark. */
export function formatQueueBench(r: QueueBenchReport): string {
  const t = r.targets;
  const rt = r.runtime;
  const lines = [
    `fastpath queue bench: ${r.options.runs} run(s), medians (min–max), ${r.options.payloadBytes}-byte payloads, files in ${r.options.dir}`,
    `  node ${rt.node}, SQLite ${rt.sqlite}, better-sqlite3 ${rt.betterSqlite3}, ${rt.cpus} × ${rt.cpuModel}`,
    '',
    '                              synchronous=normal          synchronous=full',
    `  batched enqueue (500/txn)   ${rate(r.normal.batchedEnqueue).padEnd(28)}${rate(r.full.batchedEnqueue)}`,
    `  single enqueue (1/txn)      ${rate(r.normal.singleEnqueue).padEnd(28)}${rate(r.full.singleEnqueue)}`,
    `  dequeue(500) + ackMany      ${rate(r.normal.dequeueAck).padEnd(28)}${rate(r.full.dequeueAck)}`,
    `  drain, auth none            ${''.padEnd(28)}${rate(r.drain.none)}`,
    `  drain, auth hmac-v2         ${''.padEnd(28)}${rate(r.drain.hmacV2)}`,
    `  (drains: ${r.drain.messages} queued messages, failover client → fastpath serve process, lp32-json, file ledger)`,
    '',
    `  batched enqueue, normal: ${verdict(r.met.batchedEnqueueNormal, t.batchedEnqueueNormalPerSec)}`,
    `  single durable enqueue, full: ${verdict(r.met.singleEnqueueFull, t.singleEnqueueFullPerSec)}`,
    `  drain into the reference server, auth none: ${verdict(r.met.drainNoAuth, t.drainPerSec)}`,
    `  drain into the reference server, auth hmac-v2: ${verdict(r.met.drainHmacV2, t.drainPerSec)}`,
    '  recovery after a restart (p99 ≤ 200 ms) is measured by `fastpath crash`',
  ];
  return `${lines.join('\n')}\n`;
}

/** Registers `fastpath queue bench` and `fastpath queue inspect` on `program`. */
export function registerQueue(program: Command): Command {
  const queue = program.command('queue').description("the reference's durable SQLite queue: benchmark it, or inspect a queue file");
  queue
    .command('bench')
    .description('measure enqueue (batched, single; synchronous normal and full), dequeue+ack, and a drain into the reference server')
    .option('--dir <dir>', 'directory for the database files (the file system you care about; default the OS temp dir)')
    .option('--messages <n>', 'messages of the batched-enqueue and dequeue phases', '100000')
    .option('--drain-messages <n>', 'messages drained into the reference server', '50000')
    .option('--payload-bytes <n>', 'payload size', '256')
    .option('--runs <n>', 'runs; figures are medians', '3')
    .option('--json', 'print the result as JSON')
    .action(async (raw: unknown) => {
      const o = parseFlags(QueueBenchOptionsSchema, raw);
      const report = await runQueueBench(o, o.json ? undefined : (line) => process.stderr.write(`  ${line}\n`));
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatQueueBench(report));
    });
  queue
    .command('inspect')
    .description('show what a queue file holds: counts by state, the oldest pending message, dead letters')
    .argument('<file>', 'the SQLite queue file (e.g. a failover client\'s queuePath)')
    .option('--dead <n>', 'dead letters to list', '20')
    .option('--json', 'print the result as JSON')
    .action((file: string, raw: unknown) => {
      const o = parseFlags(QueueInspectOptionsSchema, raw);
      const path = resolve(file);
      if (!existsSync(path)) throw fpError('FP_USAGE', `${path} does not exist: give the path of a queue file`);
      const q = new SqliteQueue({ path });
      try {
        const stats = q.stats();
        const dead = o.dead > 0 ? q.deadLetters(o.dead) : [];
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ path, stats, deadLetters: dead }, null, 2)}\n`);
          return;
        }
        const age = stats.oldestPendingAgeMs === undefined ? '' : `, oldest pending ${(stats.oldestPendingAgeMs / 1000).toFixed(1)} s old`;
        const lines = [`${path}: ${stats.pending} pending, ${stats.leased} leased${age}, ${stats.done} done, ${stats.dead} dead`];
        for (const d of dead) lines.push(`  dead #${d.seq} ${d.id} (producer ${d.producer}, ${d.attempts} attempts): ${d.reason}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        q.close();
      }
    });
  return queue;
}
