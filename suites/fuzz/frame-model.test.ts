import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Capabilities, ModeInfo, ReadEvent } from '../../harness/case.js';
import { makeMode, REFERENCE_CAPABILITIES } from '../../harness/targets.js';
import { AUTH_MODES, encodeMessage, encodeRequest, FRAMING_PRESETS, writeLength, type SignOptions } from '../../protocol/index.js';
import { frameTemplateArb, mutatedFrameArb } from './frame-arbitraries.js';
import { buildFrame, buildMutatedFrame, InputState, randomFreshSource, type FrameEncoder, type FreshSource } from './frame-build.js';
import { judgeReply, NESTING_TOLERANCE, nestedDeeperThan, StreamModel, TIMESTAMP_TOLERANCE_MS, type ReplyExpectation } from './frame-model.js';
import { deepJsonText, deepMsgpack } from './mutations.js';

const SECRET = 'model-test-secret';

function encoder(framing: string, auth: (typeof AUTH_MODES)[number]): FrameEncoder {
  const mode = makeMode(framing, auth, SECRET);
  return {
    mode,
    encode: (signal: Record<string, unknown>, opts?: SignOptions) => encodeRequest(mode, signal, opts),
    encodeRaw: (value: unknown) => encodeMessage(mode.framing, value),
  };
}

function model(mode: ModeInfo, fresh: FreshSource, caps: Capabilities = REFERENCE_CAPABILITIES, nowMs = Date.now()): StreamModel {
  return new StreamModel({ mode, capabilities: caps, nowMs, freshNonces: fresh.nonces, freshIds: fresh.ids, specVocabulary: true });
}

const allowedOf = (e: ReplyExpectation): string[] => (e.allowed === 'any' ? ['any'] : [...e.allowed].sort());

describe('StreamModel: what a conformant server must answer', () => {
  it('a fresh PREPARE may be accepted (or risk-rejected), never a duplicate; its id must be echoed', () => {
    const enc = encoder('ndjson', 'hmac-v2');
    const fresh = randomFreshSource();
    const m = model(enc.mode, fresh);
    const frame = buildFrame(enc, { signal: { type: 'PREPARE', ref: { kind: 'fresh' }, fields: { symbol: 'BTCUSDT', side: 'Buy', qty: 0.01 } }, id: { kind: 'index' }, binaryBody: false }, new InputState(), fresh);
    m.push(frame.bytes);
    expect(m.replies).toHaveLength(1);
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'RISK_REJECTED', 'accepted']);
    expect(m.replies[0]!.id).toEqual({ kind: 'value', value: 1 });
    expect(m.end).toBe('open');
  });

  it('a CONFIRM of an id never prepared is UNKNOWN_SIGNAL; after a PREPARE of it anything of §6.3 goes', () => {
    const enc = encoder('lp32-json', 'none');
    const fresh = randomFreshSource();
    const m = model(enc.mode, fresh);
    const state = new InputState();
    const confirmFresh = buildFrame(enc, { signal: { type: 'CONFIRM', ref: { kind: 'fresh' }, fields: {} }, id: { kind: 'none' }, binaryBody: false }, state, fresh);
    const prepare = buildFrame(enc, { signal: { type: 'PREPARE', ref: { kind: 'fresh' }, fields: { symbol: 'X', side: 'Sell', qty: 1 } }, id: { kind: 'none' }, binaryBody: false }, state, fresh);
    const confirmEarlier = buildFrame(enc, { signal: { type: 'CONFIRM', ref: { kind: 'earlier', index: 0 }, fields: {} }, id: { kind: 'none' }, binaryBody: false }, state, fresh);
    m.push(Buffer.concat([confirmFresh.bytes, prepare.bytes, confirmEarlier.bytes]));
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'UNKNOWN_SIGNAL']);
    expect(allowedOf(m.replies[2]!)).toEqual(['INVALID_STATE', 'RATE_LIMITED', 'SIGNAL_EXPIRED', 'UNKNOWN_SIGNAL', 'accepted']);
  });

  it('a PREPARE above maxLeverage must be RISK_REJECTED (§6.6)', () => {
    const enc = encoder('ndjson', 'none');
    const fresh = randomFreshSource();
    const m = model(enc.mode, fresh);
    const frame = buildFrame(enc, { signal: { type: 'PREPARE', ref: { kind: 'fresh' }, fields: { symbol: 'X', side: 'Buy', qty: 1, leverage: 21 } }, id: { kind: 'none' }, binaryBody: false }, new InputState(), fresh);
    m.push(frame.bytes);
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'RISK_REJECTED']);
  });

  it('a signature with a character after its 64 digits is INVALID_SIGNATURE, a changed signed content too', () => {
    for (const auth of ['hmac-json', 'hmac-v2'] as const) {
      const enc = encoder('lp32-msgpack', auth);
      const fresh = randomFreshSource();
      const frame = buildFrame(enc, { signal: { type: 'STATUS', ref: { kind: 'fresh' }, fields: {} }, id: { kind: 'index' }, binaryBody: false }, new InputState(), fresh);
      const field = auth === 'hmac-v2' ? 'sig' : 'signature';
      const m = model(enc.mode, fresh);
      m.push(enc.encodeRaw({ ...frame.envelope, [field]: `${frame.envelope[field] as string}0` }));
      expect(allowedOf(m.replies[0]!), auth).toEqual(['INVALID_SIGNATURE', 'RATE_LIMITED']);
      const changed = buildMutatedFrame(
        enc,
        { frame: { signal: { type: 'STATUS', ref: { kind: 'fresh' }, fields: {} }, id: { kind: 'index' }, binaryBody: false }, fields: [{ kind: 'set', scope: 'signal', field: 'x', value: { kind: 'literal', value: 1 } }], resign: false, body: [], frameBytes: [] },
        new InputState(),
        fresh,
      );
      m.push(changed);
      expect(allowedOf(m.replies[1]!), auth).toEqual(['INVALID_SIGNATURE', 'RATE_LIMITED']);
    }
  });

  it('the same change re-signed is a valid signal again (a mutation that leaves a frame valid is not flagged)', () => {
    const enc = encoder('ndjson', 'hmac-json');
    const fresh = randomFreshSource();
    const m = model(enc.mode, fresh);
    const bytes = buildMutatedFrame(
      enc,
      { frame: { signal: { type: 'STATUS', ref: { kind: 'fresh' }, fields: {} }, id: { kind: 'index' }, binaryBody: false }, fields: [{ kind: 'set', scope: 'signal', field: 'x', value: { kind: 'literal', value: 1 } }], resign: true, body: [], frameBytes: [] },
      new InputState(),
      fresh,
    );
    m.push(bytes);
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'accepted']);
  });

  it('an undecodable body is IPC_ERROR with no id, and the connection stays open', () => {
    const enc = encoder('ndjson', 'none');
    const m = model(enc.mode, randomFreshSource());
    m.push(Buffer.from('{"id":5,"signal":\xff}\n', 'latin1'));
    expect(allowedOf(m.replies[0]!)).toEqual(['IPC_ERROR']);
    expect(m.replies[0]!.id).toEqual({ kind: 'absent' });
    expect(m.replies[0]!.closes).toBe(false);
    expect(m.end).toBe('open');
  });

  it('an ndjson line beyond maxFrameBytes is FRAME_TOO_LARGE then close; nothing after it counts', () => {
    const enc = encoder('ndjson', 'none');
    const m = model(enc.mode, randomFreshSource(), { ...REFERENCE_CAPABILITIES, maxFrameBytes: 100 });
    m.push(Buffer.alloc(101, 'x'));
    m.push(Buffer.from('{"signal":{"type":"STATUS"}}\n'));
    expect(m.replies).toHaveLength(1);
    expect(allowedOf(m.replies[0]!)).toEqual(['FRAME_TOO_LARGE']);
    expect(m.replies[0]!.closes).toBe(true);
    expect(m.end).toBe('closed');
  });

  it('an lp length too small for the header is IPC_ERROR then close; a length one more leaves a partial frame', () => {
    const header = makeMode('lp:2:le:frame:01:json', 'none', SECRET);
    const bad = new StreamModel({ mode: header, capabilities: REFERENCE_CAPABILITIES, nowMs: Date.now(), freshNonces: new Set(), freshIds: new Set(), specVocabulary: true });
    bad.push(Buffer.from([0x02, 0x00]));
    expect(allowedOf(bad.replies[0]!)).toEqual(['IPC_ERROR']);
    expect(bad.end).toBe('closed');
    const enc = encoder('lp32-json', 'none');
    const m = model(enc.mode, randomFreshSource());
    const frame = Buffer.from(encodeRequest(enc.mode, { type: 'STATUS' }));
    writeLength(frame, 4, 'be', frame.length - 4 + 1);
    m.push(frame);
    expect(m.replies).toHaveLength(0);
    expect(m.end).toBe('partial');
  });

  it('an hmac-v2 timestamp far out of the window is STALE_TIMESTAMP; near its edge either outcome is allowed', () => {
    const enc = encoder('ndjson', 'hmac-v2');
    const fresh = randomFreshSource();
    const now = Date.now();
    const stale = enc.encode({ type: 'STATUS' }, { ts: now - 60_000, nonce: fresh.nonce() });
    const edge = enc.encode({ type: 'STATUS' }, { ts: now - 30_000 + TIMESTAMP_TOLERANCE_MS / 2, nonce: fresh.nonce() });
    const m = model(enc.mode, fresh, REFERENCE_CAPABILITIES, now);
    m.push(Buffer.concat([stale, edge]));
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'STALE_TIMESTAMP']);
    expect(allowedOf(m.replies[1]!)).toEqual(['RATE_LIMITED', 'STALE_TIMESTAMP', 'accepted']);
  });

  it('a repeated nonce may be a replay; a fresh one may not', () => {
    const enc = encoder('ndjson', 'hmac-v2');
    const fresh = randomFreshSource();
    const frame = enc.encode({ type: 'STATUS' }, { nonce: fresh.nonce() });
    const m = model(enc.mode, fresh);
    m.push(Buffer.concat([frame, frame]));
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'accepted']);
    expect(allowedOf(m.replies[1]!)).toEqual(['RATE_LIMITED', 'REPLAY_DETECTED', 'accepted']);
  });

  it('measures nesting without recursion', () => {
    expect(nestedDeeperThan([[1]], 2)).toBe(false);
    expect(nestedDeeperThan([[[1]]], 2)).toBe(true);
    expect(nestedDeeperThan({ a: { b: 'x' } }, 2)).toBe(false);
    expect(nestedDeeperThan(JSON.parse(deepJsonText(200_000, 'array')), 100_000)).toBe(true);
  });

  it('a body nested beyond the tolerance may also be IPC_ERROR (a decoder limit, §3.5); one within it may not', () => {
    const enc = encoder('lp32-msgpack', 'none');
    const wrap = (depth: number): Buffer => {
      const envelope = Buffer.concat([Buffer.from([0x81, 0xa6]), Buffer.from('signal'), Buffer.from([0x82, 0xa4]), Buffer.from('type'), Buffer.from([0xa6]), Buffer.from('STATUS'), Buffer.from([0xa1, 0x78]), deepMsgpack(depth, 'array')]);
      const frame = Buffer.alloc(4);
      frame.writeUInt32BE(envelope.length);
      return Buffer.concat([frame, envelope]);
    };
    const m = model(enc.mode, randomFreshSource());
    m.push(wrap(NESTING_TOLERANCE - 2));
    m.push(wrap(NESTING_TOLERANCE + 10));
    expect(allowedOf(m.replies[0]!)).toEqual(['RATE_LIMITED', 'accepted']);
    expect(allowedOf(m.replies[1]!)).toEqual(['IPC_ERROR', 'RATE_LIMITED', 'accepted']);
  });

  it('never throws, for any mutated frame in any mode', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FRAMING_PRESETS, 'lp:2:le:frame:01:msgpack'), fc.constantFrom(...AUTH_MODES), fc.integer(), (framing, auth, seed) => {
        const enc = encoder(framing, auth);
        const fresh = randomFreshSource();
        const [template] = fc.sample(mutatedFrameArb({ mode: enc.mode, capabilities: REFERENCE_CAPABILITIES }), { seed, numRuns: 1 });
        const m = model(enc.mode, fresh);
        m.push(buildMutatedFrame(enc, template!, new InputState(), fresh));
        for (const r of m.replies) expect(r.frame).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });

  it('valid frames of the arbitrary are never predicted to fail the signature', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FRAMING_PRESETS), fc.constantFrom('hmac-json', 'hmac-v2') as fc.Arbitrary<'hmac-json' | 'hmac-v2'>, fc.integer(), (framing, auth, seed) => {
        const enc = encoder(framing, auth);
        const fresh = randomFreshSource();
        const [template] = fc.sample(frameTemplateArb({ mode: enc.mode, capabilities: REFERENCE_CAPABILITIES }), { seed, numRuns: 1 });
        const m = model(enc.mode, fresh);
        m.push(buildFrame(enc, template!, new InputState(), fresh).bytes);
        const allowed = m.replies[0]!.allowed;
        expect(allowed === 'any' || !allowed.has('INVALID_SIGNATURE')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('judgeReply', () => {
  const exp: ReplyExpectation = { frame: 2, allowed: new Set(['UNKNOWN_SIGNAL']), id: { kind: 'value', value: 7 }, closes: false, section: '6.3.2', why: 'never prepared', delayMs: 0 };
  const reply = (fields: Record<string, unknown>): ReadEvent =>
    fields.accepted === true
      ? { type: 'reply', reply: { kind: 'accepted', id: fields.id, fields }, raw: Buffer.alloc(0), atMs: 0 }
      : { type: 'reply', reply: { kind: 'rejected', id: fields.id, reason: fields.reason as string, fields }, raw: Buffer.alloc(0), atMs: 0 };

  it('accepts the right outcome with the id echoed', () => {
    expect(judgeReply(exp, reply({ rejected: true, reason: 'UNKNOWN_SIGNAL', id: 7 }), 'reply to frame 2')).toBeUndefined();
  });

  it('flags an outcome outside the allowed set, a wrong id, a string id for a number, a timeout and a cut frame', () => {
    expect(judgeReply(exp, reply({ accepted: true, id: 7 }), 'r')).toMatch(/expected UNKNOWN_SIGNAL \(§6\.3\.2: never prepared\), got accepted/);
    expect(judgeReply(exp, reply({ rejected: true, reason: 'UNKNOWN_SIGNAL', id: 8 }), 'r')).toMatch(/carries id 8 \(number\), expected id 7/);
    expect(judgeReply(exp, reply({ rejected: true, reason: 'UNKNOWN_SIGNAL', id: '7' }), 'r')).toMatch(/carries id "7" \(string\)/);
    expect(judgeReply(exp, { type: 'timeout', afterMs: 50 }, 'r')).toMatch(/no reply within 50 ms/);
    expect(judgeReply(exp, { type: 'closed', partialBytes: 12, atMs: 0 }, 'r')).toMatch(/middle of a reply frame/);
    expect(judgeReply(exp, { type: 'closed', partialBytes: 0, atMs: 0 }, 'r')).toMatch(/closed the connection without replying/);
  });

  it('flags an id on the reply to an undecodable body', () => {
    const absent: ReplyExpectation = { ...exp, allowed: new Set(['IPC_ERROR']), id: { kind: 'absent' } };
    expect(judgeReply(absent, reply({ rejected: true, reason: 'IPC_ERROR' }), 'r')).toBeUndefined();
    expect(judgeReply(absent, reply({ rejected: true, reason: 'IPC_ERROR', id: 1 }), 'r')).toMatch(/has no id/);
  });
});
