import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpus, platform, arch } from 'node:os';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fpError } from '../protocol/errors.js';
import { describeIssues } from './framing-option.js';
import { QUEUE_SYNCHRONOUS, SqliteQueue, type QueueSynchronous } from './queue.js';
import type { EnqueueInput } from './queue-record.js';

/**
 * `measureQueue`: a micro-benchmark of {@link SqliteQueue} on a real file. Three
 * phases on one fresh database in `dir`, each timed with `performance.now()`:
 *
 * 1. batched enqueue: `messages` messages through `enqueueBatch` of `batchSize`
 *    (one transaction, one commit per batch);
 * 2. drain: `dequeue(drainBatchSize)` + `ackMany` until the queue is empty (two
 *    transactions per round);
 * 3. single enqueue: `singleMessages` messages through `enqueue` (one transaction and
 *    one commit each: with `synchronous: 'full'` one WAL fsync each).
 *
 * The result is data (the CLI prints it). The file is deleted afterwards.
 */

export const QueueBenchOptionsSchema = z.object({
  /** Existing directory for the database file (put it on the file system you care about). */
  dir: z.string().min(1, 'dir must not be empty'),
  synchronous: z.enum(QUEUE_SYNCHRONOUS).default('full'),
  /** Messages of the batched-enqueue and drain phases. */
  messages: z.number().int().min(1, 'messages must be >= 1').default(50_000),
  /** Messages per enqueueBatch. */
  batchSize: z.number().int().min(1, 'batchSize must be >= 1').default(500),
  /** Length of the payload's string member (bytes of ASCII). */
  payloadBytes: z.number().int().min(0, 'payloadBytes must be >= 0').default(256),
  /** Messages of the single-enqueue phase (default: min(messages, 2000)). */
  singleMessages: z.number().int().min(1, 'singleMessages must be >= 1').optional(),
  /** Limit of each dequeue in the drain phase. */
  drainBatchSize: z.number().int().min(1, 'drainBatchSize must be >= 1').default(500),
});

/** Options of {@link measureQueue}. */
export type QueueBenchOptions = z.input<typeof QueueBenchOptionsSchema>;

/** One timed phase. */
export interface QueuePhase {
  readonly messages: number;
  readonly elapsedMs: number;
  readonly perSec: number;
}

/** What {@link measureQueue} measured, stamped with where and how. */
export interface QueueBenchResult {
  readonly synchronous: QueueSynchronous;
  readonly batchSize: number;
  readonly drainBatchSize: number;
  readonly payloadBytes: number;
  readonly batchedEnqueuePerSec: number;
  readonly singleEnqueuePerSec: number;
  readonly dequeueAckPerSec: number;
  readonly phases: { readonly batchedEnqueue: QueuePhase; readonly singleEnqueue: QueuePhase; readonly dequeueAck: QueuePhase };
  /** Size of the database file plus its WAL after the batched phase. */
  readonly fileBytes: number;
  readonly runtime: {
    readonly node: string;
    readonly sqlite: string;
    readonly betterSqlite3: string;
    readonly platform: string;
    readonly arch: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly timer: 'performance.now';
  };
}

const phase = (messages: number, elapsedMs: number): QueuePhase => ({ messages, elapsedMs, perSec: elapsedMs > 0 ? (messages * 1000) / elapsedMs : Infinity });

/**
 * Runs the three phases (see the module documentation) and returns the figures.
 * @throws FastPathError FP_CONFIG_INVALID for bad options; the queue's FP_QUEUE_* errors.
 */
export function measureQueue(options: QueueBenchOptions): QueueBenchResult {
  const res = QueueBenchOptionsSchema.safeParse(options);
  if (!res.success) throw fpError('FP_CONFIG_INVALID', `invalid queue benchmark options: ${describeIssues(res.error, '(options)')}`);
  const o = res.data;
  const singleMessages = o.singleMessages ?? Math.min(o.messages, 2_000);
  const path = join(o.dir, `fp-queue-bench-${process.pid}-${randomBytes(4).toString('hex')}.db`);
  const pad = 'x'.repeat(o.payloadBytes);
  const message = (prefix: string, i: number): EnqueueInput => ({ id: `${prefix}${i}`, producer: `p${i % 8}`, type: 'bench', payload: { i, pad } });
  const queue = new SqliteQueue({ path, synchronous: o.synchronous });
  try {
    const batches: EnqueueInput[][] = [];
    for (let i = 0; i < o.messages; i += o.batchSize) {
      batches.push(Array.from({ length: Math.min(o.batchSize, o.messages - i) }, (_, k) => message('b', i + k)));
    }
    let started = performance.now();
    for (const batch of batches) queue.enqueueBatch(batch);
    const batchedEnqueue = phase(o.messages, performance.now() - started);
    const fileBytes = sizeOf(path) + sizeOf(`${path}-wal`);

    started = performance.now();
    let drained = 0;
    for (;;) {
      const claims = queue.dequeue(o.drainBatchSize);
      if (claims.length === 0) break;
      queue.ackMany(claims);
      drained += claims.length;
    }
    const dequeueAck = phase(drained, performance.now() - started);
    if (drained !== o.messages) throw fpError('FP_QUEUE_FAILED', `queue benchmark: drained ${drained} of ${o.messages} messages`);

    const singles = Array.from({ length: singleMessages }, (_, i) => message('s', i));
    started = performance.now();
    for (const m of singles) queue.enqueue(m);
    const singleEnqueue = phase(singleMessages, performance.now() - started);

    const require = createRequire(import.meta.url);
    const betterSqlite3 = (require('better-sqlite3/package.json') as { version: string }).version;
    const cpuList = cpus();
    return {
      synchronous: o.synchronous,
      batchSize: o.batchSize,
      drainBatchSize: o.drainBatchSize,
      payloadBytes: o.payloadBytes,
      batchedEnqueuePerSec: batchedEnqueue.perSec,
      singleEnqueuePerSec: singleEnqueue.perSec,
      dequeueAckPerSec: dequeueAck.perSec,
      phases: { batchedEnqueue, singleEnqueue, dequeueAck },
      fileBytes,
      runtime: {
        node: process.version,
        sqlite: queue.sqliteSettings().sqliteVersion,
        betterSqlite3,
        platform: platform(),
        arch: arch(),
        cpus: cpuList.length,
        cpuModel: cpuList[0]?.model ?? 'unknown',
        timer: 'performance.now',
      },
    };
  } finally {
    queue.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
}

function sizeOf(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}
