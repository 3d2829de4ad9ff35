import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fpError, isMessageId, MAX_MESSAGE_ID_CHARS } from '../protocol/index.js';

/**
 * The ledger of docs/SPEC.md §11: the ordered list of applied `message_id`s, each at
 * most once. A message's position (`seq`, 0-based) never changes.
 *
 * In memory it is a Map (id → seq) and an array (seq → id). With a file it is also the
 * ledger file format of §11.4: one line per entry, the message_id in UTF-8 then `\n`,
 * in application order. {@link MessageLedger.apply} appends the line with a synchronous
 * write on an `O_APPEND` descriptor before it returns, so the caller's reply can only
 * leave after the entry is in the kernel: a `kill -9` of the process right after the
 * reply keeps it (§11.2.6). With `fsync`, `fdatasync` follows each append, which also
 * survives a power loss, at the price of a disk flush per message.
 *
 * One process per ledger file: nothing stops a second process from appending to the
 * same file, and two writers would break the at-most-once rule.
 */

/** Default bound on entries (`maxLedgerEntries`). */
export const DEFAULT_MAX_LEDGER_ENTRIES = 1_000_000;

/** Options of {@link MessageLedger.open}. */
export interface MessageLedgerOptions {
  /** The ledger file; undefined keeps the ledger in memory only (it is then lost with the process). */
  readonly file?: string | undefined;
  /** Hard bound on entries: at the bound {@link MessageLedger.apply} refuses new ids (`'full'`). */
  readonly maxEntries: number;
  /** `fdatasync` after every append (durable against power loss, not only against a crash of the process). */
  readonly fsync: boolean;
  /** Where operator messages go (a discarded torn line, a ledger loaded beyond its bound); default stderr. */
  readonly log?: ((line: string) => void) | undefined;
  /** Test-only (fault `applies-duplicates`): load a file with repeated ids instead of refusing it. */
  readonly allowRepeats?: boolean | undefined;
}

/** The outcome of {@link MessageLedger.apply}: the entry's position, and whether it was already there; `'full'`: not applied. */
export type LedgerApply = { readonly seq: number; readonly duplicate: boolean } | 'full';

/** One page of the ledger, the `ledger` object of a LEDGER reply (§11.3). */
export interface LedgerPage {
  readonly from: number;
  readonly entries: string[];
  /** Position of the next entry when there are more after this page, else null. */
  readonly next: number | null;
  /** Entries in the ledger. */
  readonly total: number;
}

const NEWLINE = 0x0a;

/** Why a ledger line is not a valid message_id, for messages. */
function lineProblem(line: string): string {
  if (line.length === 0) return 'it is empty';
  if (line.length > MAX_MESSAGE_ID_CHARS) return `it is ${line.length} characters long, more than ${MAX_MESSAGE_ID_CHARS}`;
  if (line.endsWith('\r')) return 'it ends with a carriage return (Windows line endings?)';
  if (/[\u0000-\u001f\u007f]/.test(line)) return 'it contains a control character';
  return 'it is not a valid message_id';
}

/** Line number (1-based) of the line starting at `offset` in `bytes`. */
function lineNumberAt(bytes: Buffer, offset: number): number {
  let n = 1;
  for (let i = bytes.indexOf(NEWLINE); i !== -1 && i < offset; i = bytes.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

export class MessageLedger {
  private readonly seqs = new Map<string, number>();
  private readonly ids: string[] = [];
  /** Bytes of the file that hold complete entries (the append position). */
  private fileBytes = 0;
  private fd: number | undefined;
  /** Set when an append failed and the file could not be restored: every later apply throws this. */
  private broken: Error | undefined;
  private closed = false;

  private constructor(
    /** Absolute path of the ledger file, or undefined for a memory-only ledger. */
    readonly file: string | undefined,
    private readonly maxEntries: number,
    private readonly fsync: boolean,
  ) {}

  /**
   * Opens (or creates, mode 0600) the ledger file and loads its entries, or makes a
   * memory-only ledger without `file`. A torn last line (no `\n`: an append interrupted
   * by a crash or a full disk) is truncated away and reported through `log`.
   * @throws FastPathError FP_LEDGER_INVALID when the file cannot be opened for appending
   *   (directory missing, a directory, no permission), cannot be read, or holds a line
   *   that is not a valid message_id or repeats an earlier one (with its line number).
   * @throws FastPathError FP_CONFIG_INVALID for a bad `maxEntries`.
   */
  static open(options: MessageLedgerOptions): MessageLedger {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw fpError('FP_CONFIG_INVALID', `maxLedgerEntries must be a whole number of at least 1, got ${String(options.maxEntries)}`);
    }
    if (options.file === undefined) return new MessageLedger(undefined, options.maxEntries, options.fsync);
    const file = resolve(options.file);
    const ledger = new MessageLedger(file, options.maxEntries, options.fsync);
    ledger.fd = openForAppend(file, options.fsync);
    try {
      ledger.load(options.log ?? ((line: string) => void process.stderr.write(`${line}\n`)), options.allowRepeats === true);
    } catch (err) {
      ledger.close();
      throw err;
    }
    return ledger;
  }

  /** Reads the file, validates every line, truncates a torn last line. */
  private load(log: (line: string) => void, allowRepeats: boolean): void {
    const file = this.file!;
    const fd = this.fd!;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw fpError('FP_LEDGER_INVALID', `cannot read the ledger file ${file}: ${(err as Error).message}; check its permissions or choose another ledger path`, { file }, err);
    }
    const complete = bytes.lastIndexOf(NEWLINE) + 1;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, complete));
    } catch {
      const bad = firstInvalidUtf8Line(bytes.subarray(0, complete));
      throw fpError(
        'FP_LEDGER_INVALID',
        `ledger file ${file}: line ${bad} is not valid UTF-8, so it is not a message_id: the file is not a fastpath ledger or was damaged; fix or remove that line, or point the server at a new ledger file`,
        { file, line: bad },
      );
    }
    const seqs = this.seqs;
    const ids = this.ids;
    let start = 0;
    for (let lineNo = 1; start < text.length; lineNo++) {
      const end = text.indexOf('\n', start);
      const id = text.slice(start, end);
      start = end + 1;
      if (!isMessageId(id)) {
        throw fpError(
          'FP_LEDGER_INVALID',
          `ledger file ${file}: line ${lineNo} is not a valid message_id (${lineProblem(id)}): the file is not a fastpath ledger or was edited; fix or remove that line, or point the server at a new ledger file`,
          { file, line: lineNo },
        );
      }
      const earlier = seqs.get(id);
      if (earlier !== undefined && !allowRepeats) {
        throw fpError(
          'FP_LEDGER_INVALID',
          `ledger file ${file}: line ${lineNo} repeats the message_id of line ${earlier + 1} (${JSON.stringify(id)}): a ledger holds each message once, so the file was edited or written by a second process; remove the repeated line, or point the server at a new ledger file`,
          { file, line: lineNo },
        );
      }
      if (earlier === undefined) seqs.set(id, ids.length);
      ids.push(id);
    }
    if (complete < bytes.length) {
      // Validated first: a file that is not a ledger is refused untouched.
      const torn = bytes.length - complete;
      try {
        ftruncateSync(fd, complete);
      } catch (err) {
        throw fpError('FP_LEDGER_INVALID', `cannot truncate the torn last line of the ledger file ${file}: ${(err as Error).message}`, { file }, err);
      }
      log(`fastpath ledger: ${file}: discarded a torn last line (${torn} byte${torn === 1 ? '' : 's'} without a newline, line ${lineNumberAt(bytes, complete)}) left by an interrupted append; its message was never acknowledged`);
    }
    this.fileBytes = complete;
    if (ids.length > this.maxEntries) {
      log(`fastpath ledger: ${file} holds ${ids.length} entries, more than maxLedgerEntries ${this.maxEntries}: every entry is kept and new messages are refused (RATE_LIMITED)`);
    }
  }

  /** Entries in the ledger. */
  get size(): number {
    return this.ids.length;
  }

  /** The position of `id`, or undefined when it was never applied. */
  seqOf(id: string): number | undefined {
    return this.seqs.get(id);
  }

  /**
   * Applies `id` (a valid message_id, §11.1.1) once: appends it (to the file first,
   * synchronously) and returns its position, or returns its original position with
   * `duplicate: true` when it is already in the ledger. At `maxEntries` a new id is
   * refused with `'full'` and nothing is written; duplicates are still answered.
   * @throws FastPathError FP_LEDGER_INVALID when the append fails (disk full, I/O error):
   *   the id is then not applied, and the file is restored to its last complete entry.
   */
  apply(id: string): LedgerApply {
    const seq = this.seqs.get(id);
    if (seq !== undefined) return { seq, duplicate: true };
    if (this.ids.length >= this.maxEntries) return 'full';
    if (this.closed) throw fpError('FP_LEDGER_INVALID', `the ledger${this.file === undefined ? '' : ` ${this.file}`} is closed: the message was not applied`);
    if (this.fd !== undefined) this.append(id);
    const newSeq = this.ids.length;
    this.ids.push(id);
    this.seqs.set(id, newSeq);
    return { seq: newSeq, duplicate: false };
  }

  /**
   * Test-only (fault `applies-duplicates`): appends `id` even when it is already in the
   * ledger, as a server without deduplication would. Never use it otherwise.
   */
  applyAgain(id: string): LedgerApply {
    const seq = this.seqs.get(id);
    if (seq === undefined) return this.apply(id);
    if (this.ids.length >= this.maxEntries) return 'full';
    if (this.fd !== undefined) this.append(id);
    this.ids.push(id);
    return { seq: this.ids.length - 1, duplicate: false };
  }

  /** Writes `id\n` at the end of the file (and fdatasyncs it with `fsync`). */
  private append(id: string): void {
    if (this.broken !== undefined) throw this.broken;
    const fd = this.fd!;
    const line = Buffer.from(`${id}\n`, 'utf8');
    let written = 0;
    try {
      while (written < line.length) written += writeSync(fd, line, written, line.length - written);
      if (this.fsync) fdatasyncSync(fd);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      // Take back a partial line, so that the next append starts on a line of its own.
      try {
        if (written > 0) ftruncateSync(fd, this.fileBytes);
      } catch (truncateErr) {
        this.broken = fpError(
          'FP_LEDGER_INVALID',
          `the ledger file ${this.file} has a partial last line that could not be removed (${(truncateErr as Error).message}): restart the server (it discards the torn line at start)`,
          { file: this.file },
          truncateErr,
        );
      }
      throw fpError('FP_LEDGER_INVALID', `appending to the ledger file ${this.file} failed (${why}): the message was not applied; free disk space or check the file`, { file: this.file }, err);
    }
    this.fileBytes += line.length;
  }

  /** Up to `limit` entries from position `from`, in application order (§11.3). */
  page(from: number, limit: number): LedgerPage {
    const total = this.ids.length;
    const entries = from >= total ? [] : this.ids.slice(from, from + limit);
    const end = from + entries.length;
    return { from, entries, next: end < total ? end : null, total };
  }

  /** Closes the file; the in-memory entries stay readable, apply() refuses new ones. Idempotent. */
  close(): void {
    this.closed = true;
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/** Opens `file` for appending (created 0600), explaining every errno a user can fix. */
function openForAppend(file: string, fsync: boolean): number {
  // Refuse what is not a regular file before opening it: opening a FIFO for writing would block.
  let existing: Stats | undefined;
  try {
    existing = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw openError(file, err as NodeJS.ErrnoException);
  }
  if (existing?.isDirectory() === true) {
    throw fpError('FP_LEDGER_INVALID', `the ledger path ${file} is a directory: give a file path inside it (e.g. ${file}/ledger.log)`, { file });
  }
  if (existing !== undefined && !existing.isFile()) {
    throw fpError('FP_LEDGER_INVALID', `the ledger path ${file} exists and is not a regular file: choose a file path (e.g. ${dirname(file)}/ledger.log)`, { file });
  }
  let fd: number;
  let created = false;
  try {
    // 'ax' first: tells us whether we created the file (its directory entry then needs an fsync too).
    fd = openSync(file, 'ax', 0o600);
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw openError(file, err as NodeJS.ErrnoException);
    try {
      fd = openSync(file, 'a', 0o600);
    } catch (err2) {
      throw openError(file, err2 as NodeJS.ErrnoException);
    }
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fpError('FP_LEDGER_INVALID', `the ledger path ${file} is not a regular file: choose a file path (e.g. ${dirname(file)}/ledger.log)`, { file });
    if (created && fsync) syncDirectory(dirname(file));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** fsyncs a directory so a newly created file's entry survives a power loss. */
function syncDirectory(dir: string): void {
  let dirFd: number | undefined;
  try {
    dirFd = openSync(dir, 'r');
    fsyncSync(dirFd);
  } catch {
    // Some filesystems refuse fsync on a directory; the file's own data is still synced per append.
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}

function openError(file: string, err: NodeJS.ErrnoException): Error {
  const dir = dirname(file);
  switch (err.code) {
    case 'ENOENT':
      return fpError('FP_LEDGER_INVALID', `cannot create the ledger file ${file}: the directory ${dir} does not exist; create it or choose another ledger path`, { file }, err);
    case 'ENOTDIR':
      return fpError('FP_LEDGER_INVALID', `cannot create the ledger file ${file}: a part of ${dir} is not a directory; choose another ledger path`, { file }, err);
    case 'EISDIR':
      return fpError('FP_LEDGER_INVALID', `the ledger path ${file} is a directory: give a file path inside it (e.g. ${file}/ledger.log)`, { file }, err);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return fpError('FP_LEDGER_INVALID', `the ledger file ${file} is not writable (${err.code}): fix the permissions of the file or of ${dir}, or choose another ledger path`, { file }, err);
    default:
      return fpError('FP_LEDGER_INVALID', `cannot open the ledger file ${file}: ${err.code ?? ''} ${err.message}`, { file }, err);
  }
}

/** 1-based number of the first line of `bytes` that is not valid UTF-8. */
function firstInvalidUtf8Line(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let lineNo = 1; start < bytes.length; lineNo++) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.length;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return lineNo;
    }
    start = end + 1;
  }
  return 1;
}
