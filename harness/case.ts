import type { AuthMode, FramingSpec, SignOptions } from '../protocol/index.js';

/**
 * The conformance case model (docs/SPEC.md; DESIGN "Conformance model"): a case is
 * data plus a run function. Ids are literal and stable, never positional.
 */

export type Level = 'MUST' | 'SHOULD' | 'MAY';

/** Heavy cases (see {@link ConformanceCase.heavy}) running at once in one run, across modes. */
export const HEAVY_CASES_AT_ONCE = 3;

/** OK; NON-STRICT (a SHOULD missed); FAILED (a MUST missed); INFORMATIONAL; UNIMPLEMENTED (capability not declared). */
export type Verdict = 'OK' | 'NON-STRICT' | 'FAILED' | 'INFORMATIONAL' | 'UNIMPLEMENTED';
export const VERDICTS: readonly Verdict[] = ['OK', 'NON-STRICT', 'FAILED', 'INFORMATIONAL', 'UNIMPLEMENTED'];

/** Capabilities a target may declare (docs/SPEC.md §8). */
export interface Capabilities {
  status?: boolean;
  delay?: boolean;
  /** The suite may SIGTERM, SIGKILL and restart the process (spawned targets only). */
  lifecycle?: boolean;
  maxConnections?: number;
  maxFrameBytes?: number;
  prepareTtlMs?: number;
  risk?: { maxLeverage: number; maxNotional: number; maxOpenOrders: number };
  rateLimit?: { burst: number; refillPerSec: number };
  idleTimeoutMs?: number;
  shutdownDeadlineMs?: number;
  timestampWindowMs?: number;
  /** Fast sessions of docs/SPEC.md §10: HELLO answered with READY, FastMessages over shared-memory rings or the socket. */
  fastSession?: boolean;
  /**
   * Messages and the ledger of docs/SPEC.md §11. `true`: MESSAGE and LEDGER are
   * implemented and the ledger persists across restarts of the process. `{ file }`:
   * MESSAGE is implemented and the target appends each applied message_id and `\n`
   * to `file` (§11.4), which the suite reads instead of sending LEDGER; `file` may
   * start with `{dir}` (the spawned target's temp dir).
   */
  ledger?: boolean | { file: string };
}
export type CapabilityName = keyof Capabilities;

/** One framing + auth combination a target is run in. */
export interface ModeInfo {
  readonly framing: FramingSpec;
  /** Preset name or `lp:` string. */
  readonly framingName: string;
  readonly auth: AuthMode;
  readonly secret: string;
  /** `${framingName}/${auth}`, used to group reports. */
  readonly label: string;
}

/** A reply classified into spec vocabulary by the target's dialect. */
export type ClassifiedReply =
  | { readonly kind: 'accepted'; readonly id: unknown; readonly fields: Record<string, unknown> }
  | { readonly kind: 'rejected'; readonly id: unknown; readonly reason: string; readonly error?: string; readonly fields: Record<string, unknown> }
  /** Decoded, but neither a valid acceptance nor a valid rejection (e.g. both flags, unknown reason). */
  | { readonly kind: 'malformed'; readonly problem: string; readonly fields: unknown };

/** What reading the next reply observed. A timeout or a close is an event, never a runner crash. */
export type ReadEvent =
  | { readonly type: 'reply'; readonly reply: ClassifiedReply; readonly raw: Buffer; readonly atMs: number }
  /** A complete frame whose body could not be decoded (bad JSON/MessagePack). */
  | { readonly type: 'undecodable'; readonly raw: Buffer; readonly error: string; readonly atMs: number }
  /** The peer closed. `partialBytes` > 0 when it closed in the middle of a reply frame. */
  | { readonly type: 'closed'; readonly partialBytes: number; readonly atMs: number }
  | { readonly type: 'timeout'; readonly afterMs: number };

/** A client connection with a wire log, opened by {@link CaseContext.connect}. */
export interface WireConnection {
  /** Writes bytes (logged as 'out'); resolves when handed to the kernel or buffered. */
  write(bytes: Uint8Array | string): Promise<void>;
  /** Writes `bytes` in chunks of `chunkBytes` with `gapMs` between them. */
  writeChunked(bytes: Uint8Array, chunkBytes: number, gapMs: number): Promise<void>;
  /** Encodes `signal` for the mode and dialect and writes it. */
  send(signal: Record<string, unknown>, opts?: SignOptions): Promise<void>;
  /** Next reply frame, in order, or `closed`/`timeout` (default timeout from the runner). */
  read(timeoutMs?: number): Promise<ReadEvent>;
  /** `send` then `read`. */
  request(signal: Record<string, unknown>, opts?: SignOptions, timeoutMs?: number): Promise<ReadEvent>;
  /** Resolves 'closed' when the peer has closed (after draining any replies still unread into the log), or 'timeout'. */
  waitClose(timeoutMs: number): Promise<'closed' | 'timeout'>;
  /** Stop/resume reading from the socket (a client that does not read, §7.2). */
  pauseReading(): void;
  resumeReading(): void;
  /** Bytes written but still buffered in this process (not yet accepted by the kernel). */
  readonly pendingWriteBytes: number;
  /** Ends our side (FIN) and waits briefly; `destroy` resets at once. */
  end(): Promise<void>;
  destroy(): void;
  readonly closed: boolean;
}

/** Control over the process under test. Methods that need a spawned target throw when it is attached. */
export interface TargetControl {
  readonly socketPath: string;
  /** Undefined for attached targets. */
  readonly pid: number | undefined;
  readonly spawned: boolean;
  /** Sends a signal to the target process. */
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit when the process exits within `timeoutMs`, else 'timeout'. */
  waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number } | 'timeout'>;
  /** Starts the target again (same socket path and mode) and waits until it is ready. */
  restart(): Promise<void>;
  /**
   * The spawned target's own temp dir, the value of the `{dir}` placeholder (docs/SPEC.md §8):
   * it holds the socket and survives restarts. Undefined for attached targets.
   */
  readonly dir: string | undefined;
  /**
   * Spawns a second instance on the same socket path, for §2.4; resolves with its exit
   * (or 'timeout' after `timeoutMs`, in which case it is killed).
   */
  spawnSecondInstance(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string } | 'timeout'>;
  /** Resident set size in bytes (from /proc), undefined when unknown. */
  rssBytes(): Promise<number | undefined>;
  /** Number of open file descriptors (from /proc), undefined when unknown. */
  openFds(): Promise<number | undefined>;
  readonly alive: boolean;
}

export interface CaseContext {
  readonly mode: ModeInfo;
  readonly capabilities: Capabilities;
  readonly target: TargetControl;
  /** Opens a fresh connection; the runner closes it after the case. */
  connect(): Promise<WireConnection>;
  /** Tries to connect once: 'connected' (then closed), or the errno code (ENOENT, ECONNREFUSED…). */
  probeConnect(timeoutMs?: number): Promise<'connected' | string>;
  /** Encodes a complete request frame for `signal` in this mode (dialect applied). */
  encode(signal: Record<string, unknown>, opts?: SignOptions): Buffer;
  /** Encodes an arbitrary envelope value in this framing, no signing (for malformed-envelope cases). */
  encodeRaw(value: unknown): Buffer;
  /** Signal builders in spec vocabulary; ids are unique per run. */
  prepare(overrides?: Record<string, unknown>): Record<string, unknown> & { signal_id: string };
  confirm(signalId: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  abort(signalId: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  status(): Record<string, unknown>;
  uniqueId(prefix?: string): string;
  /** Adds a note to the case's wire log. */
  note(text: string): void;
  sleep(ms: number): Promise<void>;
}

/** What a case observed; the runner turns it into a verdict using the case's level. */
export type CaseOutcome =
  | { readonly pass: true; readonly actual: string }
  | { readonly pass: false; readonly actual: string }
  /** Behaviour is reported, not judged (e.g. a MAY, or a measurement). */
  | { readonly informational: true; readonly actual: string };

export interface ConformanceCase {
  /** Literal, stable, dotted: `framing.ndjson.empty-line-ignored`. Never positional. */
  readonly id: string;
  /** docs/SPEC.md section, e.g. '3.2.1'. */
  readonly section: string;
  readonly level: Level;
  readonly description: string;
  /** What a conformant server does, in one sentence (reported as `expected`). */
  readonly expected: string;
  /** Capabilities the case needs; missing ones make it UNIMPLEMENTED. */
  readonly requires?: readonly CapabilityName[];
  /**
   * A finer check after {@link requires}: why the declared capabilities are still not
   * enough for this case (it is then UNIMPLEMENTED with that reason), or undefined. For
   * example a case that sends LEDGER needs `ledger: true`, not the `{ file }` form.
   */
  readonly capabilityGap?: (capabilities: Capabilities) => string | undefined;
  /** Restricts the case to some modes (e.g. ndjson only); it is not listed in the others. */
  readonly appliesTo?: (mode: ModeInfo) => boolean;
  /** Overall budget for run(); past it the case is FAILED with a timeout (default 10 000). */
  readonly timeoutMs?: number;
  /** The case leaves the target stopped or restarted: the runner runs such cases last. */
  readonly disruptive?: boolean;
  /**
   * The case is CPU-heavy on both sides (e.g. 100k requests): the runner runs at most
   * {@link HEAVY_CASES_AT_ONCE} such cases at once across concurrent modes, so their
   * bursts do not starve the timing of every other case on a small machine.
   */
  readonly heavy?: boolean;
  run(ctx: CaseContext): Promise<CaseOutcome>;
}

/** Helper for case files: `pass('3 replies in order')`, `fail('expected …, got …')`. */
export const pass = (actual: string): CaseOutcome => ({ pass: true, actual });
export const fail = (actual: string): CaseOutcome => ({ pass: false, actual });
export const informational = (actual: string): CaseOutcome => ({ informational: true, actual });
