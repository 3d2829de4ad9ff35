import { readFileSync } from 'node:fs';
import { availableParallelism, arch, cpus, hostname, loadavg, platform, release, version } from 'node:os';
import type { BenchEnv } from './bench-result.js';

/**
 * Where a bench run happened (BenchEnv): runtime, machine, kernel, load and pinning,
 * so a report says what its figures were measured on.
 */

/** The CPU model from os.cpus(), else /proc/cpuinfo (`model name`, or `Hardware`/`Processor` on ARM), else 'unknown'. */
export function cpuModel(): string {
  const fromOs = cpus()[0]?.model.trim();
  if (fromOs !== undefined && fromOs !== '' && fromOs !== 'unknown') return fromOs;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    for (const key of ['model name', 'Hardware', 'Processor', 'cpu model']) {
      const match = new RegExp(`^${key}\\s*:\\s*(.+)$`, 'm').exec(info);
      const value = match?.[1]?.trim();
      if (value !== undefined && value !== '') return value;
    }
  } catch {
    // not Linux, or /proc not mounted
  }
  return 'unknown';
}

/** Captures the environment of a run that starts now. */
export function captureBenchEnv(opts: { target: string; pinning: BenchEnv['pinning']; startedAt?: Date }): BenchEnv {
  return {
    nodeVersion: process.version,
    v8Version: process.versions.v8,
    platform: platform(),
    arch: arch(),
    cpuModel: cpuModel(),
    cpuCount: availableParallelism(),
    kernel: `${release()} ${version()}`.trim(),
    loadAverage: loadavg(),
    pinning: { mode: opts.pinning.mode, clientCpu: opts.pinning.clientCpu, targetCpu: opts.pinning.targetCpu },
    target: opts.target,
    startedAt: (opts.startedAt ?? new Date()).toISOString(),
    hostname: hostname(),
  };
}
