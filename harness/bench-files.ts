import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchReport, ScenarioResult } from './bench-result.js';
import { renderBenchHtml } from './bench-report-html.js';
import type { ScenarioHistograms } from './bench-runner.js';
import { writeIntervalLog } from './interval-log.js';
import { toHgrm } from './latency-histogram.js';

/**
 * Writes a bench run to a report directory: per scenario a `.hgrm` percentile
 * distribution (µs), an `.hlog` interval log and, in open loop, the uncorrected
 * `.uncorrected.hgrm`; then `index.json` (the report, with file names filled in) and a
 * self-contained `index.html`.
 */

/** A scenario name as a file name: only `[A-Za-z0-9._-]`. */
export function scenarioFileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Writes every file; returns the report with each scenario's `files` set (paths relative to `dir`). */
export async function writeBenchFiles(dir: string, report: BenchReport, histograms: ReadonlyMap<string, ScenarioHistograms>): Promise<BenchReport> {
  await mkdir(dir, { recursive: true });
  const scenarios: ScenarioResult[] = [];
  for (const s of report.scenarios) {
    const h = histograms.get(s.name);
    if (h === undefined) {
      scenarios.push(s);
      continue;
    }
    const stem = scenarioFileStem(s.name);
    const files: { hgrm: string; intervalLog: string; uncorrectedHgrm?: string } = { hgrm: `${stem}.hgrm`, intervalLog: `${stem}.hlog` };
    await writeFile(join(dir, files.hgrm), toHgrm(h.corrected));
    await writeFile(join(dir, files.intervalLog), writeIntervalLog(h.startEpochMs, h.intervals, [`fastpath bench scenario ${s.name}`]));
    if (h.uncorrected !== undefined) {
      files.uncorrectedHgrm = `${stem}.uncorrected.hgrm`;
      await writeFile(join(dir, files.uncorrectedHgrm), toHgrm(h.uncorrected));
    }
    scenarios.push({ ...s, files });
  }
  const out: BenchReport = { ...report, scenarios };
  await writeFile(join(dir, 'index.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeFile(join(dir, 'index.html'), renderBenchHtml(out));
  return out;
}

/** `reports/bench/<timestamp>` under `cwd`, e.g. `reports/bench/2026-11-23T10-15-00Z`. */
export function defaultBenchDir(at: Date = new Date(), cwd: string = process.cwd()): string {
  return join(cwd, 'reports', 'bench', at.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-'));
}
