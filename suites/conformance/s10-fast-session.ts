import { randomBytes } from 'node:crypto';
import type { CaseContext, CaseOutcome, ConformanceCase } from '../../harness/case.js';
import { informational } from '../../harness/case.js';
import { classifySpecReply } from '../../harness/dialect.js';
import { helloExchange, openFastSession, type FastSessionClient, type HelloExchange } from '../../harness/fast-session-client.js';
import { decodeBody, isFastPathError } from '../../protocol/index.js';
import { peerState, RING_HEADER_BYTES, RingWord, WAIT_STRATEGIES } from '../../ring/index.js';
import { check, expectRejected, Mismatch, show, verdict } from './expect.js';
import {
  clientOptions,
  describeHello,
  expectEchoed,
  harnessShmProblem,
  Lp32Reader,
  lp32Frame,
  notification,
  openSession,
  patternBytes,
  prepareRings,
  RawShmSession,
  releaseExchange,
  request,
  shmHello,
  type PreparedRings,
} from './fast.js';
import { cleanup, stillServing } from './flows.js';
import { bodyOf } from './wire.js';

/**
 * docs/SPEC.md §10 Fast sessions: the HELLO/READY handshake on an ordinary connection,
 * FastMessages through two shared-memory rings (`shm`) or as lp32 frames on the
 * socket (`uds`), the methods of the reference, refusals of bad segments, and the end
 * of a session when its socket closes. Every case needs the `fastSession` capability.
 */

const MiB = 1024 * 1024;

/** Runs `body` only when this process can use shared memory; otherwise says why, without judging the target. */
function withShm(body: (ctx: CaseContext) => Promise<string | CaseOutcome>): (ctx: CaseContext) => Promise<CaseOutcome> {
  return verdict(async (ctx) => {
    const problem = harnessShmProblem();
    if (problem !== undefined) return informational(problem);
    return body(ctx);
  });
}

async function closeAll(sessions: readonly FastSessionClient[]): Promise<void> {
  for (const s of sessions) await s.close();
}

/** The HELLO on an ordinary connection (wire-logged), its rejection with `reason`, then an ordinary PREPARE/ABORT on the same connection. */
async function refusedThenStillServing(
  ctx: CaseContext,
  hello: Record<string, unknown>,
  reason: 'SESSION_REFUSED' | 'INVALID_SIGNAL',
  what: string,
  mustName: readonly { readonly label: string; readonly pattern: RegExp }[],
): Promise<string> {
  const conn = await ctx.connect();
  const ev = await conn.request(hello, { id: 'fast-hello' }, 5_000);
  const rejection = expectRejected(ev, reason, what);
  check(rejection.id === 'fast-hello', `${what}: the rejection carries id ${show(rejection.id)}, the HELLO had "fast-hello" (§5.3)`);
  const error = rejection.error ?? '';
  for (const { label, pattern } of mustName) check(pattern.test(error), `${what}: the error ${show(error, 300)} does not name ${label}`);
  await stillServing(ctx, conn, `${reason} to ${what}`);
  return `${reason} (${show(error, 200)}); the connection then served a PREPARE and its ABORT`;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Cases of §10.2.3 / §10.1.2: a HELLO naming segments the server must refuse. */
function refusedRingCase(spec: {
  id: string;
  section: string;
  description: string;
  expected: string;
  rings: () => PreparedRings;
  hello?: (rings: PreparedRings) => Record<string, unknown>;
  names: (rings: PreparedRings) => readonly { readonly label: string; readonly pattern: RegExp }[];
}): ConformanceCase {
  return {
    id: spec.id,
    section: spec.section,
    level: 'MUST',
    description: spec.description,
    expected: spec.expected,
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const rings = spec.rings();
      try {
        const hello = spec.hello?.(rings) ?? shmHello(rings);
        return await refusedThenStillServing(ctx, hello, 'SESSION_REFUSED', `HELLO naming ${rings.requestRing}`, spec.names(rings));
      } finally {
        rings.remove();
      }
    }),
  };
}

const namesSegment = (name: string): { label: string; pattern: RegExp } => ({ label: `the segment (${name})`, pattern: new RegExp(escape(name)) });

export const fastSessionCases: readonly ConformanceCase[] = [
  // §10.1.2 "The server MUST open both and validate them before using them (§10.2.3). It
  // then becomes the consumer of the request ring and the producer of the response ring,
  // and replies {"accepted":true,"type":"READY","version":1,"transport":"shm",
  // "maxMessageBytes":N,"wait":W,"serverPid":P} on the socket."
  {
    id: 'fast.shm.hello-answered-ready',
    section: '10.1.2',
    level: 'MUST',
    description:
      'A valid shm HELLO (two fresh 0600 rings of 64 KiB) is answered with READY carrying the HELLO id, version 1, transport shm, a positive integer maxMessageBytes, a wait strategy of §10.3.4 and the server pid; the server is then attached as consumer of the request ring and producer of the response ring with that pid.',
    expected: 'READY with the fields of §10.1.2, and the server attached to both rings.',
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const ex = await helloExchange(clientOptions(ctx, 'shm'));
      try {
        check(ex.outcome.kind === 'ready', `a valid shm HELLO was answered with ${describeHello(ex.outcome)}, expected READY`);
        const ready = ex.outcome.ready;
        const reply = ex.reply as Record<string, unknown>;
        check(reply.id === 'fast-hello', `READY carries id ${show(reply.id)}, the HELLO had "fast-hello"`);
        check(reply.version === 1 && reply.transport === 'shm' && reply.type === 'READY', `READY fields: ${show(reply)}`);
        check(typeof reply.wait === 'string' && (WAIT_STRATEGIES as readonly string[]).includes(reply.wait), `READY "wait" is ${show(reply.wait)}, expected one of ${WAIT_STRATEGIES.join(', ')}`);
        check(Number.isInteger(ready.maxMessageBytes) && ready.maxMessageBytes > 0, `READY "maxMessageBytes" is ${show(reply.maxMessageBytes)}`);
        const pair = ex.pair!;
        const consumerPid = Atomics.load(new Int32Array(pair.request.buffer, 0, RING_HEADER_BYTES / 4), RingWord.consumerPid);
        const producerPid = Atomics.load(new Int32Array(pair.response.buffer, 0, RING_HEADER_BYTES / 4), RingWord.producerPid);
        check(consumerPid === ready.serverPid, `after READY the request ring's consumer pid is ${consumerPid}, expected the server pid ${ready.serverPid} (§10.6.1: each end stores its pid when it attaches)`);
        check(producerPid === ready.serverPid, `after READY the response ring's producer pid is ${producerPid}, expected the server pid ${ready.serverPid}`);
        return `READY ${show(reply, 300)}; server pid ${ready.serverPid} attached to both rings`;
      } finally {
        releaseExchange(ex);
      }
    }),
  },
  // §10.5 "| `echo` | any bytes | the same bytes |"
  {
    id: 'fast.shm.echo-byte-exact',
    section: '10.5',
    level: 'MUST',
    description: 'Over an shm session, echo requests with 0, 1, 1000, 16 000 and 30 000 bytes of params (random, and a pattern) are each answered with exactly the same bytes as result, with the request id.',
    expected: 'Every echo result equals its params byte for byte.',
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const session = await openSession(ctx, 'shm');
      try {
        const sizes = [0, 1, 1000, 16_000, 30_000];
        for (const [i, size] of sizes.entries()) {
          const params = i % 2 === 0 ? new Uint8Array(randomBytes(size)) : patternBytes(size, i);
          const response = await session.request('echo', params, 5_000);
          expectEchoed(response, params, `echo of ${size} bytes`);
        }
        return `echo of ${sizes.join(', ')} bytes: each result byte-exact`;
      } finally {
        await session.close();
      }
    }),
  },
  // §10.4.2 "A larger one is a record of type 2 (MESSAGE_START: total length as a
  // little-endian u32, then the first bytes) followed by records of type 3
  // (MESSAGE_PART) until the total is reached."
  {
    id: 'fast.shm.echo-chunked-3mib',
    section: '10.4.2',
    level: 'MUST',
    description:
      'Over an shm session with 1 MiB rings (512 KiB records), an echo of 3 MiB crosses the record limit and the ring capacity both ways (chunked into MESSAGE_START and MESSAGE_PART records, written as the reader frees space) and comes back byte-exact; a small echo after it still works.',
    expected: 'The 3 MiB result equals the params byte for byte.',
    requires: ['fastSession'],
    timeoutMs: 30_000,
    run: withShm(async (ctx) => {
      const session = await openSession(ctx, 'shm', { capacityBytes: MiB });
      try {
        check(session.maxMessageBytes >= 3 * MiB + 64, `READY maxMessageBytes is ${session.maxMessageBytes}: a 3 MiB echo does not fit the server's limit, nothing to check`);
        const params = patternBytes(3 * MiB, 3);
        const response = await session.request('echo', params, 20_000);
        expectEchoed(response, params, 'echo of 3 MiB');
        const small = patternBytes(100, 4);
        expectEchoed(await session.request('echo', small, 5_000), small, 'echo of 100 bytes after the 3 MiB one');
        return 'echo of 3 MiB through 1 MiB rings came back byte-exact; the session then echoed 100 bytes';
      } finally {
        await session.close();
      }
    }),
  },
  // §10.4.3 "Responses to requests of one session come in request order."
  {
    id: 'fast.shm.pipelined-in-order',
    section: '10.4.3',
    level: 'MUST',
    description:
      'Over an shm session, 100 requests written without waiting - first a `signal` PREPARE with delay_ms 300 when the target declares `delay`, then echo and sink requests - are answered in request order (every message the server writes into the response ring is seen), each echo byte-exact.',
    expected: 'Responses arrive in the order of their requests, the slow one first.',
    requires: ['fastSession'],
    timeoutMs: 20_000,
    run: withShm(async (ctx) => {
      const session = await RawShmSession.open(ctx);
      const prepared: string[] = [];
      try {
        const sent: { id: number; method: string; params: Uint8Array<ArrayBuffer> }[] = [];
        if (ctx.capabilities.delay === true) {
          const signal = ctx.prepare({ delay_ms: 300 });
          prepared.push(signal.signal_id);
          sent.push({ id: 1, method: 'signal', params: new Uint8Array(bodyOf(ctx.mode.framing, ctx.encode(signal, { id: 'slow' }))) });
        }
        while (sent.length < 100) {
          const id = sent.length + 1;
          const method = id % 5 === 0 ? 'sink' : 'echo';
          sent.push({ id, method, params: patternBytes(id * 37, id) });
        }
        for (const r of sent) session.send(request(r.id, r.method, r.params));
        const order: number[] = [];
        for (const r of sent) {
          const m = await session.expectNext(5_000, `response ${order.length + 1} of ${sent.length}`);
          check(m.type === 'response', `message ${order.length + 1} from the server is a ${m.type}, expected a response`);
          order.push(m.id ?? -1);
          check(m.id === r.id, `response ${order.length} carries id ${show(m.id)}, expected ${r.id} (request order); ids so far: ${order.join(', ')}`);
          if (r.method === 'echo') expectEchoed(m, r.params, `echo request ${r.id}`);
          else check(m.error === undefined, `${r.method} request ${r.id} got error ${show(m.error)}`);
        }
        const slow = prepared.length > 0 ? 'a slow signal (delay_ms 300) first, then ' : '';
        return `${sent.length} pipelined requests (${slow}echo and sink) answered in request order`;
      } finally {
        session.close();
        await cleanup(ctx, undefined, prepared);
      }
    }),
  },
  // §10.5 "| `signal` | a request body in the server's body codec (§3, §4: envelope and
  // signature included) | the reply body (§5) in the same codec |"
  {
    id: 'fast.shm.signal-method',
    section: '10.5',
    level: 'MUST',
    description:
      'Over an shm session, the `signal` method with a signed PREPARE body (the mode\'s codec and auth) returns as result a reply body in the same codec: accepted, state PREPARED, same signal_id and envelope id; an ABORT of it the same way is accepted with state ABORTED.',
    expected: 'The result is the §5 reply the socket would have given.',
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const session = await RawShmSession.open(ctx);
      const signal = ctx.prepare();
      try {
        const results: string[] = [];
        for (const [id, sig, state] of [
          [1, signal, 'PREPARED'],
          [2, ctx.abort(signal.signal_id), 'ABORTED'],
        ] as const) {
          const envelopeId = `fast-signal-${id}`;
          session.send(request(id, 'signal', new Uint8Array(bodyOf(ctx.mode.framing, ctx.encode(sig, { id: envelopeId })))));
          const m = await session.expectNext(5_000, `response to signal ${String(sig.type)}`);
          check(m.id === id && m.result !== undefined, `signal ${String(sig.type)}: got ${show(m)}, expected a response ${id} with a result`);
          const decoded = decodeBody(ctx.mode.framing.codec, Buffer.from(m.result));
          check(decoded.ok, `signal ${String(sig.type)}: the result is not a ${ctx.mode.framing.codec} body: ${decoded.ok ? '' : decoded.error}`);
          const reply = classifySpecReply(decoded.value);
          check(reply.kind === 'accepted', `signal ${String(sig.type)}: the reply body is ${show(decoded.value)}, expected accepted`);
          const fields = reply.fields;
          check(fields.state === state && fields.signal_id === signal.signal_id, `signal ${String(sig.type)}: reply ${show(fields)}, expected state ${state} for ${signal.signal_id}`);
          check(fields.id === envelopeId, `signal ${String(sig.type)}: reply id ${show(fields.id)}, expected the envelope id "${envelopeId}" (§5.3)`);
          results.push(`${String(sig.type)} → ${state}`);
        }
        return `signal method: ${results.join(', ')}, reply bodies in ${ctx.mode.framing.codec}`;
      } finally {
        session.close();
        await cleanup(ctx, undefined, [signal.signal_id]);
      }
    }),
  },
  // §10.5 "An unknown method gets an `error` with code `UNKNOWN_METHOD`"
  {
    id: 'fast.shm.unknown-method',
    section: '10.5',
    level: 'MUST',
    description: 'Over an shm session, a request for method "no-such-method" gets a response with its id, an error with code UNKNOWN_METHOD and no result; an echo on the same session afterwards works.',
    expected: 'error.code UNKNOWN_METHOD, and the session goes on.',
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const session = await RawShmSession.open(ctx);
      try {
        session.send(request(7, 'no-such-method', patternBytes(10)));
        const m = await session.expectNext(5_000, 'response to an unknown method');
        check(m.type === 'response' && m.id === 7, `got ${show(m)}, expected the response to request 7`);
        check(m.error?.code === 'UNKNOWN_METHOD', `response error is ${show(m.error)}, expected code UNKNOWN_METHOD`);
        check(m.result === undefined, 'the response carries a result besides the error (§10.4.1: exactly one of result and error)');
        const params = patternBytes(64, 8);
        session.send(request(8, 'echo', params));
        const echo = await session.expectNext(5_000, 'echo after the unknown method');
        check(echo.id === 8, `after UNKNOWN_METHOD the next message is ${show(echo)}, expected the echo response 8`);
        expectEchoed(echo, params, 'echo after the unknown method');
        return `UNKNOWN_METHOD (${show(m.error?.message, 120)}); the session then echoed 64 bytes`;
      } finally {
        session.close();
      }
    }),
  },
  // §10.4.1 "A notification gets no response."
  {
    id: 'fast.shm.notification-no-response',
    section: '10.4.1',
    level: 'MUST',
    description: 'Over an shm session, notifications (echo with params, sink, and an unknown method) followed by one echo request: the only message the server writes is the echo response, and nothing else arrives within 300 ms.',
    expected: 'No response to notifications.',
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const session = await RawShmSession.open(ctx);
      try {
        session.send(notification('echo', patternBytes(100, 1)));
        session.send(notification('sink', patternBytes(10, 2)));
        session.send(notification('no-such-method'));
        const params = patternBytes(50, 3);
        session.send(request(9, 'echo', params));
        const first = await session.expectNext(5_000, 'after three notifications and an echo request');
        check(first.type === 'response' && first.id === 9, `the first message after the notifications is ${show(first)}, expected only the response to request 9`);
        expectEchoed(first, params, 'echo after notifications');
        const extra = await session.next(300, 'after the echo response');
        check(extra === undefined, `a further message arrived: ${show(extra)} (a notification gets no response)`);
        return '3 notifications got no response; the echo request was answered';
      } finally {
        session.close();
      }
    }),
  },
  // §10.2.3 "An opener MUST refuse, with an error naming the field: … a mode other than
  // `0600` …" and §10.1.2 "… it MUST reply `SESSION_REFUSED` with an `error` naming the
  // segment and the reason; the connection stays an ordinary connection".
  refusedRingCase({
    id: 'fast.shm.refused.segment-mode-0644',
    section: '10.2.3',
    description: 'A HELLO whose request ring was created with mode 0644 (otherwise a valid ring) is refused with SESSION_REFUSED naming the segment and its mode; a PREPARE and its ABORT on the same connection are then accepted.',
    expected: 'SESSION_REFUSED naming the segment and the mode; the connection stays ordinary.',
    rings: () => prepareRings({ requestMode: 0o644 }),
    names: (r) => [namesSegment(r.requestRing), { label: 'the mode (0644 / mode)', pattern: /0?644|mode/i }],
  }),
  // §10.2.3 "… a wrong magic, layout version, header size, capacity (or one that differs
  // from the HELLO), segment size or record limit."
  refusedRingCase({
    id: 'fast.shm.refused.capacity-mismatch',
    section: '10.2.3',
    description: 'A HELLO announcing capacityBytes 131072 for rings of 65536 bytes is refused with SESSION_REFUSED naming the segment and the size or capacity; the connection then serves a PREPARE and its ABORT.',
    expected: 'SESSION_REFUSED naming the segment and the capacity or size; the connection stays ordinary.',
    rings: () => prepareRings(),
    hello: (r) => shmHello(r, { capacityBytes: 2 * r.capacityBytes }),
    names: (r) => [namesSegment(r.requestRing), { label: 'the capacity or size', pattern: /capacity|size/i }],
  }),
  refusedRingCase({
    id: 'fast.shm.refused.bad-magic',
    section: '10.2.3',
    description: 'A HELLO whose request ring has a wrong magic word (0x47525047) is refused with SESSION_REFUSED naming the segment and the magic; the connection then serves a PREPARE and its ABORT.',
    expected: 'SESSION_REFUSED naming the segment and the magic.',
    rings: () => prepareRings({ spoilRequest: (s) => void (new Uint32Array(s.buffer, 0, 1)[0] = 0x47525047) }),
    names: (r) => [namesSegment(r.requestRing), { label: 'the magic', pattern: /magic/i }],
  }),
  // §10.2.2 "… an opener MUST NOT use a segment whose `ready` word is not 1."
  refusedRingCase({
    id: 'fast.shm.refused.not-ready',
    section: '10.2.2',
    description: 'A HELLO whose request ring has its ready word at 0 (header otherwise complete) is refused with SESSION_REFUSED naming the segment; the connection then serves a PREPARE and its ABORT.',
    expected: 'SESSION_REFUSED naming the segment; the ring is not used.',
    rings: () => prepareRings({ spoilRequest: (s) => Atomics.store(new Int32Array(s.buffer, 0, RING_HEADER_BYTES / 4), RingWord.ready, 0) }),
    names: (r) => [namesSegment(r.requestRing), { label: 'the ready flag', pattern: /ready/i }],
  }),
  // §10.1.2 "When it cannot (segment missing, refused, no shared memory on its side) it
  // MUST reply `SESSION_REFUSED` with an `error` naming the segment and the reason"
  refusedRingCase({
    id: 'fast.shm.refused.missing-segment',
    section: '10.1.2',
    description: 'A HELLO naming a request ring that does not exist in /dev/shm is refused with SESSION_REFUSED naming the segment; the connection then serves a PREPARE and its ABORT.',
    expected: 'SESSION_REFUSED naming the missing segment; the connection stays ordinary.',
    rings: () => prepareRings(),
    hello: (r) => shmHello(r, { requestRing: `${r.requestRing}-missing` }),
    names: (r) => [namesSegment(`${r.requestRing}-missing`)],
  }),
  // §10.1.1 "An invalid HELLO MUST be answered with `INVALID_SIGNAL` and the connection
  // stays an ordinary connection."
  {
    id: 'fast.hello.invalid-transport',
    section: '10.1.1',
    level: 'MUST',
    description: 'A HELLO with transport "tcp" (otherwise a valid uds HELLO) is rejected with INVALID_SIGNAL; a PREPARE and its ABORT on the same connection are then accepted.',
    expected: 'INVALID_SIGNAL; the connection stays ordinary.',
    requires: ['fastSession'],
    run: verdict((ctx) => refusedThenStillServing(ctx, { type: 'HELLO', version: 1, transport: 'tcp', pid: process.pid }, 'INVALID_SIGNAL', 'a HELLO with transport "tcp"', [])),
  },
  // §10.1.1 "| `capacityBytes` | required | — | data capacity of each ring (power of two,
  // 4 KiB – 1 GiB) |" … "An invalid HELLO MUST be answered with `INVALID_SIGNAL`"
  {
    id: 'fast.hello.capacity-not-power-of-two',
    section: '10.1.1',
    level: 'MUST',
    description: 'An shm HELLO with capacityBytes 5000 (not a power of two) naming two valid rings is rejected with INVALID_SIGNAL; the connection then serves a PREPARE and its ABORT.',
    expected: 'INVALID_SIGNAL; the connection stays ordinary.',
    requires: ['fastSession'],
    run: withShm(async (ctx) => {
      const rings = prepareRings();
      try {
        return await refusedThenStillServing(ctx, shmHello(rings, { capacityBytes: 5000 }), 'INVALID_SIGNAL', 'a HELLO with capacityBytes 5000', []);
      } finally {
        rings.remove();
      }
    }),
  },
  // §10.1.4 "For `uds` the server replies READY without rings; from the next byte on, both
  // directions of the connection carry FastMessages as `lp32` frames (4-byte big-endian
  // body length, MessagePack body, §3.3) bounded by `maxMessageBytes`."
  {
    id: 'fast.uds.echo-lp32-after-ready',
    section: '10.1.4',
    level: 'MUST',
    description:
      'A uds HELLO is answered with READY (transport uds, maxMessageBytes); then echo requests written as lp32 frames (big-endian length, MessagePack FastMessage) of 0, 1000 and 100 000 bytes, sent back to back, are answered with lp32 frames carrying the same bytes, in order.',
    expected: 'READY, then lp32 FastMessage responses with the echoed bytes.',
    requires: ['fastSession'],
    run: verdict(async (ctx) => {
      const ex: HelloExchange = await helloExchange(clientOptions(ctx, 'uds'));
      try {
        check(ex.outcome.kind === 'ready', `a uds HELLO was answered with ${describeHello(ex.outcome)}, expected READY`);
        const ready = ex.outcome.ready;
        check(ready.transport === 'uds', `READY is for transport ${ready.transport}`);
        const reader = new Lp32Reader(ex.socket, ex.rest);
        const sizes = [0, 1000, 100_000].filter((n) => n + 64 <= ready.maxMessageBytes);
        const sent = sizes.map((n, i) => ({ id: 100 + i, params: patternBytes(n, i + 1) }));
        ex.socket.write(Buffer.concat(sent.map((r) => lp32Frame(request(r.id, 'echo', r.params)))));
        for (const r of sent) {
          const m = await reader.next(5_000, `lp32 response to echo ${r.id}`);
          check(m.type === 'response' && m.id === r.id, `lp32 frame ${show(m)}, expected the response to echo ${r.id}`);
          expectEchoed(m, r.params, `echo of ${r.params.byteLength} bytes over uds`);
        }
        return `READY (uds, maxMessageBytes ${ready.maxMessageBytes}); echo of ${sizes.join(', ')} bytes answered in lp32 frames, byte-exact`;
      } finally {
        releaseExchange(ex);
      }
    }),
  },
  // §10 "The socket connection it starts on stays open for the whole session: it is the
  // control and liveness channel, and closing it ends the session." With §7.1, the
  // ended sessions no longer count against maxConnections.
  {
    id: 'fast.shm.socket-close-ends-session',
    section: '10',
    level: 'MUST',
    description:
      'maxConnections shm sessions are opened, then their clients close the control sockets without closing the rings; within 3 s as many new shm sessions are served (READY and a byte-exact echo each) instead of being refused with MAX_CONNECTIONS_REACHED.',
    expected: 'Closing the socket ends the session and frees its slot.',
    requires: ['fastSession', 'maxConnections'],
    timeoutMs: 30_000,
    run: withShm(async (ctx) => {
      const slots = ctx.capabilities.maxConnections!;
      const first: HelloExchange[] = [];
      const second: FastSessionClient[] = [];
      try {
        for (let i = 0; i < slots; i++) first.push(await readyWithRetry(ctx, `session ${i + 1} of ${slots}`));
        const pairs = first.map((ex) => ex.pair!);
        const closedAt = performance.now();
        for (const ex of first) ex.socket.destroy(); // the rings stay open and mapped
        for (let i = 0; i < slots; i++) {
          const session = await openWithRetry(ctx, `new session ${i + 1} of ${slots} after the sockets closed`, closedAt + 3_000);
          second.push(session);
          const params = patternBytes(256, i);
          expectEchoed(await session.request('echo', params, 5_000), params, `echo on new session ${i + 1}`);
        }
        const ended = pairs.filter((p) => peerState(p.request.buffer, 'consumer').state === 'closed').length;
        return `${slots} sessions ended by closing their sockets; ${slots} new sessions served ${Math.round(performance.now() - closedAt)} ms later (the server marked ${ended} of the old request rings closed)`;
      } finally {
        for (const ex of first) releaseExchange(ex);
        await closeAll(second);
      }
    }),
  },
];

const RETRY_MS = 3_000;

/** A READY exchange; a refusal for the connection limit (a slot not yet freed by an earlier case) is retried for up to 3 s. */
async function readyWithRetry(ctx: CaseContext, what: string): Promise<HelloExchange> {
  const deadline = performance.now() + RETRY_MS;
  for (;;) {
    const ex = await helloExchange(clientOptions(ctx, 'shm'));
    if (ex.outcome.kind === 'ready') return ex;
    releaseExchange(ex);
    const limited = ex.outcome.kind === 'rejected' && ex.outcome.reason === 'MAX_CONNECTIONS_REACHED';
    if (!limited || performance.now() > deadline) {
      const hint = limited ? ` for ${RETRY_MS} ms: sessions or connections that earlier cases closed still hold connection slots` : ', expected READY';
      throw new Mismatch(`${what}: the shm HELLO was answered with ${describeHello(ex.outcome)}${hint}`);
    }
    await ctx.sleep(100);
  }
}

/** An open session (harness client); MAX_CONNECTIONS_REACHED is retried until `deadline`. */
async function openWithRetry(ctx: CaseContext, what: string, deadline: number): Promise<FastSessionClient> {
  for (;;) {
    try {
      return await openFastSession(clientOptions(ctx, 'shm'));
    } catch (err) {
      if (!isFastPathError(err) || err.code !== 'FP_SESSION_REFUSED') throw err;
      const limited = err.details?.reason === 'MAX_CONNECTIONS_REACHED';
      if (!limited || performance.now() > deadline) {
        throw new Mismatch(`${what}: ${err.message}${limited ? ' - the sessions whose sockets closed still count against maxConnections' : ''}`);
      }
    }
    await ctx.sleep(100);
  }
}
