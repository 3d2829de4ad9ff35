import { describe, expect, it } from 'vitest';
import type { ReasonCode } from '../../protocol/index.js';
import { type Answer, type Observation, describeAnswer, linearize } from './lifecycle-linearize.js';
import { type MessageOp, type SignalOp, ledgerModel, nonceModel, signalModel } from './lifecycle-model.js';

/** The order search of lifecycle-linearize.ts over hand-made histories (times in ms, made up). */

const accepted = (fields: Record<string, unknown>): Answer => ({ kind: 'accepted', id: undefined, fields: { accepted: true, ...fields } });
const rejected = (reason: ReasonCode): Answer => ({ kind: 'rejected', id: undefined, reason, fields: { rejected: true, reason } });

const signals = signalModel({ prepareTtlMs: 1_000, risk: { maxLeverage: 20, maxNotional: 1_000_000, maxOpenOrders: 20 }, foreignOpenOrders: 0, rateLimitDeclared: true });
const op = (kind: SignalOp['kind'], key: string): SignalOp =>
  kind === 'PREPARE' ? { kind, key, signalId: `id-${key}`, leverage: 1, qty: 0.01, price: 50_000 } : { kind, key, signalId: `id-${key}` };

let next = 0;
/** An observation: request `index` on `conn`, in flight from `sent` to `replied`. */
function obs<Op>(conn: number, o: Op, sent: number, replied: number, reply: Answer): Observation<Op> {
  return { index: ++next, conn, op: o, sentAtMs: sent, repliedAtMs: replied, reply };
}

describe('linearize', () => {
  it('explains a sequential history in send order', () => {
    next = 0;
    const history = [
      obs(0, op('PREPARE', 's0'), 0, 1, accepted({ state: 'PREPARED', signal_id: 'id-s0' })),
      obs(1, op('CONFIRM', 's0'), 2, 3, accepted({ state: 'CONFIRMED', signal_id: 'id-s0', orderId: 'o', fillPrice: 1 })),
      obs(0, op('ABORT', 's0'), 4, 5, rejected('INVALID_STATE')),
    ];
    expect(linearize(signals, history)).toEqual({ kind: 'explained', order: [1, 2, 3] });
  });

  it('finds the order of overlapping requests on two connections that the replies imply', () => {
    next = 0;
    // c2's ABORT was sent after c1's CONFIRM but overlapped it, and won: the CONFIRM saw an aborted signal.
    const history = [
      obs(0, op('PREPARE', 's0'), 0, 1, accepted({ state: 'PREPARED', signal_id: 'id-s0' })),
      obs(0, op('CONFIRM', 's0'), 2, 9, rejected('INVALID_STATE')),
      obs(1, op('ABORT', 's0'), 3, 5, accepted({ state: 'ABORTED', signal_id: 'id-s0' })),
    ];
    expect(linearize(signals, history)).toEqual({ kind: 'explained', order: [1, 3, 2] });
  });

  it('respects real time: a request sent after another reply arrived cannot have been processed before it', () => {
    next = 0;
    const history = [
      obs(0, op('PREPARE', 's0'), 0, 1, accepted({ state: 'PREPARED', signal_id: 'id-s0' })),
      obs(0, op('CONFIRM', 's0'), 2, 3, rejected('INVALID_STATE')),
      obs(1, op('ABORT', 's0'), 4, 5, accepted({ state: 'ABORTED', signal_id: 'id-s0' })),
    ];
    const result = linearize(signals, history);
    expect(result.kind).toBe('contradicted');
    expect(result).toMatchObject({ problem: expect.stringMatching(/^request 2 \(connection 1, CONFIRM s0\): expected accepted with state CONFIRMED.*, got rejected INVALID_STATE$/) });
  });

  it('keeps each connection in send order (§5.2), even when the replies overlap', () => {
    next = 0;
    const history = [
      obs(0, op('ABORT', 's0'), 0, 10, accepted({ state: 'ABORTED', signal_id: 'id-s0' })),
      obs(0, op('PREPARE', 's0'), 0, 10, accepted({ state: 'PREPARED', signal_id: 'id-s0' })),
    ];
    expect(linearize(signals, history)).toMatchObject({ kind: 'contradicted', problem: expect.stringMatching(/^request 1 \(connection 1, ABORT s0\): expected rejected UNKNOWN_SIGNAL/) });
  });

  it('names the requests that were in flight when no order explains the replies', () => {
    next = 0;
    const history = [
      obs(0, op('PREPARE', 's0'), 0, 1, accepted({ state: 'PREPARED', signal_id: 'id-s0' })),
      obs(0, op('CONFIRM', 's0'), 2, 9, accepted({ state: 'CONFIRMED', signal_id: 'id-s0', orderId: 'o-1', fillPrice: 1 })),
      obs(1, op('CONFIRM', 's0'), 3, 8, accepted({ state: 'CONFIRMED', signal_id: 'id-s0', orderId: 'o-2', fillPrice: 1 })),
    ];
    const result = linearize(signals, history);
    expect(result).toMatchObject({
      kind: 'contradicted',
      problem: expect.stringMatching(/^request 3 \(connection 2, CONFIRM s0\): expected accepted with state CONFIRMED and the original orderId "o-1".*; no other order explains the replies either \(it overlapped request 2 on connection 1, CONFIRM s0\)$/),
    });
  });

  it('accepts two overlapping CONFIRMs of one signal that agree, whichever the server took first', () => {
    next = 0;
    const confirmed = (dup: boolean): Answer => accepted({ state: 'CONFIRMED', signal_id: 'id-s0', orderId: 'o-1', fillPrice: 1, ...(dup ? { duplicate: true } : {}) });
    const history = [
      obs(0, op('PREPARE', 's0'), 0, 1, accepted({ state: 'PREPARED', signal_id: 'id-s0' })),
      obs(0, op('CONFIRM', 's0'), 2, 9, confirmed(true)),
      obs(1, op('CONFIRM', 's0'), 3, 8, confirmed(false)),
    ];
    expect(linearize(signals, history).kind).toBe('explained');
  });

  it('orders redeliveries of one message across connections by the seqs and duplicate flags', () => {
    next = 0;
    const ledger = ledgerModel({ rateLimitDeclared: true });
    const m = (key: string): MessageOp => ({ key, messageId: `id-${key}`, variant: 0 });
    const applied = (key: string, seq: number, duplicate = false): Answer => accepted({ state: 'APPLIED', message_id: `id-${key}`, seq, ...(duplicate ? { duplicate: true } : {}) });
    const overlapping = [obs(0, m('m0'), 0, 10, applied('m0', 5, true)), obs(1, m('m0'), 1, 9, applied('m0', 5)), obs(2, m('m1'), 2, 8, applied('m1', 4))];
    expect(linearize(ledger, overlapping)).toEqual({ kind: 'explained', order: [3, 2, 1] });
    next = 0;
    const apart = [obs(0, m('m0'), 0, 1, applied('m0', 5, true)), obs(1, m('m0'), 2, 3, applied('m0', 5))];
    expect(linearize(ledger, apart)).toMatchObject({ kind: 'contradicted', problem: expect.stringMatching(/^request 1 \(connection 1, MESSAGE m0\): expected .*no duplicate: true \(§11\.2\.3/) });
  });

  it('lets either of two overlapping copies of a frame be the one that passes the replay check', () => {
    next = 0;
    const nonces = nonceModel({ rateLimitDeclared: true });
    const f = { nonce: 'n1', label: 'PREPARE s0, nonce n1' };
    const history = [obs(0, f, 0, 10, rejected('REPLAY_DETECTED')), obs(1, f, 1, 5, accepted({ state: 'PREPARED', signal_id: 'id-s0' }))];
    expect(linearize(nonces, history)).toEqual({ kind: 'explained', order: [2, 1] });
    next = 0;
    const both = [obs(0, f, 0, 10, accepted({})), obs(1, f, 1, 5, rejected('DUPLICATE_SIGNAL'))];
    expect(linearize(nonces, both).kind).toBe('contradicted');
  });

  it('gives up as inconclusive past its state budget', () => {
    next = 0;
    const nonces = nonceModel({ rateLimitDeclared: true });
    const history = [0, 1, 2].flatMap((conn) => [0, 1, 2].map((i) => obs(conn, { nonce: `n${conn}.${i}`, label: 'x' }, 0, 100, rejected('UNKNOWN_SIGNAL'))));
    history.push(obs(0, { nonce: 'n0.0', label: 'replay' }, 0, 100, accepted({})));
    expect(linearize(nonces, history, 5)).toEqual({ kind: 'inconclusive', states: 5 });
    expect(linearize(nonces, history).kind).toBe('contradicted');
  });
});

describe('describeAnswer', () => {
  it('shows the fields that decide an outcome, without accepted, id and ipc_latency_ms', () => {
    expect(describeAnswer({ kind: 'accepted', id: 3, fields: { accepted: true, id: 3, state: 'CONFIRMED', orderId: 'o', ipc_latency_ms: 0.2 } })).toBe('accepted {"state":"CONFIRMED","orderId":"o"}');
    expect(describeAnswer(rejected('REPLAY_DETECTED'))).toBe('rejected REPLAY_DETECTED');
  });
});
