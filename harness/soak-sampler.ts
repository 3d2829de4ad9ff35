import { readdir, readFile, readlink } from 'node:fs/promises';
import net from 'node:net';
import { z } from 'zod';
import { createFrameDecoder, decodeBody, encodeRequest, isPlainObject } from '../protocol/index.js';
import type { ModeInfo } from './case.js';
import type { Dialect } from './dialect.js';

/**
 * Samples the process under test during a soak: RSS, open FDs and sockets, CPU from
 * /proc, and the target's STATUS counters (docs/SPEC.md §6.8) over a connection of
 * its own, opened and closed for each sample, so the load's connections and their
 * sequence checks never see it. Parsing is pure; the I/O functions never throw for
 * a process that is gone (they return undefined).
 */

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux ABI Node runs on). */
export const PROC_TICKS_PER_SEC = 100;

/** CPU time of a process from /proc/<pid>/stat, in clock ticks. */
export interface ProcCpuTicks {
  readonly utimeTicks: number;
  readonly stimeTicks: number;
}

/**
 * Parses /proc/<pid>/stat: fields 14 (utime) and 15 (stime), counted after the
 * command name, which is in parentheses and may itself hold spaces and parentheses.
 */
export function parseProcStat(text: string): ProcCpuTicks | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ")": field 3 (state) is the first.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { utimeTicks: utime, stimeTicks: stime };
}

/** CPU use between two readings as a percentage of one core (can exceed 100 with threads). */
export function cpuPercent(before: ProcCpuTicks, after: ProcCpuTicks, elapsedMs: number, ticksPerSec: number = PROC_TICKS_PER_SEC): number {
  if (!(elapsedMs > 0)) return 0;
  const ticks = after.utimeTicks + after.stimeTicks - (before.utimeTicks + before.stimeTicks);
  return ((ticks / ticksPerSec) * 1_000 * 100) / elapsedMs;
}

/** CPU ticks of `pid`, or undefined when it is gone. */
export async function readProcCpu(pid: number): Promise<ProcCpuTicks | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Resident set size (VmRSS) from the text of /proc/<pid>/status, in bytes. */
export function parseVmRssBytes(statusText: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(statusText);
  return m === null ? undefined : Number(m[1]) * 1_024;
}

/** RSS of `pid` in bytes, or undefined when it is gone. */
export async function readRssBytes(pid: number): Promise<number | undefined> {
  try {
    return parseVmRssBytes(await readFile(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Open descriptors of `pid` and how many of them are sockets (links `socket:[inode]`), or undefined when it is gone. */
export async function readFds(pid: number): Promise<{ fds: number; sockets: number } | undefined> {
  let names: string[];
  try {
    names = await readdir(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  let sockets = 0;
  await Promise.all(
    names.map(async (n) => {
      try {
        if ((await readlink(`/proc/${pid}/fd/${n}`)).startsWith('socket:')) sockets++;
      } catch {
        // closed between readdir and readlink
      }
    }),
  );
  return { fds: names.length, sockets };
}

/** Numeric STATUS fields of one sample (§6.8; unknown metrics kept, non-numbers dropped). */
export const StatusSnapshotSchema = z.object({
  activeConnections: z.number().optional(),
  metrics: z.record(z.string(), z.number()),
});
export type StatusSnapshot = z.infer<typeof StatusSnapshotSchema>;

/** Picks the numeric fields out of a STATUS reply's `status` object; undefined when it has no `metrics` object. */
export function statusSnapshot(status: unknown): StatusSnapshot | undefined {
  if (!isPlainObject(status) || !isPlainObject(status.metrics)) return undefined;
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(status.metrics)) if (typeof v === 'number' && Number.isFinite(v)) metrics[k] = v;
  const active = status.activeConnections;
  return typeof active === 'number' ? { activeConnections: active, metrics } : { metrics };
}

/**
 * Sends one STATUS on a connection of its own and returns its counters.
 * @throws Error saying what went wrong (no connection, no reply within `timeoutMs`, a rejection, a reply without metrics).
 */
export function queryStatus(socketPath: string, mode: ModeInfo, dialect: Dialect, timeoutMs: number): Promise<StatusSnapshot> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    const decoder = createFrameDecoder({ ...mode.framing, maxFrameBytes: Math.max(mode.framing.maxFrameBytes, 16 * 1_048_576) });
    let done = false;
    const finish = (err: Error | undefined, value?: StatusSnapshot): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(value as StatusSnapshot);
    };
    const timer = setTimeout(() => finish(new Error(`no STATUS reply within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (err) => finish(new Error(`STATUS connection failed: ${err.message}`)));
    socket.once('close', () => finish(new Error('the target closed the STATUS connection without a reply')));
    socket.once('connect', () => socket.write(encodeRequest(mode, dialect.toTarget({ type: 'STATUS' }), { id: 1 })));
    socket.on('data', (chunk: Buffer) => {
      for (const ev of decoder.push(chunk)) {
        if (ev.type !== 'frame') return finish(new Error(`unreadable STATUS reply: ${ev.message}`));
        const decoded = decodeBody(mode.framing.codec, ev.body);
        if (!decoded.ok) return finish(new Error(`undecodable STATUS reply: ${decoded.error}`));
        const reply = dialect.classify(decoded.value);
        if (reply.kind !== 'accepted') return finish(new Error(`STATUS ${reply.kind === 'rejected' ? `rejected: ${reply.reason}` : `reply malformed: ${reply.problem}`}`));
        const snap = statusSnapshot(reply.fields.status);
        return snap === undefined ? finish(new Error('STATUS reply has no status.metrics object')) : finish(undefined, snap);
      }
    });
  });
}

/** One sample of the target. Absent figures could not be read (process gone, no pid). */
export interface SoakSample {
  /** ms after the start of the measured phase (negative during warm-up). */
  readonly tMs: number;
  readonly epochMs: number;
  /** False once the process is gone. */
  readonly alive: boolean;
  readonly rssBytes?: number | undefined;
  readonly fds?: number | undefined;
  readonly sockets?: number | undefined;
  /** CPU since the previous sample, percent of one core. */
  readonly cpuPct?: number | undefined;
  /** Cumulative CPU time of the target, in clock ticks (for means over a window). */
  readonly cpuTicks?: number | undefined;
  readonly status?: StatusSnapshot | undefined;
  /** Why STATUS was not read (capability declared, but the query failed). */
  readonly statusError?: string | undefined;
}

/** What {@link SoakSampler} needs to know about the target. */
export interface SamplerTarget {
  readonly pid: number | undefined;
  /** For spawned targets: whether the process still runs (undefined: ask /proc). */
  readonly alive?: (() => boolean) | undefined;
  readonly socketPath: string;
  /** Set when the target declares the `status` capability. */
  readonly status?: { readonly mode: ModeInfo; readonly dialect: Dialect; readonly timeoutMs: number } | undefined;
}

/** Takes samples of one target; keeps only the previous CPU reading. */
export class SoakSampler {
  private prevCpu: { ticks: ProcCpuTicks; atMs: number } | undefined;

  constructor(private readonly target: SamplerTarget) {}

  /**
   * One sample at `tMs`. /proc is read first and STATUS last, so the STATUS connection
   * (closed again before the next sample) is never counted among the FDs.
   */
  async sample(tMs: number): Promise<SoakSample> {
    const epochMs = Date.now();
    const pid = this.target.pid;
    if (pid === undefined) return { tMs, epochMs, alive: this.target.alive?.() ?? true };
    const [rssBytes, fd, cpu] = await Promise.all([readRssBytes(pid), readFds(pid), readProcCpu(pid)]);
    const nowMs = performance.now();
    const alive = this.target.alive?.() ?? rssBytes !== undefined;
    let cpuPct: number | undefined;
    if (cpu !== undefined) {
      if (this.prevCpu !== undefined) cpuPct = cpuPercent(this.prevCpu.ticks, cpu, nowMs - this.prevCpu.atMs);
      this.prevCpu = { ticks: cpu, atMs: nowMs };
    }
    let status: StatusSnapshot | undefined;
    let statusError: string | undefined;
    const st = this.target.status;
    if (st !== undefined && alive) {
      try {
        status = await queryStatus(this.target.socketPath, st.mode, st.dialect, st.timeoutMs);
      } catch (err) {
        statusError = err instanceof Error ? err.message : String(err);
      }
    }
    return {
      tMs,
      epochMs,
      alive,
      rssBytes,
      fds: fd?.fds,
      sockets: fd?.sockets,
      cpuPct,
      cpuTicks: cpu === undefined ? undefined : cpu.utimeTicks + cpu.stimeTicks,
      status,
      statusError,
    };
  }
}
