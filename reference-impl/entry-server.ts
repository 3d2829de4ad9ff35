/**
 * `fastpath-harness/server`: the reference server of docs/SPEC.md and the pieces it is
 * built from. Loads no SQLite (the queue is `fastpath-harness/queue`).
 */
export {
  FastPathServer,
  ServerConfigSchema,
  resolveServerConfig,
  MAX_SOCKET_PATH_BYTES,
  DEFAULT_WRITE_HIGH_WATER_BYTES,
  DEFAULT_REPLAY_CACHE_MAX_ENTRIES,
  DEFAULT_HTTP_HOST,
  STALE_PROBE_TIMEOUT_MS,
  CLOSE_LINGER_MS,
  STARTUP_GC_MIN_AGE_MS,
  MAX_FAST_MESSAGE_BYTES_LIMIT,
  type ServerConfig,
  type ResolvedServerConfig,
  type ServerStatus,
} from './server.js';
export { HTTP_SIGNAL_PATH, type HttpAddress } from './http-endpoint.js';
export {
  DEFAULT_MAX_FAST_MESSAGE_BYTES,
  DEFAULT_SHM_WAIT,
  SESSION_CLOSE_LINGER_MS,
  ServerFastSession,
  acceptHello,
  type FastSessionConfig,
  type FastSessionHost,
  type HelloOutcome,
  type SessionPlan,
} from './fast-session.js';
export {
  SignalBook,
  DEFAULT_MAX_RETAINED_SIGNALS,
  DEFAULT_FILL_PRICE,
  RETENTION_TTLS,
  type SignalState,
  type RiskLimits,
  type SignalBookOptions,
  type SignalOutcome,
  type SignalAccepted,
  type SignalRejected,
  type PrepareRequest,
} from './signal-book.js';
export { TokenBucket, type TokenBucketConfig } from './token-bucket.js';
export { NonceCache, type NonceCacheOptions, type NonceCheck } from './nonce-cache.js';
export { Metrics, roundUs, type MetricsSnapshot } from './metrics.js';
export { FAULTS, FAULT_NAMES, isFault, type Fault } from './faults.js';
export { FramingOptionSchema, isFramingSpec, type FramingOption } from './framing-option.js';
export { monotonicMs, wallClockMs, type ClockMs } from './clock.js';
export { MessageLedger, DEFAULT_MAX_LEDGER_ENTRIES, type MessageLedgerOptions, type LedgerApply, type LedgerPage } from './message-ledger.js';
