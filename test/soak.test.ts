import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readIntervalLog } from '../harness/interval-log.js';
import { parseHgrm } from '../harness/latency-histogram.js';
import type { SoakSample } from '../harness/soak-sampler.js';

/**
 * `fastpath soak` end to end, as CI runs it (the built CLI in a child process, real
 * targets): the reference passes the 60-second soak at the seed's 13,400 requests/s,
 * and the leaky fixture (fixtures/leaky) is flagged, each leak by exactly its check.
 * About two and a half minutes on two cores.
 */

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function soak(args: readonly string[], timeoutMs: number) {
  return execa(process.execPath, [CLI, 'soak', ...args], { cwd: ROOT, reject: false, timeout: timeoutMs, env: { NO_COLOR: '1' } });
}

interface SoakJson {
  verdict: 'PASS' | 'FAIL';
  ops: number;
  opsPerSec: number;
  rssGrowthPct: number | null;
  fdGrowth: number | null;
  errors: number;
  lost: number;
  p50Us: number;
  p99Us: number;
  reasons: string[];
  checks: { name: string; pass: boolean }[];
  targetCpuPct: number | null;
  intervalCount: number;
  sampleCount: number;
  report: { dir: string; html: string; json: string; files: { intervalLog: string; samples: string; hgrm: string } } | null;
}

const failed = (r: SoakJson): string[] => r.checks.filter((c) => !c.pass).map((c) => c.name);

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fp-soak-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('the reference passes the 60-second soak at 13,400 requests/s', () => {
  const RATE = 13_400;
  const DURATION_S = 60;
  let run: { exitCode: number | undefined; stdout: string; stderr: string };
  let report: SoakJson;

  beforeAll(async () => {
    const r = await soak(['--duration', `${DURATION_S}s`, '--rate', String(RATE), '--json', '--report-dir', join(tmp, 'reference')], 150_000);
    run = { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    report = JSON.parse(r.stdout) as SoakJson;
  }, 160_000);

  it('PASS, exit 0, every offered request answered in sequence', () => {
    expect(run.exitCode, `${run.stderr}\n${JSON.stringify(report.reasons)}`).toBe(0);
    expect(report.verdict).toBe('PASS');
    expect(Object.keys(report).slice(0, 9)).toEqual(['verdict', 'ops', 'opsPerSec', 'rssGrowthPct', 'fdGrowth', 'errors', 'lost', 'p50Us', 'p99Us']);
    expect(Math.abs(report.ops - RATE * DURATION_S)).toBeLessThanOrEqual(RATE * DURATION_S * 0.005);
    expect(report.opsPerSec).toBeCloseTo(report.ops / DURATION_S, 6);
    expect(report.lost).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.rssGrowthPct).not.toBeNull();
    expect(report.rssGrowthPct ?? Infinity).toBeLessThanOrEqual(5);
    expect(report.fdGrowth).toBe(0);
    expect(report.p50Us).toBeGreaterThan(0);
    expect(report.p99Us).toBeGreaterThanOrEqual(report.p50Us);
    expect(report.targetCpuPct ?? 0).toBeGreaterThan(0);
  });

  it('writes one histogram per interval to the interval log, and they read back to the whole run', async () => {
    const text = await readFile(report.report?.files.intervalLog ?? '', 'utf8');
    const histograms = readIntervalLog(text);
    expect(histograms).toHaveLength(DURATION_S / 5);
    expect(report.intervalCount).toBe(DURATION_S / 5);
    expect(histograms.reduce((n, h) => n + h.totalCount, 0)).toBe(report.ops);
    expect(parseHgrm(await readFile(report.report?.files.hgrm ?? '', 'utf8')).totalCount).toBe(report.ops);
  });

  it('samples the target every 5 s into samples.jsonl, warm-up included, STATUS counters too', async () => {
    const lines = (await readFile(report.report?.files.samples ?? '', 'utf8')).trim().split('\n');
    const samples = lines.map((l) => JSON.parse(l) as SoakSample);
    const measured = samples.filter((s) => s.tMs >= 0);
    // t = 0, 5, …, 55 s, plus up to 4 in the 20 s warm-up.
    expect(measured.map((s) => s.tMs)).toEqual(Array.from({ length: DURATION_S / 5 }, (_, i) => i * 5_000));
    expect(samples.length - measured.length).toBeGreaterThanOrEqual(3);
    expect(samples.length - measured.length).toBeLessThanOrEqual(4);
    expect(report.sampleCount).toBe(samples.length);
    for (const s of measured) {
      expect(s.alive).toBe(true);
      expect(s.rssBytes).toBeGreaterThan(0);
      expect(s.fds).toBeGreaterThan(0);
      expect(s.sockets).toBeGreaterThanOrEqual(4);
      expect(s.status?.metrics.messagesReceived).toBeGreaterThan(0);
    }
    // STATUS counts the soak's load: the last sample saw about 75 s of it.
    expect(measured[measured.length - 1]?.status?.metrics.messagesReceived).toBeGreaterThan(report.ops * 0.9);
  });

  it('writes the HTML report and the full JSON', async () => {
    const html = await readFile(report.report?.html ?? '', 'utf8');
    expect(html).toContain('<span class="pass">PASS</span>');
    for (const plot of ['rss-over-time', 'fds-over-time', 'p99-over-time', 'throughput-over-time']) expect(html).toContain(`class="plot ${plot}"`);
    const full = JSON.parse(await readFile(report.report?.json ?? '', 'utf8')) as { intervals: unknown[]; samples: unknown[] };
    expect(full.intervals).toHaveLength(DURATION_S / 5);
    expect((await stat(report.report?.dir ?? '')).isDirectory()).toBe(true);
  });
});

describe('the leaky fixture is flagged', () => {
  /** Short runs at a low rate (the leaks do not depend on it), two at a time. */
  const SHORT = ['--rate', '1000', '--warmup', '5s', '--duration', '10s', '--sample-interval', '1s', '--interval', '1s', '--json'];
  let both: { exitCode: number | undefined; report: SoakJson };
  let memory: { exitCode: number | undefined; report: SoakJson };

  beforeAll(async () => {
    const [b, m] = await Promise.all([
      soak(['--target', 'fixtures/leaky/target.json', ...SHORT, '--report-dir', join(tmp, 'leaky')], 60_000),
      soak(['--target', 'fixtures/leaky/memory-only.json', ...SHORT, '--no-report'], 60_000),
    ]);
    both = { exitCode: b.exitCode, report: JSON.parse(b.stdout) as SoakJson };
    memory = { exitCode: m.exitCode, report: JSON.parse(m.stdout) as SoakJson };
  }, 70_000);

  it('leaking memory and FDs: exit 1, FAIL, the reasons name RSS growth and FD growth', () => {
    expect(both.exitCode).toBe(1);
    expect(both.report.verdict).toBe('FAIL');
    expect(failed(both.report)).toEqual(['rss-growth', 'fd-growth']);
    expect(both.report.reasons[0]).toMatch(/^RSS growth \+\d+\.\d+ % after warm-up exceeds 5 %/);
    expect(both.report.reasons[1]).toMatch(/^FD growth \+\d+ exceeds 0/);
    // An FD every 250 ms: about 36 over the 9 s between the first and last samples.
    expect(both.report.fdGrowth).toBeGreaterThanOrEqual(20);
    expect(both.report.errors).toBe(0);
    expect(both.report.lost).toBe(0);
  });

  it('leaking only memory: flagged by the RSS check alone', () => {
    expect(memory.exitCode).toBe(1);
    expect(failed(memory.report)).toEqual(['rss-growth']);
    expect(memory.report.fdGrowth).toBe(0);
  });

  it('leaking only FDs: flagged by the FD check alone (RSS steady after a full warm-up)', async () => {
    // At the seed's rate a fresh Node heap settles within 20 s; at low rates it keeps growing for minutes.
    const r = await soak(['--target', 'fixtures/leaky/fds-only.json', '--warmup', '20s', '--duration', '30s', '--sample-interval', '1s', '--interval', '1s', '--json', '--no-report'], 90_000);
    const report = JSON.parse(r.stdout) as SoakJson;
    expect(r.exitCode).toBe(1);
    expect(failed(report), report.reasons.join('\n')).toEqual(['fd-growth']);
    expect(report.fdGrowth).toBeGreaterThanOrEqual(60);
    expect(report.rssGrowthPct ?? Infinity).toBeLessThanOrEqual(5);
  }, 100_000);
});

describe('a target that dies during the soak', () => {
  it('ends the run early and fails it: the target died and stopped answering', async () => {
    const child = execa(process.execPath, [CLI, 'soak', '--rate', '1000', '--warmup', '2s', '--duration', '30s', '--sample-interval', '1s', '--interval', '1s', '--json', '--no-report'], {
      cwd: ROOT,
      reject: false,
      timeout: 60_000,
    });
    let killed = false;
    child.stderr?.on('data', (chunk: Buffer) => {
      const pid = /target running: .* \(pid (\d+)\)/.exec(chunk.toString())?.[1];
      if (pid !== undefined && !killed) {
        killed = true;
        // Three seconds into the measured phase.
        setTimeout(() => process.kill(Number(pid), 'SIGKILL'), 5_000);
      }
    });
    const started = performance.now();
    const r = await child;
    expect(killed).toBe(true);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(r.exitCode).toBe(1);
    const report = JSON.parse(r.stdout) as SoakJson & { targetDeath: string | null; failure: string | null };
    expect(report.verdict).toBe('FAIL');
    expect(failed(report)).toEqual(expect.arrayContaining(['target-alive', 'answering']));
    expect(report.targetDeath).toMatch(/^killed by SIGKILL/);
    expect(report.reasons.join('\n')).toMatch(/target died: killed by SIGKILL/);
  }, 70_000);
});
