import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { expandPlaceholders, formatCommandLine, probeSocket, SpawnedTarget, type LaunchSpec } from './launcher.js';

/**
 * A throwaway server: `node server.mjs <behaviour> {socket}`.
 * - serve: echo server; refuses a live socket (exit 1), removes a stale one; exits 0 on SIGTERM
 * - fail: writes to stderr and exits 2 before listening
 * - never: never listens
 * - stubborn: serves but ignores SIGTERM
 */
const SERVER = `
import net from 'node:net';
import fs from 'node:fs';
const [behaviour, sock] = process.argv.slice(2);
if (behaviour === 'fail') { console.error('boom: unknown flag --frobnicate'); process.exit(2); }
if (behaviour === 'never') { console.error('warming up forever'); setInterval(() => {}, 1000); }
else {
  const server = net.createServer((c) => { c.on('data', (d) => c.write(d)); c.on('error', () => {}); });
  const listen = () => server.listen(sock, () => console.log('listening on ' + sock + ' env ' + process.env.FASTPATH_FRAMING + ' dir ' + process.env.FASTPATH_DIR + ' ledger-env ' + process.env.LEDGER_AT + ' arg ' + process.argv[4]));
  const probe = net.connect(sock);
  probe.on('connect', () => { console.error('socket ' + sock + ' is in use by a live server'); process.exit(1); });
  probe.on('error', () => { try { fs.unlinkSync(sock); } catch {} listen(); });
  if (behaviour === 'stubborn') process.on('SIGTERM', () => console.error('ignoring SIGTERM'));
  else process.on('SIGTERM', () => { server.close(); process.exit(0); });
}
`;

function serverScript(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-launcher-test-'));
  writeFileSync(join(dir, 'server.mjs'), SERVER);
  return dir;
}

function spec(dir: string, behaviour: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    name: `tiny-${behaviour}`,
    command: process.execPath,
    args: ['server.mjs', behaviour, '{socket}'],
    cwd: dir,
    framing: 'ndjson',
    auth: 'none',
    secret: 's3cr3t',
    readyTimeoutMs: 5_000,
    stopGraceMs: 2_000,
    ...extra,
  };
}

async function startError(promise: Promise<unknown>): Promise<FastPathError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected the launch to fail');
}

describe('launcher', () => {
  it('is ready once the socket accepts a connection, in its own temp dir', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    expect(target.alive).toBe(true);
    expect(target.pid).toBeGreaterThan(0);
    expect(target.socketPath.startsWith(target.tempDir)).toBe(true);
    expect(await probeSocket(target.socketPath)).toBe('connected');
    expect(await target.rssBytes()).toBeGreaterThan(1_000_000);
    expect(await target.openFds()).toBeGreaterThan(2);
  });

  it('passes socket, framing, auth and secret as placeholders and environment', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve', { framing: 'lp32-json' }));
    onTestFinished(async () => void (await target.stop()));
    // stdout is captured; wait for the line the server prints after listen.
    for (let i = 0; i < 50 && !target.stdoutTail().includes('env'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(target.stdoutTail()).toContain(`listening on ${target.socketPath} env lp32-json`);
    expect(expandPlaceholders('--s={socket} {secret}{framing}/{auth}', { socket: '/x', secret: 'k', framing: 'f', auth: 'a' })).toBe('--s=/x kf/a');
    expect(expandPlaceholders('{dir}/l.log {other}', { socket: '/x', secret: 'k', framing: 'f', auth: 'a', dir: '/d' })).toBe('/d/l.log {other}');
    expect(expandPlaceholders('{dir}/l.log', { socket: '/x', secret: 'k', framing: 'f', auth: 'a' })).toBe('{dir}/l.log');
    expect(target.description).not.toContain('s3cr3t');
  });

  it('expands {dir} (the temp dir, kept across restarts) in args and env values, and sets FASTPATH_DIR', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(
      spec(dir, 'serve', { args: ['server.mjs', 'serve', '{socket}', '{dir}/ledger.log'], env: { LEDGER_AT: '{dir}/from-env.log' } }),
    );
    onTestFinished(async () => void (await target.stop()));
    const line = async (): Promise<string> => {
      for (let i = 0; i < 50 && !target.stdoutTail().includes(' arg '); i++) await new Promise((r) => setTimeout(r, 20));
      return target.stdoutTail();
    };
    expect(target.dir).toBe(target.tempDir);
    expect(await line()).toContain(`dir ${target.tempDir} ledger-env ${target.tempDir}/from-env.log arg ${target.tempDir}/ledger.log`);
    writeFileSync(join(target.dir, 'state'), 'kept');
    target.signal('SIGKILL');
    await target.waitExit(5_000);
    await target.restart();
    expect(existsSync(join(target.dir, 'state'))).toBe(true);
    await target.stop();
    expect(existsSync(target.dir)).toBe(false);
  });

  it('reports an early exit with the exit code, stderr and command line', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const err = await startError(SpawnedTarget.launch(spec(dir, 'fail')));
    expect(err.code).toBe('FP_TARGET_START_FAILED');
    expect(err.message).toContain('target "tiny-fail" exited with code 2 before it was ready; its stderr: boom: unknown flag --frobnicate');
    expect(err.message).toContain(`command: ${process.execPath} server.mjs fail /`);
  });

  it('names the timeout when the target never becomes ready, and kills it', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const started = Date.now();
    const err = await startError(SpawnedTarget.launch(spec(dir, 'never', { readyTimeoutMs: 400 })));
    expect(err.message).toMatch(/^target "tiny-never" did not become ready within 400 ms \(no connection accepted on .*\); its stderr: warming up forever; command: /);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('reports a command that cannot be spawned', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const err = await startError(SpawnedTarget.launch(spec(dir, 'serve', { command: join(dir, 'no-such-binary') })));
    expect(err.message).toContain('could not be started: spawn');
    expect(err.message).toContain('ENOENT');
  });

  it('observes a kill and restarts on the same socket path with a new pid', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    const firstPid = target.pid;
    target.signal('SIGKILL');
    const exit = await target.waitExit(5_000);
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(target.alive).toBe(false);
    expect(existsSync(target.socketPath)).toBe(true); // stale socket file left behind
    await target.restart();
    expect(target.alive).toBe(true);
    expect(target.pid).not.toBe(firstPid);
    expect(await probeSocket(target.socketPath)).toBe('connected');
  });

  it('waitExit reports a timeout while the target keeps running', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    expect(await target.waitExit(100)).toBe('timeout');
  });

  it('stop() sends SIGTERM and a cooperative target exits 0; the temp dir is removed', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    const result = await target.stop();
    expect(result).toEqual({ escalated: false, code: 0, signal: null });
    expect(existsSync(target.tempDir)).toBe(false);
  });

  it('stop() escalates to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'stubborn', { stopGraceMs: 300 }));
    onTestFinished(async () => void (await target.stop()));
    const result = await target.stop();
    expect(result).toEqual({ escalated: true, code: null, signal: 'SIGKILL' });
    expect(target.stderrTail()).toContain('ignoring SIGTERM');
  });

  it('spawns a second instance on the same socket and returns its exit and stderr', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    const second = await target.spawnSecondInstance(5_000);
    expect(second).not.toBe('timeout');
    if (second === 'timeout') return;
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`socket ${target.socketPath} is in use by a live server`);
    expect(target.alive).toBe(true);
  });

  it('ensureReady restarts a target that died, removing its stale socket', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    const events: string[] = [];
    target.setEventSink((text) => events.push(text), performance.now());
    target.signal('SIGKILL');
    await target.waitExit(5_000);
    await target.ensureReady();
    expect(target.alive).toBe(true);
    expect(events).toEqual(expect.arrayContaining([expect.stringContaining('sent SIGKILL'), 'target exited (signal SIGKILL)', 'restarting target']));
  });

  it('ensureReady with a probe restarts a live target whose socket no longer answers', async () => {
    const dir = serverScript();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const target = await SpawnedTarget.launch(spec(dir, 'serve'));
    onTestFinished(async () => void (await target.stop()));
    const firstPid = target.pid;
    rmSync(target.socketPath);
    await target.ensureReady();
    expect(target.pid).toBe(firstPid);
    await target.ensureReady({ probe: true });
    expect(target.pid).not.toBe(firstPid);
    expect(await probeSocket(target.socketPath)).toBe('connected');
  });

  it('masks the secret and quotes arguments in command lines', () => {
    expect(formatCommandLine('node', ['a b', '--secret', 'k3y', "it's"], 'k3y')).toBe(`node 'a b' --secret '<secret>' 'it'\\''s'`);
  });
});
