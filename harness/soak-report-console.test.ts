import { describe, expect, it } from 'vitest';
import { formatSoakSummary } from './soak-report-console.js';
import { soakResultFixture } from './soak-result-fixture.js';

describe('soak console summary', () => {
  it('a clean run: the figures, every check passed, PASS last', () => {
    const text = formatSoakSummary(soakResultFixture({ leakBytesPerSec: 0, fdEverySample: 0 }));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('fastpath soak: reference (ndjson/hmac-json), 13,400/s over 4 connections, 20 s warm-up + 60 s');
    expect(lines[1]).toBe('  ops 804,000 (13,400/s), errors 0, lost 0, late 10, unsent 0');
    expect(lines[2]).toMatch(/^ {2}latency \(corrected\) p50 61\.0 µs, p99 950 µs/);
    expect(lines.filter((l) => l.startsWith('  pass '))).toHaveLength(7);
    expect(lines[lines.length - 1]).toBe('PASS');
  });

  it('a leaking run: the failed checks with their detail, and FAIL with the reasons', () => {
    const text = formatSoakSummary(soakResultFixture({ leakBytesPerSec: 200_000, fdEverySample: 4 }));
    expect(text).toMatch(/\n {2}FAIL rss-growth +\+\d+\.\d\d % \(limit ≤ 5 %\): RSS growth/);
    expect(text).toMatch(/\n {2}FAIL fd-growth +\+40 \(limit ≤ 0\): FD growth \+40 exceeds 0 \(median of the first 3 samples 29, of the last 3 69/);
    expect(text).toMatch(/\nFAIL: RSS growth .*; FD growth .*\n$/);
  });
});
