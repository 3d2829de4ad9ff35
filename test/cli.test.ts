/**
 * The `fastpath` command as a user calls it: the built CLI (dist/) in a child
 * process. Bad input must give one clear line and exit 2, never a stack trace.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');

function run(args: string[], timeoutMs = 30_000) {
  return execa(process.execPath, [cli, ...args], { cwd: root, reject: false, timeout: timeoutMs, all: true });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-cli-'));
  return dir;
}

function expectOneCleanError(stderr: string, mustMention: RegExp): void {
  expect(stderr).toMatch(mustMention);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('fastpath CLI usage errors exit 2 with one clear message', () => {
  it('rejects an unknown flag', async () => {
    const r = await run(['conform', '--no-such-flag']);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /unknown option '--no-such-flag'/);
  });

  it('rejects an unknown framing and lists the valid ones', async () => {
    const r = await run(['conform', '--framing', 'lp33']);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /unknown framing "lp33".*ndjson/);
  });

  it('names the socket path when an attach target has no socket file', async () => {
    const r = await run(['conform', '--target', 'unix:/tmp/fastpath-no-such-dir/x.sock', '--framing', 'ndjson', '--auth', 'none']);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /\/tmp\/fastpath-no-such-dir\/x\.sock/);
  });

  it('suggests the right key for a target file with a typo', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.json');
    writeFileSync(file, JSON.stringify({ name: 't', socket: '/tmp/x.sock', framing: 'ndjson', auth: 'none', capabilites: {} }));
    const r = await run(['conform', '--target', file]);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /capabilites.*did you mean "capabilities"/);
  });

  it('reports a target that exits at start with its exit code and stderr', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'dies',
        spawn: { command: process.execPath, args: ['-e', 'console.error("boom: config missing"); process.exit(3)'] },
        modes: [{ framing: 'ndjson', auth: 'none' }],
        capabilities: {},
      }),
    );
    const r = await run(['conform', '--target', file]);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /exited with code 3[\s\S]*boom: config missing/);
  });

  it('refuses `serve` without a socket path', async () => {
    const r = await run(['serve', '--framing', 'ndjson', '--auth', 'none']);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /--socket/);
  });

  it('refuses `serve` in an hmac mode without a secret', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const r = await execa(process.execPath, [cli, 'serve', '--socket', join(dir, 's.sock'), '--framing', 'ndjson', '--auth', 'hmac-json'], {
      cwd: root,
      reject: false,
      timeout: 10_000,
      env: { FASTPATH_SECRET: '' },
    });
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /secret/i);
  });

  it('refuses a non-integer limit', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const r = await run(['serve', '--socket', join(dir, 's.sock'), '--framing', 'ndjson', '--auth', 'none', '--max-connections', 'ten']);
    expect(r.exitCode).toBe(2);
    expectOneCleanError(r.stderr, /--max-connections/);
  });
});

describe('fastpath serve as a process', () => {
  it('listens with mode 0600, and on SIGTERM exits 0 and removes its socket', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socket = join(dir, 's.sock');
    const child = execa(process.execPath, [cli, 'serve', '--socket', socket, '--framing', 'ndjson', '--auth', 'none'], { cwd: root, reject: false });
    onTestFinished(() => void child.kill('SIGKILL'));
    await new Promise<void>((ok, bad) => {
      child.stdout?.on('data', (b: Buffer) => (b.toString().includes('listening on') ? ok() : undefined));
      void child.then((r) => bad(new Error(`serve exited early: ${r.stderr}`)));
    });
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });
});

describe('fastpath conform --list', () => {
  it('lists at least 80 cases with their sections', async () => {
    const r = await run(['conform', '--list']);
    expect(r.exitCode).toBe(0);
    const ids = new Set(r.stdout.match(/\b[a-z0-9]+(?:\.[a-z0-9-]+)+\b/g) ?? []);
    expect(ids.size).toBeGreaterThanOrEqual(80);
  });
});
