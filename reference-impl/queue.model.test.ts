import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteQueue } from './queue.js';
import type { QueuedMessage } from './queue-record.js';

/**
 * Model-based test of the queue (after fast-check's "Model based testing" guide):
 * random sequences of enqueue (with duplicate ids), batches, dequeue (limits,
 * producer filter, lease override), ack, ackMany, nack, deadLetter, release (with
 * current and old claimIds), cleanup and clock advances, run against a real SQLite
 * file and against a small in-memory model of the documented rules, compared after
 * every command (results, stats, queued ids, dead letters). fast-check prints the
 * seed and the shrunk command path of a failure; replay with
 * `FASTPATH_MODEL_SEED=<seed> FASTPATH_MODEL_PATH=<path>`.
 */

const LEASE_MS = 1000;
const MAX_ATTEMPTS = 3;
const BACKOFF = { initialMs: 100, maxMs: 150 }; // the cap applies from the second nack
const RETENTION_MS = 5_000;
const DEAD_RETENTION_MS = 8_000;
const IDS = Array.from({ length: 12 }, (_, i) => `m${i}`);
const PRODUCERS = ['a', 'b', 'c'];

type State = 'queued' | 'done' | 'dead';

interface Row {
  readonly seq: number;
  readonly id: string;
  readonly producer: string;
  readonly payload: unknown;
  readonly enqueuedAt: number;
  state: State;
  attempts: number;
  availableAt: number;
  claimId: string | null;
  finishedAt: number | null;
  reason: string | null;
}

/** The documented rules, in memory. */
class Model {
  now = 1_000_000;
  private nextSeq = 1;
  readonly rows = new Map<string, Row>();
  /** Every claim handed out, oldest first (acks pick from the recent end). */
  readonly claims: { id: string; claimId: string }[] = [];

  enqueue(id: string, producer: string, payload: unknown): { inserted: boolean; seq: number } {
    const existing = this.rows.get(id);
    if (existing !== undefined) return { inserted: false, seq: existing.seq };
    const row: Row = { seq: this.nextSeq++, id, producer, payload, enqueuedAt: this.now, state: 'queued', attempts: 0, availableAt: 0, claimId: null, finishedAt: null, reason: null };
    this.rows.set(id, row);
    return { inserted: true, seq: row.seq };
  }

  private queued(): Row[] {
    return [...this.rows.values()].filter((r) => r.state === 'queued').sort((x, y) => x.seq - y.seq);
  }

  /** The rows `dequeue` claims (they get their claimIds from the real queue afterwards). */
  dequeue(limit: number, producer: string | undefined, leaseMs: number): Row[] {
    const blocks = new Map<string, number>();
    for (const r of this.queued()) if (r.availableAt > this.now && !blocks.has(r.producer)) blocks.set(r.producer, r.seq);
    const out: Row[] = [];
    for (const r of this.queued()) {
      if (out.length >= limit) break;
      if (producer !== undefined && r.producer !== producer) continue;
      if (r.availableAt > this.now || r.seq >= (blocks.get(r.producer) ?? Infinity)) continue;
      if (r.attempts >= MAX_ATTEMPTS) {
        this.finish(r, 'dead', `lease expired ${r.attempts} times without an ack or nack (maxAttempts ${MAX_ATTEMPTS})`);
        continue;
      }
      r.attempts++;
      r.availableAt = this.now + leaseMs;
      out.push(r);
    }
    return out;
  }

  private current(id: string, claimId: string): Row | undefined {
    const r = this.rows.get(id);
    return r !== undefined && r.state === 'queued' && r.claimId === claimId ? r : undefined;
  }

  private finish(r: Row, state: 'done' | 'dead', reason: string | null): void {
    r.state = state;
    r.claimId = null;
    r.finishedAt = this.now;
    if (reason !== null) r.reason = reason;
  }

  ack(id: string, claimId: string): 'acked' | 'stale' {
    const r = this.current(id, claimId);
    if (r === undefined) return 'stale';
    this.finish(r, 'done', null);
    return 'acked';
  }

  nack(id: string, claimId: string, error: string): 'retry' | 'dead' | 'stale' {
    const r = this.current(id, claimId);
    if (r === undefined) return 'stale';
    if (r.attempts >= MAX_ATTEMPTS) {
      this.finish(r, 'dead', `${error} (attempt ${r.attempts} of maxAttempts ${MAX_ATTEMPTS})`);
      return 'dead';
    }
    r.availableAt = this.now + Math.min(BACKOFF.initialMs * 2 ** (r.attempts - 1), BACKOFF.maxMs);
    r.claimId = null;
    r.reason = error;
    return 'retry';
  }

  deadLetter(id: string, claimId: string, reason: string): 'acked' | 'stale' {
    const r = this.current(id, claimId);
    if (r === undefined) return 'stale';
    this.finish(r, 'dead', reason);
    return 'acked';
  }

  release(id: string, claimId: string): boolean {
    const r = this.current(id, claimId);
    if (r === undefined) return false;
    r.attempts = Math.max(r.attempts - 1, 0);
    r.claimId = null;
    r.availableAt = 0;
    return true;
  }

  cleanup(): { deletedDone: number; deletedDead: number } {
    let deletedDone = 0;
    let deletedDead = 0;
    for (const r of [...this.rows.values()]) {
      if (r.state === 'done' && r.finishedAt! <= this.now - RETENTION_MS) {
        this.rows.delete(r.id);
        deletedDone++;
      } else if (r.state === 'dead' && r.finishedAt! <= this.now - DEAD_RETENTION_MS) {
        this.rows.delete(r.id);
        deletedDead++;
      }
    }
    return { deletedDone, deletedDead };
  }

  stats(): ReturnType<SqliteQueue['stats']> {
    const queued = this.queued();
    const leased = queued.filter((r) => r.claimId !== null && r.availableAt > this.now).length;
    const all = [...this.rows.values()];
    return {
      pending: queued.length - leased,
      leased,
      done: all.filter((r) => r.state === 'done').length,
      dead: all.filter((r) => r.state === 'dead').length,
      oldestPendingAgeMs: queued[0] === undefined ? undefined : this.now - queued[0].enqueuedAt,
    };
  }

  pendingIds(): string[] {
    return this.queued().map((r) => r.id);
  }

  deadLetters(): { id: string; attempts: number; reason: string; deadAtMs: number }[] {
    return [...this.rows.values()]
      .filter((r) => r.state === 'dead')
      .sort((x, y) => x.seq - y.seq)
      .map((r) => ({ id: r.id, attempts: r.attempts, reason: r.reason ?? '', deadAtMs: r.finishedAt! }));
  }

  /** A claim handed out earlier: `back` 0 is the latest (often still current), larger ones are older. */
  pickClaim(back: number): { id: string; claimId: string } {
    if (this.claims.length === 0) return { id: 'm0', claimId: 'never-issued' };
    return this.claims[this.claims.length - 1 - (back % this.claims.length)]!;
  }
}

interface Real {
  readonly queue: SqliteQueue;
}

type Cmd = fc.Command<Model, Real>;

/** Compares everything observable after each command. */
function checkState(model: Model, real: Real): void {
  expect(real.queue.stats()).toEqual(model.stats());
  expect(real.queue.pendingIds()).toEqual(model.pendingIds());
  expect(real.queue.deadLetters(1000).map((d) => ({ id: d.id, attempts: d.attempts, reason: d.reason, deadAtMs: d.deadAtMs }))).toEqual(model.deadLetters());
}

const seenClaimIds = new Set<string>();

class Enqueue implements Cmd {
  constructor(
    readonly id: string,
    readonly producer: string,
    readonly payload: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const timestampMs = model.now;
    expect(real.queue.enqueue({ id: this.id, producer: this.producer, type: 't', payload: { n: this.payload }, timestampMs })).toEqual(model.enqueue(this.id, this.producer, { n: this.payload }));
    checkState(model, real);
  }
  toString = () => `enqueue(${this.id}, ${this.producer})`;
}

class EnqueueBatch implements Cmd {
  constructor(readonly items: readonly { id: string; producer: string }[]) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const inserted = this.items.filter((m) => model.enqueue(m.id, m.producer, { n: -1 }).inserted).length;
    const res = real.queue.enqueueBatch(this.items.map((m) => ({ id: m.id, producer: m.producer, type: 't', payload: { n: -1 }, timestampMs: model.now })));
    expect(res).toEqual({ inserted, duplicates: this.items.length - inserted });
    checkState(model, real);
  }
  toString = () => `enqueueBatch([${this.items.map((m) => `${m.id}/${m.producer}`).join(', ')}])`;
}

class Dequeue implements Cmd {
  constructor(
    readonly limit: number,
    readonly producer: string | undefined,
    readonly leaseMs: number | undefined,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const opts = { ...(this.producer === undefined ? {} : { producer: this.producer }), ...(this.leaseMs === undefined ? {} : { leaseMs: this.leaseMs }) };
    const got: QueuedMessage[] = real.queue.dequeue(this.limit, opts);
    const expected = model.dequeue(this.limit, this.producer, this.leaseMs ?? LEASE_MS);
    expect(got.map(({ claimId: _claimId, ...m }) => m)).toEqual(
      expected.map((r) => ({
        seq: r.seq,
        id: r.id,
        producer: r.producer,
        type: 't',
        payload: r.payload,
        timestampMs: r.enqueuedAt,
        enqueuedAtMs: r.enqueuedAt,
        attempts: r.attempts,
        leaseUntilMs: r.availableAt,
      })),
    );
    got.forEach((m, i) => {
      expect(seenClaimIds.has(m.claimId), `claimId ${m.claimId} handed out twice`).toBe(false);
      seenClaimIds.add(m.claimId);
      expected[i]!.claimId = m.claimId;
      model.claims.push({ id: m.id, claimId: m.claimId });
    });
    checkState(model, real);
  }
  toString = () => `dequeue(${this.limit}${this.producer === undefined ? '' : `, producer ${this.producer}`}${this.leaseMs === undefined ? '' : `, lease ${this.leaseMs}`})`;
}

class Ack implements Cmd {
  constructor(readonly back: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const c = model.pickClaim(this.back);
    expect(real.queue.ack(c.id, c.claimId), `ack ${c.id}`).toBe(model.ack(c.id, c.claimId));
    checkState(model, real);
  }
  toString = () => `ack(claim -${this.back})`;
}

class AckMany implements Cmd {
  constructor(readonly backs: readonly number[]) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const claims = this.backs.map((b) => model.pickClaim(b));
    const acked = claims.filter((c) => model.ack(c.id, c.claimId) === 'acked').length;
    expect(real.queue.ackMany(claims)).toEqual({ acked, stale: claims.length - acked });
    checkState(model, real);
  }
  toString = () => `ackMany(${this.backs.map((b) => `-${b}`).join(', ')})`;
}

class Nack implements Cmd {
  constructor(readonly back: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const c = model.pickClaim(this.back);
    const error = `boom ${c.id}`;
    expect(real.queue.nack(c.id, c.claimId, error), `nack ${c.id}`).toBe(model.nack(c.id, c.claimId, error));
    checkState(model, real);
  }
  toString = () => `nack(claim -${this.back})`;
}

class DeadLetter implements Cmd {
  constructor(readonly back: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const c = model.pickClaim(this.back);
    expect(real.queue.deadLetter(c.id, c.claimId, 'poison'), `deadLetter ${c.id}`).toBe(model.deadLetter(c.id, c.claimId, 'poison'));
    checkState(model, real);
  }
  toString = () => `deadLetter(claim -${this.back})`;
}

class Release implements Cmd {
  constructor(readonly backs: readonly number[]) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const claims = this.backs.map((b) => model.pickClaim(b));
    const released = claims.filter((c) => model.release(c.id, c.claimId)).length;
    expect(real.queue.release(claims)).toEqual({ released, stale: claims.length - released });
    checkState(model, real);
  }
  toString = () => `release(${this.backs.map((b) => `-${b}`).join(', ')})`;
}

class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    model.now += this.ms;
    checkState(model, real);
  }
  toString = () => `advance(${this.ms} ms)`;
}

class Cleanup implements Cmd {
  check = () => true;
  run(model: Model, real: Real): void {
    expect(real.queue.cleanup()).toEqual(model.cleanup());
    checkState(model, real);
  }
  toString = () => 'cleanup()';
}

const id = fc.constantFrom(...IDS);
const producer = fc.constantFrom(...PRODUCERS);
const back = fc.nat({ max: 6 });
const dequeue = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.option(producer, { nil: undefined, freq: 4 }), fc.constantFrom(undefined, undefined, 300, 2000))
  .map(([limit, p, lease]) => new Dequeue(limit, p, lease));
const commands = [
  fc.tuple(id, producer, fc.nat({ max: 1000 })).map(([i, p, n]) => new Enqueue(i, p, n)),
  fc.array(fc.record({ id, producer }), { minLength: 1, maxLength: 4 }).map((items) => new EnqueueBatch(items)),
  // Three times: claims are what every other command needs, and a lease must expire
  // maxAttempts times in one run to reach the dead-letter-at-claim rule.
  dequeue,
  dequeue,
  dequeue,
  back.map((b) => new Ack(b)),
  fc.array(back, { minLength: 1, maxLength: 4 }).map((bs) => new AckMany(bs)),
  back.map((b) => new Nack(b)),
  back.map((b) => new DeadLetter(b)),
  fc.array(back, { minLength: 1, maxLength: 3 }).map((bs) => new Release(bs)),
  fc.constantFrom(1, 99, 100, 150, 250, 299, 300, 999, 1000, 1000, 2000, 5000).map((ms) => new Advance(ms)),
  fc.constant(new Cleanup()),
];

const dir = mkdtempSync(join(tmpdir(), 'fp-queue-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

describe('SqliteQueue against a model of its documented rules', () => {
  it('agrees with the model on every command: idempotency, leases, stale claims, backoff, dead letters, per-producer order, retention', () => {
    const seed = process.env.FASTPATH_MODEL_SEED === undefined ? undefined : Number(process.env.FASTPATH_MODEL_SEED);
    const path = process.env.FASTPATH_MODEL_PATH;
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 100, size: 'max' }), (cmds) => {
        const file = join(dir, `run-${runs++}.db`);
        const model = new Model();
        const queue = new SqliteQueue({
          path: file,
          synchronous: 'normal',
          now: () => model.now,
          leaseMs: LEASE_MS,
          maxAttempts: MAX_ATTEMPTS,
          backoff: BACKOFF,
          retentionMs: RETENTION_MS,
          deadRetentionMs: DEAD_RETENTION_MS,
        });
        try {
          fc.modelRun(() => ({ model, real: { queue } }), cmds);
        } finally {
          queue.close();
          for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
        }
      }),
      { numRuns: Number(process.env.FASTPATH_MODEL_RUNS ?? 400), ...(seed === undefined ? {} : { seed }), ...(path === undefined ? {} : { path }) },
    );
  }, 60_000);
});
