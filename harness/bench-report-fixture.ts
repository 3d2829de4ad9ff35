import type { BenchReport, IntervalPoint, PercentilePoint, ScenarioResult } from './bench-result.js';

/**
 * Test support, not part of the public API: a realistic {@link BenchReport} for the
 * tests of the bench reporters (console, HTML), built from plain figures.
 */

// ---------------------------------------------------------------------------
// A realistic report: a floor, a closed-loop target scenario, an open-loop one with
// its uncorrected distribution, one that failed, a codec matrix and an HTTP comparison.

/** Percentiles on the HdrHistogram ladder (5 ticks per halving), then 100. */
export function ladder(p50Us: number, maxUs: number, halvings = 14): PercentilePoint[] {
  const out: PercentilePoint[] = [];
  for (let half = 0; half < halvings; half++) {
    const from = 100 - 100 / 2 ** half;
    const to = 100 - 100 / 2 ** (half + 1);
    for (let t = 0; t < 5; t++) {
      const p = from + ((to - from) * t) / 5;
      const nines = Math.log10(100 / (100 - p));
      out.push({ percentile: p, valueUs: Math.round(p50Us * (0.6 + 0.4 * 1.9 ** nines) * 10) / 10 });
    }
  }
  out.push({ percentile: 100, valueUs: maxUs });
  return out;
}

export function intervals(seconds: number, throughputPerSec: number, p50Us: number, p99Us: number): IntervalPoint[] {
  return Array.from({ length: seconds }, (_, i) => ({
    startMs: i * 1_000,
    durationMs: 1_000,
    throughputPerSec: Math.round(throughputPerSec * (1 + 0.03 * Math.sin(i))),
    p50Us,
    p99Us: Math.round(p99Us * (1 + 0.1 * Math.cos(i)) * 10) / 10,
    maxUs: p99Us * 4,
  }));
}

export type Figures = Pick<ScenarioResult, 'p50Us' | 'p90Us' | 'p99Us' | 'p999Us' | 'p9999Us' | 'maxUs' | 'meanUs' | 'throughputPerSec'>;

export function scenario(name: string, fig: Figures, over: Partial<ScenarioResult> = {}): ScenarioResult {
  const durationMs = 10_000;
  const received = Math.round((fig.throughputPerSec * durationMs) / 1_000);
  return {
    name,
    peer: 'target',
    mode: 'ndjson/hmac-json',
    loop: 'closed',
    connections: 1,
    depth: 1,
    ratePerSec: undefined,
    payloadBytes: 64,
    durationMs,
    warmupMs: 2_000,
    sent: received,
    received,
    ...fig,
    count: received,
    errors: 0,
    errorSamples: [],
    late: 0,
    unanswered: 0,
    uncorrected: undefined,
    floor: undefined,
    ratioToFloor: undefined,
    fairness: undefined,
    percentiles: ladder(fig.p50Us, fig.maxUs),
    intervals: intervals(10, fig.throughputPerSec, fig.p50Us, fig.p99Us),
    runs: [],
    files: {},
    failure: undefined,
    ...over,
  };
}

export function floorOf(floor: ScenarioResult, s: Figures): Pick<ScenarioResult, 'floor' | 'ratioToFloor'> {
  return {
    floor: { name: floor.name, p50Us: floor.p50Us, p99Us: floor.p99Us },
    ratioToFloor: { p50: s.p50Us / floor.p50Us, p99: s.p99Us / floor.p99Us },
  };
}

export const floorFig: Figures = { p50Us: 11.2, p90Us: 13.9, p99Us: 24.6, p999Us: 61.3, p9999Us: 140, maxUs: 1_830, meanUs: 12.4, throughputPerSec: 78_412.6 };
export const FLOOR = scenario('floor.node-echo.c1.d1.64B', floorFig, { peer: 'node-echo', mode: 'ndjson' });

export const closedFig: Figures = { p50Us: 14.8, p90Us: 18.2, p99Us: 39.1, p999Us: 97.5, p9999Us: 310, maxUs: 4_210, meanUs: 16.3, throughputPerSec: 60_120.2 };
export const CLOSED = scenario('closed.c1.d1.64B', closedFig, floorOf(FLOOR, closedFig));

export const openFig: Figures = { p50Us: 21.7, p90Us: 64.4, p99Us: 2_340, p999Us: 8_870, p9999Us: 15_200, maxUs: 2_130_000, meanUs: 95.1, throughputPerSec: 19_996.4 };
export const OPEN = scenario('open.r20000.c4.256B', openFig, {
  loop: 'open',
  connections: 4,
  depth: 64,
  ratePerSec: 20_000,
  payloadBytes: 256,
  late: 37,
  uncorrected: { p50Us: 20.9, p90Us: 31.5, p99Us: 88.5, p999Us: 412, p9999Us: 1_905, maxUs: 31_400, meanUs: 24.8, count: 199_964 },
  fairness: { connections: 4, minPerConnection: 49_870, maxPerConnection: 50_140, meanPerConnection: 49_991, jainIndex: 0.99998 },
  ...floorOf(FLOOR, openFig),
});

export const failedFig: Figures = { p50Us: 420.5, p90Us: 880, p99Us: 5_120, p999Us: 40_100, p9999Us: 90_000, maxUs: 4_870_000, meanUs: 610, throughputPerSec: 3_512.9 };
export const FAILED = scenario('closed.c64.d8.4KiB', failedFig, {
  connections: 64,
  depth: 8,
  payloadBytes: 4_096,
  errors: 12,
  errorSamples: ['rejected RATE_LIMITED: token bucket empty', 'socket hang up (ECONNRESET)'],
  unanswered: 512,
  failure: 'target stopped answering: 512 requests without a reply 5000 ms after the last reply',
  intervals: intervals(3, 3_512.9, 420.5, 5_120),
});

export const MODES = ['ndjson/hmac-json', 'lp32-json/hmac-v2', 'lp32-msgpack/hmac-v2'];
export const OPS = ['encode', 'decode', 'sign', 'verify'] as const;

export function report(over: Partial<BenchReport> = {}): BenchReport {
  return {
    env: {
      nodeVersion: 'v20.19.4',
      v8Version: '11.3.244.8-node.29',
      platform: 'linux',
      arch: 'x64',
      cpuModel: 'AMD EPYC 7B13 64-Core Processor',
      cpuCount: 8,
      kernel: '6.1.0-31-cloud-amd64',
      loadAverage: [0.52, 0.4, 0.33],
      pinning: { mode: 'split', clientCpu: 2, targetCpu: 3 },
      target: 'reference (built-in)',
      startedAt: '2025-03-04T10:11:12.000Z',
      hostname: 'bench-1',
    },
    scenarios: [FLOOR, CLOSED, OPEN, FAILED],
    codecMatrix: MODES.flatMap((mode, m) =>
      OPS.map((operation, o) => {
        const meanNs = 180 + 410 * o + 95 * m + (o === 3 ? 1_000 : 0);
        return { mode, operation, meanNs, p50Ns: meanNs * 0.9, p99Ns: meanNs * 2.4, opsPerSec: 1e9 / meanNs, samples: 50_000 + o, frameBytes: 212 - 31 * m };
      }),
    ),
    http: {
      ipcP50Us: 14.9,
      ipcMeanUs: 16.6,
      httpP50Us: 96.3,
      httpMeanUs: 121.8,
      httpRequestsPerSec: 8_114,
      ratioMean: 121.8 / 16.6,
      ratioP50: 96.3 / 14.9,
      connections: 1,
      errors: 0,
    },
    tool: { name: 'fastpath', version: '0.1.0', timer: 'process.hrtime.bigint' },
    ...over,
  };
}
