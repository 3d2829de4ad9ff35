import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { specDialect } from './dialect.js';
import { cpuPercent, parseProcStat, parseVmRssBytes, queryStatus, readFds, readRssBytes, SoakSampler, statusSnapshot } from './soak-sampler.js';
import { makeMode } from './targets.js';

/** A pid that is not running: pid_max is at most 2^22 on Linux. */
const NO_SUCH_PID = 4_194_304 + 17;

describe('/proc parsing', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    const stat = '4242 (node (a) b) S 1 4242 4242 0 -1 4194304 1234 0 0 0 150 37 0 0 20 0 11 0 100 0 0';
    expect(parseProcStat(stat)).toEqual({ utimeTicks: 150, stimeTicks: 37 });
    expect(parseProcStat('garbage')).toBeUndefined();
  });

  it('CPU percent of one core from tick deltas', () => {
    expect(cpuPercent({ utimeTicks: 100, stimeTicks: 20 }, { utimeTicks: 140, stimeTicks: 30 }, 1_000)).toBe(50);
    expect(cpuPercent({ utimeTicks: 0, stimeTicks: 0 }, { utimeTicks: 300, stimeTicks: 0 }, 2_000)).toBe(150);
    expect(cpuPercent({ utimeTicks: 0, stimeTicks: 0 }, { utimeTicks: 1, stimeTicks: 0 }, 0)).toBe(0);
  });

  it('VmRSS in bytes', () => {
    expect(parseVmRssBytes('Name:\tnode\nVmRSS:\t  81234 kB\nVmData: 1 kB\n')).toBe(81_234 * 1_024);
    expect(parseVmRssBytes('Name:\tkthreadd\n')).toBeUndefined();
  });

  it('counts this process’s descriptors and sockets, and sees one more of each when opened', async () => {
    const before = await readFds(process.pid);
    const fd = openSync('/dev/null', 'r');
    const server = net.createServer();
    const dir = mkdtempSync(join(tmpdir(), 'fp-sampler-'));
    await new Promise<void>((res) => server.listen(join(dir, 's.sock'), res));
    onTestFinished(() => {
      closeSync(fd);
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const after = await readFds(process.pid);
    expect(after?.fds).toBeGreaterThanOrEqual((before?.fds ?? Infinity) + 2);
    expect(after?.sockets).toBeGreaterThanOrEqual((before?.sockets ?? Infinity) + 1);
    expect(await readRssBytes(process.pid)).toBeGreaterThan(10_000_000);
    expect(await readFds(NO_SUCH_PID)).toBeUndefined();
    expect(await readRssBytes(NO_SUCH_PID)).toBeUndefined();
  });
});

describe('STATUS', () => {
  it('keeps numeric metrics and activeConnections, and refuses a reply without metrics', () => {
    expect(statusSnapshot({ running: true, activeConnections: 5, metrics: { messagesReceived: 10, avgLatencyMs: 0.1, note: 'x' } })).toEqual({
      activeConnections: 5,
      metrics: { messagesReceived: 10, avgLatencyMs: 0.1 },
    });
    expect(statusSnapshot({ running: true })).toBeUndefined();
    expect(statusSnapshot('up')).toBeUndefined();
  });

  /** An ndjson server answering each line with `reply(id)` (or nothing). */
  async function server(reply: (id: unknown) => unknown): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'fp-status-'));
    const path = join(dir, 's.sock');
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
      let buf = '';
      sock.on('data', (chunk) => {
        buf += chunk.toString();
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const env = JSON.parse(buf.slice(0, nl)) as { id: unknown; signal: { type: string } };
        const r = reply(env.signal.type === 'STATUS' ? env.id : undefined);
        if (r !== undefined) sock.write(`${JSON.stringify(r)}\n`);
      });
    });
    await new Promise<void>((res) => srv.listen(path, res));
    onTestFinished(() => {
      for (const s of sockets) s.destroy();
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return path;
  }

  const mode = makeMode('ndjson', 'none', '');

  it('asks on a connection of its own and returns the counters', async () => {
    const path = await server((id) => ({ accepted: true, id, status: { running: true, activeConnections: 1, metrics: { messagesReceived: 3 } } }));
    expect(await queryStatus(path, mode, specDialect, 1_000)).toEqual({ activeConnections: 1, metrics: { messagesReceived: 3 } });
  });

  it('reports a rejection, a reply without metrics and silence as errors', async () => {
    const rejecting = await server((id) => ({ rejected: true, reason: 'INVALID_SIGNAL', id }));
    await expect(queryStatus(rejecting, mode, specDialect, 1_000)).rejects.toThrow(/STATUS rejected: INVALID_SIGNAL/);
    const bare = await server((id) => ({ accepted: true, id }));
    await expect(queryStatus(bare, mode, specDialect, 1_000)).rejects.toThrow(/no status\.metrics/);
    const silent = await server(() => undefined);
    await expect(queryStatus(silent, mode, specDialect, 200)).rejects.toThrow(/no STATUS reply within 200 ms/);
  });

  it('the sampler reads /proc before STATUS and notes a STATUS failure without failing the sample', async () => {
    const silent = await server(() => undefined);
    const sampler = new SoakSampler({ pid: process.pid, socketPath: silent, status: { mode, dialect: specDialect, timeoutMs: 100 } });
    const first = await sampler.sample(-5_000);
    const second = await sampler.sample(0);
    expect(first.alive).toBe(true);
    expect(first.rssBytes).toBeGreaterThan(0);
    expect(first.fds).toBeGreaterThan(0);
    expect(first.cpuPct).toBeUndefined();
    expect(second.cpuPct).toBeGreaterThanOrEqual(0);
    expect(second.statusError).toMatch(/no STATUS reply/);
    const gone = await new SoakSampler({ pid: NO_SUCH_PID, socketPath: silent }).sample(0);
    expect(gone).toMatchObject({ alive: false, rssBytes: undefined, fds: undefined });
  });
});
