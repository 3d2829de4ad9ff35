import { describe, expect, it, onTestFinished } from 'vitest';
import { type AuthMode, type FramingPreset, isFastPathError } from '../protocol/index.js';
import { FastPathClient, type ClientOptions } from './client.js';
import { FastPathServer, type ServerConfig } from './server.js';
import { makeStaleSocketFile, startTestServer, tempSocketPath } from './test-support.js';

const SECRET = 'client-secret';

function socketPath(): string {
  return tempSocketPath('fp-cli-');
}

function startServer(config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  return startTestServer({ auth: 'hmac-json', secret: SECRET }, config);
}

function clientFor(server: FastPathServer, options: Partial<ClientOptions> = {}): FastPathClient {
  return new FastPathClient({ socketPath: server.socketPath, framing: server.config.framing, auth: server.config.auth, secret: SECRET, ...options });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

const fields = (signal_id: string, extra: Record<string, unknown> = {}) => ({ signal_id, symbol: 'BTCUSDT', side: 'Buy' as const, qty: 0.1, ...extra });

describe('FastPathClient', () => {
  it.each([
    ['ndjson', 'hmac-json'],
    ['lp32-json', 'hmac-v2'],
    ['lp32-msgpack', 'none'],
  ] as [FramingPreset, AuthMode][])('speaks %s with %s: prepare, confirm, abort, status', async (framing, auth) => {
    const server = await startServer({ framing, auth });
    onTestFinished(() => server.stop(0));
    const client = clientFor(server);
    await client.connect();
    onTestFinished(() => client.close());
    expect(await client.sendPrepare(fields('a', { price: 10 }))).toMatchObject({ accepted: true, state: 'PREPARED' });
    expect(await client.sendConfirm('a')).toMatchObject({ accepted: true, state: 'CONFIRMED', fillPrice: 10 });
    expect(await client.sendPrepare(fields('b'))).toMatchObject({ accepted: true });
    expect(await client.sendAbort('b', 'trap_invalidated')).toMatchObject({ accepted: true, state: 'ABORTED' });
    expect(await client.send({ type: 'NOPE' })).toMatchObject({ rejected: true, reason: 'INVALID_SIGNAL' });
    const status = await client.status();
    expect(status).toMatchObject({ accepted: true, status: { running: true, metrics: { ordersExecuted: 1 } } });
  });

  it('pipelines many requests and matches each reply to its request', async () => {
    const server = await startServer({ risk: { maxOpenOrders: 1_000 } });
    onTestFinished(() => server.stop(0));
    const client = clientFor(server);
    await client.connect();
    onTestFinished(() => client.close());
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => client.sendPrepare(fields(`p-${i}`, { delay_ms: i % 10 === 0 ? 20 : 0 }))),
    );
    replies.forEach((reply, i) => expect(reply).toMatchObject({ accepted: true, signal_id: `p-${i}` }));
    expect(client.inFlightCount).toBe(0);
  });

  it('rejects a request without a reply within requestTimeoutMs with FP_TIMEOUT naming the socket, and keeps working', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = clientFor(server, { requestTimeoutMs: 100 });
    await client.connect();
    onTestFinished(() => client.close());
    const err = await caught(client.sendPrepare(fields('slow', { delay_ms: 300 })));
    expect(isFastPathError(err) && err.code).toBe('FP_TIMEOUT');
    expect((err as Error).message).toContain(server.socketPath);
    expect((err as Error).message).toContain('100 ms');
    // The late reply is matched to the timed-out request and discarded; the next request gets its own reply.
    await sleep(300);
    expect(await client.sendConfirm('slow')).toMatchObject({ accepted: true, signal_id: 'slow', state: 'CONFIRMED' });
  });

  it('explains a missing socket file with FP_CONNECT_ENOENT and how to start the server', async () => {
    const path = socketPath();
    const client = new FastPathClient({ socketPath: path, framing: 'ndjson', auth: 'none' });
    const err = await caught(client.connect());
    expect(isFastPathError(err) && err.code).toBe('FP_CONNECT_ENOENT');
    expect((err as Error).message).toBe(`no socket file at ${path}: is the server running? start it with \`fastpath serve --socket ${path}\``);
  });

  it('explains a stale socket file with FP_CONNECT_REFUSED', async () => {
    const path = socketPath();
    await makeStaleSocketFile(path); // a socket file with nobody listening
    const client = new FastPathClient({ socketPath: path, framing: 'ndjson', auth: 'none' });
    const err = await caught(client.connect());
    expect(isFastPathError(err) && err.code).toBe('FP_CONNECT_REFUSED');
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toContain('a stale socket file with no server behind it');
  });

  it('reconnects with backoff after the server restarts', async () => {
    const path = socketPath();
    const first = await startServer({ socketPath: path });
    onTestFinished(() => first.stop(0));
    const client = clientFor(first, { reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxAttempts: 50 } });
    await client.connect();
    onTestFinished(() => client.close());
    expect(await client.sendPrepare(fields('before'))).toMatchObject({ accepted: true });
    await first.stop(1_000);
    await sleep(100); // the client notices the close and starts retrying against a missing socket
    expect(client.connected).toBe(false);
    const second = await startServer({ socketPath: path });
    onTestFinished(() => second.stop(0));
    expect(await client.sendPrepare(fields('after'))).toMatchObject({ accepted: true, signal_id: 'after' });
    expect(client.connected).toBe(true);
  });

  it('gives up after maxAttempts with the last connect error', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = clientFor(server, { reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 } });
    await client.connect();
    onTestFinished(() => client.close());
    await server.stop(0);
    await sleep(100);
    const err = await caught(client.sendConfirm('x'));
    expect(isFastPathError(err) && err.code).toBe('FP_CONNECT_ENOENT');
    expect((err as Error).message).toContain('gave up after 3 attempts');
  });

  it('rejects requests in flight with FP_CLOSED when the connection is lost', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = clientFor(server, { reconnect: { initialDelayMs: 10, maxDelayMs: 10, maxAttempts: 0 } });
    await client.connect();
    onTestFinished(() => client.close());
    const pending = caught(client.sendPrepare(fields('lost', { delay_ms: 5_000 })));
    await sleep(50);
    await server.stop(0);
    const err = await pending;
    expect(isFastPathError(err) && err.code).toBe('FP_CLOSED');
    expect((err as Error).message).toContain('may or may not have been executed');
  });

  it('flags a reply whose id does not match the oldest request as a protocol violation', async () => {
    const server = await startServer({ faults: ['unordered-replies'] });
    onTestFinished(() => server.stop(0));
    const client = clientFor(server, { reconnect: { initialDelayMs: 10, maxDelayMs: 10, maxAttempts: 0 } });
    await client.connect();
    onTestFinished(() => client.close());
    const first = caught(client.sendPrepare(fields('late', { delay_ms: 100 })));
    const second = caught(client.sendPrepare(fields('early')));
    for (const err of [await first, await second]) {
      expect(isFastPathError(err) && err.code).toBe('FP_CLOSED');
      expect((err as Error).message).toContain('out of order');
    }
  });

  it('surfaces MAX_CONNECTIONS_REACHED to the caller', async () => {
    const server = await startServer({ maxConnections: 1 });
    onTestFinished(() => server.stop(0));
    const holder = clientFor(server);
    await holder.connect();
    onTestFinished(() => holder.close());
    const extra = clientFor(server, { reconnect: { initialDelayMs: 10, maxDelayMs: 10, maxAttempts: 0 } });
    await extra.connect();
    onTestFinished(() => extra.close());
    const outcome = await extra.send({ type: 'STATUS' }).then(
      (reply) => JSON.stringify(reply),
      (err: Error) => err.message,
    );
    expect(outcome).toContain('MAX_CONNECTIONS_REACHED');
  });

  it('rejects requests after close() with FP_CLOSED', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const client = clientFor(server);
    await client.connect();
    onTestFinished(() => client.close());
    const inflight = caught(client.sendPrepare(fields('c', { delay_ms: 200 })));
    await client.close();
    expect(isFastPathError(await inflight) && ((await inflight) as { code: string }).code).toBe('FP_CLOSED');
    const err = await caught(client.sendConfirm('c'));
    expect(isFastPathError(err) && err.code).toBe('FP_CLOSED');
  });

  it('validates its options with FP_CONFIG_INVALID', () => {
    expect(() => new FastPathClient({ socketPath: '/tmp/x.sock', framing: 'bogus', auth: 'none' })).toThrow(/unknown framing/);
    expect(() => new FastPathClient({ socketPath: '/tmp/x.sock', framing: 'ndjson', auth: 'hmac-v2' })).toThrow(/secret/);
    expect(() => new FastPathClient({ socketPath: '/tmp/x.sock', framing: 'ndjson', auth: 'none', requestTimeoutMs: 0 })).toThrow(/requestTimeoutMs/);
  });
});
