import type * as fc from 'fast-check';
import type { CaseContext, ReadEvent, WireConnection } from '../../harness/case.js';
import { replyProblem } from '../../harness/fuzz-property.js';
import { show } from '../conformance/expect.js';
import { connLabel, type Answer, type Observation } from './lifecycle-linearize.js';

/**
 * The I/O side of the stateful fuzz properties: requests written on up to a few
 * connections, their replies read in the background, and each reply's observation
 * handed to the scheduler, so that a fast-check scheduler decides whether the next
 * request goes out before or after a given reply arrived (how much the connections
 * overlap). Records what was sent and received, with times, for the models.
 */

/** The connection for requests after the scheduled commands (cleanup); further ones follow it when its rate budget is spent. */
export const CONTROL_CONN = 3;

/** One request to write: what it is for the model, its frame, and the envelope id its reply must echo (§5.3). */
export interface Outgoing<Op> {
  readonly op: Op;
  readonly frame: Buffer;
  readonly envelopeId: number;
}

interface Sent<Op> {
  readonly index: number;
  readonly conn: number;
  readonly op: Op;
  readonly envelopeId: number;
  readonly sentAtMs: number;
  repliedAtMs: number;
  /** undefined until read; 'skipped' when an earlier read on the connection timed out or saw a close. */
  event: ReadEvent | 'skipped' | undefined;
  /** The scheduler has released the task of its reply (unscheduled requests: true from the start). */
  released: boolean;
}

/** Requests of one fuzz input and their replies. */
export class ScheduledExchange<Op> {
  private readonly conns = new Map<number, Promise<WireConnection>>();
  private readonly chains = new Map<number, Promise<void>>();
  private readonly dead = new Set<number>();
  private readonly sent: Sent<Op>[] = [];

  /**
   * @param scheduler decides when each reply is observed relative to the next command.
   * @param label short description of an operation, for messages.
   */
  constructor(
    private readonly ctx: CaseContext,
    private readonly scheduler: fc.Scheduler,
    private readonly label: (op: Op) => string,
  ) {}

  /** Requests written so far; the next one gets number `count + 1`. */
  get count(): number {
    return this.sent.length;
  }

  /** Connection `conn`, opened on first use. */
  connection(conn: number): Promise<WireConnection> {
    let c = this.conns.get(conn);
    if (c === undefined) {
      c = this.ctx.connect();
      this.conns.set(conn, c);
    }
    return c;
  }

  /**
   * Writes the frames `build` returns (given their request numbers) in one write on
   * `conn`, and reads their replies in the background. When `scheduled`, the scheduler
   * gets one task per reply; otherwise the caller waits with {@link settled}.
   */
  async send(conn: number, build: ReadonlyArray<(index: number) => Outgoing<Op>>, scheduled: boolean): Promise<void> {
    const c = await this.connection(conn);
    const items = build.map((b, i) => b(this.sent.length + 1 + i));
    const sentAtMs = performance.now();
    await c.write(items.length === 1 ? items[0]!.frame : Buffer.concat(items.map((it) => it.frame)));
    for (const it of items) {
      const entry: Sent<Op> = { index: this.sent.length + 1, conn, op: it.op, envelopeId: it.envelopeId, sentAtMs, repliedAtMs: Number.NaN, event: undefined, released: !scheduled };
      this.sent.push(entry);
      const chain = (this.chains.get(conn) ?? Promise.resolve()).then(async () => {
        if (this.dead.has(conn)) {
          entry.event = 'skipped';
          return;
        }
        const ev = await c.read();
        entry.repliedAtMs = performance.now();
        entry.event = ev;
        if (ev.type === 'timeout' || ev.type === 'closed') this.dead.add(conn);
      });
      this.chains.set(conn, chain);
      if (scheduled) {
        void this.scheduler.schedule(chain, `reply to request ${entry.index} (${connLabel(conn)}, ${this.label(it.op)})`).then(() => {
          entry.released = true;
        });
      }
    }
  }

  /**
   * Every request so far has had its reply released by the scheduler (so it has been
   * read). Depends only on the scheduler's decisions, not on timing: a verdict taken
   * when this holds is the same when the input is replayed.
   */
  get allReleased(): boolean {
    return this.sent.every((s) => s.released);
  }

  /** Resolves when every reply written so far has been read (or its read timed out or saw a close). */
  async settled(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  /** Operations whose reply was an acceptance (after {@link settled}). */
  accepted(): Op[] {
    return this.sent.flatMap((s) => (typeof s.event === 'object' && s.event.type === 'reply' && s.event.reply.kind === 'accepted' ? [s.op] : []));
  }

  /**
   * Judges each reply on its own, in request order (after {@link settled}): one
   * well-formed reply frame with a known reason (§5.1, §5.4, via `replyProblem`) that
   * echoes the request's envelope id (§5.3), on a connection that stays open (§5.6).
   * @returns the observations for the model, or the first problem.
   */
  observations(): { readonly observations: Observation<Op>[] } | { readonly problem: string } {
    const out: Observation<Op>[] = [];
    for (const s of this.sent) {
      const what = `request ${s.index} (${connLabel(s.conn)}, ${this.label(s.op)})`;
      const ev = s.event;
      if (ev === 'skipped') continue; // the earlier request on this connection is reported
      if (ev === undefined) return { problem: `${what}: its reply was never read (the run ended before it)` };
      const malformed = replyProblem(ev, `reply to ${what}`);
      if (malformed !== undefined) return { problem: malformed };
      if (ev.type === 'timeout') return { problem: `${what}: no reply within ${ev.afterMs} ms (§5.1: exactly one reply per request)` };
      if (ev.type === 'closed') return { problem: `${what}: the target closed the connection instead of replying (§5.1; §5.6: rejections of this kind keep the connection open)` };
      if (ev.type !== 'reply' || ev.reply.kind === 'malformed') return { problem: `${what}: no well-formed reply` };
      const reply: Answer = ev.reply;
      if (reply.id !== s.envelopeId) return { problem: `${what}: the reply carries id ${show(reply.id)}, expected ${s.envelopeId} (§5.3; §5.2: replies in request order)` };
      out.push({ index: s.index, conn: s.conn, op: s.op, sentAtMs: s.sentAtMs, repliedAtMs: s.repliedAtMs, reply });
    }
    return { observations: out };
  }
}
