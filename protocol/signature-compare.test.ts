/**
 * §4.5: the signature is compared as 32 decoded bytes with a constant-time
 * comparison, and a malformed signature is rejected without computing one.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

const spy = vi.hoisted(() => ({ calls: [] as [Buffer, Buffer][] }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      spy.calls.push([Buffer.from(a as Uint8Array), Buffer.from(b as Uint8Array)]);
      return real.timingSafeEqual(a, b);
    },
  };
});

const { hmacHex, signatureMatches, signEnvelope, verifyEnvelope } = await import('./auth.js');

const SECRET = 'compare-secret';
const ctx = { nowMs: 1_000_000, timestampWindowMs: 1000 };
const SIGNAL = { type: 'STATUS' };

describe('signature comparison', () => {
  beforeEach(() => {
    spy.calls.length = 0;
  });

  it('compares the 32 decoded bytes with crypto.timingSafeEqual', () => {
    const digest = hmacHex(SECRET, 'data');
    expect(signatureMatches(SECRET, 'data', digest.toUpperCase())).toBe(true);
    expect(spy.calls).toHaveLength(1);
    const [given, expected] = spy.calls[0]!;
    expect(given.length).toBe(32);
    expect(expected.length).toBe(32);
    expect(given.toString('hex')).toBe(digest);
  });

  it('uses the same constant-time path for a mismatch', () => {
    expect(signatureMatches(SECRET, 'data', 'f'.repeat(64))).toBe(false);
    expect(spy.calls).toHaveLength(1);
  });

  it('never compares a malformed signature (§4.5 "without computing a comparison")', () => {
    for (const signature of [undefined, 42, 'abc', `${hmacHex(SECRET, JSON.stringify(SIGNAL))}\n`, 'g'.repeat(64), '\u0130'.repeat(64), '０'.repeat(64)]) {
      const res = verifyEnvelope('hmac-json', SECRET, { signal: SIGNAL, signature }, ctx);
      expect(res).toMatchObject({ ok: false, reason: 'INVALID_SIGNATURE' });
    }
    const v2 = signEnvelope('hmac-v2', SECRET, SIGNAL, { ts: ctx.nowMs, nonce: 'nonce-0001' });
    expect(verifyEnvelope('hmac-v2', SECRET, { ...v2, sig: `${String(v2.sig)} ` }, ctx)).toMatchObject({ reason: 'INVALID_SIGNATURE' });
    expect(spy.calls).toHaveLength(0);
  });

  it('compares well-formed signatures in verifyEnvelope', () => {
    const env = signEnvelope('hmac-json', SECRET, SIGNAL);
    expect(verifyEnvelope('hmac-json', SECRET, env, ctx).ok).toBe(true);
    expect(spy.calls).toHaveLength(1);
  });
});
