import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket (§6.7)', () => {
  it('starts full: burst requests pass back to back, the next one is refused', () => {
    const clock = { nowMs: 0 };
    const bucket = new TokenBucket({ burst: 3, refillPerSec: 1 }, () => clock.nowMs);
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, true, false]);
  });

  it('refills at refillPerSec, fractional tokens accumulating', () => {
    const clock = { nowMs: 0 };
    const bucket = new TokenBucket({ burst: 2, refillPerSec: 4 }, () => clock.nowMs);
    bucket.tryTake();
    bucket.tryTake();
    clock.nowMs += 100; // 0.4 token
    expect(bucket.tryTake()).toBe(false);
    clock.nowMs += 150; // 0.4 + 0.6 = 1 token
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it('never holds more than burst tokens however long it idles', () => {
    const clock = { nowMs: 0 };
    const bucket = new TokenBucket({ burst: 2, refillPerSec: 1000 }, () => clock.nowMs);
    clock.nowMs += 60_000;
    expect(bucket.tokens).toBe(2);
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, false]);
  });

  it('does not take a token when refusing', () => {
    const clock = { nowMs: 0 };
    const bucket = new TokenBucket({ burst: 1, refillPerSec: 2 }, () => clock.nowMs);
    bucket.tryTake();
    clock.nowMs += 250;
    expect(bucket.tryTake()).toBe(false);
    clock.nowMs += 250;
    expect(bucket.tryTake()).toBe(true);
  });

  it('with refillPerSec 0 allows exactly burst requests ever', () => {
    const bucket = new TokenBucket({ burst: 2, refillPerSec: 0 });
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, false]);
  });
});
