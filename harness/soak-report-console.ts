import { formatBytes, formatCount, formatUs } from './bench-report-console.js';
import type { SoakResult } from './soak-driver.js';

/**
 * The console summary of a soak (pure): the verdict, the headline figures and one
 * line per check, failed checks marked.
 */

function orDash(v: number | null, f: (n: number) => string): string {
  return v === null ? '-' : f(v);
}

/** The summary printed on stdout after a soak (without `--json`). */
export function formatSoakSummary(r: SoakResult): string {
  const lines = [
    `fastpath soak: ${r.target.name} (${r.target.mode}), ${formatCount(r.config.ratePerSec)}/s over ${r.config.connections} connections, ${(r.config.warmupMs / 1_000).toFixed(0)} s warm-up + ${(r.config.durationMs / 1_000).toFixed(0)} s`,
    `  ops ${formatCount(r.ops)} (${formatCount(r.opsPerSec)}/s), errors ${formatCount(r.errors)}, lost ${formatCount(r.lost)}, late ${formatCount(r.late)}, unsent ${formatCount(r.unsent)}`,
    `  latency (corrected) p50 ${formatUs(r.p50Us)}, p99 ${formatUs(r.p99Us)}, p99.9 ${formatUs(r.latency.p999Us)}, max ${formatUs(r.latency.maxUs)}`,
    `  RSS growth ${orDash(r.rssGrowthPct, (v) => `${v.toFixed(2)} %`)}${r.rss === null ? '' : ` (${formatBytes(r.rss.fittedStartBytes)} → ${formatBytes(r.rss.fittedEndBytes)})`}, FD growth ${orDash(r.fdGrowth, String)}, p99 drift ${r.p99Drift === null ? '-' : `${r.p99Drift.driftPct.toFixed(1)} %`}`,
    `  CPU target ${orDash(r.targetCpuPct, (v) => `${v.toFixed(0)} %`)}, load generator ${orDash(r.generatorCpuPct, (v) => `${v.toFixed(0)} %`)} (RSS ${orDash(r.generatorRssStartBytes, formatBytes)} → ${orDash(r.generatorRssEndBytes, formatBytes)})`,
    ...r.checks.map((c) => `  ${c.pass ? 'pass' : 'FAIL'} ${c.name.padEnd(14)} ${c.actual} (limit ${c.limit})${c.pass ? '' : `: ${c.detail}`}`),
    r.verdict === 'PASS' ? 'PASS' : `FAIL: ${r.reasons.join('; ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
