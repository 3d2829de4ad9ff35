import { resolve } from 'node:path';
import type { CaseContext, ConformanceCase, WireConnection } from '../../harness/case.js';
import { informational } from '../../harness/case.js';
import {
  type Accepted,
  type Answer,
  check,
  countBy,
  describeReply,
  expectAccepted,
  expectField,
  expectIdsInOrder,
  expectRejected,
  isRejectedWith,
  need,
  outcomeOf,
  readAnswers,
  show,
  verdict,
} from './expect.js';
import {
  abortOk,
  cleanup,
  confirmOk,
  expectUnused,
  keepAliveSleep,
  metric,
  prepareOk,
  readStatus,
  rejectedAndKept,
  unknownAborts,
} from './flows.js';

/** docs/SPEC.md §6 Signals. */

function without(signal: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  const out = { ...signal };
  for (const k of keys) delete out[k];
  return out;
}

/** §6.1 schema violations: each must be INVALID_SIGNAL. */
const SCHEMA_VIOLATIONS: ReadonlyArray<{ id: string; what: string; signal: (ctx: CaseContext) => Record<string, unknown> }> = [
  { id: 'signals.schema.signal-id-missing', what: 'a PREPARE without signal_id', signal: (ctx) => without(ctx.prepare(), 'signal_id') },
  { id: 'signals.schema.signal-id-empty', what: 'a PREPARE with signal_id ""', signal: (ctx) => ctx.prepare({ signal_id: '' }) },
  {
    id: 'signals.schema.signal-id-too-long',
    what: 'a PREPARE with a 129-character signal_id',
    signal: (ctx) => ctx.prepare({ signal_id: ctx.uniqueId('long').padEnd(129, 'x') }),
  },
  { id: 'signals.schema.signal-id-not-string', what: 'a PREPARE whose signal_id is the number 12345', signal: (ctx) => ctx.prepare({ signal_id: 12345 }) },
  { id: 'signals.schema.type-missing', what: 'a PREPARE without type', signal: (ctx) => without(ctx.prepare(), 'type') },
  { id: 'signals.schema.type-unknown', what: 'a signal of type "CANCEL"', signal: (ctx) => ctx.prepare({ type: 'CANCEL' }) },
  { id: 'signals.schema.type-wrong-case', what: 'a signal of type "prepare" (lowercase)', signal: (ctx) => ctx.prepare({ type: 'prepare' }) },
  { id: 'signals.schema.symbol-missing', what: 'a PREPARE without symbol', signal: (ctx) => without(ctx.prepare(), 'symbol') },
  { id: 'signals.schema.symbol-not-string', what: 'a PREPARE whose symbol is the number 123', signal: (ctx) => ctx.prepare({ symbol: 123 }) },
  { id: 'signals.schema.symbol-empty', what: 'a PREPARE with symbol ""', signal: (ctx) => ctx.prepare({ symbol: '' }) },
  { id: 'signals.schema.symbol-too-long', what: 'a PREPARE with a 33-character symbol', signal: (ctx) => ctx.prepare({ symbol: 'S'.repeat(33) }) },
  { id: 'signals.schema.side-invalid', what: 'a PREPARE with side "buy" (lowercase)', signal: (ctx) => ctx.prepare({ side: 'buy' }) },
  { id: 'signals.schema.side-missing', what: 'a PREPARE without side', signal: (ctx) => without(ctx.prepare(), 'side') },
  { id: 'signals.schema.qty-zero', what: 'a PREPARE with qty 0', signal: (ctx) => ctx.prepare({ qty: 0 }) },
  { id: 'signals.schema.qty-negative', what: 'a PREPARE with qty -1', signal: (ctx) => ctx.prepare({ qty: -1 }) },
  { id: 'signals.schema.qty-not-number', what: 'a PREPARE with qty "1" (a string)', signal: (ctx) => ctx.prepare({ qty: '1' }) },
  { id: 'signals.schema.qty-missing', what: 'a PREPARE without qty', signal: (ctx) => without(ctx.prepare(), 'qty') },
  { id: 'signals.schema.leverage-zero', what: 'a PREPARE with leverage 0', signal: (ctx) => ctx.prepare({ leverage: 0 }) },
  { id: 'signals.schema.price-negative', what: 'a PREPARE with price -5', signal: (ctx) => ctx.prepare({ price: -5 }) },
  { id: 'signals.schema.confirm-signal-id-missing', what: 'a CONFIRM without signal_id', signal: (ctx) => without(ctx.confirm('unused'), 'signal_id') },
  { id: 'signals.schema.abort-reason-not-string', what: 'an ABORT whose reason is the number 42', signal: (ctx) => ctx.abort(ctx.uniqueId('sig'), { reason: 42 }) },
];

const isUsableId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 128;

/** PREPARE then CONFIRM twice on one connection; returns both CONFIRM replies. */
async function confirmTwice(ctx: CaseContext, conn: WireConnection): Promise<[Accepted, Accepted]> {
  const { signalId } = await prepareOk(ctx, conn);
  const first = await confirmOk(ctx, conn, signalId, 'first CONFIRM');
  const second = await confirmOk(ctx, conn, signalId, 'repeated CONFIRM');
  expectField(second, 'orderId', first.fields.orderId, 'repeated CONFIRM');
  expectField(second, 'fillPrice', first.fields.fillPrice, 'repeated CONFIRM');
  return [first, second];
}

/** PREPARE then ABORT twice; returns both ABORT replies. */
async function abortTwice(ctx: CaseContext, conn: WireConnection): Promise<[Accepted, Accepted]> {
  const { signalId } = await prepareOk(ctx, conn);
  return [await abortOk(ctx, conn, signalId, 'first ABORT'), await abortOk(ctx, conn, signalId, 'repeated ABORT')];
}

const riskOf = (ctx: CaseContext): { maxLeverage: number; maxNotional: number; maxOpenOrders: number } => need(ctx.capabilities.risk, 'risk');
const rateOf = (ctx: CaseContext): { burst: number; refillPerSec: number } => need(ctx.capabilities.rateLimit, 'rateLimit');

/** A PREPARE with `overrides` must be RISK_REJECTED and leave its signal_id unused. */
async function riskRejected(ctx: CaseContext, overrides: Record<string, unknown>, what: string): Promise<string> {
  const p = ctx.prepare(overrides);
  return rejectedAndKept(ctx, ctx.encode(p), 'RISK_REJECTED', what, p.signal_id);
}

/** A PREPARE with `overrides` must be accepted (state PREPARED), then is ABORTed. */
async function accepted(ctx: CaseContext, overrides: Record<string, unknown>, what: string): Promise<string> {
  const conn = await ctx.connect();
  const { signalId } = await prepareOk(ctx, conn, overrides, what);
  await abortOk(ctx, conn, signalId);
  return `${what}: accepted`;
}

/** Sends `count` unknown-id ABORTs pipelined in one write and reads every reply (ids 0..count-1, in order). */
async function burstOf(ctx: CaseContext, conn: WireConnection, count: number, what: string): Promise<{ answers: Answer[]; elapsedMs: number }> {
  const t0 = Date.now();
  await conn.write(unknownAborts(ctx, count, (i) => i));
  const answers = await readAnswers(conn, count, what, 10_000);
  const elapsedMs = Date.now() - t0;
  expectIdsInOrder(answers, answers.map((_, i) => i), what);
  return { answers, elapsedMs };
}

const limited = (a: Answer): boolean => isRejectedWith(a, 'RATE_LIMITED');

/** PREPAREs `count` signals pipelined (split across connections below the rate-limit burst); all must be accepted. */
async function fillOpenOrders(ctx: CaseContext, count: number): Promise<string[]> {
  const rl = ctx.capabilities.rateLimit;
  const chunk = rl === undefined ? count : Math.max(1, rl.burst - 5);
  const opened: string[] = [];
  for (let start = 0; start < count; start += chunk) {
    const conn = await ctx.connect();
    const signals = Array.from({ length: Math.min(chunk, count - start) }, () => ctx.prepare());
    await conn.write(Buffer.concat(signals.map((s) => ctx.encode(s))));
    for (const s of signals) {
      const ev = await conn.read();
      if (ev.type === 'reply' && ev.reply.kind === 'accepted') opened.push(s.signal_id);
      else {
        await cleanup(ctx, undefined, opened);
        expectAccepted(ev, `PREPARE ${opened.length + 1} of ${count} while filling up to maxOpenOrders`);
      }
    }
    await conn.end();
  }
  return opened;
}

const STATUS_METRICS = [
  'messagesReceived',
  'messagesProcessed',
  'messagesFailed',
  'invalidSignatures',
  'avgLatencyMs',
  'minLatencyMs',
  'maxLatencyMs',
  'ordersExecuted',
  'openOrders',
] as const;


/** CONFIRM or ABORT sent prepareTtlMs + 300 ms after an accepted PREPARE must be SIGNAL_EXPIRED. */
function expiredCase(id: string, section: string, kind: 'CONFIRM' | 'ABORT'): ConformanceCase {
  return {
    id,
    section,
    level: 'MUST',
    description: `${kind} sent prepareTtlMs + 300 ms after an accepted PREPARE is rejected with SIGNAL_EXPIRED.`,
    expected: 'SIGNAL_EXPIRED.',
    requires: ['prepareTtlMs'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const ttl = need(ctx.capabilities.prepareTtlMs, 'prepareTtlMs');
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      await keepAliveSleep(ctx, conn, ttl + 300);
      const late = kind === 'CONFIRM' ? ctx.confirm(signalId) : ctx.abort(signalId);
      expectRejected(await conn.request(late), 'SIGNAL_EXPIRED', `${kind} ${ttl + 300} ms after PREPARE`);
      return `${kind} ${ttl + 300} ms after PREPARE: SIGNAL_EXPIRED`;
    }),
  };
}

export const signalCases: readonly ConformanceCase[] = [
  // §6.2 "PREPARE creates a signal in state PREPARED … Reply: { "accepted": true,
  // "signal_id", "state": "PREPARED" }." §6.3 "CONFIRM executes a PREPARED signal
  // once. Reply: { "accepted": true, "signal_id", "state": "CONFIRMED", "orderId":
  // <string>, "fillPrice": <number> }."
  {
    id: 'signals.lifecycle.prepare-confirm',
    section: '6.3',
    level: 'MUST',
    description: 'PREPARE is accepted with state PREPARED and its signal_id; CONFIRM is accepted with state CONFIRMED, its signal_id, a non-empty string orderId and a finite number fillPrice.',
    expected: 'PREPARE → PREPARED, CONFIRM → CONFIRMED with orderId and fillPrice.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      const c = await confirmOk(ctx, conn, signalId);
      return `PREPARED, then CONFIRMED with orderId ${show(c.fields.orderId)} fillPrice ${show(c.fields.fillPrice)}`;
    }),
  },
  // §6.4 "ABORT discards a PREPARED signal. Reply: { "accepted": true, "signal_id",
  // "state": "ABORTED" }."
  {
    id: 'signals.lifecycle.prepare-abort',
    section: '6.4',
    level: 'MUST',
    description: 'PREPARE is accepted (PREPARED); ABORT is accepted with state ABORTED and its signal_id.',
    expected: 'PREPARE → PREPARED, ABORT → ABORTED.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      await abortOk(ctx, conn, signalId);
      return 'PREPARED, then ABORTED';
    }),
  },
  // §6.3.2 "CONFIRM of an unknown signal_id → UNKNOWN_SIGNAL"
  {
    id: 'signals.confirm.unknown-signal',
    section: '6.3.2',
    level: 'MUST',
    description: 'CONFIRM of a signal_id that was never prepared is rejected with UNKNOWN_SIGNAL, and that id can still be prepared afterwards.',
    expected: 'UNKNOWN_SIGNAL; nothing is created.',
    run: verdict(async (ctx) => {
      const id = ctx.uniqueId('never-prepared');
      return rejectedAndKept(ctx, ctx.encode(ctx.confirm(id)), 'UNKNOWN_SIGNAL', 'CONFIRM of an unknown signal_id', id);
    }),
  },
  // §6.4 "ABORT … of an unknown one → UNKNOWN_SIGNAL."
  {
    id: 'signals.abort.unknown-signal',
    section: '6.4',
    level: 'MUST',
    description: 'ABORT of a signal_id that was never prepared is rejected with UNKNOWN_SIGNAL, and that id can still be prepared afterwards.',
    expected: 'UNKNOWN_SIGNAL; nothing is created.',
    run: verdict(async (ctx) => {
      const id = ctx.uniqueId('never-prepared');
      return rejectedAndKept(ctx, ctx.encode(ctx.abort(id)), 'UNKNOWN_SIGNAL', 'ABORT of an unknown signal_id', id);
    }),
  },
  // §6.2 "A PREPARE whose signal_id the server already knows (in any state) MUST be
  // rejected with DUPLICATE_SIGNAL and MUST NOT change that signal."
  {
    id: 'signals.prepare.duplicate-of-prepared',
    section: '6.2',
    level: 'MUST',
    description: 'A second PREPARE with the same signal_id (different side and qty) is rejected with DUPLICATE_SIGNAL; the original is still PREPARED and its CONFIRM is accepted.',
    expected: 'DUPLICATE_SIGNAL; the original signal is unchanged and confirmable.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      expectRejected(await conn.request(ctx.prepare({ signal_id: signalId, side: 'Sell', qty: 0.05 })), 'DUPLICATE_SIGNAL', 'a second PREPARE with the same signal_id');
      await confirmOk(ctx, conn, signalId, 'CONFIRM of the original');
      return 'DUPLICATE_SIGNAL for the second PREPARE; the original was then confirmed';
    }),
  },
  // §6.2 "… already knows (in any state) MUST be rejected with DUPLICATE_SIGNAL and MUST NOT change that signal."
  {
    id: 'signals.prepare.duplicate-of-confirmed',
    section: '6.2',
    level: 'MUST',
    description: 'A PREPARE reusing the signal_id of a confirmed signal is rejected with DUPLICATE_SIGNAL; a repeated CONFIRM still returns the original orderId and fillPrice.',
    expected: 'DUPLICATE_SIGNAL; the confirmed signal is unchanged.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      const c = await confirmOk(ctx, conn, signalId);
      expectRejected(await conn.request(ctx.prepare({ signal_id: signalId })), 'DUPLICATE_SIGNAL', 'PREPARE reusing a confirmed signal_id');
      const again = await confirmOk(ctx, conn, signalId, 'CONFIRM after the duplicate PREPARE');
      expectField(again, 'orderId', c.fields.orderId, 'CONFIRM after the duplicate PREPARE');
      expectField(again, 'fillPrice', c.fields.fillPrice, 'CONFIRM after the duplicate PREPARE');
      return 'DUPLICATE_SIGNAL; the signal stayed CONFIRMED with the same orderId and fillPrice';
    }),
  },
  // §6.2 "… (in any state) …"
  {
    id: 'signals.prepare.duplicate-of-aborted',
    section: '6.2',
    level: 'MUST',
    description: 'A PREPARE reusing the signal_id of an aborted signal is rejected with DUPLICATE_SIGNAL; a CONFIRM afterwards is still INVALID_STATE (the signal stayed ABORTED).',
    expected: 'DUPLICATE_SIGNAL; the aborted signal is unchanged.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      await abortOk(ctx, conn, signalId);
      expectRejected(await conn.request(ctx.prepare({ signal_id: signalId })), 'DUPLICATE_SIGNAL', 'PREPARE reusing an aborted signal_id');
      expectRejected(await conn.request(ctx.confirm(signalId)), 'INVALID_STATE', 'CONFIRM after the duplicate PREPARE');
      return 'DUPLICATE_SIGNAL; the signal stayed ABORTED (CONFIRM → INVALID_STATE)';
    }),
  },
  // §6.3.1 "CONFIRM is idempotent: a CONFIRM of an already confirmed signal MUST NOT
  // execute again and MUST return the original orderId and fillPrice; it SHOULD add
  // "duplicate": true."
  {
    id: 'signals.confirm.idempotent',
    section: '6.3.1',
    level: 'MUST',
    description: 'A repeated CONFIRM of a confirmed signal is accepted with state CONFIRMED and exactly the original orderId and fillPrice.',
    expected: 'The retried CONFIRM returns the original result.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const [first] = await confirmTwice(ctx, conn);
      return `repeated CONFIRM returned the original orderId ${show(first.fields.orderId)} and fillPrice ${show(first.fields.fillPrice)}`;
    }),
  },
  // §6.3.1 "… it SHOULD add "duplicate": true."
  {
    id: 'signals.confirm.duplicate-flag',
    section: '6.3.1',
    level: 'SHOULD',
    description: 'A repeated CONFIRM carries "duplicate": true (the first CONFIRM does not).',
    expected: 'duplicate: true on the retried CONFIRM.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const [first, second] = await confirmTwice(ctx, conn);
      check(first.fields.duplicate !== true, 'the first CONFIRM already carried duplicate: true');
      expectField(second, 'duplicate', true, 'repeated CONFIRM');
      return 'repeated CONFIRM carried duplicate: true';
    }),
  },
  // §6.3.1 "… MUST NOT execute again …"; §6.8 ordersExecuted counts "CONFIRMs that executed".
  {
    id: 'signals.confirm.executes-once',
    section: '6.3.1',
    level: 'MUST',
    description: 'PREPARE, CONFIRM, CONFIRM again: STATUS metrics.ordersExecuted rises by exactly 1.',
    expected: 'A retried CONFIRM does not execute again.',
    requires: ['status'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const before = metric(await readStatus(ctx, conn), 'ordersExecuted');
      await confirmTwice(ctx, conn);
      const after = metric(await readStatus(ctx, conn), 'ordersExecuted');
      check(after - before === 1, `ordersExecuted went from ${before} to ${after} (expected +1)`);
      return `ordersExecuted ${before} → ${after} for two CONFIRMs of one signal`;
    }),
  },
  // §6.4 "ABORT of an aborted signal MUST be accepted again (idempotent, SHOULD add
  // "duplicate": true)"
  {
    id: 'signals.abort.idempotent',
    section: '6.4',
    level: 'MUST',
    description: 'A repeated ABORT of an aborted signal is accepted again with state ABORTED.',
    expected: 'ABORT is idempotent.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      await abortTwice(ctx, conn);
      return 'repeated ABORT accepted with state ABORTED';
    }),
  },
  // §6.4 "… (idempotent, SHOULD add "duplicate": true)"
  {
    id: 'signals.abort.duplicate-flag',
    section: '6.4',
    level: 'SHOULD',
    description: 'A repeated ABORT carries "duplicate": true (the first ABORT does not).',
    expected: 'duplicate: true on the retried ABORT.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const [first, second] = await abortTwice(ctx, conn);
      check(first.fields.duplicate !== true, 'the first ABORT already carried duplicate: true');
      expectField(second, 'duplicate', true, 'repeated ABORT');
      return 'repeated ABORT carried duplicate: true';
    }),
  },
  // §6.3.2 "… of an aborted signal → INVALID_STATE"
  {
    id: 'signals.confirm.after-abort',
    section: '6.3.2',
    level: 'MUST',
    description: 'CONFIRM of an aborted signal is rejected with INVALID_STATE, and a following ABORT is still accepted (state ABORTED): nothing executed.',
    expected: 'INVALID_STATE; the signal stays ABORTED.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      await abortOk(ctx, conn, signalId);
      expectRejected(await conn.request(ctx.confirm(signalId)), 'INVALID_STATE', 'CONFIRM of an aborted signal');
      await abortOk(ctx, conn, signalId, 'ABORT after the refused CONFIRM');
      return 'INVALID_STATE; the signal stayed ABORTED';
    }),
  },
  // §6.4 "… of a confirmed signal → INVALID_STATE"
  {
    id: 'signals.abort.after-confirm',
    section: '6.4',
    level: 'MUST',
    description: 'ABORT of a confirmed signal is rejected with INVALID_STATE, and a repeated CONFIRM still returns the original orderId and fillPrice.',
    expected: 'INVALID_STATE; the signal stays CONFIRMED.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn);
      const c = await confirmOk(ctx, conn, signalId);
      expectRejected(await conn.request(ctx.abort(signalId)), 'INVALID_STATE', 'ABORT of a confirmed signal');
      const again = await confirmOk(ctx, conn, signalId, 'CONFIRM after the refused ABORT');
      expectField(again, 'orderId', c.fields.orderId, 'CONFIRM after the refused ABORT');
      return 'INVALID_STATE; the signal stayed CONFIRMED with the same orderId';
    }),
  },
  // §6.5 "A signal still PREPARED prepareTtlMs after its PREPARE was accepted becomes
  // EXPIRED" §6.3.2 "… of an expired one → SIGNAL_EXPIRED."
  expiredCase('signals.ttl.confirm-expired', '6.3.2', 'CONFIRM'),
  // §6.4 "… of an expired one → SIGNAL_EXPIRED"
  expiredCase('signals.ttl.abort-expired', '6.4', 'ABORT'),
  // §6.5 "… becomes EXPIRED and no longer counts as open."
  {
    id: 'signals.ttl.expired-not-open',
    section: '6.5',
    level: 'MUST',
    description: 'STATUS openOrders rises by 1 after a PREPARE and, prepareTtlMs + 300 ms later without CONFIRM/ABORT, is back to at most its value before the PREPARE.',
    expected: 'An expired signal no longer counts as open.',
    requires: ['prepareTtlMs', 'status'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const ttl = need(ctx.capabilities.prepareTtlMs, 'prepareTtlMs');
      const conn = await ctx.connect();
      const before = metric(await readStatus(ctx, conn), 'openOrders');
      await prepareOk(ctx, conn);
      const during = metric(await readStatus(ctx, conn), 'openOrders');
      check(during === before + 1, `openOrders went from ${before} to ${during} after one PREPARE (expected +1)`);
      await keepAliveSleep(ctx, conn, ttl + 300);
      const after = metric(await readStatus(ctx, conn), 'openOrders');
      check(after <= before, `openOrders is ${after} ${ttl + 300} ms after the PREPARE (was ${before} before it, ${during} with it)`);
      return `openOrders ${before} → ${during} → ${after} after the TTL`;
    }),
  },
  // §6.5 "A server MUST remember terminal states (confirmed, aborted, expired) for at
  // least 5 × prepareTtlMs."
  {
    id: 'signals.ttl.terminal-states-remembered',
    section: '6.5',
    level: 'MUST',
    description:
      'A confirmed, an aborted and an expired signal are still known 4.5 × prepareTtlMs after reaching their terminal state (checked at one time for all three): CONFIRM returns the original orderId / INVALID_STATE / SIGNAL_EXPIRED respectively, and a PREPARE of each id is DUPLICATE_SIGNAL.',
    expected: 'Terminal states are remembered for at least 5 × prepareTtlMs.',
    requires: ['prepareTtlMs'],
    timeoutMs: 120_000,
    run: verdict(async (ctx) => {
      const ttl = need(ctx.capabilities.prepareTtlMs, 'prepareTtlMs');
      const waitMs = Math.round(4.5 * ttl);
      if (waitMs + ttl > 100_000) return informational(`prepareTtlMs ${ttl} is too long to wait 4.5 × TTL within the case budget`);
      const conn = await ctx.connect();
      const expired = await prepareOk(ctx, conn, {}, 'PREPARE (to expire)');
      const confirmed = await prepareOk(ctx, conn, {}, 'PREPARE (to confirm)');
      const c = await confirmOk(ctx, conn, confirmed.signalId);
      const aborted = await prepareOk(ctx, conn, {}, 'PREPARE (to abort)');
      await abortOk(ctx, conn, aborted.signalId);
      // The expired signal reaches its terminal state ttl after its PREPARE. A fresh
      // connection afterwards: the idle timeout (§7.3) may close this one meanwhile.
      await conn.end();
      await ctx.sleep(ttl + waitMs);
      const late = await ctx.connect();
      const again = await confirmOk(ctx, late, confirmed.signalId, `CONFIRM of the confirmed signal ${waitMs} ms later`);
      expectField(again, 'orderId', c.fields.orderId, 'late CONFIRM of the confirmed signal');
      expectRejected(await late.request(ctx.confirm(aborted.signalId)), 'INVALID_STATE', `CONFIRM of the aborted signal ${waitMs} ms later`);
      expectRejected(await late.request(ctx.confirm(expired.signalId)), 'SIGNAL_EXPIRED', `CONFIRM of the expired signal ${waitMs} ms after it expired`);
      for (const id of [confirmed.signalId, aborted.signalId, expired.signalId]) {
        expectRejected(await late.request(ctx.prepare({ signal_id: id })), 'DUPLICATE_SIGNAL', `PREPARE reusing ${id} ${waitMs} ms later`);
      }
      return `after ${waitMs} ms: confirmed/aborted/expired signals still known (original orderId, INVALID_STATE, SIGNAL_EXPIRED; PREPAREs DUPLICATE_SIGNAL)`;
    }),
  },
  // §6.1 "A signal that violates this table MUST be rejected with INVALID_SIGNAL."
  ...SCHEMA_VIOLATIONS.map(
    (v): ConformanceCase => ({
      id: v.id,
      section: '6.1',
      level: 'MUST',
      description: `${v.what.charAt(0).toUpperCase()}${v.what.slice(1)} is rejected with INVALID_SIGNAL, creates nothing, and the connection keeps serving.`,
      expected: 'INVALID_SIGNAL; connection kept.',
      run: verdict(async (ctx) => {
        const signal = v.signal(ctx);
        const id = signal.signal_id;
        return rejectedAndKept(ctx, ctx.encode(signal), 'INVALID_SIGNAL', v.what, isUsableId(id) ? id : undefined);
      }),
    }),
  ),
  // §6.1 "signal_id is a string of 1–128 characters"; "symbol (string 1–32)".
  {
    id: 'signals.schema.boundary-lengths-accepted',
    section: '6.1',
    level: 'MUST',
    description: 'A PREPARE with a signal_id of exactly 128 characters and a symbol of exactly 32 characters is accepted (then ABORTed).',
    expected: 'The maximum lengths are allowed.',
    run: verdict((ctx) =>
      accepted(ctx, { signal_id: ctx.uniqueId('max').padEnd(128, 'x'), symbol: 'S'.repeat(32) }, 'a PREPARE with a 128-character signal_id and a 32-character symbol'),
    ),
  },
  // §6.1 table: only type, signal_id, symbol, side, qty are required for PREPARE and
  // only type, signal_id for CONFIRM.
  {
    id: 'signals.schema.required-fields-only',
    section: '6.1',
    level: 'MUST',
    description: 'A PREPARE with only type, signal_id, symbol, side (Sell) and qty is accepted, and a CONFIRM with only type and signal_id is accepted (CONFIRMED).',
    expected: 'Optional fields may be omitted.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const p = without(ctx.prepare({ side: 'Sell' }), 'leverage', 'price', 'timestamp');
      const reply = expectAccepted(await conn.request(p), 'a PREPARE with only the required fields');
      expectField(reply, 'state', 'PREPARED', 'a PREPARE with only the required fields');
      const c = expectAccepted(await conn.request({ type: 'CONFIRM', signal_id: p.signal_id }), 'a CONFIRM with only type and signal_id');
      expectField(c, 'state', 'CONFIRMED', 'a CONFIRM with only type and signal_id');
      return 'minimal PREPARE and CONFIRM accepted';
    }),
  },
  // §6.1 "Unknown fields MUST be ignored."
  {
    id: 'signals.schema.unknown-fields-ignored',
    section: '6.1',
    level: 'MUST',
    description: 'A PREPARE and its CONFIRM each carrying extra unknown fields (a string, a number and a nested object) are accepted (PREPARED, then CONFIRMED).',
    expected: 'Unknown signal fields are ignored.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const extra = { strategy: 'mean-revert', confidence: 0.82, meta: { source: 'conformance', tags: ['a', 'b'] } };
      const { signalId } = await prepareOk(ctx, conn, extra, 'PREPARE with unknown fields');
      const c = expectAccepted(await conn.request(ctx.confirm(signalId, extra)), 'CONFIRM with unknown fields');
      expectField(c, 'state', 'CONFIRMED', 'CONFIRM with unknown fields');
      return 'PREPARE and CONFIRM with unknown fields accepted';
    }),
  },
  // §6.6 "A PREPARE MUST be rejected with RISK_REJECTED when leverage > maxLeverage,
  // when price is present and qty × price > maxNotional, or when accepting it would
  // make the number of open (PREPARED) signals exceed maxOpenOrders."
  {
    id: 'signals.risk.leverage-above-max',
    section: '6.6',
    level: 'MUST',
    description: 'A PREPARE with leverage maxLeverage + 1 is rejected with RISK_REJECTED and its signal_id stays unused.',
    expected: 'RISK_REJECTED.',
    requires: ['risk'],
    run: verdict((ctx) => riskRejected(ctx, { leverage: riskOf(ctx).maxLeverage + 1 }, `leverage ${riskOf(ctx).maxLeverage + 1}`)),
  },
  // §6.6 "… when leverage > maxLeverage …" (strictly greater).
  {
    id: 'signals.risk.leverage-at-max-accepted',
    section: '6.6',
    level: 'MUST',
    description: 'A PREPARE with leverage exactly maxLeverage is accepted (the limit is "leverage > maxLeverage").',
    expected: 'Accepted at the limit.',
    requires: ['risk'],
    run: verdict((ctx) => accepted(ctx, { leverage: riskOf(ctx).maxLeverage }, `leverage ${riskOf(ctx).maxLeverage} (= maxLeverage)`)),
  },
  // §6.6 "… when price is present and qty × price > maxNotional …"
  {
    id: 'signals.risk.notional-above-max',
    section: '6.6',
    level: 'MUST',
    description: 'A PREPARE with qty 2 and price maxNotional/2 + 1 (notional maxNotional + 2) is rejected with RISK_REJECTED and its signal_id stays unused.',
    expected: 'RISK_REJECTED.',
    requires: ['risk'],
    run: verdict((ctx) => {
      const price = riskOf(ctx).maxNotional / 2 + 1;
      return riskRejected(ctx, { qty: 2, price, leverage: 1 }, `qty 2 × price ${price}`);
    }),
  },
  // §6.6 "… qty × price > maxNotional …" (strictly greater).
  {
    id: 'signals.risk.notional-at-max-accepted',
    section: '6.6',
    level: 'MUST',
    description: 'A PREPARE with qty 2 and price maxNotional/2 (notional exactly maxNotional) is accepted.',
    expected: 'Accepted at the limit.',
    requires: ['risk'],
    run: verdict((ctx) => {
      const price = riskOf(ctx).maxNotional / 2;
      return accepted(ctx, { qty: 2, price, leverage: 1 }, `qty 2 × price ${price} (= maxNotional)`);
    }),
  },
  // §6.6 "… or when accepting it would make the number of open (PREPARED) signals exceed maxOpenOrders."
  {
    id: 'signals.risk.open-orders-limit',
    section: '6.6',
    level: 'MUST',
    description:
      'Starting from STATUS openOrders, PREPAREs fill the book up to maxOpenOrders (all accepted); the next PREPARE is RISK_REJECTED; after one ABORT the same PREPARE is accepted. Everything opened is aborted at the end.',
    expected: 'The open-orders limit is enforced exactly and a freed slot can be reused.',
    requires: ['risk', 'status'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const { maxOpenOrders } = riskOf(ctx);
      const conn = await ctx.connect();
      const before = metric(await readStatus(ctx, conn), 'openOrders');
      check(before < maxOpenOrders, `STATUS already reports ${before} open orders (maxOpenOrders ${maxOpenOrders}) before the case`);
      const opened = await fillOpenOrders(ctx, maxOpenOrders - before);
      const next = ctx.prepare();
      try {
        expectRejected(await conn.request(next), 'RISK_REJECTED', `PREPARE number ${maxOpenOrders + 1} (with ${maxOpenOrders} open)`);
        await abortOk(ctx, conn, opened.shift()!, 'ABORT of one open signal');
        const again = expectAccepted(await conn.request(next), 'the refused PREPARE after one ABORT');
        expectField(again, 'state', 'PREPARED', 'the refused PREPARE after one ABORT');
        opened.push(next.signal_id);
        return `${before} open before; filled ${maxOpenOrders - before} to the limit; PREPARE ${maxOpenOrders + 1} RISK_REJECTED; after one ABORT it was accepted`;
      } finally {
        await cleanup(ctx, conn, opened);
      }
    }),
  },
  // §6.6 "A risk-rejected PREPARE leaves no signal behind (its signal_id stays unused)."
  {
    id: 'signals.risk.rejected-leaves-no-signal',
    section: '6.6',
    level: 'MUST',
    description: 'After a PREPARE is RISK_REJECTED (leverage above max), a CONFIRM of its signal_id is UNKNOWN_SIGNAL and a valid PREPARE with the same signal_id is accepted.',
    expected: 'A risk-rejected signal_id stays unused.',
    requires: ['risk'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const p = ctx.prepare({ leverage: riskOf(ctx).maxLeverage + 1 });
      expectRejected(await conn.request(p), 'RISK_REJECTED', 'PREPARE above maxLeverage');
      expectRejected(await conn.request(ctx.confirm(p.signal_id)), 'UNKNOWN_SIGNAL', 'CONFIRM of the risk-rejected signal_id');
      await expectUnused(ctx, conn, p.signal_id, 'the RISK_REJECTED PREPARE');
      return 'RISK_REJECTED; CONFIRM of its id UNKNOWN_SIGNAL; the id was then prepared successfully';
    }),
  },
  // §6.7 "A server SHOULD limit each connection with a token bucket of burst tokens
  // refilled at refillPerSec, starting full; each request frame takes one token, and
  // a frame arriving with no token is rejected with RATE_LIMITED without further
  // processing. A server that declares rateLimit MUST behave so."
  {
    id: 'signals.rate-limit.burst-then-limited',
    section: '6.7',
    level: 'MUST',
    description:
      '2 × burst requests (ABORTs of unknown ids) in one write: replies come in order, none of the first burst is RATE_LIMITED, at least one later one is, and the non-limited count is at most burst + refillPerSec × elapsed + 1.',
    expected: 'A full bucket of burst tokens, then RATE_LIMITED, bounded by the refill rate.',
    requires: ['rateLimit'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const { burst, refillPerSec } = rateOf(ctx);
      const conn = await ctx.connect();
      const { answers, elapsedMs } = await burstOf(ctx, conn, 2 * burst, `${2 * burst} pipelined requests`);
      const firstLimited = answers.findIndex(limited);
      check(firstLimited !== -1, `none of ${2 * burst} pipelined requests was RATE_LIMITED: ${show(countBy(answers, outcomeOf))}`);
      check(firstLimited >= burst, `reply ${firstLimited + 1} was RATE_LIMITED although the bucket starts with ${burst} tokens`);
      const passed = answers.filter((a) => !limited(a)).length;
      const allowance = Math.floor(burst + (refillPerSec * elapsedMs) / 1_000 + 1);
      check(passed <= allowance, `${passed} requests passed in ${elapsedMs} ms; at most ${allowance} may (burst ${burst} + ${refillPerSec}/s)`);
      return `first RATE_LIMITED at request ${firstLimited + 1}; ${passed} of ${2 * burst} passed in ${elapsedMs} ms (allowance ${allowance})`;
    }),
  },
  // §6.7 "… a token bucket of burst tokens refilled at refillPerSec …"
  {
    id: 'signals.rate-limit.refills',
    section: '6.7',
    level: 'MUST',
    description: 'After the bucket is emptied (2 × burst requests) and the client waits 1.1 × burst / refillPerSec + 100 ms, another burst of requests in one write gets no RATE_LIMITED.',
    expected: 'The bucket refills at refillPerSec up to burst.',
    requires: ['rateLimit'],
    timeoutMs: 90_000,
    run: verdict(async (ctx) => {
      const { burst, refillPerSec } = rateOf(ctx);
      const conn = await ctx.connect();
      const first = await burstOf(ctx, conn, 2 * burst, 'emptying the bucket');
      check(first.answers.some(limited), `the bucket was not emptied by ${2 * burst} requests: ${show(countBy(first.answers, outcomeOf))}`);
      const waitMs = Math.ceil((1.1 * burst * 1_000) / refillPerSec) + 100;
      const idle = ctx.capabilities.idleTimeoutMs;
      if (idle !== undefined && waitMs >= idle - 200) {
        return informational(`refilling ${burst} tokens takes ${waitMs} ms, longer than idleTimeoutMs ${idle}: the connection would be closed first`);
      }
      await ctx.sleep(waitMs);
      const second = await burstOf(ctx, conn, burst, `a burst of ${burst} after ${waitMs} ms`);
      const n = second.answers.filter(limited).length;
      check(n === 0, `${n} of ${burst} requests were RATE_LIMITED ${waitMs} ms after the bucket was emptied`);
      return `bucket emptied; after ${waitMs} ms a full burst of ${burst} passed`;
    }),
  },
  // §6.7 "A server SHOULD limit each connection with a token bucket …"
  {
    id: 'signals.rate-limit.per-connection',
    section: '6.7',
    level: 'MUST',
    description: 'While connection A\'s bucket is empty (its last requests were RATE_LIMITED), the first request on a new connection B is not RATE_LIMITED.',
    expected: 'Each connection has its own bucket.',
    requires: ['rateLimit'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const { burst } = rateOf(ctx);
      const a = await ctx.connect();
      const b = await ctx.connect();
      const res = await burstOf(ctx, a, 2 * burst, 'emptying connection A\'s bucket');
      check(res.answers.some(limited), `connection A was never RATE_LIMITED: ${show(countBy(res.answers, outcomeOf))}`);
      const ev = await b.request(ctx.abort(ctx.uniqueId('never-prepared')));
      const reply = expectRejected(ev, 'UNKNOWN_SIGNAL', 'the first request on connection B');
      return `A rate-limited; B's first request processed normally (${reply.reason})`;
    }),
  },
  // §4.6 "frame (§3) → rate limit (§6.7) → envelope shape (§4.2–4.4.4) → …"; §6.7
  // "a frame arriving with no token is rejected with RATE_LIMITED without further
  // processing."
  {
    id: 'signals.rate-limit.before-envelope-checks',
    section: '6.7',
    level: 'MUST',
    description:
      'burst valid requests followed in the same write by burst malformed envelopes (a decodable object without a signal): the malformed ones are answered RATE_LIMITED or IPC_ERROR only, at least one RATE_LIMITED, and no more IPC_ERROR than refillPerSec × elapsed + 1 (a frame without a token is not checked further).',
    expected: 'The rate limit is applied before the envelope shape is checked (§4.6).',
    requires: ['rateLimit'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const { burst, refillPerSec } = rateOf(ctx);
      const conn = await ctx.connect();
      const malformed = ctx.encodeRaw({ note: 'an envelope without a signal' });
      const t0 = Date.now();
      await conn.write(Buffer.concat([unknownAborts(ctx, burst, (i) => i), ...Array.from({ length: burst }, () => malformed)]));
      const answers = await readAnswers(conn, 2 * burst, 'valid requests then malformed envelopes', 10_000);
      const elapsedMs = Date.now() - t0;
      const tail = answers.slice(burst);
      const other = tail.find((a) => !limited(a) && !isRejectedWith(a, 'IPC_ERROR'));
      check(other === undefined, `a malformed envelope got ${other === undefined ? '' : describeReply(other)}`);
      const checked = tail.filter((a) => isRejectedWith(a, 'IPC_ERROR')).length;
      const allowance = Math.floor((refillPerSec * elapsedMs) / 1_000 + 1);
      check(tail.some(limited), `no malformed envelope was RATE_LIMITED after the burst: ${show(countBy(tail, outcomeOf))}`);
      check(checked <= allowance, `${checked} malformed envelopes were checked (IPC_ERROR) with an empty bucket; at most ${allowance} tokens refilled in ${elapsedMs} ms`);
      return `malformed envelopes after the burst: ${show(countBy(tail, outcomeOf))} in ${elapsedMs} ms`;
    }),
  },
  // §6.8 "STATUS (optional, capability status). Reply: { "accepted": true, "status":
  // { "running", "socketPath", "activeConnections", "maxConnections", "metrics": {
  // "messagesReceived", "messagesProcessed", "messagesFailed", "invalidSignatures",
  // "avgLatencyMs", "minLatencyMs", "maxLatencyMs", "ordersExecuted", "openOrders" } } }"
  {
    id: 'signals.status.shape',
    section: '6.8',
    level: 'MUST',
    description:
      'STATUS is accepted with status.running true, status.socketPath the target\'s socket path, status.activeConnections a number ≥ 1, status.maxConnections a number (equal to the declared maxConnections when declared), and all nine metrics present as finite numbers ≥ 0.',
    expected: 'A STATUS reply with every field of §6.8.',
    requires: ['status'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const view = await readStatus(ctx, conn);
      const { status } = view;
      check(status.running === true, `status.running is ${show(status.running)}, expected true`);
      check(typeof status.socketPath === 'string' && resolve(status.socketPath) === resolve(ctx.target.socketPath), `status.socketPath is ${show(status.socketPath)}, expected ${ctx.target.socketPath}`);
      check(typeof status.activeConnections === 'number' && status.activeConnections >= 1, `status.activeConnections is ${show(status.activeConnections)} with this connection open`);
      check(typeof status.maxConnections === 'number', `status.maxConnections is ${show(status.maxConnections)}`);
      const declared = ctx.capabilities.maxConnections;
      check(declared === undefined || status.maxConnections === declared, `status.maxConnections is ${show(status.maxConnections)}, declared ${String(declared)}`);
      for (const m of STATUS_METRICS) {
        const v = metric(view, m);
        check(v >= 0, `metrics.${m} is ${v}, expected ≥ 0`);
      }
      return `STATUS complete: running, socketPath, activeConnections ${show(status.activeConnections)}, maxConnections ${show(status.maxConnections)}, ${STATUS_METRICS.length} metrics`;
    }),
  },
  // §6.8 "… ordersExecuted (CONFIRMs that executed) and openOrders."
  {
    id: 'signals.status.counters-track-signals',
    section: '6.8',
    level: 'MUST',
    description: 'STATUS openOrders rises by 1 after a PREPARE and falls back after its ABORT; after another PREPARE and its CONFIRM, openOrders is back and ordersExecuted rose by exactly 1.',
    expected: 'openOrders counts PREPARED signals; ordersExecuted counts executed CONFIRMs.',
    requires: ['status'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const s0 = await readStatus(ctx, conn);
      const open0 = metric(s0, 'openOrders');
      const exec0 = metric(s0, 'ordersExecuted');
      const a = await prepareOk(ctx, conn);
      const open1 = metric(await readStatus(ctx, conn), 'openOrders');
      check(open1 === open0 + 1, `openOrders ${open0} → ${open1} after a PREPARE (expected +1)`);
      await abortOk(ctx, conn, a.signalId);
      const open2 = metric(await readStatus(ctx, conn), 'openOrders');
      check(open2 === open0, `openOrders ${open1} → ${open2} after the ABORT (expected ${open0})`);
      const b = await prepareOk(ctx, conn);
      await confirmOk(ctx, conn, b.signalId);
      const s3 = await readStatus(ctx, conn);
      check(metric(s3, 'openOrders') === open0, `openOrders is ${metric(s3, 'openOrders')} after PREPARE+CONFIRM (expected ${open0})`);
      check(metric(s3, 'ordersExecuted') === exec0 + 1, `ordersExecuted ${exec0} → ${metric(s3, 'ordersExecuted')} after one CONFIRM (expected +1)`);
      return `openOrders ${open0} → ${open1} → ${open2}; ordersExecuted ${exec0} → ${exec0 + 1}`;
    }),
  },
  // §6.9 "A server that declares it MUST wait at least delay_ms (0–10 000) before
  // completing that request, without blocking other connections."
  {
    id: 'signals.delay.waits-without-blocking',
    section: '6.9',
    level: 'MUST',
    description: 'A PREPARE with delay_ms 1000 on connection A is answered (accepted) no sooner than 1000 ms after it was sent, while a PREPARE on connection B sent 50 ms later is answered within 500 ms, before A\'s reply.',
    expected: 'delay_ms delays only its own request.',
    requires: ['delay'],
    run: verdict(async (ctx) => {
      const a = await ctx.connect();
      const b = await ctx.connect();
      const slow = ctx.prepare({ delay_ms: 1_000 });
      const t0 = Date.now();
      await a.send(slow);
      await ctx.sleep(50);
      const tb = Date.now();
      const fast = await prepareOk(ctx, b, {}, 'PREPARE on connection B');
      const bMs = Date.now() - tb;
      const slowReply = expectAccepted(await a.read(5_000), 'the delayed PREPARE on connection A');
      const aMs = Date.now() - t0;
      await cleanup(ctx, b, [fast.signalId, slow.signal_id]);
      expectField(slowReply, 'state', 'PREPARED', 'the delayed PREPARE');
      check(bMs < 500, `connection B waited ${bMs} ms while A's delayed request was in flight`);
      check(aMs >= 1_000, `the delay_ms 1000 request was answered after only ${aMs} ms`);
      return `B answered in ${bMs} ms; A's delayed PREPARE answered after ${aMs} ms`;
    }),
  },
  // §6.10 "Every accepted reply SHOULD carry ipc_latency_ms, the server's processing time."
  {
    id: 'signals.ipc-latency-present',
    section: '6.10',
    level: 'SHOULD',
    description: 'The accepted replies to PREPARE, CONFIRM, and to a PREPARE/ABORT pair each carry ipc_latency_ms as a finite number ≥ 0.',
    expected: 'ipc_latency_ms on every accepted reply.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const p1 = await prepareOk(ctx, conn);
      const c1 = await confirmOk(ctx, conn, p1.signalId);
      const p2 = await prepareOk(ctx, conn);
      const a2 = await abortOk(ctx, conn, p2.signalId);
      const replies: Array<[string, Accepted]> = [
        ['PREPARE', p1.reply],
        ['CONFIRM', c1],
        ['PREPARE', p2.reply],
        ['ABORT', a2],
      ];
      for (const [what, r] of replies) {
        const v = r.fields.ipc_latency_ms;
        check(typeof v === 'number' && Number.isFinite(v) && v >= 0, `the ${what} reply has ipc_latency_ms ${show(v)}`);
      }
      return `ipc_latency_ms on all 4 accepted replies: ${replies.map(([, r]) => show(r.fields.ipc_latency_ms)).join(', ')}`;
    }),
  },
];
