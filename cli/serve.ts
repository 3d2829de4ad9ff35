import { type Command, CommanderError, Option } from 'commander';
import { z } from 'zod';
import { AUTH_MODES, type AuthMode, DEFAULT_MAX_FRAME_BYTES, type FramingSpec, fpError, isFastPathError, parseFraming } from '../protocol/index.js';
import { WAIT_STRATEGIES, type WaitStrategy } from '../ring/index.js';
import { DEFAULT_HTTP_HOST, DEFAULT_MAX_FAST_MESSAGE_BYTES, DEFAULT_SHM_WAIT, FastPathServer, type ServerConfig } from '../reference-impl/index.js';
import { DEFAULT_MAX_LEDGER_ENTRIES } from '../reference-impl/message-ledger.js';

/**
 * `fastpath serve`: runs the reference server (docs/SPEC.md) until SIGTERM/SIGINT.
 * The option parsing is exported so fixtures/broken/serve-broken.ts reuses it.
 */

/** Raw option values as commander hands them over (strings; validated by {@link serveOptionsToConfig}). */
const RawServeOptionsSchema = z.object({
  socket: z.string().optional(),
  framing: z.string().optional(),
  auth: z.string().optional(),
  secret: z.string().optional(),
  maxFrameBytes: z.string().optional(),
  maxConnections: z.string().optional(),
  ttlMs: z.string().optional(),
  maxLeverage: z.string().optional(),
  maxNotional: z.string().optional(),
  maxOpenOrders: z.string().optional(),
  rateBurst: z.string().optional(),
  ratePerSec: z.string().optional(),
  idleTimeoutMs: z.string().optional(),
  shutdownDeadlineMs: z.string().optional(),
  timestampWindowMs: z.string().optional(),
  httpPort: z.string().optional(),
  httpHost: z.string().optional(),
  fastSessions: z.boolean().optional(),
  shmSessions: z.boolean().optional(),
  shmWait: z.string().optional(),
  maxFastMessageBytes: z.string().optional(),
  ledger: z.string().optional(),
  ledgerFsync: z.boolean().optional(),
  maxLedgerEntries: z.string().optional(),
});
export type RawServeOptions = z.infer<typeof RawServeOptionsSchema>;

/** Default framing and auth when neither flag nor environment gives one. */
export const DEFAULT_SERVE_FRAMING = 'ndjson';
export const DEFAULT_SERVE_AUTH: AuthMode = 'hmac-v2';

/** Numeric flags: flag name, whether integer, inclusive range, default. */
const NUMERIC_FLAGS = {
  maxFrameBytes: { flag: '--max-frame-bytes', integer: true, min: 1, max: 1_073_741_824, example: '1048576' },
  maxConnections: { flag: '--max-connections', integer: true, min: 1, max: 100_000, example: '10' },
  ttlMs: { flag: '--ttl-ms', integer: true, min: 1, max: 86_400_000, example: '5000' },
  maxLeverage: { flag: '--max-leverage', integer: false, min: 0, max: 1_000_000, example: '20' },
  maxNotional: { flag: '--max-notional', integer: false, min: 0, max: 1e15, example: '1000000' },
  maxOpenOrders: { flag: '--max-open-orders', integer: true, min: 0, max: 10_000_000, example: '100' },
  rateBurst: { flag: '--rate-burst', integer: true, min: 1, max: 1_000_000_000, example: '100' },
  ratePerSec: { flag: '--rate-per-sec', integer: false, min: 0, max: 1_000_000_000, example: '50' },
  idleTimeoutMs: { flag: '--idle-timeout-ms', integer: true, min: 0, max: 86_400_000, example: '30000' },
  shutdownDeadlineMs: { flag: '--shutdown-deadline-ms', integer: true, min: 0, max: 600_000, example: '5000' },
  timestampWindowMs: { flag: '--timestamp-window-ms', integer: true, min: 0, max: 86_400_000, example: '30000' },
  httpPort: { flag: '--http-port', integer: true, min: 1, max: 65_535, example: '8080' },
  maxFastMessageBytes: { flag: '--max-fast-message-bytes', integer: true, min: 1, max: 1_073_741_824, example: '67108864' },
  maxLedgerEntries: { flag: '--max-ledger-entries', integer: true, min: 1, max: 100_000_000, example: '1000000' },
} as const;
type NumericFlag = keyof typeof NUMERIC_FLAGS;

/** Flags whose minimum is exclusive (must be > min). */
const EXCLUSIVE_MIN: ReadonlySet<NumericFlag> = new Set<NumericFlag>(['maxLeverage', 'maxNotional', 'ratePerSec']);

/** Adds the serve flags (with FASTPATH_* environment fallbacks) to `cmd`. */
export function addServeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--socket <path>', 'Unix socket path to listen on').env('FASTPATH_SOCKET'))
    .addOption(
      new Option('--framing <name>', `framing: ndjson, lp32-json, lp32-msgpack or lp:<2|4>:<be|le>:<body|frame>:<hex|->:<json|msgpack> (default ${DEFAULT_SERVE_FRAMING})`).env(
        'FASTPATH_FRAMING',
      ),
    )
    .addOption(new Option('--auth <mode>', `auth mode: ${AUTH_MODES.join(', ')} (default ${DEFAULT_SERVE_AUTH})`).env('FASTPATH_AUTH'))
    .addOption(new Option('--secret <secret>', 'HMAC secret for hmac modes (prefer the environment: argv is visible to other users)').env('FASTPATH_SECRET'))
    .option('--max-frame-bytes <n>', `largest accepted frame body (default ${DEFAULT_MAX_FRAME_BYTES})`)
    .option('--max-connections <n>', 'simultaneous connections (default 10)')
    .option('--ttl-ms <n>', 'life of a PREPARE without CONFIRM/ABORT (default 5000)')
    .option('--max-leverage <n>', 'risk limit on PREPARE leverage (default 20)')
    .option('--max-notional <n>', 'risk limit on qty × price (default 1000000)')
    .option('--max-open-orders <n>', 'risk limit on open PREPAREd signals (default 100)')
    .option('--rate-burst <n>', 'per-connection token bucket size (with --rate-per-sec; default: no rate limit)')
    .option('--rate-per-sec <n>', 'per-connection token refill per second (with --rate-burst)')
    .option('--idle-timeout-ms <n>', 'close connections silent this long, 0 = never (default 30000)')
    .option('--shutdown-deadline-ms <n>', 'SIGTERM drain deadline (default 5000)')
    .option('--timestamp-window-ms <n>', 'hmac-v2 accepted clock skew (default 30000)')
    .option(
      '--http-port <n>',
      'also serve the signal endpoint over HTTP on this TCP port (1-65535): POST /signal with one request envelope as JSON, reply as JSON (default: no HTTP)',
    )
    .option('--http-host <host>', `address the --http-port listener binds (default ${DEFAULT_HTTP_HOST}, loopback only; another address exposes the endpoint to the network)`)
    .option(
      '--no-fast-sessions',
      'do not offer fast sessions (docs/SPEC.md §10): a HELLO is then an unknown signal (INVALID_SIGNAL); default: offered, over shared memory (shm) or the socket (uds)',
    )
    .option('--no-shm-sessions', 'refuse shared-memory fast sessions with SESSION_REFUSED (clients fall back to uds sessions on the socket); default: accepted')
    .option(
      '--shm-wait <strategy>',
      `how the server waits on a session's request ring: spin (lowest latency, one busy core per session), futex (sleeps until woken), spin-then-futex (spins ~50 µs, then sleeps) (default ${DEFAULT_SHM_WAIT})`,
    )
    .option('--max-fast-message-bytes <n>', `largest FastMessage accepted or sent in a fast session, 1 to 1073741824 (default ${DEFAULT_MAX_FAST_MESSAGE_BYTES}, 64 MiB)`)
    .option(
      '--ledger <file>',
      'message ledger file (docs/SPEC.md §11): each applied MESSAGE id is appended before its reply, so deduplication survives restarts and kill -9; created if missing, its directory must exist (default: the ledger is in memory only and forgotten on restart)',
    )
    .option('--ledger-fsync', 'fdatasync the ledger file after every append: also durable against power loss, at one disk flush per MESSAGE (needs --ledger)')
    .option('--max-ledger-entries <n>', `ledger size bound, 1 to 100000000; when full, new MESSAGEs are refused with RATE_LIMITED, duplicates still answered (default ${DEFAULT_MAX_LEDGER_ENTRIES})`);
}

function numericFlag(name: NumericFlag, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const spec = NUMERIC_FLAGS[name];
  const text = raw.trim();
  const pattern = spec.integer ? /^\d+$/ : /^\d+(\.\d+)?$/;
  const kind = spec.integer ? 'a whole number' : 'a number';
  const lower = EXCLUSIVE_MIN.has(name) ? `above ${spec.min}` : `from ${spec.min}`;
  const range = `${lower} to ${spec.max}`;
  if (!pattern.test(text)) {
    throw fpError('FP_USAGE', `${spec.flag} must be ${kind} ${range}, got "${raw}": e.g. ${spec.flag} ${spec.example}`);
  }
  const value = Number(text);
  const tooLow = EXCLUSIVE_MIN.has(name) ? value <= spec.min : value < spec.min;
  if (tooLow || value > spec.max) {
    throw fpError('FP_USAGE', `${spec.flag} must be ${range}, got ${text}: e.g. ${spec.flag} ${spec.example}`);
  }
  return value;
}

/**
 * Validates serve options (commander values, with `env` fallbacks for socket,
 * framing, auth and secret) into a {@link ServerConfig}.
 * @throws FastPathError FP_USAGE saying which flag is wrong and how to fix it.
 */
export function serveOptionsToConfig(options: unknown, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = RawServeOptionsSchema.safeParse(options);
  if (!parsed.success) throw fpError('FP_USAGE', `invalid serve options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const raw = parsed.data;
  const socketPath = raw.socket ?? env.FASTPATH_SOCKET;
  if (socketPath === undefined || socketPath.length === 0) {
    throw fpError('FP_USAGE', 'no socket path: pass --socket PATH (e.g. --socket /tmp/fastpath.sock) or set FASTPATH_SOCKET');
  }
  const authName = raw.auth ?? env.FASTPATH_AUTH ?? DEFAULT_SERVE_AUTH;
  if (!(AUTH_MODES as readonly string[]).includes(authName)) {
    throw fpError('FP_USAGE', `--auth must be one of ${AUTH_MODES.join(', ')}, got "${authName}"`);
  }
  const auth = authName as AuthMode;
  const secret = raw.secret ?? env.FASTPATH_SECRET ?? '';
  if (auth !== 'none' && secret.length === 0) {
    throw fpError('FP_USAGE', `--auth ${auth} needs a secret: set FASTPATH_SECRET (or pass --secret S), or use --auth none on a single-user socket`);
  }
  const maxFrameBytes = numericFlag('maxFrameBytes', raw.maxFrameBytes) ?? DEFAULT_MAX_FRAME_BYTES;
  const framingName = raw.framing ?? env.FASTPATH_FRAMING ?? DEFAULT_SERVE_FRAMING;
  let framing: FramingSpec;
  try {
    framing = parseFraming(framingName, maxFrameBytes);
  } catch (err) {
    throw fpError('FP_USAGE', `--framing: ${isFastPathError(err) ? err.message : String(err)}`);
  }
  const rateBurst = numericFlag('rateBurst', raw.rateBurst);
  const ratePerSec = numericFlag('ratePerSec', raw.ratePerSec);
  if ((rateBurst === undefined) !== (ratePerSec === undefined)) {
    throw fpError('FP_USAGE', '--rate-burst and --rate-per-sec go together: pass both to enable the per-connection rate limit, or neither');
  }
  const httpPort = numericFlag('httpPort', raw.httpPort);
  let httpHost: string | undefined;
  if (raw.httpHost !== undefined) {
    httpHost = raw.httpHost.trim();
    if (httpHost.length === 0) throw fpError('FP_USAGE', `--http-host must be a host name or address, got "${raw.httpHost}": e.g. --http-host ${DEFAULT_HTTP_HOST}`);
    if (httpPort === undefined) {
      throw fpError('FP_USAGE', '--http-host needs --http-port: pass --http-port N (e.g. --http-port 8080) to enable the HTTP endpoint, or drop --http-host');
    }
  }
  let shmWait: WaitStrategy | undefined;
  if (raw.shmWait !== undefined) {
    const name = raw.shmWait.trim();
    if (!(WAIT_STRATEGIES as readonly string[]).includes(name)) {
      throw fpError('FP_USAGE', `--shm-wait must be one of ${WAIT_STRATEGIES.join(', ')}, got "${raw.shmWait}": e.g. --shm-wait ${DEFAULT_SHM_WAIT}`);
    }
    shmWait = name as WaitStrategy;
  }
  let ledgerFile: string | undefined;
  if (raw.ledger !== undefined) {
    ledgerFile = raw.ledger.trim();
    if (ledgerFile.length === 0) throw fpError('FP_USAGE', `--ledger must be a file path, got "${raw.ledger}": e.g. --ledger /var/lib/fastpath/ledger.log`);
  }
  if (raw.ledgerFsync === true && ledgerFile === undefined) {
    throw fpError('FP_USAGE', '--ledger-fsync needs --ledger FILE: a memory-only ledger has nothing to sync; pass --ledger FILE or drop --ledger-fsync');
  }
  const config: ServerConfig = {
    socketPath,
    framing,
    auth,
    secret,
    maxConnections: numericFlag('maxConnections', raw.maxConnections),
    prepareTtlMs: numericFlag('ttlMs', raw.ttlMs),
    risk: {
      maxLeverage: numericFlag('maxLeverage', raw.maxLeverage),
      maxNotional: numericFlag('maxNotional', raw.maxNotional),
      maxOpenOrders: numericFlag('maxOpenOrders', raw.maxOpenOrders),
    },
    rateLimit: rateBurst === undefined || ratePerSec === undefined ? undefined : { burst: rateBurst, refillPerSec: ratePerSec },
    idleTimeoutMs: numericFlag('idleTimeoutMs', raw.idleTimeoutMs),
    shutdownDeadlineMs: numericFlag('shutdownDeadlineMs', raw.shutdownDeadlineMs),
    timestampWindowMs: numericFlag('timestampWindowMs', raw.timestampWindowMs),
    fastSessions: raw.fastSessions,
    shmSessions: raw.shmSessions,
    shmWait,
    maxFastMessageBytes: numericFlag('maxFastMessageBytes', raw.maxFastMessageBytes),
    ledgerFsync: raw.ledgerFsync === true,
    maxLedgerEntries: numericFlag('maxLedgerEntries', raw.maxLedgerEntries),
  };
  if (ledgerFile !== undefined) config.ledgerFile = ledgerFile;
  if (httpPort !== undefined) config.httpPort = httpPort;
  if (httpHost !== undefined) config.httpHost = httpHost;
  return config;
}

/** Options of {@link runServe}. */
export interface RunServeOptions {
  /** Prefix of the ready line; default `fastpath serve`. */
  readonly commandName?: string;
  /** Appended inside the parentheses of the ready line (e.g. `, fault confirm-twice`). */
  readonly readyDetail?: string;
  /** Where the ready line goes; default process.stdout. */
  readonly out?: { write(line: string): unknown };
  /** Install SIGTERM/SIGINT handlers that stop the server and exit 0; default true. */
  readonly handleSignals?: boolean;
  /** Called to exit after a signal; default process.exit. */
  readonly exit?: (code: number) => void;
}

/**
 * Starts a server, prints `<command>: listening on <path> (framing <name>, auth <mode>)`
 * (and, with `httpPort`, a second line `<command>: HTTP endpoint POST <url>`),
 * and on SIGTERM or SIGINT stops it within its shutdown deadline and exits 0
 * (a second signal exits at once). Resolves with the running server.
 */
export async function runServe(config: ServerConfig, options: RunServeOptions = {}): Promise<FastPathServer> {
  const server = new FastPathServer(config);
  // Handlers go in before the socket accepts anything: a supervisor may send
  // SIGTERM as soon as it sees the server ready (§7.4), and Node's default
  // action would kill the process without draining or unlinking the socket.
  let started: Promise<void> | undefined;
  if (options.handleSignals ?? true) {
    const exit = options.exit ?? ((code: number) => process.exit(code));
    let signalled = false;
    const onSignal = (): void => {
      if (signalled) {
        exit(0);
        return;
      }
      signalled = true;
      const ready = started ?? Promise.resolve();
      ready
        .catch(() => undefined)
        .then(() => server.stop(server.config.shutdownDeadlineMs))
        .then(
          () => exit(0),
          () => exit(1),
        );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  started = server.start();
  await started;
  const out = options.out ?? process.stdout;
  const name = options.commandName ?? 'fastpath serve';
  out.write(`${name}: listening on ${server.socketPath} (framing ${server.framingName}, auth ${server.auth}${options.readyDetail ?? ''})\n`);
  const http = server.httpAddress;
  if (http !== undefined) out.write(`${name}: HTTP endpoint POST ${http.url} (JSON request envelope, JSON reply)\n`);
  return server;
}

/** Registers `fastpath serve` on `program`. Usage errors are thrown as FastPathError FP_USAGE. */
export function registerServe(program: Command): Command {
  const cmd = program
    .command('serve')
    .description('run the fastpath reference server (docs/SPEC.md) on a Unix socket until SIGTERM or SIGINT');
  addServeOptions(cmd);
  cmd.action(async (opts: unknown) => {
    await runServe(serveOptionsToConfig(opts));
  });
  return cmd;
}

/** Error codes a serve-like program reports as usage errors (exit 2). */
const SERVE_USAGE_CODES: ReadonlySet<string> = new Set(['FP_USAGE', 'FP_CONFIG_INVALID', 'FP_FRAMING_INVALID', 'FP_AUTH_INVALID', 'FP_SOCKET_IN_USE', 'FP_SOCKET_NOT_SOCKET', 'FP_LEDGER_INVALID']);

/**
 * Parses `argv` with a serve-like program (the test fixtures that wrap `fastpath serve`)
 * and turns what it throws into an exit status: 2 for usage errors, 1 for other
 * start-up errors, each with one line on stderr prefixed by the program's name.
 */
export async function runServeProgram(program: Command, argv: readonly string[]): Promise<number> {
  const name = program.name();
  try {
    await program.parseAsync(argv as string[], { from: 'node' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
    if (isFastPathError(err)) {
      process.stderr.write(`${name}: ${err.message}\n`);
      return SERVE_USAGE_CODES.has(err.code) ? 2 : 1;
    }
    process.stderr.write(`${name}: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
