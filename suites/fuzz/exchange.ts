import type { CaseContext, ModeInfo, ReadEvent, WireConnection } from '../../harness/case.js';
import { replyProblem } from '../../harness/fuzz-property.js';
import { decodeBody, isPlainObject } from '../../protocol/index.js';
import { bodyOfFrame, randomFreshSource, type FreshSource } from './frame-build.js';
import { judgeReply, outcomeOf, StreamModel, type ModelContext, type StreamEnd } from './frame-model.js';
import { positionIn } from './mutations.js';

/**
 * Drives one input over real connections and judges every reply with the
 * {@link StreamModel}: writes the bytes (in pieces, with gaps, as planned), then
 *
 * - between frames: a **sentinel** request (a valid STATUS, or an ABORT of an unknown
 *   id) whose reply must come next, which proves the connection stayed open after
 *   every non-closing rejection (§5.6) and that no extra reply came before it (§5.1);
 * - in the middle of a frame: a FIN, after which the partial frame must be discarded
 *   without a reply (§3.1.2);
 * - after a fatal error: nothing; the closing reply must be followed by a close (§5.6).
 */

/** Default wait for one reply. Generous: CI machines are slow and shared. */
export const FUZZ_READ_TIMEOUT_MS = 2_000;
/** How long the connection may stay open after a closing reply (FRAME_TOO_LARGE, …). */
export const CLOSE_DEADLINE_MS = 1_000;
/** How long to watch for a (forbidden) reply to a partial frame after our FIN. */
export const PARTIAL_WAIT_MS = 300;
/** Envelope id of sentinel requests. */
export const SENTINEL_ID = 'fuzz-sentinel';

/** How an input's bytes are written: cut points (taken modulo length + 1) and a pause between pieces. */
export interface WritePlan {
  readonly cuts: readonly number[];
  /** Pause between pieces in ms (0: one event-loop turn). */
  readonly gapMs: number;
}

/** One write with everything. */
export const ONE_WRITE: WritePlan = { cuts: [], gapMs: 0 };

/** Splits `bytes` at the cut points (each taken modulo length + 1; duplicates and ends dropped). Pure. */
export function piecesOf(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const points = [...new Set(cuts.map((c) => positionIn(c, buf.length)))].filter((p) => p > 0 && p < buf.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(buf.subarray(start, p));
    start = p;
  }
  out.push(buf.subarray(start));
  return out.filter((p) => p.length > 0);
}

/** Splits `bytes` into pieces of `pieceBytes`. Pure. */
export function evenPieces(bytes: Uint8Array, pieceBytes: number): Buffer[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const step = Math.max(1, Math.trunc(pieceBytes));
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += step) out.push(buf.subarray(i, Math.min(buf.length, i + step)));
  return out;
}

const nextTurn = (): Promise<void> => new Promise((res) => setImmediate(res));

/** Writes pieces one by one, pausing `gapMs` (or one event-loop turn) between them. */
export async function writePieces(ctx: CaseContext, conn: WireConnection, pieces: readonly Uint8Array[], gapMs: number): Promise<void> {
  for (let i = 0; i < pieces.length; i++) {
    if (conn.closed) return;
    await conn.write(pieces[i]!);
    if (i < pieces.length - 1 && pieces.length > 1) await (gapMs > 0 ? ctx.sleep(gapMs) : nextTurn());
  }
}

/** Whether a mode's target speaks the spec's vocabulary (no dialect), probed once per mode. */
const specVocabularyByMode = new WeakMap<ModeInfo, boolean>();

function speaksSpec(ctx: CaseContext): boolean {
  const known = specVocabularyByMode.get(ctx.mode);
  if (known !== undefined) return known;
  const probe = { type: 'PREPARE', signal_id: 'vocabulary-probe', symbol: 'X', side: 'Buy', qty: 1 };
  let same = false;
  try {
    const res = decodeBody(ctx.mode.framing.codec, bodyOfFrame(ctx.mode, ctx.encode(probe)));
    if (res.ok && isPlainObject(res.value)) {
      const env = res.value;
      let signal: unknown = env.signal;
      if (ctx.mode.auth === 'hmac-v2' && typeof env.body === 'string') signal = JSON.parse(env.body) as unknown;
      same = JSON.stringify(signal) === JSON.stringify(probe);
    }
  } catch {
    same = false;
  }
  specVocabularyByMode.set(ctx.mode, same);
  return same;
}

/** Everything one input needs to build frames and model replies. */
export class FuzzEnv {
  readonly fresh: FreshSource = randomFreshSource();
  /** Ids and nonces already used by frames of this input, across its connections. */
  readonly seen = { ids: new Set<string>(), nonces: new Set<string>() };
  readonly specVocabulary: boolean;
  constructor(
    readonly ctx: CaseContext,
    readonly readTimeoutMs: number = FUZZ_READ_TIMEOUT_MS,
  ) {
    this.specVocabulary = speaksSpec(ctx);
  }

  /** The model context right now (the clock is read when bytes are about to be sent). */
  modelContext(): ModelContext {
    return {
      mode: this.ctx.mode,
      capabilities: this.ctx.capabilities,
      nowMs: Date.now(),
      freshNonces: this.fresh.nonces,
      freshIds: this.fresh.ids,
      specVocabulary: this.specVocabulary,
    };
  }

  /** A model for one connection; ids and nonces are shared with the input's other connections. */
  model(): StreamModel {
    return new StreamModel(this.modelContext(), this.seen);
  }

  /** A valid request whose reply is fully predictable: STATUS, or an ABORT of a fresh (unknown) id. */
  sentinelFrame(): Buffer {
    const opts = this.ctx.mode.auth === 'hmac-v2' ? { id: SENTINEL_ID, ts: this.fresh.nowMs(), nonce: this.fresh.nonce() } : { id: SENTINEL_ID };
    const signal = this.ctx.capabilities.status === true ? { type: 'STATUS' } : { type: 'ABORT', signal_id: this.fresh.id(), reason: 'fuzz sentinel' };
    return this.ctx.encode(signal, opts);
  }
}

/** Options of {@link settle}. */
export interface SettleOptions {
  /** Prefix of messages, e.g. `connection 3: `. */
  readonly label?: string;
  /** The connection may be one beyond maxConnections: a first reply MAX_CONNECTIONS_REACHED followed by a close is then right (§7.1). */
  readonly mayBeRefused?: boolean;
  /** Send a FIN after the input instead of a sentinel: every complete frame is answered, a partial one discarded (§3.1.2). */
  readonly fin?: boolean;
}

/** How a connection ended up. */
export interface Settled {
  /** What contradicted the spec, if anything. */
  readonly problem: string | undefined;
  /** The connection was refused with MAX_CONNECTIONS_REACHED (only with `mayBeRefused`). */
  readonly refused: boolean;
}

/** Judges the end of a connection after its closing reply: a close within {@link CLOSE_DEADLINE_MS}, with nothing after the reply. */
async function expectClose(conn: WireConnection, label: string, after: string): Promise<string | undefined> {
  const ev = await conn.read(CLOSE_DEADLINE_MS);
  if (ev.type === 'closed') return replyProblem(ev, `${label}after ${after}`);
  if (ev.type === 'timeout') return `${label}the connection is still open ${CLOSE_DEADLINE_MS} ms after ${after} (§5.6: closed after the reply is flushed)`;
  return `${label}another frame after ${after} (§5.6: the connection closes after it)`;
}

/** True for a MAX_CONNECTIONS_REACHED rejection. */
export function isMaxConnections(ev: ReadEvent): boolean {
  return outcomeOf(ev) === 'MAX_CONNECTIONS_REACHED';
}

/** How a connection's input is being ended: a sentinel request, a FIN, or nothing (after a fatal error). */
export interface Ending {
  readonly finish: 'sentinel' | 'fin' | 'none';
  /** Frame number of the sentinel request, when one was sent. */
  readonly sentinelFrame: number | undefined;
  /** Where the stream stood after the input (before the sentinel). */
  readonly endAfterInput: StreamEnd;
}

/**
 * Ends the input of a connection: a sentinel request between frames (pushed into the
 * model too), or a FIN in the middle of a frame (or when `fin`). With `deferFin` the FIN
 * is not sent yet (call {@link sendFin} later).
 */
export async function beginEnd(env: FuzzEnv, conn: WireConnection, model: StreamModel, opts: { fin?: boolean; deferFin?: boolean } = {}): Promise<Ending> {
  const endAfterInput = model.end;
  const finish = endAfterInput === 'closed' || model.stopped ? 'none' : endAfterInput === 'partial' || opts.fin === true ? 'fin' : 'sentinel';
  let sentinelFrame: number | undefined;
  if (finish === 'sentinel') {
    const sentinel = env.sentinelFrame();
    sentinelFrame = model.replies.length + 1;
    model.push(sentinel);
    await conn.write(sentinel);
  } else if (finish === 'fin' && opts.deferFin !== true) {
    sendFin(conn);
  }
  return { finish, sentinelFrame, endAfterInput };
}

/** Sends our FIN: complete frames are answered, a partial one is discarded without a reply (§3.1.2). */
export function sendFin(conn: WireConnection): void {
  void conn.end();
}

/**
 * Reads every reply the model expects on a connection whose input was ended by
 * {@link beginEnd}, judges each, then checks how the connection ends. `first` is an
 * event already read from the connection (it is judged first).
 */
export async function collect(env: FuzzEnv, conn: WireConnection, model: StreamModel, ending: Ending, opts: SettleOptions = {}, first?: ReadEvent): Promise<Settled> {
  const label = opts.label ?? '';
  const held: ReadEvent[] = first === undefined ? [] : [first];
  const next = (timeoutMs: number): Promise<ReadEvent> => {
    const ev = held.shift();
    return ev !== undefined ? Promise.resolve(ev) : conn.read(timeoutMs);
  };
  const expectations = model.replies;
  if (opts.mayBeRefused === true) {
    const ev = await next(env.readTimeoutMs + (expectations[0]?.delayMs ?? 0));
    if (isMaxConnections(ev)) {
      const problem = replyProblem(ev, `${label}MAX_CONNECTIONS_REACHED reply`) ?? (await expectClose(conn, label, 'MAX_CONNECTIONS_REACHED'));
      return { problem, refused: true };
    }
    held.unshift(ev);
  }
  for (let i = 0; i < expectations.length; i++) {
    const exp = expectations[i]!;
    const ev = await next(env.readTimeoutMs + exp.delayMs);
    const what = `${label}reply to ${exp.frame === ending.sentinelFrame ? `the sentinel request (frame ${exp.frame})` : `frame ${exp.frame}`}`;
    let problem = judgeReply(exp, ev, what);
    if (problem !== undefined && ev.type === 'closed' && opts.mayBeRefused === true && i === 0) {
      problem += ' (§7.1: a connection beyond maxConnections gets one complete MAX_CONNECTIONS_REACHED frame, then the close)';
    }
    if (problem !== undefined) return { problem, refused: false };
    if (exp.lastPredictable === true) return { problem: undefined, refused: false };
    if (exp.closes) return { problem: await expectClose(conn, label, `the ${outcomeOf(ev) ?? 'closing'} reply to frame ${exp.frame}`), refused: false };
  }
  if (ending.finish === 'fin') {
    const ev = await next(PARTIAL_WAIT_MS);
    if (ev.type === 'reply' || ev.type === 'undecodable') {
      const why = ending.endAfterInput === 'partial' ? 'the partial frame discarded at our close got a reply (§3.1.2: discarded without a reply)' : 'one reply per request frame (§5.1)';
      return { problem: `${label}a reply after the reply to the last complete frame: ${why}`, refused: false };
    }
    if (ev.type === 'closed') return { problem: replyProblem(ev, `${label}close after our FIN`), refused: false };
  }
  return { problem: undefined, refused: false };
}

/**
 * Finishes one connection whose input bytes were already written and pushed into
 * `model`: sends the sentinel (between frames) or a FIN (mid-frame), reads every reply
 * the model expects and judges it, then checks how the connection ends.
 */
export async function settle(env: FuzzEnv, conn: WireConnection, model: StreamModel, opts: SettleOptions = {}): Promise<Settled> {
  const ending = await beginEnd(env, conn, model, { fin: opts.fin === true });
  return collect(env, conn, model, ending, opts);
}

/**
 * The whole exchange on one fresh connection: connect, write `bytes` as planned,
 * settle. A connection that cannot be opened is a finding.
 */
export async function exchangeOnce(env: FuzzEnv, bytes: Buffer, plan: WritePlan = ONE_WRITE, pieces?: readonly Buffer[]): Promise<string | undefined> {
  const conn = await env.ctx.connect();
  const model = env.model();
  model.push(bytes);
  await writePieces(env.ctx, conn, pieces ?? piecesOf(bytes, plan.cuts), plan.gapMs);
  return (await settle(env, conn, model)).problem;
}
