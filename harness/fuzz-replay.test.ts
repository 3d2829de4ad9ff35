import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseReplayFile, readReplayFile, REPLAY_FORMAT, writeReplayFile, type ReplayFile } from './fuzz-replay.js';

const valid: ReplayFile = {
  format: REPLAY_FORMAT,
  version: 1,
  createdAt: '2024-01-01T00:00:00.000Z',
  target: { name: 'reference', source: 'built-in' },
  mode: { framing: 'ndjson', auth: 'hmac-v2', label: 'ndjson/hmac-v2' },
  capabilities: { status: true, maxConnections: 10 },
  property: { id: 'fuzz.frame.valid', section: '5.1' },
  runSeed: 7,
  seed: -12345,
  path: '3:0:1',
  counterexample: '{"frames":[]}',
  problem: 'reply to frame 1: …',
  inputs: 4,
  shrinks: 2,
};

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-replay-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('replay files', () => {
  it('round-trips through a file', async () => {
    const dir = tempDir();
    const file = join(dir, 'sub', 'r.json');
    await writeReplayFile(file, valid);
    expect(await readReplayFile(file)).toEqual(valid);
  });

  it('rejects another format, a bad path, a bad auth mode and unknown keys, naming the field', () => {
    expect(() => parseReplayFile({ ...valid, format: 'something-else' }, 'x.json')).toThrow(/x\.json: invalid replay file \(not a fastpath fuzz replay file/);
    expect(() => parseReplayFile({ ...valid, path: '3:a' }, 'x.json')).toThrow(/path: must be a fast-check path/);
    expect(() => parseReplayFile({ ...valid, mode: { ...valid.mode, auth: 'hmac' } }, 'x.json')).toThrow(/mode\.auth/);
    expect(() => parseReplayFile({ ...valid, extra: 1 }, 'x.json')).toThrow(/invalid replay file/);
    expect(() => parseReplayFile({ ...valid, capabilities: { maxConnections: -1 } }, 'x.json')).toThrow(/capabilities\.maxConnections/);
  });

  it('says what is wrong with a missing file and with a corrupt one', async () => {
    const dir = tempDir();
    await expect(readReplayFile(join(dir, 'none.json'))).rejects.toThrow(/cannot read the replay file \(ENOENT\)/);
    const corrupt = join(dir, 'corrupt.json');
    writeFileSync(corrupt, '{"format": "fastpath-fuzz-replay", ');
    await expect(readReplayFile(corrupt)).rejects.toThrow(/not JSON .*corrupt/);
  });
});
