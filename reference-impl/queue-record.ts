import { z } from 'zod';

/**
 * The records of the durable queue (reference-impl/queue.ts): what callers enqueue,
 * what a row of the SQLite table must look like when it is read back, and what
 * `dequeue` hands out. Every row read back goes through {@link QueueRowSchema}; a row
 * that fails it is dead-lettered by the queue with the issues as its reason.
 */

/** Longest message id, producer and type, in UTF-16 code units. */
export const MAX_QUEUE_ID_LENGTH = 256;

/** Producer of messages enqueued without one. */
export const DEFAULT_PRODUCER = 'default';

const name = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .min(1, `${field} must not be empty`)
    .max(MAX_QUEUE_ID_LENGTH, `${field} must be at most ${MAX_QUEUE_ID_LENGTH} characters`);

/**
 * Input of `SqliteQueue.enqueue`. The payload is checked separately by
 * {@link payloadToJson} (zod cannot tell whether a value survives `JSON.stringify`).
 */
export const EnqueueInputSchema = z.object({
  /** Idempotency key: a second enqueue of the same id is a no-op while the first row is in the table. */
  id: name('id'),
  producer: name('producer').default(DEFAULT_PRODUCER),
  type: name('type'),
  payload: z.unknown(),
  /** The producer's own timestamp (ms), carried as data; defaults to the queue clock. */
  timestampMs: z.number({ error: 'timestampMs must be a finite number' }).optional(),
});

/** A message to enqueue. */
export interface EnqueueInput {
  /** Idempotency key (1–256 characters). */
  readonly id: string;
  /** Ordering domain (1–256 characters, default `'default'`): messages of one producer are handed out in order. */
  readonly producer?: string;
  /** Message type (1–256 characters). */
  readonly type: string;
  /** Any JSON value: no BigInt, no cycles, no NaN or Infinity. */
  readonly payload: unknown;
  /** The producer's timestamp in ms (finite; default: the queue clock at enqueue). */
  readonly timestampMs?: number;
}

/** What `enqueue` did: `inserted: false` for a duplicate id, with the seq of the row already there. */
export interface EnqueueResult {
  readonly inserted: boolean;
  readonly seq: number;
}

/** A claimed message, as `dequeue` returns it. */
export interface QueuedMessage {
  /** Position in enqueue order (SQLite AUTOINCREMENT: never reused, even after cleanup). */
  readonly seq: number;
  readonly id: string;
  readonly producer: string;
  readonly type: string;
  readonly payload: unknown;
  readonly timestampMs: number;
  /** Queue clock when the row was inserted. */
  readonly enqueuedAtMs: number;
  /** Claims of this message so far, this one included. */
  readonly attempts: number;
  /** Proof of this claim: `ack`/`nack`/`deadLetter` need it; a later claim of the same message has another one. */
  readonly claimId: string;
  /** The lease ends here (queue clock); after it the message can be claimed again. */
  readonly leaseUntilMs: number;
}

/** A dead-lettered message, for reports. */
export interface DeadLetter {
  readonly seq: number;
  readonly id: string;
  readonly producer: string;
  readonly type: string;
  readonly attempts: number;
  readonly reason: string;
  readonly deadAtMs: number;
  /** The payload as stored (possibly not JSON: corrupt rows end up here too). */
  readonly payloadText: string;
}

/** `ack` and `deadLetter`: done, or the claim is no longer the current one (nothing changed). */
export type AckResult = 'acked' | 'stale';
/** `nack`: back in the queue after a backoff, dead-lettered (attempts used up), or stale (nothing changed). */
export type NackResult = 'retry' | 'dead' | 'stale';

const parsedPayload = z.string({ error: 'payload must be TEXT' }).transform((text, ctx): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `payload is not valid JSON (${(err as Error).message})` });
    return z.NEVER;
  }
});

const integer = (field: string, min: number) =>
  z.number({ error: `${field} must be an INTEGER` }).int(`${field} must be an INTEGER`).min(min, `${field} must be >= ${min}`);

/**
 * A queued row as `dequeue` selects it (column names as in the table). Checks the
 * types and ranges of every column and parses the payload JSON.
 */
export const QueueRowSchema = z.object({
  seq: integer('seq', 1),
  id: name('id'),
  producer: name('producer'),
  type: name('type'),
  payload: parsedPayload,
  timestamp_ms: z.number({ error: 'timestamp_ms must be a finite number' }),
  enqueued_at_ms: integer('enqueued_at_ms', 0),
  attempts: integer('attempts', 0),
  available_at_ms: integer('available_at_ms', 0),
  claim_id: z.string({ error: 'claim_id must be TEXT or NULL' }).nullable(),
  finished_at_ms: z.number({ error: 'finished_at_ms must be an INTEGER or NULL' }).int('finished_at_ms must be an INTEGER or NULL').nullable(),
  reason: z.string({ error: 'reason must be TEXT or NULL' }).nullable(),
});

/** A queued row that passed {@link QueueRowSchema}. */
export type QueueRow = z.output<typeof QueueRowSchema>;

/** A dead row as `deadLetters` selects it (already cast to the expected SQLite types). */
export const DeadLetterRowSchema = z.object({
  seq: integer('seq', 1),
  id: z.string(),
  producer: z.string(),
  type: z.string(),
  attempts: z.number().int(),
  reason: z.string(),
  dead_at_ms: z.number().int(),
  payload_text: z.string(),
});

/** Formats zod issues of a row as `column: message (got value); …`. */
export function rowIssues(error: z.ZodError, raw: unknown): string {
  return error.issues
    .map((i) => {
      const column = i.path[0];
      if (column === undefined) return `row: ${i.message}`;
      const value = typeof raw === 'object' && raw !== null ? (raw as Record<PropertyKey, unknown>)[column] : undefined;
      return `${i.path.join('.')}: ${i.message} (got ${describeValue(value)})`;
    })
    .join('; ');
}

/** A stored value, briefly: `TEXT "abc…"`, `BLOB of 2 bytes`, `INTEGER 3`, `NULL`. */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return `TEXT ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return `${Number.isInteger(value) ? 'INTEGER' : 'REAL'} ${value}`;
  if (value instanceof Uint8Array) return `BLOB of ${value.byteLength} bytes`;
  return typeof value;
}

/**
 * `JSON.stringify(payload)`, or what is wrong with it: a BigInt or a cycle (stringify
 * throws), `undefined`, a function or a symbol (nothing to store), NaN or ±Infinity
 * anywhere (JSON would silently turn them into `null`). Like JSON, `undefined`
 * object members are left out and `toJSON` (Date) is applied.
 */
export function payloadToJson(payload: unknown): { ok: true; text: string } | { ok: false; problem: string } {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    return { ok: false, problem: `it cannot be serialised to JSON (${(err as Error).message}); convert BigInt values to strings or numbers and remove cycles` };
  }
  if (text === undefined) return { ok: false, problem: `it is ${typeof payload}, which JSON cannot represent; pass a JSON value (null for "nothing")` };
  // NaN and ±Infinity come out as null: look closer only when the text has a null in it.
  if (text.includes('null')) {
    let bad: string | undefined;
    JSON.stringify(payload, (key: string, value: unknown) => {
      if (bad === undefined && typeof value === 'number' && !Number.isFinite(value)) bad = `${key === '' ? 'the payload' : `member "${key}"`} is ${String(value)}`;
      return value;
    });
    if (bad !== undefined) return { ok: false, problem: `${bad}, which JSON cannot represent (it would be stored as null); use null or a string` };
  }
  return { ok: true, text };
}
