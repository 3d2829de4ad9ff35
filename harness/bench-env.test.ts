import { availableParallelism, hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { captureBenchEnv, cpuModel } from './bench-env.js';

describe('bench env', () => {
  it('records runtime, machine, kernel, load, pinning and target', () => {
    const startedAt = new Date('2025-01-02T03:04:05.678Z');
    const env = captureBenchEnv({ target: 'reference (built-in)', pinning: { mode: 'split', clientCpu: 0, targetCpu: 1 }, startedAt });
    expect(env).toEqual({
      nodeVersion: process.version,
      v8Version: process.versions.v8,
      platform: 'linux',
      arch: process.arch,
      cpuModel: expect.stringMatching(/\S/),
      cpuCount: availableParallelism(),
      kernel: expect.stringMatching(/^\d+\.\d+\S* \S/),
      loadAverage: [expect.any(Number), expect.any(Number), expect.any(Number)],
      pinning: { mode: 'split', clientCpu: 0, targetCpu: 1 },
      target: 'reference (built-in)',
      startedAt: '2025-01-02T03:04:05.678Z',
      hostname: hostname(),
    });
    expect(env.cpuModel).not.toBe('unknown');
    expect(cpuModel()).toBe(env.cpuModel);
  });

  it('stamps the current time by default and keeps unpinned CPUs undefined', () => {
    const before = Date.now();
    const env = captureBenchEnv({ target: 'unix:/tmp/x.sock', pinning: { mode: 'none', clientCpu: undefined, targetCpu: undefined } });
    expect(Date.parse(env.startedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(env.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(env.pinning).toEqual({ mode: 'none', clientCpu: undefined, targetCpu: undefined });
  });
});
