import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport, FastSessionResult } from '../harness/bench-result.js';
import { formatBenchTable } from '../harness/bench-report-console.js';
import { renderBenchHtml } from '../harness/bench-report-html.js';
import { parseBenchReport } from '../harness/bench-report-schema.js';
import { ensureNativeTool, isNativeToolUnavailable, runRingPingpong, type NativeTool } from '../harness/native-tools.js';
import { openRingSegment, RingConsumer, unlinkSegment } from '../ring/index.js';

/**
 * `fastpath bench --transport` end to end, as a user runs it (the built CLI, the
 * reference server as a separate process, real /dev/shm rings): the report has every
 * figure of issue 4 and they are sane. Never a speed threshold: the targets are in the
 * report, not in these tests.
 */

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function bench(args: readonly string[], timeoutMs = 60_000) {
  return execa(process.execPath, [CLI, 'bench', ...args], { cwd: ROOT, reject: false, timeout: timeoutMs, env: { NO_COLOR: '1' } });
}

describe('fastpath bench --transport both against the reference', () => {
  let report: BenchReport;
  let fast: FastSessionResult;
  let stderr: string;

  beforeAll(async () => {
    const r = await bench(['--transport', 'both', '--duration', '300ms', '--warmup', '100ms', '--transfer', '1KiB,1MiB', '--ring-capacity', '4MiB', '--no-report', '--json']);
    stderr = r.stderr;
    expect(r.exitCode, r.stderr).toBe(0);
    report = JSON.parse(r.stdout) as BenchReport;
    if (report.fastSession === undefined) throw new Error(`no fastSession section; stderr: ${r.stderr}`);
    fast = report.fastSession;
  }, 60_000);

  it('measures echo over shm (spin, futex, spin-then-futex) and uds, and signal over shm, uds and the plain socket', () => {
    expect(fast.failure, stderr).toBeUndefined();
    expect(fast.transports).toEqual(['shm', 'uds']);
    expect(fast.capacityBytes).toBe(4 * 1_048_576);
    expect(fast.roundTrips.map((r) => r.name)).toEqual([
      'fast.echo.64B.shm.spin',
      'fast.echo.64B.shm.futex',
      'fast.echo.64B.shm.spin-then-futex',
      'fast.echo.64B.uds',
      'fast.signal.64B.shm.spin',
      'fast.signal.64B.uds',
    ]);
    for (const r of fast.roundTrips) {
      expect(r.failure, r.name).toBeUndefined();
      expect(r.errors, `${r.name}: ${r.errorSamples.join(' | ')}`).toBe(0);
      expect(r.count, r.name).toBeGreaterThan(10);
      expect(r.p50Us, r.name).toBeGreaterThan(0);
      expect(r.p50Us).toBeLessThanOrEqual(r.p99Us);
      expect(r.p99Us).toBeLessThanOrEqual(r.maxUs);
      expect(r.throughputPerSec).toBeGreaterThan(0);
      expect(r.runs).toHaveLength(1);
    }
    const shm = fast.roundTrips.filter((r) => r.transport === 'shm');
    expect(shm.map((r) => r.clientWait)).toEqual(['spin', 'futex', 'spin-then-futex', 'spin']);
    // The server's wait comes from its READY.
    const readyShm = fast.ready.find((r) => r.transport === 'shm');
    expect(readyShm?.maxMessageBytes).toBeGreaterThanOrEqual(1_048_576);
    for (const r of shm) expect(r.serverWait).toBe(readyShm?.wait);
    expect(fast.ready.find((r) => r.transport === 'uds')?.serverPid).toBe(readyShm?.serverPid);
    // The plain-socket signal and the UDS floors are the ordinary scenarios of the same run.
    expect(fast.socketSignal?.name).toBe('ndjson.hmac-json.closed.c1.d1.64B');
    expect(fast.udsFloor?.name).toBe('floor.node-echo.ndjson.closed.c1.d1.64B');
    expect(report.scenarios.map((s) => s.name)).toContain(fast.socketSignal?.name);
  });

  it('measures transfers (sink) with p50/p99 and GB/s, and one-way notification throughput, for both transports', () => {
    expect(fast.transfers.map((t) => t.name)).toEqual(['fast.sink.1KiB.shm', 'fast.sink.1KiB.uds', 'fast.sink.1MiB.shm', 'fast.sink.1MiB.uds']);
    for (const t of fast.transfers) {
      expect(t.failure, t.name).toBeUndefined();
      expect(t.errors).toBe(0);
      expect(t.reps).toBeGreaterThanOrEqual(5);
      expect(t.minUs).toBeGreaterThan(0);
      expect(t.minUs).toBeLessThanOrEqual(t.p50Us);
      expect(t.p50Us).toBeLessThanOrEqual(t.p99Us);
      expect(t.p99Us).toBeLessThanOrEqual(t.maxUs);
      // GB/s is the size over the time, in 10^9 bytes per second.
      expect(t.gbPerSecP50).toBeCloseTo(t.sizeBytes / (t.p50Us * 1e3), 2);
      expect(t.gbPerSecSustained).toBeGreaterThan(0);
    }
    expect(fast.oneWay.map((o) => o.name)).toEqual(['fast.notify.64B.shm', 'fast.notify.64B.uds']);
    for (const o of fast.oneWay) {
      expect(o.failure, o.name).toBeUndefined();
      expect(o.messages).toBeGreaterThan(0);
      // durationMs is rounded to whole milliseconds in the report: within 1%.
      const expected = (o.messages * 1_000) / o.durationMs;
      expect(Math.abs(o.messagesPerSec - expected) / expected).toBeLessThan(0.01);
    }
  });

  it('runs the native C ring floor in the same run and reports ratios and the targets with met / not met', () => {
    const ring = fast.nativeRing;
    expect(ring, fast.notes.join(' | ')).toBeDefined();
    expect(ring?.count).toBeGreaterThan(1_000);
    expect(ring?.p50Us).toBeGreaterThan(0);
    expect(ring?.p50Us).toBeLessThanOrEqual(ring?.p99Us ?? 0);
    expect(ring?.transfers.map((t) => t.sizeBytes)).toEqual([1_024, 1_048_576]);
    const echoSpin = fast.comparisons.find((c) => c.measure === 'echo 64B round trip p50 (shm wait spin)');
    expect(echoSpin?.unit).toBe('us');
    expect(echoSpin?.shmOverUds).toBeCloseTo((echoSpin?.shm ?? 0) / (echoSpin?.uds ?? 1), 2);
    expect(echoSpin?.shmOverNativeRing).toBeCloseTo((echoSpin?.shm ?? 0) / (ring?.p50Us ?? 1), 2);
    const signal = fast.comparisons.find((c) => c.measure === 'signal 64B round trip p50');
    expect(signal?.socket).toBe(fast.socketSignal?.p50Us);
    expect(signal?.shmOverSocket).toBeGreaterThan(0);
    const oneMiB = fast.comparisons.find((c) => c.measure === 'sink 1MiB GB/s (p50)');
    expect(oneMiB?.nativeRing).toBe(ring?.transfers[1]?.gbPerSecP50);
    expect(fast.targets.map((t) => t.id)).toEqual(['round-trip-spin', 'round-trip-futex', 'transfer-1MiB', 'transfer-10MiB', 'throughput', 'one-way']);
    for (const t of fast.targets) {
      if (t.id === 'transfer-10MiB') {
        // Not asked for in this run (--transfer 1KiB,1MiB): not measured, not judged.
        expect(t.measured).toBeUndefined();
        expect(t.met).toBeUndefined();
        continue;
      }
      expect(typeof t.met, t.id).toBe('boolean');
      expect(t.met).toBe(t.comparison === '<=' ? (t.measured ?? Infinity) <= t.limit : (t.measured ?? 0) >= t.limit);
    }
  });

  it('reads back through the report schema (bench compare) and renders in the console table and the HTML report', () => {
    const parsed = parseBenchReport(JSON.parse(JSON.stringify(report)), 'bench-shm.json');
    expect(parsed.fastSession?.roundTrips.map((r) => r.name)).toEqual(fast.roundTrips.map((r) => r.name));
    const table = formatBenchTable(parsed);
    expect(table).toMatch(/Fast sessions .*shm \+ uds/);
    expect(table).toContain('fast.echo.64B.shm.spin');
    expect(table).toMatch(/Targets of issue 4/);
    expect(table).toMatch(/Native C ring floor/);
    const html = renderBenchHtml(parsed);
    expect(html).toContain('id="fast-session"');
    expect(html).toContain('fast.sink.1MiB.uds');
  });
});

describe('the native C ring floor', () => {
  let tool: NativeTool;
  beforeAll(async () => {
    const t = await ensureNativeTool('ring-pingpong');
    if (isNativeToolUnavailable(t)) throw new Error(t.unavailable);
    tool = t;
  }, 120_000);

  it('ping-pongs records between two processes and times 1 MiB and 10 MiB transfers (chunked beyond the record limit)', async () => {
    const r = await runRingPingpong(tool, { count: 20_000, sizeBytes: 64, transferSizesBytes: [1_048_576, 10 * 1_048_576], reps: 5, capacityBytes: 4 * 1_048_576 });
    expect(r.capacityBytes).toBe(4 * 1_048_576);
    expect(r.recordLimitBytes).toBe(2 * 1_048_576);
    expect(r.pingpong.count).toBe(20_000);
    expect(r.pingpong.minNs).toBeGreaterThan(0);
    expect(r.pingpong.p50Ns).toBeLessThanOrEqual(r.pingpong.p99Ns);
    expect(r.transfers.map((t) => [t.sizeBytes, t.reps])).toEqual([
      [1_048_576, 5],
      [10 * 1_048_576, 5],
    ]);
    for (const t of r.transfers) expect(t.p50Ns).toBeGreaterThan(0);
    expect(existsSync('/dev/shm')).toBe(true);
  });

  it('writes rings the TypeScript ring reads (§10.3 layout, record checks, sequence numbers)', async () => {
    const name = `fastpath-${process.pid}-cemit-req`;
    const out = await execa(tool.path, ['--emit', name, '40'], { reject: false });
    expect(out.exitCode, out.stderr).toBe(0);
    try {
      const segment = openRingSegment(name, 1 << 16);
      const consumer = new RingConsumer(segment.buffer, { expectCapacityBytes: 1 << 16 });
      for (let k = 0; k < 40; k++) {
        const record = consumer.tryRead();
        expect(record?.type).toBe(1);
        expect(record?.seq).toBe(k);
        expect(record?.payload.byteLength).toBe(k + 1);
        expect([...(record?.payload ?? [])]).toEqual(Array.from({ length: k + 1 }, (_, i) => (k + i) & 0xff));
        if (record !== null) consumer.release(record);
      }
      expect(consumer.tryRead()).toBeNull();
      segment.close();
    } finally {
      unlinkSegment(name);
    }
  });
});

describe('fastpath bench --transport refuses bad flags', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown transport', ['--transport', 'tcp'], /--transport must be shm, uds or both/],
    ['a ring capacity that is not a power of two', ['--transport', 'shm', '--ring-capacity', '3000'], /--ring-capacity must be a power of two/],
    ['a transfer size of zero', ['--transport', 'shm', '--transfer', '1KiB,0'], /--transfer takes sizes .* "0" is not one/],
    ['several connections', ['--transport', 'uds', '--connections', '4'], /--transport measures one connection.*--connections 4/],
  ];
  it.each(cases)('%s: one line and exit 2', async (_name, args, message) => {
    const r = await bench([...args, '--no-report'], 30_000);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
