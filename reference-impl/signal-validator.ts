import { MAX_LEDGER_LIMIT, type Signal, isMessageId, parseSignal } from '../protocol/index.js';

/**
 * A hand-written fast path for the signal schema of docs/SPEC.md §6.1 and §11.1.
 *
 * `protocol/schemas.ts` (zod) stays the spec of record: this predicate must
 * accept exactly what `SignalSchema` accepts (signal-validator.test.ts checks the
 * two agree on generated inputs). It exists because zod cost ~5% of the server's
 * CPU per request in the pipelined benchmark. Rejections always go through zod,
 * so error messages are zod's.
 */

function isOptionalNumber(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isFinite(v));
}

function isOptionalPositive(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isFinite(v) && v > 0);
}

function isOptionalDelay(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 10_000);
}

function isSignalId(v: unknown): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= 128;
}

function isOptionalInt(v: unknown, min: number, max: number): boolean {
  return v === undefined || (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max);
}

/** True exactly when `SignalSchema.safeParse(value).success` would be true. */
export function isValidSignal(value: unknown): value is Signal {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const s = value as Record<string, unknown>;
  switch (s.type) {
    case 'PREPARE': {
      const symbol = s.symbol;
      const qty = s.qty;
      return (
        isSignalId(s.signal_id) &&
        typeof symbol === 'string' &&
        symbol.length >= 1 &&
        symbol.length <= 32 &&
        (s.side === 'Buy' || s.side === 'Sell') &&
        typeof qty === 'number' &&
        Number.isFinite(qty) &&
        qty > 0 &&
        isOptionalPositive(s.leverage) &&
        isOptionalPositive(s.price) &&
        isOptionalNumber(s.timestamp) &&
        isOptionalDelay(s.delay_ms)
      );
    }
    case 'CONFIRM':
      return isSignalId(s.signal_id) && isOptionalNumber(s.timestamp) && isOptionalDelay(s.delay_ms);
    case 'ABORT': {
      const reason = s.reason;
      return (
        isSignalId(s.signal_id) &&
        (reason === undefined || (typeof reason === 'string' && reason.length <= 1024)) &&
        isOptionalNumber(s.timestamp) &&
        isOptionalDelay(s.delay_ms)
      );
    }
    case 'STATUS':
      return true;
    case 'MESSAGE': {
      const topic = s.topic;
      return (
        isMessageId(s.message_id) &&
        (topic === undefined || (typeof topic === 'string' && topic.length >= 1 && topic.length <= 256)) &&
        isOptionalNumber(s.timestamp) &&
        isOptionalDelay(s.delay_ms)
      );
    }
    case 'LEDGER':
      return isOptionalInt(s.from, 0, Number.MAX_SAFE_INTEGER) && isOptionalInt(s.limit, 1, MAX_LEDGER_LIMIT);
    default:
      return false;
  }
}

/**
 * Same contract as protocol `parseSignal`: the fast predicate for valid signals
 * (the value itself is returned, unknown fields included), zod for the rest.
 */
export function validateSignal(value: unknown): { ok: true; signal: Signal } | { ok: false; error: string } {
  if (isValidSignal(value)) return { ok: true, signal: value };
  return parseSignal(value);
}
