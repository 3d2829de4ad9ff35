/**
 * `fastpath-harness/queue`: the durable SQLite queue (better-sqlite3, WAL) behind the
 * failover client, usable on its own: idempotent enqueue, leased dequeue with claim
 * ids, ack / nack with backoff, dead letters, retention, and a poller.
 */
export {
  SqliteQueue,
  QueueOptionsSchema,
  QUEUE_SYNCHRONOUS,
  QUEUE_SCHEMA_VERSION,
  QUEUE_APPLICATION_ID,
  DEFAULT_DEAD_LETTER_LIMIT,
  type QueueOptions,
  type QueueSynchronous,
  type DequeueOptions,
  type QueueStats,
  type SqliteSettings,
} from './queue.js';
export {
  EnqueueInputSchema,
  QueueRowSchema,
  MAX_QUEUE_ID_LENGTH,
  DEFAULT_PRODUCER,
  type EnqueueInput,
  type EnqueueResult,
  type QueuedMessage,
  type DeadLetter,
  type AckResult,
  type NackResult,
} from './queue-record.js';
export {
  QueuePoller,
  QueuePollerOptionsSchema,
  type QueuePollerOptions,
  type QueueMessageHandler,
  type QueueErrorHandler,
} from './queue-poller.js';
export { measureQueue, QueueBenchOptionsSchema, type QueueBenchOptions, type QueueBenchResult, type QueuePhase } from './queue-bench.js';
