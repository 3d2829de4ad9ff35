/**
 * `fastpath crash` as a user runs it: the built CLI kills the reference server (and
 * the producer) with SIGKILL while messages flow through the failover client, then
 * checks the server's ledger. The broken targets prove the check can fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');

function run(args: string[], timeoutMs = 240_000) {
  return execa(process.execPath, [cli, ...args], { cwd: root, reject: false, timeout: timeoutMs });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-crash-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface CrashJson {
  lost: number;
  duplicatesApplied: number;
  redelivered: number;
  queued: number;
  recoveryP50Ms: number | null;
  recoveryP99Ms: number | null;
  cycles: number;
  targetKills: number;
  producerKills: number;
  acknowledged: number;
  acknowledgedQueued: number;
  ledgerEntries: number;
  lostIds: string[];
  duplicateIds: string[];
}

/** A target file for the reference server started with `serveArgs` (plus the usual placeholders). */
function targetFile(dir: string, name: string, command: string[], capabilities: Record<string, unknown>): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name,
      spawn: { command: 'node', args: [...command, '--socket', '{socket}', '--framing', '{framing}', '--auth', '{auth}', '--secret', '{secret}'], cwd: root, readyTimeoutMs: 10_000 },
      modes: [{ framing: 'lp32-json', auth: 'hmac-v2' }],
      capabilities: { lifecycle: true, ...capabilities },
    }),
  );
  return file;
}

describe('fastpath crash', () => {
  it('kills the reference 20 times (and the producer in some cycles) and loses nothing acknowledged, applying nothing twice', async () => {
    const r = await run(['crash', '--cycles', '20', '--seed', '7', '--json']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const result = JSON.parse(r.stdout) as CrashJson;
    expect(Object.keys(result).slice(0, 7)).toEqual(['lost', 'duplicatesApplied', 'redelivered', 'queued', 'recoveryP50Ms', 'recoveryP99Ms', 'cycles']);
    expect(result).toMatchObject({ lost: 0, duplicatesApplied: 0, queued: 0, cycles: 20 });
    expect(result.targetKills).toBeGreaterThan(0);
    expect(result.producerKills).toBeGreaterThan(0);
    // Messages went both ways: straight to the server and through the queue during outages.
    expect(result.acknowledged).toBeGreaterThan(1_000);
    expect(result.acknowledgedQueued).toBeGreaterThan(0);
    expect(result.ledgerEntries).toBeGreaterThanOrEqual(result.acknowledged);
    expect(result.recoveryP50Ms).not.toBeNull();
    expect(result.recoveryP99Ms!).toBeGreaterThanOrEqual(result.recoveryP50Ms!);
  });

  it('flags a server that keeps its ledger in memory only: acknowledged messages are lost at the first kill, exit 1', async () => {
    const dir = tempDir();
    const file = targetFile(dir, 'forgetful', ['dist/cli/main.js', 'serve'], { ledger: true });
    const r = await run(['crash', '--target', file, '--cycles', '3', '--producer-kills', '0', '--seed', '3', '--json']);
    expect(r.exitCode).toBe(1);
    const result = JSON.parse(r.stdout) as CrashJson;
    expect(result.lost).toBeGreaterThan(0);
    expect(result.lostIds.length).toBeGreaterThan(0);
  });

  it('flags a server that applies a redelivered message again: duplicatesApplied > 0, exit 1', async () => {
    const dir = tempDir();
    const file = targetFile(dir, 'applies-duplicates', ['dist/fixtures/broken/serve-broken.js', '--fault', 'applies-duplicates', '--ledger', '{dir}/ledger.log'], { ledger: true });
    // A fast stream, so that requests are in flight at every kill: their replies are lost and they are redelivered.
    const r = await run(['crash', '--target', file, '--cycles', '5', '--producer-kills', '0', '--rate', '20000', '--seed', '11', '--json']);
    expect(r.exitCode).toBe(1);
    const result = JSON.parse(r.stdout) as CrashJson;
    expect(result.lost).toBe(0);
    expect(result.duplicatesApplied).toBeGreaterThan(0);
    expect(result.duplicateIds.length).toBeGreaterThan(0);
  });

  it('prints a readable summary with the seed to replay', async () => {
    const r = await run(['crash', '--cycles', '2', '--producer-kills', '0', '--rate', '500']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/seed \d+ \(replay with --seed \d+\)/);
    expect(r.stderr).toMatch(/cycle 1\/2: killed the target/);
    expect(r.stdout).toMatch(/lost 0, applied twice 0/);
    expect(r.stdout).toMatch(/recovery after a target restart .*p50 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(r.stdout).toMatch(/PASSED/);
  });

  it.each([
    [['--cycles', '0'], /--cycles must be a whole number from 1/],
    [['--synchronous', 'fast'], /--synchronous must be full or normal/],
    [['--rate', '-5'], /--rate must be a number above 0/],
    [['--producer-kills', '2'], /--producer-kills must be a number from 0 to 1/],
    [['--drain-timeout', 'soon'], /--drain-timeout must be a duration/],
  ])('refuses %s with one clear line, exit 2', async (args, message) => {
    const r = await run(['crash', ...args]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a target that declares no ledger or no lifecycle, saying what to declare', async () => {
    const dir = tempDir();
    const file = targetFile(dir, 'no-ledger', ['dist/cli/main.js', 'serve'], {});
    const r = await run(['crash', '--target', file]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot be crash-tested: declare "ledger"/);
    const attached = await run(['crash', '--target', 'unix:/tmp/nothing-here.sock']);
    expect(attached.exitCode).toBe(2);
    expect(attached.stderr).toMatch(/"lifecycle": true and a "spawn" section/);
  });
});
