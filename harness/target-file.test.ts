import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { didYouMean, loadTargetFile, parseTargetDescription } from './target-file.js';
import { findPackageRoot, REFERENCE_BENCH_CAPABILITIES, REFERENCE_CAPABILITIES, referenceTarget, resolveTarget } from './targets.js';

const validCapabilities = { status: true, maxConnections: 10, rateLimit: { burst: 5, refillPerSec: 10 } };

/** The message of the FastPathError `fn` throws (fails the test when it does not throw one). */
function errorOf(fn: () => unknown): FastPathError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected a FastPathError');
}

async function asyncErrorOf(promise: Promise<unknown>): Promise<FastPathError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected a FastPathError');
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-target-file-'));
  return dir;
}

describe('target file validation', () => {
  it('accepts a spawned target with modes and capabilities', () => {
    const desc = parseTargetDescription(
      {
        name: 'x',
        spawn: { command: 'python3', args: ['server.py', '{socket}'], cwd: '.' },
        modes: [{ framing: 'ndjson', auth: 'hmac-json' }, { framing: 'lp:2:le:frame:01:msgpack', auth: 'none' }],
        capabilities: validCapabilities,
      },
      'target.json',
    );
    expect(desc.name).toBe('x');
    expect(desc.modes).toHaveLength(2);
  });

  it('names a misspelt top-level key and suggests the right one', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/tmp/x.sock', capabilites: {} }, 'target.json'));
    expect(err.code).toBe('FP_TARGET_INVALID');
    expect(err.message.split('\n')).toContain('unknown key "capabilites" in target.json (did you mean "capabilities"?)');
  });

  it('names a misspelt nested key with its JSON path', () => {
    const err = errorOf(() =>
      parseTargetDescription({ name: 'x', socket: '/s', capabilities: { rateLimit: { burts: 1, refillPerSec: 1 } } }, 'target.json'),
    );
    expect(err.message).toContain('unknown key "burts" at capabilities.rateLimit in target.json (did you mean "burst"?)');
  });

  it('lists the known keys when a key is not close to any', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/s', capabilities: {}, zzzzzz: 1 }, 'target.json'));
    expect(err.message).toContain('unknown key "zzzzzz" in target.json (remove it; known keys: ');
  });

  it('says to add spawn or socket when neither is given', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', capabilities: {} }, 'target.json'));
    expect(err.message).toBe(
      'target.json: neither "spawn" nor "socket" is given (add "spawn": {"command", "args"} to start the server, or "socket": "/path.sock" to attach)',
    );
  });

  it('refuses both spawn and socket', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/s', spawn: { command: 'x' }, capabilities: {} }, 'target.json'));
    expect(err.message).toContain('both "spawn" and "socket" are given');
  });

  it('reports the structural problem together with a typo in another key', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', capabilities: { statuss: true } }, 't.json'));
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('unknown key "statuss" at capabilities in t.json (did you mean "status"?)');
    expect(lines[1]).toContain('neither "spawn" nor "socket"');
  });

  it('explains a capability of the wrong type with its path and the fix', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/s', capabilities: { maxConnections: '10' } }, 'target.json'));
    expect(err.message).toBe('target.json at capabilities.maxConnections: expected a number, got "10" (write 10 without quotes)');
  });

  it('asks for a whole number where a capability is fractional', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/s', capabilities: { prepareTtlMs: 2.5 } }, 'target.json'));
    expect(err.message).toBe('target.json at capabilities.prepareTtlMs: expected an integer, got number 2.5 (use a whole number, e.g. 3)');
  });

  it('reports a missing required key as missing, one line', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/s' }, 'target.json'));
    expect(err.message).toBe('missing key "capabilities" in target.json (add it: an object)');
  });

  it('rejects a boolean capability written as a string', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'x', socket: '/s', capabilities: { status: 'true' } }, 'target.json'));
    expect(err.message).toBe('target.json at capabilities.status: expected true or false, got "true" (write true without quotes)');
  });

  it('rejects an unknown framing in a mode with the framing parser message', () => {
    const err = errorOf(() =>
      parseTargetDescription({ name: 'x', socket: '/s', modes: [{ framing: 'lp64', auth: 'none' }], capabilities: {} }, 'target.json'),
    );
    expect(err.message).toMatch(/^target\.json at modes\[0\]\.framing: unknown framing "lp64"/);
  });

  it('suggests the closest auth mode', () => {
    const err = errorOf(() =>
      parseTargetDescription({ name: 'x', socket: '/s', modes: [{ framing: 'ndjson', auth: 'hmac-v3' }], capabilities: {} }, 'target.json'),
    );
    expect(err.message).toBe('target.json at modes[0].auth: "hmac-v3" is not allowed (did you mean "hmac-v2"?)');
  });

  it('validates the JSON dialect strictly', () => {
    const err = errorOf(() =>
      parseTargetDescription({ name: 'x', socket: '/s', capabilities: {}, dialect: { typeNames: { PREPAR: 'p' } } }, 'target.json'),
    );
    expect(err.message).toContain('unknown key "PREPAR" at dialect.typeNames in target.json (did you mean "PREPARE"?)');
  });

  it('rejects a reason map to a code outside the closed set', () => {
    const err = errorOf(() =>
      parseTargetDescription({ name: 'x', socket: '/s', capabilities: {}, dialect: { reasonMap: { BAD: 'INVALID_SIGNATUR' } } }, 'target.json'),
    );
    expect(err.message).toBe('target.json at dialect.reasonMap.BAD: "INVALID_SIGNATUR" is not allowed (did you mean "INVALID_SIGNATURE"?)');
  });

  it('suggests nothing for unrelated words', () => {
    expect(didYouMean('xyz', ['capabilities', 'spawn'])).toBeUndefined();
    expect(didYouMean('Spawn', ['capabilities', 'spawn'])).toBe('spawn');
  });
});

describe('the ledger capability (docs/SPEC.md §8, §11)', () => {
  const spawned = { name: 'x', spawn: { command: 'srv', args: ['--ledger', '{dir}/l.log'] } };

  it('accepts true, false and { file }', () => {
    for (const ledger of [true, false, { file: '{dir}/ledger.log' }, { file: '/var/lib/x/ledger.log' }]) {
      expect(parseTargetDescription({ ...spawned, capabilities: { ledger } }, 'target.json').capabilities.ledger).toEqual(ledger);
    }
  });

  it('says what a ledger of the wrong type should look like', () => {
    const err = errorOf(() => parseTargetDescription({ ...spawned, capabilities: { ledger: 'yes' } }, 'target.json'));
    expect(err.message).toBe('target.json at capabilities.ledger: expected true or false or an object, got "yes" (write true, or { "file": "{dir}/ledger.log" })');
  });

  it('explains problems inside the { file } form with their paths', () => {
    const typo = errorOf(() => parseTargetDescription({ ...spawned, capabilities: { ledger: { fiel: 'l.log' } } }, 'target.json'));
    expect(typo.message.split('\n')).toEqual([
      'missing key "file" at capabilities.ledger in target.json (add it: a string)',
      'unknown key "fiel" at capabilities.ledger in target.json (did you mean "file"?)',
    ]);
    const empty = errorOf(() => parseTargetDescription({ ...spawned, capabilities: { ledger: { file: '' } } }, 'target.json'));
    expect(empty.message).toBe('target.json at capabilities.ledger.file: must not be empty (give a value or remove the key)');
  });

  it('refuses {dir} in the ledger file of an attached target', () => {
    const err = errorOf(() => parseTargetDescription({ name: 'a', socket: '/s.sock', capabilities: { ledger: { file: '{dir}/l.log' } } }, 'target.json'));
    expect(err.message).toMatch(/capabilities\.ledger\.file uses \{dir\}, .* but this target is attached/);
  });

  it('resolves a relative ledger file against the target file, keeping {dir} paths for the launcher', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const relative = join(dir, 'relative.json');
    writeFileSync(relative, JSON.stringify({ ...spawned, capabilities: { ledger: { file: 'state/ledger.log' } } }));
    expect((await resolveTarget(relative)).capabilities.ledger).toEqual({ file: join(dir, 'state', 'ledger.log') });
    const inDir = join(dir, 'dir.json');
    writeFileSync(inDir, JSON.stringify({ ...spawned, capabilities: { ledger: { file: '{dir}/ledger.log' } } }));
    expect((await resolveTarget(inDir)).capabilities.ledger).toEqual({ file: '{dir}/ledger.log' });
  });

  it('runs the reference with its ledger in {dir} and declares ledger: true in both profiles', () => {
    for (const profile of ['conformance', 'bench'] as const) {
      const args = referenceTarget({}, '/pkg', profile).spawn?.args ?? [];
      expect(args.join(' '), profile).toContain('--ledger {dir}/ledger.log');
    }
    expect(REFERENCE_CAPABILITIES.ledger).toBe(true);
    expect(REFERENCE_BENCH_CAPABILITIES.ledger).toBe(true);
  });
});

describe('loading target files', () => {
  it('loads a JSON file and resolves cwd and socket against its directory', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.json');
    writeFileSync(file, JSON.stringify({ name: 'attached', socket: 'run/x.sock', capabilities: { status: true } }));
    const loaded = await loadTargetFile(file);
    expect(loaded.baseDir).toBe(dir);
    const target = await resolveTarget(file);
    expect(target.socketPath).toBe(join(dir, 'run', 'x.sock'));
    expect(target.modes.map((m) => m.label)).toEqual(['ndjson/none']);
  });

  it('reports invalid JSON with the file name', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ "name": "x", }');
    const err = await asyncErrorOf(loadTargetFile(file));
    expect(err.code).toBe('FP_TARGET_INVALID');
    expect(err.message).toMatch(/bad\.json: not valid JSON: .* \(fix the syntax\)$/);
  });

  it('reports a missing file as a usage-style target error', async () => {
    const err = await asyncErrorOf(resolveTarget('/nonexistent/target.json'));
    expect(err.code).toBe('FP_TARGET_INVALID');
    expect(err.message).toContain('/nonexistent/target.json: no such file');
  });

  it('loads an .mjs module whose dialect is code', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.mjs');
    writeFileSync(
      file,
      `export default {
  name: 'module-target',
  socket: '/tmp/none.sock',
  capabilities: { status: true },
  dialect: {
    toTarget: (s) => ({ ...s, kind: s.type }),
    classify: (r) => r.ok ? { kind: 'accepted', id: r.id, fields: r } : { kind: 'rejected', id: r.id, reason: r.code, fields: r },
  },
};\n`,
    );
    const target = await resolveTarget(file);
    expect(target.dialect.name).toBe('module');
    expect(target.dialect.toTarget({ type: 'STATUS' })).toEqual({ type: 'STATUS', kind: 'STATUS' });
    expect(target.dialect.classify({ ok: false, code: 'RATE_LIMITED' })).toMatchObject({ kind: 'rejected', reason: 'RATE_LIMITED' });
  });

  it('validates a module default export like JSON', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.mjs');
    writeFileSync(file, `export default { name: 'm', socket: '/s', capabilites: {} };\n`);
    const err = await asyncErrorOf(loadTargetFile(file));
    expect(err.message).toContain(`unknown key "capabilites" in ${file} (did you mean "capabilities"?)`);
  });

  it('narrows modes with --framing/--auth and refuses a mode the file does not declare', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 't',
        spawn: { command: 'true' },
        modes: [{ framing: 'ndjson', auth: 'none' }, { framing: 'lp32-json', auth: 'hmac-v2' }],
        capabilities: {},
      }),
    );
    const narrowed = await resolveTarget(file, { auth: 'hmac-v2' });
    expect(narrowed.modes.map((m) => m.label)).toEqual(['lp32-json/hmac-v2']);
    expect(narrowed.modes[0]?.secret).toMatch(/^[0-9a-f]{64}$/);
    const err = await asyncErrorOf(resolveTarget(file, { framing: 'lp32-msgpack' }));
    expect(err.code).toBe('FP_USAGE');
    expect(err.message).toContain('declares no mode matching --framing lp32-msgpack; its modes: ndjson/none, lp32-json/hmac-v2');
  });

  it('requires a secret for an attached target in an HMAC mode', async () => {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'target.json');
    writeFileSync(file, JSON.stringify({ name: 't', socket: '/s', auth: 'hmac-json', capabilities: {} }));
    const err = await asyncErrorOf(resolveTarget(file));
    expect(err.message).toContain('"secret" is required for an attached target in an HMAC mode');
    const withSecret = await resolveTarget(file, { secret: 'k' });
    expect(withSecret.modes[0]?.secret).toBe('k');
  });
});

describe('built-in targets', () => {
  it('finds the package root from the sources', () => {
    const root = findPackageRoot();
    expect((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name).toBe('fastpath-harness');
  });

  it('runs the reference in every preset and auth mode with one random secret', () => {
    const t = referenceTarget({}, '/pkg');
    expect(t.modes).toHaveLength(9);
    expect(new Set(t.modes.map((m) => m.secret)).size).toBe(1);
    expect(t.modes[0]?.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(t.spawn?.args.slice(0, 2)).toEqual(['/pkg/dist/cli/main.js', 'serve']);
    expect(t.capabilities.lifecycle).toBe(true);
  });

  it('narrows the reference with --framing and --auth', () => {
    const t = referenceTarget({ framing: 'lp32-msgpack', auth: 'none' }, '/pkg');
    expect(t.modes.map((m) => m.label)).toEqual(['lp32-msgpack/none']);
  });

  it('refuses an unknown framing flag as a usage error', () => {
    const err = errorOf(() => referenceTarget({ framing: 'xml' }, '/pkg'));
    expect(err.code).toBe('FP_USAGE');
    expect(err.message).toMatch(/^--framing: unknown framing "xml"/);
  });

  it('attaches to unix: targets without lifecycle and needs a secret for HMAC', async () => {
    const t = await resolveTarget('unix:/tmp/some.sock', { framing: 'lp32-json' });
    expect(t.socketPath).toBe('/tmp/some.sock');
    expect(t.spawn).toBeUndefined();
    expect(t.capabilities.lifecycle).toBe(false);
    expect(t.modes.map((m) => m.label)).toEqual(['lp32-json/none']);
    const err = await asyncErrorOf(resolveTarget('unix:/tmp/some.sock', { auth: 'hmac-v2' }));
    expect(err.code).toBe('FP_USAGE');
  });
});
