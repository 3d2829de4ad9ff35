import type { Capabilities, ModeInfo, ReadEvent } from '../../harness/case.js';
import { replyProblem } from '../../harness/fuzz-property.js';
import {
  createFrameDecoder,
  decodeBody,
  decodeV2Body,
  DecoderState,
  isPlainObject,
  parseSignal,
  readEnvelopeId,
  verifyEnvelope,
  type DecodeEvent,
  type FrameDecoder,
  type ReasonCode,
  type VerifyResult,
} from '../../protocol/index.js';

/**
 * The fuzzer's model of a conformant server, from the bytes actually sent (pure: no
 * sockets, no timers; the clock is a parameter). For each request frame it derives
 * the set of outcomes docs/SPEC.md allows, following the order of checks of §4.6:
 * frame (§3) → body (§3.5) → rate limit (§6.7) → envelope (§4.2–4.4.4) → signature
 * (§4.5) → timestamp (§4.4.2) → replay (§4.4.3) → schema (§6.1) → semantics (§6.2–6.4).
 * It uses the protocol's own pure decoders and verifier, so a mutation that happens
 * to leave a frame valid is expected to be accepted, never flagged.
 *
 * What is deliberately not predicted: how many signals are open (RISK_REJECTED is
 * always allowed for a PREPARE), rate limiting (RATE_LIMITED is always allowed once
 * a body decodes), and anything after a HELLO (it switches the connection, §10).
 */

/** A reply's outcome: accepted, or the reason of a rejection. */
export type Outcome = 'accepted' | ReasonCode;

/** What the model needs besides the bytes. */
export interface ModelContext {
  readonly mode: ModeInfo;
  readonly capabilities: Capabilities;
  /** The client's clock when the bytes were sent (hmac-v2 timestamps, §4.4.2). */
  readonly nowMs: number;
  /** Nonces generated fresh for this input: never used before, so never a replay unless repeated here. */
  readonly freshNonces: ReadonlySet<string>;
  /** Signal/message ids generated fresh for this input: unknown to the server unless used earlier here. */
  readonly freshIds: ReadonlySet<string>;
  /** The target speaks the spec's vocabulary (no dialect): signal-level outcomes are predicted only then. */
  readonly specVocabulary: boolean;
}

/** The id a reply must carry (§5.3). */
export type IdExpectation =
  | { readonly kind: 'value'; readonly value: string | number }
  /** The body could not be decoded: the reply has no id. */
  | { readonly kind: 'absent' }
  /** A body a decoder may refuse as too deep: the envelope's id, or none (it was not decoded). */
  | { readonly kind: 'value-or-absent'; readonly value: string | number }
  | { readonly kind: 'unchecked' };

/** What one reply must be. */
export interface ReplyExpectation {
  /** 1-based number of the request frame (or frame-level error) on its connection. */
  readonly frame: number;
  /** Allowed outcomes, or `any` (any well-formed reply) where the spec leaves it open. */
  readonly allowed: ReadonlySet<Outcome> | 'any';
  readonly id: IdExpectation;
  /** The server must close the connection after this reply (§5.6). */
  readonly closes: boolean;
  /** docs/SPEC.md section that decides the outcome. */
  readonly section: string;
  /** Why, in a few words (for failure messages). */
  readonly why: string;
  /** The reply may not come before this many ms (`delay_ms`, §6.9). */
  readonly delayMs: number;
  /** After this reply the connection is not predictable any more (a fast-session HELLO). */
  readonly lastPredictable?: boolean;
}

/** Where the byte stream stands after everything pushed so far. */
export type StreamEnd =
  /** Between frames: more frames may follow and will be answered. */
  | 'open'
  /** Bytes of an incomplete frame are held; if the client closes now they are discarded without a reply (§3.1.2). */
  | 'partial'
  /** A fatal error: the server answers it and closes; nothing after it is read (§3.1.1, §3.3.1). */
  | 'closed';

/** Allowed outcomes at each step of §4.6, once the body decoded. */
const RATE = 'RATE_LIMITED' as const;
const PREPARE_OUTCOMES: readonly Outcome[] = ['accepted', 'DUPLICATE_SIGNAL', 'RISK_REJECTED'];
const CONFIRM_ABORT_OUTCOMES: readonly Outcome[] = ['accepted', 'UNKNOWN_SIGNAL', 'INVALID_STATE', 'SIGNAL_EXPIRED'];

/**
 * Nesting deeper than this may exceed a decoder's limits (recursive decoders run out of
 * stack somewhere between a few hundred and a few thousand levels): such a body may
 * also be answered IPC_ERROR, as one that cannot be decoded (§3.5).
 */
export const NESTING_TOLERANCE = 256;

/** True when `value` nests arrays/objects more than `limit` levels deep (iterative: no recursion). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) continue;
    if (depth + 1 > limit) return true;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) stack.push({ v: child, depth: depth + 1 });
  }
  return false;
}

/** A decode error caused by the decoder's own recursion limit, not by the bytes. */
function isStackError(error: string): boolean {
  return /call stack|recursion/i.test(error);
}

/** Margin around the hmac-v2 timestamp window inside which either outcome is allowed (clock skew, time in flight). */
export const TIMESTAMP_TOLERANCE_MS = 2_000;
/** Default of `timestampWindowMs` (§1.2). */
const DEFAULT_TIMESTAMP_WINDOW_MS = 30_000;

function set(...outcomes: readonly Outcome[]): ReadonlySet<Outcome> {
  return new Set(outcomes);
}

/**
 * The model of one connection: push the bytes written to it, in order; read the
 * expectations of the replies they deserve. State shared between frames of the
 * connection (ids and nonces already used) lives here.
 */
export class StreamModel {
  private readonly decoder: FrameDecoder;
  private readonly expectations: ReplyExpectation[] = [];
  private frames = 0;
  private unpredictable = false;
  /** Ids and nonces seen in frames already modelled (on this connection or others sharing `seen`). */
  constructor(
    private readonly ctx: ModelContext,
    private readonly seen: { readonly ids: Set<string>; readonly nonces: Set<string> } = { ids: new Set(), nonces: new Set() },
  ) {
    const maxFrameBytes = ctx.capabilities.maxFrameBytes ?? ctx.mode.framing.maxFrameBytes;
    this.decoder = createFrameDecoder({ ...ctx.mode.framing, maxFrameBytes });
  }

  /** Feeds bytes written to the connection. Bytes after a fatal error are ignored, as the server ignores them. */
  push(bytes: Uint8Array): void {
    if (this.decoder.state === DecoderState.Failed || this.unpredictable) return;
    for (const ev of this.decoder.push(Buffer.from(bytes))) {
      if (this.unpredictable) break;
      this.expectations.push(this.expect(ev));
    }
  }

  /** The replies deserved so far, in order. */
  get replies(): readonly ReplyExpectation[] {
    return this.expectations;
  }

  /** Where the stream stands. */
  get end(): StreamEnd {
    if (this.decoder.state === DecoderState.Failed) return 'closed';
    return this.decoder.midFrame ? 'partial' : 'open';
  }

  /** True once a frame made the rest of the connection unpredictable. */
  get stopped(): boolean {
    return this.unpredictable;
  }

  private expect(ev: DecodeEvent): ReplyExpectation {
    const frame = ++this.frames;
    if (ev.type === 'error') {
      switch (ev.kind) {
        case 'FRAME_TOO_LARGE':
          return { frame, allowed: set('FRAME_TOO_LARGE'), id: { kind: 'absent' }, closes: true, section: '3.1.1', why: ev.message, delayMs: 0 };
        case 'BAD_LENGTH':
          return { frame, allowed: set('IPC_ERROR'), id: { kind: 'absent' }, closes: true, section: '3.3.1', why: ev.message, delayMs: 0 };
        case 'EMPTY_BODY':
          return { frame, allowed: set('IPC_ERROR'), id: { kind: 'absent' }, closes: false, section: '3.3.2', why: ev.message, delayMs: 0 };
        case 'BAD_HEADER':
          return { frame, allowed: set('IPC_ERROR'), id: { kind: 'absent' }, closes: false, section: '3.3.3', why: ev.message, delayMs: 0 };
      }
    }
    return this.expectBody(frame, ev.body);
  }

  private expectBody(frame: number, body: Buffer): ReplyExpectation {
    const exp = this.expectDecodedBody(frame, body);
    if (!this.deep || exp.allowed === 'any') return exp;
    const id: IdExpectation = exp.id.kind === 'value' ? { kind: 'value-or-absent', value: exp.id.value } : exp.id;
    if (exp.allowed.has('IPC_ERROR')) return { ...exp, id };
    return { ...exp, id, allowed: new Set([...exp.allowed, 'IPC_ERROR']), why: `${exp.why}; or IPC_ERROR: nested more than ${NESTING_TOLERANCE} levels` };
  }

  /** Set while modelling a body nested beyond {@link NESTING_TOLERANCE}. */
  private deep = false;

  private expectDecodedBody(frame: number, body: Buffer): ReplyExpectation {
    const { mode } = this.ctx;
    this.deep = false;
    const decoded = decodeBody(mode.framing.codec, body);
    if (!decoded.ok) {
      if (isStackError(decoded.error)) {
        return { frame, allowed: 'any', id: { kind: 'unchecked' }, closes: false, section: '3.5', why: 'nested beyond what the fuzzer\'s own decoder can decode', delayMs: 0 };
      }
      return { frame, allowed: set('IPC_ERROR'), id: { kind: 'absent' }, closes: false, section: '3.5', why: decoded.error, delayMs: 0 };
    }
    this.deep = nestedDeeperThan(decoded.value, NESTING_TOLERANCE);
    if (!isPlainObject(decoded.value)) {
      return { frame, allowed: set('IPC_ERROR'), id: { kind: 'unchecked' }, closes: false, section: '3.5', why: 'the body is not an object', delayMs: 0 };
    }
    const env = decoded.value;
    const rawId = readEnvelopeId(env);
    const id: IdExpectation = rawId === undefined || rawId === null ? { kind: 'unchecked' } : { kind: 'value', value: rawId };
    const base = { frame, id, closes: false, delayMs: 0 };
    if (rawId === null) return { ...base, allowed: set('IPC_ERROR', RATE), section: '4.1', why: 'the envelope id is neither a string of at most 128 characters nor a safe integer' };

    const verdicts = this.verify(env);
    if (verdicts === 'uncomputable') {
      return { ...base, allowed: 'any', section: '4.6', why: 'the signed data cannot be computed by the fuzzer (nesting too deep for JSON.stringify)' };
    }
    const { strict, lenient } = verdicts;
    const allowed = new Set<Outcome>([RATE]);
    if (!lenient.ok) {
      // Failed even with the lenient window: shape, signature or a timestamp far outside.
      allowed.add(lenient.reason);
      return { ...base, allowed, section: sectionOfReason(lenient.reason), why: lenient.error };
    }
    if (!strict.ok) allowed.add(strict.reason); // a timestamp near the window's edge: either outcome

    let signal: unknown = lenient.signal;
    if (lenient.nonce !== undefined) {
      if (!this.ctx.freshNonces.has(lenient.nonce) || this.seen.nonces.has(lenient.nonce)) allowed.add('REPLAY_DETECTED');
      this.seen.nonces.add(lenient.nonce);
      const v2 = decodeV2Body(lenient.v2Body!);
      if (!v2.ok) {
        if (isStackError(v2.error)) return { ...base, allowed: 'any', section: '4.4', why: 'a body nested beyond what the fuzzer\'s own decoder can decode' };
        allowed.add('IPC_ERROR');
        return { ...base, allowed, section: '4.4', why: v2.error };
      }
      signal = v2.value;
      if (nestedDeeperThan(signal, NESTING_TOLERANCE)) this.deep = true;
    }
    return this.expectSignal(base, allowed, signal);
  }

  private verify(env: Record<string, unknown>): { strict: VerifyResult; lenient: VerifyResult } | 'uncomputable' {
    const { mode, capabilities, nowMs } = this.ctx;
    const windowMs = capabilities.timestampWindowMs ?? DEFAULT_TIMESTAMP_WINDOW_MS;
    try {
      const strict = verifyEnvelope(mode.auth, mode.secret, env, { nowMs, timestampWindowMs: Math.max(0, windowMs - TIMESTAMP_TOLERANCE_MS) });
      const lenient = verifyEnvelope(mode.auth, mode.secret, env, { nowMs, timestampWindowMs: windowMs + TIMESTAMP_TOLERANCE_MS });
      return { strict, lenient };
    } catch {
      return 'uncomputable';
    }
  }

  private expectSignal(
    base: { frame: number; id: IdExpectation; closes: boolean; delayMs: number },
    allowed: Set<Outcome>,
    signal: unknown,
  ): ReplyExpectation {
    const { capabilities } = this.ctx;
    if (isPlainObject(signal) && signal.type === 'HELLO') {
      // A HELLO may switch the connection to a fast session (§10): nothing after it is predictable.
      this.unpredictable = true;
      return { ...base, allowed: 'any', section: '10.1', why: 'a HELLO (fast session)', lastPredictable: true };
    }
    if (!this.ctx.specVocabulary) {
      return { ...base, allowed: 'any', section: '6.1', why: 'the target has its own vocabulary (dialect): signal outcomes are not predicted' };
    }
    const touched = this.touch(signal);
    const parsed = parseSignal(signal);
    if (!parsed.ok) {
      allowed.add('INVALID_SIGNAL');
      return { ...base, allowed, section: '6.1', why: `invalid signal: ${parsed.error}` };
    }
    const s = parsed.signal;
    const delayMs = 'delay_ms' in s && typeof s.delay_ms === 'number' && capabilities.delay === true ? s.delay_ms : 0;
    const withDelay = { ...base, delayMs };
    switch (s.type) {
      case 'STATUS':
        allowed.add('accepted');
        if (capabilities.status !== true) allowed.add('INVALID_SIGNAL'); // optional (§6.8)
        return { ...withDelay, allowed, section: '6.8', why: 'a valid STATUS' };
      case 'MESSAGE':
        if (capabilities.ledger === undefined || capabilities.ledger === false) {
          allowed.add('INVALID_SIGNAL');
          return { ...withDelay, allowed, section: '6.1', why: 'MESSAGE without the ledger capability is an unknown type' };
        }
        allowed.add('accepted');
        return { ...withDelay, allowed, section: '11.2', why: 'a valid MESSAGE' };
      case 'LEDGER':
        if (capabilities.ledger === undefined || capabilities.ledger === false) {
          allowed.add('INVALID_SIGNAL');
          return { ...withDelay, allowed, section: '6.1', why: 'LEDGER without the ledger capability is an unknown type' };
        }
        if (capabilities.ledger !== true) return { ...withDelay, allowed: 'any', section: '11.1.2', why: 'LEDGER of a target whose ledger is a file' };
        allowed.add('accepted');
        return { ...withDelay, allowed, section: '11.1.2', why: 'a valid LEDGER' };
      case 'PREPARE': {
        const overLimit = this.riskExceeded(s.leverage, s.qty, s.price);
        if (overLimit !== undefined) {
          allowed.add('RISK_REJECTED');
          if (!touched) return { ...withDelay, allowed, section: '6.6', why: overLimit };
          allowed.add('DUPLICATE_SIGNAL');
          return { ...withDelay, allowed, section: '6.6', why: `${overLimit} (or a duplicate id, §6.2)` };
        }
        for (const o of PREPARE_OUTCOMES) if (touched || o !== 'DUPLICATE_SIGNAL') allowed.add(o);
        return { ...withDelay, allowed, section: '6.2', why: touched ? 'a valid PREPARE of an id used before' : 'a valid PREPARE of a fresh id' };
      }
      case 'CONFIRM':
      case 'ABORT':
        if (!touched) {
          allowed.add('UNKNOWN_SIGNAL');
          return { ...withDelay, allowed, section: s.type === 'CONFIRM' ? '6.3.2' : '6.4', why: `a ${s.type} of a signal_id never prepared` };
        }
        for (const o of CONFIRM_ABORT_OUTCOMES) allowed.add(o);
        return { ...withDelay, allowed, section: s.type === 'CONFIRM' ? '6.3' : '6.4', why: `a valid ${s.type}` };
    }
  }

  /**
   * Records the signal's id; true when the server may already know it (not a fresh
   * id of this input, or one used by an earlier frame).
   */
  private touch(signal: unknown): boolean {
    if (!isPlainObject(signal)) return true;
    const id = signal.type === 'MESSAGE' ? signal.message_id : signal.signal_id;
    if (typeof id !== 'string') return true;
    const known = !this.ctx.freshIds.has(id) || this.seen.ids.has(id);
    this.seen.ids.add(id);
    return known;
  }

  /** Why a PREPARE exceeds the declared risk limits (§6.6), or undefined. */
  private riskExceeded(leverage: number | undefined, qty: number, price: number | undefined): string | undefined {
    const risk = this.ctx.capabilities.risk;
    if (risk === undefined) return undefined;
    if ((leverage ?? 1) > risk.maxLeverage) return `leverage ${leverage ?? 1} above maxLeverage ${risk.maxLeverage}`;
    if (price !== undefined && qty * price > risk.maxNotional) return `notional ${qty * price} above maxNotional ${risk.maxNotional}`;
    return undefined;
  }
}

function sectionOfReason(reason: ReasonCode): string {
  switch (reason) {
    case 'INVALID_SIGNATURE':
      return '4.5';
    case 'STALE_TIMESTAMP':
      return '4.4.2';
    case 'REPLAY_DETECTED':
      return '4.4.3';
    default:
      return '4.2';
  }
}

/** `accepted`, `one of {A, B}` or `any well-formed reply`. */
export function describeAllowed(allowed: ReadonlySet<Outcome> | 'any'): string {
  if (allowed === 'any') return 'any well-formed reply';
  const list = [...allowed];
  const main = list.filter((o) => o !== 'RATE_LIMITED');
  const shown = main.length === 0 ? list : main;
  return shown.length === 1 ? shown[0]! : `one of ${shown.join(', ')}`;
}

/** The outcome of a reply event, if it is a well-formed reply. */
export function outcomeOf(ev: ReadEvent): Outcome | undefined {
  if (ev.type !== 'reply') return undefined;
  if (ev.reply.kind === 'accepted') return 'accepted';
  if (ev.reply.kind === 'rejected') return ev.reply.reason as ReasonCode;
  return undefined;
}

function showId(value: unknown): string {
  if (value === undefined) return 'no id';
  try {
    return `id ${JSON.stringify(value)}${typeof value === 'number' ? ' (number)' : typeof value === 'string' ? ' (string)' : ''}`;
  } catch {
    return `id ${String(value)}`;
  }
}

/**
 * Judges one read event against what the reply must be: a well-formed, complete frame
 * (§5.4, §5.6), an allowed outcome, the id echoed (§5.3). `what` names the reply
 * (e.g. "connection 2, reply to frame 3").
 * @returns undefined when the reply is right, else one line saying expected vs actual.
 */
export function judgeReply(exp: ReplyExpectation, ev: ReadEvent, what: string): string | undefined {
  const expected = `${describeAllowed(exp.allowed)} (§${exp.section}: ${exp.why})`;
  const formed = replyProblem(ev, what);
  if (formed !== undefined) return `${formed}; expected ${expected}`;
  if (ev.type === 'timeout') return `${what}: no reply within ${ev.afterMs} ms; expected ${expected}`;
  if (ev.type === 'closed') return `${what}: the target closed the connection without replying (§5.1: exactly one reply per request frame); expected ${expected}`;
  if (ev.type !== 'reply' || ev.reply.kind === 'malformed') return `${what}: not a reply`;
  const outcome = outcomeOf(ev)!;
  if (exp.allowed !== 'any' && !exp.allowed.has(outcome)) {
    const error = ev.reply.kind === 'rejected' && ev.reply.error !== undefined ? ` ("${ev.reply.error.slice(0, 160)}")` : '';
    return `${what}: expected ${expected}, got ${outcome}${error}`;
  }
  const replyId = ev.reply.id;
  if (exp.id.kind === 'value-or-absent' && replyId !== undefined && replyId !== exp.id.value) {
    return `${what}: the reply carries ${showId(replyId)}, expected ${showId(exp.id.value)} or none (§5.3 ids are echoed; §5.2 replies in request order)`;
  }
  if (exp.id.kind === 'value' && (typeof replyId !== typeof exp.id.value || replyId !== exp.id.value)) {
    return `${what}: the reply carries ${showId(replyId)}, expected ${showId(exp.id.value)} (§5.3 ids are echoed; §5.2 replies in request order)`;
  }
  if (exp.id.kind === 'absent' && replyId !== undefined) {
    return `${what}: the reply to a frame whose body could not be decoded carries ${showId(replyId)} (§5.3: it has no id)`;
  }
  return undefined;
}
