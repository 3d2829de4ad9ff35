import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzProperty, type FuzzProperty } from './fuzz-property.js';
import { deriveSeed, fnv1a32, missingFuzzCapability, planFuzzRun, selectFuzzProperties, shareRuns, validateFuzzProperties } from './fuzz-plan.js';
import { makeMode } from './targets.js';

function prop(id: string, extra: Partial<FuzzProperty<number>> = {}): FuzzProperty {
  return fuzzProperty<number>({
    id,
    section: '3',
    level: 'MUST',
    description: id,
    expected: 'nothing',
    arbitrary: () => fc.nat(),
    run: async () => undefined,
    ...extra,
  });
}

describe('seeds', () => {
  it('FNV-1a matches its reference values', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('derives the same seed for the same run seed, mode and property, and different ones otherwise', () => {
    expect(deriveSeed(42, 'ndjson/none', 'fuzz.frame.valid')).toBe(deriveSeed(42, 'ndjson/none', 'fuzz.frame.valid'));
    const seeds = new Set([
      deriveSeed(42, 'ndjson/none', 'fuzz.frame.valid'),
      deriveSeed(43, 'ndjson/none', 'fuzz.frame.valid'),
      deriveSeed(42, 'ndjson/hmac-v2', 'fuzz.frame.valid'),
      deriveSeed(42, 'ndjson/none', 'fuzz.frame.mutated'),
    ]);
    expect(seeds.size).toBe(4);
    for (const s of seeds) expect(Number.isInteger(s) && s >= -0x80000000 && s <= 0x7fffffff).toBe(true);
  });
});

describe('shareRuns', () => {
  it('sums to the total, in proportion, with at least one each', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0.1, max: 10, noNaN: true })), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 100_000 }), (weights, total) => {
        const shares = shareRuns(total, weights);
        const active = weights.filter((w) => w > 0).length;
        weights.forEach((w, i) => expect(shares[i]! >= (w > 0 ? 1 : 0) && (w > 0 || shares[i] === 0)).toBe(true));
        expect(shares.reduce((a, b) => a + b, 0)).toBe(active === 0 ? 0 : Math.max(total, active));
      }),
    );
    expect(shareRuns(100, [1, 3])).toEqual([25, 75]);
    expect(shareRuns(10, [1, 0, 1])).toEqual([5, 0, 5]);
  });
});

describe('planning', () => {
  const modes = [makeMode('ndjson', 'none', 's'), makeMode('lp32-json', 'hmac-v2', 's')];
  const lpOnly = prop('fuzz.lp', { appliesTo: (m) => m.framing.kind === 'lp', weight: 2 });
  const needsDelay = prop('fuzz.delay', { requires: ['delay'] });
  const plain = prop('fuzz.plain');

  it('plans every applicable pair with a derived seed, and no inputs where a capability is missing', () => {
    const plan = planFuzzRun({ modes, properties: [plain, lpOnly, needsDelay], capabilities: {}, spawned: true, runs: 100, runSeed: 9 });
    expect(plan.map((i) => `${i.mode.label} ${i.property.id}`)).toEqual([
      'ndjson/none fuzz.plain',
      'ndjson/none fuzz.delay',
      'lp32-json/hmac-v2 fuzz.plain',
      'lp32-json/hmac-v2 fuzz.lp',
      'lp32-json/hmac-v2 fuzz.delay',
    ]);
    expect(plan.map((i) => i.numRuns)).toEqual([25, 0, 25, 50, 0]);
    expect(plan.filter((i) => i.missing !== undefined).map((i) => i.missing)).toEqual(['capability "delay" not declared by the target', 'capability "delay" not declared by the target']);
    expect(plan[0]!.seed).toBe(deriveSeed(9, 'ndjson/none', 'fuzz.plain'));
  });

  it('says lifecycle is unavailable on an attached target', () => {
    expect(missingFuzzCapability(prop('x', { requires: ['lifecycle'] }), { lifecycle: true }, false)).toMatch(/attached/);
  });

  it('selects by globs and validates ids', () => {
    expect(selectFuzzProperties([plain, lpOnly, needsDelay], ['fuzz.*'], ['*.delay']).map((p) => p.id)).toEqual(['fuzz.plain', 'fuzz.lp']);
    expect(() => validateFuzzProperties([plain, plain])).toThrow(/used twice/);
    expect(() => validateFuzzProperties([prop('bad id')])).toThrow(/not a dotted literal id/);
    expect(() => validateFuzzProperties([prop('fuzz.w', { weight: 0 })])).toThrow(/weight must be positive/);
  });
});
