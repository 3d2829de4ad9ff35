/**
 * Stable error codes of the fastpath library itself (not wire reason codes, see
 * `reason-codes.ts`). One table, one factory: every error thrown by fastpath has a
 * `code` from this table and a message that says what was wrong and what to do.
 */
export const ERROR_CODES = {
  FP_USAGE: 'invalid command-line usage',
  FP_FRAMING_INVALID: 'invalid framing specification',
  FP_AUTH_INVALID: 'invalid auth mode',
  FP_TARGET_INVALID: 'invalid target description',
  FP_TARGET_START_FAILED: 'target did not start',
  FP_TARGET_UNREACHABLE: 'target socket unreachable',
  FP_SOCKET_IN_USE: 'socket path is in use by a live server',
  FP_SOCKET_NOT_SOCKET: 'socket path exists and is not a socket',
  FP_CONNECT_ENOENT: 'socket file does not exist',
  FP_CONNECT_REFUSED: 'connection refused',
  FP_CONNECT_FAILED: 'connection failed',
  FP_TIMEOUT: 'request timed out',
  FP_CLOSED: 'connection closed',
  FP_ENCODE: 'message could not be encoded',
  FP_CONFIG_INVALID: 'invalid configuration',
  FP_SHM_UNAVAILABLE: 'shared memory is not available here (native addon not built, or no /dev/shm)',
  FP_SHM_NAME_INVALID: 'invalid shared-memory segment name',
  FP_SHM_EXISTS: 'shared-memory segment already exists',
  FP_SHM_NOT_FOUND: 'shared-memory segment does not exist',
  FP_SHM_ACCESS: 'shared-memory segment access denied',
  FP_SHM_OUT_OF_BOUNDS: 'offset or length outside the shared-memory segment',
  FP_SHM_ARGUMENT: 'invalid argument to a shared-memory function',
  FP_SHM_SYSTEM: 'a shared-memory system call failed',
  FP_RING_INVALID: 'shared-memory ring segment refused (mode, owner, magic, version or size)',
  FP_RING_CORRUPT: 'corrupt or torn record in a shared-memory ring',
  FP_RING_TOO_LARGE: 'record larger than the ring can hold',
  FP_RING_RELEASE: 'record released twice or not read from this ring',
  FP_RING_PEER_DEAD: 'the process at the other end of the ring is gone',
  FP_RING_CLOSED: 'ring is closed',
  FP_FAST_ERROR: 'the peer answered a fast-session request with an error (FastMessage error code in details.code)',
  FP_SESSION_REFUSED: 'fast-session HELLO refused or not answered with READY (§10.1)',
  FP_QUEUE_OPEN: 'the queue database cannot be opened (bad path, not a database, or no permission)',
  FP_QUEUE_READ_ONLY: 'the queue database is read-only',
  FP_QUEUE_LOCKED: 'the queue database stayed locked by another connection past the busy timeout',
  FP_QUEUE_INVALID: 'invalid message or argument for the queue',
  FP_QUEUE_CLOSED: 'the queue is closed',
  FP_QUEUE_FAILED: 'a queue operation failed inside SQLite',
  FP_LEDGER_INVALID: 'the ledger file cannot be used (bad path, unreadable, or not a ledger)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable `code` from {@link ERROR_CODES}. */
export class FastPathError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FastPathError';
    this.code = code;
    this.details = details;
  }
}

/** Creates a {@link FastPathError}: `fpError('FP_TIMEOUT', 'no reply from /tmp/x.sock within 500 ms')`. */
export function fpError(code: ErrorCode, message: string, details?: Record<string, unknown>, cause?: unknown): FastPathError {
  return new FastPathError(code, message, details, cause === undefined ? undefined : { cause });
}

export function isFastPathError(err: unknown): err is FastPathError {
  return err instanceof FastPathError;
}
