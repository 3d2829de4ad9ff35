import { type ClockMs, wallClockMs } from './clock.js';

/** Options of a {@link NonceCache}. */
export interface NonceCacheOptions {
  /** The hmac-v2 timestamp window (§4.4.2), in ms. */
  readonly timestampWindowMs: number;
  /** Hard bound on remembered nonces; when reached, new nonces are refused (`'full'`). */
  readonly maxEntries: number;
  /** Wall clock (ms since the epoch), the same clock `ts` is compared with. */
  readonly now?: ClockMs;
}

/** `fresh`: accepted and now remembered; `replay`: seen within its retention; `full`: cache at `maxEntries`, nothing remembered. */
export type NonceCheck = 'fresh' | 'replay' | 'full';

/**
 * The hmac-v2 replay cache (docs/SPEC.md §4.4.3). Remembers each accepted nonce
 * until `max(now, ts) + timestampWindowMs`: at least the window the spec asks for,
 * and long enough that a request with a future `ts` cannot be replayed after its
 * nonce is forgotten but while its `ts` is still inside the window.
 *
 * Bounded: at `maxEntries` it refuses new nonces (`'full'`) rather than forgetting
 * live ones, which would silently re-open replays. Expired entries are swept in
 * insertion order on every call (amortised O(1), no timer) from a FIFO of their
 * own: sweeping by iterating the Map from its head would first step over every
 * entry deleted since the Map last compacted, which made each call cost O(window
 * × rate) once nonces started expiring (82 µs per call at 150 k nonces/s, 1 s window).
 */
export class NonceCache {
  /** nonce → expiry (wall ms). */
  private readonly expiries = new Map<string, number>();
  /** Insertion-ordered FIFO of (nonce, expiry) for the sweep; [head, length) are live. */
  private fifoNonces: string[] = [];
  private fifoExpiries: number[] = [];
  private head = 0;
  private readonly now: ClockMs;

  constructor(private readonly options: NonceCacheOptions) {
    this.now = options.now ?? wallClockMs;
  }

  /**
   * Checks `nonce` (carried with timestamp `tsMs`) and, when fresh, remembers it.
   * Call only for requests whose signature verified (§4.4.3: failed nonces must not be remembered).
   */
  checkAndRecord(nonce: string, tsMs: number): NonceCheck {
    const nowMs = this.now();
    this.sweep(nowMs);
    const expiry = this.expiries.get(nonce);
    if (expiry !== undefined) {
      if (expiry > nowMs) return 'replay';
      this.expiries.delete(nonce); // expired but not yet swept (behind a longer-lived entry): re-insert at the tail
    }
    if (this.expiries.size >= this.options.maxEntries) return 'full';
    const newExpiry = Math.max(nowMs, tsMs) + this.options.timestampWindowMs;
    this.expiries.set(nonce, newExpiry);
    this.fifoNonces.push(nonce);
    this.fifoExpiries.push(newExpiry);
    return 'fresh';
  }

  /** True while `nonce` is remembered. */
  has(nonce: string): boolean {
    const expiry = this.expiries.get(nonce);
    return expiry !== undefined && expiry > this.now();
  }

  /** Nonces held, including expired ones not yet swept. */
  get size(): number {
    return this.expiries.size;
  }

  /** Drops expired entries from the head of the insertion order. */
  private sweep(nowMs: number): void {
    const nonces = this.fifoNonces;
    const expiries = this.fifoExpiries;
    let head = this.head;
    while (head < nonces.length && expiries[head]! <= nowMs) {
      const nonce = nonces[head]!;
      // A nonce re-inserted after expiring has a later expiry and a later FIFO slot: leave that entry alone.
      if (this.expiries.get(nonce) === expiries[head]) this.expiries.delete(nonce);
      head++;
    }
    if (head > 1024 && head * 2 > nonces.length) {
      this.fifoNonces = nonces.slice(head);
      this.fifoExpiries = expiries.slice(head);
      head = 0;
    }
    this.head = head;
  }
}
