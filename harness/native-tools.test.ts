import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { probeSocket, SpawnedTarget } from './launcher.js';
import {
  compileNativeTool,
  defaultNativeCacheDir,
  ensureNativeTool,
  isNativeToolUnavailable,
  nativeEchoPeerCommand,
  nativeToolSource,
  runPingpongClient,
  type NativeTool,
  type NativeToolName,
  type PingpongResult,
} from './native-tools.js';
import { tasksetAvailable } from './pinning.js';
import { findPackageRoot } from './targets.js';

/** Real cc, real binaries, real sockets: the native floor tools end to end. */

const cacheDir = mkdtempSync(join(tmpdir(), 'fastpath-native-test-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

let echoPeer: NativeTool;
let pingpong: NativeTool;

async function mustCompile(name: NativeToolName, dir: string = cacheDir): Promise<NativeTool> {
  const tool = await ensureNativeTool(name, { cacheDir: dir });
  if (isNativeToolUnavailable(tool)) throw new Error(`${name} unavailable: ${tool.unavailable}`);
  return tool;
}

beforeAll(async () => {
  [echoPeer, pingpong] = await Promise.all([mustCompile('echo-peer'), mustCompile('pingpong-client')]);
}, 120_000);

/** A 64-byte ndjson request frame (newline included). */
function ndjsonFrame(bytes: number): Buffer {
  const base = { type: 'PREPARE', signal_id: 's-1', pad: '' };
  const overhead = Buffer.byteLength(`${JSON.stringify(base)}\n`);
  const frame = Buffer.from(`${JSON.stringify({ ...base, pad: 'x'.repeat(bytes - overhead) })}\n`);
  expect(frame.length).toBe(bytes);
  return frame;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fastpath-native-peer-'));
}

function expectOrdered(r: PingpongResult, count: number): void {
  expect(r.count).toBe(count);
  expect(r.minNs).toBeGreaterThan(0);
  expect(r.p50Ns).toBeGreaterThanOrEqual(r.minNs);
  expect(r.p90Ns).toBeGreaterThanOrEqual(r.p50Ns);
  expect(r.p99Ns).toBeGreaterThanOrEqual(r.p90Ns);
  expect(r.p999Ns).toBeGreaterThanOrEqual(r.p99Ns);
  expect(r.p9999Ns).toBeGreaterThanOrEqual(r.p999Ns);
  expect(r.maxNs).toBeGreaterThanOrEqual(r.p9999Ns);
  expect(r.meanNs).toBeGreaterThanOrEqual(r.minNs);
  expect(r.meanNs).toBeLessThanOrEqual(r.maxNs);
  expect(r.durationNs).toBeGreaterThanOrEqual(r.meanNs * count * 0.99);
}

async function launchNativeEcho(): Promise<SpawnedTarget> {
  const { command, args } = nativeEchoPeerCommand(echoPeer);
  return SpawnedTarget.launch({ name: 'native-echo', command, args, framing: 'ndjson', auth: 'none', secret: '', readyTimeoutMs: 5_000 });
}

function startRaw(socketPath: string): { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(echoPeer.path, [socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
    child.once('exit', (code, signal) => {
      if (stdout !== '') stderr += `[stdout] ${stdout}`;
      res({ code, signal });
    }),
  );
  return { child, stderr: () => stderr, exited };
}

function killQuietly(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function echoOnce(socketPath: string, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(socketPath);
    const chunks: Buffer[] = [];
    let got = 0;
    sock.once('connect', () => sock.write(payload));
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= payload.length) {
        sock.end();
        resolve(Buffer.concat(chunks));
      }
    });
    sock.once('error', reject);
  });
}

async function caught(promise: Promise<unknown>): Promise<FastPathError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected a FastPathError');
}

describe('native tools: compile at first use', () => {
  it('names each binary after the sha256 of its source and keeps it in the cache dir', () => {
    expect(echoPeer.path).toMatch(new RegExp(`^${cacheDir}/echo-peer-[0-9a-f]{12}$`));
    expect(pingpong.path).toMatch(new RegExp(`^${cacheDir}/pingpong-client-[0-9a-f]{12}$`));
    expect(nativeToolSource('echo-peer')).toBe(join(findPackageRoot(), 'harness', 'native', 'echo-peer.c'));
    expect(defaultNativeCacheDir()).toBe(join(findPackageRoot(), 'node_modules', '.cache', 'fastpath-native'));
    // No temp files left behind by the atomic rename.
    expect(readdirSync(cacheDir).sort()).toEqual([echoPeer.path, pingpong.path].map((p) => p.slice(cacheDir.length + 1)).sort());
  });

  it('reuses a cached binary without recompiling (mtime unchanged)', async () => {
    const before = statSync(echoPeer.path).mtimeMs;
    await sleep(20);
    const again = await mustCompile('echo-peer');
    expect(again.path).toBe(echoPeer.path);
    expect(statSync(again.path).mtimeMs).toBe(before);
  });

  it('lets concurrent callers share one binary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastpath-native-concurrent-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const tools = await Promise.all([mustCompile('pingpong-client', dir), mustCompile('pingpong-client', dir), mustCompile('pingpong-client', dir)]);
    expect(new Set(tools.map((t) => t.path)).size).toBe(1);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('uses node_modules/.cache/fastpath-native by default', async () => {
    const tool = await ensureNativeTool('echo-peer');
    expect(tool).toEqual({ name: 'echo-peer', path: expect.stringMatching(/\/node_modules\/\.cache\/fastpath-native\/echo-peer-[0-9a-f]{12}$/) });
  });

  it('returns unavailable with the compiler message when the source does not compile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastpath-native-broken-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const source = join(dir, 'broken.c');
    writeFileSync(source, 'int main(void) { return undeclared_identifier; }\n');
    const result = await compileNativeTool('echo-peer', source, { cacheDir: join(dir, 'cache') });
    expect(isNativeToolUnavailable(result)).toBe(true);
    expect(result).toEqual({ unavailable: expect.stringMatching(/compiling echo-peer .*failed: .*undeclared_identifier/s) });
    expect(readdirSync(join(dir, 'cache'))).toEqual([]);
  });

  it('returns unavailable when there is no C compiler or no source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastpath-native-nocc-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    expect(await ensureNativeTool('echo-peer', { cacheDir: dir, compiler: 'fastpath-no-such-cc' })).toEqual({
      unavailable: expect.stringContaining('no C compiler (fastpath-no-such-cc) on PATH'),
    });
    expect(await compileNativeTool('echo-peer', join(dir, 'missing.c'), { cacheDir: dir })).toEqual({
      unavailable: expect.stringMatching(/cannot read the C source of echo-peer .*ENOENT/),
    });
  });
});

describe('native echo peer', () => {
  it('is started by the launcher and measured by the ping-pong client (64-byte ndjson, 2000 round trips)', async () => {
    const peer = await launchNativeEcho();
    onTestFinished(async () => void (await peer.stop()));
    expect(statSync(peer.socketPath).mode & 0o777).toBe(0o600);
    const result = await runPingpongClient(pingpong, peer.socketPath, ndjsonFrame(64), 2_000, 200);
    expectOrdered(result, 2_000);
    expect(peer.alive).toBe(true);
    expect(peer.stdoutTail()).toBe('');
  });

  it('runs the client pinned to a CPU with taskset', async () => {
    if (!(await tasksetAvailable())) return;
    const peer = await launchNativeEcho();
    onTestFinished(async () => void (await peer.stop()));
    const result = await runPingpongClient(pingpong, peer.socketPath, ndjsonFrame(64), 500, 50, { cpu: 0 });
    expectOrdered(result, 500);
  });

  it('echoes large frames byte for byte and serves 150 connections at once', async () => {
    const peer = await launchNativeEcho();
    onTestFinished(async () => void (await peer.stop()));
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    expect(await echoOnce(peer.socketPath, big)).toEqual(big);
    // 150 connections open at the same time (a thread each), then one frame on each.
    const socks = await Promise.all(
      Array.from({ length: 150 }, () => new Promise<Socket>((res, rej) => {
        const sock = connect(peer.socketPath);
        sock.once('connect', () => res(sock));
        sock.once('error', rej);
      })),
    );
    onTestFinished(() => socks.forEach((s) => s.destroy()));
    await waitFor(async () => ((await peer.openFds()) ?? 0) >= 150, 'the peer to accept 150 connections');
    const replies = await Promise.all(
      socks.map((sock, i) => new Promise<boolean>((res) => {
        const payload = Buffer.from(`{"id":${i}}\n`);
        let got = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          got = Buffer.concat([got, chunk]);
          if (got.length >= payload.length) res(got.equals(payload));
        });
        sock.write(payload);
      })),
    );
    expect(replies.every(Boolean)).toBe(true);
    // A big frame through the ping-pong client: reads until every byte came back.
    const result = await runPingpongClient(pingpong, peer.socketPath, big, 20, 2);
    expectOrdered(result, 20);
  });

  it('exits 0 on SIGTERM and removes its socket file', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'echo.sock');
    const peer = startRaw(socketPath);
    onTestFinished(() => killQuietly(peer.child));
    await waitFor(async () => (await probeSocket(socketPath)) === 'connected', 'the native echo peer to accept');
    const idle = connect(socketPath); // a connection blocked in read() must not delay the exit
    onTestFinished(() => void idle.destroy());
    await new Promise((res) => idle.once('connect', res));
    peer.child.kill('SIGTERM');
    expect(await peer.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
    expect(peer.stderr()).toBe('');
  });

  it('replaces a stale socket file, refuses a live one and reports errors on stderr with exit 1', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'echo.sock');
    const crashed = startRaw(socketPath);
    onTestFinished(() => killQuietly(crashed.child));
    await waitFor(async () => (await probeSocket(socketPath)) === 'connected', 'the first peer to accept');
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    expect(await probeSocket(socketPath)).toBe('ECONNREFUSED');

    const peer = startRaw(socketPath);
    onTestFinished(() => killQuietly(peer.child));
    await waitFor(async () => (await probeSocket(socketPath)) === 'connected', 'the peer to take over the stale path');

    const second = startRaw(socketPath);
    onTestFinished(() => killQuietly(second.child));
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr()).toMatch(/echo-peer: socket .* is in use by a live server/);

    const tooLong = startRaw(join(dir, 'x'.repeat(120)));
    onTestFinished(() => killQuietly(tooLong.child));
    expect(await tooLong.exited).toEqual({ code: 1, signal: null });
    expect(tooLong.stderr()).toMatch(/socket path is too long/);
  });
});

describe('runPingpongClient errors', () => {
  it('quotes the client stderr when it cannot connect', async () => {
    const err = await caught(runPingpongClient(pingpong, join(tmpdir(), 'fastpath-no-such.sock'), ndjsonFrame(64), 10, 0));
    expect(err.code).toBe('FP_CONNECT_FAILED');
    expect(err.message).toMatch(/exited with code 1: pingpong-client: cannot connect to .*No such file or directory/);
  });

  it('times out against a peer that never replies', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'silent.sock');
    const server = createServer((c) => c.resume());
    onTestFinished(() => void server.close());
    await new Promise<void>((res) => server.listen(socketPath, res));
    const err = await caught(runPingpongClient(pingpong, socketPath, ndjsonFrame(64), 10, 0, { timeoutMs: 300 }));
    expect(err.code).toBe('FP_TIMEOUT');
  });

  it('reports a peer that closes mid-reply', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'half.sock');
    const server = createServer((c) => c.once('data', () => c.end('{"partial"')));
    onTestFinished(() => void server.close());
    await new Promise<void>((res) => server.listen(socketPath, res));
    const err = await caught(runPingpongClient(pingpong, socketPath, ndjsonFrame(64), 10, 0));
    expect(err.message).toMatch(/peer closed the connection in round trip 1 after 10 of 64 reply bytes/);
  });

  it('refuses bad arguments before running anything', async () => {
    expect((await caught(runPingpongClient(pingpong, '/x.sock', ndjsonFrame(64), 0, 0))).code).toBe('FP_USAGE');
    expect((await caught(runPingpongClient(pingpong, '/x.sock', ndjsonFrame(64), 10, -1))).code).toBe('FP_USAGE');
    expect((await caught(runPingpongClient(pingpong, '/x.sock', Buffer.alloc(0), 10, 0))).code).toBe('FP_USAGE');
    expect((await caught(runPingpongClient(echoPeer, '/x.sock', ndjsonFrame(64), 10, 0))).code).toBe('FP_USAGE');
  });
});
