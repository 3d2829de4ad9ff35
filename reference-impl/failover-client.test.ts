import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathClient } from './client.js';
import { FailoverClient, type FailoverClientOptions, type DrainEvent, type SendOutcome } from './failover-client.js';
import { SqliteQueue } from './queue.js';
import { FastPathServer, type ServerConfig } from './server.js';

const SECRET = 'failover-secret';
const MAIN = resolve(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-failover-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function serverConfig(dir: string, extra: Partial<ServerConfig> = {}): ServerConfig {
  return { socketPath: join(dir, 's.sock'), framing: 'lp32-json', auth: 'hmac-v2', secret: SECRET, ledgerFile: join(dir, 'ledger.log'), log: () => undefined, ...extra };
}

function failover(dir: string, extra: Partial<FailoverClientOptions> = {}, onDrain?: (e: DrainEvent) => void): FailoverClient {
  return new FailoverClient(
    { socketPath: join(dir, 's.sock'), framing: 'lp32-json', auth: 'hmac-v2', secret: SECRET, queuePath: join(dir, 'outbox.db'), replyTimeoutMs: 300, ...extra },
    { onDrain },
  );
}

/** Every entry of the server's ledger, through LEDGER requests (§11). */
async function ledgerOf(socketPath: string): Promise<string[]> {
  const client = new FastPathClient({ socketPath, framing: 'lp32-json', auth: 'hmac-v2', secret: SECRET });
  try {
    const entries: string[] = [];
    let from: number | null = 0;
    while (from !== null) {
      const reply = (await client.send({ type: 'LEDGER', from, limit: 10_000 })) as { ledger?: { entries: string[]; next: number | null } };
      if (reply.ledger === undefined) throw new Error(`no ledger in ${JSON.stringify(reply)}`);
      entries.push(...reply.ledger.entries);
      from = reply.ledger.next;
    }
    return entries;
  } finally {
    await client.close();
  }
}

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('FailoverClient', () => {
  it('delivers straight to a running server and queues nothing', async () => {
    const dir = tempDir();
    const server = new FastPathServer(serverConfig(dir));
    await server.start();
    onTestFinished(() => server.stop(0));
    const client = failover(dir);
    onTestFinished(() => client.close());
    client.start();
    const outcome = await client.send({ id: 'm-1', topic: 'candle:complete', payload: { close: 1.5 } });
    expect(outcome).toEqual({ status: 'delivered', id: 'm-1', seq: 0, duplicate: false });
    expect(client.queuedCount).toBe(0);
    expect(client.stats.deliveredDirect).toBe(1);
    expect(await ledgerOf(server.socketPath)).toEqual(['m-1']);
  });

  it('queues while no server listens, then drains in send order once it starts, and goes back to direct sends', async () => {
    const dir = tempDir();
    const drained: DrainEvent[] = [];
    const client = failover(dir, {}, (e) => drained.push(e));
    onTestFinished(() => client.close());
    client.start();
    const sent = ids('down', 200);
    const outcomes = await Promise.all(sent.map((id) => client.send({ id, payload: { id } })));
    expect(outcomes.every((o) => o.status === 'queued')).toBe(true);
    expect(client.queuedCount).toBe(200);
    expect(client.queueing).toBe(true);

    const server = new FastPathServer(serverConfig(dir));
    await server.start();
    onTestFinished(() => server.stop(0));
    expect(await client.flush(10_000)).toBe(true);
    expect(await ledgerOf(server.socketPath)).toEqual(sent);
    expect(drained.map((e) => e.type === 'delivered' && e.id)).toEqual(sent);
    expect(client.queuedCount).toBe(0);
    expect(client.queueing).toBe(false);
    const after = await client.send({ id: 'after' });
    expect(after.status).toBe('delivered');
  });

  it('keeps send order across a server that goes away mid-stream: later messages queue behind earlier ones', async () => {
    const dir = tempDir();
    let server = new FastPathServer(serverConfig(dir));
    await server.start();
    onTestFinished(() => server.stop(0));
    const client = failover(dir);
    onTestFinished(() => client.close());
    client.start();
    const sent = ids('mid', 300);
    const outcomes: Promise<SendOutcome>[] = [];
    for (let i = 0; i < sent.length; i++) {
      outcomes.push(client.send({ id: sent[i]! }));
      if (i === 100) await server.stop(0);
      if (i === 200) {
        server = new FastPathServer(serverConfig(dir));
        await server.start();
      }
      if (i % 10 === 0) await sleep(1);
    }
    const results = await Promise.all(outcomes);
    expect(results.every((o) => o.status === 'delivered' || o.status === 'queued')).toBe(true);
    expect(results.some((o) => o.status === 'queued')).toBe(true);
    expect(await client.flush(10_000)).toBe(true);
    const ledger = await ledgerOf(server.socketPath);
    expect(ledger).toEqual(sent);
  });

  it('queues a message whose reply times out, and its redelivery is answered duplicate: applied exactly once', async () => {
    const dir = tempDir();
    const socketPath = join(dir, 's.sock');
    const child = spawn(process.execPath, [MAIN, 'serve', '--socket', socketPath, '--framing', 'lp32-json', '--auth', 'hmac-v2', '--secret', SECRET, '--ledger', join(dir, 'ledger.log')], { stdio: 'ignore' });
    onTestFinished(() => void child.kill('SIGKILL'));
    await waitForSocket(socketPath);
    const drained: DrainEvent[] = [];
    const client = failover(dir, { replyTimeoutMs: 200 }, (e) => drained.push(e));
    onTestFinished(() => client.close());
    client.start();
    expect((await client.send({ id: 'warm' })).status).toBe('delivered');
    child.kill('SIGSTOP'); // the server reads nothing and answers nothing while stopped
    const outcome = await client.send({ id: 'slow' });
    expect(outcome.status).toBe('queued');
    expect(outcome.status === 'queued' && outcome.why).toMatch(/FP_TIMEOUT/);
    child.kill('SIGCONT');
    expect(await client.flush(10_000)).toBe(true);
    const ledger = await ledgerOf(socketPath);
    expect(ledger.filter((id) => id === 'slow')).toHaveLength(1);
    // The stopped server still read the first send once it continued, so the drainer's copy was a duplicate,
    // or the kernel buffer was dropped with the reset connection and the drainer's copy applied it. Either way: once.
    const slow = drained.find((e) => e.type === 'delivered' && e.id === 'slow');
    expect(slow).toBeDefined();
  });

  it('queues on a transient refusal (MAX_CONNECTIONS_REACHED) and drains when a connection frees up', async () => {
    const dir = tempDir();
    const server = new FastPathServer(serverConfig(dir, { maxConnections: 1 }));
    await server.start();
    onTestFinished(() => server.stop(0));
    const hog = net.createConnection(server.socketPath);
    onTestFinished(() => void hog.destroy());
    await new Promise<void>((r) => hog.once('connect', () => r()));
    await sleep(20);
    const client = failover(dir);
    onTestFinished(() => client.close());
    client.start();
    const outcome = await client.send({ id: 'refused' });
    expect(outcome).toMatchObject({ status: 'queued', id: 'refused' });
    expect(outcome.status === 'queued' && outcome.why).toMatch(/MAX_CONNECTIONS_REACHED|closed/);
    hog.destroy();
    expect(await client.flush(10_000)).toBe(true);
    await client.close(); // frees the one connection for the LEDGER reader
    expect(await ledgerOf(server.socketPath)).toEqual(['refused']);
  });

  it('reports a permanent refusal as rejected and stores nothing', async () => {
    const dir = tempDir();
    const server = new FastPathServer(serverConfig(dir, { secret: 'another-secret' }));
    await server.start();
    onTestFinished(() => server.stop(0));
    const client = failover(dir);
    onTestFinished(() => client.close());
    client.start();
    const outcome = await client.send({ id: 'bad-sig' });
    expect(outcome).toMatchObject({ status: 'rejected', id: 'bad-sig', reason: 'INVALID_SIGNATURE' });
    expect(client.queuedCount).toBe(0);
    expect(client.stats.rejected).toBe(1);
  });

  it('a new client on the same queue file delivers what the previous one left, before anything new', async () => {
    const dir = tempDir();
    const first = failover(dir);
    first.start();
    for (const id of ids('left', 20)) expect((await first.send({ id })).status).toBe('queued');
    await first.close();

    const second = failover(dir);
    onTestFinished(() => second.close());
    expect(second.queuedCount).toBe(20);
    expect(second.queueing).toBe(true);
    second.start();
    expect((await second.send({ id: 'new-0' })).status).toBe('queued');
    const server = new FastPathServer(serverConfig(dir));
    await server.start();
    onTestFinished(() => server.stop(0));
    expect(await second.flush(10_000)).toBe(true);
    expect(await ledgerOf(server.socketPath)).toEqual([...ids('left', 20), 'new-0']);
  });

  it('acks a queued message only after the server replied: a server killed mid-drain loses nothing', async () => {
    const dir = tempDir();
    const socketPath = join(dir, 's.sock');
    const client = failover(dir, { drainBatchSize: 50 });
    onTestFinished(() => client.close());
    client.start();
    const sent = ids('drain', 2_000);
    for (const id of sent) await client.send({ id });
    expect(client.queuedCount).toBe(2_000);
    const args = [MAIN, 'serve', '--socket', socketPath, '--framing', 'lp32-json', '--auth', 'hmac-v2', '--secret', SECRET, '--ledger', join(dir, 'ledger.log')];
    const first = spawn(process.execPath, args, { stdio: 'ignore' });
    onTestFinished(() => void first.kill('SIGKILL'));
    await waitForSocket(socketPath);
    // Kill it while the drainer is busy, then start a new one on the same ledger.
    while (client.queuedCount > 1_500) await sleep(1);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const queuedAtKill = client.queuedCount;
    expect(queuedAtKill).toBeGreaterThan(0);
    const second = spawn(process.execPath, args, { stdio: 'ignore' });
    onTestFinished(() => void second.kill('SIGKILL'));
    await waitForSocket(socketPath);
    expect(await client.flush(20_000)).toBe(true);
    const ledger = await ledgerOf(socketPath);
    expect(ledger).toEqual(sent);
  });

  it('deletes delivered messages from the queue once their retention has passed', async () => {
    const dir = tempDir();
    const client = failover(dir, { queueRetentionMs: 0, cleanupIntervalMs: 20 });
    onTestFinished(() => client.close());
    client.start();
    for (const id of ids('kept', 10)) expect((await client.send({ id })).status).toBe('queued');
    const server = new FastPathServer(serverConfig(dir));
    await server.start();
    onTestFinished(() => server.stop(0));
    expect(await client.flush(10_000)).toBe(true);
    const deadline = Date.now() + 5_000;
    while (client.outbox.stats().done > 0 && Date.now() < deadline) await sleep(10);
    expect(client.outbox.stats()).toMatchObject({ done: 0, pending: 0 });
  });

  it('keeps draining after a queue error (a write lock held past the busy timeout), reporting it', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const client = new FailoverClient(
      { socketPath: join(dir, 's.sock'), framing: 'lp32-json', auth: 'hmac-v2', secret: SECRET, queuePath: join(dir, 'outbox.db'), replyTimeoutMs: 300 },
      { onError: (err) => errors.push(err) },
    );
    onTestFinished(() => client.close());
    client.start();
    for (const id of ids('locked', 5)) expect((await client.send({ id })).status).toBe('queued');
    // Another connection holds the write lock longer than the queue's busy timeout (5 s).
    const Database = (await import('better-sqlite3')).default;
    const other = new Database(join(dir, 'outbox.db'));
    onTestFinished(() => void other.close());
    other.exec('BEGIN IMMEDIATE');
    const server = new FastPathServer(serverConfig(dir));
    await server.start();
    onTestFinished(() => server.stop(0));
    const deadline = Date.now() + 15_000;
    while (errors.length === 0 && Date.now() < deadline) await sleep(20);
    expect(errors[0]).toMatchObject({ code: 'FP_QUEUE_LOCKED' });
    other.exec('COMMIT');
    expect(await client.flush(15_000)).toBe(true);
    expect(await ledgerOf(server.socketPath)).toEqual(ids('locked', 5));
  }, 40_000);

  it('refuses bad options and bad messages at the boundary, naming the problem', async () => {
    const dir = tempDir();
    expect(() => failover(dir, { auth: 'hmac-v2', secret: '' })).toThrow(/needs a non-empty secret/);
    expect(() => failover(dir, { replyTimeoutMs: 0 })).toThrow(/replyTimeoutMs/);
    expect(() => failover(dir, { queuePath: join(dir, 'missing', 'q.db') })).toThrow(expect.objectContaining({ code: 'FP_QUEUE_OPEN' }));
    const client = failover(dir);
    onTestFinished(() => client.close());
    await expect(client.send({ id: '' })).rejects.toMatchObject({ code: 'FP_QUEUE_INVALID' });
    await expect(client.send({ id: 'x'.repeat(129) })).rejects.toThrow(/1-128 characters/);
    await expect(client.send({ id: 'tab\there' })).rejects.toThrow(/control characters/);
    await expect(client.send({ id: 'ok', payload: { big: 10n } })).rejects.toMatchObject({ code: expect.stringMatching(/FP_QUEUE_INVALID|FP_ENCODE/) });
    const queue = new SqliteQueue({ path: join(dir, 'outbox.db') });
    onTestFinished(() => queue.close());
    expect(queue.stats().pending).toBe(0);
  });
});

async function waitForSocket(path: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.createConnection(path);
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    await sleep(10);
  }
  throw new Error(`no server on ${path} within ${timeoutMs} ms`);
}
