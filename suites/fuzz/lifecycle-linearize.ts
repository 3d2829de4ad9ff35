import type { ClassifiedReply } from '../../harness/case.js';
import { show } from '../conformance/expect.js';

/**
 * Judging concurrent requests against a sequential model (pure: no sockets, no timers).
 *
 * The stateful fuzz properties send requests on several connections at once, in an
 * order a fast-check scheduler picks. A server reads each connection in order (§5.2),
 * but requests in flight on different connections may be processed in either order.
 * So the oracle is a search: is there one order of all requests — each connection's
 * requests in send order, and a request whose reply had arrived before another was
 * sent placed before it — in which the model allows every reply the server gave?
 * (Linearizability, as in Wing & Gong or Porcupine, with memoised depth-first search.)
 * When requests never overlap, that order is the send order and the model simply
 * predicts each reply.
 */

/** A reply the dialect classified as an acceptance or a rejection; malformed replies are judged before. */
export type Answer = Exclude<ClassifiedReply, { kind: 'malformed' }>;

/** Fields of an accepted reply that say nothing about the outcome (the envelope id is judged before), left out of messages. */
const NOISE_FIELDS = new Set(['accepted', 'id', 'ipc_latency_ms']);

/** One-line rendering of a reply for problem messages: `accepted {"state":"CONFIRMED",…}` or `rejected REASON`. */
export function describeAnswer(reply: Answer): string {
  if (reply.kind === 'rejected') return `rejected ${reply.reason}`;
  const fields = Object.fromEntries(Object.entries(reply.fields).filter(([k]) => !NOISE_FIELDS.has(k)));
  return `accepted ${show(fields, 300)}`;
}

/** The client-side times of one request, from `performance.now()`. */
export interface RequestTimes {
  /** Just before its frame was written: the server cannot have processed it earlier. */
  readonly sentAtMs: number;
  /** When its reply had been read: the server processed it before. */
  readonly repliedAtMs: number;
}

/** One request of a run and its reply, as the client saw them. */
export interface Observation<Op> extends RequestTimes {
  /** Request number in the run, from 1, in send order. */
  readonly index: number;
  /** Connection it was sent on (0-based). */
  readonly conn: number;
  readonly op: Op;
  readonly reply: Answer;
}

/** What the model says about one reply in one state. */
export type Step<S> =
  | { readonly ok: true; readonly state: S }
  /** `expected`: what the spec allows there, e.g. `rejected DUPLICATE_SIGNAL (§6.2: s1 is already PREPARED)`. */
  | { readonly ok: false; readonly expected: string };

/** A sequential model of the server: applies one request and its observed reply. */
export interface SequentialModel<S, Op> {
  readonly initial: S;
  /** Applies `obs` in `state` when the spec allows its reply there (the reply decides between allowed outcomes). */
  step(state: S, obs: Observation<Op>): Step<S>;
  /** Equal for equal states (memoisation key of the search). */
  key(state: S): string;
  /** Short label of an operation for messages, e.g. `CONFIRM s2`. */
  label(op: Op): string;
}

/** Outcome of {@link linearize}. */
export type Linearization =
  /** `order`: the request indexes in an order that explains every reply. */
  | { readonly kind: 'explained'; readonly order: readonly number[] }
  /** No order explains the replies; `problem` is one line, expected vs actual, about the request the search got stuck on. */
  | { readonly kind: 'contradicted'; readonly problem: string }
  /** The search gave up after `states` states (so many overlapping requests that the check would not finish). */
  | { readonly kind: 'inconclusive'; readonly states: number };

/** States the search visits at most; generated runs stay far below it. */
export const DEFAULT_MAX_STATES = 200_000;

/** Connection label for messages: connections are numbered from 1. */
export function connLabel(conn: number): string {
  return `connection ${conn + 1}`;
}

interface Stuck {
  readonly placed: number;
  readonly problem: string;
}

/**
 * Searches for an order of `observations` that `model` accepts (see the module comment).
 * @returns the order, or the problem of the request at which the deepest attempt failed
 *   (the first such attempt: requests are tried in send order), naming the requests of
 *   other connections it overlapped, whose order the search varied.
 */
export function linearize<S, Op>(model: SequentialModel<S, Op>, observations: readonly Observation<Op>[], maxStates = DEFAULT_MAX_STATES): Linearization {
  const byConn = new Map<number, Observation<Op>[]>();
  for (const obs of [...observations].sort((a, b) => a.index - b.index)) {
    const list = byConn.get(obs.conn) ?? [];
    list.push(obs);
    byConn.set(obs.conn, list);
  }
  const queues = [...byConn.values()];
  const pos = queues.map(() => 0);
  const order: number[] = [];
  const seen = new Set<string>();
  let stuck: Stuck | undefined;

  /** Remembers the first failure at the greatest depth: the search tries requests in send order first, so that is the plainest reading. */
  const note = (placed: number, obs: Observation<Op>, expected: string): void => {
    if (stuck !== undefined && stuck.placed >= placed) return;
    const overlapping = observations.filter((o) => o.conn !== obs.conn && o.sentAtMs < obs.repliedAtMs && obs.sentAtMs < o.repliedAtMs);
    const where = `request ${obs.index} (${connLabel(obs.conn)}, ${model.label(obs.op)})`;
    const tail =
      overlapping.length === 0
        ? ''
        : `; no other order explains the replies either (it overlapped ${overlapping.map((o) => `request ${o.index} on ${connLabel(o.conn)}, ${model.label(o.op)}`).join('; ')})`;
    stuck = { placed, problem: `${where}: expected ${expected}, got ${describeAnswer(obs.reply)}${tail}` };
  };

  const visit = (state: S, placed: number): 'done' | 'dead' | 'budget' => {
    if (placed === observations.length) return 'done';
    const memo = `${pos.join(',')}|${model.key(state)}`;
    if (seen.has(memo)) return 'dead';
    if (seen.size >= maxStates) return 'budget';
    seen.add(memo);
    const heads = queues.map((q, i) => q[pos[i]!]);
    // A head may go next unless another head's reply arrived before it was even sent.
    const eligible = heads
      .flatMap((h, i) => (h !== undefined && heads.every((o) => o === undefined || o === h || o.repliedAtMs >= h.sentAtMs) ? [{ obs: h, queue: i }] : []))
      .sort((a, b) => a.obs.index - b.obs.index);
    for (const { obs, queue } of eligible) {
      const step = model.step(state, obs);
      if (!step.ok) {
        note(placed, obs, step.expected);
        continue;
      }
      pos[queue]!++;
      order.push(obs.index);
      const sub = visit(step.state, placed + 1);
      if (sub !== 'dead') return sub;
      pos[queue]!--;
      order.pop();
    }
    return 'dead';
  };

  const result = visit(model.initial, 0);
  if (result === 'done') return { kind: 'explained', order: [...order] };
  if (result === 'budget' || stuck === undefined) return { kind: 'inconclusive', states: seen.size };
  return { kind: 'contradicted', problem: stuck.problem };
}
