/**
 * Clocks used by the reference implementation. Everything time-dependent takes a
 * clock so that it can be unit-tested without sleeping.
 */

/** A clock returning milliseconds. Monotonic clocks may start anywhere; wall clocks are ms since the Unix epoch. */
export type ClockMs = () => number;

/** Monotonic milliseconds (`performance.now()`): for TTLs, token buckets and latencies. */
export const monotonicMs: ClockMs = () => performance.now();

/** Wall-clock milliseconds since the Unix epoch (`Date.now()`): for hmac-v2 `ts` windows (§4.4.2). */
export const wallClockMs: ClockMs = () => Date.now();
