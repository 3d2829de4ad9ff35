import { chmodSync, lstatSync, realpathSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The Node raw echo floor of `fastpath bench` (DESIGN "Measurement model"): a process
 * that writes back exactly the bytes it reads on each connection, with no framing,
 * parsing or protocol work, so a request frame comes back unchanged as its reply.
 * Started like a target (a SpawnPlan, see launcher.ts):
 *
 *   node dist/harness/echo-peer.js --socket PATH
 *
 * Socket file mode 0600; a stale socket file is removed, a live one refused (exit 1);
 * SIGTERM / SIGINT close the listener, remove the socket file and exit 0.
 * Imports only Node built-ins, so the peer starts fast and does nothing else.
 */

/** The script of the Node echo peer, relative to the package root. */
export const NODE_ECHO_PEER_ENTRY = join('dist', 'harness', 'echo-peer.js');

/** How to start the Node echo peer: `args` hold the launcher's `{socket}` placeholder. */
export function nodeEchoPeerCommand(packageRoot: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [join(packageRoot, NODE_ECHO_PEER_ENTRY), '--socket', '{socket}'] };
}

function echo(socket: Socket): void {
  socket.on('data', (chunk: Buffer) => {
    // Backpressure: a client that does not read stops being read from.
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
}

/** Resolves true when something accepts connections on `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to remove it`);
  if (await isLive(path)) throw new Error(`socket ${path} is in use by a live server`);
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // The socket file is born 0600: no window in which others could connect.
    const previous = process.umask(0o177);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
    process.umask(previous);
  });
}

async function main(argv: readonly string[]): Promise<void> {
  const at = argv.indexOf('--socket');
  const path = at === -1 ? undefined : argv[at + 1];
  if (path === undefined || path === '' || argv.length !== 2) {
    throw new Error('usage: echo-peer.js --socket PATH');
  }
  await removeStaleSocket(path);
  const server = createServer(echo);
  await listen(server, path);
  chmodSync(path, 0o600);
  server.on('error', (err) => {
    process.stderr.write(`echo-peer: ${err.message}\n`);
    stop(1);
  });
  const stop = (code: number): void => {
    server.close();
    try {
      unlinkSync(path);
    } catch {
      // already removed
    }
    process.exit(code);
  };
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));
}

/** True when this module is the script Node was started with (possibly through a symlink). */
function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`echo-peer: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
