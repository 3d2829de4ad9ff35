import type { BenchReport, IntervalPoint, RunSample, ScenarioResult } from './bench-result.js';

/**
 * Test support, not part of the public API: bench reports built from repeated runs,
 * for the tests of `bench compare` (harness and CLI).
 */

export const JITTER = [1.0, 1.02, 0.99, 1.01, 1.005];

/** Runs around the given figures with a little spread, each figure scaled by `factor` (latency) or 1/`factor` (throughput). */
export function runs(factor: number, n = JITTER.length, base = { p50Us: 10, p90Us: 14, p99Us: 20, p999Us: 40, throughputPerSec: 50_000 }): RunSample[] {
  return Array.from({ length: n }, (_, i) => {
    const j = JITTER[i % JITTER.length]! + Math.floor(i / JITTER.length) * 0.001;
    return {
      p50Us: base.p50Us * factor * j,
      p90Us: base.p90Us * factor * j,
      p99Us: base.p99Us * factor * j,
      p999Us: base.p999Us * factor * j,
      throughputPerSec: (base.throughputPerSec / factor) * j,
    };
  });
}

export function intervalsAround(factor: number, n: number): IntervalPoint[] {
  return Array.from({ length: n }, (_, i) => {
    const j = 1 + ((i * 7) % 11) / 500;
    return { startMs: i * 1000, durationMs: 1000, throughputPerSec: (50_000 / factor) * j, p50Us: 10 * factor * j, p99Us: 20 * factor * j, maxUs: 90 * factor };
  });
}

export function runScenario(name: string, runSamples: readonly RunSample[], over: Partial<ScenarioResult> = {}): ScenarioResult {
  const mid = runSamples[0] ?? { p50Us: 10, p90Us: 14, p99Us: 20, p999Us: 40, throughputPerSec: 50_000 };
  return {
    name,
    peer: 'target',
    mode: 'ndjson/hmac-json',
    loop: 'closed',
    connections: 1,
    depth: 1,
    ratePerSec: undefined,
    payloadBytes: 64,
    durationMs: 5000,
    warmupMs: 1000,
    sent: 250_000,
    received: 250_000,
    throughputPerSec: mid.throughputPerSec,
    errors: 0,
    errorSamples: [],
    late: 0,
    unanswered: 0,
    uncorrected: undefined,
    floor: undefined,
    ratioToFloor: undefined,
    fairness: undefined,
    percentiles: [],
    intervals: [],
    runs: runSamples,
    files: {},
    failure: undefined,
    p50Us: mid.p50Us,
    p90Us: mid.p90Us,
    p99Us: mid.p99Us,
    p999Us: mid.p999Us,
    p9999Us: mid.p999Us * 2,
    maxUs: mid.p999Us * 3,
    meanUs: mid.p50Us * 1.1,
    count: 250_000,
    ...over,
  };
}

export function reportOf(scenarios: readonly ScenarioResult[], env: Partial<BenchReport['env']> = {}): BenchReport {
  return {
    env: {
      nodeVersion: 'v20.19.0',
      v8Version: '11.3',
      platform: 'linux',
      arch: 'x64',
      cpuModel: 'Test CPU',
      cpuCount: 8,
      kernel: '6.1.0',
      loadAverage: [0.1, 0.1, 0.1],
      pinning: { mode: 'none', clientCpu: undefined, targetCpu: undefined },
      target: 'reference (built-in)',
      startedAt: '2025-01-01T00:00:00.000Z',
      hostname: 'bench-host',
      ...env,
    },
    scenarios,
    codecMatrix: undefined,
    http: undefined,
    tool: { name: 'fastpath', version: '0.1.0', timer: 'process.hrtime.bigint' },
  };
}
