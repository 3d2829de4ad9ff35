import { describe, expect, it } from 'vitest';
import type { ReasonCode } from '../../protocol/index.js';
import type { Answer, Observation, SequentialModel } from './lifecycle-linearize.js';
import {
  type LedgerView,
  type SignalBook,
  type SignalModelConfig,
  type SignalOp,
  elapsedBetween,
  ledgerModel,
  nonceModel,
  signalModel,
  timingMarginMs,
} from './lifecycle-model.js';

/** The models of lifecycle-model.ts, one request at a time (no sockets, no clocks: times are made up). */

const TTL = 1_000;
const RISK = { maxLeverage: 20, maxNotional: 1_000_000, maxOpenOrders: 3 };
const CONFIG: SignalModelConfig = { prepareTtlMs: TTL, risk: RISK, foreignOpenOrders: 0, rateLimitDeclared: true };

const accepted = (fields: Record<string, unknown>): Answer => ({ kind: 'accepted', id: undefined, fields: { accepted: true, ...fields } });
const rejected = (reason: ReasonCode): Answer => ({ kind: 'rejected', id: undefined, reason, fields: { rejected: true, reason } });

const prepare = (key: string, extra: Partial<{ leverage: number; qty: number; price: number | undefined }> = {}): SignalOp => ({
  kind: 'PREPARE',
  key,
  signalId: `id-${key}`,
  leverage: 1,
  qty: 0.01,
  price: 50_000,
  ...extra,
});
const confirm = (key: string): SignalOp => ({ kind: 'CONFIRM', key, signalId: `id-${key}` });
const abort = (key: string): SignalOp => ({ kind: 'ABORT', key, signalId: `id-${key}` });

const PREPARED = (key: string): Answer => accepted({ state: 'PREPARED', signal_id: `id-${key}` });
const CONFIRMED = (key: string, orderId = 'o-1', fillPrice = 50_000): Answer => accepted({ state: 'CONFIRMED', signal_id: `id-${key}`, orderId, fillPrice });
const ABORTED = (key: string): Answer => accepted({ state: 'ABORTED', signal_id: `id-${key}` });

/** Feeds `steps` to `model` one after the other, request i sent at 10·i ms and answered 1 ms later unless `atMs` says otherwise. */
function feed<S, Op>(model: SequentialModel<S, Op>, steps: ReadonlyArray<{ op: Op; reply: Answer; atMs?: number }>): { state: S } | { failedAt: number; expected: string } {
  let state = model.initial;
  for (const [i, s] of steps.entries()) {
    const sentAtMs = s.atMs ?? 10 * i;
    const obs: Observation<Op> = { index: i + 1, conn: 0, op: s.op, sentAtMs, repliedAtMs: sentAtMs + 1, reply: s.reply };
    const step = model.step(state, obs);
    if (!step.ok) return { failedAt: i + 1, expected: step.expected };
    state = step.state;
  }
  return { state };
}

function expectFailure(result: ReturnType<typeof feed>, at: number, expected: RegExp): void {
  expect(result).toMatchObject({ failedAt: at });
  expect((result as { expected: string }).expected).toMatch(expected);
}

describe('elapsedBetween', () => {
  const earlier = { sentAtMs: 0, repliedAtMs: 5 };
  it('is not-yet when even the widest interval is shorter than the duration minus the margin', () => {
    expect(elapsedBetween(earlier, { sentAtMs: 900, repliedAtMs: 940 }, TTL, 50)).toBe('not-yet');
  });
  it('is passed when even the narrowest interval reaches the duration plus the margin', () => {
    expect(elapsedBetween(earlier, { sentAtMs: 1_055, repliedAtMs: 1_060 }, TTL, 50)).toBe('passed');
  });
  it('is either around the duration', () => {
    expect(elapsedBetween(earlier, { sentAtMs: 990, repliedAtMs: 1_000 }, TTL, 50)).toBe('either');
    expect(elapsedBetween(earlier, { sentAtMs: 1_040, repliedAtMs: 1_200 }, TTL, 50)).toBe('either');
  });
  it('has a margin of 5 % of the TTL, at least 10 ms', () => {
    expect(timingMarginMs(1_000)).toBe(50);
    expect(timingMarginMs(20)).toBe(10);
  });
});

describe('signalModel', () => {
  const model = signalModel(CONFIG);

  it('accepts PREPARE → CONFIRM → repeated CONFIRM with the original orderId and fillPrice, with or without duplicate', () => {
    const result = feed(model, [
      { op: prepare('s0'), reply: PREPARED('s0') },
      { op: confirm('s0'), reply: CONFIRMED('s0', 'o-7', 49_999.5) },
      { op: confirm('s0'), reply: accepted({ state: 'CONFIRMED', signal_id: 'id-s0', orderId: 'o-7', fillPrice: 49_999.5, duplicate: true }) },
      { op: confirm('s0'), reply: CONFIRMED('s0', 'o-7', 49_999.5) },
    ]);
    expect(result).toHaveProperty('state');
    const book = (result as { state: SignalBook }).state;
    expect(book.get('s0')).toMatchObject({ state: 'CONFIRMED', orderId: 'o-7', fillPrice: 49_999.5 });
  });

  it('refuses a repeated CONFIRM that executes again (another orderId), naming §6.3.1 and the original values', () => {
    const result = feed(model, [
      { op: prepare('s0'), reply: PREPARED('s0') },
      { op: confirm('s0'), reply: CONFIRMED('s0', 'o-1') },
      { op: confirm('s0'), reply: CONFIRMED('s0', 'o-2') },
    ]);
    expectFailure(result, 3, /^accepted with state CONFIRMED and the original orderId "o-1" and fillPrice 50000 \(§6\.3\.1/);
  });

  it('refuses a repeated CONFIRM with another fillPrice', () => {
    const result = feed(model, [
      { op: prepare('s0'), reply: PREPARED('s0') },
      { op: confirm('s0'), reply: CONFIRMED('s0', 'o-1', 50_000) },
      { op: confirm('s0'), reply: CONFIRMED('s0', 'o-1', 50_001) },
    ]);
    expectFailure(result, 3, /original orderId "o-1" and fillPrice 50000/);
  });

  it('requires a first CONFIRM to carry a string orderId and a number fillPrice (§6.3)', () => {
    expectFailure(
      feed(model, [
        { op: prepare('s0'), reply: PREPARED('s0') },
        { op: confirm('s0'), reply: accepted({ state: 'CONFIRMED', signal_id: 'id-s0', fillPrice: 1 }) },
      ]),
      2,
      /non-empty string orderId and a number fillPrice \(§6\.3\)/,
    );
  });

  it('predicts UNKNOWN_SIGNAL for CONFIRM and ABORT of an id never prepared, and a risk-rejected one', () => {
    expect(feed(model, [{ op: confirm('s1'), reply: rejected('UNKNOWN_SIGNAL') }, { op: abort('s1'), reply: rejected('UNKNOWN_SIGNAL') }])).toHaveProperty('state');
    expectFailure(feed(model, [{ op: abort('s1'), reply: ABORTED('s1') }]), 1, /^rejected UNKNOWN_SIGNAL \(§6\.4: s1 was never prepared\)$/);
    const afterRisk = feed(model, [
      { op: prepare('s2', { leverage: 21 }), reply: rejected('RISK_REJECTED') },
      { op: confirm('s2'), reply: rejected('UNKNOWN_SIGNAL') },
      { op: prepare('s2'), reply: PREPARED('s2') },
    ]);
    expect(afterRisk).toHaveProperty('state');
  });

  it('predicts DUPLICATE_SIGNAL for a reused id in every state, before the risk checks, leaving the signal as it was', () => {
    const result = feed(model, [
      { op: prepare('s0'), reply: PREPARED('s0') },
      { op: prepare('s0', { leverage: 99 }), reply: rejected('DUPLICATE_SIGNAL') },
      { op: abort('s0'), reply: ABORTED('s0') },
      { op: prepare('s0'), reply: rejected('DUPLICATE_SIGNAL') },
      { op: confirm('s0'), reply: rejected('INVALID_STATE') },
    ]);
    expect(result).toHaveProperty('state');
    expectFailure(feed(model, [{ op: prepare('s0'), reply: PREPARED('s0') }, { op: prepare('s0'), reply: PREPARED('s0') }]), 2, /^rejected DUPLICATE_SIGNAL \(§6\.2: s0 is already known, state PREPARED\)$/);
  });

  it('predicts INVALID_STATE across terminal states and accepts a repeated ABORT', () => {
    expect(
      feed(model, [
        { op: prepare('s0'), reply: PREPARED('s0') },
        { op: confirm('s0'), reply: CONFIRMED('s0') },
        { op: abort('s0'), reply: rejected('INVALID_STATE') },
        { op: prepare('s1'), reply: PREPARED('s1') },
        { op: abort('s1'), reply: ABORTED('s1') },
        { op: abort('s1'), reply: accepted({ state: 'ABORTED', signal_id: 'id-s1', duplicate: true }) },
        { op: confirm('s1'), reply: rejected('INVALID_STATE') },
      ]),
    ).toHaveProperty('state');
    expectFailure(
      feed(model, [
        { op: prepare('s0'), reply: PREPARED('s0') },
        { op: abort('s0'), reply: ABORTED('s0') },
        { op: confirm('s0'), reply: CONFIRMED('s0') },
      ]),
      3,
      /^rejected INVALID_STATE \(§6\.3\.2: s0 was aborted\)$/,
    );
  });

  it('checks leverage and notional at and above the limits', () => {
    expect(
      feed(model, [
        { op: prepare('a', { leverage: 20 }), reply: PREPARED('a') },
        { op: prepare('b', { qty: 1, price: 1_000_000 }), reply: PREPARED('b') },
        { op: prepare('c', { qty: 1, price: undefined }), reply: PREPARED('c') },
      ]),
    ).toHaveProperty('state');
    expectFailure(feed(model, [{ op: prepare('a', { leverage: 21 }), reply: PREPARED('a') }]), 1, /^rejected RISK_REJECTED \(§6\.6: leverage 21 > maxLeverage 20\)$/);
    expectFailure(feed(model, [{ op: prepare('a', { qty: 2, price: 1_000_000 }), reply: PREPARED('a') }]), 1, /notional 2 × 1000000 > maxNotional 1000000/);
  });

  it('predicts RISK_REJECTED once this run fills maxOpenOrders, and room again after an ABORT or CONFIRM', () => {
    const fill = [
      { op: prepare('f1'), reply: PREPARED('f1') },
      { op: prepare('f2'), reply: PREPARED('f2') },
      { op: prepare('f3'), reply: PREPARED('f3') },
    ];
    expect(feed(model, [...fill, { op: prepare('f4'), reply: rejected('RISK_REJECTED') }, { op: abort('f1'), reply: ABORTED('f1') }, { op: prepare('f4'), reply: PREPARED('f4') }])).toHaveProperty('state');
    expectFailure(feed(model, [...fill, { op: prepare('f4'), reply: PREPARED('f4') }]), 4, /^rejected RISK_REJECTED \(§6\.6: 3 signals of this run are open, maxOpenOrders 3\)$/);
    expectFailure(feed(model, [...fill.slice(0, 2), { op: prepare('f3'), reply: rejected('RISK_REJECTED') }]), 3, /^accepted with state PREPARED/);
  });

  it('allows RISK_REJECTED before the run fills the book only as far as signals of others may fill it', () => {
    const others = signalModel({ ...CONFIG, foreignOpenOrders: 1 });
    const steps = [
      { op: prepare('f1'), reply: PREPARED('f1') },
      { op: prepare('f2'), reply: PREPARED('f2') },
    ];
    expect(feed(others, [...steps, { op: prepare('f3'), reply: rejected('RISK_REJECTED') }])).toHaveProperty('state');
    expect(feed(others, [...steps, { op: prepare('f3'), reply: PREPARED('f3') }])).toHaveProperty('state');
    expectFailure(feed(others, [steps[0]!, { op: prepare('f2'), reply: rejected('RISK_REJECTED') }]), 2, /^accepted with state PREPARED/);
    const unknown = signalModel({ ...CONFIG, foreignOpenOrders: undefined });
    expect(feed(unknown, [{ op: prepare('f1'), reply: rejected('RISK_REJECTED') }])).toHaveProperty('state');
  });

  it('counts signals of this run that certainly expired out of the book', () => {
    const steps = [
      { op: prepare('f1'), reply: PREPARED('f1'), atMs: 0 },
      { op: prepare('f2'), reply: PREPARED('f2'), atMs: 10 },
      { op: prepare('f3'), reply: PREPARED('f3'), atMs: 20 },
    ];
    expect(feed(model, [...steps, { op: prepare('f4'), reply: PREPARED('f4'), atMs: 2_000 }])).toHaveProperty('state');
    expect(feed(model, [...steps, { op: prepare('f4'), reply: rejected('RISK_REJECTED'), atMs: 1_000 }])).toHaveProperty('state');
    expect(feed(model, [...steps, { op: prepare('f4'), reply: PREPARED('f4'), atMs: 1_000 }])).toHaveProperty('state');
  });

  it('predicts SIGNAL_EXPIRED after the TTL, either answer around it, and remembers the outcome', () => {
    const prepared = { op: prepare('s0'), reply: PREPARED('s0'), atMs: 0 };
    expect(feed(model, [prepared, { op: confirm('s0'), reply: rejected('SIGNAL_EXPIRED'), atMs: 1_100 }, { op: abort('s0'), reply: rejected('SIGNAL_EXPIRED'), atMs: 1_110 }])).toHaveProperty('state');
    expectFailure(feed(model, [prepared, { op: confirm('s0'), reply: CONFIRMED('s0'), atMs: 1_100 }]), 2, /^rejected SIGNAL_EXPIRED \(§6\.5/);
    expectFailure(feed(model, [prepared, { op: confirm('s0'), reply: rejected('SIGNAL_EXPIRED'), atMs: 500 }]), 2, /^accepted with state CONFIRMED/);
    expect(feed(model, [prepared, { op: abort('s0'), reply: ABORTED('s0'), atMs: 1_000 }, { op: confirm('s0'), reply: rejected('INVALID_STATE'), atMs: 1_010 }])).toHaveProperty('state');
    expect(feed(model, [prepared, { op: confirm('s0'), reply: rejected('SIGNAL_EXPIRED'), atMs: 1_000 }])).toHaveProperty('state');
    expectFailure(
      feed(model, [prepared, { op: confirm('s0'), reply: rejected('SIGNAL_EXPIRED'), atMs: 1_000 }, { op: abort('s0'), reply: ABORTED('s0'), atMs: 1_010 }]),
      3,
      /^rejected SIGNAL_EXPIRED \(§6\.4: s0 expired\)$/,
    );
  });

  it('lets a signal be forgotten only after 5 TTLs (§6.5)', () => {
    const confirmed = [
      { op: prepare('s0'), reply: PREPARED('s0'), atMs: 0 },
      { op: confirm('s0'), reply: CONFIRMED('s0'), atMs: 10 },
    ];
    expect(feed(model, [...confirmed, { op: confirm('s0'), reply: rejected('UNKNOWN_SIGNAL'), atMs: 5_100 }])).toHaveProperty('state');
    expect(feed(model, [...confirmed, { op: prepare('s0'), reply: PREPARED('s0'), atMs: 5_100 }])).toHaveProperty('state');
    expectFailure(feed(model, [...confirmed, { op: confirm('s0'), reply: rejected('UNKNOWN_SIGNAL'), atMs: 4_000 }]), 3, /original orderId/);
  });

  it('tolerates RATE_LIMITED (with no effect) only when no rate limit is declared', () => {
    expectFailure(feed(model, [{ op: prepare('s0'), reply: rejected('RATE_LIMITED') }]), 1, /PREPARED/);
    const undeclared = signalModel({ ...CONFIG, rateLimitDeclared: false });
    expect(feed(undeclared, [{ op: prepare('s0'), reply: rejected('RATE_LIMITED') }, { op: confirm('s0'), reply: rejected('UNKNOWN_SIGNAL') }])).toHaveProperty('state');
  });

  it('allows RISK_REJECTED for any new PREPARE when no risk limits are declared', () => {
    const blind = signalModel({ ...CONFIG, risk: undefined });
    expect(feed(blind, [{ op: prepare('s0', { leverage: 1 }), reply: rejected('RISK_REJECTED') }, { op: prepare('s1', { leverage: 500 }), reply: PREPARED('s1') }])).toHaveProperty('state');
  });

  it('requires the echoed signal_id', () => {
    expectFailure(feed(model, [{ op: prepare('s0'), reply: accepted({ state: 'PREPARED', signal_id: 'other' }) }]), 1, /signal_id "id-s0"/);
  });
});

describe('ledgerModel', () => {
  const model = ledgerModel({ rateLimitDeclared: true });
  const msg = (key: string, variant = 0): { key: string; messageId: string; variant: number } => ({ key, messageId: `id-${key}`, variant });
  const applied = (key: string, seq: number, duplicate?: boolean): Answer =>
    accepted({ state: 'APPLIED', message_id: `id-${key}`, seq, ...(duplicate === undefined ? {} : { duplicate }) });

  it('accepts new seqs with gaps (others append too) and duplicates at the original seq whatever the payload', () => {
    const result = feed(model, [
      { op: msg('m0'), reply: applied('m0', 7) },
      { op: msg('m1'), reply: applied('m1', 9) },
      { op: msg('m0', 2), reply: applied('m0', 7, true) },
      { op: msg('m1', 1), reply: applied('m1', 9, true) },
      { op: msg('m2'), reply: applied('m2', 10, false) },
    ]);
    expect(result).toHaveProperty('state');
    expect([...(result as { state: LedgerView }).state.seqs]).toEqual([
      ['m0', 7],
      ['m1', 9],
      ['m2', 10],
    ]);
  });

  it('refuses a redelivery answered as new (no duplicate flag, a new seq), naming §11.2.4 and the original seq', () => {
    expectFailure(feed(model, [{ op: msg('m0'), reply: applied('m0', 3) }, { op: msg('m0'), reply: applied('m0', 4) }]), 2, /^accepted with state APPLIED, duplicate: true and the original seq 3 \(§11\.2\.4/);
    expectFailure(feed(model, [{ op: msg('m0'), reply: applied('m0', 3) }, { op: msg('m0'), reply: applied('m0', 4, true) }]), 2, /original seq 3/);
  });

  it('refuses duplicate: true on a first application, and a seq that does not grow', () => {
    expectFailure(feed(model, [{ op: msg('m0'), reply: applied('m0', 3, true) }]), 1, /no duplicate: true \(§11\.2\.3/);
    expectFailure(feed(model, [{ op: msg('m0'), reply: applied('m0', 3) }, { op: msg('m1'), reply: applied('m1', 3) }]), 2, /a seq above 3/);
    expectFailure(feed(model, [{ op: msg('m0'), reply: applied('m0', -1) }]), 1, /a non-negative integer seq/);
    expectFailure(feed(model, [{ op: msg('m0'), reply: rejected('INVALID_SIGNAL') }]), 1, /APPLIED/);
  });
});

describe('nonceModel', () => {
  const model = nonceModel({ rateLimitDeclared: true });
  const frame = (nonce: string): { nonce: string; label: string } => ({ nonce, label: `frame ${nonce}` });

  it('lets fresh frames through whatever the signal gets, and rejects a nonce seen before with REPLAY_DETECTED', () => {
    expect(
      feed(model, [
        { op: frame('n1'), reply: PREPARED('s0') },
        { op: frame('n2'), reply: rejected('UNKNOWN_SIGNAL') },
        { op: frame('n1'), reply: rejected('REPLAY_DETECTED') },
        { op: frame('n2'), reply: rejected('REPLAY_DETECTED') },
      ]),
    ).toHaveProperty('state');
  });

  it('refuses a replay that is accepted, naming §4.4.3', () => {
    expectFailure(feed(model, [{ op: frame('n1'), reply: PREPARED('s0') }, { op: frame('n1'), reply: rejected('DUPLICATE_SIGNAL') }]), 2, /^rejected REPLAY_DETECTED \(§4\.4\.3/);
  });

  it('refuses an authentication failure of a fresh frame', () => {
    for (const reason of ['REPLAY_DETECTED', 'INVALID_SIGNATURE', 'STALE_TIMESTAMP', 'IPC_ERROR'] as const) {
      expectFailure(feed(model, [{ op: frame('n1'), reply: rejected(reason) }]), 1, /^a reply past authentication/);
    }
  });

  it('does not remember the nonce of a rate-limited frame (tolerated without a declared rate limit)', () => {
    const undeclared = nonceModel({ rateLimitDeclared: false });
    expect(feed(undeclared, [{ op: frame('n1'), reply: rejected('RATE_LIMITED') }, { op: frame('n1'), reply: PREPARED('s0') }])).toHaveProperty('state');
    expectFailure(feed(model, [{ op: frame('n1'), reply: rejected('RATE_LIMITED') }]), 1, /past authentication/);
  });
});
