import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it, onTestFinished } from 'vitest';
import { isFastPathError } from '../protocol/index.js';
import { FastPathClient } from '../reference-impl/index.js';
import { addServeOptions, runServe, serveOptionsToConfig } from './serve.js';

/** Parses argv with the serve flags only (no action), returning commander's option values. */
function parseFlags(args: string[], env: NodeJS.ProcessEnv = {}): unknown {
  const saved = { ...process.env };
  for (const key of ['FASTPATH_SOCKET', 'FASTPATH_FRAMING', 'FASTPATH_AUTH', 'FASTPATH_SECRET']) delete process.env[key];
  Object.assign(process.env, env);
  try {
    const cmd = addServeOptions(new Command('serve').exitOverride());
    cmd.parse(args, { from: 'user' });
    return cmd.opts();
  } finally {
    process.env = saved;
  }
}

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isFastPathError(err) && err.code).toBe('FP_USAGE');
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('fastpath serve options', () => {
  it('maps every flag onto the server configuration', () => {
    const config = serveOptionsToConfig(
      parseFlags([
        '--socket', '/tmp/a.sock', '--framing', 'lp32-msgpack', '--auth', 'hmac-json', '--secret', 's3',
        '--max-frame-bytes', '4096', '--max-connections', '3', '--ttl-ms', '700', '--max-leverage', '12.5',
        '--max-notional', '5000', '--max-open-orders', '7', '--rate-burst', '9', '--rate-per-sec', '0.5',
        '--idle-timeout-ms', '0', '--shutdown-deadline-ms', '250', '--timestamp-window-ms', '1000',
      ]),
      {},
    );
    expect(config).toMatchObject({
      socketPath: '/tmp/a.sock',
      framing: { kind: 'lp', codec: 'msgpack', maxFrameBytes: 4096 },
      auth: 'hmac-json',
      secret: 's3',
      maxConnections: 3,
      prepareTtlMs: 700,
      risk: { maxLeverage: 12.5, maxNotional: 5000, maxOpenOrders: 7 },
      rateLimit: { burst: 9, refillPerSec: 0.5 },
      idleTimeoutMs: 0,
      shutdownDeadlineMs: 250,
      timestampWindowMs: 1000,
    });
  });

  it('falls back to FASTPATH_SOCKET, FASTPATH_FRAMING, FASTPATH_AUTH and FASTPATH_SECRET', () => {
    const env = { FASTPATH_SOCKET: '/tmp/e.sock', FASTPATH_FRAMING: 'lp32-json', FASTPATH_AUTH: 'hmac-v2', FASTPATH_SECRET: 'from-env' };
    const config = serveOptionsToConfig(parseFlags([], env), env);
    expect(config).toMatchObject({ socketPath: '/tmp/e.sock', framing: { kind: 'lp', codec: 'json' }, auth: 'hmac-v2', secret: 'from-env' });
    expect(config.rateLimit).toBeUndefined();
  });

  it('says how to fix a missing socket path or secret', () => {
    expect(usageError(() => serveOptionsToConfig(parseFlags([]), {}))).toMatch(/--socket PATH .* FASTPATH_SOCKET/);
    expect(usageError(() => serveOptionsToConfig(parseFlags(['--socket', '/tmp/x.sock', '--auth', 'hmac-json']), {}))).toMatch(/needs a secret: set FASTPATH_SECRET/);
  });

  it('says which numeric flag is wrong, what it must be, and gives an example', () => {
    const base = ['--socket', '/tmp/x.sock', '--auth', 'none'];
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--max-connections', 'ten']), {}))).toBe(
      '--max-connections must be a whole number from 1 to 100000, got "ten": e.g. --max-connections 10',
    );
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--ttl-ms', '0']), {}))).toMatch(/^--ttl-ms must be from 1 to/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--max-leverage', '0']), {}))).toMatch(/^--max-leverage must be above 0/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--max-frame-bytes', '1.5']), {}))).toMatch(/whole number/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--idle-timeout-ms', '-1']), {}))).toMatch(/--idle-timeout-ms/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--rate-burst', '5']), {}))).toMatch(/go together/);
  });

  it('rejects an unknown framing or auth mode with the accepted values', () => {
    const base = ['--socket', '/tmp/x.sock', '--auth', 'none'];
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--framing', 'xml']), {}))).toMatch(/^--framing: unknown framing "xml"/);
    expect(usageError(() => serveOptionsToConfig(parseFlags(['--socket', '/tmp/x.sock', '--auth', 'basic']), {}))).toMatch(/none, hmac-json, hmac-v2/);
  });

  it('maps --http-port and --http-host, and refuses bad values with a fix', () => {
    const base = ['--socket', '/tmp/x.sock', '--auth', 'none'];
    expect(serveOptionsToConfig(parseFlags(base), {})).not.toHaveProperty('httpPort');
    expect(serveOptionsToConfig(parseFlags([...base, '--http-port', '8080']), {})).toMatchObject({ httpPort: 8080 });
    expect(serveOptionsToConfig(parseFlags([...base, '--http-port', '65535', '--http-host', '::1']), {})).toMatchObject({ httpPort: 65535, httpHost: '::1' });
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--http-port', '0']), {}))).toBe('--http-port must be from 1 to 65535, got 0: e.g. --http-port 8080');
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--http-port', '65536']), {}))).toMatch(/^--http-port must be from 1 to 65535/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--http-port', 'http']), {}))).toMatch(/^--http-port must be a whole number from 1 to 65535, got "http"/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--http-host', '127.0.0.1']), {}))).toMatch(/--http-host needs --http-port: pass --http-port N/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--http-port', '8080', '--http-host', ' ']), {}))).toMatch(/--http-host must be a host name or address/);
  });

  it('maps --ledger, --ledger-fsync and --max-ledger-entries, and refuses bad values with a fix (§11)', () => {
    const base = ['--socket', '/tmp/x.sock', '--auth', 'none'];
    const plain = serveOptionsToConfig(parseFlags(base), {});
    expect(plain).not.toHaveProperty('ledgerFile');
    expect(plain).toMatchObject({ ledgerFsync: false, maxLedgerEntries: undefined });
    expect(serveOptionsToConfig(parseFlags([...base, '--ledger', '/var/tmp/l.log']), {})).toMatchObject({ ledgerFile: '/var/tmp/l.log', ledgerFsync: false });
    expect(serveOptionsToConfig(parseFlags([...base, '--ledger', 'l.log', '--ledger-fsync', '--max-ledger-entries', '5']), {})).toMatchObject({
      ledgerFile: 'l.log',
      ledgerFsync: true,
      maxLedgerEntries: 5,
    });
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--ledger', ' ']), {}))).toMatch(/^--ledger must be a file path, got " ": e\.g\. --ledger /);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--ledger-fsync']), {}))).toMatch(/^--ledger-fsync needs --ledger FILE/);
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--max-ledger-entries', '0']), {}))).toBe(
      '--max-ledger-entries must be from 1 to 100000000, got 0: e.g. --max-ledger-entries 1000000',
    );
    expect(usageError(() => serveOptionsToConfig(parseFlags([...base, '--max-ledger-entries', 'many']), {}))).toMatch(/^--max-ledger-entries must be a whole number/);
    const help = addServeOptions(new Command('serve')).helpInformation();
    expect(help).toMatch(/--ledger <file>\s+message ledger file/);
    expect(help).toMatch(/--ledger-fsync\s+fdatasync the ledger file/);
    expect(help).toMatch(/--max-ledger-entries <n>/);
  });

  it('runServe with a ledger file in a missing directory fails with FP_LEDGER_INVALID naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-serve-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const config = serveOptionsToConfig({ socket: join(dir, 's.sock'), framing: 'ndjson', auth: 'none', ledger: join(dir, 'nope', 'l.log') }, {});
    const err = await runServe(config, { handleSignals: false, out: { write: () => undefined } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFastPathError(err) && err.code).toBe('FP_LEDGER_INVALID');
    expect((err as Error).message).toContain(`${join(dir, 'nope')} does not exist`);
  });

  it('documents the HTTP flags in --help', () => {
    const help = addServeOptions(new Command('serve')).helpInformation();
    expect(help).toMatch(/--http-port <n>\s+also serve the signal endpoint over HTTP/);
    expect(help).toMatch(/--http-host <host>\s+address the --http-port listener binds \(default\s+127\.0\.0\.1/);
  });

  it('runServe prints the HTTP endpoint line when --http-port is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-serve-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 's.sock');
    const lines: string[] = [];
    // Port 0 is refused by the flag; the configuration accepts it (any free port).
    const config = { ...serveOptionsToConfig({ socket: socketPath, framing: 'ndjson', auth: 'none' }, {}), httpPort: 0 };
    const server = await runServe(config, { handleSignals: false, out: { write: (line: string) => lines.push(line) } });
    onTestFinished(() => server.stop(0));
    const port = server.httpAddress!.port;
    expect(lines).toEqual([
      `fastpath serve: listening on ${socketPath} (framing ndjson, auth none)\n`,
      `fastpath serve: HTTP endpoint POST http://127.0.0.1:${port}/signal (JSON request envelope, JSON reply)\n`,
    ]);
    const res = await fetch(server.httpAddress!.url, { method: 'POST', body: JSON.stringify({ signal: { type: 'STATUS' } }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ accepted: true });
  });

  it('runServe prints the ready line once listening and serves requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-serve-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 's.sock');
    const lines: string[] = [];
    const server = await runServe(serveOptionsToConfig({ socket: socketPath, framing: 'ndjson', auth: 'hmac-v2', secret: 'k' }, {}), {
      handleSignals: false,
      out: { write: (line: string) => lines.push(line) },
    });
    onTestFinished(() => server.stop(0));
    expect(lines).toEqual([`fastpath serve: listening on ${socketPath} (framing ndjson, auth hmac-v2)\n`]);
    const client = new FastPathClient({ socketPath, framing: 'ndjson', auth: 'hmac-v2', secret: 'k' });
    await client.connect();
    onTestFinished(() => client.close());
    expect(await client.status()).toMatchObject({ accepted: true });
  });
});
