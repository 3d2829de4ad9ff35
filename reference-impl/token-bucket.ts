import { type ClockMs, monotonicMs } from './clock.js';

/** Token-bucket parameters of docs/SPEC.md §6.7. */
export interface TokenBucketConfig {
  /** Bucket size: the number of requests that may arrive back to back. */
  readonly burst: number;
  /** Tokens added per second (fractional tokens accumulate). */
  readonly refillPerSec: number;
}

/**
 * A per-connection token bucket (docs/SPEC.md §6.7): starts full with `burst`
 * tokens, refills continuously at `refillPerSec`, each request takes one token.
 * Refill is computed lazily from the clock, so there is no timer.
 */
export class TokenBucket {
  private tokensHeld: number;
  private lastRefillMs: number;

  constructor(
    private readonly config: TokenBucketConfig,
    private readonly now: ClockMs = monotonicMs,
  ) {
    this.tokensHeld = config.burst;
    this.lastRefillMs = now();
  }

  /** Takes one token; returns false (and takes nothing) when the bucket is empty. */
  tryTake(): boolean {
    this.refill();
    if (this.tokensHeld < 1) return false;
    this.tokensHeld -= 1;
    return true;
  }

  /** Tokens currently available (fractional). */
  get tokens(): number {
    this.refill();
    return this.tokensHeld;
  }

  private refill(): void {
    const nowMs = this.now();
    const elapsedMs = nowMs - this.lastRefillMs;
    this.lastRefillMs = nowMs;
    if (elapsedMs <= 0 || this.tokensHeld >= this.config.burst) return;
    this.tokensHeld = Math.min(this.config.burst, this.tokensHeld + (elapsedMs * this.config.refillPerSec) / 1000);
  }
}
