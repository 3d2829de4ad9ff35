/**
 * The package's subpath exports as a consumer sees them: `fastpath-harness/server`,
 * `/client`, `/queue`, `/ring`, `/harness` and `/protocol` resolve from dist/ at run
 * time, and their types compile in a consumer project (moduleResolution nodenext).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** A consumer project whose node_modules/fastpath-harness is this package. */
function consumer(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-consumer-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'fastpath-harness'));
  symlinkSync(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  return dir;
}

const EXPECTED: Record<string, readonly string[]> = {
  'fastpath-harness/server': ['FastPathServer', 'ServerConfigSchema', 'MessageLedger', 'SignalBook'],
  'fastpath-harness/client': ['FastPathClient', 'FastClient', 'FailoverClient'],
  'fastpath-harness/queue': ['SqliteQueue', 'QueuePoller', 'measureQueue'],
  'fastpath-harness/ring': ['RingProducer', 'RingConsumer', 'createRingPair'],
  'fastpath-harness/harness': ['runConformance', 'resolveTarget', 'runCrash'],
  'fastpath-harness/protocol': ['createFrameDecoder', 'MessageSignalSchema', 'isMessageId'],
  'fastpath-harness': ['createFrameDecoder', 'fpError'],
};

describe('package exports', () => {
  it('every subpath resolves at run time and has its entry points', async () => {
    const dir = consumer();
    const script = `
      const expected = ${JSON.stringify(EXPECTED)};
      const out = {};
      for (const [spec, names] of Object.entries(expected)) {
        const mod = await import(spec);
        out[spec] = names.filter((n) => !(n in mod));
      }
      console.log(JSON.stringify(out));`;
    const r = await execa(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, reject: false });
    expect(r.stderr).toBe('');
    const missing = JSON.parse(r.stdout) as Record<string, string[]>;
    for (const spec of Object.keys(EXPECTED)) expect(missing[spec], spec).toEqual([]);
  });

  it('/server does not load SQLite (a server-only user needs no native queue); /queue does', async () => {
    const dir = consumer();
    const loadsSqlite = async (use: string): Promise<boolean> => {
      const script = `${use}; const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8'); console.log(maps.includes('better_sqlite3.node'));`;
      const r = await execa(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
      return r.stdout.trim() === 'true';
    };
    const server = `const { FastPathServer } = await import('fastpath-harness/server'); new FastPathServer({ socketPath: '${dir}/s.sock', framing: 'ndjson', auth: 'none' })`;
    const queue = `const { SqliteQueue } = await import('fastpath-harness/queue'); new SqliteQueue({ path: '${dir}/q.db' }).close()`;
    expect(await loadsSqlite(server)).toBe(false);
    expect(await loadsSqlite(queue)).toBe(true);
  });

  it('types of every subpath compile in a consumer project', async () => {
    const dir = consumer();
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['use.ts'] }),
    );
    writeFileSync(
      join(dir, 'use.ts'),
      `import { FastPathServer, type ServerConfig } from 'fastpath-harness/server';
import { FailoverClient, type SendOutcome } from 'fastpath-harness/client';
import { SqliteQueue, type QueuedMessage } from 'fastpath-harness/queue';
import { createRingPair } from 'fastpath-harness/ring';
import { runCrash, type CrashResult } from 'fastpath-harness/harness';
import { isMessageId } from 'fastpath-harness/protocol';

const config: ServerConfig = { socketPath: '/tmp/x.sock', framing: 'lp32-json', auth: 'none' };
export const server = new FastPathServer(config);
export async function send(client: FailoverClient): Promise<SendOutcome['status']> {
  return (await client.send({ id: 'a' })).status;
}
export function first(queue: SqliteQueue): QueuedMessage | undefined {
  return queue.dequeue(1)[0];
}
export const lost = (r: CrashResult): number => r.lost;
export const fns = [createRingPair, runCrash, isMessageId];
// @ts-expect-error the queue's dequeue takes a number
export const wrong = (q: SqliteQueue) => q.dequeue('1');
`,
    );
    const r = await execa(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, reject: false });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
