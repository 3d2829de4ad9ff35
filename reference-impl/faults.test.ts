import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type WireMode, encodeRequest, parseFraming, signEnvelope } from '../protocol/index.js';
import { FAULT_NAMES, type Fault } from './faults.js';
import { RawPeer } from './raw-peer.js';
import { FastPathServer, type ServerConfig } from './server.js';

/**
 * Each test-only fault shows its one violation (fixtures/broken/README.md).
 * The suite's self-test checks that the conformance cases flag them; these tests
 * only check that the fault is really there.
 */

const SECRET = 'fault-secret';

function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-fault-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 's.sock');
}

async function startFaulty(fault: Fault, config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  const server = new FastPathServer({ socketPath: socketPath(), framing: 'ndjson', auth: 'none', secret: SECRET, faults: [fault], ...config });
  await server.start();
  return server;
}

const modeOf = (server: FastPathServer): WireMode => ({ framing: server.config.framing, auth: server.config.auth, secret: SECRET });
const prepare = (signal_id: string, extra: Record<string, unknown> = {}) => ({ type: 'PREPARE', signal_id, symbol: 'BTCUSDT', side: 'Buy', qty: 1, ...extra });

describe('test-only faults (each one observable violation)', () => {
  it('lists twelve faults', () => {
    expect(FAULT_NAMES).toHaveLength(12);
  });

  it('signature-prefix accepts characters after the 64 hex digits (breaks §4.5)', async () => {
    const server = await startFaulty('signature-prefix', { auth: 'hmac-json' });
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    const env = signEnvelope('hmac-json', SECRET, prepare('a'), { id: 1 });
    peer.sendValue({ ...env, signature: `${env.signature as string}zz` });
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
  });

  it('unordered-replies writes a quick reply before an earlier delayed one (breaks §5.2)', async () => {
    const server = await startFaulty('unordered-replies');
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    peer.write(Buffer.concat([encodeRequest(modeOf(server), prepare('a', { delay_ms: 100 }), { id: 1 }), encodeRequest(modeOf(server), prepare('b'), { id: 2 })]));
    expect((await peer.reply()).id).toBe(2);
    expect((await peer.reply()).id).toBe(1);
  });

  it('no-max-frame buffers a frame above maxFrameBytes and answers it normally (breaks §3.1.1)', async () => {
    const server = await startFaulty('no-max-frame', { framing: parseFraming('ndjson', 64) });
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    peer.sendValue({ id: 1, signal: prepare('x'.repeat(100)) });
    expect(await peer.reply()).toMatchObject({ id: 1, accepted: true });
  });

  it('silent-connection-limit closes the extra connection without a reply (breaks §7.1)', async () => {
    const server = await startFaulty('silent-connection-limit', { maxConnections: 1 });
    onTestFinished(() => server.stop(0));
    const first = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => first.destroy());
    const extra = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => extra.destroy());
    expect(await extra.next()).toEqual({ type: 'closed' });
    expect(extra.receivedBytes.length).toBe(0);
  });

  it('no-replay-check accepts a repeated hmac-v2 nonce (breaks §4.4.3)', async () => {
    const server = await startFaulty('no-replay-check', { auth: 'hmac-v2' });
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    const frame = encodeRequest(modeOf(server), { type: 'STATUS' }, { id: 1, nonce: 'same-nonce-1' });
    peer.write(Buffer.concat([frame, frame]));
    expect(await peer.reply()).toMatchObject({ accepted: true });
    expect(await peer.reply()).toMatchObject({ accepted: true });
  });

  it('keeps-socket-file leaves a stale socket file behind after stop (breaks §7.4)', async () => {
    const server = await startFaulty('keeps-socket-file');
    onTestFinished(() => server.stop(0));
    await server.stop(100);
    expect(statSync(server.socketPath).isSocket()).toBe(true);
    const err = await RawPeer.connect(server.socketPath, server.config.framing).then(
      (p) => p.destroy(),
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(err).toBe('ECONNREFUSED');
  });

  it('drops-in-flight closes connections on stop without answering in-flight requests (breaks §7.4.2)', async () => {
    const server = await startFaulty('drops-in-flight');
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    peer.write(encodeRequest(modeOf(server), prepare('a', { delay_ms: 100 }), { id: 1 }));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await server.stop(2_000);
    expect(await peer.next()).toEqual({ type: 'closed' });
    expect(existsSync(server.socketPath)).toBe(false);
  });

  it('unframed-close-reply writes FRAME_TOO_LARGE without its newline (breaks §5.6 / §3.2)', async () => {
    const server = await startFaulty('unframed-close-reply', { framing: parseFraming('ndjson', 64) });
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    peer.write('x'.repeat(100));
    expect(await peer.next()).toEqual({ type: 'closed' });
    const bytes = peer.receivedBytes.toString('utf8');
    expect(JSON.parse(bytes)).toMatchObject({ rejected: true, reason: 'FRAME_TOO_LARGE' });
    expect(bytes.endsWith('\n')).toBe(false);
  });

  it('unframed-close-reply writes MAX_CONNECTIONS_REACHED without its length prefix in lp32-json', async () => {
    const server = await startFaulty('unframed-close-reply', { framing: 'lp32-json', maxConnections: 1 });
    onTestFinished(() => server.stop(0));
    const first = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => first.destroy());
    const extra = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => extra.destroy());
    await extra.waitClosed();
    expect(JSON.parse(extra.receivedBytes.toString('utf8'))).toMatchObject({ reason: 'MAX_CONNECTIONS_REACHED' });
  });

  it('confirm-twice executes a retried CONFIRM again with a new orderId and no duplicate flag (breaks §6.3.1)', async () => {
    const server = await startFaulty('confirm-twice');
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    const mode = modeOf(server);
    peer.write(Buffer.concat([encodeRequest(mode, prepare('a')), encodeRequest(mode, { type: 'CONFIRM', signal_id: 'a' }), encodeRequest(mode, { type: 'CONFIRM', signal_id: 'a' })]));
    await peer.reply();
    const first = await peer.reply();
    const second = await peer.reply();
    expect(second).toMatchObject({ accepted: true, state: 'CONFIRMED' });
    expect(second).not.toHaveProperty('duplicate');
    expect(second.orderId).not.toBe(first.orderId);
    expect(server.getStatus().metrics.ordersExecuted).toBe(2);
  });

  it('world-writable-socket creates the socket with mode 0666 (breaks §2.2)', async () => {
    const server = await startFaulty('world-writable-socket');
    onTestFinished(() => server.stop(0));
    expect(statSync(server.socketPath).mode & 0o777).toBe(0o666);
  });

  it('volatile-ledger ignores the ledger file, so a restarted server applies a message again (breaks §11.2.6)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-fault-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const ledgerFile = join(dir, 'ledger.log');
    const path = socketPath();
    const ask = async (server: FastPathServer): Promise<Record<string, unknown>> => {
      const peer = await RawPeer.connect(server.socketPath, server.config.framing);
      try {
        peer.write(encodeRequest(modeOf(server), { type: 'MESSAGE', message_id: 'once' }));
        return await peer.reply();
      } finally {
        peer.destroy();
      }
    };
    const first = await startFaulty('volatile-ledger', { socketPath: path, ledgerFile });
    expect(await ask(first)).toMatchObject({ accepted: true, seq: 0 });
    expect(await ask(first)).toMatchObject({ accepted: true, seq: 0, duplicate: true });
    await first.stop(1_000);
    expect(existsSync(ledgerFile)).toBe(false);
    const second = await startFaulty('volatile-ledger', { socketPath: path, ledgerFile });
    onTestFinished(() => second.stop(0));
    const again = await ask(second);
    expect(again).toMatchObject({ accepted: true, seq: 0 });
    expect(again).not.toHaveProperty('duplicate');
  });

  it('applies-duplicates appends a redelivered message to the ledger again and answers it as new (breaks §11.2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-fault-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const ledgerFile = join(dir, 'ledger.log');
    const server = await startFaulty('applies-duplicates', { ledgerFile });
    onTestFinished(() => server.stop(0));
    const peer = await RawPeer.connect(server.socketPath, server.config.framing);
    onTestFinished(() => peer.destroy());
    peer.write(encodeRequest(modeOf(server), { type: 'MESSAGE', message_id: 'twice' }));
    expect(await peer.reply()).toMatchObject({ accepted: true, seq: 0 });
    peer.write(encodeRequest(modeOf(server), { type: 'MESSAGE', message_id: 'twice' }));
    const again = await peer.reply();
    expect(again).toMatchObject({ accepted: true, seq: 1 });
    expect(again).not.toHaveProperty('duplicate');
    expect(readFileSync(ledgerFile, 'utf8')).toBe('twice\ntwice\n');
  });
});
