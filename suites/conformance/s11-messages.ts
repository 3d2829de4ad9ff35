import { readFile } from 'node:fs/promises';
import type { Capabilities, CaseContext, ConformanceCase, WireConnection } from '../../harness/case.js';
import { isPlainObject } from '../../protocol/index.js';
import { type Accepted, Mismatch, check, expectAccepted, expectRejected, readAnswers, show, verdict } from './expect.js';
import { stillServing } from './flows.js';

/**
 * docs/SPEC.md §11 Messages and the ledger. Every case needs the `ledger` capability.
 *
 * The ledger is observed through LEDGER requests when the target declares
 * `ledger: true`, and by reading its ledger file (§11.4) when it declares
 * `ledger: { file }`. The cases about the LEDGER request itself (paging, its
 * arguments) need `ledger: true`; for the `{ file }` form they are UNIMPLEMENTED
 * (see {@link needsLedgerRequest}).
 */

/** Pages read at most when following a ledger's tail (1000 entries each). */
const MAX_TAIL_PAGES = 100;
const TAIL_PAGE = 1_000;

/** `capabilityGap` of the cases that send LEDGER. */
function needsLedgerRequest(capabilities: Capabilities): string | undefined {
  return typeof capabilities.ledger === 'object'
    ? 'capability "ledger" is declared as { file }: the target is not known to answer the LEDGER request (declare "ledger": true if it does)'
    : undefined;
}

/** A message signal with a fresh message_id. */
function messageSignal(ctx: CaseContext, overrides: Record<string, unknown> = {}): Record<string, unknown> & { message_id: string } {
  return { type: 'MESSAGE', message_id: ctx.uniqueId('msg'), timestamp: Date.now(), ...overrides } as Record<string, unknown> & { message_id: string };
}

interface Applied {
  readonly seq: number;
  readonly reply: Accepted;
}

/** Checks the §11.2.3/§11.2.4 shape of a MESSAGE reply for `messageId`. */
function expectApplied(reply: Accepted, messageId: string, duplicate: boolean, what: string): Applied {
  const f = reply.fields;
  check(f.state === 'APPLIED', `${what}: state is ${show(f.state)}, expected "APPLIED" (reply ${show(f)})`);
  check(f.message_id === messageId, `${what}: message_id is ${show(f.message_id)}, expected ${show(messageId)}`);
  const seq = f.seq;
  check(typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0, `${what}: seq is ${show(seq)}, expected a non-negative integer`);
  if (duplicate) check(f.duplicate === true, `${what}: duplicate is ${show(f.duplicate)}, expected true (reply ${show(f)})`);
  else check(f.duplicate !== true, `${what}: carries duplicate: true, but the message_id was never sent before (reply ${show(f)})`);
  return { seq, reply };
}

/** Sends MESSAGE `signal` on `conn`; it must be accepted as a first application (or a duplicate, when `duplicate`). */
async function applyOk(conn: WireConnection, signal: Record<string, unknown> & { message_id: string }, what: string, duplicate = false): Promise<Applied> {
  return expectApplied(expectAccepted(await conn.request(signal), what), signal.message_id, duplicate, what);
}

interface Page {
  readonly from: number;
  readonly entries: string[];
  readonly next: number | null;
  readonly total: number;
}

/** One LEDGER request; the reply must be a consistent page of §11.3.1. */
async function ledgerPage(conn: WireConnection, from: number | undefined, limit: number | undefined, what: string): Promise<Page> {
  const signal: Record<string, unknown> = { type: 'LEDGER' };
  if (from !== undefined) signal.from = from;
  if (limit !== undefined) signal.limit = limit;
  const label = `${what} (LEDGER ${show(signal)})`;
  const reply = expectAccepted(await conn.request(signal), label);
  const ledger = reply.fields.ledger;
  check(isPlainObject(ledger), `${label}: reply field "ledger" is ${show(ledger)}, expected an object`);
  const { entries, next, total } = ledger;
  const wantFrom = from ?? 0;
  const wantLimit = limit ?? 1_000;
  check(ledger.from === wantFrom, `${label}: ledger.from is ${show(ledger.from)}, expected ${wantFrom}`);
  check(Array.isArray(entries) && entries.every((e) => typeof e === 'string'), `${label}: ledger.entries is ${show(entries)}, expected an array of message_ids`);
  check(typeof total === 'number' && Number.isSafeInteger(total) && total >= 0, `${label}: ledger.total is ${show(total)}, expected a non-negative integer`);
  check(entries.length <= wantLimit, `${label}: ${entries.length} entries, more than limit ${wantLimit}`);
  const end = wantFrom + entries.length;
  check(end <= total, `${label}: entries reach position ${end}, beyond total ${total}`);
  if (end < total) {
    check(entries.length > 0, `${label}: no entries although from ${wantFrom} < total ${total} (§11.3.2: at least one)`);
    check(next === end, `${label}: ledger.next is ${show(next)}, expected ${end} (from + entries returned, since ${total - end} more remain)`);
  } else {
    check(next === null, `${label}: ledger.next is ${show(next)}, expected null (no entries after position ${end}, total ${total})`);
  }
  return { from: wantFrom, entries: entries as string[], next: next as number | null, total };
}

/** Where the suite reads the ledger: LEDGER requests, or the ledger file (with `{dir}` expanded). */
function ledgerSource(ctx: CaseContext): { kind: 'request' } | { kind: 'file'; path: string } {
  const cap = ctx.capabilities.ledger;
  if (typeof cap !== 'object') return { kind: 'request' };
  if (cap.file.includes('{dir}')) {
    const dir = ctx.target.dir;
    if (dir === undefined) throw new Mismatch(`the ledger file ${cap.file} uses {dir}, but the target is attached and has no temp dir of the suite's`);
    return { kind: 'file', path: cap.file.replaceAll('{dir}', dir) };
  }
  return { kind: 'file', path: cap.file };
}

/** The entries of a ledger file (§11.4): complete lines only, a torn last line ignored. */
async function fileEntries(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // nothing applied yet
    throw new Mismatch(`cannot read the ledger file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a torn entry (§11.4.2)
  return lines;
}

/** The ledger from position `from` to its end, and its total. */
async function ledgerTail(ctx: CaseContext, conn: WireConnection, from: number, what: string): Promise<{ entries: string[]; total: number }> {
  const source = ledgerSource(ctx);
  if (source.kind === 'file') {
    const all = await fileEntries(source.path);
    return { entries: all.slice(from), total: all.length };
  }
  const entries: string[] = [];
  let at = from;
  for (let i = 0; i < MAX_TAIL_PAGES; i++) {
    const page = await ledgerPage(conn, at, TAIL_PAGE, what);
    entries.push(...page.entries);
    if (page.next === null) return { entries, total: page.total };
    at = page.next;
  }
  throw new Mismatch(`${what}: the ledger after position ${from} holds more than ${MAX_TAIL_PAGES * TAIL_PAGE} entries; too long to check`);
}

/** Entries in the ledger. */
async function ledgerTotal(ctx: CaseContext, conn: WireConnection, what: string): Promise<number> {
  const source = ledgerSource(ctx);
  if (source.kind === 'file') return (await fileEntries(source.path)).length;
  return (await ledgerPage(conn, undefined, 1, what)).total;
}

/** The ledger holds `messageId` at position `seq`, and nowhere after it (so exactly once, §11.2.2). */
async function expectOnceAt(ctx: CaseContext, conn: WireConnection, messageId: string, seq: number, what: string): Promise<void> {
  const { entries, total } = await ledgerTail(ctx, conn, seq, what);
  check(entries.length > 0, `${what}: the ledger holds ${total} entries, none at position ${seq} where ${show(messageId)} was applied`);
  check(entries[0] === messageId, `${what}: the ledger holds ${show(entries[0])} at position ${seq}, expected ${show(messageId)}`);
  const again = entries.indexOf(messageId, 1);
  check(again === -1, `${what}: the ledger holds ${show(messageId)} twice, at positions ${seq} and ${seq + again}`);
}

/**
 * An invalid MESSAGE must be INVALID_SIGNAL and leave the ledger as it was (no entry
 * for it, nor for the part of its id a lax server might keep); the connection keeps serving.
 */
function invalidMessageCase(id: string, what: string, build: (ctx: CaseContext, base: string) => Record<string, unknown>, traces: (base: string) => string[]): ConformanceCase {
  return {
    id,
    section: '11.1.3',
    level: 'MUST',
    description: `${what} is rejected with INVALID_SIGNAL, the ledger's total is unchanged and holds no trace of it, and the connection keeps serving.`,
    expected: 'INVALID_SIGNAL; nothing is applied.',
    requires: ['ledger'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const before = await ledgerTotal(ctx, conn, 'the ledger before');
      const base = ctx.uniqueId('bad');
      const rej = expectRejected(await conn.request(build(ctx, base)), 'INVALID_SIGNAL', what);
      const { entries, total } = await ledgerTail(ctx, conn, before, 'the ledger after');
      const found = traces(base).filter((t) => entries.includes(t));
      check(found.length === 0, `${what} was rejected, but the ledger now holds ${show(found)}`);
      check(total === before, `${what} was rejected, but the ledger grew from ${before} to ${total} entries`);
      await stillServing(ctx, conn, `${what} rejected`);
      return `INVALID_SIGNAL${rej.error !== undefined ? ` (${show(rej.error, 80)})` : ''}; the ledger stayed at ${total} entries; the connection kept serving`;
    }),
  };
}

/** LEDGER requests with each of `args` must be INVALID_SIGNAL; a valid LEDGER then succeeds on the same connection. */
function invalidLedgerCase(id: string, what: string, args: ReadonlyArray<Record<string, unknown>>): ConformanceCase {
  return {
    id,
    section: '11.1.3',
    level: 'MUST',
    description: `LEDGER with ${what} (${args.map((a) => show(a)).join(', ')}) is rejected with INVALID_SIGNAL each time; a valid LEDGER afterwards on the same connection is answered.`,
    expected: 'INVALID_SIGNAL for each; the connection keeps serving.',
    requires: ['ledger'],
    capabilityGap: needsLedgerRequest,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      for (const a of args) expectRejected(await conn.request({ type: 'LEDGER', ...a }), 'INVALID_SIGNAL', `LEDGER ${show(a)}`);
      const page = await ledgerPage(conn, 0, 1, 'a valid LEDGER afterwards');
      return `${args.length} LEDGER requests with ${what}: INVALID_SIGNAL each; then LEDGER answered (total ${page.total})`;
    }),
  };
}

export const messageCases: readonly ConformanceCase[] = [
  // §11.2.3 "A MESSAGE whose message_id is not in the ledger is applied and answered
  // { "accepted": true, "message_id", "state": "APPLIED", "seq": <its position> }"
  // §11.2.1 "Applying a MESSAGE means appending its message_id to the ledger. The
  // position of an entry, counted from 0, is its seq."
  {
    id: 'msg.apply.in-ledger',
    section: '11.2.3',
    level: 'MUST',
    description:
      'A MESSAGE with a new message_id (and a topic and payload) is accepted with its message_id, state APPLIED, a non-negative integer seq and no duplicate flag; the ledger then holds that message_id at position seq, once.',
    expected: 'APPLIED at seq n; the ledger holds it at n.',
    requires: ['ledger'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const signal = messageSignal(ctx, { topic: 'conformance', payload: { n: 1, tags: ['a', 'b'] } });
      const { seq } = await applyOk(conn, signal, 'MESSAGE');
      await expectOnceAt(ctx, conn, signal.message_id, seq, 'the ledger after the MESSAGE');
      return `APPLIED at seq ${seq}; the ledger holds it there`;
    }),
  },
  // §11.2.4 "A MESSAGE whose message_id is already in the ledger MUST NOT be applied
  // again and MUST be answered { "accepted": true, "message_id", "state": "APPLIED",
  // "seq": <its original position>, "duplicate": true }. The ledger then still holds
  // exactly one entry for that id."
  {
    id: 'msg.duplicate.same-connection',
    section: '11.2.4',
    level: 'MUST',
    description:
      'A MESSAGE sent again with the same message_id (and another payload) on the same connection is accepted with state APPLIED, duplicate: true and the original seq; the ledger holds the message_id once.',
    expected: 'duplicate: true with the original seq; one ledger entry.',
    requires: ['ledger'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const signal = messageSignal(ctx, { payload: 'first' });
      const first = await applyOk(conn, signal, 'first MESSAGE');
      const again = await applyOk(conn, { ...signal, payload: 'second' }, 'the same MESSAGE again', true);
      check(again.seq === first.seq, `the repeated MESSAGE has seq ${again.seq}, expected the original ${first.seq}`);
      await expectOnceAt(ctx, conn, signal.message_id, first.seq, 'the ledger after the duplicate');
      return `repeat answered duplicate: true with the original seq ${first.seq}; the ledger holds it once`;
    }),
  },
  // §11.2.2 "A server MUST apply each message_id at most once for the life of its
  // ledger: across connections, …" §11.2.4 (duplicates).
  {
    id: 'msg.duplicate.across-connections',
    section: '11.2.4',
    level: 'MUST',
    description:
      'A MESSAGE applied on one connection and sent again with the same message_id on a second connection (the first one closed meanwhile, as a client that lost its reply and reconnected) is answered duplicate: true with the original seq; the ledger holds it once.',
    expected: 'duplicate: true across connections; one ledger entry.',
    requires: ['ledger'],
    run: verdict(async (ctx) => {
      const a = await ctx.connect();
      const signal = messageSignal(ctx);
      const first = await applyOk(a, signal, 'MESSAGE on connection 1');
      await a.end();
      const b = await ctx.connect();
      const again = await applyOk(b, signal, 'the same MESSAGE on connection 2', true);
      check(again.seq === first.seq, `on connection 2 the MESSAGE has seq ${again.seq}, expected the original ${first.seq}`);
      await expectOnceAt(ctx, b, signal.message_id, first.seq, 'the ledger after the retry');
      return `retry on a second connection answered duplicate: true with seq ${first.seq}; the ledger holds it once`;
    }),
  },
  // §11.2.5 "MESSAGEs read from one connection MUST be applied in the order they were
  // read, so pipelined MESSAGEs with distinct ids get increasing seqs in request order."
  {
    id: 'msg.order.pipelined-seqs',
    section: '11.2.5',
    level: 'MUST',
    description:
      'Five MESSAGEs with distinct new message_ids written in one write are answered in order (envelope ids 0–4), each applied (no duplicate flag) with strictly increasing seqs; the ledger holds each at its seq.',
    expected: 'Increasing seqs in request order; each in the ledger at its seq.',
    requires: ['ledger'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const signals = Array.from({ length: 5 }, () => messageSignal(ctx));
      await conn.write(Buffer.concat(signals.map((s, i) => ctx.encode(s, { id: i }))));
      const answers = await readAnswers(conn, signals.length, 'pipelined MESSAGEs');
      const seqs: number[] = [];
      answers.forEach((a, i) => {
        check(a.id === i, `reply ${i + 1} of ${signals.length} has id ${show(a.id)}, expected ${i}`);
        check(a.kind === 'accepted', `MESSAGE ${i + 1} of ${signals.length}: expected accepted, got rejected ${a.kind === 'rejected' ? a.reason : ''}`);
        seqs.push(expectApplied(a, signals[i]!.message_id, false, `MESSAGE ${i + 1} of ${signals.length}`).seq);
      });
      for (let i = 1; i < seqs.length; i++) check(seqs[i]! > seqs[i - 1]!, `seqs are not increasing in request order: ${show(seqs)}`);
      const { entries } = await ledgerTail(ctx, conn, seqs[0]!, 'the ledger after the pipelined MESSAGEs');
      signals.forEach((s, i) => {
        const at = entries[seqs[i]! - seqs[0]!];
        check(at === s.message_id, `the ledger holds ${show(at)} at position ${seqs[i]}, expected ${show(s.message_id)}`);
      });
      return `seqs ${seqs.join(', ')} in request order; the ledger holds each at its seq`;
    }),
  },
  // §11.3.1 "entries are the ledger's entries in application order starting at position
  // from, at most limit of them; total is the number of entries in the ledger; and next
  // is from + the number of entries returned when entries remain after them, else null.
  // When from ≥ total, entries is empty and next is null." §11.3.2 "Clients MUST page with next"
  {
    id: 'msg.ledger.paging',
    section: '11.3.1',
    level: 'MUST',
    description:
      'After three MESSAGEs, LEDGER pages of limit 2 followed by next from the first one\'s seq return them at their seqs, with from echoed, at most 2 entries, next = from + entries (or null at the end) and a consistent total; LEDGER without arguments starts at 0; LEDGER from total is empty with next null.',
    expected: 'Consistent pages: from, entries, next and total agree.',
    requires: ['ledger'],
    capabilityGap: needsLedgerRequest,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const signals = [messageSignal(ctx), messageSignal(ctx), messageSignal(ctx)];
      const seqs: number[] = [];
      for (const [i, s] of signals.entries()) seqs.push((await applyOk(conn, s, `MESSAGE ${i + 1} of 3`)).seq);
      const entries: string[] = [];
      let at: number | null = seqs[0]!;
      let pages = 0;
      let total = 0;
      while (at !== null && pages < 50) {
        const page: Page = await ledgerPage(conn, at, 2, `page ${pages + 1}`);
        check(page.total >= seqs[2]! + 1, `page ${pages + 1}: total ${page.total}, but an entry was applied at position ${seqs[2]}`);
        entries.push(...page.entries);
        total = page.total;
        at = page.next;
        pages++;
      }
      check(at === null, `still not at the end of the ledger after ${pages} pages of 2`);
      signals.forEach((s, i) => {
        const got = entries[seqs[i]! - seqs[0]!];
        check(got === s.message_id, `paging from ${seqs[0]}: position ${seqs[i]} holds ${show(got)}, expected ${show(s.message_id)}`);
      });
      const first = await ledgerPage(conn, undefined, undefined, 'LEDGER without from and limit');
      check(first.entries.length > 0, `LEDGER without arguments returned no entries although total is ${first.total}`);
      const past = await ledgerPage(conn, first.total, 10, 'LEDGER from total');
      check(past.entries.length === 0, `LEDGER from total returned ${show(past.entries)}`);
      return `${pages} pages of ≤2 from seq ${seqs[0]} returned the 3 messages at their seqs (total ${total}); defaults start at 0; from total is empty`;
    }),
  },
  // §11.1.2 "limit an integer from 1 to 10 000"; §11.1.3 "… limit 0 or 10 001 … MUST be
  // rejected with INVALID_SIGNAL"
  invalidLedgerCase('msg.ledger.limit-out-of-range', 'a limit outside 1–10 000 or not an integer', [{ limit: 0 }, { limit: 10_001 }, { limit: 2.5 }, { limit: '10' }]),
  // §11.1.2 "from is an integer ≥ 0"; §11.1.3 "… from −1 …"
  invalidLedgerCase('msg.ledger.from-invalid', 'a negative or fractional from', [{ from: -1 }, { from: 1.5 }, { from: '0' }]),
  // §11.1.3 "A MESSAGE or LEDGER that violates §11.1.1 or §11.1.2 (for example an
  // empty message_id, one of 129 characters or one containing a newline …) MUST be
  // rejected with INVALID_SIGNAL, and an invalid MESSAGE MUST NOT be applied."
  invalidMessageCase(
    'msg.schema.message-id-missing',
    'a MESSAGE without message_id',
    (ctx, base) => {
      const { message_id: _omit, ...rest } = messageSignal(ctx, { topic: base });
      return rest;
    },
    () => [],
  ),
  invalidMessageCase('msg.schema.message-id-empty', 'a MESSAGE with message_id ""', (ctx) => messageSignal(ctx, { message_id: '' }), () => ['']),
  invalidMessageCase(
    'msg.schema.message-id-too-long',
    'a MESSAGE with a 129-character message_id',
    (ctx, base) => messageSignal(ctx, { message_id: base.padEnd(129, 'x') }),
    (base) => [base.padEnd(129, 'x'), base.padEnd(128, 'x')],
  ),
  invalidMessageCase(
    'msg.schema.message-id-control-char',
    'a MESSAGE whose message_id contains a newline',
    (ctx, base) => messageSignal(ctx, { message_id: `${base}\nforged` }),
    (base) => [`${base}\nforged`, base, 'forged'],
  ),
  // §11.1.1 "message_id: string of 1–128 characters …"
  {
    id: 'msg.schema.message-id-128-chars',
    section: '11.1.1',
    level: 'MUST',
    description: 'A MESSAGE whose message_id has exactly 128 characters (the limit) is applied, and the ledger holds the whole id, not a shortened one.',
    expected: 'APPLIED; the full 128-character id is in the ledger.',
    requires: ['ledger'],
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const signal = messageSignal(ctx);
      signal.message_id = signal.message_id.padEnd(128, 'x');
      const { seq } = await applyOk(conn, signal, 'MESSAGE with a 128-character message_id');
      await expectOnceAt(ctx, conn, signal.message_id, seq, 'the ledger after it');
      return `APPLIED at seq ${seq}; the ledger holds all 128 characters`;
    }),
  },
  // §11.2.6 "The reply to a MESSAGE … MUST NOT be sent before its entry is durable
  // against a crash of the server process: when the process is killed (SIGKILL) at
  // any moment after the reply was sent, the server restarted on the same ledger
  // storage MUST hold the entry at the same seq and MUST answer a resend as a
  // duplicate (§11.2.4)." §11.2.7 "… a restarted server keeps the same entries and
  // positions, keeps answering their duplicates, and appends after them."
  {
    id: 'msg.durable.after-sigkill',
    section: '11.2.6',
    level: 'MUST',
    description:
      'Twenty MESSAGEs are pipelined and answered; the moment the last reply arrives the target is killed with SIGKILL and restarted. Each message_id sent again is answered duplicate: true with its original seq, the ledger holds each at its seq once, and a new MESSAGE is applied after them.',
    expected: 'Every acknowledged message survives a kill -9: duplicates at their original seqs after the restart.',
    requires: ['ledger', 'lifecycle'],
    disruptive: true,
    timeoutMs: 30_000,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const signals = Array.from({ length: 20 }, () => messageSignal(ctx));
      await conn.write(Buffer.concat(signals.map((s, i) => ctx.encode(s, { id: i }))));
      const answers = await readAnswers(conn, signals.length, 'MESSAGEs before the kill');
      ctx.target.signal('SIGKILL');
      const seqs = answers.map((a, i) => {
        check(a.kind === 'accepted', `MESSAGE ${i + 1} of ${signals.length} before the kill: expected accepted, got rejected ${a.kind === 'rejected' ? a.reason : ''}`);
        return expectApplied(a, signals[i]!.message_id, false, `MESSAGE ${i + 1} of ${signals.length} before the kill`).seq;
      });
      const exit = await ctx.target.waitExit(5_000);
      check(exit !== 'timeout', 'the target did not exit within 5000 ms of SIGKILL');
      try {
        await ctx.target.restart();
      } catch (err) {
        throw new Mismatch(`restart after SIGKILL failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      const after = await ctx.connect();
      await after.write(Buffer.concat(signals.map((s, i) => ctx.encode(s, { id: i }))));
      const resent = await readAnswers(after, signals.length, 'the same MESSAGEs after the restart');
      resent.forEach((a, i) => {
        check(a.kind === 'accepted', `MESSAGE ${i + 1} of ${signals.length} after the restart: expected accepted (duplicate), got rejected ${a.kind === 'rejected' ? a.reason : ''}`);
        const { seq } = expectApplied(a, signals[i]!.message_id, true, `MESSAGE ${i + 1} of ${signals.length} after the restart (acknowledged at seq ${seqs[i]} before the kill)`);
        check(seq === seqs[i], `MESSAGE ${i + 1} after the restart has seq ${seq}, expected its original ${seqs[i]}`);
      });
      const fresh = messageSignal(ctx);
      const next = await applyOk(after, fresh, 'a new MESSAGE after the restart');
      const last = Math.max(...seqs);
      check(next.seq > last, `a new MESSAGE after the restart got seq ${next.seq}, not after the ${last} acknowledged before the kill`);
      const { entries } = await ledgerTail(ctx, after, Math.min(...seqs), 'the ledger after the restart');
      signals.forEach((s, i) => {
        const at = entries[seqs[i]! - Math.min(...seqs)];
        check(at === s.message_id, `after the restart the ledger holds ${show(at)} at position ${seqs[i]}, expected ${show(s.message_id)}`);
        check(entries.indexOf(s.message_id) === entries.lastIndexOf(s.message_id), `after the restart the ledger holds ${show(s.message_id)} more than once`);
      });
      return `${signals.length} acknowledged messages (seqs ${seqs[0]}–${last}) all answered duplicate: true at their seqs after SIGKILL and restart; a new one got seq ${next.seq}`;
    }),
  },
];
