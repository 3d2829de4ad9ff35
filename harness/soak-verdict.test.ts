import { describe, expect, it } from 'vitest';
import type { FdTrend, RssFit, RssTrend } from './soak-trend.js';
import { DEFAULT_SOAK_THRESHOLDS, soakChecks, soakVerdict, type SoakVerdictInput } from './soak-verdict.js';

const MIB = 1_048_576;

function rss(growthPct: number): RssTrend {
  const fit: RssFit = { slopeBytesPerHour: growthPct * MIB, fittedStartBytes: 100 * MIB, fittedEndBytes: (100 + growthPct) * MIB, growthPct };
  return { ...fit, samples: 13, windowMs: 60_000, basis: 'samples', samplesFit: fit, baselineFit: fit, minBytes: 100 * MIB, maxBytes: (100 + growthPct) * MIB };
}

function fds(growth: number): FdTrend {
  return { samples: 13, edgeSamples: 3, firstMedian: 25, lastMedian: 25 + growth, growth, slopePerHour: growth * 60, min: 25, max: 25 + growth };
}

const CLEAN: SoakVerdictInput = {
  rss: rss(0.3),
  fds: fds(0),
  p99Drift: { intervals: 12, slopeUsPerHour: 10, fittedStartUs: 100, fittedEndUs: 101, driftPct: 1 },
  errors: 0,
  errorSamples: [],
  lost: 0,
  unsent: 0,
  loadFailure: undefined,
  targetDeath: undefined,
  depth: 64,
};

const verdictOf = (over: Partial<SoakVerdictInput>, thresholds = DEFAULT_SOAK_THRESHOLDS) => soakVerdict(soakChecks({ ...CLEAN, ...over }, thresholds));
const failedChecks = (over: Partial<SoakVerdictInput>, thresholds = DEFAULT_SOAK_THRESHOLDS) =>
  soakChecks({ ...CLEAN, ...over }, thresholds)
    .filter((c) => !c.pass)
    .map((c) => c.name);

describe('soak verdict', () => {
  it('passes a clean run with every default check and no reasons', () => {
    const checks = soakChecks(CLEAN, DEFAULT_SOAK_THRESHOLDS);
    expect(checks.map((c) => c.name)).toEqual(['target-alive', 'answering', 'rss-growth', 'fd-growth', 'errors', 'lost', 'sustained-rate']);
    expect(soakVerdict(checks)).toEqual({ verdict: 'PASS', reasons: [] });
  });

  it('fails each threshold on its own, with a reason naming it', () => {
    expect(failedChecks({ rss: rss(5.01) })).toEqual(['rss-growth']);
    expect(failedChecks({ rss: rss(5) })).toEqual([]);
    expect(failedChecks({ fds: fds(1) })).toEqual(['fd-growth']);
    expect(failedChecks({ errors: 1, errorSamples: ['rejected: RATE_LIMITED'] })).toEqual(['errors']);
    expect(failedChecks({ lost: 3 })).toEqual(['lost']);
    expect(failedChecks({ unsent: 10 })).toEqual(['sustained-rate']);
    expect(verdictOf({ unsent: 10 }).reasons[0]).toMatch(/offered rate was not sustained: 10 scheduled requests never left, the 64 requests allowed/);
    expect(verdictOf({ unsent: 10, loadFailure: 'connection 1: read ECONNRESET' }).reasons).toEqual(['connection 1: read ECONNRESET', '10 scheduled requests never left: the load stopped early']);
    expect(failedChecks({ targetDeath: 'killed by SIGKILL (noticed 12 s into the measured phase)' })).toEqual(['target-alive']);
    expect(failedChecks({ loadFailure: 'the target stopped answering: no reply within 5000 ms on connection 2' })).toEqual(['answering']);

    const r = verdictOf({ rss: rss(12.5), fds: fds(40), errors: 2, errorSamples: ['rejected: RATE_LIMITED'] });
    expect(r.verdict).toBe('FAIL');
    expect(r.reasons).toHaveLength(3);
    expect(r.reasons[0]).toMatch(/^RSS growth \+12\.50 % after warm-up exceeds 5 %/);
    expect(r.reasons[1]).toMatch(/^FD growth \+40 exceeds 0 \(median of the first 3 samples 25, of the last 3 65/);
    expect(r.reasons[2]).toMatch(/^2 errors exceed 0, e\.g\. rejected: RATE_LIMITED/);
  });

  it('honours other thresholds', () => {
    const loose = { maxRssGrowthPct: 20, maxFdGrowth: 50, maxErrors: 5 };
    expect(failedChecks({ rss: rss(12.5), fds: fds(40), errors: 5 }, loose)).toEqual([]);
    expect(failedChecks({ errors: 6 }, loose)).toEqual(['errors']);
  });

  it('fails what it could not measure instead of passing it', () => {
    const r = verdictOf({ rss: undefined, fds: undefined });
    expect(r.verdict).toBe('FAIL');
    expect(r.reasons.join('\n')).toMatch(/RSS growth not measured[\s\S]*FD growth not measured/);
  });

  it('checks p99 drift only when a limit is given', () => {
    const drift = { intervals: 12, slopeUsPerHour: 1_000, fittedStartUs: 100, fittedEndUs: 180, driftPct: 80 };
    expect(failedChecks({ p99Drift: drift })).toEqual([]);
    expect(failedChecks({ p99Drift: drift }, { ...DEFAULT_SOAK_THRESHOLDS, maxP99DriftPct: 50 })).toEqual(['p99-drift']);
    expect(failedChecks({ p99Drift: drift }, { ...DEFAULT_SOAK_THRESHOLDS, maxP99DriftPct: 100 })).toEqual([]);
  });
});
