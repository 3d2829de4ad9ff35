import { describe, expect, it } from 'vitest';
import { intervalLogHeader, intervalLogLine, intervalPoints, readIntervalLog, writeIntervalLog, type TimedHistogram } from './interval-log.js';
import { createLatencyHistogram, recordLatencyNs } from './latency-histogram.js';

function interval(index: number, valuesNs: readonly number[]): TimedHistogram {
  const h = createLatencyHistogram();
  for (const v of valuesNs) recordLatencyNs(h, v);
  return { startMs: index * 1_000, durationMs: 1_000, histogram: h };
}

const START_EPOCH_MS = 1_700_000_000_123;

describe('interval log', () => {
  const intervals = [interval(0, [10_000, 20_000, 30_000]), interval(1, []), interval(2, [5_000_000])];

  it('appended line by line is the same text as written at once', () => {
    const streamed = intervalLogHeader(START_EPOCH_MS, ['a comment']) + intervals.map(intervalLogLine).join('');
    expect(streamed).toBe(writeIntervalLog(START_EPOCH_MS, intervals, ['a comment']));
  });

  it('carries the HdrHistogram log header and one line per interval, empty ones included, that read back exactly', () => {
    const text = writeIntervalLog(START_EPOCH_MS, intervals, ['scenario x']);
    expect(text.startsWith('#scenario x\n')).toBe(true);
    expect(text).toContain('#[StartTime: 1700000000.123 (seconds since epoch)');
    expect(text).toContain('#[BaseTime: 1700000000.123 (seconds since epoch)]');
    expect(text).toContain('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"');
    const lines = text.split('\n').filter((l) => /^\d/.test(l));
    expect(lines.map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['0.000,1.000', '1.000,1.000', '2.000,1.000']);
    const back = readIntervalLog(text);
    expect(back.map((h) => h.totalCount)).toEqual([3, 0, 1]);
    expect(back[2]?.getValueAtPercentile(100)).toBe(intervals[2]?.histogram.getValueAtPercentile(100));
  });

  it('interval points give throughput and percentiles per interval', () => {
    const pts = intervalPoints(intervals);
    expect(pts.map((p) => p.throughputPerSec)).toEqual([3, 0, 1]);
    expect(pts[2]?.p99Us).toBeGreaterThan(4_990);
  });
});
