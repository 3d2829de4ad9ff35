import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/errors.js';
import { measureQueue } from './queue-bench.js';
import { ensureQueueDistBuilt } from './test-support.js';
import { QUEUE_APPLICATION_ID, QUEUE_SCHEMA_VERSION, SqliteQueue, type QueueOptions } from './queue.js';

/**
 * The durable queue on real SQLite files in a temp dir: opening and its errors,
 * input validation, idempotency, leases, retries, ordering, retention, corrupt rows,
 * the durability pragmas. The time-dependent rules run on an injected clock.
 */

const HELPER = fileURLToPath(new URL('./queue-child.test-helper.mjs', import.meta.url));
const IS_ROOT = process.getuid?.() === 0;
/** The unprivileged user the read-only cases run as when the tests run as root (root ignores file modes). */
const NOBODY = 65534;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-queue-'));
  onTestFinished(() => {
    chmodSync(dir, 0o755);
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) chmodSync(p, 0o755);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A test clock in ms. */
function testClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void; readonly t: number } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => void (t += ms),
    get t() {
      return t;
    },
  };
}

/** A queue on a fresh file (closed at the end of the test). */
function openQueue(options: Partial<QueueOptions> = {}, dir = tempDir()): SqliteQueue {
  const queue = new SqliteQueue({ path: join(dir, 'q.db'), ...options });
  onTestFinished(() => queue.close());
  return queue;
}

/** A second connection to the same file, like another process would have (closed at the end of the test). */
function rawConnection(path: string): Database.Database {
  const db = new Database(path);
  onTestFinished(() => db.close());
  return db;
}

function errorOf(fn: () => unknown): FastPathError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected a FastPathError, nothing was thrown');
}

const msg = (id: string, producer = 'p', payload: unknown = { id }) => ({ id, producer, type: 'test', payload });


beforeAll(ensureQueueDistBuilt, 120_000);

describe('opening a queue file', () => {
  it('creates the file in WAL mode with the schema version and application id, and reads FULL back by default', () => {
    const queue = openQueue();
    expect(queue.sqliteSettings()).toMatchObject({ journalMode: 'wal', synchronous: 'FULL', busyTimeoutMs: 5000, schemaVersion: QUEUE_SCHEMA_VERSION });
    const db = rawConnection(queue.path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('application_id', { simple: true })).toBe(QUEUE_APPLICATION_ID);
    expect(db.pragma('user_version', { simple: true })).toBe(QUEUE_SCHEMA_VERSION);
  });

  it('applies synchronous normal as PRAGMA synchronous=NORMAL and full as FULL on its connection', () => {
    const dir = tempDir();
    const normal = openQueue({ synchronous: 'normal', busyTimeoutMs: 250 }, dir);
    expect(normal.synchronous).toBe('normal');
    expect(normal.sqliteSettings()).toMatchObject({ synchronous: 'NORMAL', busyTimeoutMs: 250 });
    normal.close();
    const full = openQueue({ synchronous: 'full' }, dir);
    expect(full.sqliteSettings().synchronous).toBe('FULL');
  });

  it('finds the pending messages of a closed queue intact when the file is reopened, leases and attempts included', () => {
    const dir = tempDir();
    const clock = testClock();
    const first = openQueue({ now: clock.now, leaseMs: 1000 }, dir);
    first.enqueue(msg('a', 'p', { deep: { list: [1, 'two', null, true] } }));
    first.enqueue({ id: 'b', producer: 'q', type: 'kind-b', payload: 'text', timestampMs: 42.5 });
    first.enqueue(msg('c', 'r'));
    const [claimA] = first.dequeue(1);
    expect(first.dequeue(1, { producer: 'r' })[0]!.id).toBe('c'); // left leased
    first.close();

    const again = openQueue({ now: clock.now, leaseMs: 1000 }, dir);
    expect(again.pendingIds()).toEqual(['a', 'b', 'c']);
    expect(again.stats()).toMatchObject({ pending: 1, leased: 2, done: 0, dead: 0 });
    expect(claimA!.payload).toEqual({ deep: { list: [1, 'two', null, true] } });
    expect(again.ack('a', claimA!.claimId)).toBe('acked'); // the claim survived the reopen
    expect(again.dequeue(10)).toEqual([
      expect.objectContaining({ id: 'b', producer: 'q', type: 'kind-b', payload: 'text', timestampMs: 42.5, enqueuedAtMs: 1_000_000, attempts: 1 }),
    ]);
    clock.advance(1000);
    expect(again.dequeue(10, { producer: 'r' })).toEqual([expect.objectContaining({ id: 'c', attempts: 2, payload: { id: 'c' } })]);
  });

  it('refuses a path whose directory does not exist with FP_QUEUE_OPEN saying to create it', () => {
    const dir = tempDir();
    const err = errorOf(() => new SqliteQueue({ path: join(dir, 'missing', 'q.db') }));
    expect(err.code).toBe('FP_QUEUE_OPEN');
    expect(err.message).toContain(`directory ${join(dir, 'missing')} does not exist`);
    expect(err.message).toContain('mkdir -p');
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('refuses a path that is a directory with FP_QUEUE_OPEN', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'q.db'));
    const err = errorOf(() => new SqliteQueue({ path: join(dir, 'q.db') }));
    expect(err.code).toBe('FP_QUEUE_OPEN');
    expect(err.message).toMatch(/the path is a directory; give the path of a file/);
  });

  it('refuses a file that is not a SQLite database with FP_QUEUE_OPEN quoting SQLite', () => {
    const dir = tempDir();
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'these are my notes, not a database\n'.repeat(200));
    const err = errorOf(() => new SqliteQueue({ path }));
    expect(err.code).toBe('FP_QUEUE_OPEN');
    expect(err.message).toMatch(/is not a SQLite database \(file is not a database\)/);
    expect(err.details).toMatchObject({ sqliteCode: 'SQLITE_NOTADB' });
  });

  it('refuses the database of another application with FP_QUEUE_OPEN and leaves it untouched', () => {
    const dir = tempDir();
    const path = join(dir, 'app.db');
    const db = new Database(path);
    db.exec('CREATE TABLE users (name TEXT)');
    db.close();
    const err = errorOf(() => new SqliteQueue({ path }));
    expect(err.code).toBe('FP_QUEUE_OPEN');
    expect(err.message).toMatch(/a SQLite database but not a queue \(tables: users\)/);
    const check = rawConnection(path);
    expect(check.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all()).toEqual(['users']);
  });

  it('refuses a queue written by a newer schema version with FP_QUEUE_OPEN explaining', () => {
    const queue = openQueue();
    queue.close();
    const db = new Database(queue.path);
    db.pragma(`user_version = ${QUEUE_SCHEMA_VERSION + 1}`);
    db.close();
    const err = errorOf(() => new SqliteQueue({ path: queue.path }));
    expect(err.code).toBe('FP_QUEUE_OPEN');
    expect(err.message).toContain(`created by a newer fastpath (schema version ${QUEUE_SCHEMA_VERSION + 1}; this version knows up to ${QUEUE_SCHEMA_VERSION})`);
  });

  it('rejects invalid options with FP_CONFIG_INVALID naming the option', () => {
    const path = join(tempDir(), 'q.db');
    expect(errorOf(() => new SqliteQueue({ path, leaseMs: 0 })).message).toMatch(/leaseMs: leaseMs must be >= 1/);
    expect(errorOf(() => new SqliteQueue({ path, synchronous: 'off' as 'full' })).message).toMatch(/synchronous: synchronous must be one of full, normal/);
    expect(errorOf(() => new SqliteQueue({ path, backoff: { initialMs: -1 } })).message).toMatch(/backoff\.initialMs: backoff\.initialMs must be >= 0/);
    expect(errorOf(() => new SqliteQueue({ path: '' })).message).toMatch(/path: path must not be empty/);
    expect(errorOf(() => new SqliteQueue({ path: ':memory:' })).message).toMatch(/no :memory:/);
    expect(errorOf(() => new SqliteQueue({ path, maxAttempts: 1.5 })).code).toBe('FP_CONFIG_INVALID');
    expect(existsSync(path)).toBe(false);
  });
});

describe('a read-only queue file or directory', () => {
  /** Opens `path` in a child process, as nobody when the tests run as root. */
  function openInChild(path: string): { ok?: boolean; code?: string; message?: string } {
    const res = spawnSync(process.execPath, [HELPER, 'open', path, '500'], {
      encoding: 'utf8',
      timeout: 20_000,
      ...(IS_ROOT ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    if (res.status !== 0) throw new Error(`queue child failed (status ${String(res.status)}): ${res.stderr}`);
    return JSON.parse(res.stdout) as { ok?: boolean; code?: string; message?: string };
  }

  /** A directory the child's user owns, with a queue file in it (closed: no -wal or -shm left). */
  function queueDir(): { dir: string; path: string } {
    const top = tempDir();
    chmodSync(top, 0o755);
    const dir = join(top, 'queue');
    mkdirSync(dir);
    const path = join(dir, 'q.db');
    new SqliteQueue({ path }).close();
    if (IS_ROOT) {
      chownSync(dir, NOBODY, NOBODY);
      chownSync(path, NOBODY, NOBODY);
    }
    return { dir, path };
  }

  it('is writable to the child when nothing is read-only (the control case)', () => {
    const { path } = queueDir();
    expect(openInChild(path)).toEqual({ ok: true });
  });

  it('refuses a read-only file at construction with FP_QUEUE_READ_ONLY', () => {
    const { path } = queueDir();
    chmodSync(path, 0o444);
    const res = openInChild(path);
    expect(res.code, res.message).toBe('FP_QUEUE_READ_ONLY');
    expect(res.message).toMatch(/the database is read-only: the file is not writable/);
    expect(res.message).toMatch(/fix the permissions/);
  });

  it('refuses an existing file in a read-only directory with FP_QUEUE_READ_ONLY naming the directory', () => {
    const { dir, path } = queueDir();
    chmodSync(dir, 0o555);
    const res = openInChild(path);
    expect(res.code, res.message).toBe('FP_QUEUE_READ_ONLY');
    expect(res.message).toContain(`the directory ${dir} is not writable`);
  });

  it('refuses to create a file in a read-only directory with FP_QUEUE_READ_ONLY', () => {
    const { dir } = queueDir();
    chmodSync(dir, 0o555);
    const res = openInChild(join(dir, 'new.db'));
    expect(res.code, res.message).toBe('FP_QUEUE_READ_ONLY');
    expect(res.message).toContain(`could not create the database: the directory ${dir} is not writable`);
  });
});

describe('a database locked by another connection', () => {
  it('fails construction with FP_QUEUE_LOCKED after busyTimeoutMs while another connection holds BEGIN IMMEDIATE', () => {
    const queue = openQueue();
    queue.close();
    const other = rawConnection(queue.path);
    other.exec('BEGIN IMMEDIATE');
    const started = performance.now();
    const err = errorOf(() => new SqliteQueue({ path: queue.path, busyTimeoutMs: 150 }));
    expect(err.code).toBe('FP_QUEUE_LOCKED');
    expect(err.message).toMatch(/stayed locked by another connection for more than busyTimeoutMs \(150 ms\)/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    other.exec('ROLLBACK');
    new SqliteQueue({ path: queue.path, busyTimeoutMs: 150 }).close();
  });

  it('fails enqueue and dequeue with FP_QUEUE_LOCKED, writes nothing, and works once the lock is released', () => {
    const queue = openQueue({ busyTimeoutMs: 100 });
    queue.enqueue(msg('before'));
    const other = rawConnection(queue.path);
    other.exec('BEGIN IMMEDIATE');
    expect(errorOf(() => queue.enqueue(msg('during'))).code).toBe('FP_QUEUE_LOCKED');
    expect(errorOf(() => queue.dequeue(10)).code).toBe('FP_QUEUE_LOCKED');
    other.exec('COMMIT');
    expect(queue.pendingIds()).toEqual(['before']);
    expect(queue.stats().leased).toBe(0);
    expect(queue.enqueue(msg('after')).inserted).toBe(true);
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['before', 'after']);
  });
});

describe('enqueue input', () => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const bad: [string, unknown, RegExp][] = [
    ['an empty id', { id: '', type: 't', payload: 1 }, /id: id must not be empty/],
    ['an id of 257 characters', { id: 'x'.repeat(257), type: 't', payload: 1 }, /id: id must be at most 256 characters/],
    ['an id that is not a string', { id: 7, type: 't', payload: 1 }, /id: id must be a string/],
    ['an empty type', { id: 'a', type: '', payload: 1 }, /type: type must not be empty/],
    ['an empty producer', { id: 'a', producer: '', type: 't', payload: 1 }, /producer: producer must not be empty/],
    ['a BigInt payload', { id: 'a', type: 't', payload: { n: 10n } }, /cannot be serialised to JSON \(Do not know how to serialize a BigInt\)/],
    ['a payload with a cycle', { id: 'a', type: 't', payload: cycle }, /cannot be serialised to JSON \(Converting circular structure/],
    ['an undefined payload', { id: 'a', type: 't', payload: undefined }, /it is undefined, which JSON cannot represent/],
    ['a function payload', { id: 'a', type: 't', payload: () => 1 }, /it is function, which JSON cannot represent/],
    ['a NaN inside the payload', { id: 'a', type: 't', payload: { price: Number.NaN } }, /member "price" is NaN, which JSON cannot represent/],
    ['an infinite timestamp', { id: 'a', type: 't', payload: 1, timestampMs: Infinity }, /timestampMs/],
    ['a NaN timestamp', { id: 'a', type: 't', payload: 1, timestampMs: Number.NaN }, /timestampMs/],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses ${what} with FP_QUEUE_INVALID and writes nothing`, () => {
      const queue = openQueue();
      const err = errorOf(() => queue.enqueue(input as never));
      expect(err.code).toBe('FP_QUEUE_INVALID');
      expect(err.message).toMatch(message);
      expect(queue.pendingCount()).toBe(0);
    });
  }

  it('refuses a whole batch when one message is invalid, naming its index, and writes none of it', () => {
    const queue = openQueue();
    const err = errorOf(() => queue.enqueueBatch([msg('a'), msg('b'), { id: 'c', type: 't', payload: 1n }, msg('d')]));
    expect(err.code).toBe('FP_QUEUE_INVALID');
    expect(err.message).toMatch(/message "c" \(message 2 of the batch\)/);
    expect(queue.pendingCount()).toBe(0);
  });

  it('stores null, strings, arrays and numbers as payloads and reads them back equal', () => {
    const queue = openQueue();
    const payloads = [null, 'plain', [1, [2, { x: 'y' }]], -0.5, { nested: { emoji: '⚡', nul: '\u0000' } }];
    payloads.forEach((payload, i) => queue.enqueue({ id: `m${i}`, type: 't', payload }));
    expect(queue.dequeue(10).map((m) => m.payload)).toEqual(payloads);
  });
});

describe('idempotent enqueue', () => {
  it('treats a second enqueue of an id as a no-op returning inserted false and the first seq, keeping the first payload', () => {
    const queue = openQueue();
    const first = queue.enqueue(msg('a', 'p', { v: 1 }));
    queue.enqueue(msg('b'));
    expect(queue.enqueue(msg('a', 'p', { v: 2 }))).toEqual({ inserted: false, seq: first.seq });
    expect(queue.pendingIds()).toEqual(['a', 'b']);
    expect(queue.dequeue(1)[0]!.payload).toEqual({ v: 1 });
  });

  it('treats ids of done and dead rows as duplicates too', () => {
    const queue = openQueue();
    queue.enqueue(msg('done'));
    queue.enqueue(msg('dead', 'q'));
    const [done, dead] = queue.dequeue(2);
    expect(queue.ack(done!.id, done!.claimId)).toBe('acked');
    expect(queue.deadLetter(dead!.id, dead!.claimId, 'bad')).toBe('acked');
    expect(queue.enqueue(msg('done')).inserted).toBe(false);
    expect(queue.enqueue(msg('dead')).inserted).toBe(false);
    expect(queue.pendingCount()).toBe(0);
  });

  it('counts duplicates in a batch, against the table and within the batch', () => {
    const queue = openQueue();
    queue.enqueue(msg('a'));
    expect(queue.enqueueBatch([msg('a'), msg('b'), msg('c'), msg('b')])).toEqual({ inserted: 2, duplicates: 2 });
    expect(queue.pendingIds()).toEqual(['a', 'b', 'c']);
  });
});

describe('leases and claims', () => {
  it('gives each claim a fresh claimId and a lease of leaseMs, counting attempts at claim time', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 500 });
    queue.enqueue(msg('a'));
    const [first] = queue.dequeue(5);
    expect(first).toMatchObject({ id: 'a', attempts: 1, leaseUntilMs: clock.t + 500 });
    expect(queue.dequeue(5)).toEqual([]);
    clock.advance(499);
    expect(queue.dequeue(5)).toEqual([]);
    clock.advance(1);
    const [second] = queue.dequeue(5, { leaseMs: 50 });
    expect(second).toMatchObject({ id: 'a', attempts: 2, leaseUntilMs: clock.t + 50 });
    expect(second!.claimId).not.toBe(first!.claimId);
  });

  it('answers stale to ack, nack and deadLetter with the claimId of an expired lease, once claimed again, and changes nothing', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 100 });
    queue.enqueue(msg('a'));
    const [old] = queue.dequeue(1);
    clock.advance(100);
    const [current] = queue.dequeue(1);
    expect(queue.ack('a', old!.claimId)).toBe('stale');
    expect(queue.nack('a', old!.claimId, 'late')).toBe('stale');
    expect(queue.deadLetter('a', old!.claimId, 'late')).toBe('stale');
    expect(queue.release([{ id: 'a', claimId: old!.claimId }])).toEqual({ released: 0, stale: 1 });
    expect(queue.stats()).toMatchObject({ leased: 1, done: 0, dead: 0 });
    expect(queue.ack('a', current!.claimId)).toBe('acked');
    expect(queue.ack('a', current!.claimId)).toBe('stale');
    expect(queue.stats()).toMatchObject({ leased: 0, pending: 0, done: 1 });
  });

  it('still accepts the current claim after its lease expired, as long as nobody claimed the message again', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 100 });
    queue.enqueue(msg('a'));
    const [claim] = queue.dequeue(1);
    clock.advance(1000);
    expect(queue.ack('a', claim!.claimId)).toBe('acked');
  });

  it('dead-letters a message whose lease expired maxAttempts times at the next claim, with a reason saying so', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 100, maxAttempts: 3 });
    queue.enqueue(msg('a'));
    queue.enqueue(msg('b'));
    for (let i = 1; i <= 3; i++) {
      expect(queue.dequeue(1, { producer: 'p' })[0]).toMatchObject({ id: 'a', attempts: i });
      clock.advance(100);
    }
    expect(queue.dequeue(1).map((m) => m.id)).toEqual(['b']);
    expect(queue.deadLetters()).toEqual([
      expect.objectContaining({ id: 'a', attempts: 3, reason: 'lease expired 3 times without an ack or nack (maxAttempts 3)', deadAtMs: clock.t }),
    ]);
  });

  it('acks many claims in one call, counting stale ones', () => {
    const queue = openQueue();
    queue.enqueueBatch([msg('a'), msg('b'), msg('c')]);
    const claims = queue.dequeue(3);
    expect(queue.ackMany([...claims, { id: 'a', claimId: 'not-a-claim' }, { id: 'zzz', claimId: claims[0]!.claimId }])).toEqual({ acked: 3, stale: 2 });
    expect(queue.stats()).toMatchObject({ done: 3, pending: 0, leased: 0 });
  });

  it('releases claims without counting the attempt, making the messages available at once and in order', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, maxAttempts: 1 });
    queue.enqueueBatch([msg('a'), msg('b')]);
    const claims = queue.dequeue(2);
    expect(queue.release(claims)).toEqual({ released: 2, stale: 0 });
    const again = queue.dequeue(2);
    expect(again.map((m) => [m.id, m.attempts])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(queue.ack('a', claims[0]!.claimId)).toBe('stale');
  });

  it("gives back every live claim of one producer (a restarted consumer), leaving other producers' claims alone", () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 60_000 });
    queue.enqueueBatch([msg('a', 'p'), msg('b', 'p'), msg('x', 'q')]);
    const claimed = queue.dequeue(3);
    expect(claimed).toHaveLength(3);
    expect(queue.dequeue(3)).toEqual([]); // all leased for a minute
    expect(queue.releaseLeasesOf('p')).toBe(2);
    const again = queue.dequeue(3);
    expect(again.map((m) => [m.id, m.attempts])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(queue.ack('x', claimed[2]!.claimId)).toBe('acked');
    expect(queue.ack('a', claimed[0]!.claimId)).toBe('stale');
  });

  it('refuses claims that are not id and claimId strings with FP_QUEUE_INVALID', () => {
    const queue = openQueue();
    expect(errorOf(() => queue.ack('a', undefined as unknown as string)).message).toMatch(/ack takes the id and claimId strings of a dequeued message, got string and undefined/);
    expect(errorOf(() => queue.ackMany([{ id: 'a' } as { id: string; claimId: string }])).message).toMatch(/ackMany: claim 0 must be \{ id: string, claimId: string \}/);
    expect(errorOf(() => queue.release('a' as unknown as [])).code).toBe('FP_QUEUE_INVALID');
  });

  it('refuses a dequeue limit or leaseMs that is not a positive integer with FP_QUEUE_INVALID', () => {
    const queue = openQueue();
    expect(errorOf(() => queue.dequeue(0)).code).toBe('FP_QUEUE_INVALID');
    expect(errorOf(() => queue.dequeue(1.5)).message).toMatch(/limit must be an integer >= 1, got 1.5/);
    expect(errorOf(() => queue.dequeue(1, { leaseMs: 0 })).message).toMatch(/leaseMs must be an integer >= 1/);
  });
});

describe('nack, backoff and dead letters', () => {
  it('makes a nacked message available after initialMs·2^(attempts-1), capped at maxMs, then dead-letters it with the error', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, maxAttempts: 4, backoff: { initialMs: 100, maxMs: 300 } });
    queue.enqueue(msg('a'));
    for (const [attempt, delayMs] of [
      [1, 100],
      [2, 200],
      [3, 300],
    ] as const) {
      const [claim] = queue.dequeue(1);
      expect(claim).toMatchObject({ id: 'a', attempts: attempt });
      expect(queue.nack('a', claim!.claimId, `failure ${attempt}`)).toBe('retry');
      clock.advance(delayMs - 1);
      expect(queue.dequeue(1), `attempt ${attempt}: available before its backoff of ${delayMs} ms`).toEqual([]);
      expect(queue.stats()).toMatchObject({ pending: 1, leased: 0 });
      clock.advance(1);
    }
    const [last] = queue.dequeue(1);
    expect(last!.attempts).toBe(4);
    expect(queue.nack('a', last!.claimId, 'failure 4')).toBe('dead');
    expect(queue.deadLetters()).toEqual([expect.objectContaining({ id: 'a', attempts: 4, reason: 'failure 4 (attempt 4 of maxAttempts 4)' })]);
    expect(queue.dequeue(1)).toEqual([]);
  });

  it('dead-letters a claimed message at once with deadLetter and keeps its payload text for the report', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now });
    queue.enqueue({ id: 'a', producer: 'p', type: 'order', payload: { qty: 2 } });
    const [claim] = queue.dequeue(1);
    clock.advance(5);
    expect(queue.deadLetter('a', claim!.claimId, 'unknown symbol')).toBe('acked');
    expect(queue.deadLetters()).toEqual([
      { seq: claim!.seq, id: 'a', producer: 'p', type: 'order', attempts: 1, reason: 'unknown symbol', deadAtMs: clock.t, payloadText: '{"qty":2}' },
    ]);
    expect(queue.stats()).toMatchObject({ dead: 1, pending: 0, leased: 0 });
  });
});

describe('ordering per producer', () => {
  it('returns messages in enqueue order, several of one producer in one batch', () => {
    const queue = openQueue();
    queue.enqueueBatch([msg('a1', 'a'), msg('b1', 'b'), msg('a2', 'a'), msg('a3', 'a'), msg('b2', 'b')]);
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['a1', 'b1', 'a2', 'a3', 'b2']);
  });

  it('does not let a second dequeue overtake leased messages of a producer, while other producers go on', () => {
    const queue = openQueue();
    queue.enqueueBatch([msg('a1', 'a'), msg('a2', 'a'), msg('b1', 'b'), msg('a3', 'a'), msg('b2', 'b')]);
    expect(queue.dequeue(2).map((m) => m.id)).toEqual(['a1', 'a2']);
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['b1', 'b2']);
    expect(queue.dequeue(10)).toEqual([]);
  });

  it('blocks later messages of a producer while an earlier one backs off, and not once it is dead-lettered', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, backoff: { initialMs: 1000 } });
    queue.enqueueBatch([msg('a1', 'a'), msg('a2', 'a'), msg('b1', 'b')]);
    const [a1] = queue.dequeue(1);
    expect(queue.nack('a1', a1!.claimId, 'try later')).toBe('retry');
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['b1']);
    clock.advance(1000);
    const [again] = queue.dequeue(1);
    expect(again!.id).toBe('a1');
    expect(queue.deadLetter('a1', again!.claimId, 'give up')).toBe('acked');
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['a2']);
  });

  it('hands out an earlier message whose lease expired before the later ones of its producer', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 100 });
    queue.enqueueBatch([msg('a1', 'a'), msg('a2', 'a')]);
    queue.dequeue(1);
    clock.advance(100);
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['a1', 'a2']);
  });

  it('claims only the given producer with the producer option, with the same ordering rule', () => {
    const queue = openQueue();
    queue.enqueueBatch([msg('a1', 'a'), msg('b1', 'b'), msg('a2', 'a'), msg('b2', 'b')]);
    expect(queue.dequeue(1, { producer: 'b' }).map((m) => m.id)).toEqual(['b1']);
    expect(queue.dequeue(10, { producer: 'b' })).toEqual([]);
    expect(queue.dequeue(10, { producer: 'a' }).map((m) => m.id)).toEqual(['a1', 'a2']);
    expect(queue.pendingCount('b')).toBe(2);
    expect(queue.pendingIds('a')).toEqual(['a1', 'a2']);
  });
});

describe('retention cleanup', () => {
  it('deletes done rows retentionMs after the ack, after which the same id is a new message with a new seq', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, retentionMs: 10_000, deadRetentionMs: 50_000 });
    const { seq } = queue.enqueue(msg('a'));
    const [claim] = queue.dequeue(1);
    queue.ack('a', claim!.claimId);
    clock.advance(9_999);
    expect(queue.cleanup()).toEqual({ deletedDone: 0, deletedDead: 0 });
    expect(queue.enqueue(msg('a')).inserted).toBe(false);
    clock.advance(1);
    expect(queue.cleanup()).toEqual({ deletedDone: 1, deletedDead: 0 });
    expect(queue.stats().done).toBe(0);
    const again = queue.enqueue(msg('a'));
    expect(again.inserted).toBe(true);
    expect(again.seq).toBeGreaterThan(seq);
  });

  it('keeps dead rows deadRetentionMs and leaves queued rows alone however old', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, retentionMs: 10, deadRetentionMs: 1_000 });
    queue.enqueueBatch([msg('dead', 'x'), msg('old', 'y')]);
    const [dead] = queue.dequeue(1);
    queue.deadLetter('dead', dead!.claimId, 'no');
    clock.advance(999);
    expect(queue.cleanup()).toEqual({ deletedDone: 0, deletedDead: 0 });
    clock.advance(1);
    expect(queue.cleanup()).toEqual({ deletedDone: 0, deletedDead: 1 });
    clock.advance(10_000_000);
    queue.cleanup();
    expect(queue.pendingIds()).toEqual(['old']);
    expect(queue.stats()).toMatchObject({ pending: 1, dead: 0, oldestPendingAgeMs: 10_001_000 });
  });
});

describe('corrupt rows', () => {
  it('dead-letters rows with a payload that is not JSON or values out of range, naming the column, and dequeue carries on', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now });
    queue.enqueueBatch(['a', 'b', 'c', 'd', 'e'].map((id) => msg(id)));
    const db = rawConnection(queue.path);
    db.prepare("UPDATE fp_queue SET payload = '{not json' WHERE id = 'b'").run();
    db.prepare("UPDATE fp_queue SET type = '' WHERE id = 'c'").run();
    db.prepare("UPDATE fp_queue SET attempts = -3 WHERE id = 'd'").run();
    expect(queue.dequeue(10).map((m) => m.id)).toEqual(['a', 'e']);
    const reasons = Object.fromEntries(queue.deadLetters().map((d) => [d.id, d.reason]));
    expect(reasons.b).toMatch(/^corrupt row \(seq 2\): payload: payload is not valid JSON \(.*\) \(got TEXT "\{not json"\)$/);
    expect(reasons.c).toMatch(/type: type must not be empty/);
    expect(reasons.d).toMatch(/attempts: attempts must be >= 0 \(got INTEGER -3\)/);
    expect(queue.deadLetters().find((d) => d.id === 'b')!.payloadText).toBe('{not json');
    expect(queue.stats()).toMatchObject({ leased: 2, dead: 3, pending: 0 });
  });

  it('is protected by a STRICT table: SQLite refuses to store a value of the wrong type', () => {
    const queue = openQueue();
    queue.enqueue(msg('a'));
    const db = rawConnection(queue.path);
    expect(() => db.prepare("UPDATE fp_queue SET attempts = 'many' WHERE id = 'a'").run()).toThrow(/cannot store TEXT value in INTEGER column fp_queue.attempts/);
  });

  it('dead-letters rows whose columns hold values of the wrong type (STRICT bypassed) and keeps going', () => {
    const queue = openQueue();
    queue.enqueueBatch(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => msg(id, id === 'e' ? 'q' : 'p')));
    queue.close();
    // What a tool rewriting the schema could do: drop STRICT, store garbage, put STRICT back.
    const setSchema = (sql: string): void => {
      const db = new Database(queue.path);
      db.unsafeMode(true);
      db.pragma('writable_schema = ON');
      db.prepare("UPDATE sqlite_schema SET sql = ? WHERE name = 'fp_queue'").run(sql);
      db.close();
    };
    const check = rawConnection(queue.path);
    const strict = check.prepare("SELECT sql FROM sqlite_schema WHERE name = 'fp_queue'").pluck().get() as string;
    expect(strict).toMatch(/\) STRICT$/);
    setSchema(strict.replace(/\) STRICT$/, ')'));
    const loose = new Database(queue.path);
    loose.prepare("UPDATE fp_queue SET attempts = 'many' WHERE id = 'b'").run();
    loose.prepare("UPDATE fp_queue SET payload = X'00ff' WHERE id = 'c'").run();
    loose.prepare("UPDATE fp_queue SET available_at_ms = 'soon', timestamp_ms = 'yesterday' WHERE id = 'd'").run();
    loose.close();
    setSchema(strict);
    expect(check.pragma('integrity_check', { simple: true })).toBe('non-INTEGER value in fp_queue.attempts');

    const reopened = openQueue({}, join(queue.path, '..'));
    // 'd' (available_at_ms 'soon', which SQLite sorts after every number) must not block 'f'.
    expect(reopened.dequeue(10).map((m) => m.id)).toEqual(['a', 'e', 'f']);
    const dead = Object.fromEntries(reopened.deadLetters().map((d) => [d.id, d]));
    expect(dead.b!.reason).toMatch(/attempts: attempts must be an INTEGER \(got TEXT "many"\)/);
    expect(dead.c!.reason).toMatch(/payload: payload must be TEXT \(got BLOB of 2 bytes\)/);
    expect(dead.c!.payloadText).toBe("X'00FF'");
    expect(dead.d!.reason).toContain('timestamp_ms: timestamp_ms must be a finite number (got TEXT "yesterday")');
    expect(dead.d!.reason).toContain('available_at_ms: available_at_ms must be an INTEGER (got TEXT "soon")');
    expect(reopened.stats()).toMatchObject({ dead: 3, leased: 3 });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});

describe('stats and listing', () => {
  it('counts pending, leased, done and dead, and the age of the oldest queued message', () => {
    const clock = testClock();
    const queue = openQueue({ now: clock.now, leaseMs: 100 });
    expect(queue.stats()).toEqual({ pending: 0, leased: 0, done: 0, dead: 0, oldestPendingAgeMs: undefined });
    queue.enqueueBatch([msg('a', 'a'), msg('b', 'b'), msg('c', 'c'), msg('d', 'd')]);
    clock.advance(30);
    const [a, b, c] = queue.dequeue(3);
    queue.ack(a!.id, a!.claimId);
    queue.deadLetter(b!.id, b!.claimId, 'x');
    expect(queue.stats()).toEqual({ pending: 1, leased: 1, done: 1, dead: 1, oldestPendingAgeMs: 30 });
    expect(queue.pendingCount()).toBe(2);
    expect(queue.pendingIds()).toEqual(['c', 'd']);
    clock.advance(100); // c's lease expired: pending again, not leased
    expect(queue.stats()).toMatchObject({ pending: 2, leased: 0 });
    expect(queue.ack(c!.id, c!.claimId)).toBe('acked');
    expect(queue.stats()).toMatchObject({ pending: 1, done: 2 });
  });

  it('limits deadLetters to the given count in seq order', () => {
    const queue = openQueue();
    queue.enqueueBatch(['a', 'b', 'c'].map((id) => msg(id, id)));
    for (const m of queue.dequeue(3)) queue.deadLetter(m.id, m.claimId, `no ${m.id}`);
    expect(queue.deadLetters(2).map((d) => d.id)).toEqual(['a', 'b']);
    expect(queue.deadLetters(0)).toEqual([]);
  });
});

describe('close', () => {
  it('is idempotent, and every later call throws FP_QUEUE_CLOSED', () => {
    const queue = openQueue();
    queue.enqueue(msg('a'));
    queue.close();
    queue.close();
    expect(queue.isClosed).toBe(true);
    for (const call of [() => queue.enqueue(msg('b')), () => queue.dequeue(1), () => queue.ack('a', 'x'), () => queue.stats(), () => queue.cleanup(), () => queue.pendingIds()]) {
      const err = errorOf(call);
      expect(err.code).toBe('FP_QUEUE_CLOSED');
      expect(err.message).toMatch(/is closed/);
    }
  });
});

describe('measureQueue', () => {
  it('runs on a tiny size and returns positive rates and the runtime, leaving no file behind', () => {
    const dir = tempDir();
    const result = measureQueue({ dir, synchronous: 'normal', messages: 300, batchSize: 50, payloadBytes: 32, singleMessages: 20 });
    expect(result.batchedEnqueuePerSec).toBeGreaterThan(0);
    expect(result.singleEnqueuePerSec).toBeGreaterThan(0);
    expect(result.dequeueAckPerSec).toBeGreaterThan(0);
    expect(result.phases.batchedEnqueue.messages).toBe(300);
    expect(result.phases.dequeueAck.messages).toBe(300);
    expect(result.phases.singleEnqueue.messages).toBe(20);
    expect(Number.isFinite(result.batchedEnqueuePerSec)).toBe(true);
    expect(result.runtime).toMatchObject({ node: process.version, sqlite: expect.stringMatching(/^3\.\d+\.\d+$/), timer: 'performance.now' });
    expect(readdirSync(dir)).toEqual([]);
  });
});
