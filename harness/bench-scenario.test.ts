import { describe, expect, it } from 'vitest';
import { parsePayloadSize, payloadLabel, scenarioName, shapeKey, withPeer, type ScenarioSpec } from './bench-scenario.js';
import { fairnessOf, splitConnections } from './load-runner.js';

const closed: ScenarioSpec = { peer: 'target', loop: 'closed', connections: 1, depth: 1, signalBytes: 64, framing: 'ndjson', auth: 'hmac-json' };

describe('bench scenario names', () => {
  it('are derived from the shape and the mode, so runs can be compared by name', () => {
    expect(scenarioName(closed)).toBe('ndjson.hmac-json.closed.c1.d1.64B');
    expect(scenarioName({ ...closed, loop: 'open', connections: 4, ratePerSec: 20_000, signalBytes: 1_048_576 })).toBe('ndjson.hmac-json.open.c4.r20000.1MiB');
    expect(scenarioName({ ...closed, framing: 'lp:2:le:frame:-:json' })).toBe('lp-2-le-frame---json.hmac-json.closed.c1.d1.64B');
  });

  it('name floors by peer and framing only (an echo peer does no auth) and pair them with their scenario by shape', () => {
    const floor = withPeer(closed, 'node-echo');
    expect(scenarioName(floor)).toBe('floor.node-echo.ndjson.closed.c1.d1.64B');
    expect(shapeKey(floor)).toBe(shapeKey(closed));
    expect(shapeKey({ ...closed, depth: 2 })).not.toBe(shapeKey(closed));
  });
});

describe('payload sizes', () => {
  it('accept the sweep names and byte counts with units', () => {
    expect(['64B', '1KiB', '64KiB', '1MiB'].map(parsePayloadSize)).toEqual([64, 1_024, 65_536, 1_048_576]);
    expect(parsePayloadSize('512')).toBe(512);
    expect(parsePayloadSize('3KiB')).toBe(3_072);
    expect(payloadLabel(1_024)).toBe('1KiB');
    expect(payloadLabel(100)).toBe('100B');
  });

  it('refuse anything else with a message that lists what works', () => {
    expect(() => parsePayloadSize('12XB')).toThrow(/64B, 1KiB, 64KiB, 1MiB/);
    expect(() => parsePayloadSize('0')).toThrow(/outside 1 B/);
    expect(() => parsePayloadSize('17MiB')).toThrow(/16 MiB/);
  });
});

describe('load splitting and fairness', () => {
  it('splits connections over threads as evenly as possible, never into empty groups', () => {
    expect(splitConnections(100, 2)).toEqual([50, 50]);
    expect(splitConnections(5, 2)).toEqual([3, 2]);
    expect(splitConnections(1, 4)).toEqual([1]);
    expect(splitConnections(7, 0)).toEqual([7]);
  });

  it("computes Jain's index: 1 for equal shares, 1/n when one connection gets everything", () => {
    expect(fairnessOf([10, 10, 10, 10])?.jainIndex).toBe(1);
    expect(fairnessOf([40, 0, 0, 0])?.jainIndex).toBeCloseTo(0.25, 10);
    expect(fairnessOf([5, 15])).toMatchObject({ connections: 2, minPerConnection: 5, maxPerConnection: 15, meanPerConnection: 10 });
    expect(fairnessOf([42])).toBeUndefined();
  });
});
