import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { NODE_ECHO_PEER_ENTRY, nodeEchoPeerCommand } from './echo-peer.js';
import { probeSocket, SpawnedTarget } from './launcher.js';
import { findPackageRoot } from './targets.js';

/**
 * The Node echo floor, started as a real child process from dist/ (`npm test` runs tsc
 * first; when dist/harness/echo-peer.js is missing, beforeAll builds it).
 */

const root = findPackageRoot();
const entry = join(root, NODE_ECHO_PEER_ENTRY);

beforeAll(() => {
  if (existsSync(entry)) return;
  // tsc emits even when files others are editing have type errors; only the output matters here.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(entry)) throw new Error(`${entry} is missing and tsc did not build it; run npm run build`);
}, 120_000);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fastpath-echo-peer-test-'));
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Spawns `node echo-peer.js --socket path` directly (readiness is the caller's to wait for). */
function startPeer(socketPath: string): { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [entry, '--socket', socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, stderr: () => stderr, exited };
}

function killQuietly(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function openClient(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
  });
}

/** Reads until `bytes` bytes arrived on `sock`. */
function readBytes(sock: Socket, bytes: number, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`only ${got} of ${bytes} bytes came back within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= bytes) {
        clearTimeout(timer);
        sock.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    sock.on('data', onData);
  });
}

function lp32(body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

describe('node echo peer', () => {
  it('is started by the launcher from its SpawnPlan command and echoes frames unchanged, split writes included', async () => {
    const { command, args } = nodeEchoPeerCommand(root);
    expect(command).toBe(process.execPath);
    expect(args).toEqual([entry, '--socket', '{socket}']);
    const peer = await SpawnedTarget.launch({ name: 'node-echo', command, args, framing: 'ndjson', auth: 'none', secret: '', readyTimeoutMs: 10_000 });
    onTestFinished(async () => void (await peer.stop()));
    expect(statSync(peer.socketPath).mode & 0o777).toBe(0o600);

    const sock = await openClient(peer.socketPath);
    onTestFinished(() => void sock.destroy());
    const frames = [
      Buffer.from('{"type":"PREPARE","signal_id":"a1","pad":"xxxxxxxx"}\n'),
      lp32('{"type":"CONFIRM","signal_id":"a1"}'),
      Buffer.from([0, 1, 2, 255, 10, 13, 0]),
    ];
    for (const frame of frames) {
      sock.write(frame);
      expect(await readBytes(sock, frame.length)).toEqual(frame);
    }
    // One frame in two writes, the second after the first was surely delivered.
    const split = lp32(JSON.stringify({ type: 'PREPARE', signal_id: 'split', pad: 'y'.repeat(5_000) }));
    const reply = readBytes(sock, split.length);
    sock.write(split.subarray(0, 3));
    await sleep(50);
    sock.write(split.subarray(3));
    expect(await reply).toEqual(split);
    // A large burst (many frames in one write) comes back byte for byte.
    const burst = Buffer.concat(Array.from({ length: 2_000 }, (_, i) => Buffer.from(`{"id":${i},"pad":"${'z'.repeat(100)}"}\n`)));
    const burstReply = readBytes(sock, burst.length);
    sock.write(burst);
    expect(await burstReply).toEqual(burst);
  });

  it('exits 0 on SIGTERM and removes its socket file', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'echo.sock');
    const peer = startPeer(socketPath);
    onTestFinished(() => killQuietly(peer.child));
    await waitFor(async () => (await probeSocket(socketPath)) === 'connected', 'the echo peer to accept');
    const sock = await openClient(socketPath);
    onTestFinished(() => void sock.destroy());
    peer.child.kill('SIGTERM');
    expect(await peer.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
  });

  it('exits 0 on SIGINT too', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'echo.sock');
    const peer = startPeer(socketPath);
    onTestFinished(() => killQuietly(peer.child));
    await waitFor(async () => (await probeSocket(socketPath)) === 'connected', 'the echo peer to accept');
    peer.child.kill('SIGINT');
    expect(await peer.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
  });

  it('replaces a stale socket file and refuses a live one', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'echo.sock');
    // A crashed server: listening, then SIGKILL leaves the socket file behind.
    const crashed = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(socketPath)})`], { stdio: 'ignore' });
    onTestFinished(() => killQuietly(crashed));
    await waitFor(() => existsSync(socketPath), 'the crashing server to listen');
    crashed.kill('SIGKILL');
    await new Promise((res) => crashed.once('exit', res));
    expect(await probeSocket(socketPath)).toBe('ECONNREFUSED');

    const peer = startPeer(socketPath);
    onTestFinished(() => killQuietly(peer.child));
    await waitFor(async () => (await probeSocket(socketPath)) === 'connected', 'the echo peer to accept on the stale path');

    const second = startPeer(socketPath);
    onTestFinished(() => killQuietly(second.child));
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr()).toMatch(/in use by a live server/);
    expect(await probeSocket(socketPath)).toBe('connected');
  });

  it('refuses a path that is not a socket, and a missing --socket', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'data');
    const peer = startPeer(file);
    onTestFinished(() => killQuietly(peer.child));
    expect(await peer.exited).toEqual({ code: 1, signal: null });
    expect(peer.stderr()).toMatch(/exists and is not a socket/);
    expect(existsSync(file)).toBe(true);

    const bare = spawn(process.execPath, [entry], { stdio: ['ignore', 'ignore', 'pipe'] });
    onTestFinished(() => killQuietly(bare));
    let stderr = '';
    bare.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((res) => bare.once('close', res));
    expect(code).toBe(1);
    expect(stderr).toMatch(/usage: echo-peer\.js --socket PATH/);
  });

  it('has no side effects when imported', () => {
    // Were main() to run on import, it would print its usage and exit 1 (no --socket).
    const run = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import(${JSON.stringify(pathToFileURL(entry).href)}); console.log(typeof m.nodeEchoPeerCommand);`],
      { encoding: 'utf8', timeout: 10_000 },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('function');
    expect(run.status).toBe(0);
  });
});
