import * as fc from 'fast-check';
import type { ReadEvent, WireConnection } from '../../harness/case.js';
import { fuzzProperty, type FuzzProperty } from '../../harness/fuzz-property.js';
import { beginEnd, collect, evenPieces, exchangeOnce, FuzzEnv, isMaxConnections, ONE_WRITE, sendFin, settle, writePieces, type Ending } from './exchange.js';
import { anyFrameArb, frameTemplateArb, idRefArb, splitPlanArb, type AnyFrameTemplate, type SplitPlan } from './frame-arbitraries.js';
import { buildFrame, InputState, type FrameTemplate, type IdRef } from './frame-build.js';
import type { StreamModel } from './frame-model.js';
import { buildAny, splitPieces } from './frames.js';

/**
 * Transport-level fuzz properties (docs/SPEC.md §3.1.2, §3.1.3, §5.2, §7.1): split and
 * coalesced writes, slow writers, pipelined requests with delays, several interleaved
 * connections up to and beyond maxConnections, abrupt closes.
 */

// ── fuzz.transport.chunked ───────────────────────────────────────────────────

interface ChunkedInput {
  readonly frames: readonly AnyFrameTemplate[];
  readonly split: SplitPlan;
  readonly gapMs: number;
}

const chunked: FuzzProperty<ChunkedInput> = {
  id: 'fuzz.transport.chunked',
  section: '3.1.3',
  level: 'MUST',
  description: 'Valid and mutated frames coalesced into one stream and split at random points (down to one byte per write)',
  expected: 'the same replies as for one write: frame boundaries are independent of write boundaries',
  weight: 1.5,
  arbitrary: (ctx) =>
    fc.record({
      frames: fc.array(anyFrameArb(ctx), { minLength: 1, maxLength: 6 }),
      split: splitPlanArb(),
      gapMs: fc.constantFrom(0, 0, 0, 1),
    }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const bytes = Buffer.concat(input.frames.map((t) => buildAny(env, state, t)));
    return exchangeOnce(env, bytes, { cuts: [], gapMs: input.gapMs }, splitPieces(bytes, input.split));
  },
};

// ── fuzz.transport.slow-writer ───────────────────────────────────────────────

/** A slow input is cut into at most this many pieces, so one input stays well under a second. */
export const MAX_SLOW_PIECES = 12;

interface SlowInput {
  readonly frames: readonly FrameTemplate[];
  readonly pieceBytes: number;
  readonly gapMs: number;
}

const slowWriter: FuzzProperty<SlowInput> = {
  id: 'fuzz.transport.slow-writer',
  section: '3.1.3',
  level: 'MUST',
  description: `Valid frames written a few bytes at a time with pauses of 1-6 ms (at most ${MAX_SLOW_PIECES} pieces)`,
  expected: 'every frame answered once complete, in order; nothing is answered before its last byte arrives',
  weight: 0.3,
  arbitrary: (ctx) =>
    fc.record({
      frames: fc.array(frameTemplateArb(ctx), { minLength: 1, maxLength: 3 }),
      pieceBytes: fc.integer({ min: 1, max: 64 }),
      gapMs: fc.integer({ min: 1, max: 6 }),
    }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const bytes = Buffer.concat(input.frames.map((t) => buildFrame(ctx, t, state, env.fresh).bytes));
    const pieceBytes = Math.max(input.pieceBytes, Math.ceil(bytes.length / MAX_SLOW_PIECES));
    return exchangeOnce(env, bytes, { cuts: [], gapMs: input.gapMs }, evenPieces(bytes, pieceBytes));
  },
};

// ── fuzz.transport.pipelined ─────────────────────────────────────────────────

interface PipelinedRequest {
  readonly type: 'PREPARE' | 'CONFIRM' | 'ABORT';
  readonly delayMs: number;
  readonly ref: IdRef;
}

interface PipelinedInput {
  readonly requests: readonly PipelinedRequest[];
  readonly split: SplitPlan;
}

function pipelinedTemplate(r: PipelinedRequest): FrameTemplate {
  const fields: Record<string, unknown> = r.type === 'PREPARE' ? { symbol: 'BTCUSDT', side: 'Buy', qty: 0.01, price: 50_000 } : {};
  if (r.delayMs > 0) fields.delay_ms = r.delayMs;
  return { signal: { type: r.type, ref: r.type === 'PREPARE' ? { kind: 'fresh' } : r.ref, fields }, id: { kind: 'index' }, binaryBody: false };
}

const pipelined: FuzzProperty<PipelinedInput> = {
  id: 'fuzz.transport.pipelined',
  section: '5.2',
  level: 'MUST',
  description: 'Pipelined PREPARE/CONFIRM/ABORT requests, some held back with delay_ms (5-15 ms) so that later ones finish first',
  expected: 'replies in request order, each echoing its id, whatever the processing time of each request',
  requires: ['delay'],
  weight: 1,
  arbitrary: () =>
    fc.record({
      requests: fc.array(
        fc.record({
          type: fc.constantFrom<PipelinedRequest['type']>('PREPARE', 'CONFIRM', 'ABORT'),
          // At least 5 ms, so a later quick request reliably overtakes it on a server that does not keep order.
          delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 5, max: 15 })),
          ref: idRefArb(),
        }),
        { minLength: 2, maxLength: 6 },
      ),
      split: splitPlanArb(),
    }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const bytes = Buffer.concat(input.requests.map((r) => buildFrame(ctx, pipelinedTemplate(r), state, env.fresh).bytes));
    return exchangeOnce(env, bytes, ONE_WRITE, splitPieces(bytes, input.split));
  },
};

// ── fuzz.transport.connections ───────────────────────────────────────────────

/** A target whose maxConnections is at most this is filled to its limit and beyond (a larger one only gets a few connections). */
export const MAX_CONNECTIONS_TO_FILL = 32;

interface ConnectionPlan {
  readonly frames: readonly AnyFrameTemplate[];
  /** The connection's bytes are written in this many pieces, interleaved with the other connections'. */
  readonly pieces: number;
}

interface ConnectionsInput {
  readonly connections: readonly ConnectionPlan[];
}

const connections: FuzzProperty<ConnectionsInput> = {
  id: 'fuzz.transport.connections',
  section: '7.1',
  level: 'MUST',
  description: 'Several connections at once (up to maxConnections + 3), their writes interleaved piece by piece',
  expected:
    'each connection served independently (its replies judged like a single connection), except those beyond maxConnections: one complete MAX_CONNECTIONS_REACHED frame each, then a close (§7.1, §5.6); never more than maxConnections served at once',
  requires: ['maxConnections'],
  weight: 1,
  timeoutMs: 20_000,
  arbitrary: (ctx) => {
    const max = ctx.capabilities.maxConnections ?? 4;
    const plan = fc.record({ frames: fc.array(anyFrameArb(ctx, 6, 1), { minLength: 1, maxLength: 3 }), pieces: fc.integer({ min: 1, max: 3 }) });
    const few = fc.array(plan, { minLength: 2, maxLength: Math.max(2, Math.min(4, max)) });
    // Up to the limit and beyond it, where the limit is small enough to reach on every input.
    const connections = max <= MAX_CONNECTIONS_TO_FILL ? fc.oneof({ weight: 2, arbitrary: few }, { weight: 1, arbitrary: fc.array(plan, { minLength: max, maxLength: max + 3 }) }) : few;
    return fc.record({ connections });
  },
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const max = ctx.capabilities.maxConnections ?? Number.POSITIVE_INFINITY;
    const open: Array<{ conn: WireConnection; model: StreamModel; pieces: Buffer[] }> = [];
    for (let i = 0; i < input.connections.length; i++) {
      const plan = input.connections[i]!;
      let conn: WireConnection;
      try {
        conn = await ctx.connect();
      } catch (err) {
        return `connection ${i + 1}: connect failed (${err instanceof Error ? err.message : String(err)}); a server at its limit still accepts and answers MAX_CONNECTIONS_REACHED (§7.1)`;
      }
      const state = new InputState();
      const bytes = Buffer.concat(plan.frames.map((t) => buildAny(env, state, t)));
      const model = env.model();
      model.push(bytes);
      open.push({ conn, model, pieces: evenPieces(bytes, Math.ceil(bytes.length / plan.pieces)) });
    }
    // Interleave: piece r of every connection, then piece r + 1, ...
    const rounds = Math.max(...open.map((o) => o.pieces.length));
    for (let r = 0; r < rounds; r++) {
      for (const o of open) {
        const piece = o.pieces[r];
        if (piece !== undefined) await writePieces(ctx, o.conn, [piece], 0);
      }
      await ctx.sleep(0);
    }
    // Phase 1, nothing closed yet: end each input (sentinel between frames; FINs wait) and read each first reply.
    const endings: Ending[] = [];
    for (const o of open) endings.push(await beginEnd(env, o.conn, o.model, { deferFin: true }));
    const firsts: Array<ReadEvent | undefined> = [];
    for (const o of open) firsts.push(o.model.replies.length > 0 ? await o.conn.read(env.readTimeoutMs + (o.model.replies[0]?.delayMs ?? 0)) : undefined);
    // A connection that answered (not MAX_CONNECTIONS_REACHED) and that the server has no reason to close was served
    // while all of them were open: at most maxConnections of those (§7.1).
    const served = open.filter((o, i) => {
      const ev = firsts[i];
      return ev !== undefined && ev.type === 'reply' && !isMaxConnections(ev) && o.model.end !== 'closed' && !o.model.replies.some((r) => r.closes);
    }).length;
    if (served > max) {
      return `${served} connections were served at once (each answered a request and stayed open), above maxConnections ${max} (§7.1: a connection beyond the limit gets MAX_CONNECTIONS_REACHED, then a close)`;
    }
    // Phase 2: FINs, then every connection judged in full.
    endings.forEach((e, i) => {
      if (e.finish === 'fin') sendFin(open[i]!.conn);
    });
    for (let i = 0; i < open.length; i++) {
      const o = open[i]!;
      const settled = await collect(env, o.conn, o.model, endings[i]!, { label: `connection ${i + 1} of ${open.length}: `, mayBeRefused: true }, firsts[i]);
      if (settled.problem !== undefined) return settled.problem;
    }
    return undefined;
  },
};

// ── fuzz.transport.abrupt-close ──────────────────────────────────────────────

interface AbruptInput {
  readonly frames: readonly FrameTemplate[];
  readonly cut: number;
  readonly how: 'fin' | 'reset';
  readonly waitMs: number;
}

const abruptClose: FuzzProperty<AbruptInput> = {
  id: 'fuzz.transport.abrupt-close',
  section: '3.1.2',
  level: 'MUST',
  description: 'Valid frames cut at a random byte, then the client closes: a FIN (half-close) or an immediate reset, possibly while replies are still pending',
  expected:
    'after a FIN every complete frame is answered and the partial one discarded without a reply; after a reset the server keeps serving other connections (checked by the engine after every input)',
  weight: 1,
  arbitrary: (ctx) =>
    fc.record({
      frames: fc.array(frameTemplateArb(ctx), { minLength: 1, maxLength: 4 }),
      cut: fc.nat(),
      how: fc.constantFrom<'fin' | 'reset'>('fin', 'reset'),
      waitMs: fc.constantFrom(0, 0, 1, 5),
    }),
  async run(input, ctx) {
    const env = new FuzzEnv(ctx);
    const state = new InputState();
    const bytes = Buffer.concat(input.frames.map((t) => buildFrame(ctx, t, state, env.fresh).bytes));
    const cut = input.cut % (bytes.length + 1);
    const sent = bytes.subarray(0, cut);
    ctx.note(`${input.how === 'fin' ? 'FIN' : 'reset'} after ${cut} of ${bytes.length} bytes`);
    const conn = await ctx.connect();
    if (sent.length > 0) await conn.write(sent);
    if (input.how === 'reset') {
      if (input.waitMs > 0) await ctx.sleep(input.waitMs);
      conn.destroy();
      return undefined;
    }
    const model = env.model();
    model.push(sent);
    return (await settle(env, conn, model, { fin: true })).problem;
  },
};

/** The transport-level properties. */
export const transportFuzzProperties: readonly FuzzProperty[] = [
  fuzzProperty(chunked),
  fuzzProperty(slowWriter),
  fuzzProperty(pipelined),
  fuzzProperty(connections),
  fuzzProperty(abruptClose),
];
