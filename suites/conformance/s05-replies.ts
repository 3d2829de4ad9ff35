import type { CaseContext, ConformanceCase } from '../../harness/case.js';
import type { ReasonCode } from '../../protocol/index.js';
import {
  type Rejected,
  check,
  countBy,
  describeReply,
  expectAccepted,
  expectAnswer,
  expectIdsInOrder,
  expectNoReply,
  expectRejected,
  outcomeOf,
  QUIET_MS,
  readAnswers,
  show,
  verdict,
} from './expect.js';
import { cleanup, stillServing } from './flows.js';
import { provocation } from './provoke.js';
import { frameOf, mutatedFrame, sigField, undecodableBody } from './wire.js';

/** docs/SPEC.md §5 Replies. */

const PIPELINED = 20;

/** Sends one PREPARE per id and checks every reply echoes its id with the same type and value (§5.3). */
async function echoes(ctx: CaseContext, ids: readonly (string | number)[]): Promise<string> {
  const conn = await ctx.connect();
  const signals = ids.map(() => ctx.prepare());
  try {
    for (const [i, id] of ids.entries()) {
      const reply = expectAccepted(await conn.request(signals[i]!, { id }), `PREPARE with id ${show(id)}`);
      check(
        reply.id === id,
        `the reply to id ${show(id)} (${typeof id}) carried id ${show(reply.id)} (${reply.id === undefined ? 'absent' : typeof reply.id})`,
      );
    }
  } finally {
    await cleanup(ctx, conn, signals.map((s) => s.signal_id));
  }
  return `ids ${ids.map((id) => `${show(id)} (${typeof id})`).join(', ')} echoed with the same type and value`;
}

/** A decodable but malformed envelope with `id` (IPC_ERROR expected, id known to the server). */
function malformedEnvelopeWithId(ctx: CaseContext, id: string): Buffer {
  return mutatedFrame(
    ctx,
    ctx.prepare(),
    (env) => {
      if (ctx.mode.auth === 'hmac-v2') delete env.body;
      else env.signal = 'not an object';
    },
    { id },
  );
}

/** The recoverable reasons of §5.5 and their "kept" cases (§5.6). */
const KEPT: ReadonlyArray<{ id: string; reason: ReasonCode; timeoutMs?: number }> = [
  { id: 'replies.kept-open.after-ipc-error', reason: 'IPC_ERROR' },
  { id: 'replies.kept-open.after-invalid-signature', reason: 'INVALID_SIGNATURE' },
  { id: 'replies.kept-open.after-stale-timestamp', reason: 'STALE_TIMESTAMP' },
  { id: 'replies.kept-open.after-replay-detected', reason: 'REPLAY_DETECTED' },
  { id: 'replies.kept-open.after-rate-limited', reason: 'RATE_LIMITED', timeoutMs: 30_000 },
  { id: 'replies.kept-open.after-invalid-signal', reason: 'INVALID_SIGNAL' },
  { id: 'replies.kept-open.after-unknown-signal', reason: 'UNKNOWN_SIGNAL' },
  { id: 'replies.kept-open.after-duplicate-signal', reason: 'DUPLICATE_SIGNAL' },
  { id: 'replies.kept-open.after-invalid-state', reason: 'INVALID_STATE' },
  { id: 'replies.kept-open.after-signal-expired', reason: 'SIGNAL_EXPIRED', timeoutMs: 30_000 },
  { id: 'replies.kept-open.after-risk-rejected', reason: 'RISK_REJECTED' },
];

/** Reasons whose rejections the error-text and shape cases provoke in every mode (plus INVALID_SIGNATURE in HMAC modes). */
const COMMON_REJECTIONS: readonly ReasonCode[] = ['IPC_ERROR', 'INVALID_SIGNAL', 'UNKNOWN_SIGNAL', 'DUPLICATE_SIGNAL', 'INVALID_STATE'];

async function provokeAll(ctx: CaseContext): Promise<Rejected[]> {
  const reasons = ctx.mode.auth === 'none' ? COMMON_REJECTIONS : [...COMMON_REJECTIONS, 'INVALID_SIGNATURE' as const];
  const conn = await ctx.connect();
  const out: Rejected[] = [];
  const open: string[] = [];
  try {
    for (const reason of reasons) {
      const p = provocation(reason);
      const res = await p.provoke(ctx, conn);
      open.push(...res.openSignals);
      out.push(expectRejected(res.event, reason, p.how));
    }
  } finally {
    await cleanup(ctx, conn, open);
  }
  return out;
}

export const replyCases: readonly ConformanceCase[] = [
  // §5.1 "A server MUST send exactly one complete reply frame for every request
  // frame (except the non-frames of §3.2.1 and the partial frames of §3.1.2), and
  // none for anything else."
  {
    id: 'replies.one-per-frame',
    section: '5.1',
    level: 'MUST',
    description: `${PIPELINED} requests (PREPARE/ABORT pairs, integer ids 1..${PIPELINED}) written in one write get exactly ${PIPELINED} replies, one per id in order, and no extra reply arrives within ${QUIET_MS} ms.`,
    expected: 'Exactly one reply per request frame.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const frames: Buffer[] = [];
      const prepared: string[] = [];
      for (let i = 0; i < PIPELINED / 2; i++) {
        const p = ctx.prepare();
        prepared.push(p.signal_id);
        frames.push(ctx.encode(p, { id: 2 * i + 1 }), ctx.encode(ctx.abort(p.signal_id), { id: 2 * i + 2 }));
      }
      const ids = frames.map((_, i) => i + 1);
      try {
        await conn.write(Buffer.concat(frames));
        const answers = await readAnswers(conn, PIPELINED, 'pipelined requests');
        expectIdsInOrder(answers, ids, 'pipelined requests');
        await expectNoReply(conn, `after ${PIPELINED} replies`);
        return `${PIPELINED} replies for ${PIPELINED} frames, ids 1..${PIPELINED} in order, then silence: ${show(countBy(answers, outcomeOf))}`;
      } finally {
        await cleanup(ctx, conn, prepared);
      }
    }),
  },
  // §5.1 "… and none for anything else."
  {
    id: 'replies.none-unprompted',
    section: '5.1',
    level: 'MUST',
    description: 'A connection on which nothing is sent receives no bytes within 500 ms (no greeting, no unsolicited reply).',
    expected: 'No reply without a request.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      await expectNoReply(conn, 'an idle new connection', 500);
      return 'nothing received in 500 ms on an idle connection';
    }),
  },
  // §5.2 "Replies on a connection MUST be in request order, even when an earlier
  // request takes longer to process than a later one (pipelining)."
  {
    id: 'replies.order.slow-request-first',
    section: '5.2',
    level: 'MUST',
    description:
      'A PREPARE with delay_ms 300 followed in the same write by 5 fast PREPAREs: the 6 replies arrive in request order (checked by id) and the slow PREPARE is accepted.',
    expected: 'The slow reply is not overtaken by the fast ones.',
    requires: ['delay'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const slow = ctx.prepare({ delay_ms: 300 });
      const fast = Array.from({ length: 5 }, () => ctx.prepare());
      const ids = ['slow', 'fast-1', 'fast-2', 'fast-3', 'fast-4', 'fast-5'];
      try {
        await conn.write(Buffer.concat([slow, ...fast].map((s, i) => ctx.encode(s, { id: ids[i] }))));
        const answers = await readAnswers(conn, ids.length, 'pipelined slow + fast requests', 5_000);
        expectIdsInOrder(answers, ids, 'pipelined slow + fast requests');
        check(answers[0]!.kind === 'accepted', `the slow PREPARE got ${describeReply(answers[0]!)}, expected accepted`);
        return `6 replies in request order (slow first): ${answers.map(outcomeOf).join(', ')}`;
      } finally {
        await cleanup(ctx, conn, [slow, ...fast].map((s) => s.signal_id));
      }
    }),
  },
  // §5.3 "When the envelope has an id, the reply MUST carry the same id (same type
  // and value)."
  {
    id: 'replies.id.string-echoed',
    section: '5.3',
    level: 'MUST',
    description: 'PREPAREs with string ids (ASCII with punctuation, non-ASCII "ü✓", and 128 characters) each get a reply carrying the identical string id.',
    expected: 'String ids are echoed unchanged.',
    run: verdict((ctx) => echoes(ctx, [`req-${ctx.uniqueId('id')}:/#`, 'üñí✓-ид', 'x'.repeat(128)])),
  },
  // §5.3 "… the reply MUST carry the same id (same type and value)." §4.1 id: "a string of at most 128 characters, or an integer"
  {
    id: 'replies.id.integer-echoed',
    section: '5.3',
    level: 'MUST',
    description: 'PREPAREs with integer ids 4242 and 2147483653 (beyond 32 bits) get replies carrying the same numbers (as numbers).',
    expected: 'Integer ids are echoed as the same integers.',
    run: verdict((ctx) => echoes(ctx, [4242, 2 ** 31 + 5])),
  },
  // §5.3 "… (same type and value)."
  {
    id: 'replies.id.type-preserved',
    section: '5.3',
    level: 'MUST',
    description: 'A PREPARE with id "7" (string) and one with id 7 (integer) get replies with "7" (string) and 7 (integer) respectively.',
    expected: 'The id type is preserved.',
    run: verdict((ctx) => echoes(ctx, ['7', 7])),
  },
  // §5.3 "When the envelope has an id, the reply MUST carry the same id"
  {
    id: 'replies.id.falsy-values-echoed',
    section: '5.3',
    level: 'MUST',
    description: 'PREPAREs with id 0 and id "" (empty string) get replies carrying 0 and "" (an id that is present but falsy is still echoed).',
    expected: 'Falsy ids are echoed.',
    run: verdict((ctx) => echoes(ctx, [0, ''])),
  },
  // §5.3 "When the envelope has an id, the reply MUST carry the same id" — rejections included.
  {
    id: 'replies.id.on-rejections',
    section: '5.3',
    level: 'MUST',
    description:
      'Rejections carry the request id: an ABORT of an unknown signal (UNKNOWN_SIGNAL), a decodable but malformed envelope (IPC_ERROR) and, in HMAC modes, a wrongly signed PREPARE (INVALID_SIGNATURE), each with a distinct id.',
    expected: 'A rejection echoes the id like an acceptance.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const unknownId = ctx.uniqueId('rej');
      const malformedId = ctx.uniqueId('rej');
      const checks: Array<{ id: string; reason: ReasonCode; frame: Buffer }> = [
        { id: unknownId, reason: 'UNKNOWN_SIGNAL', frame: ctx.encode(ctx.abort(ctx.uniqueId('never-prepared')), { id: unknownId }) },
        { id: malformedId, reason: 'IPC_ERROR', frame: malformedEnvelopeWithId(ctx, malformedId) },
      ];
      if (ctx.mode.auth !== 'none') {
        const id = ctx.uniqueId('rej');
        const frame = mutatedFrame(ctx, ctx.prepare(), (env) => (env[sigField(ctx)] = '0'.repeat(64)), { id });
        checks.push({ id, reason: 'INVALID_SIGNATURE', frame });
      }
      for (const c of checks) {
        await conn.write(c.frame);
        const rej = expectRejected(await conn.read(), c.reason, `request with id ${c.id}`);
        check(rej.id === c.id, `the ${c.reason} rejection carried id ${show(rej.id)}, expected ${show(c.id)}`);
      }
      return `${checks.map((c) => c.reason).join(', ')} rejections each carried the request id`;
    }),
  },
  // §5.3 "When the body could not be decoded, the reply has no id."
  {
    id: 'replies.id.absent-when-undecodable',
    section: '5.3',
    level: 'MUST',
    description: 'A frame whose body does not decode is rejected with IPC_ERROR and the reply has no id field.',
    expected: 'IPC_ERROR without an id.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      await conn.write(frameOf(ctx, undecodableBody(ctx)));
      const rej = expectRejected(await conn.read(), 'IPC_ERROR', 'an undecodable body');
      check(!('id' in rej.fields), `the rejection carried an id: ${show(rej.fields.id)}`);
      return 'IPC_ERROR without an id';
    }),
  },
  // §5.4 "Success: { "accepted": true, … }. Rejection: { "rejected": true, "reason":
  // <code>, "error"?: <text> }. A reply MUST NOT carry both accepted and rejected."
  // §5.5 "A server MUST NOT send a reason outside this table."
  {
    id: 'replies.shape.accepted-and-rejected',
    section: '5.4',
    level: 'MUST',
    description:
      'Accepted replies (PREPARE, CONFIRM) carry accepted: true and no "rejected"; each provoked rejection (IPC_ERROR, INVALID_SIGNAL, UNKNOWN_SIGNAL, DUPLICATE_SIGNAL, INVALID_STATE, and INVALID_SIGNATURE in HMAC modes) carries rejected: true, a reason from the closed set of §5.5 and no "accepted".',
    expected: 'Every reply has exactly one of accepted/rejected and a reason from the closed set.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const p = ctx.prepare();
      const oks = [expectAnswer(await conn.request(p), 'PREPARE'), expectAnswer(await conn.request(ctx.confirm(p.signal_id)), 'CONFIRM')];
      for (const a of oks) {
        check(a.kind === 'accepted' && a.fields.accepted === true && !('rejected' in a.fields), `an acceptance is shaped ${show(a.fields)}`);
      }
      const rejections = await provokeAll(ctx);
      for (const r of rejections) {
        check(r.fields.rejected === true && !('accepted' in r.fields), `a ${r.reason} rejection is shaped ${show(r.fields)}`);
      }
      return `2 acceptances and ${rejections.length} rejections (${rejections.map((r) => r.reason).join(', ')}) well-shaped`;
    }),
  },
  // §5.4 "error SHOULD say what was wrong."
  {
    id: 'replies.error-text-present',
    section: '5.4',
    level: 'SHOULD',
    description: 'Each provoked rejection (IPC_ERROR, INVALID_SIGNAL, UNKNOWN_SIGNAL, DUPLICATE_SIGNAL, INVALID_STATE, and INVALID_SIGNATURE in HMAC modes) carries a non-empty "error" text.',
    expected: 'Rejections explain themselves in "error".',
    run: verdict(async (ctx) => {
      const rejections = await provokeAll(ctx);
      const missing = rejections.filter((r) => typeof r.error !== 'string' || r.error.trim() === '');
      check(missing.length === 0, `rejections without an error text: ${missing.map(describeReply).join('; ')}`);
      return `all ${rejections.length} rejections carried an error text`;
    }),
  },
  // §5.6 "For the codes marked kept the server MUST keep the connection open and
  // answer the next frame."
  ...KEPT.map((k): ConformanceCase => {
    const p = provocation(k.reason);
    return {
      id: k.id,
      section: '5.6',
      level: 'MUST',
      description: `After a ${k.reason} rejection (provoked by ${p.how}), the same connection stays open: a PREPARE and its ABORT sent next on it are both accepted.`,
      expected: `${k.reason} keeps the connection open.`,
      ...(p.requires !== undefined ? { requires: p.requires } : {}),
      ...(p.appliesTo !== undefined ? { appliesTo: p.appliesTo } : {}),
      ...(k.timeoutMs !== undefined ? { timeoutMs: k.timeoutMs } : {}),
      run: verdict(async (ctx) => {
        const conn = await ctx.connect();
        const res = await p.provoke(ctx, conn);
        try {
          const rej = expectRejected(res.event, k.reason, p.how);
          if (res.settleMs > 0) await ctx.sleep(res.settleMs);
          await stillServing(ctx, conn, `a ${k.reason} rejection`);
          return `${k.reason}${rej.error !== undefined ? ` (${show(rej.error, 80)})` : ''}, then PREPARE and ABORT accepted on the same connection`;
        } finally {
          await cleanup(ctx, conn, res.openSignals);
        }
      }),
    };
  }),
];
