import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFastPathError, type FastPathError } from '../protocol/index.js';
import { openFastSession, helloExchange, HELLO_ENVELOPE_ID, type FastSessionClient } from './fast-session-client.js';
import { findPackageRoot, makeMode, randomSecret } from './targets.js';
import type { ModeInfo } from './case.js';

/**
 * The harness's fast-session client (docs/SPEC.md §10) against a small server written
 * on ring/ and protocol/ (harness/fast-session-server.test-helper.mjs), run as its own
 * process over real /dev/shm segments and a real Unix socket. The fixture is not under
 * test; the reference server is exercised end to end by test/bench-shm.test.ts.
 */

const root = findPackageRoot();
const helper = join(root, 'harness', 'fast-session-server.test-helper.mjs');

beforeAll(() => {
  if (existsSync(join(root, 'dist', 'ring', 'session.js')) && existsSync(join(root, 'dist', 'protocol', 'fast-session.js'))) return;
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
}, 120_000);

interface Fixture {
  readonly socketPath: string;
  readonly mode: ModeInfo;
  readonly hellos: Record<string, unknown>[];
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startFixture(framing: string, auth: 'none' | 'hmac-json' | 'hmac-v2', extra: string[] = []): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-fast-client-'));
  dirs.push(dir);
  const socketPath = join(dir, 's.sock');
  const secret = randomSecret();
  const mode = makeMode(framing, auth, secret);
  const child = spawn(process.execPath, [helper, socketPath, framing, auth, secret, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const hellos: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`fixture did not start: ${stderr}`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = JSON.parse(out.slice(0, nl)) as { listening?: string; hello?: Record<string, unknown> };
        out = out.slice(nl + 1);
        if (line.listening !== undefined) {
          clearTimeout(timer);
          resolve();
        }
        if (line.hello !== undefined) hellos.push(line.hello);
      }
    });
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code}: ${stderr}`)));
  });
  return {
    socketPath,
    mode,
    hellos,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const bytes = (n: number, seed = 7): Uint8Array => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

function segmentExists(name: string): boolean {
  return existsSync(join('/dev/shm', name));
}

/** The HELLO the fixture saw `index`-th (its stdout line may arrive after the reply). */
async function helloAt(fx: Fixture, index: number): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + 5_000;
  while (fx.hellos.length <= index && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return fx.hellos[index];
}

async function rejection(p: Promise<unknown>): Promise<FastPathError> {
  try {
    await p;
  } catch (err) {
    if (isFastPathError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe.each([
  ['ndjson', 'hmac-json'],
  ['lp32-msgpack', 'hmac-v2'],
  ['lp32-json', 'none'],
] as const)('fast session in %s/%s', (framing, auth) => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await startFixture(framing, auth);
  });
  afterAll(async () => {
    await fx.stop();
  });

  it('sends a HELLO signed like any request of the mode, with the §10.1.1 fields, and unlinks the segments after READY', async () => {
    const seen = fx.hellos.length;
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16, wait: { strategy: 'spin' } });
    try {
      const hello = await helloAt(fx, seen);
      expect(hello).toEqual({
        type: 'HELLO',
        version: 1,
        transport: 'shm',
        requestRing: client.segmentNames?.requestRing,
        responseRing: client.segmentNames?.responseRing,
        capacityBytes: 1 << 16,
        wait: 'spin',
        pid: process.pid,
      });
      expect(client.segmentNames?.requestRing).toMatch(new RegExp(`^fastpath-${process.pid}-.+-req$`));
      expect(segmentExists(client.segmentNames?.requestRing ?? '')).toBe(false);
      expect(segmentExists(client.segmentNames?.responseRing ?? '')).toBe(false);
      expect(client.ready).toMatchObject({ accepted: true, type: 'READY', transport: 'shm', version: 1 });
      const params = bytes(64);
      const r = client.requestSync?.('echo', params, 2_000);
      expect(r?.type).toBe('response');
      expect(Buffer.from(r?.result ?? []).equals(Buffer.from(params))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('opens a uds session: lp32 FastMessages on the same socket', async () => {
    const seen = fx.hellos.length;
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'uds' });
    try {
      expect(await helloAt(fx, seen)).toEqual({ type: 'HELLO', version: 1, transport: 'uds', pid: process.pid });
      expect(client.requestSync).toBeUndefined();
      expect(client.segmentNames).toBeUndefined();
      const params = bytes(100);
      const r = await client.request('echo', params);
      expect(Buffer.from(r.result ?? []).equals(Buffer.from(params))).toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('fast session over shm', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await startFixture('lp32-msgpack', 'hmac-v2');
  });
  afterAll(async () => {
    await fx.stop();
  });

  it.each(['spin', 'futex', 'spin-then-futex'] as const)('answers blocking requests in order with wait %s, results copied out of the ring', async (strategy) => {
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16, wait: { strategy } });
    try {
      const results: Uint8Array[] = [];
      for (let i = 0; i < 200; i++) {
        const r = client.requestSync?.('echo', bytes(64, i), 2_000);
        expect(r?.error).toBeUndefined();
        results.push(r?.result ?? new Uint8Array(0));
      }
      // Every result stays intact after the ring has wrapped many times.
      results.forEach((res, i) => expect(Buffer.from(res).equals(Buffer.from(bytes(64, i)))).toBe(true));
      expect(client.requestSync?.('sink', bytes(1000), 2_000).result?.byteLength).toBe(0);
      const unknown = client.requestSync?.('nope', bytes(1), 2_000);
      expect(unknown?.error?.code).toBe('UNKNOWN_METHOD');
    } finally {
      await client.close();
    }
  });

  it('moves messages larger than a record (chunked) and larger than the ring, both ways', async () => {
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 20, wait: { strategy: 'spin' } });
    try {
      for (const size of [600_000, 3 * 1024 * 1024]) {
        const params = bytes(size, size);
        const r = client.requestSync?.('echo', params, 10_000);
        expect(r?.result?.byteLength).toBe(size);
        expect(Buffer.from(r?.result ?? []).equals(Buffer.from(params))).toBe(true);
      }
      const r = await client.request('echo', bytes(3 * 1024 * 1024, 1), 10_000);
      expect(Buffer.from(r.result ?? []).equals(Buffer.from(bytes(3 * 1024 * 1024, 1)))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('serves async requests, notifications and blocking requests on one session, in order', async () => {
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 14 });
    try {
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request('echo', bytes(200, i))));
      many.forEach((r, i) => expect(Buffer.from(r.result ?? []).equals(Buffer.from(bytes(200, i)))).toBe(true));
      // 16 KiB ring: notifications fill it, and are written as the server reads.
      let full = 0;
      for (let i = 0; i < 2_000; i++) if (!client.notify('sink', bytes(64))) full++;
      expect(full).toBeGreaterThan(0);
      await client.drained();
      client.flushSync?.(1_000);
      const r = client.requestSync?.('echo', bytes(8), 2_000);
      expect(Buffer.from(r?.result ?? []).equals(Buffer.from(bytes(8)))).toBe(true);
      // An async request still pending when a blocking one runs gets its response.
      const pending = client.request('echo', bytes(16, 3));
      const sync = client.requestSync?.('echo', bytes(16, 4), 2_000);
      expect(Buffer.from(sync?.result ?? []).equals(Buffer.from(bytes(16, 4)))).toBe(true);
      expect(Buffer.from((await pending).result ?? []).equals(Buffer.from(bytes(16, 3)))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('times out a request the server never answers (FP_TIMEOUT), and the session stays usable', async () => {
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16 });
    try {
      expect(() => client.requestSync?.('hang', bytes(4), 50)).toThrow(expect.objectContaining({ code: 'FP_TIMEOUT' }));
      const err = await rejection(client.request('hang', bytes(4), 50));
      expect(err.code).toBe('FP_TIMEOUT');
      expect(client.requestSync?.('echo', bytes(4), 2_000).result?.byteLength).toBe(4);
    } finally {
      await client.close();
    }
  });

  it('keeps the segment names when asked, and removes them at close', async () => {
    const client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16, keepSegmentNames: true });
    const names = client.segmentNames;
    expect(segmentExists(names?.requestRing ?? '')).toBe(true);
    expect(segmentExists(names?.responseRing ?? '')).toBe(true);
    await client.close();
    expect(segmentExists(names?.requestRing ?? '')).toBe(false);
    expect(segmentExists(names?.responseRing ?? '')).toBe(false);
    expect(client.closed).toBe(true);
    await expect(client.request('echo', bytes(1))).rejects.toMatchObject({ code: 'FP_CLOSED' });
  });

  it('passes helloOverrides through, and reports the refusal of a wrong HELLO with its rings', async () => {
    const ex = await helloExchange({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16, helloOverrides: { capacityBytes: 1 << 17 } });
    try {
      expect(ex.hello.capacityBytes).toBe(1 << 17);
      expect(ex.outcome).toMatchObject({ kind: 'rejected', reason: 'SESSION_REFUSED' });
      expect(ex.reply).toMatchObject({ id: HELLO_ENVELOPE_ID, rejected: true, reason: 'SESSION_REFUSED' });
      expect(ex.pair).toBeDefined();
      // Not READY: the names stay for the caller to inspect and remove.
      expect(segmentExists(ex.pair?.names.requestRing ?? '')).toBe(true);
    } finally {
      ex.socket.destroy();
      ex.pair?.unlink();
      ex.pair?.request.close();
      ex.pair?.response.close();
    }
    const removed = await helloExchange({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16, helloOverrides: { pid: undefined, version: 2 } });
    try {
      expect(removed.hello).not.toHaveProperty('pid');
      expect(removed.outcome).toMatchObject({ kind: 'rejected', reason: 'INVALID_SIGNAL' });
    } finally {
      removed.socket.destroy();
      removed.pair?.unlink();
    }
  });

  it('fails pending and blocking requests when the server dies', async () => {
    const own = await startFixture('ndjson', 'none');
    const client = await openFastSession({ socketPath: own.socketPath, mode: own.mode, transport: 'shm', capacityBytes: 1 << 16, wait: { strategy: 'futex' } });
    try {
      const pending = rejection(client.request('hang', bytes(4), 10_000));
      await own.stop();
      const err = await pending;
      expect(['FP_CLOSED', 'FP_RING_PEER_DEAD']).toContain(err.code);
      expect(client.closed).toBe(true);
      expect(() => client.requestSync?.('echo', bytes(4), 1_000)).toThrow(expect.objectContaining({ code: expect.stringMatching(/FP_CLOSED|FP_RING_PEER_DEAD/) }));
    } finally {
      await client.close();
    }
  });
});

describe('fast session over uds', () => {
  let fx: Fixture;
  let client: FastSessionClient;
  beforeAll(async () => {
    fx = await startFixture('ndjson', 'hmac-json');
    client = await openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'uds' });
  });
  afterAll(async () => {
    await client.close();
    await fx.stop();
  });

  it('moves 10 MiB each way and pipelines requests in order', async () => {
    const big = bytes(10 * 1024 * 1024, 5);
    const r = await client.request('echo', big, 10_000);
    expect(Buffer.from(r.result ?? []).equals(Buffer.from(big))).toBe(true);
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => client.request('echo', bytes(64, i))));
    rs.forEach((x, i) => expect(Buffer.from(x.result ?? []).equals(Buffer.from(bytes(64, i)))).toBe(true));
  });

  it('coalesces notifications, reports backpressure, and a request after them is answered after them', async () => {
    let refused = 0;
    for (let i = 0; i < 50_000; i++) if (!client.notify('sink', bytes(64))) refused++;
    expect(refused).toBeGreaterThan(0);
    await client.drained();
    const r = await client.request('echo', bytes(3), 10_000);
    expect(r.result?.byteLength).toBe(3);
    expect((await client.request('nope', bytes(1))).error?.code).toBe('UNKNOWN_METHOD');
  });

  it.each(['uds', 'shm'] as const)('%s: refuses a message above the session limit before writing it (FP_RING_TOO_LARGE), and goes on', async (transport) => {
    const small = await startFixture('ndjson', 'none', ['--max-message-bytes', '4096']);
    const c = await openFastSession({ socketPath: small.socketPath, mode: small.mode, transport, capacityBytes: 1 << 16 });
    try {
      expect(c.maxMessageBytes).toBe(4096);
      await expect(c.request('echo', bytes(5000))).rejects.toMatchObject({ code: 'FP_RING_TOO_LARGE' });
      expect(() => c.notify('sink', bytes(5000))).toThrow(expect.objectContaining({ code: 'FP_RING_TOO_LARGE' }));
      expect((await c.request('echo', bytes(100))).result?.byteLength).toBe(100);
      expect(c.closed).toBe(false);
    } finally {
      await c.close();
      await small.stop();
    }
  });
});

describe('refused or unanswered HELLOs', () => {
  it.each([
    ['invalid', 'INVALID_SIGNAL', /rejected with INVALID_SIGNAL.*fastSession capability/],
    ['refuse', 'SESSION_REFUSED', /rejected with SESSION_REFUSED: segment refused/],
  ])('--behaviour %s: openFastSession throws FP_SESSION_REFUSED with the reply, and removes its segments', async (behaviour, reason, message) => {
    const fx = await startFixture('lp32-msgpack', 'hmac-v2', ['--behaviour', behaviour]);
    try {
      const before = new Set(listOwnSegments());
      const err = await rejection(openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16 }));
      expect(err.code).toBe('FP_SESSION_REFUSED');
      expect(err.message).toMatch(message);
      expect(err.details).toMatchObject({ kind: 'rejected', reason, reply: { id: HELLO_ENVELOPE_ID, rejected: true, reason } });
      expect(listOwnSegments().filter((n) => !before.has(n))).toEqual([]);
    } finally {
      await fx.stop();
    }
  });

  it('a READY without its fields is not a session (FP_SESSION_REFUSED, kind malformed)', async () => {
    const fx = await startFixture('ndjson', 'none', ['--behaviour', 'malformed']);
    try {
      const err = await rejection(openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'uds' }));
      expect(err.code).toBe('FP_SESSION_REFUSED');
      expect(err.details).toMatchObject({ kind: 'malformed' });
      expect(String(err.details?.problem)).toMatch(/not a READY/);
    } finally {
      await fx.stop();
    }
  });

  it('a server that never answers: FP_TIMEOUT within timeoutMs', async () => {
    const fx = await startFixture('ndjson', 'none', ['--behaviour', 'mute']);
    try {
      const started = performance.now();
      const err = await rejection(openFastSession({ socketPath: fx.socketPath, mode: fx.mode, transport: 'shm', capacityBytes: 1 << 16, timeoutMs: 300 }));
      expect(err.code).toBe('FP_TIMEOUT');
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await fx.stop();
    }
  });

  it('no server: FP_CONNECT_ENOENT; bad options: FP_CONFIG_INVALID', async () => {
    const mode = makeMode('ndjson', 'none', '');
    expect((await rejection(openFastSession({ socketPath: '/nonexistent/fp.sock', mode, transport: 'uds' }))).code).toBe('FP_CONNECT_ENOENT');
    expect((await rejection(openFastSession({ socketPath: '', mode, transport: 'uds' }))).code).toBe('FP_CONFIG_INVALID');
    expect((await rejection(openFastSession({ socketPath: '/x', mode, transport: 'tcp' as 'uds' }))).code).toBe('FP_CONFIG_INVALID');
  });
});

function listOwnSegments(): string[] {
  return readdirSync('/dev/shm').filter((n) => n.startsWith(`fastpath-${process.pid}-`));
}
