import { z } from 'zod';
import { fpError, isFastPathError } from '../protocol/errors.js';
import { describeIssues } from './framing-option.js';
import { SqliteQueue } from './queue.js';
import type { QueuedMessage } from './queue-record.js';

/**
 * `QueuePoller`: a worker loop over a {@link SqliteQueue} (seed 004's poller). It
 * claims up to `batchSize` messages, hands them to `onMessage` one at a time in the
 * order `dequeue` returned them, acks each one whose handler returned (or resolved),
 * and nacks with the error message each one whose handler threw (or rejected), so
 * the queue's backoff and dead-lettering apply. After a full batch it polls again at
 * once (a backlog); after a shorter one it sleeps `intervalMs`.
 *
 * Ordering: after a handler failure, the batch's later messages of the same producer
 * are released (given back without counting an attempt) instead of being handled, so
 * they are not processed ahead of the one that is backing off.
 *
 * Errors never end the loop: handler failures, stale acks (the lease expired while the
 * batch was being handled: raise `leaseMs` or lower `batchSize`) and queue errors are
 * passed to `onError` (default: a process warning). Only FP_QUEUE_CLOSED stops it.
 */

/** Handles one claimed message; throwing (or rejecting) nacks it. */
export type QueueMessageHandler = (msg: QueuedMessage) => Promise<void> | void;
/** Reports an error of the loop; `msg` when it concerns one message. */
export type QueueErrorHandler = (err: unknown, msg?: QueuedMessage) => void;

const isFunction = (v: unknown): boolean => typeof v === 'function';

export const QueuePollerOptionsSchema = z.object({
  queue: z.custom<SqliteQueue>((v) => v instanceof SqliteQueue, 'queue must be a SqliteQueue'),
  /** Sleep after a poll that did not fill a batch. */
  intervalMs: z.number({ error: 'intervalMs must be a number' }).int('intervalMs must be an integer').min(1, 'intervalMs must be >= 1').default(1000),
  /** Messages claimed per poll. */
  batchSize: z.number({ error: 'batchSize must be a number' }).int('batchSize must be an integer').min(1, 'batchSize must be >= 1').default(50),
  onMessage: z.custom<QueueMessageHandler>(isFunction, 'onMessage must be a function'),
  onError: z.custom<QueueErrorHandler>(isFunction, 'onError must be a function').optional(),
  /** Lease of each claim (default: the queue's leaseMs); must cover handling a whole batch. */
  leaseMs: z.number({ error: 'leaseMs must be a number' }).int('leaseMs must be an integer').min(1, 'leaseMs must be >= 1').optional(),
  /** Run the queue's retention `cleanup()` this often (the first time at start); 0 never. */
  cleanupIntervalMs: z.number({ error: 'cleanupIntervalMs must be a number' }).int('cleanupIntervalMs must be an integer').min(0, 'cleanupIntervalMs must be >= 0').default(60_000),
});

/** Options of {@link QueuePoller}. */
export type QueuePollerOptions = z.input<typeof QueuePollerOptionsSchema>;

const defaultOnError: QueueErrorHandler = (err, msg) => {
  const what = msg === undefined ? '' : ` (message ${msg.id})`;
  process.emitWarning(`queue poller${what}: ${err instanceof Error ? err.message : String(err)}`, 'QueuePollerWarning');
};

/** Polls a queue and runs a handler per message; see the module documentation. */
export class QueuePoller {
  private readonly queue: SqliteQueue;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly leaseMs: number | undefined;
  private readonly cleanupIntervalMs: number;
  private lastCleanupMs = Number.NEGATIVE_INFINITY;
  private readonly onMessage: QueueMessageHandler;
  private readonly onError: QueueErrorHandler;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** @throws FastPathError FP_CONFIG_INVALID naming the option. */
  constructor(options: QueuePollerOptions) {
    const res = QueuePollerOptionsSchema.safeParse(options);
    if (!res.success) throw fpError('FP_CONFIG_INVALID', `invalid queue poller options: ${describeIssues(res.error, '(options)')}`);
    const o = res.data;
    this.queue = o.queue;
    this.intervalMs = o.intervalMs;
    this.batchSize = o.batchSize;
    this.leaseMs = o.leaseMs;
    this.cleanupIntervalMs = o.cleanupIntervalMs;
    this.onMessage = o.onMessage;
    this.onError = o.onError ?? defaultOnError;
  }

  /** True from `start()` until the loop has ended after `stop()`. */
  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Starts polling (the first poll at once). No-op while running. */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  /**
   * Stops: no new claims; the handler running now is awaited and its message acked or
   * nacked; the batch's messages not yet handed out are released at once. Resolves
   * when the loop is idle.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let full = false;
      try {
        this.maybeCleanup();
        const batch = this.queue.dequeue(this.batchSize, this.leaseMs === undefined ? {} : { leaseMs: this.leaseMs });
        full = batch.length === this.batchSize;
        await this.handle(batch);
      } catch (err) {
        this.report(err);
        if (isFastPathError(err) && err.code === 'FP_QUEUE_CLOSED') break;
      }
      if (this.stopping) break;
      await (full ? new Promise<void>((resolve) => setImmediate(resolve)) : this.sleep(this.intervalMs));
    }
  }

  /** Deletes rows past their retention every cleanupIntervalMs. */
  private maybeCleanup(): void {
    if (this.cleanupIntervalMs === 0) return;
    const now = performance.now();
    if (now - this.lastCleanupMs < this.cleanupIntervalMs) return;
    this.lastCleanupMs = now;
    this.queue.cleanup();
  }

  /** Handles a batch in order; see the class documentation for failures and stop. */
  private async handle(batch: readonly QueuedMessage[]): Promise<void> {
    const failed = new Set<string>();
    const giveBack: QueuedMessage[] = [];
    for (const msg of batch) {
      if (this.stopping || failed.has(msg.producer)) {
        giveBack.push(msg);
        continue;
      }
      let error: unknown;
      let ok = true;
      try {
        await this.onMessage(msg);
      } catch (err) {
        ok = false;
        error = err;
      }
      if (ok) {
        this.settle(msg, () => {
          if (this.queue.ack(msg.id, msg.claimId) === 'stale') {
            this.report(
              fpError(
                'FP_QUEUE_INVALID',
                `queue ${this.queue.path}: the ack of message ${msg.id} was stale: its lease (until ${msg.leaseUntilMs}) expired while the batch was being handled and the message was claimed again; it may be handled twice: raise leaseMs or lower batchSize`,
                { id: msg.id, claimId: msg.claimId },
              ),
              msg,
            );
          }
        });
      } else {
        failed.add(msg.producer);
        this.report(error, msg);
        this.settle(msg, () => void this.queue.nack(msg.id, msg.claimId, errorText(error)));
      }
    }
    if (giveBack.length > 0) this.settle(undefined, () => void this.queue.release(giveBack.map((m) => ({ id: m.id, claimId: m.claimId }))));
  }

  /** Runs a queue call whose failure is reported, not thrown (the message then waits for its lease to expire). */
  private settle(msg: QueuedMessage | undefined, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(err, msg);
    }
  }

  private report(err: unknown, msg?: QueuedMessage): void {
    try {
      this.onError(err, msg);
    } catch {
      // onError must not end the loop.
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        if (this.timer !== undefined) clearTimeout(this.timer);
        this.timer = undefined;
        resolve();
      };
      this.timer = setTimeout(this.wake, ms);
    });
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message.length > 0 ? err.message : err.name;
  return typeof err === 'string' ? err : String(err);
}
