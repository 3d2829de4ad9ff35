import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLatencyHistogram, decodeHistogram, recordLatencyNs } from './latency-histogram.js';
import { runLoadGroup, type LoadGroupEvent } from './load-group.js';
import type { LoadPlan, RequestRecipe } from './load-plan.js';
import { IntervalMerger, loadWorkerPath, runLoad, type LoadSchedule, type StreamedInterval } from './load-runner.js';

/**
 * The load engine's streaming mode (soak): interval histograms leave as soon as they
 * are complete and are not kept; with it off, the engine keeps them as the bench
 * expects. Against a small in-test ndjson server that accepts every request (and, for
 * one test, stops answering).
 */

const RECIPE: RequestRecipe = {
  framing: 'ndjson',
  maxFrameBytes: 1_048_576,
  auth: 'none',
  secret: '',
  signalBytes: 64,
  dialect: { kind: 'spec' },
  replyCheck: 'dialect',
  idPrefix: 't',
  presign: 0,
};

/** Accepts every ndjson request, echoing its id; after `answerFirst` requests it goes silent. */
async function acceptingServer(answerFirst = Number.POSITIVE_INFINITY): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-load-group-'));
  const path = join(dir, 's.sock');
  let answered = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl = buf.indexOf('\n');
      let out = '';
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const id = (JSON.parse(line) as { id: number }).id;
        if (answered++ < answerFirst) out += `${JSON.stringify({ accepted: true, id })}\n`;
        nl = buf.indexOf('\n');
      }
      if (out !== '') sock.write(out);
    });
  });
  await new Promise<void>((res) => server.listen(path, res));
  onTestFinished(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => server.close(() => res()));
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

function plan(socketPath: string, over: Partial<LoadPlan>): LoadPlan {
  return {
    socketPath,
    loop: 'open',
    connections: 2,
    firstConnection: 0,
    totalConnections: 2,
    depth: 64,
    ratePerSec: 2_000,
    warmupMs: 100,
    durationMs: 2_000,
    replyTimeoutMs: 2_000,
    lateThresholdUs: 1_000,
    intervalMs: 50,
    originNs: process.hrtime.bigint().toString(),
    startAtNs: 50e6,
    request: RECIPE,
    streamIntervals: false,
    progressMs: 200,
    ...over,
  };
}

describe('runLoadGroup streaming', () => {
  it('emits each interval once it is complete, in order, and keeps only the incomplete ones', async () => {
    const path = await acceptingServer();
    const events: { at: number; event: LoadGroupEvent }[] = [];
    const started = performance.now();
    const result = await runLoadGroup(plan(path, { streamIntervals: true }), (event) => events.push({ at: performance.now() - started, event }));
    const intervals = events.flatMap((e) => (e.event.kind === 'interval' ? [{ at: e.at, ...e.event }] : []));
    // 2 s in 50 ms intervals.
    expect(intervals.map((i) => i.index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Incremental: the first interval left about a second and a half before the last one.
    const first = intervals[0];
    const last = intervals[intervals.length - 1];
    expect((last?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan(1_000);
    // Not kept: at no report did the group hold more than a few of the 40.
    const retained = events.map((e) => e.event.counters.retainedIntervals);
    expect(Math.max(...retained)).toBeLessThanOrEqual(10);
    expect(result.intervals).toEqual([]);
    // Nothing lost on the way: the intervals add up to the whole.
    const total = intervals.reduce((n, i) => n + decodeHistogram(i.histogram).totalCount, 0);
    expect(result.received).toBeGreaterThan(3_000);
    expect(total).toBe(result.received);
    expect(decodeHistogram(result.histogram).totalCount).toBe(result.received);
    expect(events.some((e) => e.event.kind === 'counters')).toBe(true);
    expect(result.lost).toBe(0);
    expect(result.errors).toBe(0);
  });

  it('keeps the intervals and reports nothing while running when streaming is off (the bench)', async () => {
    const path = await acceptingServer();
    const events: LoadGroupEvent[] = [];
    const result = await runLoadGroup(plan(path, { durationMs: 500 }), (e) => events.push(e));
    expect(events).toEqual([]);
    expect(result.intervals.map((i) => i.index)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(result.intervals.reduce((n, i) => n + decodeHistogram(i.histogram).totalCount, 0)).toBe(result.received);
  });

  it('counts requests in flight when the target goes silent as lost, and emits the intervals up to the stop', async () => {
    const path = await acceptingServer(300);
    const events: LoadGroupEvent[] = [];
    const result = await runLoadGroup(plan(path, { durationMs: 3_000, replyTimeoutMs: 300, streamIntervals: true }), (e) => events.push(e));
    expect(result.failure).toMatch(/stopped answering/);
    expect(result.lost).toBeGreaterThan(0);
    expect(result.unanswered).toBe(result.lost + result.unsent);
    const indices = events.flatMap((e) => (e.kind === 'interval' ? [e.index] : []));
    // Stopped after about 0.15 s of answers plus the 0.3 s reply timeout: far fewer than the 60 intervals planned.
    expect(indices.length).toBeGreaterThan(0);
    expect(indices.length).toBeLessThan(40);
    expect(indices).toEqual(Array.from({ length: indices.length }, (_, i) => i));
  });
});

describe('IntervalMerger', () => {
  const h = (...valuesNs: number[]) => {
    const x = createLatencyHistogram();
    for (const v of valuesNs) recordLatencyNs(x, v);
    return x;
  };

  it('emits interval k once every group has reported it or finished, merged exactly, in order', () => {
    const out: StreamedInterval[] = [];
    const m = new IntervalMerger(2, { intervalMs: 100, durationMs: 250 }, (iv) => out.push(iv));
    m.add(0, 0, h(1_000, 2_000));
    expect(out).toEqual([]);
    m.add(0, 1, h(3_000));
    m.add(1, 0, h(4_000));
    expect(out.map((o) => [o.index, o.histogram.totalCount])).toEqual([[0, 3]]);
    m.add(0, 2, h(5_000));
    expect(m.retained).toBe(2);
    m.finish(1);
    expect(out.map((o) => [o.index, o.startMs, o.durationMs, o.histogram.totalCount])).toEqual([
      [0, 0, 100, 3],
      [1, 100, 100, 1],
      // The last interval is cut at the end of the measured phase.
      [2, 200, 50, 1],
    ]);
    expect(out[0]?.histogram.maxValue).toBeGreaterThanOrEqual(4_000);
    expect(m.retained).toBe(0);
  });
});

describe('runLoad streaming over worker threads', () => {
  it.skipIf(!existsSync(loadWorkerPath()))('merges the threads’ intervals by index and hands them over in order', async () => {
    const path = await acceptingServer();
    const order: string[] = [];
    const intervals: StreamedInterval[] = [];
    let schedule: LoadSchedule | undefined;
    let countersSeen = 0;
    const outcome = await runLoad(
      {
        socketPath: path,
        loop: 'open',
        connections: 4,
        depth: 64,
        ratePerSec: 2_000,
        warmupMs: 200,
        durationMs: 1_500,
        replyTimeoutMs: 2_000,
        lateThresholdUs: 1_000,
        intervalMs: 100,
        request: RECIPE,
        threads: 2,
        streamIntervals: true,
        progressMs: 100,
      },
      {
        onStart: (s) => {
          order.push('start');
          schedule = s;
        },
        onInterval: (iv) => {
          order.push('interval');
          intervals.push(iv);
        },
        onCounters: () => countersSeen++,
      },
    );
    expect(order[0]).toBe('start');
    expect(schedule?.measureEndEpochMs).toBe((schedule?.measureStartEpochMs ?? 0) + 1_500);
    expect(intervals.map((i) => i.index)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(intervals.reduce((n, i) => n + i.histogram.totalCount, 0)).toBe(outcome.received);
    expect(outcome.received).toBeGreaterThan(2_500);
    expect(outcome.intervals).toEqual([]);
    expect(countersSeen).toBeGreaterThan(0);
    expect(outcome.lost).toBe(0);
  });
});
