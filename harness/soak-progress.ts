import { formatBytes, formatCount, formatUs } from './bench-report-console.js';

/**
 * The progress line of a soak (pure formatting): elapsed and total time, a bar, the
 * live reply rate, p50 and p99 of the last complete interval, the target's RSS and
 * FDs from the last sample, errors and lost replies.
 */

/** What the progress line shows. Absent figures print as `-`. */
export interface SoakProgress {
  readonly phase: 'warm-up' | 'measuring' | 'finishing';
  /** Since the load started (warm-up included). */
  readonly elapsedMs: number;
  /** Warm-up plus duration. */
  readonly totalMs: number;
  /** Good replies per second over the last few seconds. */
  readonly liveRatePerSec: number | undefined;
  /** Of the last complete interval. */
  readonly p50Us: number | undefined;
  readonly p99Us: number | undefined;
  readonly rssBytes: number | undefined;
  readonly fds: number | undefined;
  readonly cpuPct: number | undefined;
  readonly ops: number;
  readonly errors: number;
  readonly lost: number;
}

/** `h:mm:ss`, or `m:ss` under an hour. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1_000));
  const h = Math.floor(total / 3_600);
  const m = Math.floor((total % 3_600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A bar of `width` cells: `[########------]`. */
export function progressBar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

const dash = (v: number | undefined, f: (n: number) => string): string => (v === undefined || !Number.isFinite(v) ? '-' : f(v));

/**
 * One progress line without a newline, e.g.
 * `soak 1:05/1:20 [################----]  81% measuring  13,400/s  p50 61 µs  p99 180 µs  RSS 78.2 MiB  FDs 24  CPU 41%  ops 603,000  errors 0  lost 0`.
 */
export function formatSoakProgress(p: SoakProgress, opts: { barWidth?: number } = {}): string {
  const fraction = p.totalMs > 0 ? p.elapsedMs / p.totalMs : 0;
  const percent = `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`.padStart(4);
  return [
    `soak ${formatClock(p.elapsedMs)}/${formatClock(p.totalMs)} ${progressBar(fraction, opts.barWidth ?? 20)} ${percent} ${p.phase}`,
    `${dash(p.liveRatePerSec, formatCount)}/s`,
    `p50 ${dash(p.p50Us, formatUs)}`,
    `p99 ${dash(p.p99Us, formatUs)}`,
    `RSS ${dash(p.rssBytes, formatBytes)}`,
    `FDs ${dash(p.fds, formatCount)}`,
    `CPU ${dash(p.cpuPct, (c) => `${c.toFixed(0)}%`)}`,
    `ops ${formatCount(p.ops)}`,
    `errors ${formatCount(p.errors)}`,
    `lost ${formatCount(p.lost)}`,
  ].join('  ');
}
