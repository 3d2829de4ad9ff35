import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBenchReport, parseBenchReport } from './bench-report-schema.js';
import type { BenchReport, ScenarioResult } from './bench-result.js';

const dir = mkdtempSync(join(tmpdir(), 'fastpath-bench-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const latency = { p50Us: 9.5, p90Us: 12, p99Us: 20.25, p999Us: 41, p9999Us: 80, maxUs: 120, meanUs: 10.1, count: 100_000 };

function scenario(name: string, over: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    ...latency,
    name,
    peer: 'target',
    mode: 'lp32-msgpack/hmac-v2',
    loop: 'open',
    connections: 2,
    depth: 8,
    ratePerSec: 20_000,
    payloadBytes: 64,
    durationMs: 5000,
    warmupMs: 1000,
    sent: 100_000,
    received: 99_990,
    throughputPerSec: 19_998,
    errors: 10,
    errorSamples: ['RATE_LIMITED'],
    late: 3,
    unanswered: 0,
    uncorrected: { ...latency, p99Us: 15 },
    floor: { name: 'floor.node-echo.c2.d8.64B', p50Us: 4, p99Us: 9 },
    ratioToFloor: { p50: 2.375, p99: 2.25 },
    fairness: { connections: 2, minPerConnection: 49_990, maxPerConnection: 50_000, meanPerConnection: 49_995, jainIndex: 0.99999 },
    percentiles: [
      { percentile: 50, valueUs: 9.5 },
      { percentile: 100, valueUs: 120 },
    ],
    intervals: [{ startMs: 0, durationMs: 1000, throughputPerSec: 20_000, p50Us: 9.4, p99Us: 20, maxUs: 100 }],
    runs: [{ p50Us: 9.5, p90Us: 12, p99Us: 20, p999Us: 40, throughputPerSec: 20_000 }],
    files: { hgrm: 'closed.hgrm', intervalLog: 'closed.hlog' },
    failure: undefined,
    ...over,
  };
}

function report(scenarios: readonly ScenarioResult[] = [scenario('open.c2.r20000.64B')]): BenchReport {
  return {
    env: {
      nodeVersion: 'v20.19.0',
      v8Version: '11.3.244.8',
      platform: 'linux',
      arch: 'x64',
      cpuModel: 'Test CPU @ 3.0GHz',
      cpuCount: 8,
      kernel: '6.1.0-18-amd64',
      loadAverage: [0.5, 0.4, 0.3],
      pinning: { mode: 'split', clientCpu: 2, targetCpu: 3 },
      target: 'reference (built-in)',
      startedAt: '2025-01-01T00:00:00.000Z',
      hostname: 'bench-host',
    },
    scenarios,
    codecMatrix: [{ mode: 'ndjson/hmac-json', operation: 'encode', meanNs: 4500, p50Ns: 4100, p99Ns: 6900, opsPerSec: 220_000, samples: 60_000, frameBytes: 186 }],
    http: undefined,
    tool: { name: 'fastpath', version: '0.1.0', timer: 'process.hrtime.bigint' },
  };
}

const HINT = 'was it written by `fastpath bench --json > file`?';

async function loadError(path: string): Promise<{ code: string; message: string }> {
  try {
    await loadBenchReport(path);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error(`${path} loaded`);
}

describe('loadBenchReport', () => {
  it('reads back what `fastpath bench --json` writes, absent keys as explicit undefined', async () => {
    const original = report([scenario('open.c2.r20000.64B'), scenario('closed.c1.d1.64B', { loop: 'closed', ratePerSec: undefined, uncorrected: undefined, floor: undefined, ratioToFloor: undefined })]);
    const loaded = await loadBenchReport(write('ok.json', JSON.stringify(original, null, 2)));
    expect(loaded).toEqual(original);
    const closed = loaded.scenarios[1]!;
    expect('ratePerSec' in closed && closed.ratePerSec === undefined).toBe(true);
    expect('http' in loaded && loaded.http === undefined).toBe(true);
  });

  it('tolerates unknown extra fields', async () => {
    const withExtras = { ...report(), formatVersion: 2, scenarios: [{ ...scenario('s'), cpuPercent: 40 }] };
    const loaded = await loadBenchReport(write('extra.json', JSON.stringify(withExtras)));
    expect(loaded.scenarios[0]!.name).toBe('s');
  });

  it('reads a figure that JSON.stringify wrote as null (NaN, Infinity) as NaN', async () => {
    const r = report([scenario('s', { ratioToFloor: { p50: Number.POSITIVE_INFINITY, p99: 2 }, runs: [{ p50Us: Number.NaN, p90Us: 1, p99Us: 2, p999Us: 3, throughputPerSec: 4 }] })]);
    const loaded = await loadBenchReport(write('nan.json', JSON.stringify(r)));
    expect(loaded.scenarios[0]!.ratioToFloor!.p50).toBeNaN();
    expect(loaded.scenarios[0]!.runs[0]!.p50Us).toBeNaN();
  });

  it('names a missing file, a directory and an empty file', async () => {
    const missing = join(dir, 'nope.json');
    expect(await loadError(missing)).toMatchObject({ code: 'FP_USAGE', message: `cannot read bench report ${missing}: no such file (check the path)` });
    expect(await loadError(dir)).toMatchObject({ code: 'FP_USAGE', message: `cannot read bench report ${dir}: it is a directory (give the report file, not its folder)` });
    const empty = write('empty.json', '\n');
    expect(await loadError(empty)).toMatchObject({ code: 'FP_USAGE', message: `bench report ${empty} is empty; ${HINT}` });
  });

  it('says a file is not JSON, and how to write one', async () => {
    const path = write('text.json', 'closed.c1.d1.64B  p50 9.5 µs\n');
    const err = await loadError(path);
    expect(err.code).toBe('FP_USAGE');
    expect(err.message).toMatch(new RegExp(`^bench report ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON \\(.+\\); `));
    expect(err.message.endsWith(HINT)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('names the first schema problem with its JSON path, on one line', async () => {
    const bad = JSON.parse(JSON.stringify(report())) as { scenarios: Record<string, unknown>[] };
    bad.scenarios[0]!.p99Us = '20';
    bad.scenarios[0]!.loop = 'sideways';
    const path = write('bad.json', JSON.stringify(bad));
    const err = await loadError(path);
    expect(err).toMatchObject({ code: 'FP_USAGE' });
    expect(err.message).toBe(`${path} is not a fastpath bench report: at scenarios[0].p99Us: expected number, got "20" (and 1 more problem); ${HINT}`);
  });

  it('recognises a different kind of JSON file (e.g. conform index.json)', async () => {
    const path = write('index.json', JSON.stringify({ summary: { total: 1 }, cases: [] }));
    const err = await loadError(path);
    expect(err.message).toContain(`${path} is not a fastpath bench report: missing key "env" at the top level`);
    expect(err.message).toContain(HINT);
  });

  it('rejects reports of another tool and repeated scenario names', () => {
    const other = { ...report(), tool: { name: 'wrk2', version: '4', timer: 'process.hrtime.bigint' } };
    expect(() => parseBenchReport(other, 'x.json')).toThrow('x.json is not a fastpath bench report: at tool.name: "wrk2" is not one of "fastpath"');
    expect(() => parseBenchReport(report([scenario('a'), scenario('b'), scenario('a')]), 'y.json')).toThrow(
      'y.json is not a fastpath bench report: at scenarios[2].name: scenario name "a" repeats scenarios[0] (names must be unique)',
    );
  });
});
