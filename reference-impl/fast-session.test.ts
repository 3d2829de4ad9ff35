import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, utimesSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { addServeOptions, serveOptionsToConfig } from '../cli/serve.js';
import {
  type FastMessage,
  createFrameDecoder,
  decodeBody,
  decodeFastMessage,
  encodeBody,
  encodeMessage,
  encodeRequest,
  isFastPathError,
  parseFraming,
  signEnvelope,
} from '../protocol/index.js';
import {
  type CreatedRingPair,
  RingSession,
  createRingPair,
  createSegment,
  initRingHeader,
  listSegments,
  newRingPairNames,
  ringSegmentBytes,
  unlinkSegment,
} from '../ring/index.js';
import { FastClient } from './fast-client.js';
import { RawPeer } from './raw-peer.js';
import type { FastPathServer, ServerConfig } from './server.js';
import { startTestServer, tempSocketPath } from './test-support.js';

/**
 * Server side of fast sessions (docs/SPEC.md §10.1, §10.5, §10.6): the HELLO hook,
 * refusals, methods, ordering, shutdown and crashes, with real sockets, real /dev/shm
 * rings and real processes.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const childScript = join(root, 'reference-impl', 'fast-session-child.test-helper.mjs');
const CAPACITY = 4096;

beforeAll(() => {
  // The child processes run the compiled implementation.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
});

function startServer(config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  return startTestServer({ auth: 'none', secret: '', log: () => undefined }, config);
}

/** A ring pair of this process, closed and unlinked when the test finishes. */
function ringPair(capacityBytes = CAPACITY): CreatedRingPair {
  const pair = createRingPair(capacityBytes);
  onTestFinished(() => {
    pair.request.close();
    pair.response.close();
    pair.unlink();
  });
  return pair;
}

function shmHello(pair: CreatedRingPair, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'HELLO',
    version: 1,
    transport: 'shm',
    requestRing: pair.names.requestRing,
    responseRing: pair.names.responseRing,
    capacityBytes: pair.capacityBytes,
    pid: process.pid,
    ...extra,
  };
}

/** Connects a raw peer in the server's framing (destroyed when the test finishes). */
async function connectPeer(server: FastPathServer): Promise<RawPeer> {
  const peer = await RawPeer.connect(server.socketPath, server.config.framing);
  onTestFinished(() => peer.destroy());
  return peer;
}

/** Sends `signal` as request `id` and returns the reply. */
async function ask(peer: RawPeer, server: FastPathServer, signal: unknown, id: number | string = 1): Promise<Record<string, unknown>> {
  peer.write(encodeRequest({ framing: server.config.framing, auth: server.config.auth, secret: '' }, signal, { id }));
  return peer.reply();
}

/** The client end of a pair after READY (closed when the test finishes). */
function clientRing(pair: CreatedRingPair): RingSession {
  const ring = RingSession.client(pair, { wait: { strategy: 'spin' } });
  onTestFinished(() => ring.close());
  return ring;
}

/** The next message on `ring`, copied out of it; polls the event loop. */
async function nextMessage(ring: RingSession, timeoutMs = 3_000): Promise<FastMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    ring.flush();
    const incoming = ring.tryReceive();
    if (incoming !== null) {
      if (!incoming.ok) throw new Error(`undecodable message: ${incoming.error}`);
      const m = incoming.message;
      const copy: FastMessage = { ...m, ...(m.result === undefined ? {} : { result: new Uint8Array(m.result) }) };
      incoming.release();
      return copy;
    }
    if (Date.now() > deadline) throw new Error(`no message within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** The next FastMessage on a raw peer of an lp32-msgpack server in a uds session (lp32 frames are the same framing). */
async function nextFastFrame(peer: RawPeer): Promise<FastMessage> {
  const ev = await peer.next();
  if (ev.type !== 'frame') throw new Error(`expected a FastMessage frame, got ${ev.type}`);
  const decoded = decodeFastMessage(ev.body);
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.message;
}

const bytes = (...values: number[]): Uint8Array<ArrayBuffer> => Uint8Array.from(values);

describe('HELLO (§10.1)', () => {
  it('answers a shm HELLO with READY and then serves echo through the rings', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const peer = await connectPeer(server);

    const ready = await ask(peer, server, shmHello(pair, { maxMessageBytes: 1 << 20, wait: 'futex' }), 7);

    expect(ready).toEqual({
      id: 7,
      accepted: true,
      type: 'READY',
      version: 1,
      transport: 'shm',
      maxMessageBytes: 1 << 20,
      wait: 'spin-then-futex',
      serverPid: process.pid,
      ipc_latency_ms: expect.any(Number),
    });
    pair.unlink();
    const ring = clientRing(pair);
    ring.send({ version: 1, type: 'request', id: 1, method: 'echo', params: bytes(1, 2, 3) });
    expect(await nextMessage(ring)).toEqual({ version: 1, type: 'response', id: 1, result: bytes(1, 2, 3) });
    expect(server.getStatus()).toMatchObject({ activeConnections: 1, activeFastSessions: 1 });
  });

  it('refuses a request ring of mode 0644 with SESSION_REFUSED naming it, and the connection keeps serving', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const wide = `${newRingPairNames().requestRing}`;
    const segment = createSegment(wide, ringSegmentBytes(CAPACITY), { mode: 0o644 });
    onTestFinished(() => void unlinkSegment(wide));
    initRingHeader(segment.buffer, CAPACITY, process.pid);
    segment.close();
    const peer = await connectPeer(server);

    const reply = await ask(peer, server, shmHello(pair, { requestRing: wide }));

    expect(reply).toMatchObject({ id: 1, rejected: true, reason: 'SESSION_REFUSED' });
    expect(reply.error).toContain(`requestRing ${wide}`);
    expect(reply.error).toContain('mode 0644');
    expect(await ask(peer, server, { type: 'STATUS' }, 2)).toMatchObject({ id: 2, accepted: true, status: { activeFastSessions: 0 } });
  });

  it('refuses segments smaller than the announced capacity with SESSION_REFUSED, and the connection keeps serving', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair(CAPACITY);
    const peer = await connectPeer(server);

    const reply = await ask(peer, server, shmHello(pair, { capacityBytes: CAPACITY * 2 }));

    expect(reply).toMatchObject({ rejected: true, reason: 'SESSION_REFUSED' });
    expect(reply.error).toContain(pair.names.requestRing);
    expect(reply.error).toContain(`size ${ringSegmentBytes(CAPACITY)} bytes`);
    expect(await ask(peer, server, { type: 'STATUS' }, 2)).toMatchObject({ accepted: true });
  });

  it('refuses a missing response ring with SESSION_REFUSED, and the connection keeps serving', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const missing = newRingPairNames().responseRing;
    const peer = await connectPeer(server);

    const reply = await ask(peer, server, shmHello(pair, { responseRing: missing }));

    expect(reply).toMatchObject({ rejected: true, reason: 'SESSION_REFUSED' });
    expect(reply.error).toContain(`responseRing ${missing}`);
    expect(reply.error).toContain('does not exist');
    expect(await ask(peer, server, { type: 'STATUS' }, 2)).toMatchObject({ accepted: true });
  });

  it('refuses shm with SESSION_REFUSED when shm sessions are disabled, and accepts uds', async () => {
    const server = await startServer({ shmSessions: false });
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const peer = await connectPeer(server);

    expect(await ask(peer, server, shmHello(pair))).toMatchObject({ rejected: true, reason: 'SESSION_REFUSED', error: expect.stringContaining('transport uds') });
    expect(await ask(peer, server, { type: 'HELLO', version: 1, transport: 'uds' }, 2)).toMatchObject({ id: 2, accepted: true, type: 'READY', transport: 'uds' });
  });

  it.each([
    ['without pid', (pair: CreatedRingPair) => ({ ...shmHello(pair), pid: undefined }), 'pid'],
    ['with a capacity that is not a power of two', (pair: CreatedRingPair) => shmHello(pair, { capacityBytes: 5000 }), 'power of two'],
    ['with version 2', (pair: CreatedRingPair) => shmHello(pair, { version: 2 }), 'version'],
    ['with an unknown field', (pair: CreatedRingPair) => shmHello(pair, { colour: 'red' }), 'colour'],
    ['with a slash in a ring name', (pair: CreatedRingPair) => shmHello(pair, { requestRing: 'a/b' }), 'requestRing'],
  ])('answers a HELLO %s with INVALID_SIGNAL and stays ordinary', async (_what, make, mentions) => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const peer = await connectPeer(server);

    const reply = await ask(peer, server, make(pair));

    expect(reply).toMatchObject({ rejected: true, reason: 'INVALID_SIGNAL' });
    expect(reply.error).toContain(mentions);
    expect(await ask(peer, server, { type: 'STATUS' }, 2)).toMatchObject({ accepted: true });
  });

  it('treats HELLO as an unknown signal (INVALID_SIGNAL) when fast sessions are disabled', async () => {
    const server = await startServer({ fastSessions: false });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);

    expect(await ask(peer, server, { type: 'HELLO', version: 1, transport: 'uds' })).toMatchObject({ rejected: true, reason: 'INVALID_SIGNAL' });
  });

  it('rejects a HELLO over HTTP with IPC_ERROR', async () => {
    const server = await startServer({ httpPort: 0 });
    onTestFinished(() => server.stop(0));

    const res = await fetch(server.httpAddress!.url, { method: 'POST', body: JSON.stringify(signEnvelope('none', '', { type: 'HELLO', version: 1, transport: 'uds' }, { id: 3 })) });

    expect(await res.json()).toMatchObject({ id: 3, rejected: true, reason: 'IPC_ERROR', error: expect.stringContaining('fast sessions need a socket connection') });
  });

  it('checks the HELLO signature like any request', async () => {
    const server = await startServer({ auth: 'hmac-v2', secret: 'right' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);

    peer.write(encodeRequest({ framing: server.config.framing, auth: 'hmac-v2', secret: 'wrong' }, { type: 'HELLO', version: 1, transport: 'uds' }, { id: 1 }));

    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'INVALID_SIGNATURE' });
  });

  it('answers a HELLO pipelined behind a delayed request in order, then switches to lp32 FastMessages', async () => {
    const server = await startServer({ framing: 'lp32-msgpack' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    const mode = { framing: server.config.framing, auth: server.config.auth, secret: '' };

    peer.write(
      Buffer.concat([
        encodeRequest(mode, { type: 'PREPARE', signal_id: 'before-hello', symbol: 'X', side: 'Buy', qty: 1, delay_ms: 150 }, { id: 'p' }),
        encodeRequest(mode, { type: 'HELLO', version: 1, transport: 'uds', maxMessageBytes: 4096 }, { id: 'h' }),
      ]),
    );

    expect(await peer.reply()).toMatchObject({ id: 'p', accepted: true, state: 'PREPARED' });
    expect(await peer.reply()).toMatchObject({ id: 'h', accepted: true, type: 'READY', transport: 'uds', maxMessageBytes: 4096 });
    peer.sendValue({ version: 1, type: 'request', id: 1, method: 'echo', params: bytes(9, 8, 7) });
    const echoed = await nextFastFrame(peer);
    expect(echoed).toMatchObject({ version: 1, type: 'response', id: 1 });
    expect([...echoed.result!]).toEqual([9, 8, 7]);
    expect(server.getStatus().activeFastSessions).toBe(1);
  });

  it('ends a shm session when the client sends a byte on the control socket after READY (§10.1.5)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const peer = await connectPeer(server);
    expect(await ask(peer, server, shmHello(pair))).toMatchObject({ type: 'READY' });
    const ring = clientRing(pair);

    peer.write('\n');

    expect(await peer.waitClosed()).toBe(true);
    await expect.poll(() => server.getStatus().activeFastSessions).toBe(0);
    expect(() => ring.checkPeer()).toThrow(/closed the session|gone/);
  });
});

describe('methods and messages (§10.4, §10.5)', () => {
  it('answers BAD_MESSAGE to an undecodable request that still has an id, and ends the session on one without', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const peer = await connectPeer(server);
    expect(await ask(peer, server, shmHello(pair))).toMatchObject({ type: 'READY' });
    const ring = clientRing(pair);

    ring.producer.tryWrite(1, encodeBody('msgpack', { version: 1, type: 'request', id: 42 }));
    const bad = await nextMessage(ring);
    expect(bad).toMatchObject({ type: 'response', id: 42, error: { code: 'BAD_MESSAGE' } });
    expect(bad.error!.message).toContain('method');
    ring.send({ version: 1, type: 'request', id: 43, method: 'sink', params: bytes(1) });
    expect(await nextMessage(ring)).toEqual({ version: 1, type: 'response', id: 43, result: bytes() });

    ring.producer.tryWrite(1, bytes(0xc1));
    expect(await peer.waitClosed()).toBe(true);
  });

  it('over uds: BAD_MESSAGE with the id, UNKNOWN_METHOD, no response to notifications, signal through the request path', async () => {
    const server = await startServer({ framing: 'lp32-msgpack', auth: 'hmac-json', secret: 's' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    peer.write(encodeRequest({ framing: server.config.framing, auth: 'hmac-json', secret: 's' }, { type: 'HELLO', version: 1, transport: 'uds' }, { id: 1 }));
    expect(await peer.reply()).toMatchObject({ type: 'READY' });
    const body = encodeBody('msgpack', signEnvelope('hmac-json', 's', { type: 'PREPARE', signal_id: 'u1', symbol: 'X', side: 'Sell', qty: 2 }, { id: 'env' }));

    peer.sendValue({ version: 1, type: 'request', id: 5, method: 'echo' /* no params: still a request */, params: 'not bytes' });
    peer.sendValue({ version: 1, type: 'notification', method: 'echo', params: bytes(1) });
    peer.sendValue({ version: 1, type: 'request', id: 6, method: 'warp', params: bytes() });
    peer.sendValue({ version: 1, type: 'request', id: 7, method: 'signal', params: body });

    expect(await nextFastFrame(peer)).toMatchObject({ id: 5, error: { code: 'BAD_MESSAGE' } });
    expect(await nextFastFrame(peer)).toMatchObject({ id: 6, error: { code: 'UNKNOWN_METHOD', message: expect.stringContaining('warp') } });
    const signal = await nextFastFrame(peer);
    expect(signal.id).toBe(7);
    expect(decodeBody('msgpack', signal.result!)).toMatchObject({ ok: true, value: { id: 'env', accepted: true, signal_id: 'u1', state: 'PREPARED' } });
    expect((await peer.next(200)).type).toBe('timeout');
    expect(server.getStatus().metrics).toMatchObject({ messagesProcessed: 2 });
  });

  it('keeps responses in request order behind a signal with delay_ms, echo data intact', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair(1 << 16);
    const peer = await connectPeer(server);
    expect(await ask(peer, server, shmHello(pair))).toMatchObject({ type: 'READY' });
    const ring = clientRing(pair);
    const delayed = encodeBody('json', signEnvelope('none', '', { type: 'PREPARE', signal_id: 'd1', symbol: 'X', side: 'Buy', qty: 1, delay_ms: 120 })) as Uint8Array<ArrayBuffer>;

    ring.send({ version: 1, type: 'request', id: 1, method: 'signal', params: delayed });
    for (let id = 2; id <= 20; id++) ring.send({ version: 1, type: 'request', id, method: 'echo', params: bytes(id, id, id) });

    const first = await nextMessage(ring);
    expect(first.id).toBe(1);
    expect(decodeBody('json', first.result!)).toMatchObject({ ok: true, value: { accepted: true, signal_id: 'd1' } });
    for (let id = 2; id <= 20; id++) expect(await nextMessage(ring)).toEqual({ version: 1, type: 'response', id, result: bytes(id, id, id) });
  });
});

describe('uds backpressure (§7.2)', () => {
  it('stops reading a client that does not read its responses, and answers everything once it does', async () => {
    const server = await startServer({ framing: 'lp32-msgpack', writeHighWaterBytes: 65_536 });
    onTestFinished(() => server.stop(0));
    const socket = net.createConnection(server.socketPath);
    onTestFinished(() => void socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    const frames: Buffer[] = [];
    const decoder = createFrameDecoder(parseFraming('lp32-msgpack', 1 << 20));
    socket.on('data', (chunk: Buffer) => {
      for (const ev of decoder.push(chunk)) if (ev.type === 'frame') frames.push(ev.body);
    });
    socket.write(encodeRequest({ framing: server.config.framing, auth: 'none', secret: '' }, { type: 'HELLO', version: 1, transport: 'uds' }, { id: 1 }));
    await expect.poll(() => frames.length).toBe(1);
    socket.pause();
    const count = 120;
    const params = new Uint8Array(100_000).fill(7);
    for (let id = 1; id <= count; id++) socket.write(encodeMessage(server.config.framing, { version: 1, type: 'request', id, method: 'echo', params }));
    await new Promise((r) => setTimeout(r, 300));

    // The server stopped reading: most of our 12 MB is still in our own send buffer.
    expect(socket.writableLength).toBeGreaterThan(4_000_000);
    socket.resume();
    await expect.poll(() => frames.length, { timeout: 10_000 }).toBe(count + 1);
    const ids = frames.slice(1).map((body) => {
      const decoded = decodeFastMessage(body);
      if (!decoded.ok) throw new Error(decoded.error);
      expect(decoded.message.result!.byteLength).toBe(100_000);
      return decoded.message.id;
    });
    expect(ids).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  });
});

describe('lifecycle (§7.4, §10.6)', () => {
  it('stop() answers a request already read and closes the session within its deadline', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect({ socketPath: server.socketPath, framing: 'ndjson', auth: 'none' });
    onTestFinished(() => client.close());
    const inFlight = client.signal({ type: 'PREPARE', signal_id: 'in-flight', symbol: 'X', side: 'Buy', qty: 1, delay_ms: 200 });
    await new Promise((r) => setTimeout(r, 30));

    const started = performance.now();
    await server.stop(1_000);

    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await inFlight).toMatchObject({ accepted: true, signal_id: 'in-flight' });
    await expect.poll(() => client.closed).toBe(true);
    expect(server.getStatus()).toMatchObject({ running: false, activeFastSessions: 0 });
  });

  it('stop() forces a session closed at the deadline when a response cannot be delivered', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const pair = ringPair();
    const peer = await connectPeer(server);
    expect(await ask(peer, server, shmHello(pair))).toMatchObject({ type: 'READY' });
    const ring = clientRing(pair);
    // Fill the response ring: the client keeps writing requests and never reads.
    for (let id = 1; id <= 40; id++) ring.send({ version: 1, type: 'request', id, method: 'echo', params: new Uint8Array(1000) });
    for (let i = 0; i < 20; i++) {
      ring.flush();
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(ring.queuedMessages).toBeGreaterThan(0);

    const started = performance.now();
    await server.stop(300);

    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(await peer.waitClosed()).toBe(true);
  });

  it('frees the session of a client killed with SIGKILL and leaves no segments behind', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const child = spawnChild('client', server.socketPath);
    onTestFinished(() => void child.kill('SIGKILL'));
    expect(await firstLine(child)).toEqual({ transport: 'shm', echoed: [1, 2, 3] });
    expect(server.getStatus().activeFastSessions).toBe(1);

    child.kill('SIGKILL');

    await expect.poll(() => server.getStatus().activeFastSessions, { timeout: 3_000 }).toBe(0);
    expect(listSegments(`fastpath-${child.pid}-`)).toEqual([]);
    const client = await FastClient.connect({ socketPath: server.socketPath, framing: 'ndjson', auth: 'none' });
    onTestFinished(() => client.close());
    expect(client.transport).toBe('shm');
    expect([...(await client.request('echo', bytes(4)))]).toEqual([4]);
  });

  it('rejects the pending requests of a client whose server is killed with SIGKILL', async () => {
    const socketPath = tempSocketPath('fp-fs-');
    const child = spawnChild('server', socketPath);
    onTestFinished(() => void child.kill('SIGKILL'));
    expect(await firstLine(child)).toEqual({ listening: true });
    const client = await FastClient.connect({ socketPath, framing: 'ndjson', auth: 'none' });
    onTestFinished(() => client.close());
    expect(client.transport).toBe('shm');
    const pending = client.signal({ type: 'PREPARE', signal_id: 'orphan', symbol: 'X', side: 'Buy', qty: 1, delay_ms: 5_000 }).then(
      () => 'resolved',
      (err: unknown) => (isFastPathError(err) ? err.code : String(err)),
    );

    child.kill('SIGKILL');

    expect(['FP_CLOSED', 'FP_RING_PEER_DEAD']).toContain(await pending);
  });

  it('removes garbage segments of dead processes at start and logs how many', async () => {
    const deadPid = await pidOfExitedProcess();
    const name = `fastpath-${deadPid}-startgc-req`;
    createSegment(name, ringSegmentBytes(CAPACITY)).close();
    onTestFinished(() => void unlinkSegment(name));
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(`/dev/shm/${name}`, hourAgo, hourAgo);
    const lines: string[] = [];

    const server = await startServer({ log: (line) => lines.push(line) });
    onTestFinished(() => server.stop(0));

    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
    expect(lines.join('\n')).toMatch(/removed [1-9]\d* garbage shared-memory segment\(s\) of dead processes/);
  });
});

describe('fastpath serve fast-session flags', () => {
  function parse(args: string[]): ServerConfig {
    const cmd = addServeOptions(new Command('serve').exitOverride());
    cmd.parse(['--socket', '/tmp/x.sock', '--auth', 'none', ...args], { from: 'user' });
    return serveOptionsToConfig(cmd.opts(), {});
  }

  it('maps --shm-wait, --max-fast-message-bytes, --no-fast-sessions and --no-shm-sessions', () => {
    expect(parse([])).toMatchObject({ fastSessions: true, shmSessions: true });
    expect(parse(['--shm-wait', 'spin', '--max-fast-message-bytes', '1048576', '--no-fast-sessions', '--no-shm-sessions'])).toMatchObject({
      shmWait: 'spin',
      maxFastMessageBytes: 1_048_576,
      fastSessions: false,
      shmSessions: false,
    });
  });

  it.each([
    [['--shm-wait', 'nap'], '--shm-wait must be one of spin, spin-then-futex, futex, got "nap"'],
    [['--max-fast-message-bytes', '0'], '--max-fast-message-bytes must be from 1 to 1073741824, got 0'],
    [['--max-fast-message-bytes', '64MiB'], '--max-fast-message-bytes must be a whole number'],
  ])('rejects %j with one line saying what is wrong', (args, message) => {
    let caught: unknown;
    try {
      parse(args);
    } catch (err) {
      caught = err;
    }
    expect(isFastPathError(caught) && caught.code).toBe('FP_USAGE');
    expect((caught as Error).message).toContain(message);
    expect((caught as Error).message).not.toContain('\n');
  });

  it('describes the flags in --help', () => {
    const help = addServeOptions(new Command('serve')).helpInformation();
    for (const flag of ['--no-fast-sessions', '--no-shm-sessions', '--shm-wait <strategy>', '--max-fast-message-bytes <n>']) expect(help).toContain(flag);
    expect(help).toContain('spin-then-futex');
  });

  it('starts a server whose READY reports the configured wait and limit', async () => {
    const server = await startServer({ shmWait: 'futex', maxFastMessageBytes: 65_536, framing: parseFraming('ndjson') });
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect({ socketPath: server.socketPath, framing: 'ndjson', auth: 'none' });
    onTestFinished(() => client.close());
    expect(client.ready).toMatchObject({ wait: 'futex', maxMessageBytes: 65_536 });
  });
});

function spawnChild(role: 'client' | 'server', socketPath: string): ChildProcess {
  return spawn(process.execPath, [childScript, role, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The first stdout line of `child`, parsed as JSON. */
function firstLine(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('child printed nothing within 10 s')), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      resolve(JSON.parse(text.slice(0, nl)));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code} before printing`));
    });
  });
}

/** The pid of a process that has exited (and was reaped). */
function pidOfExitedProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  return new Promise((resolve) => child.once('exit', () => resolve(child.pid!)));
}
