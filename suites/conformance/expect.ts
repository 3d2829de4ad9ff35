import { fail, pass } from '../../harness/case.js';
import type { CaseContext, CaseOutcome, ClassifiedReply, ReadEvent, WireConnection } from '../../harness/case.js';
import { isReasonCode, type ReasonCode } from '../../protocol/index.js';

/**
 * Expectations shared by the conformance cases. Each `expect…` either returns what
 * it matched or throws a {@link Mismatch} whose message states what was observed;
 * {@link verdict} turns that into `fail(actual)`. Any other exception is a bug in the
 * case or the runner and propagates.
 */

/** Milliseconds of silence that count as "no reply" where a reply must not come. */
export const QUIET_MS = 300;

export class Mismatch extends Error {
  override name = 'Mismatch';
}

export type Accepted = Extract<ClassifiedReply, { kind: 'accepted' }>;
export type Rejected = Extract<ClassifiedReply, { kind: 'rejected' }>;
export type Answer = Accepted | Rejected;

/** Wraps a case body: a returned string is `pass(actual)`, a {@link Mismatch} is `fail(actual)`. */
export function verdict(body: (ctx: CaseContext) => Promise<string | CaseOutcome>): (ctx: CaseContext) => Promise<CaseOutcome> {
  return async (ctx) => {
    try {
      const result = await body(ctx);
      return typeof result === 'string' ? pass(result) : result;
    } catch (err) {
      if (err instanceof Mismatch) return fail(err.message);
      throw err;
    }
  };
}

export function check(condition: unknown, actual: string): asserts condition {
  if (!condition) throw new Mismatch(actual);
}

/** A capability the case lists in `requires` (the runner guarantees it is declared). */
export function need<T>(value: T | undefined | false, name: string): T {
  if (value === undefined || value === false) throw new Error(`capability "${name}" is required by this case but not declared`);
  return value;
}

/** Short JSON-ish rendering of a value for messages. */
export function show(value: unknown, max = 160): string {
  let text: string;
  if (value === undefined) text = 'nothing';
  else if (Buffer.isBuffer(value) || value instanceof Uint8Array) text = `<${value.length} bytes>`;
  else {
    try {
      text = JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function preview(raw: Buffer): string {
  const head = raw.subarray(0, 48);
  const printable = head.every((b) => b === 0x0a || (b >= 0x20 && b < 0x7f));
  const text = printable ? JSON.stringify(head.toString('latin1')) : `0x${head.toString('hex')}`;
  return raw.length > head.length ? `${text}… (${raw.length} bytes)` : text;
}

/** One-line description of a read event: what a failure message reports as observed. */
export function describeEvent(ev: ReadEvent): string {
  switch (ev.type) {
    case 'timeout':
      return `no reply within ${ev.afterMs} ms`;
    case 'closed':
      return ev.partialBytes > 0
        ? `connection closed in the middle of a reply frame (${ev.partialBytes} bytes of it received)`
        : 'connection closed without a reply';
    case 'undecodable':
      return `an undecodable reply frame (${ev.error}): ${preview(ev.raw)}`;
    case 'reply':
      return describeReply(ev.reply);
  }
}

export function describeReply(reply: ClassifiedReply): string {
  switch (reply.kind) {
    case 'accepted':
      return `accepted ${show(reply.fields)}`;
    case 'rejected':
      return `rejected ${reply.reason}${reply.error !== undefined ? ` (${show(reply.error, 100)})` : ''}${reply.id !== undefined ? ` id ${show(reply.id)}` : ''}`;
    case 'malformed':
      return `a malformed reply (${reply.problem}): ${show(reply.fields)}`;
  }
}

/** A decoded, well-formed reply (accepted or rejected with a reason of the closed set). */
export function expectAnswer(ev: ReadEvent, what: string): Answer {
  if (ev.type === 'reply' && ev.reply.kind !== 'malformed') {
    if (ev.reply.kind === 'rejected' && !isReasonCode(ev.reply.reason)) {
      throw new Mismatch(`${what}: reason ${show(ev.reply.reason)} is outside the closed set of §5.5`);
    }
    return ev.reply;
  }
  throw new Mismatch(`${what}: expected a reply, got ${describeEvent(ev)}`);
}

export function expectAccepted(ev: ReadEvent, what: string): Accepted {
  const answer = expectAnswer(ev, what);
  if (answer.kind !== 'accepted') throw new Mismatch(`${what}: expected accepted, got ${describeReply(answer)}`);
  return answer;
}

export function expectRejected(ev: ReadEvent, reason: ReasonCode, what: string): Rejected {
  if (ev.type !== 'reply' || ev.reply.kind !== 'rejected' || ev.reply.reason !== reason) {
    throw new Mismatch(`${what}: expected rejected ${reason}, got ${describeEvent(ev)}`);
  }
  return ev.reply;
}

/** Nothing arrives on `conn` for `ms`: no reply and no close. */
export async function expectNoReply(conn: WireConnection, what: string, ms = QUIET_MS): Promise<void> {
  const ev = await conn.read(ms);
  if (ev.type !== 'timeout') throw new Mismatch(`${what}: expected no reply, got ${describeEvent(ev)}`);
}

/** The next event on `conn` is a clean close (no further reply, no half frame) within `ms`. */
export async function expectClosed(conn: WireConnection, what: string, ms = 2_000): Promise<void> {
  const ev = await conn.read(ms);
  if (ev.type === 'closed' && ev.partialBytes === 0) return;
  if (ev.type === 'timeout') throw new Mismatch(`${what}: expected the server to close the connection, still open after ${ms} ms`);
  throw new Mismatch(`${what}: expected the server to close the connection, got ${describeEvent(ev)}`);
}

/** Reads `count` replies; each must be well-formed. */
export async function readAnswers(conn: WireConnection, count: number, what: string, timeoutMs?: number): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < count; i++) {
    const ev = await conn.read(timeoutMs);
    out.push(expectAnswer(ev, `${what}: reply ${i + 1} of ${count}`));
  }
  return out;
}

/** Replies carry exactly the ids sent, in order (§5.2, §5.3). */
export function expectIdsInOrder(answers: readonly Answer[], ids: readonly unknown[], what: string): void {
  check(answers.length === ids.length, `${what}: ${answers.length} replies for ${ids.length} requests`);
  answers.forEach((a, i) => {
    check(a.id === ids[i], `${what}: reply ${i + 1} of ${ids.length} had id ${show(a.id)}, expected ${show(ids[i])}`);
  });
}

/** Field `name` of a reply equals `value` (strictly). */
export function expectField(reply: Answer, name: string, value: unknown, what: string): void {
  const actual = reply.fields[name];
  check(actual === value, `${what}: field "${name}" is ${show(actual)}, expected ${show(value)}`);
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

export const outcomeOf = (a: Answer): string => (a.kind === 'accepted' ? 'accepted' : a.reason);

export function isRejectedWith(a: Answer, reason: ReasonCode): boolean {
  return a.kind === 'rejected' && a.reason === reason;
}
