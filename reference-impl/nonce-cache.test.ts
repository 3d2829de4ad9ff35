import { describe, expect, it } from 'vitest';
import { NonceCache } from './nonce-cache.js';

function cacheAt(maxEntries = 100): { cache: NonceCache; clock: { nowMs: number } } {
  const clock = { nowMs: 1_000_000 };
  return { cache: new NonceCache({ timestampWindowMs: 1_000, maxEntries, now: () => clock.nowMs }), clock };
}

describe('NonceCache (§4.4.3)', () => {
  it('accepts a nonce once and reports the second use within the window as a replay', () => {
    const { cache, clock } = cacheAt();
    expect(cache.checkAndRecord('nonce-aaaa', clock.nowMs)).toBe('fresh');
    clock.nowMs += 999;
    expect(cache.checkAndRecord('nonce-aaaa', clock.nowMs)).toBe('replay');
  });

  it('remembers a nonce for at least timestampWindowMs after it was accepted', () => {
    const { cache, clock } = cacheAt();
    cache.checkAndRecord('nonce-aaaa', clock.nowMs - 900); // ts in the past: still remembered a full window from now
    clock.nowMs += 999;
    expect(cache.has('nonce-aaaa')).toBe(true);
    clock.nowMs += 1;
    expect(cache.has('nonce-aaaa')).toBe(false);
    expect(cache.checkAndRecord('nonce-aaaa', clock.nowMs)).toBe('fresh');
  });

  it('remembers a nonce with a future ts until that ts leaves the window, so it cannot be replayed later', () => {
    const { cache, clock } = cacheAt();
    const ts = clock.nowMs + 1_000; // at the edge of the window, in the future
    cache.checkAndRecord('nonce-future', ts);
    clock.nowMs += 1_500; // the replayed ts is now only 500 ms in the past: inside the window
    expect(cache.checkAndRecord('nonce-future', ts)).toBe('replay');
    clock.nowMs += 500;
    expect(cache.has('nonce-future')).toBe(false);
  });

  it('sweeps expired nonces so the size stays bounded by the rate times the window', () => {
    const { cache, clock } = cacheAt(10_000);
    for (let i = 0; i < 5_000; i++) {
      cache.checkAndRecord(`nonce-${i}`, clock.nowMs);
      clock.nowMs += 1;
    }
    expect(cache.size).toBeLessThanOrEqual(1_001);
  });

  it('refuses new nonces when full rather than forgetting live ones', () => {
    const { cache, clock } = cacheAt(2);
    expect(cache.checkAndRecord('nonce-0001', clock.nowMs)).toBe('fresh');
    expect(cache.checkAndRecord('nonce-0002', clock.nowMs)).toBe('fresh');
    expect(cache.checkAndRecord('nonce-0003', clock.nowMs)).toBe('full');
    expect(cache.checkAndRecord('nonce-0001', clock.nowMs)).toBe('replay');
    clock.nowMs += 1_000;
    expect(cache.checkAndRecord('nonce-0003', clock.nowMs)).toBe('fresh');
  });

  it('does not forget a nonce re-recorded after expiring when the sweep reaches its old slot', () => {
    const { cache, clock } = cacheAt();
    const t0 = clock.nowMs;
    cache.checkAndRecord('nonce-long', t0 + 1_000); // future ts: kept until t0 + 2000, ahead of the next one
    cache.checkAndRecord('nonce-x', t0); // expires at t0 + 1000, but sits behind nonce-long
    clock.nowMs = t0 + 1_200;
    expect(cache.checkAndRecord('nonce-x', clock.nowMs)).toBe('fresh'); // expired: recorded again until t0 + 2200
    clock.nowMs = t0 + 2_100; // the sweep passes nonce-long and nonce-x's first entry
    expect(cache.has('nonce-long')).toBe(false);
    expect(cache.checkAndRecord('nonce-x', clock.nowMs)).toBe('replay');
    expect(cache.size).toBe(1);
  });

  it('keeps sweeping in insertion order over many windows', () => {
    const { cache, clock } = cacheAt(10_000);
    for (let i = 0; i < 20_000; i++) {
      expect(cache.checkAndRecord(`nonce-${i}`, clock.nowMs)).toBe('fresh');
      if (i % 4 === 3) clock.nowMs += 1;
    }
    expect(cache.size).toBeLessThanOrEqual(4_004);
    expect(cache.checkAndRecord('nonce-19999', clock.nowMs)).toBe('replay');
    expect(cache.checkAndRecord('nonce-0', clock.nowMs)).toBe('fresh');
  });
});
