import type { CaseContext, ConformanceCase, WireConnection } from '../../harness/case.js';
import { informational } from '../../harness/case.js';
import { decodeBody, encodeBody, isPlainObject, lpLengthFor, type ReasonCode } from '../../protocol/index.js';
import {
  check,
  describeReply,
  expectAnswer,
  expectClosed,
  expectIdsInOrder,
  expectNoReply,
  expectRejected,
  expectAccepted,
  expectField,
  Mismatch,
  need,
  outcomeOf,
  readAnswers,
  describeEvent,
  verdict,
} from './expect.js';
import { abortOk, cleanup, expectUnused, freshConnectionServes, rejectedAndKept } from './flows.js';
import {
  announcedBody,
  asLp,
  bodyOf,
  delimit,
  envelopeOf,
  frameOf,
  lengthOf,
  lengthPrefix,
  maxLengthValue,
  modes,
  paddedFrame,
  undecodableBody,
  withLength,
} from './wire.js';

/** docs/SPEC.md §3 Framing. */

/**
 * Sends `count` PREPAREs (ids `${label}-n`) through `write` and expects `count`
 * accepted replies in request order, then silence.
 */
async function deliver(
  ctx: CaseContext,
  count: number,
  label: string,
  write: (conn: WireConnection, bytes: Buffer) => Promise<void>,
): Promise<string> {
  const conn = await ctx.connect();
  const signals = Array.from({ length: count }, () => ctx.prepare());
  const ids = signals.map((_, i) => `${label}-${i + 1}`);
  const bytes = Buffer.concat(signals.map((s, i) => ctx.encode(s, { id: ids[i] })));
  try {
    await write(conn, bytes);
    const answers = await readAnswers(conn, count, label);
    expectIdsInOrder(answers, ids, label);
    answers.forEach((a, i) => check(a.kind === 'accepted', `${label}: reply ${i + 1} of ${count} is ${describeReply(a)}, expected accepted`));
    await expectNoReply(conn, `${label}: after the ${count} expected replies`);
  } finally {
    await cleanup(ctx, undefined, signals.map((s) => s.signal_id));
  }
  return `${bytes.length} bytes, ${count} frame(s) ${label}: ${count} accepted replies in request order, nothing more`;
}

/** Writes `before` + one PREPARE frame (optionally altered) + `after` and expects exactly one accepted reply carrying its id. */
async function exactlyOneReplyAround(
  ctx: CaseContext,
  before: string,
  after: string,
  what: string,
  alter: (frame: Buffer) => Buffer = (f) => f,
): Promise<string> {
  const conn = await ctx.connect();
  const p = ctx.prepare();
  const id = ctx.uniqueId('req');
  const frame = alter(ctx.encode(p, { id }));
  await conn.write(Buffer.concat([Buffer.from(before, 'latin1'), frame, Buffer.from(after, 'latin1')]));
  const reply = expectAccepted(await conn.read(), `the frame ${what}`);
  check(reply.id === id, `the reply carries id ${JSON.stringify(reply.id)}, expected ${JSON.stringify(id)} (a reply to something else?)`);
  await expectNoReply(conn, `after the one expected reply (${what})`);
  await abortOk(ctx, conn, p.signal_id);
  return `exactly one reply (accepted, id echoed) for the frame ${what}`;
}

/** A frame that must be rejected with IPC_ERROR, with the connection kept and (when given) the signal not processed. */
const rejectedKept = (ctx: CaseContext, frame: Buffer, what: string, unusedSignalId?: string): Promise<string> =>
  rejectedAndKept(ctx, frame, 'IPC_ERROR', what, unusedSignalId);

/** Writes `bytes` and expects one FRAME_TOO_LARGE rejection, then a close (§3.1.1, §5.6), then a fresh connection served. */
async function tooLargeThenClosed(ctx: CaseContext, bytes: Buffer, what: string): Promise<string> {
  const conn = await ctx.connect();
  await conn.write(bytes);
  const rej = expectRejected(await conn.read(5_000), 'FRAME_TOO_LARGE', what);
  await expectClosed(conn, `${what}, after FRAME_TOO_LARGE`);
  await freshConnectionServes(ctx, 'a FRAME_TOO_LARGE close');
  return `${what}: FRAME_TOO_LARGE${rej.error ? ` (${rej.error})` : ''}, then the server closed the connection; a fresh connection is served`;
}

const FATAL_REASON: Record<string, ReasonCode> = { FRAME_TOO_LARGE: 'FRAME_TOO_LARGE', BAD_LENGTH: 'IPC_ERROR', EMPTY_BODY: 'IPC_ERROR', BAD_HEADER: 'IPC_ERROR' };

/**
 * Writes `bytes` and expects what a conformant server delimits from them (the
 * protocol's frame decoder): one reply per delimited frame or framing error, in
 * order, IPC_ERROR for bodies that do not decode to an object, a close after a fatal
 * error, otherwise silence; then the server still serves a fresh connection.
 */
async function expectDelimited(ctx: CaseContext, bytes: Buffer, what: string): Promise<string> {
  const events = delimit(ctx, bytes);
  const conn = await ctx.connect();
  await conn.write(bytes);
  const seen: string[] = [];
  for (const [i, ev] of events.entries()) {
    const label = `${what}: reply ${i + 1} of ${events.length}`;
    if (ev.type === 'error') {
      expectRejected(await conn.read(), FATAL_REASON[ev.kind] ?? 'IPC_ERROR', `${label} (${ev.message})`);
      seen.push(FATAL_REASON[ev.kind] ?? 'IPC_ERROR');
      continue;
    }
    const decoded = decodeBody(ctx.mode.framing.codec, ev.body);
    const answer = expectAnswer(await conn.read(), label);
    if (!decoded.ok || !isPlainObject(decoded.value)) {
      check(answer.kind === 'rejected' && answer.reason === 'IPC_ERROR', `${label}: a ${ev.body.length}-byte body that does not decode to an object got ${describeReply(answer)}, expected rejected IPC_ERROR`);
    }
    seen.push(outcomeOf(answer));
  }
  const last = events[events.length - 1];
  if (last !== undefined && last.type === 'error' && last.fatal) await expectClosed(conn, `${what}, after the fatal framing error`);
  else await expectNoReply(conn, `${what}: after ${events.length} delimitable frame(s)`);
  await conn.end();
  await freshConnectionServes(ctx, what);
  return `${what}: ${events.length} reply(ies) as delimited [${seen.join(', ')}]${last?.type === 'error' && last.fatal ? ', then close' : ', then silence'}; a fresh connection is served`;
}

/** Bodies that are not one JSON object / MessagePack map (§3.5). */
const NOT_AN_OBJECT: ReadonlyArray<{ id: string; what: string; value: (ctx: CaseContext) => unknown }> = [
  { id: 'framing.body.array', what: 'a body that is an array holding a valid envelope', value: (ctx) => [envelopeOf(ctx, ctx.prepare())] },
  { id: 'framing.body.number', what: 'a body that is the number 42', value: () => 42 },
  { id: 'framing.body.null', what: 'a body that is null', value: () => null },
  { id: 'framing.body.string', what: 'a body that is a string', value: () => 'PREPARE' },
];

export const framingCases: readonly ConformanceCase[] = [
  // §3.1.3 "Frame boundaries are independent of write boundaries: a server MUST
  // decode identically whether a frame arrives in one write, split across many
  // writes (down to one byte per write), or coalesced with other frames in one write."
  {
    id: 'framing.delivery.whole-frame',
    section: '3.1.3',
    level: 'MUST',
    description: 'One PREPARE frame written in a single write is answered with one accepted reply carrying its id, and nothing more.',
    expected: 'One accepted reply with the request id.',
    run: verdict((ctx) => deliver(ctx, 1, 'in one write', (c, b) => c.write(b))),
  },
  // §3.1.3 "… split across many writes …"
  {
    id: 'framing.delivery.split-writes',
    section: '3.1.3',
    level: 'MUST',
    description: 'One PREPARE frame written in three pieces 20 ms apart is answered exactly as if written at once (one accepted reply, id echoed).',
    expected: 'One accepted reply with the request id.',
    run: verdict((ctx) => deliver(ctx, 1, 'split in 3 writes', (c, b) => c.writeChunked(b, Math.ceil(b.length / 3), 20))),
  },
  // §3.1.3 "… (down to one byte per write) …"
  {
    id: 'framing.delivery.one-byte-per-write',
    section: '3.1.3',
    level: 'MUST',
    description: 'One PREPARE frame written one byte per write (1 ms apart) is answered with one accepted reply carrying its id.',
    expected: 'One accepted reply with the request id.',
    timeoutMs: 30_000,
    run: verdict((ctx) => deliver(ctx, 1, 'one byte per write', (c, b) => c.writeChunked(b, 1, 1))),
  },
  // §3.1.3 "… or coalesced with other frames in one write."
  {
    id: 'framing.delivery.coalesced-frames',
    section: '3.1.3',
    level: 'MUST',
    description: 'Five PREPARE frames written in one write get five accepted replies, in request order (by id), and nothing more.',
    expected: 'N frames in one write yield N replies in order.',
    run: verdict((ctx) => deliver(ctx, 5, 'coalesced in one write', (c, b) => c.write(b))),
  },
  // §3.1.3 "Frame boundaries are independent of write boundaries"
  {
    id: 'framing.delivery.coalesced-and-split',
    section: '3.1.3',
    level: 'MUST',
    description: 'Five PREPARE frames concatenated and written in 7-byte pieces (pieces straddle frame boundaries) get five accepted replies in order.',
    expected: 'Frames are delimited regardless of where the writes cut them.',
    timeoutMs: 20_000,
    run: verdict((ctx) => deliver(ctx, 5, 'in 7-byte writes across frame boundaries', (c, b) => c.writeChunked(b, 7, 2))),
  },
  // §3.1.2 "A frame that ends because the peer closed (a partial frame) MUST be
  // discarded without a reply; the server MUST keep serving other connections."
  {
    id: 'framing.partial-frame-then-close',
    section: '3.1.2',
    level: 'MUST',
    description:
      'The first half of a PREPARE frame, then the client closes: no reply arrives before or after the close, and on a fresh connection the same signal_id can still be prepared (the partial frame was discarded).',
    expected: 'The partial frame is discarded silently and the server keeps serving.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const p = ctx.prepare();
      const frame = ctx.encode(p, { id: 'partial' });
      const cut = Math.max(1, Math.floor(frame.length / 2));
      await conn.write(frame.subarray(0, cut));
      await expectNoReply(conn, `after ${cut} of ${frame.length} bytes of a frame`);
      await conn.end();
      const ev = await conn.read(300);
      check(ev.type !== 'reply' && ev.type !== 'undecodable', `after the client closed mid-frame the server sent ${describeEvent(ev)}`);
      const fresh = await ctx.connect();
      await expectUnused(ctx, fresh, p.signal_id, 'a partial frame cut by the client closing');
      return `no reply to ${cut} of ${frame.length} bytes nor after the close; the signal_id was unused; a fresh connection is served`;
    }),
  },
  // §3.1.1 "An oversize frame MUST be detected before its body is buffered: … in
  // ndjson as soon as more than maxFrameBytes bytes have arrived without a newline.
  // The server MUST then send one FRAME_TOO_LARGE rejection and close the connection
  // after the reply is flushed (§5.6)."
  {
    id: 'framing.oversize.ndjson-without-newline',
    section: '3.1.1',
    level: 'MUST',
    description: 'maxFrameBytes+1 bytes of a JSON-looking line with no newline get one FRAME_TOO_LARGE rejection (without waiting for a newline), then the server closes; a fresh connection is served.',
    expected: 'FRAME_TOO_LARGE, then close.',
    requires: ['maxFrameBytes'],
    appliesTo: modes.ndjson,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const max = need(ctx.capabilities.maxFrameBytes, 'maxFrameBytes');
      const bytes = Buffer.alloc(max + 1, 0x78);
      Buffer.from('{"signal":{"pad":"', 'latin1').copy(bytes);
      return tooLargeThenClosed(ctx, bytes, `${max + 1} bytes without a newline`);
    }),
  },
  // §3.1.1 "… from a length prefix as soon as the prefix is read …"
  {
    id: 'framing.oversize.lp-announced-by-prefix',
    section: '3.1.1',
    level: 'MUST',
    description: 'A length prefix announcing a body of maxFrameBytes+1 bytes, sent alone (no header, no body), gets one FRAME_TOO_LARGE rejection, then the server closes.',
    expected: 'FRAME_TOO_LARGE from the prefix alone, then close.',
    requires: ['maxFrameBytes'],
    appliesTo: modes.lp,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const max = need(ctx.capabilities.maxFrameBytes, 'maxFrameBytes');
      const value = lpLengthFor(spec, max + 1);
      if (value > maxLengthValue(spec)) {
        return informational(`a ${spec.prefixBytes}-byte prefix cannot announce ${max + 1} bytes; nothing to test`);
      }
      return tooLargeThenClosed(ctx, lengthPrefix(spec, value), `a prefix announcing ${max + 1} body bytes`);
    }),
  },
  // §3.1.1 "Memory use MUST NOT grow with the size a peer announces or sends."
  {
    id: 'framing.oversize.lp-max-length-value',
    section: '3.1.1',
    level: 'MUST',
    description: 'A length prefix holding the largest value of its width (0xFFFFFFFF for 4 bytes), sent alone, gets FRAME_TOO_LARGE from the prefix alone, then a close; a fresh connection is served.',
    expected: 'FRAME_TOO_LARGE, then close.',
    requires: ['maxFrameBytes'],
    appliesTo: modes.lp,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const max = need(ctx.capabilities.maxFrameBytes, 'maxFrameBytes');
      const value = maxLengthValue(spec);
      if (announcedBody(spec, value) <= max) {
        return informational(`the largest ${spec.prefixBytes}-byte length announces ${announcedBody(spec, value)} body bytes, within maxFrameBytes ${max}`);
      }
      return tooLargeThenClosed(ctx, lengthPrefix(spec, value), `a prefix holding 0x${value.toString(16)}`);
    }),
  },
  // §3.1.1 "A server MUST enforce maxFrameBytes on the body." — the limit is
  // inclusive: a body of exactly maxFrameBytes is a valid frame.
  {
    id: 'framing.max-size-frame-accepted',
    section: '3.1.1',
    level: 'MUST',
    description: 'A PREPARE padded with an unknown field so that its body is exactly maxFrameBytes is processed normally (accepted, state PREPARED), not rejected as too large.',
    expected: 'A frame of exactly the maximum size is accepted.',
    requires: ['maxFrameBytes'],
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const max = need(ctx.capabilities.maxFrameBytes, 'maxFrameBytes');
      const f = ctx.mode.framing;
      if (f.kind === 'lp' && lpLengthFor(f, max) > maxLengthValue(f)) {
        return informational(`a ${f.prefixBytes}-byte prefix cannot carry a ${max}-byte body`);
      }
      const base = ctx.prepare();
      const frame = paddedFrame(ctx, max, (pad) => ({ ...base, pad }));
      if (frame === undefined) throw new Error(`could not build a PREPARE whose body is exactly ${max} bytes`);
      const conn = await ctx.connect();
      await conn.write(frame);
      const reply = expectAccepted(await conn.read(10_000), `a PREPARE whose body is exactly ${bodyOf(f, frame).length} bytes`);
      expectField(reply, 'state', 'PREPARED', 'the maximum-size PREPARE');
      await abortOk(ctx, conn, base.signal_id);
      return `a ${max}-byte body (maxFrameBytes) was accepted`;
    }),
  },
  // §3.2.1 "An empty line (zero bytes before the newline, or only JSON whitespace)
  // is not a frame: it MUST be ignored and produce no reply."
  {
    id: 'framing.ndjson.empty-line-ignored',
    section: '3.2.1',
    level: 'MUST',
    description: 'Two empty lines before and one after a PREPARE line produce no reply: exactly one reply (accepted, with the PREPARE\'s id) arrives.',
    expected: 'Empty lines are ignored; only the request is answered.',
    appliesTo: modes.ndjson,
    run: verdict((ctx) => exactlyOneReplyAround(ctx, '\n\n', '\n', 'between empty lines')),
  },
  // §3.2.1 "… or only JSON whitespace) is not a frame: it MUST be ignored and produce no reply."
  {
    id: 'framing.ndjson.whitespace-line-ignored',
    section: '3.2.1',
    level: 'MUST',
    description: 'Lines holding only JSON whitespace (spaces, tabs, CR) before and after a PREPARE line produce no reply: exactly one accepted reply with the PREPARE\'s id.',
    expected: 'Whitespace-only lines are ignored; only the request is answered.',
    appliesTo: modes.ndjson,
    run: verdict((ctx) => exactlyOneReplyAround(ctx, '   \n\t \r\n', ' \t\n', 'between whitespace-only lines')),
  },
  // §3.2 "A frame is the bytes before a newline (0x0A); the newline is not part of
  // the body." — a CR before it is JSON whitespace inside the body.
  {
    id: 'framing.ndjson.crlf-line-accepted',
    section: '3.2',
    level: 'MUST',
    description: 'A PREPARE line ending in CR LF (the CR is trailing JSON whitespace in the body) is accepted with its id echoed.',
    expected: 'The body with a trailing CR is valid JSON and is processed.',
    appliesTo: modes.ndjson,
    run: verdict((ctx) =>
      exactlyOneReplyAround(ctx, '', '', 'ending in CR LF', (f) => Buffer.concat([f.subarray(0, f.length - 1), Buffer.from('\r\n', 'latin1')])),
    ),
  },
  // §3.2.2 "The body MUST be valid UTF-8; invalid UTF-8 MUST be rejected with
  // IPC_ERROR and MUST NOT be repaired (for example with U+FFFD) and processed."
  {
    id: 'framing.ndjson.invalid-utf8-rejected',
    section: '3.2.2',
    level: 'MUST',
    description: 'A PREPARE line in which two bytes of a string are replaced by 0xFF 0xFE (invalid UTF-8) is rejected with IPC_ERROR, the connection is kept, and its signal_id is still unused (nothing was repaired and processed).',
    expected: 'IPC_ERROR; connection kept; the signal was not created.',
    appliesTo: modes.ndjson,
    run: verdict((ctx) => invalidUtf8(ctx)),
  },
  // §3.3.4 "A JSON body MUST be valid UTF-8 (as §3.2.2)."
  {
    id: 'framing.lp.json-invalid-utf8-rejected',
    section: '3.3.4',
    level: 'MUST',
    description: 'A length-prefixed JSON PREPARE whose body holds invalid UTF-8 (0xFF 0xFE inside a string) is rejected with IPC_ERROR, the connection is kept, and its signal_id is still unused.',
    expected: 'IPC_ERROR; connection kept; the signal was not created.',
    appliesTo: (m) => modes.lp(m) && modes.json(m),
    run: verdict((ctx) => invalidUtf8(ctx)),
  },
  // §3.3.2 "A frame whose body is empty MUST be answered with IPC_ERROR; the
  // connection stays open."
  {
    id: 'framing.lp.empty-body',
    section: '3.3.2',
    level: 'MUST',
    description: 'A length-prefixed frame with an empty body (length covering only the fixed parts) is answered with IPC_ERROR and the connection keeps serving.',
    expected: 'IPC_ERROR; connection kept.',
    appliesTo: modes.lp,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const frame = Buffer.concat([lengthPrefix(spec, lpLengthFor(spec, 0)), Buffer.from(spec.header)]);
      return rejectedKept(ctx, frame, 'an empty-body frame');
    }),
  },
  // §3.3.3 "A frame whose fixed header bytes differ from the configured ones MUST be
  // answered with IPC_ERROR; the connection stays open (the length still delimits it)."
  {
    id: 'framing.lp.header-mismatch',
    section: '3.3.3',
    level: 'MUST',
    description: 'A PREPARE frame whose first fixed header byte is inverted is answered with IPC_ERROR, the connection keeps serving, and its signal_id is still unused.',
    expected: 'IPC_ERROR; connection kept; the frame is not processed.',
    appliesTo: (m) => m.framing.kind === 'lp' && m.framing.header.length > 0,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const p = ctx.prepare();
      const frame = Buffer.from(ctx.encode(p));
      frame[spec.prefixBytes] = (frame[spec.prefixBytes] ?? 0) ^ 0xff;
      return rejectedKept(ctx, frame, 'a frame with a wrong header byte', p.signal_id);
    }),
  },
  // §3.3.1 "A length too small to hold the fixed parts it counts (the header, and in
  // frame mode the length field itself) is malformed: the server MUST send IPC_ERROR
  // and close the connection after the reply is flushed (framing is lost)."
  {
    id: 'framing.lp.length-below-overhead',
    section: '3.3.1',
    level: 'MUST',
    description: 'A length one less than the fixed parts it must count gets IPC_ERROR, then the server closes the connection; a fresh connection is served.',
    expected: 'IPC_ERROR, then close.',
    appliesTo: (m) => m.framing.kind === 'lp' && (m.framing.header.length > 0 || m.framing.lengthIncludes === 'frame'),
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const overhead = spec.header.length + (spec.lengthIncludes === 'frame' ? spec.prefixBytes : 0);
      const conn = await ctx.connect();
      await conn.write(Buffer.concat([lengthPrefix(spec, overhead - 1), Buffer.from(spec.header), ctx.encode(ctx.prepare())]));
      expectRejected(await conn.read(), 'IPC_ERROR', `a length of ${overhead - 1} (fixed parts: ${overhead} bytes)`);
      await expectClosed(conn, 'after the malformed length');
      await freshConnectionServes(ctx, 'a malformed length');
      return `length ${overhead - 1} < ${overhead}: IPC_ERROR, then close; a fresh connection is served`;
    }),
  },
  // §3.3.4 "A MessagePack body MUST be exactly one value with no trailing bytes."
  {
    id: 'framing.msgpack.trailing-bytes',
    section: '3.3.4',
    level: 'MUST',
    description: 'A valid MessagePack PREPARE envelope followed by one extra byte (a nil) inside the same frame is rejected with IPC_ERROR, the connection keeps serving, and its signal_id is still unused.',
    expected: 'IPC_ERROR; connection kept; the envelope is not processed.',
    appliesTo: modes.msgpack,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const body = Buffer.concat([bodyOf(ctx.mode.framing, ctx.encode(p)), Buffer.from([0xc0])]);
      return rejectedKept(ctx, frameOf(ctx, body), 'a MessagePack body with a trailing byte', p.signal_id);
    }),
  },
  // §3.5 "A body that cannot be decoded (not JSON, not MessagePack, trailing bytes)
  // or that decodes to anything but an object/map MUST be answered with IPC_ERROR;
  // the connection stays open."
  {
    id: 'framing.body.undecodable',
    section: '3.5',
    level: 'MUST',
    description: 'A well-delimited frame whose body is not JSON (JSON codec) or not MessagePack (0xC1, MessagePack codec) is answered with IPC_ERROR and the connection keeps serving.',
    expected: 'IPC_ERROR; connection kept.',
    run: verdict((ctx) => rejectedKept(ctx, frameOf(ctx, undecodableBody(ctx)), 'an undecodable body')),
  },
  ...NOT_AN_OBJECT.map(
    (b): ConformanceCase => ({
      id: b.id,
      section: '3.5',
      level: 'MUST',
      description: `A frame carrying ${b.what} is answered with IPC_ERROR and the connection keeps serving.`,
      expected: 'IPC_ERROR; connection kept.',
      run: verdict((ctx) => rejectedKept(ctx, frameOf(ctx, encodeBody(ctx.mode.framing.codec, b.value(ctx))), b.what)),
    }),
  ),
  // §3.1.2 "A frame that ends because the peer closed (a partial frame) MUST be
  // discarded without a reply; the server MUST keep serving other connections."
  {
    id: 'framing.lp.length-larger-than-sent',
    section: '3.1.2',
    level: 'MUST',
    description: 'A PREPARE frame whose prefix announces 16 more bytes than are sent gets no reply; the client closes; no reply follows, and on a fresh connection the signal_id is still unused.',
    expected: 'No reply (the server waits for the rest); after the close the frame is discarded.',
    appliesTo: modes.lp,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const p = ctx.prepare();
      const frame = ctx.encode(p);
      const conn = await ctx.connect();
      await conn.write(withLength(spec, frame, lengthOf(spec, frame) + 16));
      await expectNoReply(conn, 'a frame 16 bytes shorter than its prefix announces');
      await conn.end();
      const ev = await conn.read(300);
      check(ev.type !== 'reply' && ev.type !== 'undecodable', `after the client closed mid-frame the server sent ${describeEvent(ev)}`);
      const fresh = await ctx.connect();
      await expectUnused(ctx, fresh, p.signal_id, 'a frame cut short by the client closing');
      return 'no reply while waiting for the announced bytes nor after the close; the signal_id was unused; a fresh connection is served';
    }),
  },
  // §3.3 "A frame is length | header | body" — a wrong length desynchronises the
  // stream; §5.1 every frame the server can delimit gets exactly one reply, and
  // §3.1.2 it keeps serving other connections.
  {
    id: 'framing.lp.length-one-short',
    section: '3.3',
    level: 'MUST',
    description:
      'A PREPARE frame whose length is one less than its real size, followed by a valid frame: the server answers exactly the frames it can delimit from these bytes (first an IPC_ERROR for the truncated body; then, in 4-byte big-endian framing, FRAME_TOO_LARGE and a close for the garbage length), never crashes, and serves a fresh connection.',
    expected: 'One reply per delimitable frame, as the length prefixes dictate; the server survives.',
    appliesTo: modes.lp,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const first = ctx.encode(ctx.prepare(), { id: 'short-by-one' });
      const next = ctx.prepare();
      const bytes = Buffer.concat([withLength(spec, first, lengthOf(spec, first) - 1), ctx.encode(next, { id: 'after-short' })]);
      try {
        return await expectDelimited(ctx, bytes, 'a frame announced one byte short');
      } finally {
        await cleanup(ctx, undefined, [next.signal_id]);
      }
    }),
  },
  // §3.3 "length: an unsigned integer of prefixBytes ∈ {2, 4} bytes, big- or little-endian"
  {
    id: 'framing.lp.wrong-endianness',
    section: '3.3',
    level: 'MUST',
    description:
      'A PREPARE frame whose length is written in the opposite byte order: the server reads the length as configured (typically a huge value → FRAME_TOO_LARGE and close; a value it can wait for → no reply), never crashes, and serves a fresh connection.',
    expected: 'The length is read in the configured byte order and handled like any other length.',
    appliesTo: modes.lp,
    run: verdict(async (ctx) => {
      const spec = asLp(ctx);
      const frame = ctx.encode(ctx.prepare());
      const swapped = withLength(spec, frame, lengthOf(spec, frame), spec.endian === 'be' ? 'le' : 'be');
      if (swapped.subarray(0, spec.prefixBytes).equals(frame.subarray(0, spec.prefixBytes))) {
        return informational('this frame\'s length reads the same in both byte orders; nothing to test');
      }
      return expectDelimited(ctx, swapped, `a length written ${spec.endian === 'be' ? 'little' : 'big'}-endian`);
    }),
  },
  // §3.1 "Reply frames use the same framing and body codec as requests." §3.2
  // "Reply frames MUST end with a newline." §3.3 the header is "identical in requests
  // and replies".
  {
    id: 'framing.reply.well-formed',
    section: '3.1',
    level: 'MUST',
    description:
      'The replies to a PREPARE (accepted), an ABORT of an unknown id (rejected) and an undecodable body (IPC_ERROR) are each one complete frame in the target\'s framing (newline-terminated in ndjson; correct prefix and header in lp) whose body decodes with its codec; no stray bytes follow.',
    expected: 'Every reply is a well-formed frame of the configured framing and codec.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const p = ctx.prepare();
      await conn.write(
        Buffer.concat([ctx.encode(p, { id: 'wf-1' }), ctx.encode(ctx.abort(ctx.uniqueId('never-prepared')), { id: 'wf-2' }), frameOf(ctx, undecodableBody(ctx))]),
      );
      const kinds: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const ev = await conn.read();
        if (ev.type !== 'reply') throw new Mismatch(`reply ${i} of 3 is not a well-formed ${ctx.mode.framingName} frame: ${describeEvent(ev)}`);
        kinds.push(describeReply(ev.reply).slice(0, 40));
      }
      await expectNoReply(conn, 'after the 3 replies (stray bytes?)');
      await abortOk(ctx, conn, p.signal_id);
      return `3 replies, each a complete ${ctx.mode.framingName} frame with a decodable body: ${kinds.join(' | ')}`;
    }),
  },
];

async function invalidUtf8(ctx: CaseContext): Promise<string> {
  const p = ctx.prepare({ note: 'caf\u00e9' });
  const frame = Buffer.from(ctx.encode(p));
  const at = frame.indexOf(Buffer.from('\u00e9', 'utf8'));
  if (at < 0) throw new Error('internal: the encoded frame does not carry the marker character');
  frame[at] = 0xff;
  frame[at + 1] = 0xfe;
  return rejectedKept(ctx, frame, 'a body with invalid UTF-8', p.signal_id);
}
