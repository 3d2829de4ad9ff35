import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Comparison } from '../harness/bench-compare.js';
import { reportOf, runs, runScenario } from '../harness/bench-compare-fixture.js';
import { parseBenchCompareOptions, registerBenchCompare } from './bench-compare.js';

const dir = mkdtempSync(join(tmpdir(), 'fastpath-cli-bench-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

function writeReport(file: string, slowdown: number): string {
  const report = reportOf([runScenario('closed.c1.d1.64B', runs(slowdown)), runScenario('closed.c4.d1.64B', runs(1))]);
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify(report, null, 2));
  return path;
}

const base = writeReport('base.json', 1);
const same = writeReport('same.json', 1);
const slower30 = writeReport('slower30.json', 1.3);
const slower5 = writeReport('slower5.json', 1.05);

/** Runs `bench <args…>` in process, as cli/main.ts would, and returns what it printed and the exit code. */
async function run(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  const bench = new Command('bench').exitOverride().configureOutput({ writeErr: (s) => err.push(s), writeOut: (s) => out.push(s) });
  registerBenchCompare(bench);
  await bench.parseAsync(args, { from: 'user' });
  vi.restoreAllMocks();
  return { stdout: out.join(''), stderr: err.join(''), exitCode: typeof process.exitCode === 'number' ? process.exitCode : 0 };
}

describe('fastpath bench compare', () => {
  it('finds no regression between identical reports: exit 0', async () => {
    const res = await run('compare', base, same, '--fail-on-regression', '10');
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain('closed.c1.d1.64B  [ndjson/hmac-json]  samples: runs, n = 5 base vs 5 candidate');
    expect(res.stdout).toContain('no regression: 0 regression(s)');
  });

  it('fails a candidate whose runs are 30% slower: exit 1 with --fail-on-regression 10', async () => {
    const res = await run('compare', base, slower30, '--fail-on-regression', '10');
    expect(res.exitCode).toBe(1);
    expect(res.stdout).toMatch(/p50 µs\s+10\.00\s+13\.00\s+\+30\.0%\s+5\/5\s+0\.008\s+REGRESSION/);
    expect(res.stdout).toContain('REGRESSED (closed.c1.d1.64B)');
  });

  it('passes a candidate 5% slower under --fail-on-regression 10: exit 0', async () => {
    const res = await run('compare', base, slower5, '--fail-on-regression', '10%');
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain('within the 10% allowance');
  });

  it('reports a regression without failing when --fail-on-regression is absent, and says how to fail', async () => {
    const res = await run('compare', base, slower30);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain('REGRESSED');
    expect(res.stderr).toContain('add --fail-on-regression <pct>');
  });

  it('prints the Comparison as JSON with --json', async () => {
    const res = await run('compare', base, slower30, '--json', '--alpha', '0.01', '--fail-on-regression', '10');
    const c = JSON.parse(res.stdout) as Comparison;
    expect(c).toMatchObject({ alpha: 0.01, failOnRegressionPct: 10, regressed: true, onlyInBase: [], onlyInCandidate: [] });
    expect(c.scenarios.map((s) => [s.name, s.regressed])).toEqual([
      ['closed.c1.d1.64B', true],
      ['closed.c4.d1.64B', false],
    ]);
    expect(c.scenarios[0]!.metrics[0]).toMatchObject({ metric: 'p50Us', verdict: 'regression', source: 'runs', nBase: 5, nCandidate: 5 });
    expect(res.exitCode).toBe(1);
  });

  it('turns an unreadable or foreign report into FP_USAGE naming the file', async () => {
    const missing = join(dir, 'missing.json');
    await expect(run('compare', base, missing)).rejects.toMatchObject({ code: 'FP_USAGE', message: `cannot read bench report ${missing}: no such file (check the path)` });
    const notJson = join(dir, 'progress.txt');
    writeFileSync(notJson, 'running closed.c1.d1.64B ...\n');
    await expect(run('compare', notJson, base)).rejects.toMatchObject({ code: 'FP_USAGE', message: expect.stringContaining(`bench report ${notJson} is not valid JSON`) });
    const foreign = join(dir, 'foreign.json');
    writeFileSync(foreign, JSON.stringify({ scenarios: [] }));
    await expect(run('compare', base, foreign)).rejects.toMatchObject({ code: 'FP_USAGE', message: expect.stringContaining('was it written by `fastpath bench --json > file`?') });
  });

  it('rejects bad flag values with FP_USAGE naming the flag and the value', async () => {
    for (const value of ['abc', '-5', '', '1e3', 'Infinity']) {
      await expect(run('compare', base, same, '--fail-on-regression', value), value).rejects.toMatchObject({
        code: 'FP_USAGE',
        message: `--fail-on-regression must be a percentage ≥ 0 (e.g. 10 to allow up to 10% worse), got "${value}"`,
      });
    }
    for (const value of ['0', '1', '1.5', 'x', '-0.1']) {
      await expect(run('compare', base, same, '--alpha', value), value).rejects.toMatchObject({
        code: 'FP_USAGE',
        message: `--alpha must be a number between 0 and 1 (exclusive), e.g. 0.05, got "${value}"`,
      });
    }
  });

  it('leaves a missing argument to commander (a usage error that cli/main.ts maps to exit 2)', async () => {
    await expect(run('compare', base)).rejects.toBeInstanceOf(CommanderError);
  });

  it('accepts decimal flag values', () => {
    expect(parseBenchCompareOptions({ failOnRegression: '2.5', alpha: '.1', json: true })).toEqual({ failOnRegression: 2.5, alpha: 0.1, json: true });
    expect(parseBenchCompareOptions({ failOnRegression: '0' })).toEqual({ failOnRegression: 0 });
  });
});
