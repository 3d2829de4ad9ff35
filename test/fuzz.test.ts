/**
 * The fuzzer proves itself (docs/FUZZ.md): with a fixed seed and a bounded number of
 * inputs, each deliberately broken server whose defect is reachable over the wire is
 * FAILED by the property that checks the rule it breaks, a replay file is written, and
 * `--replay` reproduces the failure; 10 000 inputs against the reference find nothing.
 * Each run is the built CLI (`fastpath fuzz`) in its own process, as CI calls it; the
 * reports stay in reports/fuzz-test/.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');

interface IndexCase {
  id: string;
  mode: string;
  verdict: string;
  actual: string;
}
interface IndexJson {
  summary: Record<string, number>;
  modes: { label: string; startError?: string }[];
  cases: IndexCase[];
}
interface FuzzJson {
  runSeed: number;
  inputs: number;
  durationMs: number;
  inputsPerSec: number;
  findings: { property: string; mode: string; replayFile: string; inputsToFailure: number; problem: string }[];
}

interface Run {
  exitCode: number | undefined;
  index: IndexJson;
  fuzz: FuzzJson;
  reportDir: string;
  stdout: string;
  stderr: string;
}

/** Runs `fastpath fuzz ARGS` with its report in reports/fuzz-test/NAME. */
async function fuzz(name: string, args: string[], timeoutMs: number): Promise<Run> {
  const reportDir = join(root, 'reports/fuzz-test', name);
  rmSync(reportDir, { recursive: true, force: true });
  const run = await execa(process.execPath, [cli, 'fuzz', ...args, '--report-dir', reportDir], { cwd: root, reject: false, timeout: timeoutMs });
  const read = <T>(file: string): T => {
    try {
      return JSON.parse(readFileSync(join(reportDir, file), 'utf8')) as T;
    } catch {
      throw new Error(`fastpath fuzz ${args.join(' ')} wrote no ${file} (exit ${String(run.exitCode)}): ${run.stderr}`);
    }
  };
  return { exitCode: run.exitCode, index: read<IndexJson>('index.json'), fuzz: read<FuzzJson>('fuzz.json'), reportDir, stdout: run.stdout, stderr: run.stderr };
}

function explain(run: Run): string {
  const lines = run.index.modes.filter((m) => m.startError).map((m) => `${m.label}: target did not start: ${m.startError}`);
  for (const c of run.index.cases) if (c.verdict !== 'OK') lines.push(`${c.mode} ${c.id} ${c.verdict}: ${c.actual}`);
  return lines.join('\n') || run.stderr;
}

/**
 * The broken servers of fixtures/broken/README.md whose defect wire input reaches, and
 * the property that must find each. (keeps-socket-file, drops-in-flight,
 * world-writable-socket and volatile-ledger break lifecycle and filesystem rules that
 * no wire input reaches; the conformance self-test covers them.)
 */
const FINDS: Record<string, string> = {
  'signature-prefix': 'fuzz.auth.signature',
  'unordered-replies': 'fuzz.transport.pipelined',
  'no-max-frame': 'fuzz.frame.oversize',
  'silent-connection-limit': 'fuzz.transport.connections',
  'unframed-close-reply': 'fuzz.frame.oversize',
  'confirm-twice': 'fuzz.signal.lifecycle',
  'applies-duplicates': 'fuzz.message.dedupe',
  'no-replay-check': 'fuzz.auth.replay',
};

/** Inputs each broken server gets at most; each is found within a handful. */
const FIXTURE_RUNS = 200;
const FIXTURE_SEED = '1';

describe('fastpath fuzz finds each broken server over the wire', () => {
  for (const [fault, property] of Object.entries(FINDS)) {
    it(`${fault}: ${property} FAILED, the replay file reproduces it`, async () => {
      const target = join('fixtures/broken', `${fault}.json`);
      const run = await fuzz(fault, ['--target', target, '--properties', property, '--runs', String(FIXTURE_RUNS), '--seed', FIXTURE_SEED, '--shrink-time', '10s'], 120_000);
      expect(run.exitCode, explain(run)).toBe(1);
      const failed = run.index.cases.filter((c) => c.verdict === 'FAILED');
      expect(failed.map((c) => c.id), explain(run)).toEqual([property]);
      expect(existsSync(join(run.reportDir, 'junit.xml'))).toBe(true);
      expect(readFileSync(join(run.reportDir, 'junit.xml'), 'utf8')).toMatch(/<failure/);

      const finding = run.fuzz.findings.find((f) => f.property === property);
      expect(finding, explain(run)).toBeDefined();
      expect(finding!.inputsToFailure).toBeLessThanOrEqual(FIXTURE_RUNS);
      expect(existsSync(finding!.replayFile)).toBe(true);
      expect(run.stdout).toContain(`--replay ${finding!.replayFile}`);
      expect(run.stdout).toMatch(/seed -?\d+, path \d+(:\d+)*/);

      const replay = await fuzz(`${fault}-replay`, ['--target', target, '--replay', finding!.replayFile], 60_000);
      expect(replay.exitCode, explain(replay)).toBe(1);
      expect(replay.index.cases.map((c) => `${c.id} ${c.verdict}`)).toEqual([`${property} FAILED`]);
      expect(replay.index.cases[0]!.actual).toMatch(/reproduced from the replay file/);
      expect(replay.fuzz.inputs).toBe(1);
    }, 180_000);
  }
});

describe('fastpath fuzz against the reference', () => {
  it('10 000 inputs over all nine modes find nothing', async () => {
    const run = await fuzz('reference-10k', ['--runs', '10000', '--seed', '20240601'], 600_000);
    expect(run.index.modes.filter((m) => m.startError !== undefined), explain(run)).toEqual([]);
    expect(run.index.modes).toHaveLength(9);
    expect(run.exitCode, explain(run)).toBe(0);
    expect(run.index.summary.FAILED).toBe(0);
    expect(run.fuzz.findings).toEqual([]);
    expect(run.fuzz.inputs).toBeGreaterThanOrEqual(10_000);
    // The figure docs/FUZZ.md quotes; printed so a CI log shows it.
    process.stderr.write(`fuzz: ${run.fuzz.inputs} inputs against the reference in ${(run.fuzz.durationMs / 1000).toFixed(1)} s (${run.fuzz.inputsPerSec} inputs/s)\n`);
  }, 600_000);
});
