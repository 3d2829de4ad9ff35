import { describe, expect, it } from 'vitest';
import { type RiskLimits, SignalBook, type SignalBookOptions } from './signal-book.js';

const RISK: RiskLimits = { maxLeverage: 20, maxNotional: 1_000_000, maxOpenOrders: 3 };

function bookAt(options: Partial<SignalBookOptions> = {}): { book: SignalBook; clock: { nowMs: number } } {
  const clock = { nowMs: 1_000 };
  const book = new SignalBook({ prepareTtlMs: 100, risk: RISK, orderIdPrefix: 'o', now: () => clock.nowMs, ...options });
  return { book, clock };
}

const prep = (signal_id: string, extra: { leverage?: number; price?: number; qty?: number } = {}) => ({ signal_id, qty: 1, ...extra });

describe('SignalBook transitions (§6.2–§6.4)', () => {
  it('prepares a new signal into PREPARED and counts it open', () => {
    const { book } = bookAt();
    expect(book.prepare(prep('a'))).toEqual({ accepted: true, signal_id: 'a', state: 'PREPARED' });
    expect(book.stateOf('a')).toBe('PREPARED');
    expect(book.openOrders).toBe(1);
  });

  it('confirms a prepared signal once with an orderId and the PREPARE price as fillPrice', () => {
    const { book } = bookAt();
    book.prepare(prep('a', { price: 123.5 }));
    expect(book.confirm('a')).toEqual({ accepted: true, signal_id: 'a', state: 'CONFIRMED', orderId: 'o1', fillPrice: 123.5 });
    expect(book.openOrders).toBe(0);
    expect(book.ordersExecuted).toBe(1);
  });

  it('fills at 50000 when the PREPARE had no price (seed 000)', () => {
    const { book } = bookAt();
    book.prepare(prep('a'));
    expect(book.confirm('a')).toMatchObject({ fillPrice: 50_000 });
  });

  it('answers a retried CONFIRM with the original orderId and fillPrice, duplicate: true, without executing again', () => {
    const { book } = bookAt();
    book.prepare(prep('a', { price: 10 }));
    const first = book.confirm('a');
    const again = book.confirm('a');
    expect(again).toEqual({ ...first, duplicate: true });
    expect(book.ordersExecuted).toBe(1);
  });

  it('aborts a prepared signal and accepts a repeated ABORT with duplicate: true', () => {
    const { book } = bookAt();
    book.prepare(prep('a'));
    expect(book.abort('a')).toEqual({ accepted: true, signal_id: 'a', state: 'ABORTED' });
    expect(book.abort('a')).toEqual({ accepted: true, signal_id: 'a', state: 'ABORTED', duplicate: true });
    expect(book.openOrders).toBe(0);
  });

  it('rejects CONFIRM of an aborted signal and ABORT of a confirmed one with INVALID_STATE', () => {
    const { book } = bookAt();
    book.prepare(prep('a'));
    book.abort('a');
    expect(book.confirm('a')).toMatchObject({ rejected: true, reason: 'INVALID_STATE' });
    book.prepare(prep('b'));
    book.confirm('b');
    expect(book.abort('b')).toMatchObject({ rejected: true, reason: 'INVALID_STATE' });
  });

  it('rejects CONFIRM and ABORT of an unknown signal_id with UNKNOWN_SIGNAL', () => {
    const { book } = bookAt();
    expect(book.confirm('nope')).toMatchObject({ rejected: true, reason: 'UNKNOWN_SIGNAL' });
    expect(book.abort('nope')).toMatchObject({ rejected: true, reason: 'UNKNOWN_SIGNAL' });
  });

  it('rejects a PREPARE of a known signal_id in any state with DUPLICATE_SIGNAL and leaves the signal unchanged', () => {
    const { book } = bookAt();
    book.prepare(prep('a', { price: 1 }));
    expect(book.prepare(prep('a', { price: 2 }))).toMatchObject({ rejected: true, reason: 'DUPLICATE_SIGNAL' });
    expect(book.confirm('a')).toMatchObject({ fillPrice: 1 });
    expect(book.prepare(prep('a'))).toMatchObject({ reason: 'DUPLICATE_SIGNAL' });
    expect(book.stateOf('a')).toBe('CONFIRMED');
  });
});

describe('SignalBook TTL (§6.5)', () => {
  it('keeps a signal PREPARED until just before prepareTtlMs', () => {
    const { book, clock } = bookAt();
    book.prepare(prep('a'));
    clock.nowMs += 99;
    expect(book.stateOf('a')).toBe('PREPARED');
    expect(book.confirm('a')).toMatchObject({ accepted: true, state: 'CONFIRMED' });
  });

  it('expires a signal at prepareTtlMs: CONFIRM and ABORT then answer SIGNAL_EXPIRED and it no longer counts as open', () => {
    const { book, clock } = bookAt();
    book.prepare(prep('a'));
    book.prepare(prep('b'));
    expect(book.openOrders).toBe(2);
    clock.nowMs += 100;
    expect(book.openOrders).toBe(0);
    expect(book.stateOf('a')).toBe('EXPIRED');
    expect(book.confirm('a')).toMatchObject({ rejected: true, reason: 'SIGNAL_EXPIRED' });
    expect(book.abort('b')).toMatchObject({ rejected: true, reason: 'SIGNAL_EXPIRED' });
    expect(book.prepare(prep('a'))).toMatchObject({ reason: 'DUPLICATE_SIGNAL' });
  });

  it('expires signals independently, in PREPARE order', () => {
    const { book, clock } = bookAt();
    book.prepare(prep('a'));
    clock.nowMs += 50;
    book.prepare(prep('b'));
    clock.nowMs += 60;
    expect(book.stateOf('a')).toBe('EXPIRED');
    expect(book.stateOf('b')).toBe('PREPARED');
    expect(book.openOrders).toBe(1);
  });
});

describe('SignalBook retention (§6.5)', () => {
  it('remembers terminal states for at least 10 × prepareTtlMs after they become terminal', () => {
    const { book, clock } = bookAt();
    book.prepare(prep('confirmed'));
    book.prepare(prep('expired'));
    clock.nowMs += 99;
    book.confirm('confirmed'); // terminal at 1099; 'expired' becomes terminal at 1100
    clock.nowMs = 1099 + 10 * 100 - 1; // just under 10 TTLs after the earlier terminal moment
    expect(book.stateOf('confirmed')).toBe('CONFIRMED');
    expect(book.stateOf('expired')).toBe('EXPIRED');
    expect(book.confirm('confirmed')).toMatchObject({ duplicate: true, orderId: 'o1' });
    expect(book.confirm('expired')).toMatchObject({ reason: 'SIGNAL_EXPIRED' });
  });

  it('forgets signals once retention has passed, so memory stays bounded over time', () => {
    const { book, clock } = bookAt();
    for (let i = 0; i < 3; i++) book.prepare(prep(`s${i}`));
    clock.nowMs += 11 * 100;
    expect(book.size).toBe(0);
    expect(book.confirm('s0')).toMatchObject({ reason: 'UNKNOWN_SIGNAL' });
  });

  it('keeps working through many prepare/confirm cycles while evicting old signals', () => {
    const { book, clock } = bookAt({ risk: { ...RISK, maxOpenOrders: 10 } });
    for (let i = 0; i < 5_000; i++) {
      expect(book.prepare(prep(`s${i}`))).toMatchObject({ accepted: true });
      expect(book.confirm(`s${i}`)).toMatchObject({ accepted: true });
      clock.nowMs += 1;
    }
    expect(book.size).toBeLessThanOrEqual(1_101);
    expect(book.stateOf('s4999')).toBe('CONFIRMED');
    expect(book.stateOf('s0')).toBeUndefined();
  });

  it('refuses a new PREPARE with RISK_REJECTED when maxRetainedSignals are remembered, instead of forgetting early', () => {
    const { book } = bookAt({ maxRetainedSignals: 2, risk: { ...RISK, maxOpenOrders: 10 } });
    book.prepare(prep('a'));
    book.confirm('a');
    book.prepare(prep('b'));
    expect(book.prepare(prep('c'))).toMatchObject({ rejected: true, reason: 'RISK_REJECTED' });
    expect(book.confirm('a')).toMatchObject({ duplicate: true });
  });
});

describe('SignalBook risk limits (§6.6)', () => {
  it('rejects leverage above maxLeverage and accepts it at the limit', () => {
    const { book } = bookAt();
    expect(book.prepare(prep('a', { leverage: 20.5 }))).toMatchObject({ rejected: true, reason: 'RISK_REJECTED' });
    expect(book.prepare(prep('b', { leverage: 20 }))).toMatchObject({ accepted: true });
  });

  it('rejects qty × price above maxNotional and ignores notional when price is absent', () => {
    const { book } = bookAt();
    expect(book.prepare(prep('a', { qty: 2, price: 500_001 }))).toMatchObject({ rejected: true, reason: 'RISK_REJECTED' });
    expect(book.prepare(prep('b', { qty: 2, price: 500_000 }))).toMatchObject({ accepted: true });
    expect(book.prepare(prep('c', { qty: 1e9 }))).toMatchObject({ accepted: true });
  });

  it('rejects a PREPARE that would exceed maxOpenOrders, and accepts again once one closes', () => {
    const { book } = bookAt();
    for (const id of ['a', 'b', 'c']) book.prepare(prep(id));
    expect(book.prepare(prep('d'))).toMatchObject({ rejected: true, reason: 'RISK_REJECTED' });
    book.abort('a');
    expect(book.prepare(prep('d'))).toMatchObject({ accepted: true });
  });

  it('leaves no signal behind after a risk rejection: the signal_id stays unused', () => {
    const { book } = bookAt();
    book.prepare(prep('a', { leverage: 100 }));
    expect(book.stateOf('a')).toBeUndefined();
    expect(book.prepare(prep('a'))).toMatchObject({ accepted: true });
  });

  it('checks a duplicate signal_id before the risk limits', () => {
    const { book } = bookAt();
    book.prepare(prep('a'));
    expect(book.prepare(prep('a', { leverage: 100 }))).toMatchObject({ reason: 'DUPLICATE_SIGNAL' });
  });
});

describe('SignalBook fault confirm-twice (test-only)', () => {
  it('executes a retried CONFIRM again with a new orderId and no duplicate flag', () => {
    const { book } = bookAt();
    book.prepare(prep('a'));
    const first = book.confirmAgain('a');
    const second = book.confirmAgain('a');
    expect(second).toMatchObject({ accepted: true, state: 'CONFIRMED' });
    expect(second).not.toHaveProperty('duplicate');
    expect((second as { orderId: string }).orderId).not.toBe((first as { orderId: string }).orderId);
    expect(book.ordersExecuted).toBe(2);
  });
});
