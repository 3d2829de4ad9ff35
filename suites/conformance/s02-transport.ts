import { realpath } from 'node:fs/promises';
import type { ConformanceCase } from '../../harness/case.js';
import { informational } from '../../harness/case.js';
import { check, expectIdsInOrder, outcomeOf, readAnswers, countBy, show, verdict } from './expect.js';
import { abortOk, freshConnectionServes, prepareOk, socketStat } from './flows.js';

/** docs/SPEC.md §2 Transport. */

const octal = (mode: number): string => `0${mode.toString(8)}`;

const MANY_FRAMES = 200;

export const transportCases: readonly ConformanceCase[] = [
  // §2.1 "The transport is a Unix-domain stream socket (SOCK_STREAM) bound to a
  // filesystem path. A server MUST accept any number of frames per connection."
  {
    id: 'transport.fresh-connection.valid-request-accepted',
    section: '2.1',
    level: 'MUST',
    description: 'A valid PREPARE sent as the first frame on a newly opened connection is accepted (state PREPARED); its ABORT is accepted too.',
    expected: 'The first request on a fresh connection is answered with accepted: true.',
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const { signalId } = await prepareOk(ctx, conn, {}, 'first PREPARE on a fresh connection');
      await abortOk(ctx, conn, signalId);
      return 'first PREPARE on a fresh connection accepted (state PREPARED), ABORT accepted';
    }),
  },
  // §2.1 "A server MUST accept any number of frames per connection."
  {
    id: 'transport.many-frames-per-connection',
    section: '2.1',
    level: 'MUST',
    description: `${MANY_FRAMES} request/reply round trips (PREPARE then ABORT, alternating) on one connection are all answered, with matching ids; without a declared rate limit every one is accepted.`,
    expected: `All ${MANY_FRAMES} sequential requests on a single connection are answered in turn.`,
    timeoutMs: 30_000,
    run: verdict(async (ctx) => {
      const conn = await ctx.connect();
      const limited = ctx.capabilities.rateLimit !== undefined;
      const outcomes: string[] = [];
      for (let i = 0; i < MANY_FRAMES / 2; i++) {
        const p = ctx.prepare();
        for (const [id, signal] of [[2 * i, p], [2 * i + 1, ctx.abort(p.signal_id)]] as const) {
          await conn.send(signal, { id });
          const [answer] = await readAnswers(conn, 1, `round trip ${id + 1}`);
          expectIdsInOrder([answer!], [id], `round trip ${id + 1}`);
          outcomes.push(outcomeOf(answer!));
          check(limited || answer!.kind === 'accepted', `round trip ${id + 1} (${String(signal.type)}): ${outcomeOf(answer!)}, expected accepted`);
        }
      }
      return `${MANY_FRAMES} round trips answered on one connection: ${show(countBy(outcomes, (o) => o))}`;
    }),
  },
  // §2.2 "The socket file MUST have mode 0600 (owner read/write only) from the
  // moment clients can connect."
  {
    id: 'transport.socket-file.mode-0600',
    section: '2.2',
    level: 'MUST',
    description: 'The socket path is a socket file whose permission bits are exactly 0600.',
    expected: 'stat(socketPath) shows a socket with mode 0600.',
    run: verdict(async (ctx) => {
      const st = await socketStat(ctx.target.socketPath);
      check(st !== undefined, `${ctx.target.socketPath} does not exist`);
      check(st.isSocket, `${ctx.target.socketPath} is not a socket`);
      check(st.mode === 0o600, `socket file mode is ${octal(st.mode)}, expected 0600`);
      return `socket file mode ${octal(st.mode)}`;
    }),
  },
  // §2.3 "When the path already exists at start-up and is a socket that refuses
  // connections (ECONNREFUSED, a server that crashed), the server MUST remove it and
  // bind. It MUST NOT ask a human to remove it."
  {
    id: 'transport.stale-socket.restart-after-sigkill',
    section: '2.3',
    level: 'MUST',
    description:
      'After SIGKILL leaves a stale socket file that refuses connections, the server restarts on the same path without help, recreates the socket with mode 0600, and accepts a PREPARE.',
    expected: 'The restarted server replaces the stale socket file and serves requests.',
    requires: ['lifecycle'],
    disruptive: true,
    timeoutMs: 30_000,
    run: verdict(async (ctx) => {
      const path = ctx.target.socketPath;
      ctx.target.signal('SIGKILL');
      const exit = await ctx.target.waitExit(5_000);
      check(exit !== 'timeout', 'the target did not exit within 5000 ms of SIGKILL');
      const stale = await socketStat(path);
      if (stale === undefined || !stale.isSocket) {
        return informational(`after SIGKILL no socket file was left at ${path}: nothing stale to handle`);
      }
      const probe = await ctx.probeConnect(1_000);
      check(probe !== 'connected', 'the killed server\'s socket still accepts connections');
      ctx.note(`stale socket left behind (connect: ${probe}); restarting`);
      try {
        await ctx.target.restart();
      } catch (err) {
        return { pass: false, actual: `restart over the stale socket file failed: ${err instanceof Error ? err.message : String(err)}` };
      }
      const fresh = await socketStat(path);
      check(fresh !== undefined && fresh.isSocket, `after restart ${path} is not a socket`);
      check(fresh.mode === 0o600, `after restart the socket file mode is ${octal(fresh.mode)}, expected 0600`);
      await freshConnectionServes(ctx, 'restart over a stale socket');
      return `stale socket (connect: ${probe}) replaced; new socket mode ${octal(fresh.mode)}; PREPARE/ABORT accepted`;
    }),
  },
  // §2.4 "When the path exists and a connection to it succeeds, the server MUST NOT
  // remove or steal it: it MUST exit with a non-zero status and a message naming
  // the path."
  {
    id: 'transport.live-socket.second-instance-exits',
    section: '2.4',
    level: 'MUST',
    description:
      'A second instance started on the socket path of the running server exits with a non-zero status, the socket file is the same inode afterwards, and the first server still accepts a PREPARE on a new connection.',
    expected: 'The second instance exits non-zero without touching the socket; the first keeps serving.',
    requires: ['lifecycle'],
    disruptive: true,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const path = ctx.target.socketPath;
      const before = await socketStat(path);
      check(before !== undefined, `${path} does not exist before the second instance starts`);
      const res = await ctx.target.spawnSecondInstance(5_000);
      check(res !== 'timeout', 'the second instance was still running after 5000 ms (it should refuse the live socket and exit)');
      check(res.code !== null && res.code !== 0, `the second instance exited with code ${String(res.code)}${res.signal ? ` (signal ${res.signal})` : ''}, expected a non-zero status`);
      const after = await socketStat(path);
      check(after !== undefined, `the socket file ${path} is gone after the second instance ran`);
      check(after.ino === before.ino, `the socket file was replaced (inode ${before.ino} → ${after.ino})`);
      await freshConnectionServes(ctx, 'the second instance exited');
      return `second instance exited with code ${res.code}; socket inode unchanged; first server still serves`;
    }),
  },
  // §2.4 "… it MUST exit with a non-zero status and a message naming the path."
  {
    id: 'transport.live-socket.message-names-path',
    section: '2.4',
    level: 'MUST',
    description: 'A second instance refused by a live socket prints a message (stderr) that contains the socket path.',
    expected: 'The second instance\'s error output names the socket path.',
    requires: ['lifecycle'],
    disruptive: true,
    timeoutMs: 20_000,
    run: verdict(async (ctx) => {
      const path = ctx.target.socketPath;
      const names = new Set([path]);
      try {
        names.add(await realpath(path));
      } catch {
        // the path itself is enough
      }
      const res = await ctx.target.spawnSecondInstance(5_000);
      check(res !== 'timeout', 'the second instance was still running after 5000 ms');
      const stderr = res.stderr.trim();
      check([...names].some((n) => stderr.includes(n)), `the second instance printed ${show(stderr, 300)}, which does not contain ${path}`);
      return `second instance (code ${String(res.code)}) printed ${show(stderr, 200)}`;
    }),
  },
  // §2.1 "A server MUST accept any number of frames per connection." — and any
  // number of connections (up to maxConnections, §7.1), each answered on its own.
  {
    id: 'transport.connections-are-independent',
    section: '2.1',
    level: 'MUST',
    description: 'Two connections interleave requests; each receives exactly the replies to its own requests (matched by id), and each PREPARE/ABORT is accepted.',
    expected: 'Replies are delivered on the connection that carried the request.',
    run: verdict(async (ctx) => {
      const a = await ctx.connect();
      const b = await ctx.connect();
      const pa = ctx.prepare();
      const pb = ctx.prepare();
      await a.send(pa, { id: 'conn-a-1' });
      await b.send(pb, { id: 'conn-b-1' });
      await a.send(ctx.abort(pa.signal_id), { id: 'conn-a-2' });
      await b.send(ctx.abort(pb.signal_id), { id: 'conn-b-2' });
      const ra = await readAnswers(a, 2, 'connection A');
      const rb = await readAnswers(b, 2, 'connection B');
      expectIdsInOrder(ra, ['conn-a-1', 'conn-a-2'], 'connection A');
      expectIdsInOrder(rb, ['conn-b-1', 'conn-b-2'], 'connection B');
      const all = [...ra, ...rb];
      check(all.every((r) => r.kind === 'accepted'), `outcomes A: ${ra.map(outcomeOf).join(', ')}; B: ${rb.map(outcomeOf).join(', ')}`);
      return 'each connection received its own 2 replies, in order, all accepted';
    }),
  },
];
