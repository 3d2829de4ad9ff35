import fc from 'fast-check';
import type { Capabilities, CaseContext } from '../../harness/case.js';
import { type FuzzProperty, fuzzProperty, replyProblem } from '../../harness/fuzz-property.js';
import { isPlainObject } from '../../protocol/index.js';
import { CONTROL_CONN, type Outgoing, ScheduledExchange } from './lifecycle-exchange.js';
import { type Observation, type SequentialModel, linearize } from './lifecycle-linearize.js';
import { type FrameOp, type MessageOp, type RiskLimits, type SignalOp, ledgerModel, nonceModel, signalModel } from './lifecycle-model.js';

/**
 * Stateful (model-based) fuzz properties: signal lifecycle (§6), message
 * deduplication (§11.2) and the hmac-v2 replay cache (§4.4.3).
 *
 * An input is a list of fast-check commands (`fc.AsyncCommand`s: each a request on one of
 * up to three connections, with ids derived from small integers — `s0`…`s3`,
 * `m0`…`m4` — so a shrunk counterexample reads like `c1:PREPARE s0,c1:CONFIRM s0,
 * c1:CONFIRM s0`) and a fast-check scheduler. `fc.scheduledModelRun` runs the
 * commands one after the other while the scheduler decides, before each one, which
 * replies must have arrived first: so requests on different connections overlap in
 * scheduled ways. Replies are read in the background with their times; afterwards
 * every reply is checked on its own (well-formed, known reason, id echoed) and the
 * whole run against a sequential model (lifecycle-model.ts) by searching for an order
 * the server may have processed the requests in (lifecycle-linearize.ts).
 *
 * Ids are fresh for every input (`ctx.uniqueId`), so inputs never see each other's
 * signals or messages. Open signals count against maxOpenOrders for later inputs
 * too, so a lifecycle input ends by ABORTing every signal whose PREPARE was accepted
 * (those ABORTs are judged by the model as well), and starts by reading STATUS
 * openOrders (when the target has `status`): signals left open by others can only
 * expire during the input, so that count bounds how full the book can be. (This
 * assumes the inputs against one target run one at a time, as the engine runs them:
 * another client preparing signals meanwhile could make a PREPARE meet a full book
 * the model did not allow for.)
 */

/** Commands per input at most (a command is skipped when its connection's share of the rate-limit burst is spent). */
export const MAX_COMMANDS = 30;
/** Connections the commands use: `c1`…`c3`. */
const CONNECTIONS = 3;
const SIGNAL_KEYS = 4;
const MESSAGE_KEYS = 5;
const REPLAY_KEYS = 3;
/** PREPAREs within the risk limits per PREPARE at or above one (or without price). */
const OK_WEIGHT = 6;
/** FILL commands (many PREPAREs in one write) are generated when maxOpenOrders is at most this. */
const FILL_LIMIT = 64;

// ---------------------------------------------------------------- commands

/** fast-check's "model" of these commands: only what the client side needs to know. */
interface ClientModel {
  /** Requests one connection may carry in an input: below the rate-limit burst (§6.7). */
  readonly budget: number;
  /** Requests sent per connection so far. */
  readonly sent: number[];
  /** Distinct frames sent so far (a resend needs one). */
  frames: number;
  /** True once the replies so far contradict the model: every later command is then skipped (see {@link Verdict}). */
  readonly stopped: () => boolean;
}

/** Carries out one generated action against the target. */
interface Performer<A> {
  perform(conn: number, action: A): Promise<void>;
}

/** One generated request (or batch) on connection `conn`. */
class Command<A> implements fc.AsyncCommand<ClientModel, Performer<A>> {
  /**
   * @param text how the command prints in a counterexample (after `c<conn>:`).
   * @param requests frames the command writes.
   * @param newFrames distinct frames it adds (for resends).
   * @param needsFrame true for a resend: skipped until some frame was sent.
   */
  constructor(
    readonly conn: number,
    readonly action: A,
    private readonly text: string,
    private readonly requests = 1,
    private readonly newFrames = 1,
    private readonly needsFrame = false,
  ) {}

  check(m: Readonly<ClientModel>): boolean {
    if (m.stopped()) return false;
    return (m.sent[this.conn] ?? 0) + this.requests <= m.budget && (!this.needsFrame || m.frames > 0);
  }

  async run(m: ClientModel, r: Performer<A>): Promise<void> {
    m.sent[this.conn] = (m.sent[this.conn] ?? 0) + this.requests;
    m.frames += this.newFrames;
    await r.perform(this.conn, this.action);
  }

  toString(): string {
    return `c${this.conn + 1}:${this.text}`;
  }
}

/** An input of the stateful properties: commands (printed first in a counterexample) and the scheduler. */
export interface ScheduledCommands<A> {
  readonly commands: ReadonlyArray<Command<A>>;
  readonly scheduler: fc.Scheduler;
}

/**
 * The commands are an `fc.array`, run by `fc.scheduledModelRun`. (`fc.commands` would
 * shrink by which commands ran, so its counterexamples replay only with its own
 * `replayPath`, which a fuzz property cannot receive; an array replays from seed and
 * path alone, and shrinks as well here, since a command skipped after a
 * contradiction changes nothing and is dropped like any other.)
 */
function scheduledCommands<A>(command: fc.Arbitrary<Command<A>>): fc.Arbitrary<ScheduledCommands<A>> {
  return fc.record({ commands: fc.array(command, { maxLength: MAX_COMMANDS, size: 'medium' }), scheduler: fc.scheduler() });
}

const connArb = fc.nat({ max: CONNECTIONS - 1 });

/** Requests per connection and input: one below the declared burst, unlimited without a declared rate limit. */
function rateBudget(capabilities: Capabilities): number {
  const rl = capabilities.rateLimit;
  return rl === undefined ? Number.POSITIVE_INFINITY : Math.max(1, rl.burst - 1);
}

/**
 * The verdict on one input: each reply on its own (well-formed, known reason, id
 * echoed), then the whole run against `model`.
 *
 * It is also taken between commands, whenever the scheduler has released every reply
 * so far: once that prefix contradicts the model, the remaining commands are skipped
 * (their `check` fails), so shrinking drops them and a counterexample ends at the
 * request that went wrong. Whether a prefix is judged depends only on the
 * scheduler's decisions, not on timing, so a replay skips the same commands.
 */
class Verdict<S, Op> {
  private problem: string | undefined;
  private judgedCount = 0;

  constructor(
    private readonly ctx: CaseContext,
    private readonly exchange: ScheduledExchange<Op>,
    private readonly model: SequentialModel<S, Op>,
  ) {}

  /** True once the requests so far, all released, contradict the model. */
  contradicted(): boolean {
    if (this.problem === undefined && this.exchange.count > this.judgedCount && this.exchange.allReleased) {
      this.judgedCount = this.exchange.count;
      this.problem = this.judge(false);
    }
    return this.problem !== undefined;
  }

  /** The verdict on the whole input (after every reply has been read). */
  final(): string | undefined {
    return this.problem ?? this.judge(true);
  }

  private judge(final: boolean): string | undefined {
    const judged = this.exchange.observations();
    if ('problem' in judged) return judged.problem;
    if (final) this.ctx.note(summarize(judged.observations));
    const result = linearize(this.model, judged.observations);
    switch (result.kind) {
      case 'explained':
        return undefined;
      case 'contradicted':
        return result.problem;
      case 'inconclusive':
        if (final) this.ctx.note(`the order search gave up after ${result.states} states; this input is not judged`);
        return undefined;
    }
  }
}

/**
 * Runs the commands under their scheduler, waits for every reply, sends the
 * `cleanup` requests (also when the commands failed; a cleanup error is reported only
 * when nothing failed before it), and returns the verdict.
 */
async function runCommands<A, S, Op>(
  ctx: CaseContext,
  input: ScheduledCommands<A>,
  performer: Performer<A>,
  exchange: ScheduledExchange<Op>,
  model: SequentialModel<S, Op>,
  cleanup: () => ReadonlyArray<(index: number) => Outgoing<Op>>,
): Promise<string | undefined> {
  const budget = rateBudget(ctx.capabilities);
  const verdict = new Verdict(ctx, exchange, model);
  let failure: { readonly error: unknown } | undefined;
  try {
    const setup = (): { model: ClientModel; real: Performer<A> } => ({ model: { budget, sent: [], frames: 0, stopped: () => verdict.contradicted() }, real: performer });
    await fc.scheduledModelRun(input.scheduler, setup, input.commands);
  } catch (error) {
    failure = { error };
  }
  await exchange.settled();
  try {
    await sendUnscheduled(exchange, cleanup(), budget);
  } catch (error) {
    if (failure === undefined) throw error;
    ctx.note(`cleanup after the failed commands: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (failure !== undefined) throw failure.error;
  return verdict.final();
}

/**
 * Writes `builds` outside the scheduled commands, from the control connection on
 * (moving to a further connection whenever the rate budget of one is spent), and
 * waits for every reply.
 */
async function sendUnscheduled<Op>(exchange: ScheduledExchange<Op>, builds: ReadonlyArray<(index: number) => Outgoing<Op>>, budget: number): Promise<void> {
  for (let i = 0, conn = CONTROL_CONN; i < builds.length; i += budget, conn++) {
    await exchange.send(conn, builds.slice(i, i + budget), false);
  }
  await exchange.settled();
}

/** One line for the wire log: how many requests, how many overlapped another connection's, what they got. */
function summarize<Op>(observations: readonly Observation<Op>[]): string {
  const overlapping = observations.filter((a) => observations.some((b) => b.conn !== a.conn && b.sentAtMs < a.repliedAtMs && a.sentAtMs < b.repliedAtMs)).length;
  const outcomes = new Map<string, number>();
  for (const o of observations) {
    const k = o.reply.kind === 'accepted' ? 'accepted' : o.reply.reason;
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  }
  const conns = new Set(observations.map((o) => o.conn)).size;
  return `${observations.length} requests on ${conns} connection(s), ${overlapping} overlapping a request on another connection; replies: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------- fuzz.signal.lifecycle (§6)

/** How a generated PREPARE stands to the risk limits (§6.6). */
export type RiskVariant = 'ok' | 'no-price' | 'max-leverage' | 'over-leverage' | 'max-notional' | 'over-notional';

/**
 * A generated signal action: `key` names signal `s<key>`; a PREPARE carries its numbers
 * (from the limits the arbitrary was built for, so a replay sends the same request);
 * FILL prepares `count` fresh signals in one write.
 */
export type SignalAction =
  | { readonly kind: 'PREPARE'; readonly key: number; readonly risk: RiskVariant; readonly numbers: PrepareNumbers }
  | { readonly kind: 'CONFIRM' | 'ABORT'; readonly key: number }
  | { readonly kind: 'FILL'; readonly count: number };

/** leverage, qty and (optional) price of a PREPARE. */
export interface PrepareNumbers {
  readonly leverage: number;
  readonly qty: number;
  readonly price?: number;
}

/**
 * leverage, qty and price of a PREPARE of `variant` (products exact in binary floating
 * point). The variants at or above a limit need the declared limits; they are only
 * generated when the target declares them.
 */
export function riskNumbers(variant: RiskVariant, limits: RiskLimits | undefined): PrepareNumbers {
  if (variant === 'ok') return { leverage: 1, qty: 0.01, price: 50_000 };
  if (variant === 'no-price') return { leverage: 1, qty: 1 };
  if (limits === undefined) throw new Error(`a PREPARE ${variant} needs the declared risk limits`);
  switch (variant) {
    case 'max-leverage':
      return { leverage: limits.maxLeverage, qty: 0.01, price: 50_000 };
    case 'over-leverage':
      return { leverage: limits.maxLeverage + 1, qty: 0.01, price: 50_000 };
    case 'max-notional':
      return { leverage: 1, qty: 1, price: limits.maxNotional };
    case 'over-notional':
      return { leverage: 1, qty: 2, price: limits.maxNotional };
  }
}

/** The generated signal commands for a target with `capabilities`. */
export function signalCommandArb(capabilities: Capabilities): fc.Arbitrary<Command<SignalAction>> {
  const key = fc.nat({ max: SIGNAL_KEYS - 1 });
  const { risk } = capabilities;
  const breaches: RiskVariant[] = risk === undefined ? ['no-price'] : ['no-price', 'max-leverage', 'over-leverage', 'max-notional', 'over-notional'];
  // Mostly 'ok'; shrinks towards 'ok' (index 0).
  const variant = fc.nat({ max: OK_WEIGHT - 1 + breaches.length }).map((i): RiskVariant => (i < OK_WEIGHT ? 'ok' : breaches[i - OK_WEIGHT]!));
  const single = (kind: 'CONFIRM' | 'ABORT'): fc.Arbitrary<Command<SignalAction>> =>
    fc.record({ conn: connArb, key }).map(({ conn, key: k }) => new Command<SignalAction>(conn, { kind, key: k }, `${kind} s${k}`));
  const arbs = [
    {
      weight: 4,
      arbitrary: fc
        .record({ conn: connArb, key, risk: variant })
        .map(({ conn, key: k, risk: v }) => new Command<SignalAction>(conn, { kind: 'PREPARE', key: k, risk: v, numbers: riskNumbers(v, risk) }, `PREPARE s${k}${v === 'ok' ? '' : ` ${v}`}`)),
    },
    { weight: 4, arbitrary: single('CONFIRM') },
    { weight: 3, arbitrary: single('ABORT') },
  ];
  if (risk !== undefined && risk.maxOpenOrders <= FILL_LIMIT) {
    const fill = fc
      .record({ conn: connArb, count: fc.integer({ min: 1, max: risk.maxOpenOrders }) })
      .map(({ conn, count }) => new Command<SignalAction>(conn, { kind: 'FILL', count }, `FILL ${count}`, count, count));
    arbs.push({ weight: 1, arbitrary: fill });
  }
  return fc.oneof(...arbs);
}

/** Sends signal actions; ids are `${prefix}-s<key>` and, for FILL number n, `${prefix}-f<n>.<i>`. */
class SignalRun implements Performer<SignalAction> {
  private fills = 0;
  constructor(
    private readonly ctx: CaseContext,
    readonly exchange: ScheduledExchange<SignalOp>,
    private readonly prefix: string,
  ) {}

  private prepareOp(key: string, numbers: PrepareNumbers): SignalOp {
    return { kind: 'PREPARE', key, signalId: `${this.prefix}-${key}`, ...numbers };
  }

  private signalOf(op: SignalOp): Record<string, unknown> {
    if (op.kind !== 'PREPARE') return op.kind === 'CONFIRM' ? this.ctx.confirm(op.signalId) : this.ctx.abort(op.signalId, { reason: 'fuzz' });
    const signal = this.ctx.prepare({ signal_id: op.signalId, leverage: op.leverage, qty: op.qty, price: op.price });
    if (op.price === undefined) delete signal.price;
    return signal;
  }

  build(op: SignalOp): (index: number) => Outgoing<SignalOp> {
    return (index) => ({ op, envelopeId: index, frame: this.ctx.encode(this.signalOf(op), { id: index }) });
  }

  async perform(conn: number, action: SignalAction): Promise<void> {
    if (action.kind === 'FILL') {
      const n = ++this.fills;
      await this.exchange.send(conn, range(action.count).map((i) => this.build(this.prepareOp(`f${n}.${i + 1}`, riskNumbers('ok', undefined)))), true);
      return;
    }
    const key = `s${action.key}`;
    const op: SignalOp = action.kind === 'PREPARE' ? this.prepareOp(key, action.numbers) : { kind: action.kind, key, signalId: `${this.prefix}-${key}` };
    await this.exchange.send(conn, [this.build(op)], true);
  }

  /** ABORTs of every signal whose PREPARE was accepted (some may be confirmed or expired: the model judges those replies too). */
  cleanupOps(): SignalOp[] {
    const seen = new Set<string>();
    const ops: SignalOp[] = [];
    for (const op of this.exchange.accepted()) {
      if (op.kind !== 'PREPARE' || seen.has(op.key)) continue;
      seen.add(op.key);
      ops.push({ kind: 'ABORT', key: op.key, signalId: op.signalId });
    }
    return ops;
  }
}

/**
 * Signals of others open before the input (STATUS openOrders, §6.8), read on a
 * connection of its own; undefined when the target has no `status` or does not say.
 * @returns the count, or the problem of a malformed STATUS reply.
 */
async function foreignOpenOrders(ctx: CaseContext): Promise<{ count: number | undefined } | { problem: string }> {
  if (ctx.capabilities.status !== true || ctx.capabilities.risk === undefined) return { count: undefined };
  const conn = await ctx.connect();
  const ev = await conn.request(ctx.status());
  await conn.end();
  const problem = replyProblem(ev, 'reply to the STATUS sent before the commands');
  if (problem !== undefined) return { problem };
  if (ev.type === 'reply' && ev.reply.kind === 'accepted') {
    const status = ev.reply.fields.status;
    const open = isPlainObject(status) && isPlainObject(status.metrics) ? status.metrics.openOrders : undefined;
    if (typeof open === 'number' && Number.isSafeInteger(open) && open >= 0) return { count: open };
  }
  ctx.note('STATUS did not report openOrders: any PREPARE of this input may meet a book others filled');
  return { count: undefined };
}

/** §6 PREPARE / CONFIRM / ABORT under scheduled interleavings. */
export const signalLifecycleProperty: FuzzProperty<ScheduledCommands<SignalAction>> = {
  id: 'fuzz.signal.lifecycle',
  section: '6',
  level: 'MUST',
  description:
    'Command sequences of PREPARE (reused signal_ids, leverage and notional at and above the limits, FILLs up to maxOpenOrders), CONFIRM and ABORT (repeated, of unknown, aborted, confirmed ids) on 1–3 connections, with a scheduler deciding which replies arrive before the next request; every reply is checked against a model of §6.2–§6.6 in some order the server may have processed the overlapping requests in. Before the commands STATUS is read on a connection of its own; after them connection 4 ABORTs every signal whose PREPARE was accepted.',
  expected:
    'Every reply is the one §6 prescribes: PREPARED, DUPLICATE_SIGNAL, RISK_REJECTED; CONFIRMED with an orderId and fillPrice, and a repeated CONFIRM with the original ones; ABORTED; UNKNOWN_SIGNAL, INVALID_STATE, SIGNAL_EXPIRED only where the state (or the TTL) says so.',
  requires: ['prepareTtlMs'],
  weight: 2,
  timeoutMs: 20_000,
  arbitrary: ({ capabilities }) => scheduledCommands(signalCommandArb(capabilities)),
  async run(input, ctx) {
    const prepareTtlMs = ctx.capabilities.prepareTtlMs;
    if (prepareTtlMs === undefined) throw new Error('fuzz.signal.lifecycle needs the prepareTtlMs capability');
    const before = await foreignOpenOrders(ctx);
    if ('problem' in before) return before.problem;
    const risk = ctx.capabilities.risk;
    const model = signalModel({ prepareTtlMs, risk, foreignOpenOrders: before.count, rateLimitDeclared: ctx.capabilities.rateLimit !== undefined });
    const exchange = new ScheduledExchange<SignalOp>(ctx, input.scheduler, model.label);
    const run = new SignalRun(ctx, exchange, ctx.uniqueId('lc'));
    return runCommands(ctx, input, run, exchange, model, () => run.cleanupOps().map((op) => run.build(op)));
  },
};

// ---------------------------------------------------------------- fuzz.message.dedupe (§11.2)

/** A generated MESSAGE: `key` names message `m<key>`; `variant` > 0 gives it another topic and payload. */
export interface MessageAction {
  readonly key: number;
  readonly variant: number;
}

function messageCommandArb(): fc.Arbitrary<Command<MessageAction>> {
  return fc
    .record({ conn: connArb, key: fc.nat({ max: MESSAGE_KEYS - 1 }), variant: fc.nat({ max: 2 }) })
    .map(({ conn, key, variant }) => new Command<MessageAction>(conn, { key, variant }, `MESSAGE m${key}${variant === 0 ? '' : ` v${variant}`}`));
}

class MessageRun implements Performer<MessageAction> {
  constructor(
    private readonly ctx: CaseContext,
    private readonly exchange: ScheduledExchange<MessageOp>,
    private readonly prefix: string,
  ) {}

  async perform(conn: number, action: MessageAction): Promise<void> {
    const op: MessageOp = { key: `m${action.key}`, messageId: `${this.prefix}-m${action.key}`, variant: action.variant };
    const signal: Record<string, unknown> = { type: 'MESSAGE', message_id: op.messageId, timestamp: Date.now() };
    if (op.variant > 0) {
      signal.topic = `topic-${op.variant}`;
      signal.payload = { variant: op.variant };
    }
    await this.exchange.send(conn, [(index) => ({ op, envelopeId: index, frame: this.ctx.encode(signal, { id: index }) })], true);
  }
}

/** §11.2 at-most-once application of MESSAGEs redelivered across connections. */
export const messageDedupeProperty: FuzzProperty<ScheduledCommands<MessageAction>> = {
  id: 'fuzz.message.dedupe',
  section: '11.2',
  level: 'MUST',
  description:
    'Command sequences of MESSAGEs with repeated message_ids (same or different topic and payload) on 1–3 connections, with a scheduler deciding which replies arrive before the next request; the replies are checked against a model of the ledger in some order the server may have processed the overlapping requests in.',
  expected: 'The first application of a message_id is APPLIED with a new seq (above the seqs of earlier new ones) and no duplicate flag; every redelivery is APPLIED with duplicate: true and the original seq.',
  requires: ['ledger'],
  timeoutMs: 20_000,
  arbitrary: () => scheduledCommands(messageCommandArb()),
  async run(input, ctx) {
    const model = ledgerModel({ rateLimitDeclared: ctx.capabilities.rateLimit !== undefined });
    const exchange = new ScheduledExchange<MessageOp>(ctx, input.scheduler, model.label);
    return runCommands(ctx, input, new MessageRun(ctx, exchange, ctx.uniqueId('md')), exchange, model, () => []);
  },
};

// ---------------------------------------------------------------- fuzz.auth.replay (§4.4.3)

type SignalKind = 'PREPARE' | 'CONFIRM' | 'ABORT';

/**
 * A generated hmac-v2 frame: a fresh one (new nonce); an exact resend of distinct
 * frame `of` (modulo the frames sent so far); or a new, correctly signed frame
 * reusing that frame's nonce.
 */
export type ReplayAction =
  | { readonly kind: 'fresh'; readonly signal: SignalKind; readonly key: number }
  | { readonly kind: 'resend'; readonly of: number }
  | { readonly kind: 'reuse-nonce'; readonly of: number; readonly signal: SignalKind; readonly key: number };

function replayCommandArb(): fc.Arbitrary<Command<ReplayAction>> {
  const signal = fc.constantFrom<SignalKind>('PREPARE', 'CONFIRM', 'ABORT');
  const key = fc.nat({ max: REPLAY_KEYS - 1 });
  const of = fc.nat({ max: MAX_COMMANDS - 1 });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ conn: connArb, signal, key }).map(({ conn, signal: s, key: k }) => new Command<ReplayAction>(conn, { kind: 'fresh', signal: s, key: k }, `${s} s${k}`)) },
    { weight: 2, arbitrary: fc.record({ conn: connArb, of }).map(({ conn, of: o }) => new Command<ReplayAction>(conn, { kind: 'resend', of: o }, `RESEND #${o}`, 1, 0, true)) },
    {
      weight: 1,
      arbitrary: fc
        .record({ conn: connArb, of, signal, key })
        .map(({ conn, of: o, signal: s, key: k }) => new Command<ReplayAction>(conn, { kind: 'reuse-nonce', of: o, signal: s, key: k }, `${s} s${k} with the nonce of #${o}`, 1, 1, true)),
    },
  );
}

interface SentFrame {
  readonly index: number;
  readonly frame: Buffer;
  readonly envelopeId: number;
  readonly nonce: string;
  /** `n<k>`: the nonce's short name. */
  readonly nonceName: string;
  readonly text: string;
}

/** Sends replay actions; signal ids are `${prefix}-s<key>`, nonces `${prefix}-n<k>`. */
class ReplayRun implements Performer<ReplayAction> {
  /** Distinct frames sent (fresh and nonce-reusing ones), in order. */
  private readonly frames: SentFrame[] = [];
  private nonces = 0;
  private readonly prepared = new Set<number>();
  constructor(
    private readonly ctx: CaseContext,
    private readonly exchange: ScheduledExchange<FrameOp>,
    private readonly prefix: string,
  ) {}

  private signalOf(kind: SignalKind, key: number): Record<string, unknown> {
    const signalId = `${this.prefix}-s${key}`;
    if (kind === 'PREPARE') this.prepared.add(key);
    if (kind === 'CONFIRM') return this.ctx.confirm(signalId);
    if (kind === 'ABORT') return this.ctx.abort(signalId, { reason: 'fuzz' });
    return this.ctx.prepare({ signal_id: signalId });
  }

  /** A new frame of `kind` for `s<key>` with `nonce` (a fresh one when undefined). */
  fresh(kind: SignalKind, key: number, reuse?: SentFrame): (index: number) => Outgoing<FrameOp> {
    const signal = this.signalOf(kind, key);
    const nonceName = reuse?.nonceName ?? `n${++this.nonces}`;
    const nonce = reuse?.nonce ?? `${this.prefix}-${nonceName}`;
    const text = `${kind} s${key}, nonce ${nonceName}${reuse === undefined ? '' : ` reused from request ${reuse.index}`}`;
    return (index) => {
      const frame = this.ctx.encode(signal, { id: index, nonce });
      this.frames.push({ index, frame, envelopeId: index, nonce, nonceName, text });
      return { op: { nonce, label: text }, frame, envelopeId: index };
    };
  }

  async perform(conn: number, action: ReplayAction): Promise<void> {
    if (action.kind === 'fresh') {
      await this.exchange.send(conn, [this.fresh(action.signal, action.key)], true);
      return;
    }
    const src = this.frames[action.of % this.frames.length];
    if (src === undefined) throw new Error('a resend ran before any frame was sent (its precondition should have skipped it)');
    if (action.kind === 'reuse-nonce') {
      await this.exchange.send(conn, [this.fresh(action.signal, action.key, src)], true);
      return;
    }
    const op: FrameOp = { nonce: src.nonce, label: `exact resend of request ${src.index} (${src.text})` };
    await this.exchange.send(conn, [() => ({ op, frame: src.frame, envelopeId: src.envelopeId })], true);
  }

  /** Fresh ABORTs of every signal a PREPARE named, so none stays open. */
  cleanup(): Array<(index: number) => Outgoing<FrameOp>> {
    return [...this.prepared].sort((a, b) => a - b).map((key) => this.fresh('ABORT', key));
  }
}

/** §4.4.3 replayed hmac-v2 frames, byte for byte and by nonce, across connections. */
export const authReplayProperty: FuzzProperty<ScheduledCommands<ReplayAction>> = {
  id: 'fuzz.auth.replay',
  section: '4.4.3',
  level: 'MUST',
  description:
    'Command sequences of correctly signed hmac-v2 frames (PREPARE/CONFIRM/ABORT) on 1–3 connections where some are exact byte-for-byte resends of earlier frames, or new frames reusing an earlier nonce, on the same or another connection, with a scheduler deciding which replies arrive before the next request; checked against a model of the replay cache in some order the server may have processed the overlapping requests in.',
  expected: 'A frame whose nonce was accepted before is rejected REPLAY_DETECTED; every other frame passes authentication (no IPC_ERROR, INVALID_SIGNATURE, STALE_TIMESTAMP or REPLAY_DETECTED).',
  appliesTo: (mode) => mode.auth === 'hmac-v2',
  timeoutMs: 20_000,
  arbitrary: () => scheduledCommands(replayCommandArb()),
  async run(input, ctx) {
    const model = nonceModel({ rateLimitDeclared: ctx.capabilities.rateLimit !== undefined });
    const exchange = new ScheduledExchange<FrameOp>(ctx, input.scheduler, model.label);
    const run = new ReplayRun(ctx, exchange, ctx.uniqueId('rp'));
    return runCommands(ctx, input, run, exchange, model, () => run.cleanup());
  },
};

/** Stateful fuzz properties (signal lifecycle, message deduplication, replay protection). */
export const lifecycleFuzzProperties: readonly FuzzProperty[] = [
  fuzzProperty(signalLifecycleProperty),
  fuzzProperty(messageDedupeProperty),
  fuzzProperty(authReplayProperty),
];
