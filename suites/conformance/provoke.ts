import type { CapabilityName, CaseContext, ModeInfo, ReadEvent, WireConnection } from '../../harness/case.js';
import type { ReasonCode } from '../../protocol/index.js';
import { expectAccepted, need } from './expect.js';
import { keepAliveSleep, unknownAborts } from './flows.js';
import { frameOf, modes, mutatedFrame, sigField, undecodableBody } from './wire.js';

/**
 * One way to make the server reject with each recoverable reason of §5.5, on a
 * connection the caller owns. Used by the §5 cases that check what every rejection
 * has in common (connection kept, error text, shape).
 */
export interface Provoked {
  /** The reply event that should carry the reason. */
  readonly event: ReadEvent;
  /** Signals the provocation left PREPARED (to ABORT afterwards). */
  readonly openSignals: readonly string[];
  /** Time to wait before the connection can be expected to accept again (rate limit refill). */
  readonly settleMs: number;
}

export interface Provocation {
  readonly reason: ReasonCode;
  /** How the rejection is provoked, for descriptions. */
  readonly how: string;
  readonly appliesTo?: (mode: ModeInfo) => boolean;
  readonly requires?: readonly CapabilityName[];
  provoke(ctx: CaseContext, conn: WireConnection): Promise<Provoked>;
}

const done = (event: ReadEvent, openSignals: readonly string[] = [], settleMs = 0): Provoked => ({ event, openSignals, settleMs });

async function writeRead(conn: WireConnection, frame: Uint8Array): Promise<ReadEvent> {
  await conn.write(frame);
  return conn.read();
}

export const PROVOCATIONS: Readonly<Partial<Record<ReasonCode, Provocation>>> = {
  IPC_ERROR: {
    reason: 'IPC_ERROR',
    how: 'a frame whose body does not decode',
    provoke: async (ctx, conn) => done(await writeRead(conn, frameOf(ctx, undecodableBody(ctx)))),
  },
  INVALID_SIGNATURE: {
    reason: 'INVALID_SIGNATURE',
    how: 'a PREPARE with a wrong (well-formed) signature',
    appliesTo: modes.hmac,
    provoke: async (ctx, conn) => {
      const frame = mutatedFrame(ctx, ctx.prepare(), (env) => {
        const s = String(env[sigField(ctx)]);
        env[sigField(ctx)] = `${s.slice(0, 63)}${s.endsWith('0') ? '1' : '0'}`;
      });
      return done(await writeRead(conn, frame));
    },
  },
  STALE_TIMESTAMP: {
    reason: 'STALE_TIMESTAMP',
    how: 'a PREPARE whose ts is timestampWindowMs + 5 s old',
    appliesTo: modes.hmacV2,
    requires: ['timestampWindowMs'],
    provoke: async (ctx, conn) => {
      const window = need(ctx.capabilities.timestampWindowMs, 'timestampWindowMs');
      return done(await conn.request(ctx.prepare(), { ts: Date.now() - window - 5_000 }));
    },
  },
  REPLAY_DETECTED: {
    reason: 'REPLAY_DETECTED',
    how: 'an accepted PREPARE frame sent a second time',
    appliesTo: modes.hmacV2,
    provoke: async (ctx, conn) => {
      const p = ctx.prepare();
      const frame = ctx.encode(p);
      expectAccepted(await writeRead(conn, frame), 'the original PREPARE');
      return done(await writeRead(conn, frame), [p.signal_id]);
    },
  },
  RATE_LIMITED: {
    reason: 'RATE_LIMITED',
    how: 'twice the burst of requests in one write',
    requires: ['rateLimit'],
    provoke: async (ctx, conn) => {
      const { burst, refillPerSec } = need(ctx.capabilities.rateLimit, 'rateLimit');
      const count = 2 * burst;
      await conn.write(unknownAborts(ctx, count, (i) => i));
      let limited: ReadEvent | undefined;
      let last: ReadEvent = { type: 'timeout', afterMs: 0 };
      for (let i = 0; i < count; i++) {
        last = await conn.read();
        if (last.type !== 'reply') break;
        if (limited === undefined && last.reply.kind === 'rejected' && last.reply.reason === 'RATE_LIMITED') limited = last;
      }
      // Two tokens (PREPARE + ABORT of the follow-up check), with room for timer jitter.
      return done(limited ?? last, [], Math.ceil((3 * 1_000) / refillPerSec) + 50);
    },
  },
  INVALID_SIGNAL: {
    reason: 'INVALID_SIGNAL',
    how: 'a PREPARE with qty 0',
    provoke: async (ctx, conn) => done(await conn.request(ctx.prepare({ qty: 0 }))),
  },
  UNKNOWN_SIGNAL: {
    reason: 'UNKNOWN_SIGNAL',
    how: 'an ABORT of a signal_id never prepared',
    provoke: async (ctx, conn) => done(await conn.request(ctx.abort(ctx.uniqueId('never-prepared')))),
  },
  DUPLICATE_SIGNAL: {
    reason: 'DUPLICATE_SIGNAL',
    how: 'a PREPARE repeated with the same signal_id',
    provoke: async (ctx, conn) => {
      const p = ctx.prepare();
      expectAccepted(await conn.request(p), 'the first PREPARE');
      return done(await conn.request(p), [p.signal_id]);
    },
  },
  INVALID_STATE: {
    reason: 'INVALID_STATE',
    how: 'a CONFIRM of an aborted signal',
    provoke: async (ctx, conn) => {
      const p = ctx.prepare();
      expectAccepted(await conn.request(p), 'PREPARE');
      expectAccepted(await conn.request(ctx.abort(p.signal_id)), 'ABORT');
      return done(await conn.request(ctx.confirm(p.signal_id)));
    },
  },
  SIGNAL_EXPIRED: {
    reason: 'SIGNAL_EXPIRED',
    how: 'a CONFIRM sent prepareTtlMs + 300 ms after its PREPARE',
    requires: ['prepareTtlMs'],
    provoke: async (ctx, conn) => {
      const ttl = need(ctx.capabilities.prepareTtlMs, 'prepareTtlMs');
      const p = ctx.prepare();
      expectAccepted(await conn.request(p), 'PREPARE');
      await keepAliveSleep(ctx, conn, ttl + 300);
      return done(await conn.request(ctx.confirm(p.signal_id)));
    },
  },
  RISK_REJECTED: {
    reason: 'RISK_REJECTED',
    how: 'a PREPARE with leverage maxLeverage + 1',
    requires: ['risk'],
    provoke: async (ctx, conn) => {
      const { maxLeverage } = need(ctx.capabilities.risk, 'risk');
      return done(await conn.request(ctx.prepare({ leverage: maxLeverage + 1 })));
    },
  },
};

export function provocation(reason: ReasonCode): Provocation {
  const p = PROVOCATIONS[reason];
  if (p === undefined) throw new Error(`internal: no provocation for ${reason}`);
  return p;
}
