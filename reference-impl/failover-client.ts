import { z } from 'zod';
import { AUTH_MODES, fpError, isFastPathError, isMessageId, type Reply, type ReasonCode } from '../protocol/index.js';
import { FastPathClient } from './client.js';
import { FramingOptionSchema, describeIssues } from './framing-option.js';
import { SqliteQueue, QUEUE_SYNCHRONOUS, type QueuedMessage } from './queue.js';

/**
 * `FailoverClient`: seed 004's hybrid delivery. A message goes straight to the server
 * over the socket (docs/SPEC.md §11 MESSAGE); when the server is unreachable, refuses
 * for a transient reason, or does not reply in time, the message is written to a
 * durable SQLite queue instead and the caller learns it was queued. A background
 * drainer delivers queued messages in order once the server is back, with reconnect
 * backoff, and acks each in the queue only after the server's reply. The server
 * applies each `message_id` at most once (§11), so a message delivered twice (a reply
 * lost in a crash, then redelivered from the queue) takes effect once and the second
 * reply says `duplicate: true`.
 *
 * Ordering: while anything of this producer is queued, new messages are queued behind
 * it, so the server sees this producer's messages in send order (first applications;
 * a redelivered duplicate may arrive later and is a no-op).
 */

/** Reasons after which a message is queued and retried: the server may accept it later. */
export const TRANSIENT_REASONS: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['RATE_LIMITED', 'SHUTTING_DOWN', 'MAX_CONNECTIONS_REACHED']);

/** The `type` of queue records written by the failover client. */
export const FAILOVER_RECORD_TYPE = 'fastpath.message';

export const FailoverClientOptionsSchema = z.object({
  socketPath: z.string().min(1, 'socketPath must not be empty'),
  framing: FramingOptionSchema,
  auth: z.enum(AUTH_MODES),
  secret: z.string().default(''),
  /** The SQLite file of the queue (created when missing; its directory must exist). */
  queuePath: z.string().min(1, 'queuePath must not be empty'),
  /** Durability of queue writes: `full` survives power loss, `normal` a process crash only (see SqliteQueue). */
  synchronous: z.enum(QUEUE_SYNCHRONOUS).default('full'),
  /** This sender's name in the queue; ordering holds per producer. */
  producer: z.string().min(1).max(128).default('default'),
  /** Time allowed for a reply (and a connection attempt) before the message is queued. */
  replyTimeoutMs: z.number().int().min(1).default(1_000),
  /** Queued messages sent per round trip of the drainer (pipelined on one connection). */
  drainBatchSize: z.number().int().min(1).max(10_000).default(500),
  /** Reconnect backoff of the drainer: first delay, doubled up to the maximum. */
  reconnectInitialDelayMs: z.number().int().min(1).default(5),
  reconnectMaxDelayMs: z.number().int().min(1).default(100),
  /** Delivered messages stay in the queue this long (the window in which an id is still known there), then cleanup deletes them. */
  queueRetentionMs: z.number().int().min(0).default(24 * 3_600_000),
  /** How often the drainer runs the queue's retention cleanup; 0 never. */
  cleanupIntervalMs: z.number().int().min(0).default(60_000),
});

/** Options of {@link FailoverClient}. */
export type FailoverClientOptions = z.input<typeof FailoverClientOptionsSchema>;
type ResolvedOptions = z.output<typeof FailoverClientOptionsSchema>;

/** A message to deliver: `id` is its idempotency key (the §11 `message_id`). */
export interface OutgoingMessage {
  readonly id: string;
  readonly topic?: string | undefined;
  readonly payload?: unknown;
}

/** What {@link FailoverClient.send} tells the caller. */
export type SendOutcome =
  /** The server applied it (or had already: `duplicate`). `seq` is its ledger position. */
  | { readonly status: 'delivered'; readonly id: string; readonly seq: number | undefined; readonly duplicate: boolean }
  /** Stored durably in the queue; the drainer will deliver it. Not lost, not yet delivered. */
  | { readonly status: 'queued'; readonly id: string; readonly why: string }
  /** The server refused it for a reason retrying cannot fix (INVALID_SIGNAL, INVALID_SIGNATURE…); not stored. */
  | { readonly status: 'rejected'; readonly id: string; readonly reason: string; readonly error: string | undefined };

/** What the drainer did with one queued message. */
export type DrainEvent =
  | { readonly type: 'delivered'; readonly id: string; readonly seq: number | undefined; readonly duplicate: boolean; readonly attempts: number }
  /** The server refused it permanently; it is in the queue's dead letters. */
  | { readonly type: 'dead'; readonly id: string; readonly reason: string };

/** Callbacks of {@link FailoverClient}. */
export interface FailoverHooks {
  /** Every queued message the drainer delivered or dead-lettered. */
  readonly onDrain?: ((event: DrainEvent) => void) | undefined;
  /** An error of the drainer (a queue that cannot be read or written); it retries with backoff. Default: a process warning. */
  readonly onError?: ((err: unknown) => void) | undefined;
}

/** Counters since construction. */
export interface FailoverStats {
  readonly deliveredDirect: number;
  readonly queued: number;
  readonly drained: number;
  readonly redeliveredDuplicates: number;
  readonly deadLettered: number;
  readonly rejected: number;
  readonly reconnects: number;
}

interface DirectSend {
  readonly msg: OutgoingMessage;
  /** Set once the message went to the queue (after a failure of this or an earlier send). */
  queuedWhy: string | undefined;
  /** The queue write failed and the caller has been told: nothing more to do for it. */
  failed: boolean;
  resolve(outcome: SendOutcome): void;
  reject(err: unknown): void;
}

type Mode = 'direct' | 'queueing';

/**
 * ```ts
 * const client = new FailoverClient({ socketPath, framing: 'lp32-json', auth: 'hmac-v2', secret, queuePath: '/var/lib/app/outbox.db' });
 * client.start();
 * const outcome = await client.send({ id: 'order-42', topic: 'candle:complete', payload });
 * // outcome.status: 'delivered' | 'queued' | 'rejected'
 * await client.flush(5_000); // optional: wait until the queue is empty
 * await client.close();
 * ```
 */
export class FailoverClient {
  readonly options: ResolvedOptions;
  private readonly client: FastPathClient;
  private readonly queue: SqliteQueue;
  private mode: Mode = 'direct';
  private direct: DirectSend[] = [];
  private running = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private drainLoop: Promise<void> | undefined;
  private flushWaiters: Array<() => void> = [];
  private onDrainEvent: ((event: DrainEvent) => void) | undefined;
  /** The last batch's outcome when the queue could not record it yet (see settleBatch). */
  private unsettled: Unsettled | undefined;
  private readonly onError: (err: unknown) => void;
  private counters = { deliveredDirect: 0, queued: 0, drained: 0, redeliveredDuplicates: 0, deadLettered: 0, rejected: 0, reconnects: 0 };

  /**
   * Opens (or creates) the queue. Messages a previous run left queued for this producer
   * are delivered first, before anything sent now.
   * @throws FastPathError FP_CONFIG_INVALID for bad options; the queue's FP_QUEUE_* errors.
   */
  constructor(options: FailoverClientOptions, hooks: FailoverHooks = {}) {
    const res = FailoverClientOptionsSchema.safeParse(options);
    if (!res.success) throw fpError('FP_CONFIG_INVALID', `invalid failover client options: ${describeIssues(res.error, '(options)')}`);
    const o = res.data;
    if (o.auth !== 'none' && o.secret.length === 0) throw fpError('FP_CONFIG_INVALID', `invalid failover client options: auth ${o.auth} needs a non-empty secret`);
    if (o.reconnectMaxDelayMs < o.reconnectInitialDelayMs) {
      throw fpError('FP_CONFIG_INVALID', 'invalid failover client options: reconnectMaxDelayMs is below reconnectInitialDelayMs');
    }
    this.options = o;
    this.onDrainEvent = hooks.onDrain;
    this.onError = hooks.onError ?? ((err) => process.emitWarning(`failover client drainer: ${describeFailure(err)}; retrying`, 'FailoverClientWarning'));
    this.client = new FastPathClient({
      socketPath: o.socketPath,
      framing: o.framing,
      auth: o.auth,
      secret: o.secret,
      requestTimeoutMs: o.replyTimeoutMs,
      // One attempt per send: the drainer owns reconnecting, with its own backoff.
      reconnect: { initialDelayMs: 0, maxDelayMs: 0, maxAttempts: 0 },
    });
    // A queue of this client's: a message whose deliveries keep failing for transport
    // reasons is released, not counted (see release()), so attempts count server refusals.
    this.queue = new SqliteQueue({ path: o.queuePath, synchronous: o.synchronous, leaseMs: 60_000, maxAttempts: 10, retentionMs: o.queueRetentionMs });
    // Claims of a previous run of this producer died with it (one client per producer and queue file).
    this.queue.releaseLeasesOf(o.producer);
    if (this.queue.pendingCount(o.producer) > 0) this.mode = 'queueing';
  }

  /** Messages of this producer waiting in the queue. */
  get queuedCount(): number {
    return this.queue.pendingCount(this.options.producer);
  }

  /** True while new messages go to the queue (something is queued, or the server is away). */
  get queueing(): boolean {
    return this.mode === 'queueing';
  }

  get stats(): FailoverStats {
    return { ...this.counters };
  }

  /** The queue, for inspection (dead letters, stats). */
  get outbox(): SqliteQueue {
    return this.queue;
  }

  /** Starts the background drainer (idempotent). */
  start(): void {
    if (this.closed) throw fpError('FP_CLOSED', 'the failover client is closed: create a new one');
    if (this.running) return;
    this.running = true;
    this.drainLoop = this.drain();
  }

  /**
   * Delivers `msg` or queues it. Resolves once the server replied (`delivered`,
   * `rejected`) or the message is durably queued (`queued`); rejects only when it could
   * do neither (the queue cannot be written: the message is then NOT stored).
   * @throws FastPathError FP_QUEUE_INVALID (bad message), FP_CLOSED, or a queue write error.
   */
  send(msg: OutgoingMessage): Promise<SendOutcome> {
    if (this.closed) return Promise.reject(fpError('FP_CLOSED', 'the failover client is closed: create a new one'));
    try {
      checkMessage(msg);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.mode === 'queueing') {
      try {
        return Promise.resolve(this.enqueue(msg, 'earlier messages are still queued'));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<SendOutcome>((resolve, reject) => {
      const entry: DirectSend = { msg, queuedWhy: undefined, failed: false, resolve, reject };
      this.direct.push(entry);
      this.client.send(messageSignal(msg)).then(
        (reply) => this.onDirectReply(entry, reply),
        (err: unknown) => this.onDirectFailure(entry, err),
      );
    });
  }

  /**
   * Waits until nothing of this producer is queued or in flight, up to `timeoutMs`.
   * @returns true when empty, false on timeout.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.idle()) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      this.wake?.();
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 50));
        this.flushWaiters.push(done);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
      });
    }
    return true;
  }

  /** Stops the drainer, closes the connection and the queue. Queued messages stay in the file for the next run. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.running = false;
    this.wake?.();
    await this.client.close();
    await this.drainLoop;
    for (const entry of this.direct) if (entry.queuedWhy === undefined && !entry.failed) entry.reject(fpError('FP_CLOSED', `failover client closed before ${entry.msg.id} was delivered or queued`));
    this.direct = [];
    this.queue.close();
  }

  // ── direct path ───────────────────────────────────────────────────────────

  private idle(): boolean {
    return this.direct.length === 0 && this.queue.pendingCount(this.options.producer) === 0;
  }

  private settleDirect(entry: DirectSend): void {
    const i = this.direct.indexOf(entry);
    if (i >= 0) this.direct.splice(i, 1);
    if (this.direct.length === 0) this.notifyFlush();
  }

  private onDirectReply(entry: DirectSend, reply: Reply): void {
    if (entry.failed) return this.settleDirect(entry);
    if (reply.rejected === true && entry.queuedWhy === undefined && TRANSIENT_REASONS.has(reply.reason)) {
      // Before settling: failOver() queues this entry with every later one, in order.
      this.failOver(`server answered ${reply.reason}`);
    }
    this.settleDirect(entry);
    if (entry.queuedWhy !== undefined) {
      // Queued after an earlier failure; the server applied it meanwhile, so the drainer's
      // redelivery will be answered duplicate.
      entry.resolve({ status: 'queued', id: entry.msg.id, why: entry.queuedWhy });
      return;
    }
    if (reply.accepted === true) {
      this.counters.deliveredDirect++;
      entry.resolve({ status: 'delivered', id: entry.msg.id, seq: ledgerSeq(reply), duplicate: reply.duplicate === true });
      return;
    }
    if (TRANSIENT_REASONS.has(reply.reason)) {
      // failOver() could not write it to the queue and has rejected it already.
      return;
    }
    this.counters.rejected++;
    entry.resolve({ status: 'rejected', id: entry.msg.id, reason: reply.reason, error: reply.error });
  }

  private onDirectFailure(entry: DirectSend, err: unknown): void {
    if (entry.failed) return this.settleDirect(entry);
    if (entry.queuedWhy === undefined) {
      if (!isTransportError(err)) {
        this.settleDirect(entry);
        // Not the server's fault: the message itself cannot be sent (e.g. a BigInt in a JSON payload).
        entry.reject(isFastPathError(err) ? err : fpError('FP_ENCODE', `message ${entry.msg.id} cannot be encoded: ${describeFailure(err)}`, { id: entry.msg.id }, err));
        return;
      }
      // Before settling: failOver() queues this entry with every later one, in order.
      this.failOver(describeFailure(err));
    }
    this.settleDirect(entry);
    this.resolveQueued(entry);
  }

  private resolveQueued(entry: DirectSend): void {
    if (entry.queuedWhy === undefined) return; // the queue write failed: already rejected (entry.failed)
    entry.resolve({ status: 'queued', id: entry.msg.id, why: entry.queuedWhy });
  }

  /**
   * The server is away: every direct send not yet answered goes to the queue, in send
   * order, and so does everything after, until the drainer has emptied the queue.
   * The connection is dropped, so a late reply cannot be mistaken for a later request's.
   */
  private failOver(why: string): void {
    if (this.mode !== 'queueing') {
      this.mode = 'queueing';
      this.client.resetConnection(why);
    }
    for (const entry of this.direct) {
      if (entry.queuedWhy !== undefined || entry.failed) continue;
      try {
        this.enqueue(entry.msg, why);
        entry.queuedWhy = why;
      } catch (err) {
        entry.failed = true;
        entry.reject(err);
      }
    }
    this.wake?.();
  }

  private enqueue(msg: OutgoingMessage, why: string): SendOutcome {
    this.queue.enqueue({
      id: msg.id,
      producer: this.options.producer,
      type: FAILOVER_RECORD_TYPE,
      payload: { topic: msg.topic, payload: msg.payload },
    });
    this.counters.queued++;
    this.wake?.();
    return { status: 'queued', id: msg.id, why };
  }

  // ── drainer ───────────────────────────────────────────────────────────────

  private notifyFlush(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      this.wake = done;
      function done(): void {
        clearTimeout(t);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
    });
  }

  private async drain(): Promise<void> {
    const o = this.options;
    let backoffMs = o.reconnectInitialDelayMs;
    let lastCleanupMs = Number.NEGATIVE_INFINITY;
    while (this.running) {
      let step: 'idle' | 'delivered' | 'failed';
      try {
        if (o.cleanupIntervalMs > 0 && performance.now() - lastCleanupMs >= o.cleanupIntervalMs) {
          lastCleanupMs = performance.now();
          this.queue.cleanup();
        }
        step = await this.drainOnce();
      } catch (err) {
        // A queue error (locked past its busy timeout, disk full): report it and retry later; never end the drainer.
        if (!this.running) return;
        this.onError(err);
        step = 'failed';
      }
      if (step === 'delivered') {
        backoffMs = o.reconnectInitialDelayMs;
      } else if (step === 'failed' && this.running) {
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, o.reconnectMaxDelayMs);
      }
    }
  }

  /** One round of the drainer: wait, switch back to direct sends, or deliver one batch. */
  private async drainOnce(): Promise<'idle' | 'delivered' | 'failed'> {
    const o = this.options;
    if (this.mode === 'direct' || this.direct.length > 0) {
      // Nothing queued, or direct sends still in flight (they settle into the queue or not).
      await this.sleep(this.mode === 'direct' ? Math.min(1_000, o.cleanupIntervalMs || 1_000) : 5);
      return 'idle';
    }
    this.settleBatch();
    const batch = this.queue.dequeue(o.drainBatchSize, { producer: o.producer });
    if (batch.length === 0) {
      // Empty: back to direct sends. Synchronous with send(), so nothing can slip in between.
      this.mode = 'direct';
      this.notifyFlush();
      return 'idle';
    }
    return (await this.deliverBatch(batch)) ? 'delivered' : 'failed';
  }

  /**
   * Sends a batch pipelined and acks what the server accepted. Anything not answered
   * (connection lost, timeout, transient refusal) is released for the next round, in
   * order. @returns false when the server could not be reached or stopped answering.
   */
  private async deliverBatch(batch: readonly QueuedMessage[]): Promise<boolean> {
    try {
      await this.client.connect();
    } catch {
      this.unsettled = { acks: [], dead: [], retry: batch.map(claimOf) };
      this.settleBatch();
      return false;
    }
    // Each accepted reply is reported as it arrives (the server has applied the message),
    // not when the whole batch is in: the first delivery after an outage is visible at once.
    const replies = await Promise.allSettled(
      batch.map((m) =>
        this.client.send(queuedSignal(m)).then((reply) => {
          if (reply.accepted === true) {
            const duplicate = reply.duplicate === true;
            this.counters.drained++;
            if (duplicate) this.counters.redeliveredDuplicates++;
            this.onDrainEvent?.({ type: 'delivered', id: m.id, seq: ledgerSeq(reply), duplicate, attempts: m.attempts });
          }
          return reply;
        }),
      ),
    );
    const outcome: Unsettled = { acks: [], dead: [], retry: [] };
    let ok = true;
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      const r = replies[i]!;
      if (!ok || r.status === 'rejected') {
        ok = false;
        outcome.retry.push(claimOf(m));
        continue;
      }
      const reply = r.value;
      if (reply.accepted === true) {
        outcome.acks.push(claimOf(m));
      } else if (TRANSIENT_REASONS.has(reply.reason)) {
        ok = false;
        outcome.retry.push(claimOf(m));
      } else {
        const reason = `${reply.reason}${reply.error === undefined ? '' : `: ${reply.error}`}`;
        outcome.dead.push({ ...claimOf(m), reason: `server refused the message: ${reason}` });
        this.counters.deadLettered++;
        this.onDrainEvent?.({ type: 'dead', id: m.id, reason });
      }
    }
    if (outcome.retry.length > 0) {
      if (this.client.connected) this.client.resetConnection('a queued message was not delivered');
      this.counters.reconnects++;
    }
    this.unsettled = outcome;
    this.settleBatch();
    return ok;
  }

  /**
   * Records the outcome of the last batch in the queue: acks, dead letters, and the
   * claims given back for the next round. When the queue cannot be written (locked,
   * disk full) this throws and the outcome stays in `unsettled`, to be written before
   * the next dequeue, so that the batch's claims are not left to expire.
   */
  private settleBatch(): void {
    const u = this.unsettled;
    if (u === undefined) return;
    if (u.acks.length > 0) this.queue.ackMany(u.acks);
    u.acks = [];
    while (u.dead.length > 0) {
      const d = u.dead[0]!;
      this.queue.deadLetter(d.id, d.claimId, d.reason);
      u.dead.shift();
    }
    if (u.retry.length > 0) this.queue.release(u.retry);
    this.unsettled = undefined;
  }
}

type Claim = { readonly id: string; readonly claimId: string };
interface Unsettled {
  acks: Claim[];
  dead: (Claim & { readonly reason: string })[];
  retry: Claim[];
}
const claimOf = (m: QueuedMessage): Claim => ({ id: m.id, claimId: m.claimId });

/** The §11 MESSAGE signal for `msg`. */
export function messageSignal(msg: OutgoingMessage): Record<string, unknown> {
  const signal: Record<string, unknown> = { type: 'MESSAGE', message_id: msg.id };
  if (msg.topic !== undefined) signal.topic = msg.topic;
  if (msg.payload !== undefined) signal.payload = msg.payload;
  signal.timestamp = Date.now();
  return signal;
}

function queuedSignal(m: QueuedMessage): Record<string, unknown> {
  const body = (m.payload ?? {}) as { topic?: unknown; payload?: unknown };
  const topic = typeof body.topic === 'string' ? body.topic : undefined;
  return messageSignal({ id: m.id, topic, payload: body.payload });
}

function ledgerSeq(reply: Reply): number | undefined {
  const seq = (reply as Record<string, unknown>).seq;
  return typeof seq === 'number' ? seq : undefined;
}

function checkMessage(msg: OutgoingMessage): void {
  if (typeof msg !== 'object' || msg === null) throw fpError('FP_QUEUE_INVALID', 'send() needs a message object { id, topic?, payload? }');
  if (!isMessageId(msg.id)) {
    throw fpError('FP_QUEUE_INVALID', `message id ${JSON.stringify(msg.id)} is not a §11 message_id: use 1-128 characters without control characters or lone surrogates`);
  }
  if (msg.topic !== undefined && (typeof msg.topic !== 'string' || msg.topic.length === 0 || msg.topic.length > 256)) {
    throw fpError('FP_QUEUE_INVALID', `message ${msg.id}: topic must be a string of 1-256 characters`);
  }
}

/** Errors that say the server is away or slow, not that the message is bad. */
function isTransportError(err: unknown): boolean {
  if (!isFastPathError(err)) return false;
  return ['FP_CONNECT_ENOENT', 'FP_CONNECT_REFUSED', 'FP_CONNECT_FAILED', 'FP_TIMEOUT', 'FP_CLOSED'].includes(err.code);
}

function describeFailure(err: unknown): string {
  if (isFastPathError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
