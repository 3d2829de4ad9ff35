import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { IntervalPoint } from './bench-result.js';
import { summarizeLatency } from './latency-histogram.js';

/**
 * HdrHistogram interval logs (`.hlog`): one histogram per interval, in the format
 * that HistogramLogProcessor and the other HdrHistogram log tools read
 * (`#[StartTime: …]`, `#[BaseTime: …]`, legend, then
 * `start,duration,max,base64-histogram` lines). Values are nanoseconds; the max
 * column is printed in milliseconds (ratio 1e6), as the Java tools expect.
 */

/** One interval histogram with its place in time. */
export interface TimedHistogram {
  /** Start, ms after the log's start time. */
  readonly startMs: number;
  readonly durationMs: number;
  readonly histogram: Histogram;
}

/** Ratio by which the max column is divided: ns → ms. */
export const INTERVAL_LOG_MAX_RATIO = 1_000_000;

/**
 * The header of an interval log whose time zero is `startEpochMs`: `comments` first
 * (e.g. the scenario name), then the format version, start and base time and the
 * legend. Interval lines ({@link intervalLogLine}) follow; a log can be appended to
 * line by line while a run goes on (soak).
 */
export function intervalLogHeader(startEpochMs: number, comments: readonly string[] = []): string {
  const lines: string[] = [];
  const writer = new hdr.HistogramLogWriter((s) => lines.push(s));
  for (const c of comments) writer.outputComment(c);
  writer.outputComment('[values in nanoseconds; the max column in milliseconds]');
  writer.outputLogFormatVersion();
  writer.outputStartTime(startEpochMs);
  // Interval timestamps are relative to this base, as the Java writer records it.
  lines.push(`#[BaseTime: ${(startEpochMs / 1_000).toFixed(3)} (seconds since epoch)]\n`);
  writer.outputLegend();
  return lines.join('');
}

/** One interval line (`start,duration,max,base64-histogram`, times relative to the log's start). */
export function intervalLogLine(iv: TimedHistogram): string {
  const lines: string[] = [];
  const writer = new hdr.HistogramLogWriter((s) => lines.push(s));
  writer.outputIntervalHistogram(iv.histogram, iv.startMs / 1_000, (iv.startMs + iv.durationMs) / 1_000, INTERVAL_LOG_MAX_RATIO);
  return lines.join('');
}

/**
 * Writes an interval log for `intervals` whose time zero is `startEpochMs`.
 * `comment` lines (e.g. the scenario name) go first.
 */
export function writeIntervalLog(startEpochMs: number, intervals: readonly TimedHistogram[], comments: readonly string[] = []): string {
  return intervalLogHeader(startEpochMs, comments) + intervals.map(intervalLogLine).join('');
}

/** Reads every interval histogram of a log written by {@link writeIntervalLog} (or any HdrHistogram tool). */
export function readIntervalLog(text: string): Histogram[] {
  const reader = new hdr.HistogramLogReader(text, 32, false);
  const out: Histogram[] = [];
  for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) out.push(h);
  return out;
}

/** Interval points for reports: throughput and percentiles per interval. */
export function intervalPoints(intervals: readonly TimedHistogram[]): IntervalPoint[] {
  return intervals.map((iv) => {
    const s = summarizeLatency(iv.histogram);
    return {
      startMs: iv.startMs,
      durationMs: iv.durationMs,
      throughputPerSec: iv.durationMs > 0 ? (s.count * 1_000) / iv.durationMs : 0,
      p50Us: s.p50Us,
      p99Us: s.p99Us,
      maxUs: s.maxUs,
    };
  });
}
