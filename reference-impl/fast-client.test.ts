import { describe, expect, it, onTestFinished } from 'vitest';
import { type AuthMode, type FramingPreset, decodeBody, encodeBody, isFastPathError, signEnvelope } from '../protocol/index.js';
import { listSegments } from '../ring/index.js';
import { FastClient, type FastClientOptions } from './fast-client.js';
import type { FastPathServer, ServerConfig } from './server.js';
import { startTestServer, tempSocketPath } from './test-support.js';

/**
 * The reference fast-session client against in-process reference servers on temp
 * sockets, over real /dev/shm rings (docs/SPEC.md §10).
 */

const SECRET = 'fast-client-secret';

async function startServer(config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  return startTestServer({ auth: 'hmac-v2', secret: SECRET, log: () => undefined }, config);
}

function clientOptions(server: FastPathServer, extra: Partial<FastClientOptions> = {}): FastClientOptions {
  return { socketPath: server.socketPath, framing: server.framingName, auth: server.auth, secret: SECRET, log: () => undefined, ...extra };
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> | undefined }> {
  try {
    await promise;
  } catch (err) {
    if (isFastPathError(err)) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  throw new Error('expected a rejection');
}

function pattern(bytes: number, seed = 7): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + seed + (i >>> 11)) & 0xff;
  return out;
}

const prepare = (signal_id: string, extra: Record<string, unknown> = {}) => ({ type: 'PREPARE', signal_id, symbol: 'BTCUSDT', side: 'Buy', qty: 0.1, ...extra });

describe('FastClient over shared memory (§10)', () => {
  const combos: [FramingPreset, AuthMode][] = [
    ['ndjson', 'hmac-v2'],
    ['ndjson', 'hmac-json'],
    ['lp32-msgpack', 'hmac-v2'],
    ['lp32-msgpack', 'hmac-json'],
  ];
  it.each(combos)('%s with %s: echo, sink and signal round trips', async (framing, auth) => {
    const server = await startServer({ framing, auth });
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    expect(client.transport).toBe('shm');
    expect(client.fallbackReason).toBeUndefined();
    expect(Buffer.from(await client.request('echo', new Uint8Array([1, 2, 3])))).toEqual(Buffer.from([1, 2, 3]));
    expect((await client.request('sink', pattern(1000))).byteLength).toBe(0);
    expect(await client.signal(prepare('fc-1', { price: 10 }))).toMatchObject({ accepted: true, signal_id: 'fc-1', state: 'PREPARED' });
    expect(await client.signal({ type: 'CONFIRM', signal_id: 'fc-1' })).toMatchObject({ accepted: true, state: 'CONFIRMED' });
    expect(await client.signal({ type: 'CONFIRM', signal_id: 'nope' })).toMatchObject({ rejected: true, reason: 'UNKNOWN_SIGNAL' });
    expect(server.getStatus().metrics).toMatchObject({ messagesProcessed: 3, messagesFailed: 1, ordersExecuted: 1 });
  });

  it('echoes 1 MiB and 10 MiB byte-exact, chunked through 4 MiB rings', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    for (const size of [1 << 20, 10 << 20]) {
      const params = pattern(size, size);
      const result = await client.request('echo', params, { timeoutMs: 20_000 });
      expect(result.byteLength).toBe(size);
      expect(Buffer.compare(Buffer.from(result.buffer, result.byteOffset, result.byteLength), Buffer.from(params))).toBe(0);
    }
  });

  it('echoes a message many times larger than a small ring, several at once, in order', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server, { capacityBytes: 16_384 }));
    onTestFinished(() => client.close());

    const inputs = [pattern(100_000, 1), pattern(10, 2), pattern(50_000, 3)];
    const results = await Promise.all(inputs.map((p) => client.request('echo', p)));
    results.forEach((r, i) => expect(Buffer.from(r)).toEqual(Buffer.from(inputs[i]!)));
  });

  it('answers 2000 pipelined requests, each with its own result, in request order', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    const order: number[] = [];
    const all = Array.from({ length: 2000 }, (_, i) =>
      client.request(i % 3 === 0 ? 'sink' : 'echo', Uint8Array.of(i & 0xff, i >> 8)).then((r) => {
        order.push(i);
        return r;
      }),
    );
    expect(client.inFlightCount).toBeGreaterThan(0);
    const results = await Promise.all(all);
    expect(order).toEqual([...Array(2000).keys()]);
    results.forEach((r, i) => expect([...r]).toEqual(i % 3 === 0 ? [] : [i & 0xff, i >> 8]));
  });

  it('keeps responses in request order when a signal with delay_ms is followed by echoes (§10.4.3)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    const order: string[] = [];
    const codec = server.config.framing.codec;
    const body = encodeBody(codec, signEnvelope('hmac-v2', SECRET, prepare('slow', { delay_ms: 150 })));
    const track = (name: string) => (result: Uint8Array) => {
      order.push(name);
      return result;
    };
    const slow = client.request('signal', body).then(track('signal'));
    const fast = client.request('echo', pattern(5000)).then(track('echo'));
    const sink = client.request('sink', pattern(10)).then(track('sink'));
    const [reply, echoed] = await Promise.all([slow, fast, sink]);
    expect(order).toEqual(['signal', 'echo', 'sink']);
    expect(decodeBody(codec, reply)).toMatchObject({ ok: true, value: { accepted: true, signal_id: 'slow' } });
    expect(Buffer.from(echoed)).toEqual(Buffer.from(pattern(5000)));
  });

  it('sends notifications that get no response but are executed', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    client.notify('echo', pattern(100));
    client.notify('no-such-method', pattern(10));
    const body = encodeBody(server.config.framing.codec, signEnvelope('hmac-v2', SECRET, prepare('by-notification')));
    client.notify('signal', body);
    expect(client.inFlightCount).toBe(0);
    expect([...(await client.request('echo', Uint8Array.of(42)))]).toEqual([42]);
    expect(await client.signal({ type: 'CONFIRM', signal_id: 'by-notification' })).toMatchObject({ accepted: true, state: 'CONFIRMED' });
  });

  it('rejects an unknown method with FP_FAST_ERROR carrying UNKNOWN_METHOD, and the session goes on', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    const err = await rejectionOf(client.request('teleport', pattern(3)));
    expect(err.code).toBe('FP_FAST_ERROR');
    expect(err.details).toMatchObject({ code: 'UNKNOWN_METHOD' });
    expect(err.message).toContain('teleport');
    expect([...(await client.request('echo', Uint8Array.of(1)))]).toEqual([1]);
  });

  it('refuses to send a message above the session limit with FP_RING_TOO_LARGE', async () => {
    const server = await startServer({ maxFastMessageBytes: 8192 });
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    expect(client.maxMessageBytes).toBe(8192);
    expect((await rejectionOf(client.request('echo', pattern(10_000)))).code).toBe('FP_RING_TOO_LARGE');
    expect((await client.request('echo', pattern(4000))).byteLength).toBe(4000);
  });

  it('leaves no segment names in /dev/shm once READY arrived (§10.1.3)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const mine = (): string[] => listSegments(`fastpath-${process.pid}-`).map((s) => s.name);
    const before = mine();

    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    expect(client.transport).toBe('shm');
    expect(mine()).toEqual(before);
    expect([...(await client.request('echo', Uint8Array.of(5)))]).toEqual([5]);
  });

  it('times out a request with FP_TIMEOUT and ignores its late response', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    const err = await rejectionOf(client.signal(prepare('late', { delay_ms: 300 }), { timeoutMs: 50 }));
    expect(err.code).toBe('FP_TIMEOUT');
    expect([...(await client.request('echo', Uint8Array.of(9), { timeoutMs: 2_000 }))]).toEqual([9]);
  });

  it('rejects pending requests with FP_CLOSED or FP_RING_PEER_DEAD when the server ends the session', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    const pending = rejectionOf(client.signal(prepare('cut', { delay_ms: 5_000 })));
    await new Promise((r) => setTimeout(r, 30));
    await server.stop(0);
    const err = await pending;
    expect(['FP_CLOSED', 'FP_RING_PEER_DEAD']).toContain(err.code);
    expect(client.closed).toBe(true);
    expect(['FP_CLOSED', 'FP_RING_PEER_DEAD']).toContain((await rejectionOf(client.request('echo', Uint8Array.of(1)))).code);
  });

  it('rejects requests in flight with FP_CLOSED when the client closes', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    const pending = rejectionOf(client.signal(prepare('closing', { delay_ms: 2_000 })));
    await client.close();
    expect((await pending).code).toBe('FP_CLOSED');
    await expect.poll(() => server.getStatus().activeFastSessions).toBe(0);
  });
});

describe('FastClient transport choice and fallback', () => {
  it('uses the socket (uds) when FASTPATH_TRANSPORT=uds', async () => {
    const server = await startServer({ framing: 'lp32-msgpack' });
    onTestFinished(() => server.stop(0));
    const saved = process.env.FASTPATH_TRANSPORT;
    process.env.FASTPATH_TRANSPORT = 'uds';
    onTestFinished(() => {
      if (saved === undefined) delete process.env.FASTPATH_TRANSPORT;
      else process.env.FASTPATH_TRANSPORT = saved;
    });

    const client = await FastClient.connect(clientOptions(server));
    onTestFinished(() => client.close());

    expect(client.transport).toBe('uds');
    expect(client.ready).toMatchObject({ type: 'READY', transport: 'uds', serverPid: process.pid });
    const big = pattern(1 << 20);
    expect(Buffer.compare(Buffer.from(await client.request('echo', big)), Buffer.from(big))).toBe(0);
    expect(await client.signal(prepare('over-uds'))).toMatchObject({ accepted: true, state: 'PREPARED' });
    expect((await rejectionOf(client.request('nope', pattern(1)))).details).toMatchObject({ code: 'UNKNOWN_METHOD' });
  });

  it('rejects an invalid FASTPATH_TRANSPORT with FP_CONFIG_INVALID naming the variable', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const saved = process.env.FASTPATH_TRANSPORT;
    process.env.FASTPATH_TRANSPORT = 'carrier-pigeon';
    onTestFinished(() => {
      if (saved === undefined) delete process.env.FASTPATH_TRANSPORT;
      else process.env.FASTPATH_TRANSPORT = saved;
    });

    const err = await rejectionOf(FastClient.connect(clientOptions(server)));
    expect(err.code).toBe('FP_CONFIG_INVALID');
    expect(err.message).toContain('FASTPATH_TRANSPORT');
    expect(err.message).toContain('carrier-pigeon');
  });

  it('falls back to uds on a new connection when the server refuses shm, logging why', async () => {
    const server = await startServer({ shmSessions: false });
    onTestFinished(() => server.stop(0));
    const lines: string[] = [];

    const client = await FastClient.connect(clientOptions(server, { log: (line) => lines.push(line) }));
    onTestFinished(() => client.close());

    expect(client.transport).toBe('uds');
    expect(client.fallbackReason).toMatch(/SESSION_REFUSED: shared-memory sessions are disabled/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('falling back to the socket transport (uds)');
    expect(lines[0]).toContain('SESSION_REFUSED');
    expect([...(await client.request('echo', Uint8Array.of(3, 4)))]).toEqual([3, 4]);
    expect(listSegments(`fastpath-${process.pid}-`).map((s) => s.name)).toEqual([]);
  });

  it('logs the fallback and then fails with FP_SESSION_REFUSED when the server has fast sessions disabled', async () => {
    const server = await startServer({ fastSessions: false });
    onTestFinished(() => server.stop(0));
    const lines: string[] = [];

    const err = await rejectionOf(FastClient.connect(clientOptions(server, { log: (line) => lines.push(line) })));

    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('INVALID_SIGNAL');
    expect(err.code).toBe('FP_SESSION_REFUSED');
    expect(err.message).toContain('does not offer fast sessions');
  });

  it('reports a wrong secret as FP_SESSION_REFUSED without falling back', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const lines: string[] = [];

    const err = await rejectionOf(FastClient.connect(clientOptions(server, { secret: 'wrong', log: (line) => lines.push(line) })));

    expect(err.code).toBe('FP_SESSION_REFUSED');
    expect(err.message).toContain('INVALID_SIGNATURE');
    expect(lines).toEqual([]);
  });

  it('reports a missing socket as FP_CONNECT_ENOENT and leaves no segments behind', async () => {
    const mine = (): string[] => listSegments(`fastpath-${process.pid}-`).map((s) => s.name);
    const before = mine();

    const err = await rejectionOf(FastClient.connect({ socketPath: tempSocketPath('fp-fc-'), framing: 'ndjson', auth: 'none' }));

    expect(err.code).toBe('FP_CONNECT_ENOENT');
    expect(mine()).toEqual(before);
  });

  it('rejects a ring capacity that is not a power of two with FP_CONFIG_INVALID', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const err = await rejectionOf(FastClient.connect(clientOptions(server, { capacityBytes: 5000 })));
    expect(err.code).toBe('FP_CONFIG_INVALID');
    expect(err.message).toContain('capacityBytes');
  });
});
