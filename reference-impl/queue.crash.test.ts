import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { seededRandom } from '../ring/test-records.js';
import { SqliteQueue, type QueueSynchronous } from './queue.js';
import { ensureQueueDistBuilt } from './test-support.js';

/**
 * Crash safety of the queue: a child process enqueues as fast as it can (single
 * enqueues and small batches, payloads of 0 B to 64 KiB, synchronous full in half the
 * runs and normal in the other half) and prints each id after its enqueue returned;
 * the test kills it with SIGKILL at a random moment, then opens the file: the
 * integrity check passes and every id the child reported is there, readable and
 * whole. Real processes, real files, no mocks.
 *
 * The kill delays come from one seed, printed at the start; `FASTPATH_CRASH_SEED=<seed>`
 * replays it (timing aside), and `FASTPATH_CRASH_ITERATIONS` changes the number of
 * kills (default 50).
 */

const HELPER = fileURLToPath(new URL('./queue-child.test-helper.mjs', import.meta.url));
/** Longest time the child writes after its first committed line before it is killed. */
const MAX_KILL_DELAY_MS = 150;


beforeAll(ensureQueueDistBuilt, 120_000);

interface EnqueueChild {
  readonly proc: ChildProcess;
  /** Ids from complete lines (each printed after its transaction committed). */
  readonly committed: string[];
  /** Resolves at the first committed line; rejects if the child exits before. */
  readonly firstLine: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startEnqueueChild(path: string, synchronous: QueueSynchronous, seed: number): EnqueueChild {
  const proc = spawn(process.execPath, [HELPER, 'enqueue', path, synchronous, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const committed: string[] = [];
  let partial = '';
  let stderr = '';
  let onLine: (() => void) | undefined;
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!; // a line cut by the kill was not reported: its ids do not count
    for (const line of lines) if (line.length > 0) committed.push(...line.split(' '));
    if (committed.length > 0) onLine?.();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  const firstLine = new Promise<void>((resolve, reject) => {
    onLine = resolve;
    void exited.then((r) => reject(new Error(`queue child exited (code ${String(r.code)}, signal ${String(r.signal)}) before committing anything: ${r.stderr}`)));
  });
  firstLine.catch(() => undefined);
  return { proc, committed, firstLine, exited };
}

/** What the child's payload of `id` must be (see queue-child.test-helper.mjs). */
function payloadProblem(id: string, payload: unknown): string | undefined {
  const p = payload as { id?: unknown; size?: unknown; pad?: unknown };
  if (p?.id !== id) return `payload id ${String(p?.id)}`;
  if (typeof p.size !== 'number' || typeof p.pad !== 'string') return 'payload without size or pad';
  if (p.pad !== String.fromCharCode(97 + (p.size % 26)).repeat(p.size)) return `pad of ${p.pad.length} characters does not match size ${p.size}`;
  return undefined;
}

interface KillRun {
  readonly committed: number;
  readonly found: number;
}

async function killAndCheck(dir: string, run: number, synchronous: QueueSynchronous, childSeed: number, delayMs: number, label: string): Promise<KillRun> {
  const path = join(dir, `q${run}.db`);
  const child = startEnqueueChild(path, synchronous, childSeed);
  onTestFinished(() => void child.proc.kill('SIGKILL'));
  await child.firstLine;
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  child.proc.kill('SIGKILL');
  const exit = await child.exited; // stdout fully read, process reaped
  expect(exit.signal, `${label}: ${exit.stderr}`).toBe('SIGKILL');
  const committed = [...child.committed];

  // The file as the crash left it (hot WAL included): consistent.
  const raw = new Database(path);
  try {
    expect(raw.pragma('integrity_check', { simple: true }), label).toBe('ok');
  } finally {
    raw.close();
  }

  // Every reported id is there and reads back whole; nothing is corrupt.
  const queue = new SqliteQueue({ path, synchronous });
  try {
    const pending = queue.pendingIds();
    const present = new Set(pending);
    const missing = committed.filter((id) => !present.has(id));
    expect(missing, `${label}: committed ids missing after the kill`).toEqual([]);
    let found = 0;
    for (;;) {
      const batch = queue.dequeue(500);
      if (batch.length === 0) break;
      for (const m of batch) {
        const problem = payloadProblem(m.id, m.payload);
        if (problem !== undefined) expect.fail(`${label}: message ${m.id}: ${problem}`);
      }
      found += batch.length;
      queue.ackMany(batch);
    }
    expect(queue.deadLetters(), `${label}: rows dead-lettered as corrupt`).toEqual([]);
    expect(found, label).toBe(pending.length);
    expect(found, label).toBeGreaterThanOrEqual(committed.length);
    return { committed: committed.length, found };
  } finally {
    queue.close();
  }
}

describe('a producer killed with SIGKILL while enqueueing', () => {
  it('leaves a database that passes integrity_check and holds every message whose enqueue returned (50 random kills)', async () => {
    const seed = Number(process.env.FASTPATH_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32));
    const iterations = Number(process.env.FASTPATH_CRASH_ITERATIONS ?? 50);
    console.log(`queue crash test: seed ${seed}, ${iterations} kills (replay with FASTPATH_CRASH_SEED=${seed})`);
    const rand = seededRandom(seed);
    const dir = mkdtempSync(join(tmpdir(), 'fp-queue-crash-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const started = performance.now();
    let committed = 0;
    let uncounted = 0;
    for (let i = 0; i < iterations; i++) {
      const synchronous: QueueSynchronous = i % 2 === 0 ? 'full' : 'normal';
      const childSeed = 1 + Math.floor(rand() * (2 ** 31 - 2));
      const delayMs = rand() * MAX_KILL_DELAY_MS;
      const label = `kill ${i + 1} (seed ${seed}, child seed ${childSeed}, delay ${delayMs.toFixed(1)} ms, synchronous ${synchronous})`;
      const run = await killAndCheck(dir, i, synchronous, childSeed, delayMs, label);
      committed += run.committed;
      uncounted += run.found - run.committed;
    }
    console.log(
      `queue crash test: ${iterations} kills in ${((performance.now() - started) / 1000).toFixed(1)} s; ${committed} reported ids all found; ` +
        `${uncounted} more messages were committed but not yet reported when the kill landed`,
    );
  }, 120_000);
});
