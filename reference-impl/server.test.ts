import { existsSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type AuthMode,
  FRAMING_PRESETS,
  type FramingSpec,
  type WireMode,
  StatusReplySchema,
  encodeBody,
  encodeMessage,
  encodeRequest,
  isFastPathError,
  parseFraming,
  signEnvelope,
  writeLength,
} from '../protocol/index.js';
import { RawPeer } from './raw-peer.js';
import { FastPathServer, type ServerConfig } from './server.js';
import { makeStaleSocketFile, startTestServer, tempSocketPath } from './test-support.js';

const SECRET = 'test-secret';

function socketPath(): string {
  return tempSocketPath('fp-srv-');
}

function startServer(config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  return startTestServer({ auth: 'none', secret: SECRET }, config);
}

function modeOf(server: FastPathServer): WireMode {
  return { framing: server.config.framing, auth: server.config.auth, secret: SECRET };
}

const prepare = (signal_id: string, extra: Record<string, unknown> = {}) => ({ type: 'PREPARE', signal_id, symbol: 'BTCUSDT', side: 'Buy', qty: 0.1, ...extra });
const confirm = (signal_id: string, extra: Record<string, unknown> = {}) => ({ type: 'CONFIRM', signal_id, ...extra });

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Connects with a fresh RawPeer in the server's framing. */
function connectPeer(server: FastPathServer): Promise<RawPeer> {
  return RawPeer.connect(server.socketPath, server.config.framing);
}

function request(peer: RawPeer, server: FastPathServer, signal: unknown, id?: string | number, opts: { ts?: number; nonce?: string } = {}): void {
  peer.write(encodeRequest(modeOf(server), signal, { id, ...opts }));
}

describe('server answers valid requests in every framing preset and auth mode (§3.4, §4)', () => {
  const combos = FRAMING_PRESETS.flatMap((framing) => (['none', 'hmac-json', 'hmac-v2'] as AuthMode[]).map((auth) => [framing, auth] as const));
  it.each(combos)('%s with %s: PREPARE, CONFIRM, retried CONFIRM and a bad request', async (framing, auth) => {
    const server = await startServer({ framing, auth });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('sig-1', { price: 100 }), 1);
    request(peer, server, confirm('sig-1'), 'two');
    request(peer, server, confirm('sig-1'), 3);
    request(peer, server, { type: 'NOPE' }, 4);
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true, signal_id: 'sig-1', state: 'PREPARED' });
    const confirmed = await peer.reply();
    expect(confirmed).toMatchObject({ id: 'two', accepted: true, state: 'CONFIRMED', fillPrice: 100 });
    expect(typeof confirmed.orderId).toBe('string');
    expect(typeof confirmed.ipc_latency_ms).toBe('number');
    expect(await peer.reply()).toMatchObject({ id: 3, accepted: true, orderId: confirmed.orderId, duplicate: true });
    expect(await peer.reply()).toMatchObject({ id: 4, rejected: true, reason: 'INVALID_SIGNAL' });
    if (auth !== 'none') {
      const env = signEnvelope(auth, 'wrong-secret', prepare('sig-2'), { id: 5 });
      peer.sendValue(env);
      expect(await peer.reply()).toMatchObject({ id: 5, rejected: true, reason: 'INVALID_SIGNATURE' });
    }
  });

  it('hmac-v2 accepts a MessagePack body carried as bytes in lp32-msgpack', async () => {
    const server = await startServer({ framing: 'lp32-msgpack', auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const signal = prepare('bin-1');
    peer.write(encodeRequest(modeOf(server), signal, { id: 9, binaryBody: encodeBody('msgpack', signal) }));
    expect(await peer.reply()).toMatchObject({ id: 9, accepted: true, state: 'PREPARED' });
  });

  it('serves a custom lp framing with a 2-byte little-endian frame-inclusive length and a header byte', async () => {
    const server = await startServer({ framing: 'lp:2:le:frame:01:msgpack', auth: 'hmac-json' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('lp-1'), 1);
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
    const raw = peer.receivedBytes;
    expect(raw.readUInt16LE(0)).toBe(raw.length);
    expect(raw[2]).toBe(0x01);
  });
});

describe('framing errors (§3)', () => {
  it('answers an undecodable ndjson body with IPC_ERROR without id and keeps the connection', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.write('{"id":1,"signal":\n');
    const reply = await peer.reply();
    expect(reply).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
    expect(reply).not.toHaveProperty('id');
    request(peer, server, prepare('after'), 2);
    expect(await peer.reply()).toMatchObject({ id: 2, accepted: true });
  });

  it('rejects invalid UTF-8 with IPC_ERROR instead of repairing it (§3.2.2)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const body = Buffer.from(JSON.stringify({ id: 1, signal: prepare('x', { symbol: 'AB' }) }));
    body[body.indexOf('AB')] = 0xff;
    peer.write(Buffer.concat([body, Buffer.from('\n')]));
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'IPC_ERROR', error: expect.stringContaining('UTF-8') });
  });

  it('answers a body that is not an object with IPC_ERROR (§3.5)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.write('[1,2]\n42\n');
    expect(await peer.reply()).toMatchObject({ reason: 'IPC_ERROR' });
    expect(await peer.reply()).toMatchObject({ reason: 'IPC_ERROR' });
  });

  it('ignores empty and whitespace-only lines in ndjson: no reply (§3.2.1)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.write('\n  \n\t\r\n');
    request(peer, server, prepare('a'), 1);
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
    expect(await peer.next(200)).toEqual({ type: 'timeout', afterMs: 200 });
  });

  it('decodes identically when frames arrive one byte per write (§3.1.3)', async () => {
    for (const framing of ['ndjson', 'lp32-msgpack'] as const) {
      const server = await startServer({ framing, auth: 'hmac-v2' });
      onTestFinished(() => server.stop(0));
      const peer = await connectPeer(server);
      onTestFinished(() => peer.destroy());
      const bytes = Buffer.concat([encodeRequest(modeOf(server), prepare('split-1'), { id: 1 }), encodeRequest(modeOf(server), confirm('split-1'), { id: 2 })]);
      for (const byte of bytes) {
        peer.write(Buffer.from([byte]));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
      expect(await peer.reply()).toMatchObject({ id: 2, state: 'CONFIRMED' });
    }
  });

  it('answers every frame of a coalesced write, in order (§3.1.3, §5.1)', async () => {
    const server = await startServer({ framing: 'lp32-json', auth: 'hmac-json', risk: { maxOpenOrders: 1_000 } });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const frames = [];
    for (let i = 0; i < 200; i++) frames.push(encodeRequest(modeOf(server), i % 3 === 2 ? { type: 'BAD' } : prepare(`c-${i}`), { id: i }));
    peer.write(Buffer.concat(frames));
    for (let i = 0; i < 200; i++) {
      const reply = await peer.reply();
      expect(reply.id).toBe(i);
      expect(reply[i % 3 === 2 ? 'rejected' : 'accepted']).toBe(true);
    }
  });

  it('discards a partial frame when the peer closes and keeps serving others (§3.1.2)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const quitter = await connectPeer(server);
    onTestFinished(() => quitter.destroy());
    quitter.write('{"signal":{"type":"STA');
    await sleep(20);
    quitter.destroy();
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, { type: 'STATUS' }, 1);
    const status = await peer.reply();
    expect(status).toMatchObject({ id: 1, accepted: true });
    // The snapshot precedes the STATUS request itself; the partial frame was never counted.
    expect(StatusReplySchema.parse(status).status.metrics.messagesReceived).toBe(0);
  });

  it('answers an oversize ndjson line with FRAME_TOO_LARGE and closes, before the line ends (§3.1.1)', async () => {
    const server = await startServer({ framing: parseFraming('ndjson', 64) });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.write('x'.repeat(65));
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'FRAME_TOO_LARGE' });
    expect(await peer.waitClosed()).toBe(true);
  });

  it('drains what the peer is still sending after FRAME_TOO_LARGE, so the reply is read and the close is clean (§5.6)', async () => {
    const server = await startServer({ framing: parseFraming('ndjson', 64) });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.write(Buffer.alloc(512 * 1024, 0x78));
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'FRAME_TOO_LARGE' });
    expect(await peer.waitClosed()).toBe(true);
    expect(peer.errors).toEqual([]);
  });

  it('accepts a frame of exactly maxFrameBytes', async () => {
    const server = await startServer({ framing: parseFraming('ndjson', 100) });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const text = JSON.stringify({ id: 1, signal: prepare('edge') });
    peer.write(`${text.padEnd(100, ' ')}\n`);
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
  });

  it('refuses an oversize length prefix as soon as the prefix is read (§3.1.1)', async () => {
    const server = await startServer({ framing: parseFraming('lp32-json', 1024) });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(1_000_000_000);
    peer.write(prefix);
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'FRAME_TOO_LARGE' });
    expect(await peer.waitClosed()).toBe(true);
  });

  it('answers an empty lp body and a wrong header with IPC_ERROR and keeps the connection (§3.3.2, §3.3.3)', async () => {
    const framing = parseFraming('lp:2:le:frame:01:msgpack');
    const server = await startServer({ framing });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const empty = Buffer.from([3, 0, 0x01]);
    const body = encodeBody('msgpack', { id: 7, signal: prepare('h') });
    const badHeader = Buffer.concat([Buffer.alloc(2), Buffer.from([0x02]), body]);
    writeLength(badHeader, 2, 'le', badHeader.length);
    peer.write(Buffer.concat([empty, badHeader]));
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
    peer.write(encodeMessage(framing, { id: 8, signal: prepare('h') }));
    expect(await peer.reply()).toMatchObject({ id: 8, accepted: true });
  });

  it('answers a length too small for the frame overhead with IPC_ERROR and closes (§3.3.1)', async () => {
    const server = await startServer({ framing: 'lp:2:be:frame:01:json' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.write(Buffer.from([0, 1]));
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
    expect(await peer.waitClosed()).toBe(true);
  });

  it('writes ndjson replies byte-identical to protocol encodeMessage, non-ASCII included', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('é-😀-\u2028', { symbol: 'ÅB' }), 'ïd');
    const ev = await peer.next();
    expect(ev.type).toBe('frame');
    const frame = peer.receivedBytes;
    expect(frame.equals(encodeMessage(server.config.framing, JSON.parse(frame.toString('utf8'))))).toBe(true);
  });
});

describe('envelope and authentication (§4)', () => {
  it('echoes string and integer ids with the same type, and omits an invalid id (§5.3)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.sendValue({ id: '17', signal: prepare('a') });
    peer.sendValue({ id: 17, signal: prepare('b') });
    peer.sendValue({ id: 'x'.repeat(129), signal: prepare('c') });
    expect((await peer.reply()).id).toBe('17');
    expect((await peer.reply()).id).toBe(17);
    const bad = await peer.reply();
    expect(bad).toMatchObject({ rejected: true, reason: 'IPC_ERROR' });
    expect(bad).not.toHaveProperty('id');
  });

  it('answers an envelope without a signal object with IPC_ERROR, keeping the id', async () => {
    const server = await startServer({ auth: 'hmac-json' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.sendValue({ id: 3, signature: 'a'.repeat(64) });
    expect(await peer.reply()).toMatchObject({ id: 3, rejected: true, reason: 'IPC_ERROR' });
  });

  it('rejects signatures that are not exactly 64 hex digits with INVALID_SIGNATURE, and accepts upper-case hex (§4.5)', async () => {
    const server = await startServer({ auth: 'hmac-json' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const env = signEnvelope('hmac-json', SECRET, prepare('sig'), {});
    const good = env.signature as string;
    for (const signature of [`${good}0`, `${good} `, good.slice(0, 63), undefined, 42, `${good.slice(0, 63)}g`]) {
      peer.sendValue({ ...env, signature });
      expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'INVALID_SIGNATURE' });
    }
    peer.sendValue({ ...env, signature: good.toUpperCase() });
    expect(await peer.reply()).toMatchObject({ accepted: true });
    expect(server.getStatus().metrics.invalidSignatures).toBe(6);
  });

  it('rejects an hmac-v2 ts outside the window in either direction with STALE_TIMESTAMP (§4.4.2)', async () => {
    const server = await startServer({ auth: 'hmac-v2', timestampWindowMs: 1_000 });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('old'), 1, { ts: Date.now() - 5_000 });
    request(peer, server, prepare('new'), 2, { ts: Date.now() + 5_000 });
    request(peer, server, prepare('now'), 3);
    expect(await peer.reply()).toMatchObject({ id: 1, reason: 'STALE_TIMESTAMP' });
    expect(await peer.reply()).toMatchObject({ id: 2, reason: 'STALE_TIMESTAMP' });
    expect(await peer.reply()).toMatchObject({ id: 3, accepted: true });
  });

  it('rejects a repeated hmac-v2 nonce with REPLAY_DETECTED, also on another connection (§4.4.3)', async () => {
    const server = await startServer({ auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const frame = encodeRequest(modeOf(server), prepare('r1'), { id: 1, nonce: 'nonce-replayed-1' });
    peer.write(frame);
    peer.write(frame);
    expect(await peer.reply()).toMatchObject({ accepted: true });
    expect(await peer.reply()).toMatchObject({ rejected: true, reason: 'REPLAY_DETECTED' });
    const other = await connectPeer(server);
    onTestFinished(() => other.destroy());
    other.write(frame);
    expect(await other.reply()).toMatchObject({ reason: 'REPLAY_DETECTED' });
  });

  it('does not remember the nonce of a request that failed verification (§4.4.3)', async () => {
    const server = await startServer({ auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.sendValue(signEnvelope('hmac-v2', 'wrong', prepare('p1'), { id: 1, nonce: 'nonce-poison-1' }));
    request(peer, server, prepare('p1'), 2, { nonce: 'nonce-poison-1' });
    expect(await peer.reply()).toMatchObject({ id: 1, reason: 'INVALID_SIGNATURE' });
    expect(await peer.reply()).toMatchObject({ id: 2, accepted: true });
  });

  it('answers malformed hmac-v2 envelopes (ts, nonce, body) with IPC_ERROR (§4.4.4)', async () => {
    const server = await startServer({ auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const env = signEnvelope('hmac-v2', SECRET, prepare('m'), { id: 1 });
    for (const patch of [{ ts: -1 }, { ts: 1.5 }, { ts: '1' }, { nonce: 'short' }, { nonce: 'has space here' }, { body: undefined }]) {
      peer.sendValue({ ...env, ...patch });
      expect(await peer.reply()).toMatchObject({ id: 1, rejected: true, reason: 'IPC_ERROR' });
    }
  });

  it('applies the rate limit per connection before the signature check (§4.6, §6.7)', async () => {
    const server = await startServer({ auth: 'hmac-json', rateLimit: { burst: 2, refillPerSec: 0.001 } });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('a'), 1);
    request(peer, server, prepare('b'), 2);
    peer.sendValue({ id: 3, signal: prepare('c'), signature: 'bad' });
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
    expect(await peer.reply()).toMatchObject({ id: 2, accepted: true });
    expect(await peer.reply()).toMatchObject({ id: 3, rejected: true, reason: 'RATE_LIMITED' });
    const other = await connectPeer(server);
    onTestFinished(() => other.destroy());
    request(other, server, prepare('d'), 4);
    expect(await other.reply()).toMatchObject({ id: 4, accepted: true });
  });
});

describe('signals over the wire (§6)', () => {
  it('reaches every signal reason code: INVALID_SIGNAL, UNKNOWN_SIGNAL, DUPLICATE_SIGNAL, INVALID_STATE, RISK_REJECTED, SIGNAL_EXPIRED', async () => {
    const server = await startServer({ prepareTtlMs: 50, risk: { maxLeverage: 10 } });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, { type: 'PREPARE', signal_id: 'x' }, 1);
    request(peer, server, confirm('ghost'), 2);
    request(peer, server, prepare('dup'), 3);
    request(peer, server, prepare('dup'), 4);
    request(peer, server, { type: 'ABORT', signal_id: 'dup', reason: 'test' }, 5);
    request(peer, server, confirm('dup'), 6);
    request(peer, server, prepare('risky', { leverage: 11 }), 7);
    request(peer, server, prepare('slow'), 8);
    const expected = ['INVALID_SIGNAL', 'UNKNOWN_SIGNAL', undefined, 'DUPLICATE_SIGNAL', undefined, 'INVALID_STATE', 'RISK_REJECTED', undefined];
    for (const [i, reason] of expected.entries()) {
      const reply = await peer.reply();
      expect(reply.id).toBe(i + 1);
      if (reason === undefined) expect(reply.accepted).toBe(true);
      else expect(reply).toMatchObject({ rejected: true, reason });
    }
    await sleep(120);
    request(peer, server, confirm('slow'), 9);
    expect(await peer.reply()).toMatchObject({ id: 9, rejected: true, reason: 'SIGNAL_EXPIRED' });
  });

  it('answers STATUS with seed 000’s status and metrics plus ordersExecuted and openOrders (§6.8)', async () => {
    const server = await startServer({ auth: 'hmac-json' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('s1'), 1);
    request(peer, server, prepare('s2'), 2);
    request(peer, server, confirm('s1'), 3);
    request(peer, server, confirm('s1'), 4);
    peer.sendValue({ id: 5, signal: prepare('s3'), signature: '0'.repeat(64) });
    request(peer, server, confirm('nope'), 6);
    request(peer, server, { type: 'STATUS' }, 7);
    for (let i = 0; i < 6; i++) await peer.reply();
    const status = StatusReplySchema.parse(await peer.reply());
    expect(status.status).toMatchObject({ running: true, socketPath: server.socketPath, activeConnections: 1, maxConnections: 10 });
    expect(status.status.metrics).toMatchObject({
      messagesReceived: 6,
      messagesProcessed: 4,
      messagesFailed: 1,
      invalidSignatures: 1,
      ordersExecuted: 1,
      openOrders: 1,
    });
    expect(status.status.metrics.minLatencyMs).toBeLessThanOrEqual(status.status.metrics.avgLatencyMs);
    expect(status.status.metrics.avgLatencyMs).toBeLessThanOrEqual(status.status.metrics.maxLatencyMs);
    server.resetMetrics();
    expect(server.getStatus().metrics).toMatchObject({ messagesReceived: 0, ordersExecuted: 0, avgLatencyMs: 0, minLatencyMs: 0, openOrders: 1 });
  });

  it('puts ipc_latency_ms on accepted replies only (§6.10)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('l'), 1);
    request(peer, server, confirm('none'), 2);
    expect((await peer.reply()).ipc_latency_ms).toBeGreaterThanOrEqual(0);
    expect(await peer.reply()).not.toHaveProperty('ipc_latency_ms');
  });
});

describe('reply order and pipelining (§5.2, §6.9)', () => {
  it('keeps replies in request order when earlier requests have delay_ms', async () => {
    const server = await startServer({ auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const mode = modeOf(server);
    peer.write(
      Buffer.concat([
        encodeRequest(mode, prepare('a', { delay_ms: 150 }), { id: 'a' }),
        encodeRequest(mode, prepare('b'), { id: 'b' }),
        encodeRequest(mode, prepare('c', { delay_ms: 40 }), { id: 'c' }),
        encodeRequest(mode, { type: 'BAD' }, { id: 'd' }),
        encodeRequest(mode, confirm('a'), { id: 'e' }),
      ]),
    );
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await peer.reply()).id);
    expect(ids).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('applies a request’s effect in order even while its reply is delayed', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('e1', { delay_ms: 100 }), 1);
    request(peer, server, confirm('e1'), 2);
    expect(await peer.reply()).toMatchObject({ id: 1, state: 'PREPARED' });
    expect(await peer.reply()).toMatchObject({ id: 2, state: 'CONFIRMED' });
  });

  it('waits at least delay_ms without blocking other connections', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const slow = await connectPeer(server);
    onTestFinished(() => slow.destroy());
    const fast = await connectPeer(server);
    onTestFinished(() => fast.destroy());
    const t0 = Date.now();
    request(slow, server, prepare('slow', { delay_ms: 400 }), 1);
    request(fast, server, prepare('fast'), 2);
    expect(await fast.reply()).toMatchObject({ id: 2, accepted: true });
    expect(Date.now() - t0).toBeLessThan(350);
    expect(await slow.reply()).toMatchObject({ id: 1, accepted: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(399);
  });

  it('still answers requests already read when the client half-closes, then closes', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('h1', { delay_ms: 100 }), 1);
    request(peer, server, prepare('h2'), 2);
    peer.end();
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
    expect(await peer.reply()).toMatchObject({ id: 2, accepted: true });
    expect(await peer.waitClosed()).toBe(true);
  });
});

describe('lifecycle (§2, §7)', () => {
  it('creates the socket file with mode 0600 (§2.2)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    expect(statSync(server.socketPath).mode & 0o777).toBe(0o600);
  });

  it('removes a stale socket file left by a crashed server and binds (§2.3)', async () => {
    const path = socketPath();
    await makeStaleSocketFile(path); // a socket file with nobody listening
    expect(statSync(path).isSocket()).toBe(true);
    const server = await startServer({ socketPath: path });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('after-crash'), 1);
    expect(await peer.reply()).toMatchObject({ accepted: true });
  });

  it('refuses a socket path a live server listens on with FP_SOCKET_IN_USE and leaves it alone (§2.4)', async () => {
    const first = await startServer();
    onTestFinished(() => first.stop(0));
    const second = new FastPathServer({ socketPath: first.socketPath, framing: 'ndjson', auth: 'none' });
    const err = await second.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    onTestFinished(() => second.stop(0));
    expect(isFastPathError(err) && err.code).toBe('FP_SOCKET_IN_USE');
    expect((err as Error).message).toContain(first.socketPath);
    const peer = await connectPeer(first);
    onTestFinished(() => peer.destroy());
    request(peer, first, prepare('still-mine'), 1);
    expect(await peer.reply()).toMatchObject({ accepted: true });
  });

  it('refuses a path that is not a socket with FP_SOCKET_NOT_SOCKET and does not remove it (§2.4)', async () => {
    const path = socketPath();
    writeFileSync(path, 'precious');
    const server = new FastPathServer({ socketPath: path, framing: 'ndjson', auth: 'none' });
    const err = await server.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    onTestFinished(() => server.stop(0));
    expect(isFastPathError(err) && err.code).toBe('FP_SOCKET_NOT_SOCKET');
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('answers a connection above maxConnections with one MAX_CONNECTIONS_REACHED frame, then closes it (§7.1)', async () => {
    const server = await startServer({ maxConnections: 1 });
    onTestFinished(() => server.stop(0));
    const first = await connectPeer(server);
    onTestFinished(() => first.destroy());
    const extra = await connectPeer(server);
    onTestFinished(() => extra.destroy());
    expect(await extra.reply()).toMatchObject({ rejected: true, reason: 'MAX_CONNECTIONS_REACHED' });
    expect(await extra.waitClosed()).toBe(true);
    request(first, server, prepare('kept'), 1);
    expect(await first.reply()).toMatchObject({ accepted: true });
    first.destroy();
    await first.waitClosed();
    await sleep(50);
    const next = await connectPeer(server);
    onTestFinished(() => next.destroy());
    request(next, server, prepare('next'), 2);
    expect(await next.reply()).toMatchObject({ id: 2, accepted: true });
  });

  it('stops reading from a client that does not read, then answers every request once it does (§7.2)', async () => {
    const server = await startServer({ writeHighWaterBytes: 16_384 });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.socket.pause();
    const count = 20_000;
    const frame = encodeRequest(modeOf(server), { type: 'STATUS' });
    peer.write(Buffer.concat(Array.from({ length: count }, () => frame)));
    await sleep(300);
    const unsentBytes = peer.socket.writableLength;
    expect(unsentBytes).toBeGreaterThan(0); // the server stopped reading, so our writes back up
    const readSoFar = server.getStatus().metrics.messagesReceived;
    await sleep(200);
    expect(server.getStatus().metrics.messagesReceived).toBe(readSoFar);
    expect(readSoFar).toBeLessThan(count);
    peer.socket.resume();
    for (let i = 0; i < count; i++) {
      const ev = await peer.next(5_000);
      expect(ev.type).toBe('frame');
    }
  });

  it('closes a connection idle for idleTimeoutMs, but not while a reply is pending (§7.3)', async () => {
    const server = await startServer({ idleTimeoutMs: 100 });
    onTestFinished(() => server.stop(0));
    const idle = await connectPeer(server);
    onTestFinished(() => idle.destroy());
    const busy = await connectPeer(server);
    onTestFinished(() => busy.destroy());
    request(busy, server, prepare('busy', { delay_ms: 400 }), 1);
    expect(await idle.waitClosed(1_000)).toBe(true);
    expect(busy.isClosed).toBe(false);
    expect(await busy.reply(1_000)).toMatchObject({ id: 1, accepted: true });
    expect(await busy.waitClosed(1_000)).toBe(true);
  });

  it('on stop removes the socket file at once, completes in-flight requests, then closes and resolves (§7.4)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const idle = await connectPeer(server);
    onTestFinished(() => idle.destroy());
    request(peer, server, prepare('inflight', { delay_ms: 200 }), 1);
    await sleep(30);
    const stopped = server.stop(2_000);
    expect(existsSync(server.socketPath)).toBe(false);
    expect(server.getStatus().running).toBe(false);
    expect(await idle.waitClosed(500)).toBe(true);
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
    expect(await peer.waitClosed()).toBe(true);
    await stopped;
    const err = await RawPeer.connect(server.socketPath, server.config.framing).then(
      (p) => p.destroy(),
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(err).toBe('ENOENT');
  });

  it('answers a request read after stop with SHUTTING_DOWN, echoing its id, then closes (§7.4)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('first', { delay_ms: 300 }), 1);
    await sleep(30);
    const stopped = server.stop(2_000);
    request(peer, server, prepare('late'), 2);
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
    expect(await peer.reply()).toMatchObject({ id: 2, rejected: true, reason: 'SHUTTING_DOWN' });
    expect(await peer.waitClosed()).toBe(true);
    await stopped;
  });

  it('forces connections closed at the shutdown deadline (§7.4.5)', async () => {
    const server = await startServer();
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    request(peer, server, prepare('forever', { delay_ms: 10_000 }), 1);
    await sleep(30);
    const t0 = Date.now();
    await server.stop(100);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await peer.waitClosed()).toBe(true);
    expect(await peer.next(50)).toEqual({ type: 'closed' });
    expect(existsSync(server.socketPath)).toBe(false);
  });

  it('sends exactly one reply per request frame in a mixed burst (§5.1)', async () => {
    const server = await startServer({ auth: 'hmac-json', rateLimit: { burst: 30, refillPerSec: 0 } });
    onTestFinished(() => server.stop(0));
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    const mode = modeOf(server);
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 4 === 0) parts.push(Buffer.from('not json\n'));
      else if (i % 4 === 1) parts.push(encodeRequest(mode, prepare(`m${i}`, { delay_ms: i % 3 }), { id: i }));
      else if (i % 4 === 2) parts.push(encodeMessage(mode.framing, { id: i, signal: prepare('x'), signature: 'f'.repeat(64) }));
      else parts.push(Buffer.from('\n'));
    }
    peer.write(Buffer.concat(parts));
    let replies = 0;
    while ((await peer.next(300)).type === 'frame') replies++;
    expect(replies).toBe(30);
    expect(server.getStatus().metrics.messagesReceived).toBe(30);
  });

  it('stops cleanly when stop() is called while start() is still running', async () => {
    const server = new FastPathServer({ socketPath: socketPath(), framing: 'ndjson', auth: 'none' });
    const started = server.start();
    onTestFinished(() => server.stop(0));
    await server.stop(0);
    await started;
    expect(server.getStatus().running).toBe(false);
    expect(existsSync(server.socketPath)).toBe(false);
  });

  it('rejects an invalid configuration with FP_CONFIG_INVALID naming the field', () => {
    const make = (config: ServerConfig) => () => new FastPathServer(config);
    expect(make({ socketPath: '/tmp/x.sock', framing: 'ndjson', auth: 'hmac-v2' })).toThrow(/secret/);
    expect(make({ socketPath: `/tmp/${'x'.repeat(120)}.sock`, framing: 'ndjson', auth: 'none' })).toThrow(/107 bytes/);
    expect(make({ socketPath: '/tmp/x.sock', framing: 'lp:3:be:body:-:json', auth: 'none' })).toThrow(/prefix width/);
    expect(make({ socketPath: '/tmp/x.sock', framing: 'ndjson', auth: 'none', maxConnections: 0 })).toThrow(/maxConnections/);
    try {
      make({ socketPath: '/tmp/x.sock', framing: 'ndjson', auth: 'none', faults: ['nope' as never] })();
    } catch (err) {
      expect(isFastPathError(err) && err.code).toBe('FP_CONFIG_INVALID');
    }
  });

  it('uses the framing given as a FramingSpec including its maxFrameBytes', async () => {
    const framing: FramingSpec = parseFraming('lp32-msgpack', 32);
    const server = await startServer({ framing });
    onTestFinished(() => server.stop(0));
    expect(server.framingName).toBe('lp32-msgpack');
    const peer = await connectPeer(server);
    onTestFinished(() => peer.destroy());
    peer.sendValue({ signal: prepare('y'.repeat(40)) });
    expect(await peer.reply()).toMatchObject({ reason: 'FRAME_TOO_LARGE' });
  });
});
