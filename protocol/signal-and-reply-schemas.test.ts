/**
 * Signal schemas (docs/SPEC.md §6.1), reply shapes (§5.4) and the reason-code table
 * (§5.5, §5.6).
 */
import { describe, expect, it } from 'vitest';
import { closesConnection, isReasonCode, REASON_CODE_LIST, REASON_CODES } from './reason-codes.js';
import { isMessageId, LedgerReplySchema, MessageAppliedReplySchema, parseSignal, rejectedReply, ReplySchema, SIGNAL_TYPES, StatusReplySchema } from './schemas.js';

const PREPARE = { type: 'PREPARE', signal_id: 'sig-1', symbol: 'BTCUSDT', side: 'Buy', qty: 0.1 };

function invalid(value: unknown): string {
  const res = parseSignal(value);
  if (res.ok) throw new Error(`expected ${JSON.stringify(value)} to be invalid`);
  return res.error;
}

describe('PREPARE', () => {
  it.each([
    ['the required fields', PREPARE],
    ['every optional field', { ...PREPARE, side: 'Sell', leverage: 20, price: 43250.5, timestamp: 1_700_000_000_000, delay_ms: 10_000 }],
    ['signal_id of 128 characters and symbol of 32', { ...PREPARE, signal_id: 's'.repeat(128), symbol: 'X'.repeat(32) }],
    ['delay_ms 0', { ...PREPARE, delay_ms: 0 }],
  ])('accepts %s', (_why, signal) => {
    expect(parseSignal(signal)).toEqual({ ok: true, signal });
  });

  it.each([
    ['signal_id missing', { ...PREPARE, signal_id: undefined }, /^signal_id: /],
    ['signal_id empty', { ...PREPARE, signal_id: '' }, /signal_id must not be empty/],
    ['signal_id of 129 characters', { ...PREPARE, signal_id: 's'.repeat(129) }, /longer than 128/],
    ['signal_id a number', { ...PREPARE, signal_id: 1 }, /^signal_id: /],
    ['symbol missing', { ...PREPARE, symbol: undefined }, /^symbol: /],
    ['symbol empty', { ...PREPARE, symbol: '' }, /^symbol: /],
    ['symbol of 33 characters', { ...PREPARE, symbol: 'X'.repeat(33) }, /^symbol: /],
    ['side lowercase', { ...PREPARE, side: 'buy' }, /^side: /],
    ['qty 0', { ...PREPARE, qty: 0 }, /^qty: /],
    ['qty negative', { ...PREPARE, qty: -1 }, /^qty: /],
    ['qty a string', { ...PREPARE, qty: '1' }, /^qty: /],
    ['qty NaN', { ...PREPARE, qty: Number.NaN }, /^qty: /],
    ['qty Infinity (possible in MessagePack)', { ...PREPARE, qty: Number.POSITIVE_INFINITY }, /^qty: /],
    ['leverage 0', { ...PREPARE, leverage: 0 }, /^leverage: /],
    ['price negative', { ...PREPARE, price: -5 }, /^price: /],
    ['price null', { ...PREPARE, price: null }, /^price: /],
    ['timestamp a string', { ...PREPARE, timestamp: '2024-01-01' }, /^timestamp: /],
    ['delay_ms above 10000', { ...PREPARE, delay_ms: 10_001 }, /^delay_ms: /],
    ['delay_ms negative', { ...PREPARE, delay_ms: -1 }, /^delay_ms: /],
    ['delay_ms fractional', { ...PREPARE, delay_ms: 1.5 }, /^delay_ms: /],
  ])('rejects %s', (_why, signal, message) => {
    expect(invalid(signal)).toMatch(message);
  });
});

describe('CONFIRM, ABORT, STATUS', () => {
  it.each([
    [{ type: 'CONFIRM', signal_id: 'a' }],
    [{ type: 'CONFIRM', signal_id: 'a', timestamp: 1, delay_ms: 5 }],
    [{ type: 'ABORT', signal_id: 'a' }],
    [{ type: 'ABORT', signal_id: 'a', reason: 'opérateur — ✋ 🚀' }],
    [{ type: 'STATUS' }],
  ])('accepts %j', (signal) => {
    expect(parseSignal(signal)).toEqual({ ok: true, signal });
  });

  it.each([
    [{ type: 'CONFIRM' }, /^signal_id: /],
    [{ type: 'CONFIRM', signal_id: '' }, /^signal_id: /],
    [{ type: 'CONFIRM', signal_id: 'a', delay_ms: '5' }, /^delay_ms: /],
    [{ type: 'ABORT', signal_id: 'a', reason: 5 }, /^reason: /],
    [{ type: 'ABORT', signal_id: 'a', reason: 'r'.repeat(1025) }, /^reason: /],
    [{ type: 'ABORT' }, /^signal_id: /],
  ])('rejects %j', (signal, message) => {
    expect(invalid(signal)).toMatch(message);
  });
});

describe('MESSAGE and LEDGER (§11.1)', () => {
  it.each([
    [{ type: 'MESSAGE', message_id: 'm-1' }],
    [{ type: 'MESSAGE', message_id: 'x'.repeat(128), topic: 't'.repeat(256), payload: { a: [1, 'b', null] }, timestamp: 1_700_000_000_000, delay_ms: 10_000 }],
    [{ type: 'MESSAGE', message_id: 'opérateur — ✋ 🚀', payload: 'text' }],
    [{ type: 'MESSAGE', message_id: 'with space and \u0080' }],
    [{ type: 'LEDGER' }],
    [{ type: 'LEDGER', from: 0, limit: 1 }],
    [{ type: 'LEDGER', from: 1_000_000, limit: 10_000 }],
  ])('accepts %j', (signal) => {
    expect(parseSignal(signal)).toEqual({ ok: true, signal });
  });

  it.each([
    [{ type: 'MESSAGE' }, /^message_id: /],
    [{ type: 'MESSAGE', message_id: '' }, /message_id must not be empty/],
    [{ type: 'MESSAGE', message_id: 'x'.repeat(129) }, /longer than 128/],
    [{ type: 'MESSAGE', message_id: 7 }, /^message_id: /],
    [{ type: 'MESSAGE', message_id: 'a\nb' }, /control characters/],
    [{ type: 'MESSAGE', message_id: 'tab\t' }, /control characters/],
    [{ type: 'MESSAGE', message_id: 'del\u007f' }, /control characters/],
    [{ type: 'MESSAGE', message_id: 'nul\u0000' }, /control characters/],
    [{ type: 'MESSAGE', message_id: 'lone\ud800' }, /lone surrogate/],
    [{ type: 'MESSAGE', message_id: 'm', topic: '' }, /^topic: /],
    [{ type: 'MESSAGE', message_id: 'm', topic: 't'.repeat(257) }, /^topic: /],
    [{ type: 'MESSAGE', message_id: 'm', delay_ms: 10_001 }, /^delay_ms: /],
    [{ type: 'LEDGER', from: -1 }, /^from: from must be 0 or more/],
    [{ type: 'LEDGER', from: 1.5 }, /^from: from must be a whole number/],
    [{ type: 'LEDGER', limit: 0 }, /^limit: limit must be at least 1/],
    [{ type: 'LEDGER', limit: 10_001 }, /^limit: limit must be at most 10000/],
    [{ type: 'LEDGER', limit: '10' }, /^limit: /],
  ])('rejects %j', (signal, message) => {
    expect(invalid(signal)).toMatch(message);
  });

  it('isMessageId agrees with the schema', () => {
    for (const id of ['a', 'x'.repeat(128), 'x'.repeat(129), '', 'a\nb', '\u007f', 'pair\ud83d\ude80', 'lone\udc00', 5, undefined]) {
      expect(isMessageId(id), JSON.stringify(id)).toBe(parseSignal({ type: 'MESSAGE', message_id: id }).ok);
    }
  });

  it('validates MESSAGE and LEDGER replies (§11.2, §11.3)', () => {
    expect(MessageAppliedReplySchema.safeParse({ accepted: true, message_id: 'm', state: 'APPLIED', seq: 0, ipc_latency_ms: 0.1 }).success).toBe(true);
    expect(MessageAppliedReplySchema.safeParse({ accepted: true, id: 3, message_id: 'm', state: 'APPLIED', seq: 4, duplicate: true }).success).toBe(true);
    expect(MessageAppliedReplySchema.safeParse({ accepted: true, message_id: 'm', state: 'APPLIED', seq: -1 }).success).toBe(false);
    expect(MessageAppliedReplySchema.safeParse({ accepted: true, message_id: 'm', state: 'PREPARED', seq: 0 }).success).toBe(false);
    expect(LedgerReplySchema.safeParse({ accepted: true, ledger: { from: 0, entries: ['a', 'b'], next: null, total: 2 } }).success).toBe(true);
    expect(LedgerReplySchema.safeParse({ accepted: true, ledger: { from: 0, entries: ['a'], next: 1, total: 2 } }).success).toBe(true);
    expect(LedgerReplySchema.safeParse({ accepted: true, ledger: { from: 0, entries: [1], next: null, total: 1 } }).success).toBe(false);
    expect(LedgerReplySchema.safeParse({ accepted: true, ledger: { from: 0, entries: [], total: 0 } }).success).toBe(false);
  });
});

describe('any signal', () => {
  it.each([
    ['an unknown type', { type: 'CANCEL', signal_id: 'a' }],
    ['a lowercase type', { ...PREPARE, type: 'prepare' }],
    ['no type', { signal_id: 'a' }],
    ['an array', [PREPARE]],
    ['null', null],
    ['a string', 'PREPARE'],
  ])('rejects %s', (_why, value) => {
    expect(invalid(value)).toMatch(/type|expected object|Invalid input/i);
  });

  it('ignores unknown fields (§6.1) and strips them from the parsed signal', () => {
    for (const signal of [{ ...PREPARE, post_only: true, nested: { a: 1 } }, { type: 'STATUS', verbose: 1 }, { type: 'CONFIRM', signal_id: 'a', x: null }]) {
      const res = parseSignal(signal);
      expect(res.ok).toBe(true);
      expect(res.ok && Object.keys(res.signal)).toEqual(Object.keys(signal).filter((k) => !['post_only', 'nested', 'verbose', 'x'].includes(k)));
    }
  });

  it('lists every type', () => {
    expect(SIGNAL_TYPES).toEqual(['PREPARE', 'CONFIRM', 'ABORT', 'STATUS', 'MESSAGE', 'LEDGER']);
  });

  it('names at most three problems, with their paths', () => {
    const msg = invalid({ type: 'PREPARE', signal_id: '', symbol: '', side: 'x', qty: 0 });
    expect(msg.split('; ')).toHaveLength(3);
  });
});

describe('ReplySchema (§5.4)', () => {
  it.each([
    [{ accepted: true }],
    [{ accepted: true, signal_id: 's', state: 'CONFIRMED', orderId: 'o-1', fillPrice: 1.5, duplicate: true, ipc_latency_ms: 0.2 }],
    [{ accepted: true, id: 'req-1' }],
    [{ accepted: true, id: 42 }],
    [{ rejected: true, reason: 'INVALID_SIGNATURE' }],
    [{ rejected: true, reason: 'FRAME_TOO_LARGE', error: 'too big', id: 'x' }],
  ])('accepts %j', (reply) => {
    expect(ReplySchema.safeParse(reply).success).toBe(true);
  });

  it.each([
    ['both accepted and rejected', { accepted: true, rejected: true, reason: 'IPC_ERROR' }],
    ['accepted with rejected: false', { accepted: true, rejected: false }],
    ['rejected with accepted: false', { rejected: true, reason: 'IPC_ERROR', accepted: false }],
    ['an unknown reason', { rejected: true, reason: 'NOPE' }],
    ['a lowercase reason', { rejected: true, reason: 'ipc_error' }],
    ['a rejection without a reason', { rejected: true }],
    ['a non-string error', { rejected: true, reason: 'IPC_ERROR', error: 5 }],
    ['accepted: false', { accepted: false }],
    ['accepted: "true"', { accepted: 'true' }],
    ['neither flag', { ok: true }],
    ['a fractional id', { accepted: true, id: 1.5 }],
    ['an id of 129 characters', { accepted: true, id: 'i'.repeat(129) }],
  ])('rejects %s', (_why, reply) => {
    expect(ReplySchema.safeParse(reply).success).toBe(false);
  });

  it('validates STATUS replies (§6.8)', () => {
    const metrics = {
      messagesReceived: 1,
      messagesProcessed: 1,
      messagesFailed: 0,
      invalidSignatures: 0,
      avgLatencyMs: 0.1,
      minLatencyMs: 0.1,
      maxLatencyMs: 0.1,
      ordersExecuted: 0,
      openOrders: 0,
    };
    const status = { running: true, socketPath: '/tmp/s', activeConnections: 1, maxConnections: 10, metrics };
    expect(StatusReplySchema.safeParse({ accepted: true, status }).success).toBe(true);
    expect(StatusReplySchema.safeParse({ accepted: true, status: { ...status, metrics: { ...metrics, openOrders: undefined } } }).success).toBe(false);
  });
});

describe('rejectedReply', () => {
  it('builds id?, rejected, reason, error? in that order and omits absent fields', () => {
    expect(Object.keys(rejectedReply('IPC_ERROR', 'bad', 7))).toEqual(['id', 'rejected', 'reason', 'error']);
    expect(rejectedReply('RATE_LIMITED')).toEqual({ rejected: true, reason: 'RATE_LIMITED' });
    expect(JSON.stringify(rejectedReply('IPC_ERROR', undefined, 0))).toBe('{"id":0,"rejected":true,"reason":"IPC_ERROR"}');
    for (const code of REASON_CODE_LIST) expect(ReplySchema.safeParse(rejectedReply(code, 'x', 'id')).success).toBe(true);
  });
});

describe('reason codes (§5.5, §5.6)', () => {
  it('are exactly the closed set of the spec', () => {
    expect([...REASON_CODE_LIST].sort()).toEqual(
      [
        'IPC_ERROR',
        'INVALID_SIGNATURE',
        'STALE_TIMESTAMP',
        'REPLAY_DETECTED',
        'RATE_LIMITED',
        'INVALID_SIGNAL',
        'UNKNOWN_SIGNAL',
        'DUPLICATE_SIGNAL',
        'INVALID_STATE',
        'SIGNAL_EXPIRED',
        'RISK_REJECTED',
        'FRAME_TOO_LARGE',
        'MAX_CONNECTIONS_REACHED',
        'SHUTTING_DOWN',
        'SESSION_REFUSED',
      ].sort(),
    );
  });

  it('close the connection after flush only for FRAME_TOO_LARGE, MAX_CONNECTIONS_REACHED and SHUTTING_DOWN', () => {
    expect(REASON_CODE_LIST.filter(closesConnection).sort()).toEqual(['FRAME_TOO_LARGE', 'MAX_CONNECTIONS_REACHED', 'SHUTTING_DOWN']);
  });

  it('isReasonCode accepts only own table keys', () => {
    expect(isReasonCode('IPC_ERROR')).toBe(true);
    for (const v of ['toString', '__proto__', 'constructor', 'ipc_error', '', 1, null, undefined]) expect(isReasonCode(v)).toBe(false);
    expect(Object.keys(REASON_CODES)).toEqual(REASON_CODE_LIST);
  });
});
