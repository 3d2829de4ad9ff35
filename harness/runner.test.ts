import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fail, informational, pass, type ConformanceCase } from './case.js';
import { formatConsoleReport } from './console-report.js';
import { SpawnedTarget } from './launcher.js';
import { writeReports } from './report-json.js';
import { renderJunit } from './report-junit.js';
import { globToRegExp, listCases, runConformance, selectCases, verdictFor, type ConformanceResult, type ProgressEvent } from './runner.js';
import { resolveTarget, type ResolvedTarget } from './targets.js';

/**
 * A tiny echo-ish server speaking ndjson or lp32-json: PREPARE is accepted (id
 * echoed), SILENT gets no reply, anything else is rejected INVALID_SIGNAL. It removes
 * a stale socket file before listening and exits 0 on SIGTERM.
 */
const SERVER = `
import net from 'node:net';
import fs from 'node:fs';
const [sock, framing, limitArg] = process.argv.slice(2);
const limit = Number(limitArg ?? 100);
let active = 0;
try { fs.unlinkSync(sock); } catch {}
const server = net.createServer((c) => {
  let buf = Buffer.alloc(0);
  if (active >= limit) { c.end('{"rejected":true,"reason":"MAX_CONNECTIONS_REACHED"}\\n'); return; }
  active++;
  c.on('close', () => active--);
  const reply = (obj) => {
    const body = Buffer.from(JSON.stringify(obj));
    if (framing === 'ndjson') c.write(Buffer.concat([body, Buffer.from('\\n')]));
    else { const h = Buffer.alloc(4); h.writeUInt32BE(body.length); c.write(Buffer.concat([h, body])); }
  };
  const handle = (text) => {
    let env;
    try { env = JSON.parse(text); } catch { reply({ rejected: true, reason: 'IPC_ERROR' }); return; }
    const s = env.signal ?? {};
    if (s.type === 'PREPARE') reply({ id: env.id, accepted: true, signal_id: s.signal_id, state: 'PREPARED' });
    else if (s.type === 'SILENT') {}
    else reply({ id: env.id, rejected: true, reason: 'INVALID_SIGNAL', error: 'unknown type <' + s.type + '> & more' });
  };
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (framing === 'ndjson') {
        const i = buf.indexOf(10); if (i < 0) break;
        const line = buf.subarray(0, i); buf = buf.subarray(i + 1);
        if (line.length > 0) handle(line.toString());
      } else {
        if (buf.length < 4) break;
        const n = buf.readUInt32BE(0); if (buf.length < 4 + n) break;
        handle(buf.subarray(4, 4 + n).toString()); buf = buf.subarray(4 + n);
      }
    }
  });
  c.on('error', () => {});
});
server.listen(sock);
console.error('tiny server started in ' + framing);
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;

async function tinyTarget(
  modes: Array<{ framing: string; auth: string }> = [{ framing: 'ndjson', auth: 'none' }],
  maxConnections = 100,
): Promise<{ dir: string; target: ResolvedTarget }> {
  const dir = mkdtempSync(join(tmpdir(), 'fastpath-runner-test-'));
  writeFileSync(join(dir, 'server.mjs'), SERVER);
  writeFileSync(
    join(dir, 'target.json'),
    JSON.stringify({
      name: 'tiny',
      spawn: { command: process.execPath, args: ['server.mjs', '{socket}', '{framing}', String(maxConnections)], cwd: '.', readyTimeoutMs: 5000 },
      modes,
      capabilities: { lifecycle: true, maxConnections: 10 },
    }),
  );
  return { dir, target: await resolveTarget(join(dir, 'target.json')) };
}

const base = { section: '9.9', description: 'synthetic', expected: 'PREPARE is accepted' } as const;

const acceptsPrepare = async (ctx: Parameters<ConformanceCase['run']>[0]) => {
  const conn = await ctx.connect();
  const ev = await conn.request(ctx.prepare(), { id: 1 });
  return ev.type === 'reply' && ev.reply.kind === 'accepted' ? pass('PREPARE accepted') : fail(`got ${ev.type}`);
};
const expectsRejection = async (ctx: Parameters<ConformanceCase['run']>[0]) => {
  const conn = await ctx.connect();
  const ev = await conn.request(ctx.prepare());
  return ev.type === 'reply' && ev.reply.kind === 'rejected' ? pass('rejected') : fail('PREPARE was accepted, expected a rejection');
};

const CASES: ConformanceCase[] = [
  { ...base, id: 'syn.ok', level: 'MUST', run: acceptsPrepare },
  { ...base, id: 'syn.must-fails', level: 'MUST', run: expectsRejection },
  { ...base, id: 'syn.should-fails', level: 'SHOULD', run: expectsRejection },
  { ...base, id: 'syn.may-fails', level: 'MAY', run: expectsRejection },
  { ...base, id: 'syn.informational', level: 'MUST', run: async () => informational('measured 3 things') },
  { ...base, id: 'syn.needs-delay', level: 'MUST', requires: ['delay'], run: acceptsPrepare },
  {
    ...base,
    id: 'syn.times-out',
    level: 'MUST',
    timeoutMs: 300,
    run: async (ctx) => {
      const conn = await ctx.connect();
      await conn.request({ type: 'SILENT' }, undefined, 5_000);
      return pass('unreachable');
    },
  },
  {
    ...base,
    id: 'syn.throws',
    level: 'MUST',
    run: async () => {
      throw new Error('boom <&>');
    },
  },
  { ...base, id: 'syn.bad-outcome', level: 'MUST', run: async () => ({ verdict: 'OK' }) as never },
];

describe('verdicts', () => {
  it('maps levels and outcomes', () => {
    expect(verdictFor('MUST', pass('x'), false)).toBe('OK');
    expect(verdictFor('MUST', fail('x'), false)).toBe('FAILED');
    expect(verdictFor('SHOULD', fail('x'), false)).toBe('NON-STRICT');
    expect(verdictFor('SHOULD', fail('x'), true)).toBe('FAILED');
    expect(verdictFor('MAY', fail('x'), true)).toBe('INFORMATIONAL');
    expect(verdictFor('MUST', informational('x'), true)).toBe('INFORMATIONAL');
  });

  it('selects cases by id globs', () => {
    expect(globToRegExp('framing.*').test('framing.ndjson.empty-line')).toBe(true);
    expect(globToRegExp('a?c').test('abc')).toBe(true);
    expect(globToRegExp('a.c').test('abc')).toBe(false);
    expect(selectCases(CASES, ['syn.*'], ['syn.t*']).map((c) => c.id)).not.toContain('syn.throws');
    expect(selectCases(CASES, ['syn.ok', 'syn.throws']).map((c) => c.id)).toEqual(['syn.ok', 'syn.throws']);
  });
});

describe('runner against a real tiny server', () => {
  it('turns each kind of outcome into its verdict, with expected vs actual and a wire log', async () => {
    const { dir, target } = await tinyTarget();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const events: ProgressEvent[] = [];
    const result = await runConformance({ target, cases: CASES, onProgress: (e) => events.push(e) });
    const byId = new Map(result.modes[0]?.cases.map((c) => [c.id, c]));
    expect(Object.fromEntries([...byId].map(([id, c]) => [id, c.verdict]))).toEqual({
      'syn.ok': 'OK',
      'syn.must-fails': 'FAILED',
      'syn.should-fails': 'NON-STRICT',
      'syn.may-fails': 'INFORMATIONAL',
      'syn.informational': 'INFORMATIONAL',
      'syn.needs-delay': 'UNIMPLEMENTED',
      'syn.times-out': 'FAILED',
      'syn.throws': 'FAILED',
      'syn.bad-outcome': 'FAILED',
    });
    expect(byId.get('syn.needs-delay')?.actual).toBe('capability "delay" not declared by the target');
    expect(byId.get('syn.times-out')?.actual).toBe('timed out after 300 ms');
    expect(byId.get('syn.times-out')?.durationMs).toBeLessThan(2_000);
    expect(byId.get('syn.throws')?.actual).toBe('case threw: boom <&>');
    const failed = byId.get('syn.must-fails');
    expect(failed).toMatchObject({ expected: 'PREPARE is accepted', actual: 'PREPARE was accepted, expected a rejection', section: '9.9', level: 'MUST' });
    expect(failed?.wireLog.map((e) => e.dir)).toEqual(expect.arrayContaining(['out', 'in', 'event']));
    expect(failed?.stderrTail).toContain('tiny server started in ndjson');
    expect(byId.get('syn.ok')?.stderrTail).toBeUndefined();
    expect(result.summary).toMatchObject({ total: 9, OK: 1, FAILED: 4, 'NON-STRICT': 1, INFORMATIONAL: 2, UNIMPLEMENTED: 1 });
    expect(events[0]).toEqual({ type: 'mode-start', mode: 'ndjson/none', total: 9 });
    expect(events.filter((e) => e.type === 'case-done')).toHaveLength(9);
    expect(events.at(-1)?.type).toBe('mode-done');
  });

  it('makes a missed SHOULD fail under strict', async () => {
    const { dir, target } = await tinyTarget();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const result = await runConformance({ target, cases: CASES, strict: true, include: ['syn.should-*'] });
    expect(result.modes[0]?.cases.map((c) => [c.id, c.verdict])).toEqual([['syn.should-fails', 'FAILED']]);
  });

  it('runs disruptive cases last and restarts a target a case killed', async () => {
    const { dir, target } = await tinyTarget();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const pids: Array<number | undefined> = [];
    const cases: ConformanceCase[] = [
      {
        ...base,
        id: 'life.kill',
        level: 'MUST',
        disruptive: true,
        requires: ['lifecycle'],
        run: async (ctx) => {
          pids.push(ctx.target.pid);
          ctx.target.signal('SIGKILL');
          const exit = await ctx.target.waitExit(5_000);
          return exit !== 'timeout' && exit.signal === 'SIGKILL' ? pass(`killed at ${exit.atMs} ms`) : fail('did not die');
        },
      },
      {
        ...base,
        id: 'life.after-kill',
        level: 'MUST',
        disruptive: true,
        run: async (ctx) => {
          pids.push(ctx.target.pid);
          return acceptsPrepare(ctx);
        },
      },
      { ...base, id: 'plain', level: 'MUST', run: async (ctx) => (pids.push(ctx.target.pid), acceptsPrepare(ctx)) },
    ];
    const result = await runConformance({ target, cases });
    const mode = result.modes[0];
    expect(mode?.cases.map((c) => `${c.id}:${c.verdict}`)).toEqual(['plain:OK', 'life.kill:OK', 'life.after-kill:OK']);
    expect(pids[0]).toBe(pids[1]);
    expect(pids[2]).not.toBe(pids[1]);
    const after = mode?.cases[2];
    expect(after?.wireLog[0]?.preview).toContain('the runner restarted the target before this case');
    expect(mode?.cases[1]?.wireLog.some((e) => e.preview.startsWith('sent SIGKILL'))).toBe(true);
  });

  it('runs modes concurrently, each against its own process, honouring appliesTo', async () => {
    const { dir, target } = await tinyTarget([
      { framing: 'ndjson', auth: 'none' },
      { framing: 'lp32-json', auth: 'none' },
    ]);
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const pids = new Map<string, number | undefined>();
    const cases: ConformanceCase[] = [
      { ...base, id: 'both', level: 'MUST', run: async (ctx) => (pids.set(ctx.mode.label, ctx.target.pid), acceptsPrepare(ctx)) },
      { ...base, id: 'ndjson-only', level: 'MUST', appliesTo: (m) => m.framing.kind === 'ndjson', run: acceptsPrepare },
    ];
    const result = await runConformance({ target, cases, jobs: 2 });
    expect(result.modes.map((m) => [m.label, m.cases.map((c) => `${c.id}:${c.verdict}`)])).toEqual([
      ['ndjson/none', ['both:OK', 'ndjson-only:OK']],
      ['lp32-json/none', ['both:OK']],
    ]);
    expect(new Set(pids.values()).size).toBe(2);
    expect(listCases(cases, target.modes).map((r) => [r.id, r.modes])).toEqual([
      ['both', ['ndjson/none', 'lp32-json/none']],
      ['ndjson-only', ['ndjson/none']],
    ]);
  });

  it('closes a case\'s connections before the next case connects', async () => {
    const { dir, target } = await tinyTarget(undefined, 1);
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const cases: ConformanceCase[] = Array.from({ length: 10 }, (_, i) => ({ ...base, id: `one-slot.${i}`, level: 'MUST', run: acceptsPrepare }));
    const result = await runConformance({ target, cases });
    expect(result.modes[0]?.cases.map((c) => c.actual)).toEqual(Array.from({ length: 10 }, () => 'PREPARE accepted'));
  });

  it('records a target that cannot start as a mode error, not a crash', async () => {
    const { dir, target } = await tinyTarget();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const broken: ResolvedTarget = { ...target, spawn: { ...target.spawn!, args: ['-e', 'console.error("no socket for you"); process.exit(3)'] } };
    const result = await runConformance({ target: broken, cases: CASES.slice(0, 1) });
    expect(result.modes[0]?.cases).toEqual([]);
    expect(result.modes[0]?.startError).toContain('exited with code 3 before it was ready; its stderr: no socket for you');
  });

  it('marks UNIMPLEMENTED a lifecycle case against an attached target', async () => {
    const { dir } = await tinyTarget();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const server = await SpawnedTarget.launch({ name: 'tiny', command: process.execPath, args: ['server.mjs', '{socket}', 'ndjson'], cwd: dir, framing: 'ndjson', auth: 'none', secret: '' });
    onTestFinished(async () => void (await server.stop()));
    const attached = await resolveTarget(`unix:${server.socketPath}`);
    const cases: ConformanceCase[] = [
      { ...base, id: 'needs-lifecycle', level: 'MUST', requires: ['lifecycle'], run: async () => pass('x') },
      { ...base, id: 'plain', level: 'MUST', run: acceptsPrepare },
    ];
    const result = await runConformance({ target: { ...attached, capabilities: { lifecycle: true } }, cases });
    expect(result.target.kind).toBe('attached');
    expect(result.modes[0]?.cases.map((c) => [c.id, c.verdict, c.actual])).toEqual([
      ['needs-lifecycle', 'UNIMPLEMENTED', 'capability "lifecycle" not available: the target is attached, not spawned by the suite'],
      ['plain', 'OK', 'PREPARE accepted'],
    ]);
  });
});

/** Minimal XML well-formedness check: balanced tags, quoted attributes, no raw `<` or `&` in text. */
function checkWellFormedXml(xml: string): void {
  const stack: string[] = [];
  const token = /<\?[^?]*\?>|<\/([A-Za-z-]+)\s*>|<([A-Za-z-]+)((?:\s+[A-Za-z-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = token.exec(xml)) !== null) {
    if (m[6] !== undefined) throw new Error(`stray < at ${m.index}: ${xml.slice(m.index, m.index + 40)}`);
    const text = m[5] ?? m[3] ?? '';
    if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text)) throw new Error(`raw & near ${m.index}`);
    if (m[1] !== undefined) {
      const open = stack.pop();
      if (open !== m[1]) throw new Error(`</${m[1]}> closes <${String(open)}>`);
    } else if (m[2] !== undefined && m[4] !== '/') stack.push(m[2]);
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
}

describe('reports', () => {
  let cached: ConformanceResult | undefined;
  async function result(): Promise<ConformanceResult> {
    if (cached !== undefined) return cached;
    const { dir, target } = await tinyTarget();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    cached = await runConformance({ target, cases: CASES });
    return cached;
  }

  it('renders well-formed, escaped JUnit XML with failures and skips', async () => {
    const xml = renderJunit(await result());
    checkWellFormedXml(xml);
    expect(xml).toContain('<testsuite name="ndjson/none" tests="9" failures="4" errors="0" skipped="1"');
    expect(xml).toContain('<skipped message="capability &quot;delay&quot; not declared by the target"/>');
    expect(xml).toContain('case threw: boom &lt;&amp;&gt;');
    expect(xml).toMatch(/<failure type="FAILED" message="expected: PREPARE is accepted; actual: timed out after 300 ms">/);
    checkWellFormedXml(
      renderJunit({
        ...(await result()),
        modes: [{ label: 'x"y', framing: 'ndjson', auth: 'none', startedAt: 'now', summary: (await result()).summary, cases: [], startError: 'bad \u0001 <thing> & "q"' }],
      }),
    );
  });

  it('writes index.json, one JSON per case with its wire log, and junit.xml', async () => {
    const r = await result();
    const dir = mkdtempSync(join(tmpdir(), 'fastpath-report-test-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const written = await writeReports(r, join(dir, 'out'));
    const index = JSON.parse(readFileSync(written.indexPath, 'utf8')) as {
      summary: Record<string, number>;
      modes: Array<{ label: string; summary: Record<string, number> }>;
      cases: Array<{ id: string; mode: string; verdict: string; file: string; expected: string; actual: string }>;
    };
    expect(index.summary).toMatchObject({ total: 9, OK: 1, 'NON-STRICT': 1, FAILED: 4, INFORMATIONAL: 2, UNIMPLEMENTED: 1 });
    expect(index.modes[0]).toMatchObject({ label: 'ndjson/none', summary: { total: 9 } });
    const row = index.cases.find((c) => c.id === 'syn.must-fails');
    expect(row).toMatchObject({ mode: 'ndjson/none', verdict: 'FAILED', file: 'cases/ndjson_none/syn.must-fails.json' });
    const caseJson = JSON.parse(readFileSync(join(written.dir, row!.file), 'utf8')) as { wireLog: unknown[]; stderrTail: string };
    expect(caseJson.wireLog.length).toBeGreaterThan(2);
    expect(caseJson.stderrTail).toContain('tiny server started');
    expect(written.caseFiles).toBe(9);
    expect(existsSync(written.junitPath)).toBe(true);
  });

  it('prints a summary table per mode and overall, then failures with the path of their JSON', async () => {
    const text = formatConsoleReport(await result(), { reportDir: '/r' });
    expect(text).toMatch(/ndjson\/none\s+9\s+1\s+1\s+4\s+2\s+1/);
    expect(text).toMatch(/overall\s+9\s+1\s+1\s+4\s+2\s+1/);
    expect(text).toContain('Failures (4):');
    expect(text).toContain('FAILED     syn.must-fails  [ndjson/none]  §9.9 MUST');
    expect(text).toContain('    expected: PREPARE is accepted\n    actual:   PREPARE was accepted, expected a rejection');
    expect(text).toContain('details:  /r/cases/ndjson_none/syn.must-fails.json');
    expect(text).toContain('SHOULD not met (1, NON-STRICT');
  });
});
