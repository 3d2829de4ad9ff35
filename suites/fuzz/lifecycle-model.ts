import type { ReasonCode } from '../../protocol/index.js';
import { show } from '../conformance/expect.js';
import type { Answer, Observation, RequestTimes, SequentialModel, Step } from './lifecycle-linearize.js';

/**
 * Sequential models of the stateful parts of docs/SPEC.md, for the fuzz properties
 * of lifecycle.ts (pure: no sockets, no timers; times are inputs):
 *
 * - {@link signalModel}: PREPARE / CONFIRM / ABORT (§6.2–§6.6);
 * - {@link ledgerModel}: MESSAGE deduplication (§11.2);
 * - {@link nonceModel}: the hmac-v2 replay cache (§4.4.3).
 *
 * Each says, for one request and its reply in one state, whether the spec allows that
 * reply and what the state is afterwards. Where the spec allows several replies (a
 * signal whose TTL may or may not have run out by the time the server processed the
 * request, a risk limit that depends on signals of others), the model accepts each of
 * them and the reply decides the state. {@link linearize} searches the order.
 */

/** The risk limits of §6.6 (as declared in the `risk` capability). */
export interface RiskLimits {
  readonly maxLeverage: number;
  readonly maxNotional: number;
  readonly maxOpenOrders: number;
}

// ---------------------------------------------------------------- timing

/** Whether a duration had passed between the server's processing of two requests. */
export type Elapsed = 'not-yet' | 'passed' | 'either';

/**
 * Slack around a TTL: clocks of different processes, their granularity, and `>` versus
 * `≥` at the boundary may decide either way within it (at least 10 ms, 5 % of the TTL).
 */
export function timingMarginMs(ttlMs: number): number {
  return Math.max(10, ttlMs * 0.05);
}

/**
 * Had `durationMs` passed between the server's processing of `earlier` and of `later`?
 * The server processed each request between its send and the arrival of its reply, so
 * the interval between them lies within [later.sent − earlier.replied, later.replied − earlier.sent].
 */
export function elapsedBetween(earlier: RequestTimes, later: RequestTimes, durationMs: number, marginMs: number): Elapsed {
  if (later.repliedAtMs - earlier.sentAtMs < durationMs - marginMs) return 'not-yet';
  if (later.sentAtMs - earlier.repliedAtMs >= durationMs + marginMs) return 'passed';
  return 'either';
}

// ---------------------------------------------------------------- shared helpers

/** One reply the spec allows: what it is (for messages) and the state it leads to. */
interface Outcome<R> {
  readonly expected: string;
  /** The state after `reply` when `reply` is this outcome, else `NO_MATCH`. */
  readonly match: (reply: Answer) => R | typeof NO_MATCH;
}
const NO_MATCH: unique symbol = Symbol('no match');

function rejectedWith<R>(reason: ReasonCode, why: string, after: R): Outcome<R> {
  return { expected: `rejected ${reason} (${why})`, match: (reply) => (reply.kind === 'rejected' && reply.reason === reason ? after : NO_MATCH) };
}

/** The first outcome `reply` matches, as a step; else what was allowed. */
function pick<S, R>(reply: Answer, outcomes: readonly Outcome<R>[], next: (r: R) => S): Step<S> {
  for (const o of outcomes) {
    const r = o.match(reply);
    if (r !== NO_MATCH) return { ok: true, state: next(r) };
  }
  return { ok: false, expected: outcomes.map((o) => o.expected).join(', or ') };
}

/**
 * RATE_LIMITED (§6.7): never right when the target declares a rate limit (the runs stay
 * under its burst); otherwise the target may limit with parameters the suite does not
 * know, and a limited request has no effect.
 */
function rateLimitedAllowed(reply: Answer, rateLimitDeclared: boolean): boolean {
  return !rateLimitDeclared && reply.kind === 'rejected' && reply.reason === 'RATE_LIMITED';
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

// ---------------------------------------------------------------- signals (§6)

/** A signal request of a run. `key` is the short name in messages (`s1`), `signalId` the id on the wire. */
export type SignalOp =
  | {
      readonly kind: 'PREPARE';
      readonly key: string;
      readonly signalId: string;
      readonly leverage: number;
      readonly qty: number;
      /** Absent: no notional check (§6.6). */
      readonly price?: number | undefined;
    }
  | { readonly kind: 'CONFIRM' | 'ABORT'; readonly key: string; readonly signalId: string };

/** What a signal model knows about the target. */
export interface SignalModelConfig {
  readonly prepareTtlMs: number;
  /** Declared risk limits; undefined when not declared: RISK_REJECTED is then allowed for every new PREPARE. */
  readonly risk: RiskLimits | undefined;
  /**
   * Signals of others still PREPARED when the run started (STATUS openOrders, §6.8):
   * they can only expire during the run. Undefined when unknown (no `status`): then
   * any PREPARE may meet a full book.
   */
  readonly foreignOpenOrders: number | undefined;
  readonly rateLimitDeclared: boolean;
}

/** What the server must remember about one signal id (§6.2–§6.5). */
export type SignalRecord =
  | { readonly state: 'PREPARED' | 'ABORTED' | 'EXPIRED'; readonly prepared: RequestTimes }
  | { readonly state: 'CONFIRMED'; readonly prepared: RequestTimes; readonly orderId: string; readonly fillPrice: number };

/** The model state: the run's signals by key; a key without a record is unused. */
export type SignalBook = ReadonlyMap<string, SignalRecord>;

/** Terminal states are remembered at least this many TTLs (§6.5); past that a signal may be forgotten. */
export const RETENTION_TTLS = 5;

/** How many of the run's PREPARED signals are certainly / possibly still open when `at` is processed. */
function openSignals(book: SignalBook, at: RequestTimes, ttlMs: number, marginMs: number): { certain: number; possible: number } {
  let certain = 0;
  let possible = 0;
  for (const rec of book.values()) {
    if (rec.state !== 'PREPARED') continue;
    const e = elapsedBetween(rec.prepared, at, ttlMs, marginMs);
    if (e !== 'passed') possible++;
    if (e === 'not-yet') certain++;
  }
  return { certain, possible };
}

type Next = SignalRecord | undefined;

function prepareOutcomes(book: SignalBook, op: Extract<SignalOp, { kind: 'PREPARE' }>, obs: Observation<SignalOp>, cfg: SignalModelConfig, marginMs: number): Outcome<Next>[] {
  const { risk } = cfg;
  const prepared: Outcome<Next> = {
    expected: `accepted with state PREPARED and signal_id ${show(op.signalId)} (§6.2)`,
    match: (reply) =>
      reply.kind === 'accepted' && reply.fields.state === 'PREPARED' && reply.fields.signal_id === op.signalId
        ? { state: 'PREPARED', prepared: { sentAtMs: obs.sentAtMs, repliedAtMs: obs.repliedAtMs } }
        : NO_MATCH,
  };
  if (risk === undefined) return [prepared, rejectedWith('RISK_REJECTED', '§6.6 with limits the target does not declare', undefined)];
  if (op.leverage > risk.maxLeverage) return [rejectedWith('RISK_REJECTED', `§6.6: leverage ${op.leverage} > maxLeverage ${risk.maxLeverage}`, undefined)];
  if (op.price !== undefined && op.qty * op.price > risk.maxNotional) {
    return [rejectedWith('RISK_REJECTED', `§6.6: notional ${op.qty} × ${op.price} > maxNotional ${risk.maxNotional}`, undefined)];
  }
  const open = openSignals(book, obs, cfg.prepareTtlMs, marginMs);
  const out: Outcome<Next>[] = [];
  if (open.certain + 1 <= risk.maxOpenOrders) out.push(prepared);
  const foreign = cfg.foreignOpenOrders ?? risk.maxOpenOrders;
  if (open.possible + foreign + 1 > risk.maxOpenOrders) {
    const why =
      open.certain + 1 > risk.maxOpenOrders
        ? `§6.6: ${open.certain} signals of this run are open, maxOpenOrders ${risk.maxOpenOrders}`
        : `§6.6: up to ${open.possible} signals of this run and ${cfg.foreignOpenOrders === undefined ? 'an unknown number' : String(foreign)} of others open, maxOpenOrders ${risk.maxOpenOrders}`;
    out.push(rejectedWith('RISK_REJECTED', why, undefined));
  }
  return out;
}

function confirmedFirst(op: SignalOp, rec: SignalRecord): Outcome<Next> {
  return {
    expected: `accepted with state CONFIRMED, signal_id ${show(op.signalId)}, a non-empty string orderId and a number fillPrice (§6.3)`,
    match: (reply) => {
      if (reply.kind !== 'accepted') return NO_MATCH;
      const { state, signal_id: id, orderId, fillPrice } = reply.fields;
      if (state !== 'CONFIRMED' || id !== op.signalId || !isNonEmptyString(orderId) || !isFiniteNumber(fillPrice)) return NO_MATCH;
      return { state: 'CONFIRMED', prepared: rec.prepared, orderId, fillPrice };
    },
  };
}

function confirmedAgain(op: SignalOp, rec: Extract<SignalRecord, { state: 'CONFIRMED' }>): Outcome<Next> {
  return {
    expected: `accepted with state CONFIRMED and the original orderId ${show(rec.orderId)} and fillPrice ${rec.fillPrice} (§6.3.1: ${op.key} was confirmed already; a repeated CONFIRM must not execute again)`,
    match: (reply) =>
      reply.kind === 'accepted' &&
      reply.fields.state === 'CONFIRMED' &&
      reply.fields.signal_id === op.signalId &&
      reply.fields.orderId === rec.orderId &&
      reply.fields.fillPrice === rec.fillPrice
        ? rec
        : NO_MATCH,
  };
}

function aborted(op: SignalOp, rec: SignalRecord, again: boolean): Outcome<Next> {
  return {
    expected: `accepted with state ABORTED and signal_id ${show(op.signalId)} (§6.4${again ? `: ${op.key} was aborted already, ABORT is idempotent` : ''})`,
    match: (reply) =>
      reply.kind === 'accepted' && reply.fields.state === 'ABORTED' && reply.fields.signal_id === op.signalId ? { state: 'ABORTED', prepared: rec.prepared } : NO_MATCH,
  };
}

/** CONFIRM or ABORT of a known signal. */
function settleOutcomes(op: SignalOp, rec: SignalRecord, obs: Observation<SignalOp>, cfg: SignalModelConfig, marginMs: number): Outcome<Next>[] {
  const confirm = op.kind === 'CONFIRM';
  const section = confirm ? '§6.3.2' : '§6.4';
  const expired = (why: string): Outcome<Next> => rejectedWith('SIGNAL_EXPIRED', why, { state: 'EXPIRED', prepared: rec.prepared });
  switch (rec.state) {
    case 'PREPARED': {
      const live = confirm ? confirmedFirst(op, rec) : aborted(op, rec, false);
      const e = elapsedBetween(rec.prepared, obs, cfg.prepareTtlMs, marginMs);
      if (e === 'not-yet') return [live];
      if (e === 'passed') return [expired(`§6.5: ${op.key} was prepared ${cfg.prepareTtlMs} ms or more before (prepareTtlMs)`)];
      return [live, expired(`§6.5: ${op.key} was prepared about prepareTtlMs (${cfg.prepareTtlMs} ms) before`)];
    }
    case 'CONFIRMED':
      return confirm ? [confirmedAgain(op, rec)] : [rejectedWith('INVALID_STATE', `§6.4: ${op.key} was confirmed`, rec)];
    case 'ABORTED':
      return confirm ? [rejectedWith('INVALID_STATE', `§6.3.2: ${op.key} was aborted`, rec)] : [aborted(op, rec, true)];
    case 'EXPIRED':
      return [rejectedWith('SIGNAL_EXPIRED', `${section}: ${op.key} expired`, rec)];
  }
}

function signalOutcomes(book: SignalBook, obs: Observation<SignalOp>, cfg: SignalModelConfig, marginMs: number, rec: SignalRecord | undefined): Outcome<Next>[] {
  const { op } = obs;
  if (rec === undefined) {
    if (op.kind === 'PREPARE') return prepareOutcomes(book, op, obs, cfg, marginMs);
    return [rejectedWith('UNKNOWN_SIGNAL', `${op.kind === 'CONFIRM' ? '§6.3.2' : '§6.4'}: ${op.key} was never prepared`, undefined)];
  }
  if (op.kind === 'PREPARE') return [rejectedWith('DUPLICATE_SIGNAL', `§6.2: ${op.key} is already known, state ${rec.state}`, rec)];
  return settleOutcomes(op, rec, obs, cfg, marginMs);
}

/**
 * The PREPARE / CONFIRM / ABORT model (§6.2–§6.6). Predicts, per request:
 * - PREPARE: DUPLICATE_SIGNAL for a known id (before risk, §6.6); RISK_REJECTED above
 *   maxLeverage or maxNotional; against maxOpenOrders, RISK_REJECTED when this run's
 *   certainly-open signals fill the book, accepted (PREPARED) when they leave room, and
 *   either when expiries or others' signals make it uncertain;
 * - CONFIRM: UNKNOWN_SIGNAL, INVALID_STATE (aborted), SIGNAL_EXPIRED (expired, or TTL
 *   passed), a first execution (CONFIRMED with an orderId and fillPrice), and for a
 *   confirmed signal the original orderId and fillPrice again (§6.3.1);
 * - ABORT: UNKNOWN_SIGNAL, INVALID_STATE (confirmed), SIGNAL_EXPIRED, ABORTED (again
 *   for an aborted one).
 * A signal prepared `RETENTION_TTLS` TTLs or more before may also have been forgotten (§6.5).
 * The `duplicate` flag is a SHOULD (§6.3.1, §6.4) and is not judged.
 */
export function signalModel(cfg: SignalModelConfig): SequentialModel<SignalBook, SignalOp> {
  const marginMs = timingMarginMs(cfg.prepareTtlMs);
  return {
    initial: new Map(),
    label: (op) => {
      if (op.kind !== 'PREPARE') return `${op.kind} ${op.key}`;
      return `PREPARE ${op.key} leverage ${op.leverage} qty ${op.qty}${op.price === undefined ? ' (no price)' : ` price ${op.price}`}`;
    },
    key: (book) =>
      [...book.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, r]) => `${k}:${r.state}:${r.prepared.sentAtMs}${r.state === 'CONFIRMED' ? `:${r.orderId}:${r.fillPrice}` : ''}`)
        .join(';'),
    step: (book, obs) => {
      if (rateLimitedAllowed(obs.reply, cfg.rateLimitDeclared)) return { ok: true, state: book };
      const rec = book.get(obs.op.key);
      const outcomes = signalOutcomes(book, obs, cfg, marginMs, rec);
      if (rec !== undefined && elapsedBetween(rec.prepared, obs, RETENTION_TTLS * cfg.prepareTtlMs, marginMs) !== 'not-yet') {
        const rest = new Map(book);
        rest.delete(obs.op.key);
        outcomes.push(...signalOutcomes(rest, obs, cfg, marginMs, undefined).map((o) => ({ ...o, expected: `${o.expected} (forgotten after retention, §6.5)` })));
      }
      return pick(obs.reply, outcomes, (next) => {
        const out = new Map(book);
        if (next === undefined) out.delete(obs.op.key);
        else out.set(obs.op.key, next);
        return out;
      });
    },
  };
}

// ---------------------------------------------------------------- messages (§11)

/** A MESSAGE of a run: `key` is the short name (`m1`), `messageId` the id on the wire, `variant` its topic and payload (`v1`, `v2`; 0: none). */
export interface MessageOp {
  readonly key: string;
  readonly messageId: string;
  readonly variant: number;
}

/** The model state: `seq` of each of the run's applied messages, and the largest `seq` handed out so far. */
export interface LedgerView {
  readonly seqs: ReadonlyMap<string, number>;
  readonly lastSeq: number;
}

/**
 * MESSAGE deduplication (§11.2). Predicts: a `message_id` not yet applied is applied
 * once — accepted, state APPLIED, its message_id, a `seq` greater than every `seq` of
 * the run's earlier applications (the ledger is append-only; others may append in
 * between), no `duplicate: true` (§11.2.3); every redelivery, on any connection and with
 * any topic or payload, is accepted with `duplicate: true` and the original `seq` (§11.2.4).
 */
export function ledgerModel(cfg: { readonly rateLimitDeclared: boolean }): SequentialModel<LedgerView, MessageOp> {
  return {
    initial: { seqs: new Map(), lastSeq: -1 },
    label: (op) => `MESSAGE ${op.key}${op.variant === 0 ? '' : ` v${op.variant}`}`,
    key: (v) =>
      [...v.seqs.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, s]) => `${k}:${s}`)
        .join(';'),
    step: (view, obs) => {
      const { op, reply } = obs;
      if (rateLimitedAllowed(reply, cfg.rateLimitDeclared)) return { ok: true, state: view };
      const original = view.seqs.get(op.key);
      const applied = reply.kind === 'accepted' && reply.fields.state === 'APPLIED' && reply.fields.message_id === op.messageId;
      if (original !== undefined) {
        const ok = applied && reply.fields.seq === original && reply.fields.duplicate === true;
        return ok
          ? { ok: true, state: view }
          : { ok: false, expected: `accepted with state APPLIED, duplicate: true and the original seq ${original} (§11.2.4: ${op.key} is in the ledger already)` };
      }
      const seq = reply.kind === 'accepted' ? reply.fields.seq : undefined;
      if (applied && typeof seq === 'number' && Number.isSafeInteger(seq) && seq > view.lastSeq && reply.fields.duplicate !== true) {
        const seqs = new Map(view.seqs);
        seqs.set(op.key, seq);
        return { ok: true, state: { seqs, lastSeq: seq } };
      }
      const after = view.lastSeq < 0 ? 'a non-negative integer seq' : `a seq above ${view.lastSeq} (the seq of this run's last new message)`;
      return { ok: false, expected: `accepted with state APPLIED, message_id ${show(op.messageId)}, ${after} and no duplicate: true (§11.2.3: ${op.key} was never applied)` };
    },
  };
}

// ---------------------------------------------------------------- replay cache (§4.4.3)

/** An hmac-v2 request frame of a run: its nonce and a label saying what it is (`PREPARE s1, nonce n2, resend of request 2`). */
export interface FrameOp {
  readonly nonce: string;
  readonly label: string;
}

/** Reasons that mean a frame failed authentication (§4.4–§4.5): never right for a correctly signed, fresh frame. */
const AUTH_FAILURES: readonly ReasonCode[] = ['IPC_ERROR', 'INVALID_SIGNATURE', 'STALE_TIMESTAMP', 'REPLAY_DETECTED'];

/**
 * The replay cache (§4.4.3), for correctly signed frames with a current `ts`. Predicts:
 * a frame whose nonce passed the replay check before (an exact resend, or a new frame
 * reusing the nonce) is rejected REPLAY_DETECTED; any other frame passes authentication
 * — its reply is not one of IPC_ERROR, INVALID_SIGNATURE, STALE_TIMESTAMP,
 * REPLAY_DETECTED — and its nonce is remembered from then on. What the signal itself
 * gets is not judged here (that is {@link signalModel}'s job).
 */
export function nonceModel(cfg: { readonly rateLimitDeclared: boolean }): SequentialModel<ReadonlySet<string>, FrameOp> {
  return {
    initial: new Set(),
    label: (op) => op.label,
    key: (seen) => [...seen].sort().join(','),
    step: (seen, obs) => {
      const { op, reply } = obs;
      if (rateLimitedAllowed(reply, cfg.rateLimitDeclared)) return { ok: true, state: seen };
      const rejectedFor = reply.kind === 'rejected' ? reply.reason : undefined;
      if (seen.has(op.nonce)) {
        return rejectedFor === 'REPLAY_DETECTED'
          ? { ok: true, state: seen }
          : { ok: false, expected: 'rejected REPLAY_DETECTED (§4.4.3: its nonce was accepted before, within the timestamp window)' };
      }
      // RATE_LIMITED is left here only with a declared rate limit, which the input stays under (§6.7).
      if (rejectedFor !== undefined && (rejectedFor === 'RATE_LIMITED' || (AUTH_FAILURES as readonly string[]).includes(rejectedFor))) {
        return {
          ok: false,
          expected: `a reply past authentication, not ${AUTH_FAILURES.join('/')} (§4.4.3: its nonce was never accepted, and the frame is correctly signed and current) nor RATE_LIMITED (§6.7: under the declared burst)`,
        };
      }
      const next = new Set(seen);
      next.add(op.nonce);
      return { ok: true, state: next };
    },
  };
}
