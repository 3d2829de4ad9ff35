import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteQueue } from '../reference-impl/queue.js';
import { median } from './queue.js';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');

function run(args: string[]) {
  return execa(process.execPath, [cli, ...args], { cwd: root, reject: false, timeout: 120_000 });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-queue-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('fastpath queue', () => {
  it('inspect shows counts by state and the dead letters with their reasons', async () => {
    const dir = tempDir();
    const path = join(dir, 'outbox.db');
    const q = new SqliteQueue({ path, maxAttempts: 1 });
    q.enqueueBatch([1, 2, 3].map((i) => ({ id: `m${i}`, producer: 'p', type: 't', payload: { i } })));
    const [first] = q.dequeue(1);
    expect(q.nack(first!.id, first!.claimId, 'server said no')).toBe('dead');
    q.close();
    const r = await run(['queue', 'inspect', path]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/: 2 pending, 0 leased, oldest pending [\d.]+ s old, 0 done, 1 dead/);
    expect(r.stdout).toMatch(/dead #1 m1 \(producer p, 1 attempts\): .*server said no/);
    const json = await run(['queue', 'inspect', path, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ stats: { pending: 2, dead: 1 }, deadLetters: [{ id: 'm1' }] });
  });

  it('inspect refuses a missing file and a file that is not a queue, exit 2', async () => {
    const dir = tempDir();
    const missing = await run(['queue', 'inspect', join(dir, 'nope.db')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/does not exist: give the path of a queue file/);
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a database\n'.repeat(100));
    const notQueue = await run(['queue', 'inspect', text]);
    expect(notQueue.exitCode).toBe(2);
    expect(notQueue.stderr).toMatch(/not a (SQLite )?database/i);
  });

  it('bench measures both synchronous settings and a drain into the reference server, with verdicts against the targets', async () => {
    const dir = tempDir();
    const r = await run(['queue', 'bench', '--dir', dir, '--messages', '2000', '--drain-messages', '2000', '--runs', '1', '--json']);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, Record<string, Record<string, number>>>;
    for (const side of ['normal', 'full']) {
      for (const phase of ['batchedEnqueue', 'singleEnqueue', 'dequeueAck']) expect(report[side]![phase]!.medianPerSec).toBeGreaterThan(0);
    }
    expect((report.drain as unknown as Record<string, Record<string, number>>).none!.medianPerSec).toBeGreaterThan(0);
    expect((report.drain as unknown as Record<string, Record<string, number>>).hmacV2!.medianPerSec).toBeGreaterThan(0);
    expect(Object.keys(report.met!)).toEqual(['batchedEnqueueNormal', 'singleEnqueueFull', 'drainNoAuth', 'drainHmacV2']);
    const text = await run(['queue', 'bench', '--dir', dir, '--messages', '1000', '--drain-messages', '1000', '--runs', '1']);
    expect(text.stdout).toMatch(/single durable enqueue, full: (met|NOT MET) \(target ≥ 2,000\/s\)/);
    expect(text.stdout).toMatch(/drain, auth hmac-v2 +[\d,]+\/s/);
    expect(text.stdout).toMatch(/drain into the reference server, auth none: (met|NOT MET)/);
  });

  it('bench refuses bad flags with one line, exit 2', async () => {
    const r = await run(['queue', 'bench', '--runs', '0']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--runs must be a whole number from 1 to 100/);
    const d = await run(['queue', 'bench', '--dir', '/no/such/dir']);
    expect(d.exitCode).toBe(2);
    expect(d.stderr).toMatch(/--dir \/no\/such\/dir does not exist/);
  });

  it('median takes the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
