/**
 * `fastpath fuzz` flag validation: each bad flag is one clear message that names it,
 * and the built CLI exits 2 for it (no target is started by these tests).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseFuzzOptions } from './fuzz.js';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');

function run(args: string[]) {
  return execa(process.execPath, [cli, 'fuzz', ...args], { cwd: root, reject: false, timeout: 30_000 });
}

describe('parseFuzzOptions', () => {
  it('turns flags into numbers and durations', () => {
    const opts = parseFuzzOptions({ runs: '500', seed: '42', time: '2m', shrinkTime: '5s', maxRssGrowthMib: '64', maxFdGrowth: '8', properties: ['fuzz.frame.*'] });
    expect(opts).toMatchObject({ runs: 500, seed: 42, time: 120_000, shrinkTime: 5_000, maxRssGrowthMib: 64, maxFdGrowth: 8, properties: ['fuzz.frame.*'] });
  });

  it('names the flag, what it got and what it takes', () => {
    expect(() => parseFuzzOptions({ runs: '0' })).toThrow('--runs must be a whole number from 1 to 100000000, got "0"');
    expect(() => parseFuzzOptions({ runs: '1e3' })).toThrow(/--runs must be a whole number/);
    expect(() => parseFuzzOptions({ seed: '-1' })).toThrow('--seed must be a whole number from 0 to 4294967295, got "-1"');
    expect(() => parseFuzzOptions({ time: 'soon' })).toThrow(/--time must be a duration .* like 500ms, 5s or 2m, got "soon"/);
    expect(() => parseFuzzOptions({ time: '10ms' })).toThrow(/--time must be a duration from 1000 ms/);
    expect(() => parseFuzzOptions({ maxFdGrowth: '0' })).toThrow(/--max-fd-growth must be a whole number from 1/);
    expect(() => parseFuzzOptions({ maxRssGrowthMib: 'lots' })).toThrow(/--max-rss-growth-mib must be a whole number/);
    expect(() => parseFuzzOptions({ properties: [''] })).toThrow(/--properties needs a non-empty glob/);
  });

  it('refuses flags the replay file fixes', () => {
    expect(() => parseFuzzOptions({ replay: 'r.json', runs: '10' })).toThrow('--runs cannot be combined with --replay: the replay file fixes the mode, the property, the seed and the path; drop --runs');
    expect(() => parseFuzzOptions({ replay: 'r.json', framing: 'ndjson' })).toThrow(/--framing cannot be combined with --replay/);
    expect(parseFuzzOptions({ replay: 'r.json', target: 'reference', json: true })).toMatchObject({ replay: 'r.json', target: 'reference' });
  });
});

describe('fastpath fuzz usage errors exit 2 with one clear line', () => {
  it('rejects a bad --runs', async () => {
    const r = await run(['--runs', 'many']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--runs must be a whole number from 1 to 100000000, got "many"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects --properties that match nothing and points at --list', async () => {
    const r = await run(['--properties', 'fuzz.nothing.*', '--framing', 'ndjson', '--auth', 'none']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/no fuzz property id matches --properties fuzz\.nothing\.\* \(see fastpath fuzz --list\)/);
  });

  it('rejects a missing, a corrupt and a foreign replay file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastpath-fuzz-cli-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const missing = await run(['--replay', join(dir, 'none.json')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the replay file \(ENOENT\)/);
    const corrupt = join(dir, 'corrupt.json');
    writeFileSync(corrupt, '{ "format": "fastpath-fuzz-replay", "seed": ');
    const bad = await run(['--replay', corrupt]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/not JSON .*corrupt or not a replay file/);
    const foreign = join(dir, 'foreign.json');
    writeFileSync(foreign, JSON.stringify({ name: 'a target file' }));
    const other = await run(['--replay', foreign]);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toMatch(/not a fastpath fuzz replay file/);
  });

  it('lists the properties with their sections and planned inputs', async () => {
    const r = await run(['--list', '--json', '--runs', '90', '--framing', 'lp32-json', '--auth', 'hmac-v2']);
    expect(r.exitCode).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ id: string; section: string; modes: Record<string, number> }>;
    const ids = rows.map((row) => row.id);
    expect(ids).toEqual(expect.arrayContaining(['fuzz.frame.valid', 'fuzz.frame.mutated', 'fuzz.frame.length-prefix', 'fuzz.frame.oversize', 'fuzz.auth.signature', 'fuzz.transport.connections']));
    expect(rows.find((row) => row.id === 'fuzz.frame.length-prefix')?.section).toBe('3.3.1');
    expect(Object.values(rows.flatMap((row) => Object.values(row.modes))).reduce((a, b) => a + b, 0)).toBe(90);
  });
});
