import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { allowedCpus, parseCpuList, parsePinMode, pinnedCommand, pinProcess, planPinning, tasksetAvailable } from './pinning.js';

function usageError(fn: () => unknown): FastPathError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected a FastPathError');
}

function cpusAllowed(pid: number, tid: number = pid): string | undefined {
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
}

function startChild(command: string, args: string[]): ChildProcess {
  return spawn(command, args, { stdio: 'ignore' });
}

describe('pinning', () => {
  it('parses --pin values and names the allowed ones otherwise', () => {
    expect(parsePinMode('none')).toBe('none');
    expect(parsePinMode('same')).toBe('same');
    expect(parsePinMode('split')).toBe('split');
    for (const bad of ['', 'SAME', 'both', 'split ']) {
      const err = usageError(() => parsePinMode(bad));
      expect(err.code).toBe('FP_USAGE');
      expect(err.message).toContain('none, same, split');
    }
  });

  it('plans CPUs per mode', () => {
    expect(planPinning('none', 8)).toEqual({});
    expect(planPinning('same', 1)).toEqual({ clientCpu: 0, targetCpu: 0 });
    expect(planPinning('split', 2)).toEqual({ clientCpu: 0, targetCpu: 1 });
    const err = usageError(() => planPinning('split', 1));
    expect(err.code).toBe('FP_USAGE');
    expect(err.message).toMatch(/--pin split needs two CPUs.*only 1/);
    // On this machine: the CPUs this process may use.
    const cpus = allowedCpus();
    expect(cpus).toHaveLength(availableParallelism());
    const same = planPinning('same');
    expect(same.clientCpu).toBe(cpus?.at(-1));
    expect(same.targetCpu).toBe(same.clientCpu);
  });

  it('expands kernel CPU lists', () => {
    expect(parseCpuList('0')).toEqual([0]);
    expect(parseCpuList('0-3,6,8-9')).toEqual([0, 1, 2, 3, 6, 8, 9]);
    expect(parseCpuList('3-1')).toBeUndefined();
    expect(parseCpuList('a')).toBeUndefined();
  });

  it('prefixes taskset -c CPU only when a CPU is given', () => {
    expect(pinnedCommand('/bin/echo-peer', ['{socket}'])).toEqual({ command: '/bin/echo-peer', args: ['{socket}'] });
    expect(pinnedCommand('/bin/echo-peer', ['{socket}'], 1)).toEqual({ command: 'taskset', args: ['-c', '1', '/bin/echo-peer', '{socket}'] });
    expect(usageError(() => pinnedCommand('x', [], -1)).code).toBe('FP_USAGE');
    expect(usageError(() => pinnedCommand('x', [], 1.5)).code).toBe('FP_USAGE');
  });

  it('pins a running process to one CPU', async () => {
    expect(await tasksetAvailable()).toBe(true);
    const cpu = planPinning('same').targetCpu!;
    const child = startChild('sleep', ['5']);
    onTestFinished(() => void child.kill('SIGKILL'));
    await pinProcess(child.pid!, cpu);
    expect(cpusAllowed(child.pid!)).toBe(String(cpu));
  });

  it('pins every thread of a multi-threaded process', async () => {
    const cpu = planPinning('same').targetCpu!;
    const child = startChild(process.execPath, ['-e', 'setTimeout(() => {}, 5000)']);
    onTestFinished(() => void child.kill('SIGKILL'));
    const pid = child.pid!;
    // Node starts its worker threads (libuv, V8 platform) within a few ms.
    const deadline = Date.now() + 5_000;
    while (readdirSync(`/proc/${pid}/task`).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await pinProcess(pid, cpu);
    const tids = readdirSync(`/proc/${pid}/task`).map(Number);
    expect(tids.length).toBeGreaterThan(1);
    for (const tid of tids) expect(cpusAllowed(pid, tid)).toBe(String(cpu));
  });

  it('runs a command pinned through pinnedCommand', async () => {
    const { command, args } = pinnedCommand('sleep', ['5'], 0);
    const child = spawn(command, args, { stdio: 'ignore' });
    onTestFinished(() => void child.kill('SIGKILL'));
    // taskset execs the command: same pid, affinity set before it runs.
    const deadline = Date.now() + 5_000;
    while (!readFileSync(`/proc/${child.pid!}/cmdline`, 'utf8').startsWith('sleep') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(cpusAllowed(child.pid!)).toBe('0');
  });

  it('says why a pin failed', async () => {
    const child = startChild('sleep', ['5']);
    onTestFinished(() => void child.kill('SIGKILL'));
    const err = await pinProcess(child.pid!, 4096).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FastPathError);
    expect((err as FastPathError).message).toMatch(new RegExp(`cannot pin pid ${child.pid!} to CPU 4096: .*taskset`));
    await expect(pinProcess(0, 0)).rejects.toMatchObject({ code: 'FP_USAGE' });
  });
});
