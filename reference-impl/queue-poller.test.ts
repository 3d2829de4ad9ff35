import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/errors.js';
import { QueuePoller, type QueuePollerOptions } from './queue-poller.js';
import { SqliteQueue, type QueueOptions } from './queue.js';
import type { QueuedMessage } from './queue-record.js';

/**
 * The poller over a real queue file, on real timers (short intervals): batches and
 * intervals, retries with backoff into dead letters, graceful stop, corrupt rows.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function openQueue(options: Partial<QueueOptions> = {}): SqliteQueue {
  const dir = mkdtempSync(join(tmpdir(), 'fp-poller-'));
  const queue = new SqliteQueue({ path: join(dir, 'q.db'), synchronous: 'normal', ...options });
  onTestFinished(() => {
    queue.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return queue;
}

/** A started poller, stopped at the end of the test. */
function startPoller(options: QueuePollerOptions): QueuePoller {
  const poller = new QueuePoller(options);
  poller.start();
  onTestFinished(() => poller.stop());
  return poller;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

const msgs = (n: number, prefix = 'm', producer = 'p') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, producer, type: 't', payload: { i } }));

describe('QueuePoller', () => {
  it('claims batchSize at a time, polls again at once while batches are full, then waits intervalMs', async () => {
    const queue = openQueue();
    queue.enqueueBatch(msgs(23));
    const seen: { id: string; leased: number; at: number }[] = [];
    let late: { enqueuedAt: number; handledAt?: number } | undefined;
    startPoller({
      queue,
      batchSize: 10,
      intervalMs: 300,
      onMessage: (m) => {
        seen.push({ id: m.id, leased: queue.stats().leased, at: performance.now() });
        if (m.id === 'late') late!.handledAt = performance.now();
        else if (m.id === 'm22') {
          // Enqueued while the last (short) batch is handled: the next poll comes after intervalMs.
          queue.enqueue({ id: 'late', producer: 'p', type: 't', payload: null });
          late = { enqueuedAt: performance.now() };
        }
      },
      onError: (err) => expect.fail(String(err)),
    });
    await waitFor('the late message', () => late?.handledAt !== undefined);
    expect(seen.map((s) => s.id)).toEqual([...msgs(23).map((m) => m.id), 'late']);
    // The first message of each batch sees the whole batch leased: 10, 10, 3, then 1.
    expect([0, 10, 20, 23].map((i) => seen[i]!.leased)).toEqual([10, 10, 3, 1]);
    // Full batches follow each other without the interval.
    expect(seen[20]!.at - seen[0]!.at).toBeLessThan(250);
    expect(late!.handledAt! - late!.enqueuedAt).toBeGreaterThanOrEqual(250);
    expect(late!.handledAt! - late!.enqueuedAt).toBeLessThan(2_000);
    expect(queue.stats()).toMatchObject({ done: 24, pending: 0, leased: 0 });
  });

  it('nacks a throwing handler so the message comes back after the backoff, then dead-letters it with the error', async () => {
    const queue = openQueue({ maxAttempts: 3, backoff: { initialMs: 60, maxMs: 1000 } });
    queue.enqueue({ id: 'poison', producer: 'p', type: 't', payload: null });
    const attempts: { n: number; at: number }[] = [];
    const errors: { err: unknown; id: string | undefined }[] = [];
    startPoller({
      queue,
      intervalMs: 5,
      onMessage: (m) => {
        attempts.push({ n: m.attempts, at: performance.now() });
        throw new Error(`cannot handle ${m.id} (attempt ${m.attempts})`);
      },
      onError: (err, m) => errors.push({ err, id: m?.id }),
    });
    await waitFor('the dead letter', () => queue.stats().dead === 1);
    expect(attempts.map((a) => a.n)).toEqual([1, 2, 3]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(55);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(115);
    expect(errors.map((e) => [e.id, (e.err as Error).message])).toEqual([1, 2, 3].map((n) => ['poison', `cannot handle poison (attempt ${n})`]));
    expect(queue.deadLetters()).toEqual([expect.objectContaining({ id: 'poison', attempts: 3, reason: 'cannot handle poison (attempt 3) (attempt 3 of maxAttempts 3)' })]);
  });

  it('does not handle later messages of a producer ahead of one that failed in the same batch', async () => {
    const queue = openQueue({ backoff: { initialMs: 50 } });
    queue.enqueueBatch([...msgs(3, 'a', 'a'), ...msgs(2, 'b', 'b')]);
    const handled: string[] = [];
    let failedOnce = false;
    startPoller({
      queue,
      intervalMs: 5,
      onMessage: (m) => {
        if (m.id === 'a1' && !failedOnce) {
          failedOnce = true;
          throw new Error('transient');
        }
        handled.push(m.id);
      },
      onError: () => undefined,
    });
    await waitFor('all five handled', () => handled.length === 5);
    expect(handled).toEqual(['a0', 'b0', 'b1', 'a1', 'a2']);
    // a2 was given back, not retried: its attempt was not counted.
    expect(queue.stats()).toMatchObject({ done: 5, dead: 0 });
  });

  it('stops gracefully: waits for the handler in flight, releases the rest of the batch, and claims nothing afterwards', async () => {
    const queue = openQueue();
    queue.enqueueBatch(msgs(5));
    let finish!: () => void;
    const handled: string[] = [];
    const poller = startPoller({
      queue,
      intervalMs: 10,
      onMessage: async (m: QueuedMessage) => {
        handled.push(m.id);
        if (m.id === 'm1') await new Promise<void>((resolve) => (finish = resolve));
      },
      onError: (err) => expect.fail(String(err)),
    });
    await waitFor('m1 in flight', () => handled.includes('m1'));
    let stopped = false;
    const stopping = poller.stop().then(() => (stopped = true));
    await sleep(50);
    expect(stopped).toBe(false);
    expect(poller.running).toBe(true);
    finish();
    await stopping;
    expect(poller.running).toBe(false);
    expect(handled).toEqual(['m0', 'm1']);
    expect(queue.stats()).toMatchObject({ done: 2, leased: 0, pending: 3 });
    queue.enqueue({ id: 'after', producer: 'q', type: 't', payload: null });
    await sleep(100);
    expect(handled).toEqual(['m0', 'm1']);
    // Released, not failed: the next worker gets them as first attempts, in order.
    expect(queue.dequeue(10).map((m) => [m.id, m.attempts])).toEqual([
      ['m2', 1],
      ['m3', 1],
      ['m4', 1],
      ['after', 1],
    ]);
  });

  it('keeps running past a corrupt row, which ends up in the dead letters', async () => {
    const queue = openQueue();
    queue.enqueueBatch(msgs(4));
    const db = new Database(queue.path);
    db.prepare("UPDATE fp_queue SET payload = 'not json at all' WHERE id = 'm1'").run();
    db.close();
    const handled: string[] = [];
    const errors: unknown[] = [];
    startPoller({ queue, intervalMs: 10, onMessage: (m) => void handled.push(m.id), onError: (err) => errors.push(err) });
    await waitFor('three handled', () => handled.length === 3);
    queue.enqueue({ id: 'later', producer: 'p', type: 't', payload: 1 });
    await waitFor('the later message', () => handled.includes('later'));
    expect(handled).toEqual(['m0', 'm2', 'm3', 'later']);
    expect(errors).toEqual([]);
    expect(queue.deadLetters()).toEqual([expect.objectContaining({ id: 'm1', reason: expect.stringContaining('payload is not valid JSON') })]);
  });

  it('reports a stale ack when the lease expired during the handler, and keeps going', async () => {
    const queue = openQueue();
    queue.enqueueBatch(msgs(2));
    const errors: { code: string | undefined; id: string | undefined }[] = [];
    const handled: string[] = [];
    startPoller({
      queue,
      intervalMs: 10,
      leaseMs: 30,
      onMessage: async (m) => {
        handled.push(`${m.id}#${m.attempts}`);
        if (m.id === 'm0' && m.attempts === 1) {
          await sleep(60);
          // Another worker takes the expired claim meanwhile.
          queue.ack('m0', queue.dequeue(1, { producer: 'p' })[0]!.claimId);
        }
      },
      onError: (err, m) => errors.push({ code: (err as FastPathError).code, id: m?.id }),
    });
    await waitFor('m1 handled', () => handled.some((h) => h.startsWith('m1')));
    expect(errors).toEqual([{ code: 'FP_QUEUE_INVALID', id: 'm0' }]);
    await waitFor('all done', () => queue.stats().done === 2);
  });

  it('runs the retention cleanup every cleanupIntervalMs, deleting handled messages', async () => {
    const queue = openQueue({ retentionMs: 0 });
    queue.enqueueBatch([1, 2, 3].map((i) => ({ id: `c${i}`, type: 't', payload: i })));
    const poller = startPoller({ queue, intervalMs: 5, cleanupIntervalMs: 20, onMessage: () => undefined });
    await waitFor('the messages handled', () => queue.stats().pending === 0 && queue.stats().leased === 0);
    await waitFor('the done rows deleted', () => queue.stats().done === 0);
    await poller.stop();
    expect(queue.stats()).toMatchObject({ pending: 0, done: 0, dead: 0 });
  });

  it('leaves done rows alone with cleanupIntervalMs 0', async () => {
    const queue = openQueue({ retentionMs: 0 });
    queue.enqueueBatch([1, 2].map((i) => ({ id: `k${i}`, type: 't', payload: i })));
    const poller = startPoller({ queue, intervalMs: 5, cleanupIntervalMs: 0, onMessage: () => undefined });
    await waitFor('the messages handled', () => queue.stats().done === 2);
    await sleep(50);
    await poller.stop();
    expect(queue.stats().done).toBe(2);
  });

  it('rejects bad options with FP_CONFIG_INVALID naming the option', () => {
    const queue = openQueue();
    const bad = (o: Record<string, unknown>): string => {
      try {
        new QueuePoller({ queue, onMessage: () => undefined, ...o } as QueuePollerOptions);
      } catch (err) {
        expect((err as FastPathError).code).toBe('FP_CONFIG_INVALID');
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(bad({ batchSize: 0 })).toMatch(/batchSize: batchSize must be >= 1/);
    expect(bad({ intervalMs: 1.5 })).toMatch(/intervalMs: intervalMs must be an integer/);
    expect(bad({ onMessage: 'handler' })).toMatch(/onMessage: onMessage must be a function/);
    expect(bad({ queue: {} })).toMatch(/queue: queue must be a SqliteQueue/);
  });
});
