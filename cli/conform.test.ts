import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { fail, pass, type ConformanceCase } from '../harness/case.js';
import { conformAction, formatCaseList, parseConformOptions } from './conform.js';

/** ndjson server: PREPARE accepted, anything else rejected INVALID_SIGNAL. */
const SERVER = `
import net from 'node:net';
const sock = process.argv[2];
const server = net.createServer((c) => {
  let buf = '';
  c.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\\n')) >= 0) {
      const env = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
      const ok = env.signal && env.signal.type === 'PREPARE';
      c.write(JSON.stringify(ok ? { id: env.id, accepted: true } : { id: env.id, rejected: true, reason: 'INVALID_SIGNAL' }) + '\\n');
    }
  });
  c.on('error', () => {});
});
server.listen(sock);
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;

const base = { section: '9.9', description: 'synthetic', expected: 'accepted' } as const;
const CASES: ConformanceCase[] = [
  {
    ...base,
    id: 'cli.ok',
    level: 'MUST',
    run: async (ctx) => {
      const ev = await (await ctx.connect()).request(ctx.prepare());
      return ev.type === 'reply' && ev.reply.kind === 'accepted' ? pass('accepted') : fail(ev.type);
    },
  },
  { ...base, id: 'cli.fails', level: 'MUST', run: async () => fail('nope') },
];

function tinyTargetFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-cli-conform-'));
  writeFileSync(join(dir, 'server.mjs'), SERVER);
  writeFileSync(
    join(dir, 'target.json'),
    JSON.stringify({ name: 'tiny', spawn: { command: process.execPath, args: ['server.mjs', '{socket}'] }, capabilities: {} }),
  );
  return dir;
}

const defaults = { target: 'reference', jobs: '3' };

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

describe('fastpath conform options', () => {
  it('names the flag and the value in usage errors', () => {
    expect(() => parseConformOptions({ ...defaults, jobs: '0' })).toThrow('--jobs must be a whole number from 1 to 64, got "0"');
    expect(() => parseConformOptions({ ...defaults, caseTimeoutMs: '1.5' })).toThrow('--case-timeout-ms must be a whole number');
    expect(() => parseConformOptions({ ...defaults, pid: 'abc' })).toThrow('--pid must be a whole number');
    expect(() => parseConformOptions({ ...defaults, cases: [''] })).toThrow("--cases needs a non-empty glob (e.g. 'framing.*')");
  });

  it('converts numeric flags', () => {
    expect(parseConformOptions({ ...defaults, jobs: '2', caseTimeoutMs: '5000', strict: true })).toMatchObject({ jobs: 2, caseTimeoutMs: 5000, strict: true });
  });

  it('lists cases with their section, level and modes', () => {
    const text = formatCaseList([{ id: 'a.b', section: '3.2', level: 'MUST', description: 'd', requires: [], disruptive: false, modes: ['ndjson/none'] }], 1);
    expect(text).toContain('a.b  §3.2    MUST   all modes    d');
    expect(text).toContain('1 case');
  });
});

describe('fastpath conform run', () => {
  it('prints index.json with --json, writes the reports and exits 1 on a FAILED case', async () => {
    const dir = tinyTargetFile();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
    const reportDir = join(dir, 'report');
    await conformAction(parseConformOptions({ ...defaults, target: join(dir, 'target.json'), json: true, reportDir }), CASES);
    const printed = JSON.parse(out.join('')) as { summary: Record<string, number> };
    expect(printed).toEqual(JSON.parse(readFileSync(join(reportDir, 'index.json'), 'utf8')));
    expect(printed.summary).toMatchObject({ total: 2, OK: 1, FAILED: 1 });
    expect(err.join('')).toContain(`report: ${join(reportDir, 'index.json')}`);
    expect(process.exitCode).toBe(1);
  });

  it('exits 0 when nothing FAILED and prints the table and the report path', async () => {
    const dir = tinyTargetFile();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const reportDir = join(dir, 'report');
    await conformAction(parseConformOptions({ ...defaults, target: join(dir, 'target.json'), cases: ['cli.ok'], reportDir }), CASES);
    const text = out.join('');
    expect(text).toMatch(/ndjson\/none\s+1\s+1\s+0\s+0/);
    expect(text).toContain('PASSED: 1 case runs, 1 OK');
    expect(text).toContain(`report: ${join(reportDir, 'index.json')}`);
    expect(process.exitCode).toBeUndefined();
  });

  it('throws a usage error when --cases matches nothing', async () => {
    const dir = tinyTargetFile();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    await expect(conformAction(parseConformOptions({ ...defaults, target: join(dir, 'target.json'), cases: ['zzz*'] }), CASES)).rejects.toMatchObject({
      code: 'FP_USAGE',
      message: 'no conformance case id matches --cases zzz* (see fastpath conform --list)',
    });
  });

  it('fails at once, before any report, when an attached socket does not answer', async () => {
    const dir = tinyTargetFile();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const reportDir = join(dir, 'r');
    await expect(conformAction(parseConformOptions({ ...defaults, target: `unix:${join(dir, 'none.sock')}`, reportDir }), CASES)).rejects.toMatchObject({
      code: 'FP_TARGET_UNREACHABLE',
      message: `cannot connect to ${join(dir, 'none.sock')} (ENOENT); is the server running?`,
    });
    expect(existsSync(reportDir)).toBe(false);
  });

  it('throws a target error (exit 2) when the target cannot start', async () => {
    const dir = tinyTargetFile();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'target.json'), JSON.stringify({ name: 'dead', spawn: { command: process.execPath, args: ['-e', 'process.exit(4)'] }, capabilities: {} }));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await expect(
      conformAction(parseConformOptions({ ...defaults, target: join(dir, 'target.json'), reportDir: join(dir, 'r') }), CASES),
    ).rejects.toMatchObject({ code: 'FP_TARGET_START_FAILED', message: expect.stringContaining('target "dead" exited with code 4 before it was ready') });
  });
});
