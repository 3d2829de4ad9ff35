/**
 * The suite proves itself (DESIGN "Conformance model"): the reference and an
 * independent server written from the spec alone get zero FAILED; each
 * deliberately broken server is FAILED by exactly the cases that check the rule it
 * breaks, and by no others. Each run is the built CLI (`fastpath conform`) in its
 * own process, as a user or CI calls it; its report stays in reports/self-test/.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');

interface IndexCase {
  id: string;
  mode: string;
  verdict: string;
  actual: string;
  file?: string;
}
interface IndexJson {
  summary: Record<string, number>;
  modes: { label: string; startError?: string }[];
  cases: IndexCase[];
}

/**
 * At most this many target modes run at once across the concurrent tests below.
 * Cases wait on timers more than they compute, but two cores cannot serve 22 mode
 * runs at once: replies then take seconds and timing cases fail for load, not for
 * the server. A plain `fastpath conform` runs 9 modes at once; so does this.
 */
const MODE_SLOTS = 9;
let freeSlots = MODE_SLOTS;
const waiting: { need: number; wake: () => void }[] = [];

async function withModeSlots<T>(need: number, fn: () => Promise<T>): Promise<T> {
  if (freeSlots >= need && waiting.length === 0) freeSlots -= need;
  else await new Promise<void>((wake) => waiting.push({ need, wake })); // the releaser reserves our slots
  try {
    return await fn();
  } finally {
    freeSlots += need;
    while (waiting.length > 0 && waiting[0]!.need <= freeSlots) {
      const next = waiting.shift()!;
      freeSlots -= next.need;
      next.wake();
    }
  }
}

/** Runs `fastpath conform --target TARGET` (using `modes` slots) and returns its exit code and index.json. */
async function conform(name: string, target: string, modes: number): Promise<{ exitCode: number | undefined; index: IndexJson; stderr: string }> {
  return withModeSlots(modes, () => conformNow(name, target));
}

async function conformNow(name: string, target: string): Promise<{ exitCode: number | undefined; index: IndexJson; stderr: string }> {
  const reportDir = join(root, 'reports/self-test', name);
  rmSync(reportDir, { recursive: true, force: true });
  const run = await execa(process.execPath, [cli, 'conform', '--target', target, '--report-dir', reportDir], {
    cwd: root,
    reject: false,
    timeout: 300_000,
  });
  let index: IndexJson;
  try {
    index = JSON.parse(readFileSync(join(reportDir, 'index.json'), 'utf8')) as IndexJson;
  } catch {
    throw new Error(`fastpath conform --target ${target} wrote no index.json (exit ${String(run.exitCode)}): ${run.stderr}`);
  }
  return { exitCode: run.exitCode, index, stderr: run.stderr };
}

function failedIds(index: IndexJson): string[] {
  return [...new Set(index.cases.filter((c) => c.verdict === 'FAILED').map((c) => c.id))].sort();
}

/** The failures with what was observed, so an unexpected one explains itself. */
function explain(index: IndexJson): string {
  const lines = index.modes.filter((m) => m.startError).map((m) => `${m.label}: target did not start: ${m.startError}`);
  for (const c of index.cases) if (c.verdict === 'FAILED') lines.push(`${c.mode} ${c.id}: ${c.actual} (${c.file ?? ''})`);
  return lines.join('\n');
}

/** Which cases must flag each broken server (fixtures/broken/README.md), in its mode ndjson/hmac-v2. */
const EXPECTED_FAILURES: Record<string, string[]> = {
  'confirm-twice': [
    'signals.abort.after-confirm',
    'signals.confirm.executes-once',
    'signals.confirm.idempotent',
    'signals.prepare.duplicate-of-confirmed',
    'signals.ttl.terminal-states-remembered',
  ],
  'drops-in-flight': [
    'lifecycle.shutdown.drains-in-flight',
    'lifecycle.shutdown.late-request-refused',
    'lifecycle.shutdown.socket-removed-at-once',
  ],
  'keeps-socket-file': [
    'lifecycle.shutdown.deadline-forces-close',
    'lifecycle.shutdown.exit-zero-within-deadline',
    'lifecycle.shutdown.sigterm-as-soon-as-ready',
    'lifecycle.shutdown.socket-removed-at-once',
  ],
  'no-max-frame': [
    'framing.oversize.ndjson-without-newline',
  ],
  'no-replay-check': [
    'auth.hmac-v2.replay-across-connections',
    'auth.hmac-v2.replay-other-signal',
    'auth.hmac-v2.replay-same-frame',
    'auth.order.replay-before-schema',
    'replies.kept-open.after-replay-detected',
  ],
  'signature-prefix': [
    'auth.signature.65-hex-digits',
    'auth.signature.trailing-characters',
    'auth.signature.trailing-newline',
    'auth.signature.trailing-whitespace',
  ],
  'silent-connection-limit': [
    'lifecycle.max-connections.reply-then-close',
  ],
  'unframed-close-reply': [
    'framing.oversize.ndjson-without-newline',
    'lifecycle.max-connections.reply-then-close',
    'lifecycle.shutdown.late-request-refused',
  ],
  'unordered-replies': [
    'lifecycle.shutdown.late-request-refused',
    'replies.order.slow-request-first',
  ],
  'volatile-ledger': [
    'msg.durable.after-sigkill',
  ],
  'applies-duplicates': [
    'msg.duplicate.across-connections',
    'msg.duplicate.same-connection',
    'msg.durable.after-sigkill',
  ],
  'world-writable-socket': [
    'transport.socket-file.mode-0600',
    'transport.stale-socket.restart-after-sigkill',
  ],
};

describe.concurrent('the suite proves itself', () => {
  it('the reference server gets zero FAILED in every framing preset and auth mode', { timeout: 600_000 }, async () => {
    const { exitCode, index } = await conform('reference', 'reference', 9);
    expect(index.modes.length).toBe(9);
    expect(explain(index)).toBe('');
    expect(index.summary.FAILED).toBe(0);
    expect(index.summary.OK).toBeGreaterThanOrEqual(9 * 80);
    expect(exitCode).toBe(0);
  });

  it('an independent Python server written from the spec alone gets zero FAILED', { timeout: 600_000 }, async () => {
    const { exitCode, index } = await conform('independent', join(root, 'fixtures/independent/target.json'), 3);
    expect(explain(index)).toBe('');
    expect(index.summary.OK).toBeGreaterThanOrEqual(3 * 80);
    expect(exitCode).toBe(0);
  });

  for (const [fault, expected] of Object.entries(EXPECTED_FAILURES)) {
    it(`the broken server "${fault}" is FAILED by exactly ${expected.join(', ')}`, { timeout: 600_000 }, async () => {
      const { exitCode, index } = await conform(`broken-${fault}`, join(root, `fixtures/broken/${fault}.json`), 1);
      expect(failedIds(index), explain(index)).toEqual([...expected].sort());
      expect(exitCode).toBe(1);
    });
  }
});
