/**
 * The closed set of rejection reasons (docs/SPEC.md §5.5) and whether the server
 * closes the connection after sending each one (§5.6).
 */
export const REASON_CODES = {
  IPC_ERROR: { closes: false, when: 'undecodable frame or body, malformed envelope, internal error' },
  INVALID_SIGNATURE: { closes: false, when: 'signature not 64 hex digits, or HMAC mismatch' },
  STALE_TIMESTAMP: { closes: false, when: 'hmac-v2 ts outside the timestamp window' },
  REPLAY_DETECTED: { closes: false, when: 'hmac-v2 nonce already used within the window' },
  RATE_LIMITED: { closes: false, when: 'per-connection token bucket empty, hmac-v2 nonce cache full, or message ledger full' },
  INVALID_SIGNAL: { closes: false, when: 'signal fails the schema, unknown type' },
  UNKNOWN_SIGNAL: { closes: false, when: 'CONFIRM/ABORT for an unknown signal_id' },
  DUPLICATE_SIGNAL: { closes: false, when: 'PREPARE for a signal_id already used' },
  INVALID_STATE: { closes: false, when: 'CONFIRM of an aborted signal, ABORT of a confirmed one' },
  SIGNAL_EXPIRED: { closes: false, when: 'CONFIRM/ABORT after the prepare TTL' },
  RISK_REJECTED: { closes: false, when: 'leverage, notional or open-orders limit exceeded' },
  FRAME_TOO_LARGE: { closes: true, when: 'frame body larger than maxFrameBytes' },
  MAX_CONNECTIONS_REACHED: { closes: true, when: 'connection limit reached' },
  SHUTTING_DOWN: { closes: true, when: 'request read after SIGTERM' },
  SESSION_REFUSED: { closes: false, when: 'fast-session HELLO refused: segment missing or invalid, shared memory unavailable' },
} as const satisfies Record<string, { closes: boolean; when: string }>;

export type ReasonCode = keyof typeof REASON_CODES;

export const REASON_CODE_LIST = Object.keys(REASON_CODES) as ReasonCode[];

export function isReasonCode(value: unknown): value is ReasonCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(REASON_CODES, value);
}

/** True when the server must close the connection after flushing a rejection with this code. */
export function closesConnection(code: ReasonCode): boolean {
  return REASON_CODES[code].closes;
}
