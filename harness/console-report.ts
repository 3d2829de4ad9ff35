import { join } from 'node:path';
import type { Verdict } from './case.js';
import { caseFileRelative, displayPath } from './report-json.js';
import type { CaseResult, ConformanceResult, ProgressEvent, Summary } from './runner.js';

/**
 * Console output of a conformance run. Every function returns a string; the CLI
 * decides where it goes (autocannon's printResult pattern).
 */

export interface ConsoleReportOptions {
  /** Report directory, to print the path of each failure's JSON. */
  readonly reportDir?: string | undefined;
  /** ANSI colours (default off). */
  readonly color?: boolean | undefined;
}

const COLUMNS: ReadonlyArray<{ key: Verdict; title: string }> = [
  { key: 'OK', title: 'OK' },
  { key: 'NON-STRICT', title: 'NON-STRICT' },
  { key: 'FAILED', title: 'FAILED' },
  { key: 'INFORMATIONAL', title: 'INFO' },
  { key: 'UNIMPLEMENTED', title: 'UNIMPL' },
];

const COLOR: Record<Verdict, string> = {
  OK: '\x1b[32m',
  'NON-STRICT': '\x1b[33m',
  FAILED: '\x1b[31m',
  INFORMATIONAL: '\x1b[36m',
  UNIMPLEMENTED: '\x1b[90m',
};

function paint(text: string, verdict: Verdict, on: boolean): string {
  return on ? `${COLOR[verdict]}${text}\x1b[0m` : text;
}

/** `1.234 s` or `87 ms`. */
export function formatDurationMs(ms: number): string {
  return ms >= 1_000 ? `${(ms / 1_000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** The summary table: a row per mode and an overall row. */
export function formatSummaryTable(result: ConformanceResult, color = false): string {
  const rows: Array<{ label: string; summary: Summary; note?: string }> = result.modes.map((m) => ({
    label: m.label,
    summary: m.summary,
    ...(m.startError === undefined ? {} : { note: 'target did not start' }),
  }));
  rows.push({ label: 'overall', summary: result.summary });
  const labelWidth = Math.max(4, ...rows.map((r) => r.label.length));
  const header = [pad('mode', labelWidth), pad('total', 6, true), ...COLUMNS.map((c) => pad(c.title, Math.max(c.title.length, 4), true)), pad('time', 9, true)].join('  ');
  const lines = [header, '-'.repeat(header.length)];
  rows.forEach((r, i) => {
    if (i === rows.length - 1) lines.push('-'.repeat(header.length));
    const cells = COLUMNS.map((c) => {
      const text = pad(String(r.summary[c.key]), Math.max(c.title.length, 4), true);
      return r.summary[c.key] > 0 && c.key !== 'OK' ? paint(text, c.key, color) : text;
    });
    lines.push(
      [pad(r.label, labelWidth), pad(String(r.summary.total), 6, true), ...cells, pad(formatDurationMs(r.summary.durationMs), 9, true)].join('  ') +
        (r.note === undefined ? '' : `  (${r.note})`),
    );
  });
  return lines.join('\n');
}

function failureBlock(c: CaseResult, opts: ConsoleReportOptions): string {
  const color = opts.color === true;
  const lines = [
    `${paint(c.verdict.padEnd(10), c.verdict, color)} ${c.id}  [${c.mode}]  §${c.section} ${c.level}`,
    `    ${c.description}`,
    `    expected: ${c.expected}`,
    `    actual:   ${c.actual}`,
  ];
  if (opts.reportDir !== undefined) lines.push(`    details:  ${displayPath(join(opts.reportDir, caseFileRelative(c.mode, c.id)))}`);
  return lines.join('\n');
}

/**
 * The whole console report: a header, the summary table per mode and overall, the
 * modes whose target did not start, then every FAILED and NON-STRICT case with
 * expected vs actual and the path of its JSON.
 */
export function formatConsoleReport(result: ConformanceResult, opts: ConsoleReportOptions = {}): string {
  const t = result.target;
  const out: string[] = [
    `fastpath conform: target "${t.name}" (${t.kind}, ${t.source}), ${result.modes.length} mode${result.modes.length === 1 ? '' : 's'}${result.strict ? ', strict' : ''}`,
    '',
    formatSummaryTable(result, opts.color === true),
  ];
  const startErrors = result.modes.filter((m) => m.startError !== undefined);
  if (startErrors.length > 0) {
    out.push('', 'Target errors:');
    for (const m of startErrors) out.push(`  [${m.label}] ${m.startError ?? ''}`);
  }
  const all = result.modes.flatMap((m) => m.cases);
  const failed = all.filter((c) => c.verdict === 'FAILED');
  const nonStrict = all.filter((c) => c.verdict === 'NON-STRICT');
  if (failed.length > 0) {
    out.push('', `Failures (${failed.length}):`);
    for (const c of failed) out.push(failureBlock(c, opts));
  }
  if (nonStrict.length > 0) {
    out.push('', `SHOULD not met (${nonStrict.length}, NON-STRICT; --strict makes them fail):`);
    for (const c of nonStrict) out.push(failureBlock(c, opts));
  }
  const s = result.summary;
  out.push(
    '',
    `${s.FAILED > 0 ? paint('FAILED', 'FAILED', opts.color === true) : paint('PASSED', 'OK', opts.color === true)}: ${s.total} case runs, ${s.OK} OK, ${s['NON-STRICT']} NON-STRICT, ${s.FAILED} FAILED, ${s.INFORMATIONAL} INFORMATIONAL, ${s.UNIMPLEMENTED} UNIMPLEMENTED in ${formatDurationMs(s.durationMs)}`,
  );
  return `${out.join('\n')}\n`;
}

interface ModeProgress {
  done: number;
  total: number;
  failed: number;
  finished: boolean;
}

/**
 * Turns progress events into lines: `status()` is one line with every running mode
 * (for a TTY status line), `milestone(event)` a permanent line at mode start and end.
 */
export class ProgressTracker {
  private readonly modes = new Map<string, ModeProgress>();

  /** Records an event; returns a permanent line for mode start/end, else undefined. */
  update(event: ProgressEvent): string | undefined {
    switch (event.type) {
      case 'mode-start':
        this.modes.set(event.mode, { done: 0, total: event.total, failed: 0, finished: false });
        return `[${event.mode}] running ${event.total} case${event.total === 1 ? '' : 's'}`;
      case 'case-done': {
        const m = this.modes.get(event.mode);
        if (m !== undefined) {
          m.done = event.done;
          if (event.result.verdict === 'FAILED') m.failed++;
        }
        return undefined;
      }
      case 'mode-done': {
        const m = this.modes.get(event.mode);
        if (m !== undefined) m.finished = true;
        const r = event.result;
        if (r.startError !== undefined) return `[${event.mode}] target did not start: ${r.startError}`;
        const s = r.summary;
        return `[${event.mode}] done in ${formatDurationMs(s.durationMs)}: ${s.OK} OK, ${s['NON-STRICT']} NON-STRICT, ${s.FAILED} FAILED, ${s.INFORMATIONAL} INFORMATIONAL, ${s.UNIMPLEMENTED} UNIMPLEMENTED`;
      }
    }
  }

  /** One line with the progress of every mode still running. */
  status(): string {
    const parts: string[] = [];
    for (const [label, m] of this.modes) {
      if (m.finished) continue;
      parts.push(`${label} ${m.done}/${m.total}${m.failed > 0 ? ` (${m.failed} FAILED)` : ''}`);
    }
    return parts.join(' · ');
  }
}
