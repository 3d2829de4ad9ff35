/**
 * `fastpath shm ls` and `fastpath shm gc` as a user calls them: the built CLI (dist/)
 * in a child process, against real segments in /dev/shm left by real processes. The
 * runs that remove anything are narrowed with --prefix to this test's own segments,
 * so that tests running at the same time keep theirs.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { unlinkSegment } from '../ring/index.js';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');
const ringEntry = join(root, 'dist/ring/index.js');

function run(args: string[]) {
  return execa(process.execPath, [cli, ...args], { cwd: root, reject: false, timeout: 30_000 });
}

/** A process that creates a session's two rings (as a client does before HELLO), prints their names and stays. */
const CREATOR = `
const { createRingPair } = await import(${JSON.stringify(new URL(`file://${ringEntry}`).href)});
const pair = createRingPair(4096);
process.stdout.write(JSON.stringify(pair.names) + '\\n');
setInterval(() => {}, 1000);
`;

interface Creator {
  readonly pid: number;
  readonly names: readonly string[];
  kill(): Promise<void>;
}

/** Starts a creator and waits for its segments; the caller registers `kill` as teardown next. */
async function startCreator(): Promise<Creator> {
  const child = execa(process.execPath, ['--input-type=module', '-e', CREATOR], { reject: false });
  const pid = child.pid!;
  const line = await new Promise<string>((ok, bad) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) ok(out.slice(0, out.indexOf('\n')));
    });
    void child.then((r) => bad(new Error(`creator exited early: ${r.stderr}`)));
  });
  const names = Object.values(JSON.parse(line) as Record<string, string>);
  return {
    pid,
    names,
    async kill() {
      child.kill('SIGKILL');
      await child;
    },
  };
}

/** Unlinks whatever of `names` is left (teardown). */
function removeLeftovers(names: readonly string[]): void {
  for (const name of names) unlinkSegment(name);
}

const inShm = (name: string): boolean => existsSync(join('/dev/shm', name));

describe('fastpath shm gc', () => {
  it('removes the segments of a client killed with SIGKILL and keeps those of a running one', async () => {
    const dead = await startCreator();
    onTestFinished(() => removeLeftovers(dead.names));
    const live = await startCreator();
    onTestFinished(async () => (await live.kill(), removeLeftovers(live.names)));
    await dead.kill(); // reaped: its pid no longer exists, its segments stay behind
    for (const name of [...dead.names, ...live.names]) expect(inShm(name), name).toBe(true);

    // A dry run over every fastpath segment sees both, removes nothing.
    const dry = await run(['shm', 'gc', '--dry-run', '--json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout) as { dryRun: boolean; removed: { name: string; creatorPid: number }[]; kept: { name: string; creator: string }[] };
    expect(planned.dryRun).toBe(true);
    for (const name of dead.names) expect(planned.removed.find((r) => r.name === name), name).toMatchObject({ creatorPid: dead.pid });
    for (const name of live.names) expect(planned.kept.find((r) => r.name === name), name).toMatchObject({ creator: 'alive' });
    for (const name of dead.names) expect(inShm(name), `${name} after --dry-run`).toBe(true);

    const gone = await run(['shm', 'gc', '--prefix', `fastpath-${dead.pid}-`]);
    expect(gone.exitCode, gone.stderr).toBe(0);
    const lines = gone.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const name of dead.names) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^removed  ${name}  4416 B \\(4\\.3 KiB\\)  creator pid ${dead.pid} \\(gone\\)$`)));
      expect(inShm(name), name).toBe(false);
    }
    expect(lines[2]).toBe('removed 2 segments (8832 B (8.6 KiB)), kept 0');

    const kept = await run(['shm', 'gc', '--prefix', `fastpath-${live.pid}-`]);
    expect(kept.exitCode, kept.stderr).toBe(0);
    for (const name of live.names) {
      expect(kept.stdout).toMatch(new RegExp(`^kept  ${name}  4416 B \\(4\\.3 KiB\\)  creator pid ${live.pid} \\(running\\): creator is running$`, 'm'));
      expect(inShm(name), name).toBe(true);
    }
    expect(kept.stdout).toMatch(/^removed 0 segments \(0 B\), kept 2$/m);
  });
});

describe('fastpath shm ls', () => {
  it('lists segments with size, mode, owner and creator pid, and whether the creator runs', async () => {
    const live = await startCreator();
    onTestFinished(async () => (await live.kill(), removeLeftovers(live.names)));
    const text = await run(['shm', 'ls', '--prefix', `fastpath-${live.pid}-`]);
    expect(text.exitCode, text.stderr).toBe(0);
    const uid = process.getuid!();
    for (const name of live.names) {
      expect(text.stdout).toMatch(new RegExp(`^${name}  4416 B \\(4\\.3 KiB\\)  mode 0600  uid ${uid}  creator pid ${live.pid} \\(running\\)$`, 'm'));
    }
    expect(text.stdout).toMatch(/^2 segments in \/dev\/shm\/fastpath-\d+-\*, 8832 B \(8\.6 KiB\); 0 whose creator is gone/m);

    const json = await run(['shm', 'ls', '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as { segments: { name: string }[] };
    for (const name of live.names) {
      expect(listed.segments.find((s) => s.name === name)).toMatchObject({ sizeBytes: 4416, mode: '0600', ownerUid: uid, creatorPid: live.pid, creator: 'alive' });
    }
  });

  it('says so when there is nothing to list', async () => {
    const r = await run(['shm', 'ls', '--prefix', 'fastpath-no-such-prefix-']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('no segments in /dev/shm/fastpath-no-such-prefix-*'); // execa strips the final newline
  });
});

describe('fastpath shm usage errors exit 2 with one line', () => {
  for (const [args, message] of [
    [['shm', 'gc', '--prefix', '../etc'], /--prefix takes the start of a segment name/],
    [['shm', 'gc', '--no-such-flag'], /unknown option '--no-such-flag'/],
    [['shm', 'ls', '--dry-run'], /unknown option '--dry-run'/],
    [['shm', 'gc', '--prefix'], /option '--prefix <prefix>' argument missing/],
  ] as const) {
    it(`refuses ${args.slice(1).join(' ')}`, async () => {
      const r = await run([...args]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }
});
