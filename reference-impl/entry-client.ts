/**
 * `fastpath-harness/client`: the reference clients. `FastPathClient` (request/reply
 * over the socket), `FastClient` (fast sessions, §10) and `FailoverClient` (socket
 * first, durable SQLite queue when the server is away, §11 MESSAGE).
 */
export {
  FastClient,
  FastClientOptionsSchema,
  FAST_TRANSPORT_ENV,
  DEFAULT_CLIENT_WAIT,
  type FastClientOptions,
  type FastRequestOptions,
} from './fast-client.js';
export {
  FastPathClient,
  ClientOptionsSchema,
  connectError,
  type ClientOptions,
  type ReconnectPolicy,
  type SignalInput,
  type PrepareFields,
} from './client.js';
export {
  FailoverClient,
  FailoverClientOptionsSchema,
  FAILOVER_RECORD_TYPE,
  TRANSIENT_REASONS,
  messageSignal,
  type FailoverClientOptions,
  type FailoverStats,
  type FailoverHooks,
  type OutgoingMessage,
  type SendOutcome,
  type DrainEvent,
} from './failover-client.js';
export { FramingOptionSchema, isFramingSpec, type FramingOption } from './framing-option.js';
