import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport, ScenarioResult } from '../harness/bench-result.js';
import { readIntervalLog } from '../harness/interval-log.js';
import { parseHgrm } from '../harness/latency-histogram.js';

/**
 * `fastpath bench` checked end to end, as a user runs it (the built CLI in a child
 * process, real targets): the measurement itself, not the speed of this machine.
 */

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function bench(args: readonly string[], timeoutMs = 90_000) {
  return execa(process.execPath, [CLI, 'bench', ...args], { cwd: ROOT, reject: false, timeout: timeoutMs, env: { NO_COLOR: '1' } });
}

function parseReport(stdout: string): BenchReport {
  return JSON.parse(stdout) as BenchReport;
}

function targetScenario(report: BenchReport): ScenarioResult {
  const s = report.scenarios.find((x) => x.peer === 'target');
  if (s === undefined) throw new Error(`no target scenario in ${report.scenarios.map((x) => x.name).join(', ')}`);
  return s;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fp-bench-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('fastpath bench measures coordinated omission', () => {
  it('a 100 ms stall shows in the corrected p99 and not in the uncorrected p99; the sends it held back are late', async () => {
    // 1000 req/s, one request in flight: the stall (after request 1500, i.e. ~1 s into the
    // measured 2 s) holds back ~100 intended sends.
    const r = await bench(['--target', 'fixtures/bench/stall.json', '--loop', 'open', '--rate', '1000', '--depth', '1', '--duration', '2s', '--warmup', '500ms', '--no-floor', '--no-native', '--no-report', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = targetScenario(parseReport(r.stdout));
    expect(s.loop).toBe('open');
    expect(s.uncorrected).toBeDefined();
    expect(s.p99Us).toBeGreaterThan(50_000);
    expect(s.uncorrected?.p99Us ?? Infinity).toBeLessThan(10_000);
    expect(s.maxUs).toBeGreaterThanOrEqual(95_000);
    expect(s.late).toBeGreaterThanOrEqual(50);
    expect(s.errors).toBe(0);
    expect(s.unanswered).toBe(0);
  });
});

describe('fastpath bench with a target that stops answering', () => {
  it('reports it (failure, unanswered requests, exit 1) within the reply timeout instead of hanging', async () => {
    const started = performance.now();
    const r = await bench(['--target', 'fixtures/bench/mute.json', '--duration', '3s', '--warmup', '0', '--reply-timeout-ms', '500', '--no-floor', '--no-native', '--no-report', '--json']);
    const elapsedMs = performance.now() - started;
    expect(r.exitCode, r.stderr).toBe(1);
    const s = targetScenario(parseReport(r.stdout));
    expect(s.failure).toMatch(/stopped answering: no reply within 500 ms/);
    expect(s.unanswered).toBeGreaterThanOrEqual(1);
    expect(s.received).toBeGreaterThan(0);
    expect(elapsedMs).toBeLessThan(30_000);
  });
});

describe('fastpath bench against the reference', () => {
  let report: BenchReport;
  const dir = (): string => join(tmp, 'reference');

  beforeAll(async () => {
    const r = await bench(['--duration', '1s', '--warmup', '300ms', '--report-dir', dir(), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    report = parseReport(r.stdout);
  }, 120_000);

  it('prints { env, scenarios } with every figure the issue names, for the target and its same-run floors', () => {
    expect(report.env.nodeVersion).toBe(process.version);
    expect(report.env.kernel.length).toBeGreaterThan(0);
    expect(report.env.cpuModel.length).toBeGreaterThan(0);
    expect(report.env.pinning.mode).toBe('none');
    expect(report.env.target).toMatch(/reference.*ndjson\/hmac-json/);
    const s = targetScenario(report);
    expect(s.name).toBe('ndjson.hmac-json.closed.c1.d1.64B');
    for (const key of ['p50Us', 'p90Us', 'p99Us', 'p999Us', 'p9999Us', 'maxUs', 'meanUs', 'throughputPerSec', 'errors', 'late', 'unanswered'] as const) {
      expect(typeof s[key], key).toBe('number');
    }
    expect(s.errors).toBe(0);
    expect(s.received).toBeGreaterThan(100);
    expect(s.p50Us).toBeGreaterThan(0);
    expect(s.p50Us).toBeLessThanOrEqual(s.p99Us);
    expect(s.p99Us).toBeLessThanOrEqual(s.maxUs);
    // The floor is the Node raw echo of the same shape, measured in this run.
    const floor = report.scenarios.find((x) => x.name === 'floor.node-echo.ndjson.closed.c1.d1.64B');
    expect(floor).toBeDefined();
    expect(s.floor).toEqual({ name: floor?.name, p50Us: floor?.p50Us, p99Us: floor?.p99Us });
    expect(s.ratioToFloor?.p50).toBeCloseTo(s.p50Us / (floor?.p50Us ?? 1), 2);
    expect(s.ratioToFloor?.p99).toBeCloseTo(s.p99Us / (floor?.p99Us ?? 1), 2);
    // One run: its own ratio to the floor's run is the headline ratio (bench compare tests these per run).
    expect(s.runs).toHaveLength(1);
    expect(s.runs[0]?.floorRatioP50).toBeCloseTo(s.ratioToFloor?.p50 ?? 0, 2);
    expect(s.runs[0]?.floorRatioP99).toBeCloseTo(s.ratioToFloor?.p99 ?? 0, 2);
  });

  it('writes a .hgrm that parses back to the reported count and an interval log with one histogram per second', async () => {
    const s = targetScenario(report);
    expect(s.files.hgrm).toBeDefined();
    const hgrm = parseHgrm(await readFile(join(dir(), s.files.hgrm ?? ''), 'utf8'));
    expect(hgrm.totalCount).toBe(s.count);
    expect(hgrm.max).toBeCloseTo(s.maxUs, 0);
    const intervals = readIntervalLog(await readFile(join(dir(), s.files.intervalLog ?? ''), 'utf8'));
    expect(intervals.length).toBeGreaterThanOrEqual(1);
    expect(intervals.reduce((a, h) => a + h.totalCount, 0)).toBe(s.count);
  });

  it('writes index.json equal to the printed report and a self-contained index.html', async () => {
    const index = JSON.parse(await readFile(join(dir(), 'index.json'), 'utf8')) as BenchReport;
    expect(index.scenarios.map((x) => x.name)).toEqual(report.scenarios.map((x) => x.name));
    const html = await readFile(join(dir(), 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('ndjson.hmac-json.closed.c1.d1.64B');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);
  });
});

describe('fastpath bench with many connections', () => {
  it('spreads them over worker threads, merges their histograms and reports per-connection fairness', async () => {
    const r = await bench(['--connections', '8', '--threads', '2', '--duration', '1s', '--warmup', '300ms', '--no-floor', '--no-native', '--no-report', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = targetScenario(parseReport(r.stdout));
    expect(s.connections).toBe(8);
    expect(s.errors).toBe(0);
    expect(s.fairness?.connections).toBe(8);
    expect(s.fairness?.minPerConnection).toBeGreaterThan(0);
    expect(s.fairness?.jainIndex).toBeGreaterThan(0);
    expect(s.fairness?.jainIndex).toBeLessThanOrEqual(1);
    // Every recorded latency belongs to a reply counted for some connection.
    expect(s.count).toBe(s.received);
    expect((s.fairness?.meanPerConnection ?? 0) * 8).toBeCloseTo(s.received, 0);
  });
});

describe('fastpath bench with presigned requests', () => {
  it('sends requests built before the clock started, each still accepted once (ids in order, no replay)', async () => {
    const r = await bench(['--framing', 'lp32-msgpack', '--auth', 'hmac-v2', '--depth', '16', '--presign', '20000', '--duration', '1s', '--warmup', '500ms', '--no-floor', '--no-native', '--no-report', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = targetScenario(parseReport(r.stdout));
    expect(s.name).toBe('lp32-msgpack.hmac-v2.closed.c1.d16.64B');
    expect(s.errors).toBe(0);
    expect(s.failure).toBeUndefined();
    expect(s.received).toBeGreaterThan(100);
  });
});

describe('fastpath bench refuses bad flags', () => {
  const cases: [string, string[], RegExp][] = [
    ['open loop without a rate', ['--loop', 'open'], /--loop open needs --rate/],
    ['a rate in closed loop', ['--rate', '100'], /--rate applies to --loop open only/],
    ['zero connections', ['--connections', '0'], /--connections must be a whole number from 1/],
    ['an unknown payload size', ['--payload', '12XB'], /--payload: "12XB" is not a size/],
    ['an unknown pin mode', ['--pin', 'diagonal'], /none, same|same, split|pin/],
    ['a duration without a number', ['--duration', 'forever'], /--duration must be a duration/],
    ['an unknown loop', ['--loop', 'sideways'], /--loop must be closed or open/],
    ['a negative presign count', ['--presign', '-5'], /--presign must be a whole number from 0/],
    ['a missing target file', ['--target', 'fixtures/bench/nope.json'], /nope\.json/],
  ];
  it.each(cases)('%s: one clear message and exit 2', async (_name, args, message) => {
    const r = await bench([...args, '--no-report'], 30_000);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
