import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { decodeJson, encodeMessage } from '../protocol/index.js';
import { jsonDialect, specDialect, type Dialect } from './dialect.js';
import { makeMode } from './targets.js';
import { openWireConnection } from './wire-connection.js';
import { WireLog } from './wire-log.js';

type Handler = (sock: Socket, data: Buffer) => void;

/** Starts a real Unix-socket server whose connections call `onData`. */
async function listen(onData: Handler): Promise<{ server: Server; path: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-wire-test-'));
  const path = join(dir, 's.sock');
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('data', (data) => onData(sock, data));
    sock.on('error', () => {});
  });
  await new Promise<void>((res) => server.listen(path, res));
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => server.close(() => res()));
    rmSync(dir, { recursive: true, force: true });
  };
  return { server, path, close };
}

function conn(path: string, framing = 'ndjson', dialect: Dialect = specDialect, auth: 'none' | 'hmac-json' = 'none') {
  const log = new WireLog();
  return { log, open: () => openWireConnection({ socketPath: path, mode: makeMode(framing, auth, 'k'), dialect, log, connId: 1, defaultReadTimeoutMs: 1_000 }) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('wire connection', () => {
  it('reassembles a reply split across writes and echoes the id', async () => {
    const srv = await listen((sock, data) => {
      const env = decodeJson(data.subarray(0, data.indexOf(10)));
      const id = env.ok ? (env.value as { id?: unknown }).id : undefined;
      const reply = Buffer.from(`${JSON.stringify({ id, accepted: true, state: 'PREPARED' })}\n`);
      sock.write(reply.subarray(0, 3));
      setTimeout(() => sock.write(reply.subarray(3, 10)), 20);
      setTimeout(() => sock.write(reply.subarray(10)), 40);
    });
    onTestFinished(() => srv.close());
    const { log, open } = conn(srv.path);
    const c = await open();
    onTestFinished(() => c.destroy());
    const event = await c.request({ type: 'PREPARE', signal_id: 'a' }, { id: 7 });
    expect(event).toMatchObject({ type: 'reply', reply: { kind: 'accepted', id: 7, fields: { state: 'PREPARED' } } });
    const dirs = log.entries.map((e) => e.dir);
    expect(dirs.filter((d) => d === 'in')).toHaveLength(3);
    const out = log.entries.find((e) => e.dir === 'out');
    expect(out).toMatchObject({ conn: 1, encoding: 'utf8' });
    expect(out?.preview).toContain('"signal_id":"a"');
  });

  it('reports a reply without its newline as closed with the partial bytes', async () => {
    const srv = await listen((sock) => {
      sock.end('{"accepted":true}');
    });
    onTestFinished(() => srv.close());
    const { open } = conn(srv.path);
    const c = await open();
    onTestFinished(() => c.destroy());
    const event = await c.request({ type: 'STATUS' });
    expect(event).toMatchObject({ type: 'closed', partialBytes: 17 });
    expect(c.closed).toBe(true);
    expect(await c.read()).toMatchObject({ type: 'closed' });
  });

  it('reports a reply without a length prefix in lp32 framing as undecodable, then closed with partial bytes', async () => {
    const srv = await listen((sock) => {
      sock.end('{"accepted":true}');
    });
    onTestFinished(() => srv.close());
    const { open } = conn(srv.path, 'lp32-json');
    const c = await open();
    onTestFinished(() => c.destroy());
    const first = await c.request({ type: 'STATUS' });
    expect(first.type).toBe('undecodable');
    if (first.type === 'undecodable') expect(first.error).toMatch(/^reply frame: length prefix announces/);
    const second = await c.read();
    expect(second.type).toBe('closed');
    if (second.type === 'closed') expect(second.partialBytes).toBeGreaterThan(0);
  });

  it('returns a timeout event when no reply comes, and keeps the connection usable', async () => {
    let count = 0;
    const srv = await listen((sock) => {
      count++;
      if (count === 2) sock.write('{"rejected":true,"reason":"RATE_LIMITED"}\n');
    });
    onTestFinished(() => srv.close());
    const { log, open } = conn(srv.path);
    const c = await open();
    onTestFinished(() => c.destroy());
    expect(await c.request({ type: 'STATUS' }, undefined, 150)).toEqual({ type: 'timeout', afterMs: 150 });
    expect(log.entries.some((e) => e.dir === 'event' && e.preview === 'no reply within 150 ms')).toBe(true);
    expect(await c.request({ type: 'STATUS' })).toMatchObject({ type: 'reply', reply: { kind: 'rejected', reason: 'RATE_LIMITED' } });
  });

  it('classifies a body that is not JSON as undecodable and a reason outside the closed set as malformed', async () => {
    const srv = await listen((sock) => sock.write('not json\n{"rejected":true,"reason":"NOPE"}\n{"accepted":true,"rejected":true}\n'));
    onTestFinished(() => srv.close());
    const { open } = conn(srv.path);
    const c = await open();
    onTestFinished(() => c.destroy());
    await c.send({ type: 'STATUS' });
    expect(await c.read()).toMatchObject({ type: 'undecodable' });
    const bad = await c.read();
    expect(bad).toMatchObject({ type: 'reply', reply: { kind: 'malformed' } });
    if (bad.type === 'reply' && bad.reply.kind === 'malformed') expect(bad.reply.problem).toContain('"NOPE" is outside the closed set');
    expect(await c.read()).toMatchObject({ type: 'reply', reply: { kind: 'malformed', problem: expect.stringContaining('both') } });
  });

  it('decodes MessagePack replies and logs them readably', async () => {
    const framing = makeMode('lp32-msgpack', 'none', 'k').framing;
    const srv = await listen((sock) => sock.write(encodeMessage(framing, { accepted: true, signal_id: 'm', bin: Buffer.from([1, 2]) })));
    onTestFinished(() => srv.close());
    const { log, open } = conn(srv.path, 'lp32-msgpack');
    const c = await open();
    onTestFinished(() => c.destroy());
    const event = await c.request({ type: 'STATUS' });
    expect(event).toMatchObject({ type: 'reply', reply: { kind: 'accepted', fields: { signal_id: 'm' } } });
    expect(log.entries.find((e) => e.dir === 'out')?.encoding).toBe('hex');
    expect(log.entries.some((e) => e.dir === 'event' && e.preview.startsWith('reply #1: accepted {"accepted":true,"signal_id":"m","bin":"<2 bytes>"}'))).toBe(true);
  });

  it('applies a JSON dialect both ways', async () => {
    let seen: unknown;
    const srv = await listen((sock, data) => {
      seen = JSON.parse(data.toString('utf8').trim());
      sock.write('{"ok":true,"sid":"x1"}\n{"failed":true,"code":"BAD_SIG"}\n');
    });
    onTestFinished(() => srv.close());
    const dialect = jsonDialect({
      typeField: 'kind',
      typeNames: { PREPARE: 'prep' },
      fieldNames: { signal_id: 'sid' },
      acceptedField: 'ok',
      rejectedField: 'failed',
      reasonField: 'code',
      reasonMap: { BAD_SIG: 'INVALID_SIGNATURE' },
    });
    const { open } = conn(srv.path, 'ndjson', dialect);
    const c = await open();
    onTestFinished(() => c.destroy());
    expect(await c.request({ type: 'PREPARE', signal_id: 'x1', qty: 1 })).toMatchObject({
      type: 'reply',
      reply: { kind: 'accepted', fields: { accepted: true, signal_id: 'x1' } },
    });
    expect(seen).toEqual({ signal: { kind: 'prep', sid: 'x1', qty: 1 } });
    expect(await c.read()).toMatchObject({ type: 'reply', reply: { kind: 'rejected', reason: 'INVALID_SIGNATURE' } });
  });

  it('writes in chunks and waits for the peer to close', async () => {
    const received: Buffer[] = [];
    const srv = await listen((sock, data) => {
      received.push(data);
      if (Buffer.concat(received).includes(10)) sock.end('{"rejected":true,"reason":"FRAME_TOO_LARGE"}\n');
    });
    onTestFinished(() => srv.close());
    const { log, open } = conn(srv.path);
    const c = await open();
    onTestFinished(() => c.destroy());
    await c.writeChunked(Buffer.from('{"signal":{"type":"STATUS"}}\n'), 8, 5);
    expect(await c.waitClose(2_000)).toBe('closed');
    expect(await c.read()).toMatchObject({ type: 'reply', reply: { kind: 'rejected', reason: 'FRAME_TOO_LARGE' } });
    expect(await c.read()).toMatchObject({ type: 'closed', partialBytes: 0 });
    expect(log.entries.filter((e) => e.dir === 'out')).toHaveLength(4);
    await c.write('ignored\n');
    expect(log.entries.at(-1)?.preview).toContain('skipped: connection already closed');
  });

  it('reports waitClose timeout while the peer keeps the connection open', async () => {
    const srv = await listen(() => {});
    onTestFinished(() => srv.close());
    const { open } = conn(srv.path);
    const c = await open();
    onTestFinished(() => c.destroy());
    expect(await c.waitClose(100)).toBe('timeout');
    c.pauseReading();
    c.resumeReading();
    await c.end();
    await sleep(10);
  });

  it('fails to connect with the errno in a FastPathError code', async () => {
    const { open } = conn('/tmp/fastpath-definitely-missing.sock');
    await expect(open()).rejects.toMatchObject({ code: 'FP_CONNECT_ENOENT', message: expect.stringContaining('ENOENT') });
  });
});

describe('wire log', () => {
  it('caps previews per entry, keeps the head and the last entries, and counts what it drops', () => {
    const log = new WireLog(performance.now(), { previewBytes: 8, totalChars: 20 });
    log.bytes('out', 1, Buffer.from('0123456789abcdef'));
    log.bytes('in', 1, Buffer.from([0, 1, 2, 255]));
    for (let i = 0; i < 100; i++) log.bytes('in', 1, Buffer.from(`reply ${i}`));
    log.event('peer closed the connection (FIN)', 1);
    const entries = log.entries;
    expect(entries[0]).toMatchObject({ bytes: 16, encoding: 'utf8', preview: '01234567', truncated: true });
    expect(entries[1]).toMatchObject({ bytes: 4, encoding: 'hex', preview: '000102ff' });
    expect(log.droppedEntries).toBe(101 - 64);
    expect(entries[2]).toMatchObject({ dir: 'note', preview: expect.stringContaining(`${101 - 64} entries`) });
    expect(entries).toHaveLength(2 + 1 + 64);
    expect(entries.at(-1)).toMatchObject({ dir: 'event', preview: 'peer clo', truncated: true });
  });
});
