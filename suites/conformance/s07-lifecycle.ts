import type { CaseContext, ConformanceCase, WireConnection } from '../../harness/case.js';
import { informational } from '../../harness/case.js';
import {
  Mismatch,
  check,
  countBy,
  describeEvent,
  expectAccepted,
  expectClosed,
  expectNoReply,
  expectRejected,
  need,
  show,
  verdict,
} from './expect.js';
import { abortOk, cleanup, settleConnections, socketStat, stillServing, unknownAborts } from './flows.js';

/** docs/SPEC.md §7 Lifecycle. */

const MiB = 1024 * 1024;

/**
 * Opens maxConnections connections and proves each is served (PREPARE and ABORT
 * accepted). Connections earlier cases closed are given time to be noticed first.
 */
async function fillConnections(ctx: CaseContext): Promise<WireConnection[]> {
  const max = need(ctx.capabilities.maxConnections, 'maxConnections');
  await settleConnections(ctx);
  const conns: WireConnection[] = [];
  for (let i = 1; i <= max; i++) {
    const conn = await ctx.connect();
    const p = ctx.prepare();
    const ev = await conn.request(p);
    if (ev.type !== 'reply' || ev.reply.kind !== 'accepted') {
      throw new Mismatch(`connection ${i} of ${max} (maxConnections) was not served: its PREPARE got ${describeEvent(ev)}`);
    }
    await abortOk(ctx, conn, p.signal_id, `ABORT on connection ${i} of ${max}`);
    conns.push(conn);
  }
  return conns;
}

/** Closes the connections a case filled up and lets the server notice, so later cases get a slot. */
async function releaseConnections(ctx: CaseContext, conns: readonly WireConnection[]): Promise<void> {
  await Promise.all(conns.map((c) => c.end()));
  await settleConnections(ctx);
}

/** A connection the server has demonstrably taken on (one request answered), now idle. */
async function servedIdleConnection(ctx: CaseContext): Promise<WireConnection> {
  const conn = await ctx.connect();
  expectRejected(await conn.request(ctx.abort(ctx.uniqueId('never-prepared'))), 'UNKNOWN_SIGNAL', 'a request before SIGTERM');
  return conn;
}

/** Connects; a failure to connect is an observation, not a crash. */
async function tryConnect(ctx: CaseContext, what: string): Promise<WireConnection> {
  try {
    return await ctx.connect();
  } catch (err) {
    throw new Mismatch(`${what}: connect failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Polls until `path` is gone or `withinMs` passes; returns the ms it took, or undefined. */
async function socketGoneWithin(ctx: CaseContext, withinMs: number): Promise<number | undefined> {
  const t0 = Date.now();
  for (;;) {
    if ((await socketStat(ctx.target.socketPath)) === undefined) return Date.now() - t0;
    if (Date.now() - t0 > withinMs) return undefined;
    await ctx.sleep(10);
  }
}

/** Call right after SIGTERM: waits for the exit, expecting status 0 within `deadlineMs` and no socket file; returns the ms it took. */
async function expectCleanExit(ctx: CaseContext, deadlineMs: number, slackMs: number): Promise<number> {
  const t0 = Date.now();
  const exit = await ctx.target.waitExit(deadlineMs + slackMs + 2_000);
  const tookMs = Date.now() - t0;
  check(exit !== 'timeout', `the server had not exited ${deadlineMs + slackMs + 2_000} ms after SIGTERM (shutdownDeadlineMs ${deadlineMs})`);
  check(exit.code === 0, `the server exited with ${exit.signal !== null ? `signal ${exit.signal}` : `status ${String(exit.code)}`}, expected status 0`);
  check(tookMs <= deadlineMs + slackMs, `the server exited ${tookMs} ms after SIGTERM, beyond shutdownDeadlineMs ${deadlineMs} (+${slackMs} ms measurement slack)`);
  const left = await socketStat(ctx.target.socketPath);
  check(left === undefined, `the socket file ${ctx.target.socketPath} is still there after the exit`);
  return tookMs;
}

/** Our own timing slack around the server's deadline: process exit and event-loop latency on a shared machine. */
const EXIT_SLACK_MS = 250;

/**
 * §7.2 memory bound for 100 000 unread requests. With backpressure the server holds
 * at most its high-water mark of pending replies (typically 64 KiB–1 MiB) plus one
 * read buffer; kernel socket buffers are not in its RSS. Without backpressure it
 * reads all ~15–30 MB of requests, builds 100 000 request objects, and queues
 * ~10 MB of reply frames in user space. Calibration (Node 20, lp32-json/none): the
 * reference server grew 11-12 MiB; a minimal server without backpressure (same
 * replies, socket.write without pausing) grew 93 MiB. 48 MiB sits between them
 * with room for GC and JIT noise of a healthy server.
 */
const BACKPRESSURE_REQUESTS = 100_000;
const BACKPRESSURE_RSS_BOUND = 48 * MiB;

export const lifecycleCases: readonly ConformanceCase[] = [
  // §7.1 "When maxConnections connections are open, a server MUST answer a new
  // connection with one complete MAX_CONNECTIONS_REACHED rejection frame and then
  // close it (§5.6). Closing silently is not conformant."
  {
    id: 'lifecycle.max-connections.reply-then-close',
    section: '7.1',
    level: 'MUST',
    description:
      'With maxConnections connections open and each proven served (PREPARE and ABORT accepted), one more connection receives one complete MAX_CONNECTIONS_REACHED rejection without sending anything, then the server closes it.',
    expected: 'A full MAX_CONNECTIONS_REACHED frame, then close; a silent close fails.',
    requires: ['maxConnections'],
    timeoutMs: 30_000,
    run: verdict(async (ctx) => {
      const conns = await fillConnections(ctx);
      try {
        const extra = await tryConnect(ctx, `connection ${conns.length + 1}`);
        const rej = expectRejected(await extra.read(3_000), 'MAX_CONNECTIONS_REACHED', `connection ${conns.length + 1} (over the limit)`);
        await expectClosed(extra, 'after MAX_CONNECTIONS_REACHED');
        return `${conns.length} connections served; connection ${conns.length + 1} got MAX_CONNECTIONS_REACHED${rej.error !== undefined ? ` (${show(rej.error, 80)})` : ''}, then close`;
      } finally {
        await releaseConnections(ctx, conns);
      }
    }),
  },
  // §7.1 "When maxConnections connections are open, …" — only then is a connection refused.
  {
    id: 'lifecycle.max-connections.slot-freed',
    section: '7.1',
    level: 'MUST',
    description: 'With maxConnections connections open, one is closed by the client; within 2 s a new connection is served (PREPARE and ABORT accepted) instead of being refused.',
    expected: 'A closed connection frees its slot.',
    requires: ['maxConnections'],
    timeoutMs: 30_000,
    run: verdict(async (ctx) => {
      const conns = await fillConnections(ctx);
      try {
        await conns[0]!.end();
        const t0 = Date.now();
        let last = 'no attempt';
        while (Date.now() - t0 < 2_000) {
          const conn = await tryConnect(ctx, 'a connection after one was closed');
          const ev = await conn.read(200);
          if (ev.type === 'timeout') {
            conns.push(conn);
            await stillServing(ctx, conn, 'a freed connection slot');
            return `a slot was reusable ${Date.now() - t0} ms after one of ${conns.length - 1} connections closed`;
          }
          last = describeEvent(ev);
          conn.destroy();
          await ctx.sleep(100);
        }
        throw new Mismatch(`2 s after closing one of ${conns.length} connections, new connections still got ${last}`);
      } finally {
        await releaseConnections(ctx, conns);
      }
    }),
  },
  // §7.2 "A server MUST NOT buffer without bound for a client that writes requests
  // but does not read replies: once replies for a connection are waiting to be
  // written beyond a high-water mark, the server MUST stop reading from that
  // connection until they drain. When the client starts reading, the server MUST
  // answer every request it had accepted."
  {
    id: 'lifecycle.backpressure.bounded-memory',
    section: '7.2',
    level: 'MUST',
    description: `A client writes ${BACKPRESSURE_REQUESTS} valid requests (ABORTs of unknown ids) without reading; the server's RSS, sampled for 1.5 s while the writes are stalled, grows by less than ${BACKPRESSURE_RSS_BOUND / MiB} MiB; when the client reads, exactly ${BACKPRESSURE_REQUESTS} replies arrive, ids in order.`,
    expected: 'The server stops reading instead of buffering, then answers every request.',
    requires: ['lifecycle'],
    heavy: true,
    timeoutMs: 240_000,
    run: verdict(async (ctx) => {
      // Built before connecting (the idle timeout must not see a silent connection)
      // and in slices, so other modes running in this process are not stalled.
      const slices: Buffer[] = [];
      for (let start = 0; start < BACKPRESSURE_REQUESTS; start += 2_000) {
        slices.push(unknownAborts(ctx, Math.min(2_000, BACKPRESSURE_REQUESTS - start), (i) => start + i));
        await ctx.sleep(0);
      }
      const frames = Buffer.concat(slices);
      await settleConnections(ctx);
      const conn = await ctx.connect();
      expectRejected(await conn.request(ctx.abort(ctx.uniqueId('never-prepared')), { id: -1 }), 'UNKNOWN_SIGNAL', 'a first request proving the connection is served');
      conn.pauseReading();
      const rss0 = await ctx.target.rssBytes();
      if (rss0 === undefined) return informational('the target RSS cannot be read (/proc); nothing measured');
      await conn.write(frames);
      let peak = rss0;
      let pendingMax = 0;
      for (let i = 0; i < 15; i++) {
        await ctx.sleep(100);
        peak = Math.max(peak, (await ctx.target.rssBytes()) ?? peak);
        pendingMax = Math.max(pendingMax, conn.pendingWriteBytes);
      }
      const growth = peak - rss0;
      ctx.note(`RSS ${(rss0 / MiB).toFixed(1)} MiB → peak ${(peak / MiB).toFixed(1)} MiB; client-side pending writes up to ${pendingMax} of ${frames.length} bytes`);
      conn.resumeReading();
      const outcomes: string[] = [];
      for (let i = 0; i < BACKPRESSURE_REQUESTS; i++) {
        const ev = await conn.read(15_000);
        if (ev.type !== 'reply' || ev.reply.kind === 'malformed') throw new Mismatch(`reply ${i + 1} of ${BACKPRESSURE_REQUESTS}: ${describeEvent(ev)} (RSS growth ${(growth / MiB).toFixed(1)} MiB)`);
        check(ev.reply.id === i, `reply ${i + 1} of ${BACKPRESSURE_REQUESTS} had id ${show(ev.reply.id)}, expected ${i}`);
        outcomes.push(ev.reply.kind === 'accepted' ? 'accepted' : ev.reply.reason);
      }
      await expectNoReply(conn, `after ${BACKPRESSURE_REQUESTS} replies`);
      const summary = `RSS grew ${(growth / MiB).toFixed(1)} MiB (bound ${BACKPRESSURE_RSS_BOUND / MiB} MiB) while ${(frames.length / MiB).toFixed(1)} MiB of requests were written (client-side pending up to ${(pendingMax / MiB).toFixed(1)} MiB); ${BACKPRESSURE_REQUESTS} replies in order ${show(countBy(outcomes, (o) => o))}`;
      check(growth < BACKPRESSURE_RSS_BOUND, summary);
      return summary;
    }),
  },
  // §7.3 "A server SHOULD close a connection from which nothing has been received for
  // idleTimeoutMs while no reply is pending."
  {
    id: 'lifecycle.idle-timeout.closes-silent-connection',
    section: '7.3',
    level: 'SHOULD',
    description: 'A connection on which nothing is sent is closed by the server (no reply) no sooner than idleTimeoutMs - 100 ms and no later than idleTimeoutMs + 1000 ms after connecting.',
    expected: 'An idle connection is closed after idleTimeoutMs.',
    requires: ['idleTimeoutMs'],
    timeoutMs: 90_000,
    run: verdict(async (ctx) => {
      const idle = need(ctx.capabilities.idleTimeoutMs, 'idleTimeoutMs');
      if (idle > 60_000) return informational(`idleTimeoutMs ${idle} is too long for the case budget`);
      const t0 = Date.now();
      const conn = await ctx.connect();
      await expectClosed(conn, `a silent connection (idleTimeoutMs ${idle})`, idle + 1_000);
      const tookMs = Date.now() - t0;
      check(tookMs >= idle - 100, `the silent connection was closed after ${tookMs} ms, before idleTimeoutMs ${idle}`);
      return `closed after ${tookMs} ms of silence (idleTimeoutMs ${idle})`;
    }),
  },
  // §7.3 "… a connection from which nothing has been received for idleTimeoutMs …"
  {
    id: 'lifecycle.idle-timeout.traffic-keeps-open',
    section: '7.3',
    level: 'SHOULD',
    description: 'A connection that sends a request every idleTimeoutMs/3 for 1.25 × idleTimeoutMs gets every reply and is still open at the end.',
    expected: 'Only silent connections are closed.',
    requires: ['idleTimeoutMs'],
    timeoutMs: 120_000,
    run: verdict(async (ctx) => {
      const idle = need(ctx.capabilities.idleTimeoutMs, 'idleTimeoutMs');
      if (idle > 60_000) return informational(`idleTimeoutMs ${idle} is too long for the case budget`);
      const conn = await ctx.connect();
      const t0 = Date.now();
      let n = 0;
      while (Date.now() - t0 < 1.25 * idle) {
        await ctx.sleep(Math.floor(idle / 3));
        n++;
        expectRejected(await conn.request(ctx.abort(ctx.uniqueId('never-prepared'))), 'UNKNOWN_SIGNAL', `request ${n} at ${Date.now() - t0} ms`);
      }
      check(!conn.closed, `the connection was closed after ${Date.now() - t0} ms despite traffic every ${Math.floor(idle / 3)} ms`);
      return `${n} requests ${Math.floor(idle / 3)} ms apart over ${Date.now() - t0} ms, all answered; connection still open`;
    }),
  },
  // §7.3 "… while no reply is pending."
  {
    id: 'lifecycle.idle-timeout.not-while-reply-pending',
    section: '7.3',
    level: 'SHOULD',
    description: 'A PREPARE with delay_ms idleTimeoutMs + 500 (the client then stays silent) is answered (accepted): the connection is not closed while its reply is pending.',
    expected: 'A pending reply keeps the connection open past idleTimeoutMs.',
    requires: ['idleTimeoutMs', 'delay'],
    timeoutMs: 60_000,
    run: verdict(async (ctx) => {
      const idle = need(ctx.capabilities.idleTimeoutMs, 'idleTimeoutMs');
      if (idle + 500 > 10_000) return informational(`delay_ms is limited to 10 000; idleTimeoutMs ${idle} + 500 exceeds it`);
      const conn = await ctx.connect();
      const p = ctx.prepare({ delay_ms: idle + 500 });
      await conn.send(p);
      expectAccepted(await conn.read(idle + 3_000), `PREPARE with delay_ms ${idle + 500}`);
      await cleanup(ctx, conn, [p.signal_id]);
      return `the reply pending for ${idle + 500} ms (idleTimeoutMs ${idle}) was delivered`;
    }),
  },
  // §7.4 "On SIGTERM a server MUST: … 2. complete every request already read and
  // send its reply; … 4. close every connection once its replies are flushed"
  {
    id: 'lifecycle.shutdown.drains-in-flight',
    section: '7.4',
    level: 'MUST',
    description: 'A PREPARE with delay_ms 500 is in flight when SIGTERM arrives (100 ms after sending): its accepted reply (with its id) is delivered, then the server closes the connection.',
    expected: 'In-flight requests complete; then the connection closes.',
    requires: ['lifecycle', 'delay'],
    disruptive: true,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      await conn.send(ctx.prepare({ delay_ms: 500 }), { id: 'in-flight' });
      await ctx.sleep(100);
      ctx.target.signal('SIGTERM');
      const reply = expectAccepted(await conn.read(5_000), 'the request in flight at SIGTERM');
      check(reply.id === 'in-flight', `the reply carried id ${show(reply.id)}`);
      await expectClosed(conn, 'after the drained reply', 5_000);
      return 'the in-flight PREPARE was answered (accepted) after SIGTERM, then the connection closed';
    }),
  },
  // §7.4 "1. stop accepting connections and remove its socket file at once"
  {
    id: 'lifecycle.shutdown.socket-removed-at-once',
    section: '7.4',
    level: 'MUST',
    description: 'With a delay_ms 1000 request in flight, the socket file is gone within 200 ms of SIGTERM and a new connection attempt fails, while the in-flight request is still answered.',
    expected: 'The socket is unlinked at once; no new connections.',
    requires: ['lifecycle', 'delay'],
    disruptive: true,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      await conn.send(ctx.prepare({ delay_ms: 1_000 }));
      await ctx.sleep(100);
      ctx.target.signal('SIGTERM');
      const goneMs = await socketGoneWithin(ctx, 200);
      check(goneMs !== undefined, 'the socket file still exists 200 ms after SIGTERM');
      const probe = await ctx.probeConnect(500);
      check(probe !== 'connected', 'a new connection succeeded after SIGTERM');
      expectAccepted(await conn.read(5_000), 'the request in flight at SIGTERM');
      return `socket file gone ${goneMs} ms after SIGTERM; new connection: ${probe}; in-flight request answered`;
    }),
  },
  // §7.4 "3. answer requests read after the signal with SHUTTING_DOWN (then close, §5.6)"
  {
    id: 'lifecycle.shutdown.late-request-refused',
    section: '7.4',
    level: 'MUST',
    description:
      'On a connection with a delay_ms 1000 request in flight, a second request written 100 ms after SIGTERM is answered SHUTTING_DOWN (with its id) after the first request\'s accepted reply, then the connection is closed.',
    expected: 'A request read after SIGTERM gets SHUTTING_DOWN, then close.',
    requires: ['lifecycle', 'delay'],
    disruptive: true,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      await conn.send(ctx.prepare({ delay_ms: 1_000 }), { id: 'before-sigterm' });
      await ctx.sleep(100);
      ctx.target.signal('SIGTERM');
      await ctx.sleep(100);
      await conn.send(ctx.prepare(), { id: 'after-sigterm' });
      const first = expectAccepted(await conn.read(5_000), 'the request sent before SIGTERM');
      check(first.id === 'before-sigterm', `the first reply carried id ${show(first.id)}`);
      const late = expectRejected(await conn.read(5_000), 'SHUTTING_DOWN', 'the request sent after SIGTERM');
      check(late.id === 'after-sigterm', `the SHUTTING_DOWN reply carried id ${show(late.id)}`);
      await expectClosed(conn, 'after SHUTTING_DOWN', 5_000);
      return 'in-flight request accepted; the later request got SHUTTING_DOWN; then close';
    }),
  },
  // §7.4 "5. exit with status 0 within shutdownDeadlineMs … the socket file MUST be
  // gone in every case."
  {
    id: 'lifecycle.shutdown.exit-zero-within-deadline',
    section: '7.4',
    level: 'MUST',
    description: `With a client connection open (served one request, now idle), SIGTERM makes the server exit with status 0 within shutdownDeadlineMs (+${EXIT_SLACK_MS} ms measurement slack) and leaves no socket file.`,
    expected: 'Exit status 0 within the deadline; socket file removed.',
    requires: ['lifecycle', 'shutdownDeadlineMs'],
    disruptive: true,
    timeoutMs: 40_000,
    run: verdict(async (ctx) => {
      const deadline = need(ctx.capabilities.shutdownDeadlineMs, 'shutdownDeadlineMs');
      await servedIdleConnection(ctx);
      ctx.target.signal('SIGTERM');
      const tookMs = await expectCleanExit(ctx, deadline, EXIT_SLACK_MS);
      return `exited with status 0 ${tookMs} ms after SIGTERM (deadline ${deadline} ms); socket file gone`;
    }),
  },
  // §8 "It is ready when its socket accepts a connection." — from then on SIGTERM
  // must get the §7.4 treatment (handlers installed before the socket listens).
  {
    id: 'lifecycle.shutdown.sigterm-as-soon-as-ready',
    section: '7.4',
    level: 'MUST',
    description: `The target is restarted and SIGTERM is sent the moment its socket accepts connections: it exits with status 0 within shutdownDeadlineMs (+${EXIT_SLACK_MS} ms slack) and leaves no socket file.`,
    expected: 'Graceful shutdown applies from the moment the server is ready.',
    requires: ['lifecycle', 'shutdownDeadlineMs'],
    disruptive: true,
    timeoutMs: 40_000,
    run: verdict(async (ctx) => {
      const deadline = need(ctx.capabilities.shutdownDeadlineMs, 'shutdownDeadlineMs');
      await ctx.target.restart();
      ctx.target.signal('SIGTERM');
      const tookMs = await expectCleanExit(ctx, deadline, EXIT_SLACK_MS);
      return `SIGTERM right after readiness: exited with status 0 ${tookMs} ms later; socket file gone`;
    }),
  },
  // §7.4 "5. … forcing connections closed when the deadline passes"
  {
    id: 'lifecycle.shutdown.deadline-forces-close',
    section: '7.4',
    level: 'MUST',
    description: `A request with delay_ms shutdownDeadlineMs + 2000 is in flight at SIGTERM: the server closes the connection and exits with status 0 within shutdownDeadlineMs (+${EXIT_SLACK_MS} ms slack), leaving no socket file.`,
    expected: 'The deadline wins over a request that would outlive it.',
    requires: ['lifecycle', 'delay', 'shutdownDeadlineMs'],
    disruptive: true,
    timeoutMs: 40_000,
    run: verdict(async (ctx) => {
      const deadline = need(ctx.capabilities.shutdownDeadlineMs, 'shutdownDeadlineMs');
      if (deadline + 2_000 > 10_000) return informational(`delay_ms is limited to 10 000; shutdownDeadlineMs ${deadline} + 2000 exceeds it`);
      const conn = await ctx.connect();
      await conn.send(ctx.prepare({ delay_ms: deadline + 2_000 }));
      await ctx.sleep(100);
      ctx.target.signal('SIGTERM');
      const tookMs = await expectCleanExit(ctx, deadline, EXIT_SLACK_MS);
      const closed = await conn.waitClose(500);
      check(closed === 'closed', 'the client connection is still open after the server exited');
      return `connection forced closed; exited with status 0 ${tookMs} ms after SIGTERM (deadline ${deadline} ms); socket file gone`;
    }),
  },
  // §7.4 "4. close every connection once its replies are flushed"
  {
    id: 'lifecycle.shutdown.idle-connection-closed',
    section: '7.4',
    level: 'MUST',
    description: 'A connection that was served one request and has nothing pending receives no further reply and is closed by the server within 1000 ms of SIGTERM.',
    expected: 'Connections without pending replies are closed promptly.',
    requires: ['lifecycle'],
    disruptive: true,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const conn = await servedIdleConnection(ctx);
      const t0 = Date.now();
      ctx.target.signal('SIGTERM');
      await expectClosed(conn, 'an idle connection after SIGTERM', 1_000);
      return `idle connection closed ${Date.now() - t0} ms after SIGTERM`;
    }),
  },
];
