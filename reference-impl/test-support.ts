import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { FastPathServer, type ServerConfig } from './server.js';

/**
 * Helpers for the reference implementation's own tests (not part of the public API).
 */

/** A socket path in a fresh temp dir, removed when the test finishes. */
export function tempSocketPath(prefix = 'fp-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 's.sock');
}

/**
 * Starts a server on a temp socket with `defaults` under `config`. The caller
 * registers `server.stop(0)` as teardown on the next line.
 */
export async function startTestServer(defaults: Partial<ServerConfig>, config: Partial<ServerConfig> = {}): Promise<FastPathServer> {
  const server = new FastPathServer({
    socketPath: config.socketPath ?? tempSocketPath(),
    framing: 'ndjson',
    auth: 'none',
    secret: '',
    ...defaults,
    ...config,
  });
  await server.start();
  return server;
}

/**
 * Leaves a socket file at `path` with nobody listening, as a crashed server does
 * (§2.3): bind a server, keep a hard link to its socket file, close it (which
 * unlinks the path), then put the link back.
 */
export async function makeStaleSocketFile(path: string): Promise<void> {
  const crashed = net.createServer();
  await new Promise<void>((resolve) => crashed.listen(path, resolve));
  linkSync(path, `${path}.tmp`);
  await new Promise<void>((resolve) => crashed.close(() => resolve()));
  renameSync(`${path}.tmp`, path);
}

/** The child script imports dist/reference-impl/queue.js: build it when missing or older than the sources. */
export function ensureQueueDistBuilt(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const compiled = join(root, 'dist', 'reference-impl', 'queue.js');
  const newest = Math.max(...['queue.ts', 'queue-record.ts'].map((f) => statSync(join(root, 'reference-impl', f)).mtimeMs));
  if (existsSync(compiled) && statSync(compiled).mtimeMs >= newest) return;
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(compiled)) throw new Error('dist/reference-impl/queue.js is missing: run npx tsc -p tsconfig.json');
}
