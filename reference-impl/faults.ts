/**
 * Deliberate protocol violations, **test-only fixtures** for the suite's
 * self-test (DESIGN "The suite proves itself"): a server started with a fault
 * behaves exactly like the reference except for ONE observable violation, so the
 * conformance cases that should flag it, and only those, fail. Never enable a
 * fault in a real deployment. See fixtures/broken/README.md for the rule each breaks.
 */
export const FAULTS = {
  /** Validates and compares only the first 64 characters of a signature; accepts trailing characters (breaks §4.5). */
  'signature-prefix': 'accepts characters after the 64 hex digits of a signature',
  /** Writes each reply when it is ready, ignoring request order (breaks §5.2). */
  'unordered-replies': 'writes replies as they complete, not in request order',
  /** No maximum frame size: buffers any size, never FRAME_TOO_LARGE (breaks §3.1.1). */
  'no-max-frame': 'buffers frames of any size, never answers FRAME_TOO_LARGE',
  /** Closes a connection above the limit without a reply (breaks §7.1). */
  'silent-connection-limit': 'closes an extra connection without a MAX_CONNECTIONS_REACHED frame',
  /** Accepts a repeated hmac-v2 nonce (breaks §4.4.3). */
  'no-replay-check': 'ignores repeated hmac-v2 nonces',
  /** Leaves the socket file behind on stop (breaks §7.4 items 1 and 5). */
  'keeps-socket-file': 'does not remove its socket file on stop',
  /** On stop, closes every connection at once without answering in-flight requests (breaks §7.4 item 2). */
  'drops-in-flight': 'drops in-flight requests on SIGTERM',
  /** Writes the rejection sent right before a close as a bare body without its framing (breaks §5.6, §3.2/§3.3). */
  'unframed-close-reply': 'writes FRAME_TOO_LARGE / MAX_CONNECTIONS_REACHED / SHUTTING_DOWN without framing',
  /** A retried CONFIRM executes again with a new orderId and no duplicate flag (breaks §6.3.1). */
  'confirm-twice': 'executes a retried CONFIRM again',
  /** Socket file mode 0666 instead of 0600 (breaks §2.2). */
  'world-writable-socket': 'creates its socket file with mode 0666',
  /** Keeps the message ledger in memory only, ignoring the ledger file: dedup does not survive a restart (breaks §11.2.6). */
  'volatile-ledger': 'keeps the message ledger in memory only, so a restart forgets applied messages',
  /** Applies a MESSAGE whose message_id is already in the ledger again, answering it as new (breaks §11.2). */
  'applies-duplicates': 'applies a redelivered MESSAGE again instead of answering duplicate',
} as const;

/** One deliberate violation (test-only). */
export type Fault = keyof typeof FAULTS;

export const FAULT_NAMES = Object.keys(FAULTS) as Fault[];

export function isFault(name: string): name is Fault {
  return Object.prototype.hasOwnProperty.call(FAULTS, name);
}
