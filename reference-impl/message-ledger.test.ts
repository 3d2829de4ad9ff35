import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { MessageLedger, type MessageLedgerOptions } from './message-ledger.js';

/** The message ledger of docs/SPEC.md §11 on real files in a temp dir. */

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-ledger-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a ledger (closed when the test finishes), collecting its log lines in `logs`. */
function open(options: Partial<MessageLedgerOptions> = {}, logs: string[] = []): MessageLedger {
  const ledger = MessageLedger.open({ maxEntries: 1_000, fsync: false, log: (line) => logs.push(line), ...options });
  onTestFinished(() => ledger.close());
  return ledger;
}

function openError(options: Partial<MessageLedgerOptions>): FastPathError {
  try {
    open(options);
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  throw new Error('expected MessageLedger.open to fail');
}

describe('MessageLedger in memory', () => {
  it('applies each id once, at increasing positions, and answers duplicates with the original seq', () => {
    const ledger = open();
    expect(ledger.file).toBeUndefined();
    expect(ledger.apply('a')).toEqual({ seq: 0, duplicate: false });
    expect(ledger.apply('b')).toEqual({ seq: 1, duplicate: false });
    expect(ledger.apply('a')).toEqual({ seq: 0, duplicate: true });
    expect(ledger.apply('c')).toEqual({ seq: 2, duplicate: false });
    expect(ledger.size).toBe(3);
    expect(ledger.seqOf('b')).toBe(1);
    expect(ledger.seqOf('zz')).toBeUndefined();
  });

  it('pages in application order with next and total (§11.3)', () => {
    const ledger = open();
    for (const id of ['m0', 'm1', 'm2', 'm3', 'm4']) ledger.apply(id);
    expect(ledger.page(0, 2)).toEqual({ from: 0, entries: ['m0', 'm1'], next: 2, total: 5 });
    expect(ledger.page(2, 2)).toEqual({ from: 2, entries: ['m2', 'm3'], next: 4, total: 5 });
    expect(ledger.page(4, 2)).toEqual({ from: 4, entries: ['m4'], next: null, total: 5 });
    expect(ledger.page(3, 2)).toEqual({ from: 3, entries: ['m3', 'm4'], next: null, total: 5 });
    expect(ledger.page(5, 10)).toEqual({ from: 5, entries: [], next: null, total: 5 });
    expect(ledger.page(99, 10)).toEqual({ from: 99, entries: [], next: null, total: 5 });
  });

  it('refuses new ids when full but still answers duplicates (§11.2.8)', () => {
    const ledger = open({ maxEntries: 2 });
    ledger.apply('a');
    ledger.apply('b');
    expect(ledger.apply('c')).toBe('full');
    expect(ledger.apply('b')).toEqual({ seq: 1, duplicate: true });
    expect(ledger.size).toBe(2);
  });

  it('refuses new ids once closed, still answering duplicates', () => {
    const ledger = open();
    ledger.apply('a');
    ledger.close();
    expect(ledger.apply('a')).toEqual({ seq: 0, duplicate: true });
    expect(() => ledger.apply('b')).toThrow(/closed/);
  });

  it('rejects a bad maxEntries', () => {
    expect(openError({ maxEntries: 0 }).code).toBe('FP_CONFIG_INVALID');
  });
});

describe('MessageLedger on a file (§11.4)', () => {
  it('creates the file with mode 0600 and appends one line per applied id before apply returns', () => {
    const file = join(tempDir(), 'ledger.log');
    const ledger = open({ file });
    expect(ledger.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    ledger.apply('first');
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    ledger.apply('second ✓ 🚀');
    ledger.apply('first');
    expect(readFileSync(file, 'utf8')).toBe('first\nsecond ✓ 🚀\n');
  });

  it('reopens with the same entries and positions: dedup holds across restarts, new ids come after', () => {
    const file = join(tempDir(), 'ledger.log');
    const first = open({ file });
    for (const id of ['a', 'b', 'c']) first.apply(id);
    first.close();
    const again = open({ file });
    expect(again.size).toBe(3);
    expect(again.apply('b')).toEqual({ seq: 1, duplicate: true });
    expect(again.apply('d')).toEqual({ seq: 3, duplicate: false });
    expect(again.page(0, 10).entries).toEqual(['a', 'b', 'c', 'd']);
    expect(readFileSync(file, 'utf8')).toBe('a\nb\nc\nd\n');
  });

  it('opens an existing empty file as an empty ledger', () => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, '');
    expect(open({ file }).size).toBe(0);
  });

  it('truncates a torn last line (no newline), logs it, and appends on a line of its own', () => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, 'a\nb\nc-torn');
    const logs: string[] = [];
    const ledger = open({ file }, logs);
    expect(ledger.size).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('a\nb\n');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain(`${file}: discarded a torn last line (6 bytes without a newline, line 3)`);
    expect(ledger.apply('c-torn')).toEqual({ seq: 2, duplicate: false });
    expect(readFileSync(file, 'utf8')).toBe('a\nb\nc-torn\n');
  });

  it('truncates a torn line that is the whole file', () => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, 'half');
    const logs: string[] = [];
    expect(open({ file }, logs).size).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(logs[0]).toMatch(/4 bytes without a newline, line 1/);
  });

  it.each([
    ['an empty line', 'a\n\nb\n', 2, /line 2 is not a valid message_id \(it is empty\)/],
    ['a control character', 'a\nb\u0007c\n', 2, /line 2 is not a valid message_id \(it contains a control character\)/],
    ['Windows line endings', 'a\r\nb\r\n', 1, /line 1 is not a valid message_id \(it ends with a carriage return/],
    ['a 129-character line', `a\nb\n${'x'.repeat(129)}\n`, 3, /line 3 is not a valid message_id \(it is 129 characters long, more than 128\)/],
    ['a repeated id', 'a\nb\na\n', 3, /line 3 repeats the message_id of line 1 \("a"\)/],
  ])('refuses a file with %s, naming the line and the fix, and leaves it untouched', (_what, content, line, message) => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, `${content}torn`);
    const err = openError({ file });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`ledger file ${file}: line ${line}`);
    expect(err.message).toMatch(/point the server at a new ledger file/);
    expect(err.details).toMatchObject({ file, line });
    expect(readFileSync(file, 'utf8')).toBe(`${content}torn`);
  });

  it('refuses a line that is not UTF-8, with its line number', () => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, Buffer.concat([Buffer.from('a\nb\n'), Buffer.from([0x63, 0xff, 0x0a])]));
    const err = openError({ file });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toContain(`ledger file ${file}: line 3 is not valid UTF-8`);
  });

  it('loads a file beyond maxEntries without forgetting anything, then refuses new ids', () => {
    const file = join(tempDir(), 'ledger.log');
    writeFileSync(file, 'a\nb\nc\n');
    const logs: string[] = [];
    const ledger = open({ file, maxEntries: 2 }, logs);
    expect(ledger.size).toBe(3);
    expect(logs[0]).toMatch(/holds 3 entries, more than maxLedgerEntries 2/);
    expect(ledger.apply('c')).toEqual({ seq: 2, duplicate: true });
    expect(ledger.apply('d')).toBe('full');
    expect(readFileSync(file, 'utf8')).toBe('a\nb\nc\n');
  });

  it('with fsync appends, syncs and reopens the same way', () => {
    const file = join(tempDir(), 'synced.log');
    const ledger = open({ file, fsync: true });
    expect(ledger.apply('s1')).toEqual({ seq: 0, duplicate: false });
    expect(ledger.apply('s2')).toEqual({ seq: 1, duplicate: false });
    expect(readFileSync(file, 'utf8')).toBe('s1\ns2\n');
    ledger.close();
    expect(open({ file, fsync: true }).apply('s1')).toEqual({ seq: 0, duplicate: true });
  });
});

describe('MessageLedger refuses paths it cannot use, saying how to fix them', () => {
  it('a missing directory', () => {
    const file = join(tempDir(), 'no-such-dir', 'ledger.log');
    const err = openError({ file });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toMatch(/the directory .*no-such-dir does not exist; create it or choose another ledger path/);
    expect(existsSync(file)).toBe(false);
  });

  it('a directory', () => {
    const dir = join(tempDir(), 'a-dir');
    mkdirSync(dir);
    const err = openError({ file: dir });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toContain(`the ledger path ${dir} is a directory: give a file path inside it (e.g. ${dir}/ledger.log)`);
  });

  it('a path below a regular file', () => {
    const notDir = join(tempDir(), 'plain');
    writeFileSync(notDir, 'x');
    const err = openError({ file: join(notDir, 'ledger.log') });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toMatch(/is not a directory; choose another ledger path/);
  });

  it('a FIFO (refused without opening it, which would block)', () => {
    const fifo = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const err = openError({ file: fifo });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toMatch(/exists and is not a regular file/);
  });

  it('a place that is not writable', () => {
    // Root may write anywhere a mode allows nothing; sysfs refuses new files to everyone.
    const unwritable = process.getuid?.() === 0 ? '/sys/fastpath-ledger-test.log' : join(tempDir(), 'ro', 'ledger.log');
    if (process.getuid?.() !== 0) {
      mkdirSync(join(unwritable, '..'));
      chmodSync(join(unwritable, '..'), 0o500);
    }
    const err = openError({ file: unwritable });
    expect(err.code).toBe('FP_LEDGER_INVALID');
    expect(err.message).toMatch(/is not writable \((EACCES|EPERM|EROFS)\): fix the permissions/);
  });
});
