import { spawn } from 'node:child_process';
import { chownSync, existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { collectGarbageSegments, segmentCreatorPid } from './gc.js';
import { initRingHeader, ringSegmentBytes } from './layout.js';
import { createSegment, unlinkSegment } from './segment.js';
import { createRingPair } from './session.js';

/**
 * Real /dev/shm segments, real processes: a child creates segments through the native
 * addon and is killed with SIGKILL, leaving them behind as a crashed client does.
 */

const addonPath = join(fileURLToPath(new URL('..', import.meta.url)), 'build', 'Release', 'fastpath_shm.node');

/** The names a child process `pid` creates: `fastpath-<pid>-gc-req` / `-rsp`. */
function childNames(pid: number): string[] {
  return [`fastpath-${pid}-gc-req`, `fastpath-${pid}-gc-rsp`];
}

/** Starts a child that creates two segments named after itself and then idles; resolves with its pid once they exist. */
async function startSegmentCreator(): Promise<{ pid: number; kill: () => Promise<void> }> {
  const code = `
    const addon = require(${JSON.stringify(addonPath)});
    for (const suffix of ['req', 'rsp']) addon.create('fastpath-' + process.pid + '-gc-' + suffix, 4096, 0o600);
    console.log('created');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (status) => reject(new Error(`segment creator exited with ${status} before creating its segments`)));
  });
  return {
    pid: child.pid!,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Registers removal of `names` (whatever the test left) as teardown. */
function removeAfterTest(names: string[]): void {
  onTestFinished(() => {
    for (const name of names) unlinkSegment(name);
  });
}

describe('collectGarbageSegments (§10.6.2)', () => {
  it('removes both segments of a creator killed with SIGKILL', async () => {
    const creator = await startSegmentCreator();
    onTestFinished(() => creator.kill());
    const names = childNames(creator.pid);
    removeAfterTest(names);
    await creator.kill();
    expect(names.every((n) => existsSync(`/dev/shm/${n}`))).toBe(true);

    const result = collectGarbageSegments({ prefix: `fastpath-${creator.pid}-` });

    expect(result.removed.map((s) => s.name)).toEqual(names);
    expect(result.kept).toEqual([]);
    expect(names.some((n) => existsSync(`/dev/shm/${n}`))).toBe(false);
  });

  it('keeps the segments of a live creator', async () => {
    const creator = await startSegmentCreator();
    onTestFinished(() => creator.kill());
    removeAfterTest(childNames(creator.pid));

    const result = collectGarbageSegments({ prefix: `fastpath-${creator.pid}-` });

    expect(result.removed).toEqual([]);
    expect(result.kept.map((s) => s.name)).toEqual(childNames(creator.pid));
  });

  it('keeps the rings of this process', () => {
    const pair = createRingPair(4096);
    onTestFinished(() => {
      pair.request.close();
      pair.response.close();
      pair.unlink();
    });

    const result = collectGarbageSegments({ prefix: `fastpath-${process.pid}-` });

    expect(result.removed).toEqual([]);
    expect(result.kept.map((s) => s.name)).toEqual(expect.arrayContaining([pair.names.requestRing, pair.names.responseRing]));
  });

  it('with dryRun reports what it would remove and removes nothing', async () => {
    const creator = await startSegmentCreator();
    onTestFinished(() => creator.kill());
    const names = childNames(creator.pid);
    removeAfterTest(names);
    await creator.kill();

    const dry = collectGarbageSegments({ prefix: `fastpath-${creator.pid}-`, dryRun: true });

    expect(dry.removed.map((s) => s.name)).toEqual(names);
    expect(names.every((n) => existsSync(`/dev/shm/${n}`))).toBe(true);
    expect(collectGarbageSegments({ prefix: `fastpath-${creator.pid}-` }).removed).toHaveLength(2);
  });

  it('keeps garbage younger than minAgeMs and removes it once old enough', async () => {
    const creator = await startSegmentCreator();
    onTestFinished(() => creator.kill());
    const names = childNames(creator.pid);
    removeAfterTest(names);
    await creator.kill();

    expect(collectGarbageSegments({ prefix: `fastpath-${creator.pid}-`, minAgeMs: 60_000 }).removed).toEqual([]);
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of names) utimesSync(`/dev/shm/${name}`, hourAgo, hourAgo);
    expect(collectGarbageSegments({ prefix: `fastpath-${creator.pid}-`, minAgeMs: 60_000 }).removed).toHaveLength(2);
  });

  it('keeps a segment whose name has a dead pid when its ring header names a live creator', async () => {
    const creator = await startSegmentCreator();
    onTestFinished(() => creator.kill());
    removeAfterTest(childNames(creator.pid));
    await creator.kill();
    const name = `fastpath-${creator.pid}-hdr-req`;
    const segment = createSegment(name, ringSegmentBytes(4096));
    removeAfterTest([name]);
    initRingHeader(segment.buffer, 4096, process.pid);
    segment.close();

    const result = collectGarbageSegments({ prefix: `fastpath-${creator.pid}-` });

    expect(result.kept.map((s) => s.name)).toEqual([name]);
    expect(result.removed.map((s) => s.name)).toEqual(childNames(creator.pid));
  });

  it('keeps names that carry no creator pid', () => {
    const name = `fastpath-nopid-${process.pid}-x`;
    createSegment(name, 4096).close();
    removeAfterTest([name]);

    const result = collectGarbageSegments({ prefix: 'fastpath-nopid-' });

    expect(result.kept.map((s) => s.name)).toEqual([name]);
    expect(segmentCreatorPid(name)).toBeUndefined();
    expect(segmentCreatorPid('fastpath-123-0a-req')).toBe(123);
  });

  it.skipIf(process.getuid?.() !== 0)('never touches a segment owned by another user', async () => {
    const creator = await startSegmentCreator();
    onTestFinished(() => creator.kill());
    const names = childNames(creator.pid);
    removeAfterTest(names);
    await creator.kill();
    chownSync(`/dev/shm/${names[0]!}`, 65534, 65534);

    const result = collectGarbageSegments({ prefix: `fastpath-${creator.pid}-` });

    expect(result.kept.map((s) => s.name)).toEqual([names[0]]);
    expect(result.removed.map((s) => s.name)).toEqual([names[1]]);
    expect(existsSync(`/dev/shm/${names[0]!}`)).toBe(true);
  });
});
