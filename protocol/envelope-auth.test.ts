/**
 * Envelope signing and verification (docs/SPEC.md §4): signature format (§4.5),
 * order of checks (§4.6), timestamp window edges (§4.4.2), hmac-json over
 * JSON.stringify of the decoded signal (§4.3, with the §4.3.3 caveat).
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUTH_MODES,
  freshNonce,
  hmacHex,
  isHex64,
  NONCE_PATTERN,
  parseAuthMode,
  signatureMatches,
  signEnvelope,
  v2SignedBytes,
  verifyEnvelope,
  type AuthMode,
  type VerifyContext,
} from './auth.js';
import { decodeBody } from './body-codec.js';
import { isFastPathError } from './errors.js';

const SECRET = 'unit-test-secret';
const NOW = 1_700_000_000_000;
const WINDOW = 30_000;
const ctx: VerifyContext = { nowMs: NOW, timestampWindowMs: WINDOW };
const SIGNAL = { type: 'CONFIRM', signal_id: 'sig-1' };
const HEX = '0123456789abcdef'.repeat(4);

function v2(signal: unknown = SIGNAL, ts = NOW, nonce = 'nonce-0001'): Record<string, unknown> {
  return signEnvelope('hmac-v2', SECRET, signal, { ts, nonce });
}

function reason(mode: AuthMode, env: unknown, c: VerifyContext = ctx): string {
  const res = verifyEnvelope(mode, SECRET, env, c);
  return res.ok ? 'OK' : res.reason;
}

describe('isHex64 (§4.5)', () => {
  it('accepts exactly 64 hex digits in any case', () => {
    expect(isHex64(HEX)).toBe(true);
    expect(isHex64(HEX.toUpperCase())).toBe(true);
    expect(isHex64('aB'.repeat(32))).toBe(true);
    expect(isHex64(hmacHex(SECRET, 'x'))).toBe(true);
  });

  it.each([
    ['63 digits', HEX.slice(1)],
    ['65 digits', `${HEX}0`],
    ['trailing newline', `${HEX}\n`],
    ['trailing space', `${HEX} `],
    ['leading space', ` ${HEX.slice(1)}`],
    ['a non-hex letter', `${HEX.slice(1)}g`],
    ['a 0x prefix', `0x${HEX.slice(2)}`],
    ['the empty string', ''],
    ['full-width digits', '０'.repeat(64)],
  ])('rejects %s', (_why, value) => {
    expect(isHex64(value)).toBe(false);
  });

  it.each([[undefined], [null], [123], [Buffer.from(HEX)], [[HEX]], [{ toString: () => HEX }]])('rejects the non-string %o', (value) => {
    expect(isHex64(value)).toBe(false);
  });

  it('agrees with a regular expression on random strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 60, maxLength: 68 }), fc.stringMatching(/^[0-9a-fA-F]{62,66}\s?$/)), (s) => {
        expect(isHex64(s)).toBe(s.length === 64 && [...s].every((c) => '0123456789abcdefABCDEF'.includes(c)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('signatureMatches (§4.5)', () => {
  const digest = hmacHex(SECRET, 'payload');

  it('accepts the digest in lower or upper case', () => {
    expect(signatureMatches(SECRET, 'payload', digest)).toBe(true);
    expect(signatureMatches(SECRET, 'payload', digest.toUpperCase())).toBe(true);
    expect(signatureMatches(Buffer.from(SECRET), Buffer.from('payload'), digest)).toBe(true);
  });

  it('rejects a digest differing in its last bit, or of another payload or key', () => {
    const flipped = digest.slice(0, 63) + (parseInt(digest[63]!, 16) ^ 1).toString(16);
    expect(signatureMatches(SECRET, 'payload', flipped)).toBe(false);
    expect(signatureMatches(SECRET, 'payload!', digest)).toBe(false);
    expect(signatureMatches(`${SECRET}!`, 'payload', digest)).toBe(false);
  });

  it('returns false (never throws) when the hex does not decode to 32 bytes', () => {
    expect(signatureMatches(SECRET, 'payload', digest.slice(0, 62))).toBe(false);
    expect(signatureMatches(SECRET, 'payload', `${digest}00`)).toBe(false);
    expect(signatureMatches(SECRET, 'payload', `zz${digest.slice(2)}`)).toBe(false);
  });

  it('does not read characters beyond Latin-1 as digits (U+0130 is not "0")', () => {
    const aliased = [...digest].map((c) => (c === '0' ? '\u0130' : c)).join('');
    expect(aliased).not.toBe(digest);
    expect(signatureMatches(SECRET, 'payload', aliased)).toBe(false);
    expect(signatureMatches(SECRET, 'payload', '\u0130'.repeat(64))).toBe(false);
  });

  it('matches exactly the 64-hex-digit spellings of the digest, on random near-misses', () => {
    const nearMiss = fc.tuple(fc.nat(63), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }), fc.constantFrom('replace', 'insert', 'case')).map(([at, text, how]) => {
      if (how === 'case') return digest.slice(0, at) + digest.slice(at).toUpperCase();
      if (how === 'insert') return digest.slice(0, at) + text + digest.slice(at);
      return digest.slice(0, at) + text + digest.slice(at + text.length);
    });
    fc.assert(
      fc.property(fc.oneof(nearMiss, fc.string({ minLength: 64, maxLength: 64 })), (sig) => {
        expect(signatureMatches(SECRET, 'payload', sig)).toBe(isHex64(sig) && sig.toLowerCase() === digest);
      }),
      { numRuns: 500 },
    );
  });
});

describe('HMAC-SHA256 with a cached key object', () => {
  const nodeHmac = (key: string | Buffer, data: string | Uint8Array): string => createHmac('sha256', key).update(data).digest('hex');

  it.each([
    // RFC 4231 test cases 1, 2 and 6 (a 131-byte key, hashed first).
    ['0b'.repeat(20), Buffer.from('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
    [Buffer.from('Jefe').toString('hex'), Buffer.from('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
    ['aa'.repeat(131), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
  ])('matches RFC 4231 (key %s)', (keyHex, data, expected) => {
    expect(hmacHex(Buffer.from(keyHex, 'hex'), data)).toBe(expected);
  });

  it('matches a fresh createHmac at every SHA-256 padding boundary and for long data', () => {
    for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 1023, 1024, 1025, 4096]) {
      const data = Buffer.alloc(length, 0x61 + (length % 26));
      expect(hmacHex(SECRET, data)).toBe(nodeHmac(SECRET, data));
      expect(hmacHex(SECRET, data.toString('latin1'))).toBe(nodeHmac(SECRET, data));
      // Multi-byte UTF-8: the byte length, not the string length, decides.
      expect(hmacHex(SECRET, 'é'.repeat(length))).toBe(nodeHmac(SECRET, 'é'.repeat(length)));
    }
  });

  it('matches node:crypto for random keys and data, and switches keys correctly', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 150 }).map((b) => Buffer.from(b))),
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 400 }), fc.uint8Array({ maxLength: 1200 })),
        (key, data) => {
          expect(hmacHex(key, data)).toBe(nodeHmac(key, data));
          expect(hmacHex(SECRET, data)).toBe(nodeHmac(SECRET, data));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('signs and verifies hmac-v2 over `${ts}.${nonce}.` and the body bytes, for short and long bodies', () => {
    for (const text of ['{"type":"STATUS"}', JSON.stringify({ type: 'ABORT', signal_id: 'x', reason: 'r'.repeat(2000) })]) {
      const env = signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-0001', bodyText: text });
      expect(env.sig).toBe(nodeHmac(SECRET, v2SignedBytes(NOW, 'nonce-0001', text)));
      expect(verifyEnvelope('hmac-v2', SECRET, env, ctx).ok).toBe(true);
    }
    const bin = Buffer.alloc(1500, 7);
    const benv = signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-0002', binaryBody: bin });
    expect(benv.sig).toBe(nodeHmac(SECRET, v2SignedBytes(NOW, 'nonce-0002', bin)));
  });
});

describe('signEnvelope', () => {
  it('emits fields in the spec order for every mode', () => {
    expect(Object.keys(signEnvelope('none', SECRET, SIGNAL, { id: 1 }))).toEqual(['id', 'signal']);
    expect(Object.keys(signEnvelope('hmac-json', SECRET, SIGNAL, { id: 'a' }))).toEqual(['id', 'signal', 'signature']);
    expect(Object.keys(signEnvelope('hmac-v2', SECRET, SIGNAL, { id: 0, ts: 1, nonce: 'abcdefgh' }))).toEqual(['id', 'ts', 'nonce', 'body', 'sig']);
    expect(Object.keys(signEnvelope('hmac-json', SECRET, SIGNAL))).toEqual(['signal', 'signature']);
  });

  it('hmac-v2 carries the body verbatim: default JSON.stringify, bodyText, or binaryBody', () => {
    expect(v2().body).toBe(JSON.stringify(SIGNAL));
    const text = '{ "type" : "STATUS" }';
    const env = signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-0001', bodyText: text });
    expect(env.body).toBe(text);
    expect(env.sig).toBe(hmacHex(SECRET, `${NOW}.nonce-0001.${text}`));
    const bin = Buffer.from('81a474797065a6535441545553', 'hex');
    const benv = signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-0001', binaryBody: bin });
    expect(benv.body).toBe(bin);
    expect(benv.sig).toBe(hmacHex(SECRET, Buffer.concat([Buffer.from(`${NOW}.nonce-0001.`), bin])));
  });

  it('v2SignedBytes is `${ts}.${nonce}.` followed by the body bytes', () => {
    expect(v2SignedBytes(12, 'nonce-ab', 'é').toString('hex')).toBe(Buffer.from('12.nonce-ab.é', 'utf8').toString('hex'));
    expect(v2SignedBytes(0, 'nonce-ab', new Uint8Array([0, 255]))).toEqual(Buffer.concat([Buffer.from('0.nonce-ab.'), Buffer.from([0, 255])]));
  });

  it('freshNonce is unique and matches the nonce pattern', () => {
    const nonces = Array.from({ length: 1000 }, () => freshNonce());
    expect(new Set(nonces).size).toBe(1000);
    for (const n of nonces) expect(n).toMatch(NONCE_PATTERN);
  });

  it('every mode verifies what it signs', () => {
    fc.assert(
      fc.property(fc.constantFrom(...AUTH_MODES), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), (mode, signal) => {
        const env = signEnvelope(mode, SECRET, signal, { ts: NOW, nonce: 'nonce-0001', id: 'x' });
        // Through the wire: JSON.parse normalises the signal the way a server sees it.
        const decoded = decodeBody('json', Buffer.from(JSON.stringify(env)));
        if (!decoded.ok) throw new Error(decoded.error);
        expect(verifyEnvelope(mode, SECRET, decoded.value, ctx)).toMatchObject({ ok: true, id: 'x' });
      }),
      { numRuns: 100 },
    );
  });
});

describe('parseAuthMode', () => {
  it('accepts the three modes and names them when rejecting', () => {
    for (const m of AUTH_MODES) expect(parseAuthMode(m)).toBe(m);
    try {
      parseAuthMode('hmac');
      expect.unreachable();
    } catch (err) {
      expect(isFastPathError(err) && err.code).toBe('FP_AUTH_INVALID');
      expect((err as Error).message).toBe('unknown auth mode "hmac": use one of none, hmac-json, hmac-v2');
    }
  });
});

describe('verifyEnvelope: order of checks (§4.6)', () => {
  const stale = NOW - WINDOW - 1;
  // Each envelope fails the named check AND every later one, so only the order decides the reason.
  it.each<[string, AuthMode, unknown, string]>([
    ['body not an object', 'hmac-v2', [v2()], 'IPC_ERROR'],
    ['bad id before a bad signature', 'hmac-json', { id: 1.5, signal: SIGNAL, signature: 'x' }, 'IPC_ERROR'],
    ['id longer than 128 before anything else', 'hmac-v2', { ...v2(SIGNAL, stale), id: 'i'.repeat(129), sig: 'x' }, 'IPC_ERROR'],
    ['hmac-json: signal missing before signature missing', 'hmac-json', { id: 'a' }, 'IPC_ERROR'],
    ['hmac-json: signal an array before a bad signature', 'hmac-json', { signal: [SIGNAL], signature: HEX }, 'IPC_ERROR'],
    ['none: signal a string', 'none', { signal: 'PREPARE' }, 'IPC_ERROR'],
    ['v2: ts a string before a bad sig and a stale time', 'hmac-v2', { ...v2(SIGNAL, stale), ts: String(stale), sig: 'x' }, 'IPC_ERROR'],
    ['v2: negative ts', 'hmac-v2', { ...v2(), ts: -1, sig: 'x' }, 'IPC_ERROR'],
    ['v2: fractional ts', 'hmac-v2', { ...v2(), ts: NOW + 0.5 }, 'IPC_ERROR'],
    ['v2: nonce too short before a bad sig', 'hmac-v2', { ...v2(SIGNAL, stale), nonce: 'short', sig: 'x' }, 'IPC_ERROR'],
    ['v2: nonce with a dot', 'hmac-v2', { ...v2(), nonce: 'nonce.0001' }, 'IPC_ERROR'],
    ['v2: nonce of 65 characters', 'hmac-v2', { ...v2(), nonce: 'n'.repeat(65) }, 'IPC_ERROR'],
    ['v2: body missing before sig missing', 'hmac-v2', { ts: stale, nonce: 'nonce-0001' }, 'IPC_ERROR'],
    ['v2: body an object', 'hmac-v2', { ...v2(), body: SIGNAL }, 'IPC_ERROR'],
    ['hmac-json: signature missing', 'hmac-json', { signal: SIGNAL }, 'INVALID_SIGNATURE'],
    ['hmac-json: signature of 65 hex digits', 'hmac-json', { ...signEnvelope('hmac-json', SECRET, SIGNAL), signature: `${HEX}0` }, 'INVALID_SIGNATURE'],
    ['v2: malformed sig on a stale request', 'hmac-v2', { ...v2(SIGNAL, stale), sig: 'nope' }, 'INVALID_SIGNATURE'],
    ['v2: wrong sig on a stale request is INVALID_SIGNATURE, not STALE_TIMESTAMP', 'hmac-v2', { ...v2(SIGNAL, stale), sig: HEX }, 'INVALID_SIGNATURE'],
    ['v2: valid signature over another body', 'hmac-v2', { ...v2(), body: '{"type":"STATUS"}' }, 'INVALID_SIGNATURE'],
    ['v2: the sig of another ts', 'hmac-v2', { ...v2(), ts: NOW + 1 }, 'INVALID_SIGNATURE'],
    ['v2: body with a lone surrogate, before its signature, even a "matching" one (never repaired, §3.2.2)', 'hmac-v2', JSON.parse(JSON.stringify(signEnvelope('hmac-v2', SECRET, undefined, { ts: stale, nonce: 'nonce-0001', bodyText: '{"type":"ABORT","signal_id":"a","reason":"\ud800"}' }))) as unknown, 'IPC_ERROR'],
    ['v2: body with a surrogate pair (an emoji) is fine', 'hmac-v2', JSON.parse(JSON.stringify(v2({ type: 'ABORT', signal_id: 'a', reason: '\ud83d\ude80' }))) as unknown, 'OK'],
    ['v2: correctly signed but stale', 'hmac-v2', v2(SIGNAL, stale), 'STALE_TIMESTAMP'],
    ['v2: correctly signed, stale, body not JSON (decoded later)', 'hmac-v2', signEnvelope('hmac-v2', SECRET, undefined, { ts: stale, nonce: 'nonce-0001', bodyText: '{' }), 'STALE_TIMESTAMP'],
    ['v2: fresh and correct, body not JSON (decodeV2Body reports it)', 'hmac-v2', signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-0001', bodyText: '{' }), 'OK'],
    ['none: unknown envelope fields are ignored', 'none', { signal: SIGNAL, signature: 'junk', extra: [1] }, 'OK'],
    ['hmac-json: uppercase signature', 'hmac-json', (() => {
      const env = signEnvelope('hmac-json', SECRET, SIGNAL);
      return { ...env, signature: String(env.signature).toUpperCase() };
    })(), 'OK'],
  ])('%s', (_why, mode, env, expected) => {
    expect(reason(mode, env)).toBe(expected);
  });

  it('echoes a valid id in rejections, and omits an invalid one', () => {
    expect(verifyEnvelope('hmac-json', SECRET, { id: 7, signal: SIGNAL, signature: HEX }, ctx)).toMatchObject({ ok: false, id: 7, reason: 'INVALID_SIGNATURE' });
    expect(verifyEnvelope('hmac-json', SECRET, { id: 'x'.repeat(128), signal: SIGNAL }, ctx)).toMatchObject({ id: 'x'.repeat(128) });
    expect(verifyEnvelope('none', SECRET, { id: true, signal: SIGNAL }, ctx)).toMatchObject({ ok: false, id: undefined, reason: 'IPC_ERROR' });
    expect(verifyEnvelope('none', SECRET, { id: 2 ** 53, signal: SIGNAL }, ctx)).toMatchObject({ ok: false, reason: 'IPC_ERROR' });
  });

  it('says what is wrong with a signature', () => {
    const msg = (signature: unknown) => {
      const res = verifyEnvelope('hmac-json', SECRET, { signal: SIGNAL, signature }, ctx);
      return res.ok ? '' : res.error;
    };
    expect(msg(undefined)).toBe('envelope field "signature" is missing');
    expect(msg(5)).toBe('envelope field "signature" must be a string of 64 hex digits, got number');
    expect(msg('ab')).toBe('envelope field "signature" must be exactly 64 hex digits, got 2 characters');
    expect(msg(`${HEX}\n`)).toBe('envelope field "signature" must be exactly 64 hex digits, got 65 characters (characters after the 64 digits)');
    expect(msg(HEX)).toBe('HMAC-SHA256 of JSON.stringify(signal) does not match "signature"');
  });

  it('returns the nonce and the raw body for the caller to check replay and decode', () => {
    const bin = Buffer.from('81a474797065a6535441545553', 'hex');
    const env = signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-bin1', binaryBody: bin, id: 3 });
    expect(verifyEnvelope('hmac-v2', SECRET, env, ctx)).toEqual({ ok: true, id: 3, nonce: 'nonce-bin1', signal: undefined, v2Body: bin });
    expect(verifyEnvelope('none', SECRET, { signal: SIGNAL }, ctx)).toEqual({ ok: true, id: undefined, nonce: undefined, signal: SIGNAL, v2Body: undefined });
  });
});

describe('verifyEnvelope: timestamp window edges (§4.4.2)', () => {
  it.each([
    ['exactly windowMs in the past', NOW - WINDOW, 'OK'],
    ['exactly windowMs in the future', NOW + WINDOW, 'OK'],
    ['windowMs + 1 in the past', NOW - WINDOW - 1, 'STALE_TIMESTAMP'],
    ['windowMs + 1 in the future', NOW + WINDOW + 1, 'STALE_TIMESTAMP'],
    ['equal to now', NOW, 'OK'],
    ['ts 0', 0, 'STALE_TIMESTAMP'],
  ])('%s → %s', (_why, ts, expected) => {
    expect(reason('hmac-v2', v2(SIGNAL, ts))).toBe(expected);
  });

  it('names the direction and the skew', () => {
    const past = verifyEnvelope('hmac-v2', SECRET, v2(SIGNAL, NOW - WINDOW - 1), ctx);
    expect(!past.ok && past.error).toBe('ts is 30001 ms in the past, outside the ±30000 ms window');
    const future = verifyEnvelope('hmac-v2', SECRET, v2(SIGNAL, NOW + WINDOW + 1), ctx);
    expect(!future.ok && future.error).toBe('ts is 30001 ms in the future, outside the ±30000 ms window');
  });

  it('accepts iff |ts - now| <= windowMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: -3 * WINDOW, max: 3 * WINDOW }), fc.integer({ min: 0, max: 2 * WINDOW }), (skew, window) => {
        const res = verifyEnvelope('hmac-v2', SECRET, v2(SIGNAL, NOW + skew), { nowMs: NOW, timestampWindowMs: window });
        expect(res.ok ? 'OK' : res.reason).toBe(Math.abs(skew) <= window ? 'OK' : 'STALE_TIMESTAMP');
      }),
      { numRuns: 100 },
    );
  });
});

describe('hmac-json signs JSON.stringify of the decoded signal (§4.3)', () => {
  it('answers a signal nested too deep for JSON.stringify with IPC_ERROR instead of throwing (§4.3.2)', () => {
    // Found by fastpath fuzz: ~4,200 levels made the reference server exit with an uncaught RangeError.
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const env = { id: 7, signal: { type: deep }, signature: 'a'.repeat(64) };
    const res = verifyEnvelope('hmac-json', SECRET, env, ctx);
    expect(res.ok).toBe(false);
    expect(!res.ok && res.reason).toBe('IPC_ERROR');
    expect(!res.ok && res.id).toBe(7);
  });

  it('verifies a wire signal {"qty":1.0} against JSON.stringify({qty:1}), not the wire text (§4.3.3)', () => {
    const wireSignal = '{"type":"PREPARE","signal_id":"s","symbol":"X","side":"Buy","qty":1.0}';
    const reserialised = '{"type":"PREPARE","signal_id":"s","symbol":"X","side":"Buy","qty":1}';
    const frameFor = (signedText: string) => `{"signal":${wireSignal},"signature":"${hmacHex(SECRET, signedText)}"}`;

    const decodedSigned = decodeBody('json', Buffer.from(frameFor(reserialised)));
    expect(decodedSigned.ok && verifyEnvelope('hmac-json', SECRET, decodedSigned.value, ctx).ok).toBe(true);
    // A sender that signed its own wire bytes is rejected: the receiver never sees "1.0".
    const decodedWire = decodeBody('json', Buffer.from(frameFor(wireSignal)));
    expect(decodedWire.ok && reason('hmac-json', decodedWire.value)).toBe('INVALID_SIGNATURE');
  });

  it('is sensitive to key order, and integer-like keys move first (§4.3.3)', () => {
    const decoded = JSON.parse('{"type":"STATUS","b":1,"1":2}') as unknown;
    expect(JSON.stringify(decoded)).toBe('{"1":2,"type":"STATUS","b":1}');
    const senderOrder = hmacHex(SECRET, '{"type":"STATUS","b":1,"1":2}');
    expect(reason('hmac-json', { signal: decoded, signature: senderOrder })).toBe('INVALID_SIGNATURE');
    expect(reason('hmac-json', { signal: decoded, signature: hmacHex(SECRET, JSON.stringify(decoded)) })).toBe('OK');
  });

  it('sees duplicate keys as the last value (§4.3.3)', () => {
    const decoded = JSON.parse('{"type":"CONFIRM","signal_id":"a","signal_id":"b"}') as unknown;
    expect(reason('hmac-json', { signal: decoded, signature: hmacHex(SECRET, '{"type":"CONFIRM","signal_id":"b"}') })).toBe('OK');
  });

  it('hmac-v2 has no such caveat: it signs the body text verbatim', () => {
    const text = '{"type":"PREPARE","signal_id":"s","symbol":"X","side":"Buy","qty":1.0}';
    const env = signEnvelope('hmac-v2', SECRET, undefined, { ts: NOW, nonce: 'nonce-0001', bodyText: text });
    const wire = decodeBody('json', Buffer.from(JSON.stringify(env)));
    const res = wire.ok ? verifyEnvelope('hmac-v2', SECRET, wire.value, ctx) : undefined;
    expect(res).toMatchObject({ ok: true, v2Body: text });
  });
});
