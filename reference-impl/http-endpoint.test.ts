/**
 * The optional HTTP listener of the reference server (`httpPort`): POST /signal
 * with a JSON request envelope, over real HTTP on loopback, sharing the request
 * path, signal book and metrics with the Unix socket.
 */
import http from 'node:http';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type AuthMode, encodeRequest, isFastPathError, signEnvelope } from '../protocol/index.js';
import { FastPathClient } from './client.js';
import { FastPathServer, type ServerConfig } from './server.js';
import { startTestServer, tempSocketPath } from './test-support.js';

const SECRET = 'http-secret';
const prepare = (signal_id: string, extra: Record<string, unknown> = {}) => ({ type: 'PREPARE', signal_id, symbol: 'BTCUSDT', side: 'Buy', qty: 1, price: 100, ...extra });

function startServer(config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  return startTestServer({ auth: 'hmac-json', secret: SECRET, httpPort: 0 }, config);
}

interface HttpReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
  readonly socket: net.Socket;
}

/** One HTTP request; the body is sent as given (string/Buffer) or as JSON. */
function request(server: FastPathServer, opts: { method?: string; path?: string; body?: unknown; agent?: http.Agent; headers?: http.OutgoingHttpHeaders }): Promise<HttpReply> {
  const address = server.httpAddress!;
  const raw = opts.body === undefined ? undefined : typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: address.host, port: address.port, method: opts.method ?? 'POST', path: opts.path ?? '/signal', agent: opts.agent, headers: { 'content-type': 'application/json', ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, headers: res.headers, body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {}, socket: res.socket });
        });
      },
    );
    req.on('error', reject);
    req.end(raw);
  });
}

function post(server: FastPathServer, envelope: unknown, agent?: http.Agent): Promise<HttpReply> {
  return request(server, { body: envelope, agent });
}

/** Writes raw bytes on a TCP connection and returns everything received until the server closes it. */
function rawExchange(server: FastPathServer, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(server.httpAddress!.port, server.httpAddress!.host);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(bytes);
  });
}

function keepAliveAgent(): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  onTestFinished(() => agent.destroy());
  return agent;
}

describe('HTTP endpoint POST /signal', () => {
  it('accepts a signed PREPARE, answers JSON with the reply object, and shares the signal book with the socket', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const address = server.httpAddress!;
    expect(address.host).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    expect(address.url).toBe(`http://127.0.0.1:${address.port}/signal`);

    const res = await post(server, signEnvelope('hmac-json', SECRET, prepare('h-1'), { id: 'req-1' }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body).toMatchObject({ id: 'req-1', accepted: true, signal_id: 'h-1', state: 'PREPARED' });
    expect(typeof res.body.ipc_latency_ms).toBe('number');

    // The same book: CONFIRM over the Unix socket, then a retried CONFIRM over HTTP.
    const client = new FastPathClient({ socketPath: server.socketPath, framing: 'ndjson', auth: 'hmac-json', secret: SECRET });
    await client.connect();
    onTestFinished(() => client.close());
    const confirmed = await client.sendConfirm('h-1');
    expect(confirmed).toMatchObject({ accepted: true, state: 'CONFIRMED' });
    const retried = await post(server, signEnvelope('hmac-json', SECRET, { type: 'CONFIRM', signal_id: 'h-1' }));
    expect(retried.body).toMatchObject({ accepted: true, duplicate: true, orderId: (confirmed as { orderId: string }).orderId });
    expect(server.getStatus().metrics).toMatchObject({ messagesReceived: 3, messagesProcessed: 3, ordersExecuted: 1 });
  });

  it.each(['none', 'hmac-json', 'hmac-v2'] as AuthMode[])('takes the envelope of auth mode %s as JSON whatever the socket framing', async (auth) => {
    const server = await startServer({ framing: 'lp32-msgpack', auth });
    onTestFinished(() => server.stop(0));
    const res = await post(server, signEnvelope(auth, SECRET, prepare(`m-${auth}`), { id: 7 }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 7, accepted: true, state: 'PREPARED' });
  });

  it('rejects a bad signature with status 200 and an INVALID_SIGNATURE reply', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const res = await post(server, signEnvelope('hmac-json', 'wrong-secret', prepare('bad-1'), { id: 3 }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 3, rejected: true, reason: 'INVALID_SIGNATURE' });
    expect(res.body.accepted).toBeUndefined();
    expect(server.getStatus().metrics).toMatchObject({ messagesReceived: 1, invalidSignatures: 1 });
  });

  it('answers 404 for another path and 405 (allow: POST) for another method', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const notFound = await request(server, { path: '/nope', body: {} });
    expect(notFound.status).toBe(404);
    expect(notFound.body).toMatchObject({ rejected: true, reason: 'IPC_ERROR', error: expect.stringMatching(/POST .* to \/signal/) });
    const wrongMethod = await request(server, { method: 'GET' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect(wrongMethod.body).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
    // A query string does not change the path.
    expect((await post(server, signEnvelope('hmac-json', SECRET, prepare('q-1')))).status).toBe(200);
    expect((await request(server, { path: '/signal?x=1', body: signEnvelope('hmac-json', SECRET, prepare('q-2')) })).status).toBe(200);
  });

  it('answers 400 with an IPC_ERROR reply for a body that is not JSON, not UTF-8 or not an object', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    for (const body of ['{"signal":', '', '[1,2]', Buffer.from('7b2261223a22c0af227d', 'hex')]) {
      const res = await request(server, { body });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
      expect(res.body.id).toBeUndefined();
    }
    // An envelope-level error is a protocol rejection like any other: status 200.
    const noSignal = await post(server, { id: 1, signature: 'ab'.repeat(32) });
    expect(noSignal.status).toBe(200);
    expect(noSignal.body).toMatchObject({ id: 1, rejected: true, reason: 'IPC_ERROR' });
  });

  it('answers 413 with a FRAME_TOO_LARGE reply for a body over maxFrameBytes, then closes the connection', async () => {
    const server = await startServer({ framing: { kind: 'ndjson', codec: 'json', maxFrameBytes: 256 } });
    onTestFinished(() => server.stop(0));
    // Announced by Content-Length: answered before any of the body is read.
    const announced = await rawExchange(server, `POST /signal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`);
    expect(announced).toMatch(/^HTTP\/1\.1 413 /);
    expect(announced.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(announced.slice(announced.indexOf('\r\n\r\n') + 4))).toMatchObject({ rejected: true, reason: 'FRAME_TOO_LARGE' });
    // Chunked, without a length: detected once more than 256 bytes arrived.
    const chunked = await request(server, { body: JSON.stringify({ signal: { type: 'STATUS', pad: 'x'.repeat(400) } }), headers: { 'transfer-encoding': 'chunked' } });
    expect(chunked.status).toBe(413);
    expect(chunked.body).toMatchObject({ rejected: true, reason: 'FRAME_TOO_LARGE' });
    // A body at the limit is fine.
    const atLimit = await post(server, { signal: { type: 'STATUS' }, pad: 'x'.repeat(256 - 40) });
    expect(atLimit.status).toBe(200);
  });

  it('keeps the connection alive between requests and rate-limits per HTTP connection', async () => {
    const server = await startServer({ rateLimit: { burst: 2, refillPerSec: 0 } });
    onTestFinished(() => server.stop(0));
    const agent = keepAliveAgent();
    const first = await post(server, signEnvelope('hmac-json', SECRET, prepare('k-1')), agent);
    const second = await post(server, signEnvelope('hmac-json', SECRET, prepare('k-2')), agent);
    const third = await post(server, signEnvelope('hmac-json', SECRET, prepare('k-3')), agent);
    expect(first.headers.connection).toBe('keep-alive');
    expect(second.socket).toBe(first.socket);
    expect(third.socket).toBe(first.socket);
    expect([first.body.accepted, second.body.accepted]).toEqual([true, true]);
    expect(third.body).toMatchObject({ rejected: true, reason: 'RATE_LIMITED' });
    // Another connection has its own bucket.
    const other = await post(server, signEnvelope('hmac-json', SECRET, prepare('k-4')));
    expect(other.body).toMatchObject({ accepted: true });
  });

  it('shuts down with the server: a delayed request in flight is answered with connection: close, then the port refuses connections', async () => {
    const server = await startServer({ auth: 'none' });
    onTestFinished(() => server.stop(0));
    const { port } = server.httpAddress!;
    const agent = keepAliveAgent();
    await post(server, { signal: { type: 'STATUS' } }, agent); // an idle keep-alive connection
    const inFlight = post(server, { id: 'slow', signal: prepare('d-1', { delay_ms: 200 }) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopped = server.stop(5_000);
    const slow = await inFlight;
    expect(slow.status).toBe(200);
    expect(slow.body).toMatchObject({ id: 'slow', accepted: true, state: 'PREPARED' });
    expect(slow.headers.connection).toBe('close');
    await stopped;
    expect(server.httpAddress).toBeUndefined();
    expect(existsSync(server.socketPath)).toBe(false);
    const refused = await new Promise<string>((resolve) => {
      const socket = net.createConnection(port, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('answers a request completed after the stop signal with SHUTTING_DOWN and closes', async () => {
    const server = await startServer({ auth: 'none' });
    onTestFinished(() => server.stop(0));
    const body = JSON.stringify({ id: 'late', signal: { type: 'STATUS' } });
    const socket = net.createConnection(server.httpAddress!.port, '127.0.0.1');
    onTestFinished(() => socket.destroy());
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(`POST /signal HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopped = server.stop(5_000);
    socket.write(body.slice(5));
    await closed;
    await stopped;
    const text = Buffer.concat(received).toString('utf8');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ id: 'late', rejected: true, reason: 'SHUTTING_DOWN' });
  });

  it('a stop deadline closes HTTP connections still waiting', async () => {
    const server = await startServer({ auth: 'none' });
    onTestFinished(() => server.stop(0));
    const inFlight = post(server, { signal: prepare('d-2', { delay_ms: 5_000 }) }).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await server.stop(100);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await inFlight).toBe('ECONNRESET');
  });

  it('serves the socket and HTTP side by side without interference', async () => {
    const server = await startServer({ framing: 'lp32-json', auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const mode = { framing: server.config.framing, auth: 'hmac-v2' as const, secret: SECRET };
    const socket = net.createConnection(server.socketPath);
    onTestFinished(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    const gotSocketReply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write(encodeRequest(mode, prepare('s-1'), { id: 1 }));
    const viaHttp = await post(server, signEnvelope('hmac-v2', SECRET, prepare('s-2'), { id: 2 }));
    expect(viaHttp.body).toMatchObject({ id: 2, accepted: true });
    expect((await gotSocketReply).subarray(4).toString('utf8')).toMatch(/"accepted":true/);
    // A replayed hmac-v2 envelope is caught across transports (one nonce cache).
    const env = signEnvelope('hmac-v2', SECRET, prepare('s-3'), { id: 3 });
    expect((await post(server, env)).body).toMatchObject({ accepted: true });
    expect((await post(server, env)).body).toMatchObject({ rejected: true, reason: 'REPLAY_DETECTED' });
  });
});

describe('HTTP endpoint configuration', () => {
  it('is off without httpPort', async () => {
    const server = await startTestServer({ auth: 'none' });
    onTestFinished(() => server.stop(0));
    expect(server.httpAddress).toBeUndefined();
  });

  it('validates httpPort and httpHost', () => {
    const base = { socketPath: '/tmp/x.sock', framing: 'ndjson', auth: 'none' } as const;
    const message = (config: ServerConfig): string => {
      try {
        new FastPathServer(config);
      } catch (err) {
        expect(isFastPathError(err) && err.code).toBe('FP_CONFIG_INVALID');
        return (err as Error).message;
      }
      throw new Error('expected a configuration error');
    };
    expect(message({ ...base, httpPort: 70_000 })).toMatch(/httpPort: httpPort must be 0-65535/);
    expect(message({ ...base, httpPort: 1.5 })).toMatch(/httpPort must be a whole number/);
    expect(message({ ...base, httpHost: '127.0.0.1' })).toMatch(/httpHost is set but httpPort is not/);
  });

  it('start() fails with a clear message when the port is taken, and leaves no socket file', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as net.AddressInfo).port;
    const socketPath = tempSocketPath('fp-http-');
    const server = new FastPathServer({ socketPath, framing: 'ndjson', auth: 'none', httpPort: port });
    onTestFinished(() => server.stop(0));
    const err = await server.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFastPathError(err) && err.code).toBe('FP_CONFIG_INVALID');
    expect((err as Error).message).toMatch(new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${port}: EADDRINUSE.*--http-port`));
    expect(existsSync(socketPath)).toBe(false);
  });
});
