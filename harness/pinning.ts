import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fpError } from '../protocol/index.js';
import type { PinMode } from './bench-result.js';

/**
 * CPU pinning for `fastpath bench --pin` with taskset (util-linux). `same` puts the
 * client and the target on one CPU (no cross-CPU wake-ups, one core time-shared),
 * `split` on two different CPUs; the report records which (BenchEnv.pinning).
 */

/** The values of `--pin`. */
export const PIN_MODES: readonly PinMode[] = ['none', 'same', 'split'];

/** CPUs chosen for the bench client and the target; undefined = not pinned. */
export interface PinPlan {
  readonly clientCpu?: number;
  readonly targetCpu?: number;
}

/**
 * Parses `--pin`.
 * @throws FastPathError FP_USAGE naming the allowed values.
 */
export function parsePinMode(s: string): PinMode {
  const mode = PIN_MODES.find((m) => m === s);
  if (mode === undefined) {
    throw fpError('FP_USAGE', `--pin: unknown pinning mode "${s}"; use one of ${PIN_MODES.join(', ')} (same: client and target on one CPU, split: on two CPUs)`);
  }
  return mode;
}

/** Expands a kernel CPU list (`0-3,6,8-9`) to CPU numbers; undefined when it does not parse. */
export function parseCpuList(list: string): number[] | undefined {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (match === null) return undefined;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) return undefined;
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status), or undefined off Linux. */
export function allowedCpus(): number[] | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(status);
    return match?.[1] === undefined ? undefined : parseCpuList(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * The CPUs to use for `mode`: `same` → both on the last CPU (CPU 0 tends to take
 * more interrupts), `split` → client on the first, target on the second.
 * CPU numbers come from this process's affinity list when it has `cpuCount` entries
 * (a cpuset such as 4-7 gives 7, or 4 and 5), else from 0..cpuCount-1.
 * @throws FastPathError FP_USAGE for `split` with fewer than two CPUs.
 */
export function planPinning(mode: PinMode, cpuCount: number = availableParallelism()): PinPlan {
  if (mode === 'none') return {};
  if (!Number.isInteger(cpuCount) || cpuCount < 1) throw fpError('FP_USAGE', `--pin ${mode}: invalid CPU count ${cpuCount}`);
  const allowed = allowedCpus();
  const cpus = allowed !== undefined && allowed.length === cpuCount ? allowed : Array.from({ length: cpuCount }, (_, i) => i);
  if (mode === 'same') {
    const cpu = cpus[cpus.length - 1]!;
    return { clientCpu: cpu, targetCpu: cpu };
  }
  if (cpus.length < 2) {
    throw fpError(
      'FP_USAGE',
      `--pin split needs two CPUs (client on one, target on another) but only ${cpuCount} is available; use --pin same or --pin none`,
    );
  }
  return { clientCpu: cpus[0]!, targetCpu: cpus[1]! };
}

function checkCpu(cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < 0) throw fpError('FP_USAGE', `invalid CPU number ${cpu}: expected an integer >= 0`);
}

/** `command args` prefixed with `taskset -c CPU` when `cpu` is set (taskset execs, so the pid is the command's). */
export function pinnedCommand(command: string, args: readonly string[], cpu?: number): { command: string; args: string[] } {
  if (cpu === undefined) return { command, args: [...args] };
  checkCpu(cpu);
  return { command: 'taskset', args: ['-c', String(cpu), command, ...args] };
}

function runTaskset(args: readonly string[]): Promise<{ error: (Error & { code?: unknown }) | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('taskset', args, { timeout: 5_000, encoding: 'utf8' }, (error, _stdout, stderr) => resolve({ error, stderr }));
  });
}

/**
 * Pins every thread of a running process (`taskset -a -c -p CPU PID`), so worker
 * threads started later inherit the CPU too.
 * @throws FastPathError FP_USAGE for an invalid CPU; FP_CONFIG_INVALID when taskset is missing or fails (its stderr quoted).
 */
export async function pinProcess(pid: number, cpu: number): Promise<void> {
  checkCpu(cpu);
  if (!Number.isInteger(pid) || pid <= 0) throw fpError('FP_USAGE', `invalid pid ${pid}`);
  const { error, stderr } = await runTaskset(['-a', '-c', '-p', String(cpu), String(pid)]);
  if (error === null) return;
  if (error.code === 'ENOENT') {
    throw fpError('FP_CONFIG_INVALID', `cannot pin pid ${pid} to CPU ${cpu}: taskset is not on PATH (install util-linux) or use --pin none`);
  }
  const why = stderr.trim() === '' ? error.message : stderr.trim().split(/\r?\n/).join(' | ');
  throw fpError('FP_CONFIG_INVALID', `cannot pin pid ${pid} to CPU ${cpu}: ${why}`, { pid, cpu });
}

let tasksetProbe: Promise<boolean> | undefined;

/** True when `taskset` (util-linux) runs here; probed once per process. */
export function tasksetAvailable(): Promise<boolean> {
  tasksetProbe ??= runTaskset(['-p', String(process.pid)]).then(({ error }) => error === null);
  return tasksetProbe;
}
