import { describe, expect, it } from 'vitest';
import { formatClock, formatSoakProgress, progressBar, type SoakProgress } from './soak-progress.js';

const P: SoakProgress = {
  phase: 'measuring',
  elapsedMs: 65_000,
  totalMs: 80_000,
  liveRatePerSec: 13_412.4,
  p50Us: 61.3,
  p99Us: 1_830,
  rssBytes: 80_000_000,
  fds: 24,
  cpuPct: 41.4,
  ops: 603_000,
  errors: 0,
  lost: 2,
};

describe('soak progress line', () => {
  it('shows elapsed/total, bar, phase, live rate, p50, p99, RSS, FDs, CPU, ops, errors, lost', () => {
    expect(formatSoakProgress(P, { barWidth: 10 })).toBe(
      'soak 1:05/1:20 [########--]  81% measuring  13,412/s  p50 61.3 µs  p99 1.83 ms  RSS 76.3 MiB  FDs 24  CPU 41%  ops 603,000  errors 0  lost 2',
    );
  });

  it('prints - for what is not known yet', () => {
    const line = formatSoakProgress({ ...P, phase: 'warm-up', elapsedMs: 0, liveRatePerSec: undefined, p50Us: undefined, p99Us: undefined, rssBytes: undefined, fds: undefined, cpuPct: undefined });
    expect(line).toMatch(/^soak 0:00\/1:20 \[-{20}\]   0% warm-up  -\/s  p50 -  p99 -  RSS -  FDs -  CPU -  ops/);
  });

  it('clocks and bars', () => {
    expect(formatClock(7_200_000)).toBe('2:00:00');
    expect(formatClock(3_599_999)).toBe('59:59');
    expect(formatClock(-5)).toBe('0:00');
    expect(progressBar(0.5, 4)).toBe('[##--]');
    expect(progressBar(3, 4)).toBe('[####]');
    expect(progressBar(Number.NaN, 2)).toBe('[--]');
  });
});
