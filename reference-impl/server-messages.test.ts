import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  type AuthMode,
  type WireMode,
  LedgerReplySchema,
  MessageAppliedReplySchema,
  StatusReplySchema,
  encodeRequest,
  isFastPathError,
  parseFraming,
} from '../protocol/index.js';
import { RawPeer } from './raw-peer.js';
import { FastPathServer, type ServerConfig } from './server.js';
import { startTestServer, tempSocketPath } from './test-support.js';

/**
 * MESSAGE and LEDGER (docs/SPEC.md §11) over real sockets: in-process servers on a
 * real socket and a real ledger file, and a `fastpath serve --ledger` child process
 * killed with SIGKILL right after it answered.
 */

const SECRET = 'ledger-secret';
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, 'dist', 'cli', 'main.js');

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-msg-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startServer(config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  const server = await startTestServer({ auth: 'none', secret: SECRET }, config);
  onTestFinished(() => server.stop(0));
  return server;
}

async function connect(server: FastPathServer): Promise<RawPeer> {
  const peer = await RawPeer.connect(server.socketPath, server.config.framing);
  onTestFinished(() => peer.destroy());
  return peer;
}

const modeOf = (server: FastPathServer): WireMode => ({ framing: server.config.framing, auth: server.config.auth, secret: SECRET });
const message = (message_id: string, extra: Record<string, unknown> = {}) => ({ type: 'MESSAGE', message_id, ...extra });
const ledgerRequest = (extra: Record<string, unknown> = {}) => ({ type: 'LEDGER', ...extra });

function send(peer: RawPeer, server: FastPathServer, signal: unknown, id?: string | number): void {
  peer.write(encodeRequest(modeOf(server), signal, { id }));
}

async function ask(peer: RawPeer, server: FastPathServer, signal: unknown, id?: string | number): Promise<Record<string, unknown>> {
  send(peer, server, signal, id);
  return peer.reply();
}

describe('MESSAGE and LEDGER (§11)', () => {
  const combos: ReadonlyArray<readonly [string, AuthMode]> = [
    ['ndjson', 'none'],
    ['lp32-json', 'hmac-json'],
    ['lp32-msgpack', 'hmac-v2'],
  ];
  it.each(combos)('%s with %s: applies once, answers a duplicate with the original seq, and lists the ledger', async (framing, auth) => {
    const server = await startServer({ framing, auth });
    const peer = await connect(server);
    const first = await ask(peer, server, message('m-1', { topic: 'orders', payload: { n: 1, tags: ['a'] } }), 1);
    expect(MessageAppliedReplySchema.parse(first)).toMatchObject({ id: 1, accepted: true, message_id: 'm-1', state: 'APPLIED', seq: 0 });
    expect(first).not.toHaveProperty('duplicate');
    expect(typeof first.ipc_latency_ms).toBe('number');
    expect(await ask(peer, server, message('m-2'), 2)).toMatchObject({ accepted: true, message_id: 'm-2', seq: 1 });
    const dup = await ask(peer, server, message('m-1', { payload: 'different payload' }), 3);
    expect(dup).toMatchObject({ id: 3, accepted: true, message_id: 'm-1', state: 'APPLIED', seq: 0, duplicate: true });
    const page = LedgerReplySchema.parse(await ask(peer, server, ledgerRequest(), 4));
    expect(page.ledger).toEqual({ from: 0, entries: ['m-1', 'm-2'], next: null, total: 2 });
  });

  it('deduplicates across connections', async () => {
    const server = await startServer();
    const a = await connect(server);
    const b = await connect(server);
    expect(await ask(a, server, message('shared'))).toMatchObject({ seq: 0 });
    expect(await ask(b, server, message('shared'))).toMatchObject({ seq: 0, duplicate: true });
    expect(server.getStatus().metrics).toMatchObject({ messagesApplied: 1, messagesDeduplicated: 1 });
  });

  it('applies pipelined MESSAGEs in request order, a delayed one included, and answers in order (§11.2.5)', async () => {
    const server = await startServer();
    const peer = await connect(server);
    const frames = [
      encodeRequest(modeOf(server), message('p-0', { delay_ms: 150 }), { id: 0 }),
      ...[1, 2, 3, 4].map((i) => encodeRequest(modeOf(server), message(`p-${i}`), { id: i })),
    ];
    const t0 = Date.now();
    peer.write(Buffer.concat(frames));
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await peer.reply());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(replies.map((r) => [r.id, r.message_id, r.seq])).toEqual([0, 1, 2, 3, 4].map((i) => [i, `p-${i}`, i]));
  });

  it('pages the ledger with from, limit, next and total (§11.3)', async () => {
    const server = await startServer();
    const peer = await connect(server);
    for (let i = 0; i < 5; i++) send(peer, server, message(`q-${i}`));
    for (let i = 0; i < 5; i++) await peer.reply();
    expect((await ask(peer, server, ledgerRequest({ from: 1, limit: 2 }))).ledger).toEqual({ from: 1, entries: ['q-1', 'q-2'], next: 3, total: 5 });
    expect((await ask(peer, server, ledgerRequest({ from: 3, limit: 2 }))).ledger).toEqual({ from: 3, entries: ['q-3', 'q-4'], next: null, total: 5 });
    expect((await ask(peer, server, ledgerRequest({ from: 5 }))).ledger).toEqual({ from: 5, entries: [], next: null, total: 5 });
    expect((await ask(peer, server, ledgerRequest({ limit: 10_000 }))).ledger).toMatchObject({ from: 0, next: null, total: 5 });
  });

  it('rejects invalid MESSAGEs and LEDGER arguments with INVALID_SIGNAL and applies nothing (§11.1.3)', async () => {
    const server = await startServer();
    const peer = await connect(server);
    const bad = [
      message(''),
      message('x'.repeat(129)),
      message('line\nbreak'),
      message('lone\ud800'),
      message('ok', { topic: '' }),
      ledgerRequest({ limit: 0 }),
      ledgerRequest({ limit: 10_001 }),
      ledgerRequest({ from: -1 }),
      ledgerRequest({ from: 0.5 }),
    ];
    for (const [i, signal] of bad.entries()) {
      expect(await ask(peer, server, signal, i), JSON.stringify(signal)).toMatchObject({ id: i, rejected: true, reason: 'INVALID_SIGNAL' });
    }
    expect((await ask(peer, server, ledgerRequest())).ledger).toMatchObject({ entries: [], total: 0 });
    expect(await ask(peer, server, message('x'.repeat(128)))).toMatchObject({ accepted: true, seq: 0 });
  });

  it('refuses new MESSAGEs with RATE_LIMITED when the ledger is full, still answering duplicates (§11.2.8)', async () => {
    const server = await startServer({ maxLedgerEntries: 2 });
    const peer = await connect(server);
    await ask(peer, server, message('f-0'));
    await ask(peer, server, message('f-1'));
    const refused = await ask(peer, server, message('f-2'), 'full');
    expect(refused).toMatchObject({ id: 'full', rejected: true, reason: 'RATE_LIMITED' });
    expect(refused.error).toMatch(/ledger is full \(2 entries\)/);
    expect(await ask(peer, server, message('f-1'))).toMatchObject({ accepted: true, seq: 1, duplicate: true });
  });

  it('counts messagesApplied and messagesDeduplicated in STATUS (§11.5)', async () => {
    const server = await startServer();
    const peer = await connect(server);
    for (const id of ['s-1', 's-2', 's-1', 's-1']) await ask(peer, server, message(id));
    const status = StatusReplySchema.parse(await ask(peer, server, { type: 'STATUS' }));
    expect(status.status.metrics).toMatchObject({ messagesApplied: 2, messagesDeduplicated: 2, messagesProcessed: 4 });
    server.resetMetrics();
    expect(server.getStatus().metrics).toMatchObject({ messagesApplied: 0, messagesDeduplicated: 0 });
  });

  it('keeps dedup across a stop and a new server on the same ledger file; without a file it does not', async () => {
    const file = join(tempDir(), 'ledger.log');
    const socketPath = tempSocketPath();
    const first = await startServer({ socketPath, ledgerFile: file });
    const p1 = await connect(first);
    expect(await ask(p1, first, message('keep-0'))).toMatchObject({ seq: 0 });
    expect(await ask(p1, first, message('keep-1'))).toMatchObject({ seq: 1 });
    p1.destroy();
    await first.stop(1_000);
    expect(readFileSync(file, 'utf8')).toBe('keep-0\nkeep-1\n');

    const second = await startServer({ socketPath, ledgerFile: file });
    const p2 = await connect(second);
    expect(await ask(p2, second, message('keep-1'))).toMatchObject({ accepted: true, seq: 1, duplicate: true });
    expect(await ask(p2, second, message('keep-2'))).toMatchObject({ seq: 2 });
    expect((await ask(p2, second, ledgerRequest())).ledger).toEqual({ from: 0, entries: ['keep-0', 'keep-1', 'keep-2'], next: null, total: 3 });
    p2.destroy();
    await second.stop(1_000);

    const memoryOnly = await startServer({ socketPath });
    const p3 = await connect(memoryOnly);
    expect(await ask(p3, memoryOnly, message('keep-1'))).toMatchObject({ accepted: true, seq: 0 });
  });

  it('discards a torn last line of the ledger file at start and says so in the log', async () => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, 'done\nhal');
    const lines: string[] = [];
    const server = await startServer({ ledgerFile: file, log: (line) => lines.push(line) });
    const peer = await connect(server);
    expect(await ask(peer, server, message('hal'))).toMatchObject({ accepted: true, seq: 1 });
    expect(lines.join('\n')).toMatch(/discarded a torn last line/);
    expect(readFileSync(file, 'utf8')).toBe('done\nhal\n');
  });

  it('refuses to start with an unusable ledger path, naming it, and leaves no socket file', async () => {
    const socketPath = tempSocketPath();
    const missing = join(tempDir(), 'missing', 'ledger.log');
    const server = new FastPathServer({ socketPath, framing: 'ndjson', auth: 'none', ledgerFile: missing });
    const err = await server.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFastPathError(err) && err.code).toBe('FP_LEDGER_INVALID');
    expect((err as Error).message).toMatch(/directory .*missing does not exist/);
    expect(existsSync(socketPath)).toBe(false);
    await server.stop(0);
  });
});

/** Builds dist/ when missing (the child process runs the compiled CLI). */
function ensureCliBuilt(): void {
  if (existsSync(cli)) return;
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npx tsc -p tsconfig.json`);
}

/** Starts `fastpath serve --ledger FILE` and waits for its ready line. */
async function serveChild(socketPath: string, ledgerFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'serve', '--socket', socketPath, '--framing', 'ndjson', '--auth', 'none', '--ledger', ledgerFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fastpath serve not ready within 10 s; stderr: ${err}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fastpath serve exited with ${String(code)} before it was ready; stderr: ${err}`));
    });
  });
  return child;
}

describe('a fastpath serve --ledger process killed with SIGKILL (§11.2.6)', () => {
  beforeAll(ensureCliBuilt, 120_000);

  it('keeps every acknowledged message: after a restart the same ids are duplicates at the same seqs', async () => {
    const dir = tempDir();
    const socketPath = join(dir, 's.sock');
    const ledgerFile = join(dir, 'ledger.log');
    const framing = parseFraming('ndjson');
    const mode: WireMode = { framing, auth: 'none', secret: '' };

    const first = await serveChild(socketPath, ledgerFile);
    const peer = await RawPeer.connect(socketPath, framing);
    onTestFinished(() => peer.destroy());
    const ids = Array.from({ length: 20 }, (_, i) => `crash-${i}`);
    peer.write(Buffer.concat(ids.map((id) => encodeRequest(mode, message(id)))));
    const seqs: unknown[] = [];
    for (let i = 0; i < ids.length; i++) seqs.push((await peer.reply()).seq);
    // Killed the moment the last reply arrived: nothing had time to flush anything further.
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect(seqs).toEqual(ids.map((_, i) => i));

    await serveChild(socketPath, ledgerFile); // over the stale socket file the kill left
    const again = await RawPeer.connect(socketPath, framing);
    onTestFinished(() => again.destroy());
    again.write(encodeRequest(mode, message('crash-19')));
    expect(await again.reply()).toMatchObject({ accepted: true, message_id: 'crash-19', state: 'APPLIED', seq: 19, duplicate: true });
    again.write(encodeRequest(mode, message('after-crash')));
    expect(await again.reply()).toMatchObject({ accepted: true, seq: 20 });
    again.write(encodeRequest(mode, ledgerRequest()));
    expect((await again.reply()).ledger).toEqual({ from: 0, entries: [...ids, 'after-crash'], next: null, total: 21 });
  });
});
