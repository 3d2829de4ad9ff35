import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { isFastPathError } from '../protocol/index.js';
import { defaultSoakDir, parseSoakOptions, registerSoak, soakAction, type SoakCliOptions } from './soak.js';

/** Parses `fastpath soak ARGS` with the real command definition (defaults included), without running it. */
function parse(args: readonly string[]): SoakCliOptions {
  const program = new Command('fastpath').exitOverride();
  const cmd = registerSoak(program).exitOverride();
  let raw: unknown;
  cmd.action((opts: unknown) => {
    raw = opts;
  });
  program.parse(['node', 'fastpath', 'soak', ...args]);
  return parseSoakOptions(raw);
}

function usageError(args: readonly string[]): string {
  try {
    parse(args);
  } catch (err) {
    if (isFastPathError(err) && err.code === 'FP_USAGE') return err.message;
    throw err;
  }
  throw new Error(`fastpath soak ${args.join(' ')} was accepted`);
}

describe('fastpath soak flags', () => {
  it('defaults to the reference at 13,400 requests/s for 60 s after a 20 s warm-up', () => {
    const o = parse([]);
    expect(o).toMatchObject({
      target: 'reference',
      rate: 13_400,
      duration: 60_000,
      warmup: 20_000,
      connections: 4,
      depth: 64,
      threads: 1,
      payload: 64,
      interval: 5_000,
      sampleInterval: 5_000,
      maxRssGrowthPct: 5,
      maxFdGrowth: 0,
      maxErrors: 0,
      replyTimeoutMs: 5_000,
      report: true,
    });
    expect(o.maxP99DriftPct).toBeUndefined();
  });

  it('reads durations with units and thresholds', () => {
    const o = parse(['--duration', '2h', '--warmup', '90s', '--sample-interval', '500ms', '--interval', '1m', '--max-rss-growth-pct', '2.5', '--max-fd-growth', '3', '--max-p99-drift-pct', '50']);
    expect(o).toMatchObject({ duration: 7_200_000, warmup: 90_000, sampleInterval: 500, interval: 60_000, maxRssGrowthPct: 2.5, maxFdGrowth: 3, maxP99DriftPct: 50 });
  });

  it('says what is wrong and how to fix it', () => {
    expect(usageError(['--rate', '0'])).toMatch(/^--rate must be a number above 0 and at most 10000000, got "0" \(e\.g\. --rate 13400\)$/);
    expect(usageError(['--duration', '5'])).toMatch(/^--duration needs a unit: "5" is ambiguous .*--duration 5s or --duration 5m$/);
    expect(usageError(['--duration', '8s'])).toMatch(/^--duration 8s is shorter than two sample intervals \(--sample-interval 5s\).*use --duration 10s or more/);
    expect(usageError(['--duration', '500ms'])).toMatch(/^--duration "500ms" is below the minimum 1s/);
    expect(usageError(['--warmup', '2h'])).toMatch(/^--warmup "2h" is above the maximum 1h/);
    expect(usageError(['--duration', 'long'])).toMatch(/^--duration "long" is not a duration/);
    expect(usageError(['--interval', '2m'])).toMatch(/^--interval 2m is longer than --duration 1m/);
    expect(usageError(['--sample-interval', '100ms'])).toMatch(/^--sample-interval "100ms" is below the minimum 200ms/);
    expect(usageError(['--connections', '0'])).toMatch(/^--connections must be a whole number from 1 to 10000, got "0"/);
    expect(usageError(['--payload', '3XB'])).toMatch(/^--payload: "3XB" is not a size/);
    expect(usageError(['--max-rss-growth-pct', '-1'])).toMatch(/^--max-rss-growth-pct must be a number from 0/);
    expect(usageError(['--report-dir', 'x', '--no-report'])).toMatch(/--report-dir and --no-report contradict/);
  });

  it('refuses an attached target without --pid before connecting (no leak can be found without /proc)', async () => {
    const opts = parse(['--target', 'unix:/nonexistent/fastpath.sock', '--no-report']);
    const err: unknown = await soakAction(opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFastPathError(err) && err.code === 'FP_USAGE' ? err.message : String(err)).toMatch(/is attached: pass --pid PID/);
  });

  it('puts reports under reports/soak/<timestamp>', () => {
    expect(defaultSoakDir(new Date('2026-03-04T05:06:07.890Z'), '/w')).toBe('/w/reports/soak/2026-03-04T05-06-07Z');
  });

  const CLI = join(resolve(import.meta.dirname, '..'), 'dist', 'cli', 'main.js');
  it.skipIf(!existsSync(CLI))('exits 2 with the message for bad flags', async () => {
    const r = await execa(process.execPath, [CLI, 'soak', '--rate', '0'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--rate must be a number above 0/);
    expect(r.stdout).toBe('');
  });
});
