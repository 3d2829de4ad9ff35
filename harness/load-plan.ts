import { resolve } from 'node:path';
import { z } from 'zod';
import {
  AUTH_MODES,
  decodeBody,
  encodeRequest,
  parseFraming,
  type FramingSpec,
  type WireMode,
} from '../protocol/index.js';
import type { LoopKind } from './bench-result.js';
import { specDialect, type Dialect } from './dialect.js';
import { loadTargetFile } from './target-file.js';
import type { ResolvedTarget } from './targets.js';

/**
 * The plan of one load group (a set of connections driven by one thread). Plain,
 * zod-validated data, because it crosses into worker threads; the request factory and
 * the reply check are rebuilt from it on the other side.
 */

/** Where the dialect comes from: the spec's, or the target file that declared it. */
export const DialectRefSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('spec') }),
  z.object({ kind: z.literal('target-file'), path: z.string().min(1) }),
]);
export type DialectRef = z.infer<typeof DialectRefSchema>;

/** How requests are built. */
export const RequestRecipeSchema = z.object({
  framing: z.string().min(1),
  maxFrameBytes: z.number().int().positive(),
  auth: z.enum(AUTH_MODES),
  secret: z.string(),
  /** Size the signal (its JSON text) is padded up to; the minimal signal is ~70 bytes. */
  signalBytes: z.number().int().min(0).max(64 * 1024 * 1024),
  dialect: DialectRefSchema,
  /** `dialect`: replies must be acceptances echoing the request id; `frame`: any complete frame counts (echo floors). */
  replyCheck: z.enum(['dialect', 'frame']),
  /** Prefix of every signal_id, unique per scenario and connection group. */
  idPrefix: z.string().min(1).max(40),
  /**
   * Requests per connection built and signed before the clock starts (0: each is built
   * when it is sent). For throughput runs, so that signing in the generator does not
   * cap what the target is offered.
   */
  presign: z.number().int().min(0).max(10_000_000).default(0),
});
export type RequestRecipe = z.infer<typeof RequestRecipeSchema>;

export const LoadPlanSchema = z.object({
  socketPath: z.string().min(1),
  loop: z.enum(['closed', 'open']),
  /** Connections of this group. */
  connections: z.number().int().positive(),
  /** Index of this group's first connection in the scenario (for open-loop phase offsets). */
  firstConnection: z.number().int().min(0),
  /** Connections of the whole scenario. */
  totalConnections: z.number().int().positive(),
  /** Requests in flight per connection (closed) or the most allowed outstanding (open). */
  depth: z.number().int().positive().max(100_000),
  /** Open loop: offered rate of the whole scenario. */
  ratePerSec: z.number().positive().optional(),
  warmupMs: z.number().min(0),
  durationMs: z.number().positive(),
  /** A connection whose oldest request has waited this long is reported as not answering. */
  replyTimeoutMs: z.number().positive(),
  /** Open loop: a send later than its intended time by more than this is counted late. */
  lateThresholdUs: z.number().positive(),
  /** Interval length of the per-interval histograms. */
  intervalMs: z.number().positive(),
  /** Time zero of the run, `process.hrtime.bigint()` as a decimal string (shared by all threads). */
  originNs: z.string().regex(/^\d+$/),
  /** When the group starts sending, ns after origin. */
  startAtNs: z.number().min(0),
  request: RequestRecipeSchema,
  /**
   * Stream instead of keep (soak runs of hours in constant memory): each interval
   * histogram is reported as soon as no request intended in it is still in flight and
   * then dropped, and the counters are reported every `progressMs`. Off, the intervals
   * are kept until the end and returned with the result (bench).
   */
  streamIntervals: z.boolean().default(false),
  /** Streaming: time between two counter reports. */
  progressMs: z.number().positive().default(1_000),
});
export type LoadPlan = z.infer<typeof LoadPlanSchema>;

/** Builds request frames for one connection: `build(seq)` returns the complete frame with envelope id `seq`. */
export interface RequestFactory {
  readonly framing: FramingSpec;
  build(seq: number): Buffer;
  /** Checks one reply frame body; returns undefined when it is a good reply to `seq`, else why not. */
  check(body: Buffer, seq: number): string | undefined;
  /** Size of the signal text of a typical request (after padding). */
  readonly signalBytes: number;
}

/** The fixed part of every benchmark signal: the smallest valid PREPARE (§6.1), about 75 bytes of JSON. */
function baseSignal(signalId: string): Record<string, unknown> {
  return { type: 'PREPARE', signal_id: signalId, symbol: 'BTC', side: 'Buy', qty: 1 };
}

/** Where a load worker finds `target`'s dialect: the spec's, or the target file that declares one. */
export function dialectRefOf(target: ResolvedTarget): DialectRef {
  return target.source === 'built-in' || target.source.startsWith('unix:') || target.dialect.name === 'spec'
    ? { kind: 'spec' }
    : { kind: 'target-file', path: resolve(target.source) };
}

async function loadDialect(ref: DialectRef): Promise<Dialect> {
  if (ref.kind === 'spec') return specDialect;
  return (await loadTargetFile(ref.path)).dialect;
}

/**
 * Rebuilds the request factory of a recipe for connection `connection`. Signal ids are
 * `${idPrefix}${connection}.${seq base 36}`, so they never repeat within a run.
 */
export async function createRequestFactory(recipe: RequestRecipe, connection: number): Promise<RequestFactory> {
  const framing = parseFraming(recipe.framing, recipe.maxFrameBytes);
  const mode: WireMode = { framing, auth: recipe.auth, secret: recipe.secret };
  const dialect = await loadDialect(recipe.dialect);
  const prefix = `${recipe.idPrefix}${connection.toString(36)}.`;
  const minimal = JSON.stringify(baseSignal(`${prefix}0000`)).length;
  // `memo` is an extra field the spec's schemas ignore (§6.1 allows unknown fields).
  const padLength = Math.max(0, recipe.signalBytes - minimal - ',"memo":""'.length);
  const pad = padLength > 0 ? 'x'.repeat(padLength) : undefined;
  const build = (seq: number): Buffer => {
    const signal = baseSignal(prefix + seq.toString(36).padStart(4, '0'));
    if (pad !== undefined) signal.memo = pad;
    return encodeRequest(mode, dialect.toTarget(signal), { id: seq });
  };
  const sample = baseSignal(`${prefix}0000`);
  if (pad !== undefined) sample.memo = pad;
  const signalBytes = JSON.stringify(sample).length;
  const classify = (value: unknown, seq: number): string | undefined => {
    const reply = dialect.classify(value);
    if (reply.kind === 'malformed') return `malformed reply: ${reply.problem}`;
    if (reply.id !== undefined && reply.id !== seq) return `reply id ${String(reply.id)} out of order (expected ${seq})`;
    if (reply.kind === 'rejected') return `rejected: ${reply.reason}`;
    return undefined;
  };
  const check =
    recipe.replyCheck === 'frame'
      ? () => undefined
      : (body: Buffer, seq: number): string | undefined => {
          const decoded = decodeBody(framing.codec, body);
          if (!decoded.ok) return `undecodable reply: ${decoded.error}`;
          const v = decoded.value as { accepted?: unknown; rejected?: unknown; id?: unknown } | null;
          // Spec dialect, the common case: an acceptance echoing the id needs no schema walk.
          if (dialect === specDialect && typeof v === 'object' && v !== null && v.accepted === true && v.rejected === undefined && v.id === seq) return undefined;
          return classify(decoded.value, seq);
        };
  return { framing, build, check, signalBytes };
}

/** Validates a plan coming from another thread. */
export function parseLoadPlan(value: unknown): LoadPlan {
  return LoadPlanSchema.parse(value);
}

export type { LoopKind };
