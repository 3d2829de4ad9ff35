import { randomUUID } from 'node:crypto';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { type FastPathError, fpError, isFastPathError } from '../protocol/errors.js';
import { describeIssues } from './framing-option.js';
import {
  type AckResult,
  type DeadLetter,
  DeadLetterRowSchema,
  type EnqueueInput,
  EnqueueInputSchema,
  type EnqueueResult,
  type NackResult,
  type QueuedMessage,
  QueueRowSchema,
  payloadToJson,
  rowIssues,
} from './queue-record.js';

export type { AckResult, DeadLetter, EnqueueInput, EnqueueResult, NackResult, QueuedMessage } from './queue-record.js';

/**
 * `SqliteQueue`: the durable fallback queue of seed 004 (a SQLite file in WAL mode,
 * better-sqlite3), with idempotent enqueue, leases, retries with backoff, dead
 * letters and per-producer ordering. All calls are synchronous: they block the
 * thread for the SQLite work, and for up to `busyTimeoutMs` while another connection
 * holds the write lock.
 *
 * ## Life of a message
 *
 * A row is *queued* from `enqueue` until it is *done* (`ack`) or *dead*
 * (`deadLetter`, `nack` with attempts used up, or a corrupt row). While queued it is
 * *available* (new, released, lease expired, backoff over), *leased* (claimed by
 * `dequeue`, lease not expired) or *backing off* (after a `nack`).
 *
 * - **Idempotency.** The message id is the idempotency key: enqueueing an id that is
 *   still in the table, in any state (queued, done or dead), is a no-op that returns
 *   `inserted: false` and the existing row's seq. Done rows are kept `retentionMs`
 *   (default 24 h) and dead rows `deadRetentionMs` (default 7 days) and then deleted
 *   by `cleanup()`; after that the same id can be enqueued again as a new message.
 *   The retention is the idempotency window.
 * - **Leases.** `dequeue` claims: each row it returns gets a fresh random `claimId`,
 *   `leaseUntilMs = now + leaseMs`, and `attempts + 1` (attempts count claims). Once
 *   the lease has expired the row is available again and the next `dequeue` claims it
 *   with a NEW claimId. `ack`, `nack`, `deadLetter` and `release` act only with the
 *   current claimId of a queued row; with any other (an old claim, a row already
 *   done) they return `'stale'` and change nothing, so a worker whose lease expired
 *   cannot finish a newer claim. The current claim stays valid after its lease
 *   expired until the row is claimed again.
 * - **Attempts.** A claim that would make `attempts` exceed `maxAttempts` (the lease
 *   expired that many times without an ack or nack) dead-letters the row instead of
 *   handing it out, with a reason saying so. `nack` with attempts < maxAttempts makes
 *   the row available again at `now + min(backoff.initialMs · 2^(attempts-1),
 *   backoff.maxMs)` and returns `'retry'`; at maxAttempts it dead-letters the row with
 *   the error as reason and returns `'dead'`.
 * - **Ordering per producer.** `dequeue` returns messages in seq (enqueue) order and
 *   never returns a message of producer P while an EARLIER queued message of P is
 *   leased (lease not expired) or backing off. Dead-lettered and done messages do not
 *   block. Producers are independent of each other. So one batch may hold several
 *   consecutive messages of one producer, and while they are leased a second worker
 *   gets none of P's later messages: it cannot overtake the first. (The rule is
 *   evaluated once per `dequeue`, at its start.) A message released, or whose lease
 *   expired, is handed out again before P's later ones.
 * - **Corrupt rows.** Every row `dequeue` reads is validated (every column's type and
 *   range, and the payload must parse as JSON). A row that fails is dead-lettered with
 *   a reason naming the columns, skipped, and `dequeue` carries on: it never throws for
 *   a bad row. The table is `STRICT`, so SQLite itself refuses to store a value of the
 *   wrong type; one stored by something that bypassed STRICT (`writable_schema`) is
 *   dead-lettered the same way, its TEXT columns quoted (`X'00FF'`) and its numbers
 *   zeroed, and `PRAGMA integrity_check` reports it. A row whose `state` itself is not
 *   an integer is invisible to the queue (only integrity_check finds it).
 *
 * ## Durability (`synchronous`)
 *
 * The database is in WAL mode. With `'full'` (default, `PRAGMA synchronous=FULL`)
 * every commit fsyncs the WAL before `enqueue` returns: a message whose enqueue
 * returned survives a process crash, kill -9, an OS crash and power loss. With
 * `'normal'` (`PRAGMA synchronous=NORMAL`) commits are written to the WAL without
 * fsync (the WAL is fsynced at checkpoints): a returned enqueue survives a process
 * crash or kill -9 (the data is in the OS page cache), but the last transactions may
 * be lost, never corrupted, on power loss or an OS crash. NORMAL is much faster for
 * single enqueues. Both keep the file consistent (`PRAGMA integrity_check` is `ok`
 * after any crash).
 *
 * ## Errors
 *
 * {@link FastPathError}s: FP_CONFIG_INVALID (options), FP_QUEUE_OPEN (directory
 * missing, path is a directory, not a SQLite database, a database of another
 * application, a newer schema), FP_QUEUE_READ_ONLY (file or directory not writable;
 * checked at construction with a write), FP_QUEUE_LOCKED (another connection held
 * the write lock longer than `busyTimeoutMs`), FP_QUEUE_INVALID (bad message or
 * argument; nothing written), FP_QUEUE_CLOSED, FP_QUEUE_FAILED (any other SQLite
 * error: disk full, I/O error, corruption).
 */

/** `synchronous` settings: see {@link SqliteQueue} (Durability). */
export const QUEUE_SYNCHRONOUS = ['full', 'normal'] as const;
export type QueueSynchronous = (typeof QUEUE_SYNCHRONOUS)[number];

/** Version of the table layout, stored in `PRAGMA user_version`. */
export const QUEUE_SCHEMA_VERSION = 1;
/** `PRAGMA application_id` of queue files ('FPQU'): a database of another application is refused. */
export const QUEUE_APPLICATION_ID = 0x46505155;
/** Default number of rows `deadLetters()` returns. */
export const DEFAULT_DEAD_LETTER_LIMIT = 100;

const positiveInt = (field: string) => z.number({ error: `${field} must be a number` }).int(`${field} must be an integer`).min(1, `${field} must be >= 1`);
const nonNegativeInt = (field: string) => z.number({ error: `${field} must be a number` }).int(`${field} must be an integer`).min(0, `${field} must be >= 0`);

export const QueueOptionsSchema = z.object({
  /** The SQLite file; its directory must exist. Created when missing. */
  path: z.string({ error: 'path must be a string' }).min(1, 'path must not be empty').refine((p) => p !== ':memory:' && !p.startsWith('file:'), 'path must be a file path (the queue is durable: no :memory: or URI)'),
  synchronous: z.enum(QUEUE_SYNCHRONOUS, { error: `synchronous must be one of ${QUEUE_SYNCHRONOUS.join(', ')}` }).default('full'),
  /** Visibility timeout of a claim. */
  leaseMs: positiveInt('leaseMs').default(30_000),
  /** Claims before a message is dead-lettered. */
  maxAttempts: positiveInt('maxAttempts').default(5),
  /** Delay before a nacked message is available again: initialMs · 2^(attempts-1), at most maxMs. */
  backoff: z
    .object({
      initialMs: nonNegativeInt('backoff.initialMs').default(100),
      maxMs: nonNegativeInt('backoff.maxMs').default(30_000),
    })
    .prefault({}),
  /** Done (acked) rows are kept this long (the idempotency window), then deleted by cleanup(). */
  retentionMs: nonNegativeInt('retentionMs').default(24 * 60 * 60 * 1000),
  /** Dead rows are kept this long, then deleted by cleanup(). */
  deadRetentionMs: nonNegativeInt('deadRetentionMs').default(7 * 24 * 60 * 60 * 1000),
  /** How long an operation waits for another connection's write lock before FP_QUEUE_LOCKED. */
  busyTimeoutMs: nonNegativeInt('busyTimeoutMs').default(5_000),
  /** Clock in ms (tests inject one); default `Date.now`. */
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function returning ms').optional(),
});

/** Options of {@link SqliteQueue}. */
export type QueueOptions = z.input<typeof QueueOptionsSchema>;
type ResolvedQueueOptions = z.output<typeof QueueOptionsSchema>;

/** Options of `dequeue`. */
export interface DequeueOptions {
  /** Only messages of this producer. */
  readonly producer?: string;
  /** Lease of these claims instead of the queue's `leaseMs`. */
  readonly leaseMs?: number;
}

/** Counts of `stats()`. */
export interface QueueStats {
  /** Queued and not leased: available now, backing off, or lease expired. */
  readonly pending: number;
  /** Claimed with a lease not yet expired. `pending + leased === pendingCount()`. */
  readonly leased: number;
  /** Acked, kept for the idempotency window. */
  readonly done: number;
  /** Dead-lettered, kept `deadRetentionMs`. */
  readonly dead: number;
  /** Age of the oldest queued message (leased or not): the queue's lag; undefined when none is queued. */
  readonly oldestPendingAgeMs: number | undefined;
}

/** What {@link SqliteQueue.sqliteSettings} reads back. */
export interface SqliteSettings {
  /** `wal`. */
  readonly journalMode: string;
  /** `FULL` or `NORMAL` (PRAGMA synchronous). */
  readonly synchronous: string;
  readonly busyTimeoutMs: number;
  /** PRAGMA user_version: {@link QUEUE_SCHEMA_VERSION}. */
  readonly schemaVersion: number;
  readonly sqliteVersion: string;
}

const SYNCHRONOUS_LEVELS: readonly string[] = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

const STATE_QUEUED = 0;
const STATE_DONE = 1;
const STATE_DEAD = 2;

/**
 * Table layout (schema version 1). `available_at_ms` is when a queued row may be
 * claimed next: 0 when new or released, the lease end while claimed (`claim_id` set),
 * the backoff end after a nack. `finished_at_ms` is when it became done or dead.
 */
const SCHEMA_SQL = `
CREATE TABLE fp_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  producer TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  timestamp_ms REAL NOT NULL,
  enqueued_at_ms INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT ${STATE_QUEUED},
  attempts INTEGER NOT NULL DEFAULT 0,
  available_at_ms INTEGER NOT NULL DEFAULT 0,
  claim_id TEXT,
  finished_at_ms INTEGER,
  reason TEXT
) STRICT;
CREATE INDEX fp_queue_queued ON fp_queue(seq, producer) WHERE state = ${STATE_QUEUED};
CREATE INDEX fp_queue_unavailable ON fp_queue(available_at_ms) WHERE state = ${STATE_QUEUED};
CREATE INDEX fp_queue_done ON fp_queue(finished_at_ms) WHERE state = ${STATE_DONE};
CREATE INDEX fp_queue_dead ON fp_queue(finished_at_ms) WHERE state = ${STATE_DEAD};
`;

/** Columns `dequeue` reads: all but `state`, which its WHERE fixes (validated by QueueRowSchema). */
const ROW_COLUMNS = 'm.seq, m.id, m.producer, m.type, m.payload, m.timestamp_ms, m.enqueued_at_ms, m.attempts, m.available_at_ms, m.claim_id, m.finished_at_ms, m.reason';

/** A value of the wrong type stored in a TEXT column, as text (SQL `quote`: X'00FF', NULL, 12). */
const asText = (column: string): string => `CASE typeof(${column}) WHEN 'text' THEN ${column} ELSE quote(${column}) END`;
/** 0 for a value of the wrong type in an INTEGER column. */
const asInteger = (column: string): string => `CASE typeof(${column}) WHEN 'integer' THEN ${column} ELSE 0 END`;

/**
 * Dead-letters a corrupt row. A STRICT table re-checks every column on UPDATE, so a
 * value of the wrong type (stored by something that bypassed STRICT) is replaced by
 * one of the right type: TEXT columns keep it quoted, numbers become 0.
 */
const KILL_CORRUPT_SQL =
  `UPDATE fp_queue SET state = 2, claim_id = NULL, finished_at_ms = ?, reason = ?, ` +
  `id = CASE typeof(id) WHEN 'text' THEN id ELSE printf('corrupt row %d: %s', seq, quote(id)) END, ` +
  `producer = ${asText('producer')}, type = ${asText('type')}, payload = ${asText('payload')}, ` +
  `timestamp_ms = CASE WHEN typeof(timestamp_ms) IN ('integer', 'real') THEN timestamp_ms ELSE 0 END, ` +
  `enqueued_at_ms = ${asInteger('enqueued_at_ms')}, attempts = ${asInteger('attempts')}, available_at_ms = ${asInteger('available_at_ms')} ` +
  `WHERE seq = ?`;

type Stmt = Database.Statement<unknown[], unknown>;

interface Statements {
  insert: Stmt;
  seqOfId: Stmt;
  clearBlocks: Stmt;
  fillBlocks: Stmt;
  candidates: Stmt;
  blockOfProducer: Stmt;
  candidatesOfProducer: Stmt;
  claim: Stmt;
  kill: Stmt;
  killCorrupt: Stmt;
  ack: Stmt;
  claimedAttempts: Stmt;
  retry: Stmt;
  killClaimed: Stmt;
  release: Stmt;
  releaseLeasesOf: Stmt;
  deleteDone: Stmt;
  deleteDead: Stmt;
  stats: Stmt;
  countQueued: Stmt;
  countQueuedOfProducer: Stmt;
  idsQueued: Stmt;
  idsQueuedOfProducer: Stmt;
  deadLetters: Stmt;
}

/** The durable queue; see the module documentation above for the rules it keeps. */
export class SqliteQueue {
  /** The SQLite file, as given. */
  readonly path: string;
  readonly synchronous: QueueSynchronous;
  /** The validated options (without `now`). */
  readonly options: Readonly<Omit<ResolvedQueueOptions, 'now'>>;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly st: Statements;
  private closed = false;
  private readonly enqueueTx: (row: readonly unknown[]) => EnqueueResult;
  private readonly enqueueBatchTx: (rows: readonly (readonly unknown[])[]) => number;
  private readonly dequeueTx: (limit: number, producer: string | undefined, leaseMs: number) => QueuedMessage[];
  private readonly ackManyTx: (claims: readonly { id: string; claimId: string }[]) => number;
  private readonly nackTx: (id: string, claimId: string, error: string | undefined) => NackResult;
  private readonly cleanupTx: () => { deletedDone: number; deletedDead: number };
  private readonly releaseTx: (claims: readonly { id: string; claimId: string }[]) => number;

  /**
   * Opens or creates the queue file: WAL mode, the `synchronous` pragma, the schema,
   * and a write to prove the file is writable.
   * @throws FastPathError FP_CONFIG_INVALID, FP_QUEUE_OPEN, FP_QUEUE_READ_ONLY or FP_QUEUE_LOCKED.
   */
  constructor(options: QueueOptions) {
    const res = QueueOptionsSchema.safeParse(options);
    if (!res.success) throw fpError('FP_CONFIG_INVALID', `invalid queue options: ${describeIssues(res.error, '(options)')}`);
    const { now, ...resolved } = res.data;
    this.options = resolved;
    this.path = resolved.path;
    this.synchronous = resolved.synchronous;
    this.now = now ?? Date.now;
    checkPath(this.path);

    let db: Database.Database;
    try {
      db = new Database(this.path, { timeout: resolved.busyTimeoutMs });
    } catch (err) {
      throw openError(this.path, 'open the database', resolved.busyTimeoutMs, err);
    }
    this.db = db;
    try {
      this.setUp();
      this.st = this.prepareStatements();
    } catch (err) {
      db.close();
      throw openError(this.path, 'open the database', resolved.busyTimeoutMs, err);
    }

    // Duplicates are looked up first: an INSERT that conflicts would still use up an
    // AUTOINCREMENT seq (and write sqlite_sequence), and a duplicate must change nothing.
    const insertOne = (row: readonly unknown[]): EnqueueResult => {
      const existing = this.st.seqOfId.get(row[0]) as number | undefined;
      if (existing !== undefined) return { inserted: false, seq: existing };
      return { inserted: true, seq: Number(this.st.insert.run(...row).lastInsertRowid) };
    };
    this.enqueueTx = db.transaction(insertOne).immediate;
    this.enqueueBatchTx = db.transaction((rows: readonly (readonly unknown[])[]): number => {
      let inserted = 0;
      for (const row of rows) if (insertOne(row).inserted) inserted++;
      return inserted;
    }).immediate;
    this.dequeueTx = db.transaction((limit: number, producer: string | undefined, leaseMs: number) => this.claim(limit, producer, leaseMs)).immediate;
    this.ackManyTx = db.transaction((claims: readonly { id: string; claimId: string }[]): number => {
      const at = this.clock();
      let acked = 0;
      for (const c of claims) acked += this.st.ack.run(at, c.id, c.claimId).changes;
      return acked;
    }).immediate;
    this.nackTx = db.transaction((id: string, claimId: string, error: string | undefined): NackResult => {
      const attempts = this.st.claimedAttempts.get(id, claimId) as number | undefined;
      if (attempts === undefined) return 'stale';
      const at = this.clock();
      const { maxAttempts, backoff } = this.options;
      if (attempts >= maxAttempts) {
        const reason = `${error ?? 'nacked without an error message'} (attempt ${attempts} of maxAttempts ${maxAttempts})`;
        this.st.killClaimed.run(at, reason, id, claimId);
        return 'dead';
      }
      const delayMs = Math.min(backoff.initialMs * 2 ** (attempts - 1), backoff.maxMs);
      this.st.retry.run(at + delayMs, error ?? null, id, claimId);
      return 'retry';
    }).immediate;
    this.releaseTx = db.transaction((claims: readonly { id: string; claimId: string }[]): number => {
      let released = 0;
      for (const c of claims) released += this.st.release.run(c.id, c.claimId).changes;
      return released;
    }).immediate;
    this.cleanupTx = db.transaction(() => {
      const at = this.clock();
      const deletedDone = this.st.deleteDone.run(at - this.options.retentionMs).changes;
      const deletedDead = this.st.deleteDead.run(at - this.options.deadRetentionMs).changes;
      return { deletedDone, deletedDead };
    }).immediate;
  }

  /**
   * Adds one message in its own transaction; when it returns the message is durable as
   * `synchronous` promises. A duplicate id (still in the table, any state) writes
   * nothing and returns `{ inserted: false, seq }` of the existing row.
   * @throws FastPathError FP_QUEUE_INVALID (nothing written), FP_QUEUE_LOCKED, FP_QUEUE_CLOSED, FP_QUEUE_FAILED.
   */
  enqueue(msg: EnqueueInput): EnqueueResult {
    this.checkOpen();
    const row = this.rowOf(msg, undefined);
    return this.guard('enqueue', () => this.enqueueTx(row));
  }

  /**
   * Adds messages in one transaction (all or nothing). Every message is checked before
   * anything is written; duplicates (of rows in the table or earlier in the batch) are
   * counted, not inserted.
   * @throws FastPathError FP_QUEUE_INVALID naming the index (nothing written), FP_QUEUE_LOCKED, FP_QUEUE_CLOSED, FP_QUEUE_FAILED.
   */
  enqueueBatch(msgs: readonly EnqueueInput[]): { inserted: number; duplicates: number } {
    this.checkOpen();
    if (!Array.isArray(msgs)) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: enqueueBatch takes an array of messages, got ${typeof msgs}`);
    const rows = msgs.map((m, i) => this.rowOf(m, i));
    const inserted = this.guard('enqueue a batch', () => this.enqueueBatchTx(rows));
    return { inserted, duplicates: msgs.length - inserted };
  }

  /**
   * Claims up to `limit` available messages in seq order, keeping the per-producer
   * ordering rule (see the module documentation): each gets a fresh `claimId`, a lease
   * of `leaseMs` and one more attempt. Rows that fail validation, and rows whose
   * lease expired `maxAttempts` times, are dead-lettered on the way and skipped. One
   * transaction.
   * @throws FastPathError FP_QUEUE_INVALID (bad limit or options), FP_QUEUE_LOCKED, FP_QUEUE_CLOSED, FP_QUEUE_FAILED.
   */
  dequeue(limit: number, opts: DequeueOptions = {}): QueuedMessage[] {
    this.checkOpen();
    if (!Number.isSafeInteger(limit) || limit < 1) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: dequeue limit must be an integer >= 1, got ${String(limit)}`);
    const leaseMs = opts.leaseMs ?? this.options.leaseMs;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: dequeue leaseMs must be an integer >= 1, got ${String(leaseMs)}`);
    if (opts.producer !== undefined && typeof opts.producer !== 'string') throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: dequeue producer must be a string`);
    return this.guard('dequeue', () => this.dequeueTx(limit, opts.producer, leaseMs));
  }

  /**
   * Marks a claimed message done. `'stale'` (nothing changed) when `claimId` is not the
   * current claim of a queued message: the lease expired and it was claimed again, it
   * was nacked or released, or it is already done or dead.
   */
  ack(id: string, claimId: string): AckResult {
    this.checkOpen();
    this.checkClaim('ack', id, claimId);
    return this.guard('ack', () => (this.st.ack.run(this.clock(), id, claimId).changes === 1 ? 'acked' : 'stale'));
  }

  /** Acks many claims in one transaction; stale ones are counted and change nothing. */
  ackMany(claims: readonly { id: string; claimId: string }[]): { acked: number; stale: number } {
    this.checkOpen();
    this.checkClaims('ackMany', claims);
    const acked = this.guard('ack a batch', () => this.ackManyTx(claims));
    return { acked, stale: claims.length - acked };
  }

  /**
   * Reports a failed attempt. With attempts < maxAttempts the message is available
   * again after the backoff (`'retry'`); otherwise it is dead-lettered with `error` in
   * its reason (`'dead'`). `'stale'` for a claim that is not current (nothing changed).
   */
  nack(id: string, claimId: string, error?: string): NackResult {
    this.checkOpen();
    this.checkClaim('nack', id, claimId);
    return this.guard('nack', () => this.nackTx(id, claimId, error === undefined ? undefined : String(error)));
  }

  /** Dead-letters a claimed message at once (a permanent failure) with `reason`. `'stale'` as for `ack`. */
  deadLetter(id: string, claimId: string, reason: string): AckResult {
    this.checkOpen();
    this.checkClaim('deadLetter', id, claimId);
    return this.guard('dead-letter', () => (this.st.killClaimed.run(this.clock(), String(reason), id, claimId).changes === 1 ? 'acked' : 'stale'));
  }

  /**
   * Gives claims back unprocessed, in one transaction (a worker that stops, or that
   * could not deliver part of a batch): each message is available again at once and
   * the attempt of that claim is not counted. Stale claims (as for `ack`) are counted
   * and change nothing.
   */
  release(claims: readonly { id: string; claimId: string }[]): { released: number; stale: number } {
    this.checkOpen();
    this.checkClaims('release', claims);
    const released = this.guard('release', () => this.releaseTx(claims));
    return { released, stale: claims.length - released };
  }

  /**
   * Gives back every claim on `producer`'s messages, expired or not, without counting
   * their attempts: for the one consumer of a producer's messages (the failover
   * client's drainer) restarting after a crash, whose earlier claims died with it.
   * Without this its leased messages, and by the ordering rule everything of that
   * producer after them, would wait for the leases to expire. Never call it while
   * another worker may hold claims on the producer's messages.
   * @returns the number of claims given back.
   */
  releaseLeasesOf(producer: string): number {
    this.checkOpen();
    return this.guard('release leases', () => this.st.releaseLeasesOf.run(producer).changes);
  }

  /**
   * Deletes done rows finished at least `retentionMs` ago and dead rows finished at
   * least `deadRetentionMs` ago (their ids may then be enqueued again).
   */
  cleanup(): { deletedDone: number; deletedDead: number } {
    this.checkOpen();
    return this.guard('clean up', () => this.cleanupTx());
  }

  /** Counts by state (see {@link QueueStats}). */
  stats(): QueueStats {
    this.checkOpen();
    return this.guard('read stats', () => {
      const at = this.clock();
      const row = this.st.stats.get(at) as { queued: number; leased: number; done: number; dead: number; oldest: number | null };
      return {
        pending: row.queued - row.leased,
        leased: row.leased,
        done: row.done,
        dead: row.dead,
        oldestPendingAgeMs: row.oldest === null ? undefined : Math.max(0, at - Number(row.oldest)),
      };
    });
  }

  /** Messages still queued (not done, not dead; leased ones included), of one producer or all. */
  pendingCount(producer?: string): number {
    this.checkOpen();
    return this.guard('count', () => (producer === undefined ? this.st.countQueued.get() : this.st.countQueuedOfProducer.get(producer)) as number);
  }

  /** Ids of the messages still queued (leased ones included), in seq order: what is left to deliver. */
  pendingIds(producer?: string): string[] {
    this.checkOpen();
    return this.guard('list ids', () => (producer === undefined ? this.st.idsQueued.all() : this.st.idsQueuedOfProducer.all(producer)) as string[]);
  }

  /** Dead letters in seq order, at most `limit` (default 100). */
  deadLetters(limit: number = DEFAULT_DEAD_LETTER_LIMIT): DeadLetter[] {
    this.checkOpen();
    if (!Number.isSafeInteger(limit) || limit < 0) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: deadLetters limit must be an integer >= 0, got ${String(limit)}`);
    return this.guard('list dead letters', () =>
      this.st.deadLetters.all(limit).map((raw) => {
        const r = DeadLetterRowSchema.parse(raw);
        return { seq: r.seq, id: r.id, producer: r.producer, type: r.type, attempts: r.attempts, reason: r.reason, deadAtMs: r.dead_at_ms, payloadText: r.payload_text };
      }),
    );
  }

  /** The settings of this connection as SQLite reports them (PRAGMAs read back), and the SQLite version. */
  sqliteSettings(): SqliteSettings {
    this.checkOpen();
    return this.guard('read the settings', () => {
      const level = this.db.pragma('synchronous', { simple: true }) as number;
      return {
        journalMode: String(this.db.pragma('journal_mode', { simple: true })),
        synchronous: SYNCHRONOUS_LEVELS[level] ?? `level ${level}`,
        busyTimeoutMs: this.db.pragma('busy_timeout', { simple: true }) as number,
        schemaVersion: this.db.pragma('user_version', { simple: true }) as number,
        sqliteVersion: this.db.prepare('SELECT sqlite_version()').pluck().get() as string,
      };
    });
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the database (a checkpoint of the WAL). Idempotent; other calls then throw FP_QUEUE_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  // -------------------------------------------------------------------------------

  /** The queue clock, in whole ms. */
  private clock(): number {
    const t = Math.floor(this.now());
    if (!Number.isSafeInteger(t)) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: the clock returned ${String(t)}, not a number of ms`);
    return t;
  }

  private checkOpen(): void {
    if (this.closed) throw fpError('FP_QUEUE_CLOSED', `queue ${this.path} is closed; create a new SqliteQueue to use the file again`);
  }

  /** @throws FP_QUEUE_INVALID unless `claims` is an array of `{ id, claimId }` strings. */
  private checkClaims(what: string, claims: readonly { id: string; claimId: string }[]): void {
    if (!Array.isArray(claims)) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: ${what} takes an array of { id, claimId }, got ${typeof claims}`);
    claims.forEach((c, i) => {
      if (typeof c?.id !== 'string' || typeof c.claimId !== 'string') {
        throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: ${what}: claim ${i} must be { id: string, claimId: string } (a message from dequeue will do)`, { index: i });
      }
    });
  }

  /** @throws FP_QUEUE_INVALID unless both are strings. */
  private checkClaim(what: string, id: string, claimId: string): void {
    if (typeof id !== 'string' || typeof claimId !== 'string') {
      throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: ${what} takes the id and claimId strings of a dequeued message, got ${typeof id} and ${typeof claimId}`);
    }
  }

  /** Runs `fn`, turning SQLite errors into FastPathErrors that say what was being done. */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isFastPathError(err)) throw err;
      throw sqliteError(this.path, what, this.options.busyTimeoutMs, err);
    }
  }

  /** The insert parameters of a valid message. @throws FP_QUEUE_INVALID */
  private rowOf(msg: EnqueueInput, index: number | undefined): unknown[] {
    const where = index === undefined ? '' : ` (message ${index} of the batch)`;
    const res = EnqueueInputSchema.safeParse(msg);
    if (!res.success) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: invalid message${where}: ${describeIssues(res.error, '(message)')}`, index === undefined ? undefined : { index });
    const m = res.data;
    const json = payloadToJson(m.payload);
    if (!json.ok) throw fpError('FP_QUEUE_INVALID', `queue ${this.path}: invalid payload of message "${m.id}"${where}: ${json.problem}`, { id: m.id, ...(index === undefined ? {} : { index }) });
    const at = this.clock();
    return [m.id, m.producer, m.type, json.text, m.timestampMs ?? at, at];
  }

  /** The body of `dequeue`, inside its transaction. */
  private claim(limit: number, producer: string | undefined, leaseMs: number): QueuedMessage[] {
    const at = this.clock();
    const leaseUntilMs = at + leaseMs;
    const claimed: QueuedMessage[] = [];
    let block = Number.MAX_SAFE_INTEGER;
    if (producer === undefined) {
      this.st.clearBlocks.run();
      this.st.fillBlocks.run(at);
    } else {
      block = (this.st.blockOfProducer.get(at, producer) as number | null) ?? Number.MAX_SAFE_INTEGER;
    }
    let after = 0;
    for (;;) {
      const want = limit - claimed.length;
      const rows = producer === undefined ? this.st.candidates.all(after, at, want) : this.st.candidatesOfProducer.all(producer, after, block, at, want);
      for (const raw of rows) {
        const seq = (raw as { seq: number }).seq;
        after = seq;
        const parsed = QueueRowSchema.safeParse(raw);
        if (!parsed.success) {
          this.killCorrupt(at, seq, `corrupt row (seq ${seq}): ${rowIssues(parsed.error, raw)}`);
          continue;
        }
        const row = parsed.data;
        if (row.attempts >= this.options.maxAttempts) {
          this.st.kill.run(at, `lease expired ${row.attempts} times without an ack or nack (maxAttempts ${this.options.maxAttempts})`, seq);
          continue;
        }
        const claimId = randomUUID();
        this.st.claim.run(claimId, leaseUntilMs, seq);
        claimed.push({
          seq,
          id: row.id,
          producer: row.producer,
          type: row.type,
          payload: row.payload,
          timestampMs: row.timestamp_ms,
          enqueuedAtMs: row.enqueued_at_ms,
          attempts: row.attempts + 1,
          claimId,
          leaseUntilMs,
        });
      }
      if (claimed.length >= limit || rows.length < want) return claimed;
    }
  }

  /**
   * Dead-letters a row that failed validation. Should even that fail (a constraint the
   * coercions do not cover), the row stays where it is and is skipped again by every
   * dequeue: a bad row never makes dequeue throw.
   */
  private killCorrupt(at: number, seq: number, reason: string): void {
    try {
      this.st.killCorrupt.run(at, reason, seq);
    } catch {
      // Statement-level rollback: the transaction goes on without this row.
    }
  }

  /** WAL, pragmas, schema check or creation, and the write probe. */
  private setUp(): void {
    const db = this.db;
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw fpError('FP_QUEUE_OPEN', `queue ${this.path}: SQLite could not switch the database to WAL mode (journal_mode is ${String(mode)}); put the file on a local file system that supports shared memory`);
    }
    db.pragma(`synchronous = ${this.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('temp_store = MEMORY');
    db.pragma('journal_size_limit = 67108864');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      const appId = db.pragma('application_id', { simple: true }) as number;
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
      if (appId !== 0 && appId !== QUEUE_APPLICATION_ID) {
        throw fpError('FP_QUEUE_OPEN', `queue ${this.path}: the file is a SQLite database of another application (application_id ${appId}, a queue has ${QUEUE_APPLICATION_ID}); give the queue a file of its own`);
      }
      if (version > QUEUE_SCHEMA_VERSION) {
        throw fpError(
          'FP_QUEUE_OPEN',
          `queue ${this.path}: the queue was created by a newer fastpath (schema version ${version}; this version knows up to ${QUEUE_SCHEMA_VERSION}); open it with that version, or use another file`,
          { schemaVersion: version },
        );
      }
      if (version === 0) {
        if (tables.length > 0) {
          throw fpError('FP_QUEUE_OPEN', `queue ${this.path}: the file is a SQLite database but not a queue (tables: ${tables.join(', ')}); give the queue a file of its own`);
        }
        db.exec(SCHEMA_SQL);
        db.pragma(`application_id = ${QUEUE_APPLICATION_ID}`);
      } else if (!tables.includes('fp_queue')) {
        throw fpError('FP_QUEUE_OPEN', `queue ${this.path}: the file has user_version ${version} but no fp_queue table: it is not a queue; give the queue a file of its own`);
      }
      // The write probe: a read-only file or directory fails here, not at the first enqueue.
      db.pragma(`user_version = ${QUEUE_SCHEMA_VERSION}`);
    }).immediate();
    db.exec('CREATE TEMP TABLE IF NOT EXISTS fp_blocks (producer TEXT PRIMARY KEY, bseq INTEGER NOT NULL) WITHOUT ROWID');
  }

  private prepareStatements(): Statements {
    const p = (sql: string): Stmt => this.db.prepare(sql);
    /** A statement returning the first column only. */
    const pl = (sql: string): Stmt => this.db.prepare(sql).pluck();
    const Q = STATE_QUEUED;
    return {
      insert: p(
        'INSERT INTO fp_queue (id, producer, type, payload, timestamp_ms, enqueued_at_ms) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      seqOfId: pl('SELECT seq FROM fp_queue WHERE id = ?'),
      clearBlocks: p('DELETE FROM temp.fp_blocks'),
      // The lowest seq per producer that is leased (unexpired) or backing off.
      fillBlocks: p(`INSERT INTO temp.fp_blocks (producer, bseq) SELECT producer, MIN(seq) FROM fp_queue WHERE state = ${Q} AND available_at_ms > ? AND typeof(available_at_ms) = 'integer' GROUP BY producer`),
      candidates: p(
        `SELECT ${ROW_COLUMNS} FROM fp_queue AS m LEFT JOIN temp.fp_blocks AS b ON b.producer = m.producer ` +
          `WHERE m.state = ${Q} AND m.seq > ? AND (b.bseq IS NULL OR m.seq < b.bseq) AND (m.available_at_ms <= ? OR typeof(m.available_at_ms) <> 'integer') ORDER BY m.seq LIMIT ?`,
      ),
      blockOfProducer: pl(`SELECT MIN(seq) FROM fp_queue WHERE state = ${Q} AND available_at_ms > ? AND typeof(available_at_ms) = 'integer' AND producer = ?`),
      candidatesOfProducer: p(
        `SELECT ${ROW_COLUMNS} FROM fp_queue AS m WHERE m.state = ${Q} AND m.producer = ? AND m.seq > ? AND m.seq < ? AND (m.available_at_ms <= ? OR typeof(m.available_at_ms) <> 'integer') ORDER BY m.seq LIMIT ?`,
      ),
      claim: p('UPDATE fp_queue SET attempts = attempts + 1, claim_id = ?, available_at_ms = ? WHERE seq = ?'),
      killCorrupt: p(KILL_CORRUPT_SQL),
      kill: p(`UPDATE fp_queue SET state = ${STATE_DEAD}, claim_id = NULL, finished_at_ms = ?, reason = ? WHERE seq = ?`),
      ack: p(`UPDATE fp_queue SET state = ${STATE_DONE}, claim_id = NULL, finished_at_ms = ? WHERE id = ? AND claim_id = ? AND state = ${Q}`),
      claimedAttempts: pl(`SELECT attempts FROM fp_queue WHERE id = ? AND claim_id = ? AND state = ${Q}`),
      retry: p(`UPDATE fp_queue SET available_at_ms = ?, claim_id = NULL, reason = ? WHERE id = ? AND claim_id = ? AND state = ${Q}`),
      killClaimed: p(`UPDATE fp_queue SET state = ${STATE_DEAD}, claim_id = NULL, finished_at_ms = ?, reason = ? WHERE id = ? AND claim_id = ? AND state = ${Q}`),
      release: p(`UPDATE fp_queue SET attempts = MAX(attempts - 1, 0), claim_id = NULL, available_at_ms = 0 WHERE id = ? AND claim_id = ? AND state = ${Q}`),
      releaseLeasesOf: p(`UPDATE fp_queue SET attempts = MAX(attempts - 1, 0), claim_id = NULL, available_at_ms = 0 WHERE producer = ? AND state = ${Q} AND claim_id IS NOT NULL`),
      deleteDone: p(`DELETE FROM fp_queue WHERE state = ${STATE_DONE} AND finished_at_ms <= ?`),
      deleteDead: p(`DELETE FROM fp_queue WHERE state = ${STATE_DEAD} AND finished_at_ms <= ?`),
      stats: p(
        `SELECT (SELECT COUNT(*) FROM fp_queue WHERE state = ${Q}) AS queued, ` +
          `(SELECT COUNT(*) FROM fp_queue WHERE state = ${Q} AND available_at_ms > ? AND claim_id IS NOT NULL) AS leased, ` +
          `(SELECT COUNT(*) FROM fp_queue WHERE state = ${STATE_DONE}) AS done, ` +
          `(SELECT COUNT(*) FROM fp_queue WHERE state = ${STATE_DEAD}) AS dead, ` +
          `(SELECT enqueued_at_ms FROM fp_queue WHERE state = ${Q} ORDER BY seq LIMIT 1) AS oldest`,
      ),
      countQueued: pl(`SELECT COUNT(*) FROM fp_queue WHERE state = ${Q}`),
      countQueuedOfProducer: pl(`SELECT COUNT(*) FROM fp_queue WHERE state = ${Q} AND producer = ?`),
      idsQueued: pl(`SELECT CAST(id AS TEXT) FROM fp_queue WHERE state = ${Q} ORDER BY seq`),
      idsQueuedOfProducer: pl(`SELECT CAST(id AS TEXT) FROM fp_queue WHERE state = ${Q} AND producer = ? ORDER BY seq`),
      deadLetters: p(
        'SELECT seq, CAST(id AS TEXT) AS id, CAST(producer AS TEXT) AS producer, CAST(type AS TEXT) AS type, CAST(attempts AS INTEGER) AS attempts, ' +
          "COALESCE(CAST(reason AS TEXT), '') AS reason, CAST(COALESCE(finished_at_ms, 0) AS INTEGER) AS dead_at_ms, CAST(payload AS TEXT) AS payload_text " +
          `FROM fp_queue WHERE state = ${STATE_DEAD} ORDER BY seq LIMIT ?`,
      ),
    };
  }
}

/** Refuses paths SQLite would fail on with an unhelpful message. @throws FP_QUEUE_OPEN */
function checkPath(path: string): void {
  const dir = dirname(resolve(path));
  const dirStat = statSync(dir, { throwIfNoEntry: false });
  if (dirStat === undefined) throw fpError('FP_QUEUE_OPEN', `queue ${path}: directory ${dir} does not exist; create it first (mkdir -p ${dir})`, { path });
  if (!dirStat.isDirectory()) throw fpError('FP_QUEUE_OPEN', `queue ${path}: ${dir} is not a directory; give a path inside an existing directory`, { path });
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (err) {
    throw fpError('FP_QUEUE_OPEN', `queue ${path}: cannot look at the file (${(err as Error).message}); check the permissions of ${dir}`, { path }, err);
  }
  if (st?.isDirectory() === true) throw fpError('FP_QUEUE_OPEN', `queue ${path}: the path is a directory; give the path of a file (e.g. ${path.replace(/\/+$/, '')}/queue.db)`, { path });
  if (st !== undefined && !st.isFile()) throw fpError('FP_QUEUE_OPEN', `queue ${path}: the path exists and is not a regular file; give the path of a queue file`, { path });
}

function exists(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** An error while opening: SQLite codes mapped as by {@link sqliteError}, with FP_QUEUE_OPEN as the fallback. */
function openError(path: string, what: string, busyTimeoutMs: number, err: unknown): FastPathError {
  if (isFastPathError(err)) return err;
  const mapped = sqliteError(path, what, busyTimeoutMs, err);
  return mapped.code === 'FP_QUEUE_FAILED' ? fpError('FP_QUEUE_OPEN', mapped.message, mapped.details, err) : mapped;
}

/** Maps a SQLite error (by its `code`) to a FastPathError that says what to do. */
function sqliteError(path: string, what: string, busyTimeoutMs: number, err: unknown): FastPathError {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'UNKNOWN';
  const message = err instanceof Error ? err.message : String(err);
  const details = { path, sqliteCode: code };
  const dir = dirname(resolve(path));
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return fpError(
      'FP_QUEUE_LOCKED',
      `queue ${path}: could not ${what}: the database stayed locked by another connection for more than busyTimeoutMs (${busyTimeoutMs} ms) (${code}); ` +
        `another process holds a write transaction: find it (fuser ${path}) and let it finish, or raise busyTimeoutMs`,
      details,
      err,
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    const where =
      code === 'SQLITE_READONLY_DIRECTORY' || !writable(dir)
        ? `the directory ${dir} is not writable (SQLite needs to create the -wal and -shm files next to the database)`
        : !writable(path)
          ? `the file is not writable`
          : `SQLite opened it read-only`;
    return fpError('FP_QUEUE_READ_ONLY', `queue ${path}: could not ${what}: the database is read-only: ${where} (${code}); fix the permissions (the queue needs to write both)`, details, err);
  }
  if (code === 'SQLITE_NOTADB') {
    return fpError('FP_QUEUE_OPEN', `queue ${path}: the file is not a SQLite database (${message}); point path at a queue file, or at a path that does not exist yet`, details, err);
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    if (!writable(dir) && !exists(path)) {
      return fpError('FP_QUEUE_READ_ONLY', `queue ${path}: could not create the database: the directory ${dir} is not writable (${code}); fix its permissions or choose another directory`, details, err);
    }
    return fpError('FP_QUEUE_OPEN', `queue ${path}: could not ${what}: SQLite cannot open the file (${message}, ${code}); check that the path and its directory are accessible`, details, err);
  }
  if (code === 'SQLITE_FULL') {
    return fpError('FP_QUEUE_FAILED', `queue ${path}: could not ${what}: the disk is full (${code}); free space on the file system of ${dir}`, details, err);
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return fpError('FP_QUEUE_FAILED', `queue ${path}: could not ${what}: the database file is corrupt (${message}, ${code}); run PRAGMA integrity_check, restore it or move it aside`, details, err);
  }
  return fpError('FP_QUEUE_FAILED', `queue ${path}: could not ${what}: ${message} (${code})`, details, err);
}
