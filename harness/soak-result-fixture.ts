import type { SoakResult } from './soak-driver.js';
import type { SoakSample } from './soak-sampler.js';
import { fdTrend, p99Drift, rssTrend } from './soak-trend.js';
import { DEFAULT_SOAK_THRESHOLDS, soakChecks, soakVerdict } from './soak-verdict.js';

/**
 * Test support, not part of the public API: a soak result built the way runSoak
 * builds it, from synthetic samples and intervals (20 s warm-up, 60 s measured at
 * 13,400/s), for the tests of the soak reporters (console, HTML).
 */

const MIB = 1_048_576;

/** `leakBytesPerSec` and `fdEverySample` make the target leak; `name` is the target's name. */
export function soakResultFixture(opts: { leakBytesPerSec: number; fdEverySample: number; name?: string }): SoakResult {
  const samples: SoakSample[] = [];
  for (let t = -20_000; t <= 60_000; t += 5_000) {
    const k = Math.max(0, t / 5_000);
    samples.push({ tMs: t, epochMs: 1_700_000_000_000 + t, alive: true, rssBytes: 100 * MIB + (opts.leakBytesPerSec * Math.max(0, t)) / 1_000, fds: 25 + opts.fdEverySample * k, sockets: 7, cpuPct: 40, cpuTicks: 1_000 + t / 25 });
  }
  const intervals = Array.from({ length: 12 }, (_, i) => ({ index: i, startMs: i * 5_000, durationMs: 5_000, count: 67_000, throughputPerSec: 13_400, p50Us: 60 + i, p99Us: 900 + 10 * i, maxUs: 5_000 }));
  const rss = rssTrend(samples);
  const fds = fdTrend(samples);
  const drift = p99Drift(intervals);
  const checks = soakChecks({ rss, fds, p99Drift: drift, errors: 0, errorSamples: [], lost: 0, unsent: 0, loadFailure: undefined, targetDeath: undefined, depth: 64 }, DEFAULT_SOAK_THRESHOLDS);
  const { verdict, reasons } = soakVerdict(checks);
  const latency = { p50Us: 61, p90Us: 300, p99Us: 950, p999Us: 4_000, p9999Us: 5_000, maxUs: 5_100, meanUs: 120, count: 804_000 };
  return {
    verdict,
    ops: 804_000,
    opsPerSec: 13_400,
    rssGrowthPct: rss?.growthPct ?? null,
    fdGrowth: fds?.growth ?? null,
    errors: 0,
    lost: 0,
    p50Us: 61,
    p99Us: 950,
    reasons,
    checks,
    target: { name: opts.name ?? 'reference', source: 'built-in', mode: 'ndjson/hmac-json', description: 'node serve', pid: 1234 },
    config: { ratePerSec: 13_400, durationMs: 60_000, warmupMs: 20_000, connections: 4, depth: 64, threads: 1, signalBytes: 83, intervalMs: 5_000, sampleIntervalMs: 5_000, replyTimeoutMs: 5_000 },
    thresholds: DEFAULT_SOAK_THRESHOLDS,
    latency,
    uncorrectedLatency: latency,
    sent: 804_000,
    late: 10,
    unsent: 0,
    errorSamples: [],
    failure: null,
    targetDeath: null,
    rss: rss ?? null,
    fds: fds ?? null,
    p99Drift: drift ?? null,
    targetCpuPct: 40,
    generatorCpuPct: 95,
    generatorRssStartBytes: 90 * MIB,
    generatorRssEndBytes: 91 * MIB,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:22.000Z',
    measureStartEpochMs: 1_700_000_000_000,
    intervals,
    samples,
    files: { intervalLog: 'soak.hlog', samples: 'samples.jsonl', hgrm: 'soak.hgrm' },
  };
}

