import type { Command } from 'commander';
import { z } from 'zod';
import { fpError } from '../protocol/index.js';
import { collectGarbageSegments, DEFAULT_SEGMENT_PREFIX, isProcessAlive, listSegments, segmentCreatorPid, type SegmentInfo } from '../ring/index.js';

/**
 * `fastpath shm`: the fast-session segments in /dev/shm (docs/SPEC.md §10.2, §10.6.2).
 *
 * - `fastpath shm ls [--prefix P] [--json]` lists them with size, mode, owner and
 *   creator pid, and whether the creator still runs.
 * - `fastpath shm gc [--dry-run] [--prefix P] [--json]` removes the ones whose creator
 *   process no longer exists (ring/gc.ts), keeping segments of live processes, names
 *   without a creator pid and other users' segments.
 *
 * Both print one line per segment and a summary, and exit 0; a bad flag is one line on
 * stderr and exit 2 (FP_USAGE, cli/main.ts).
 */

/** A prefix is a (possibly empty) start of a segment name: `[A-Za-z0-9._-]*`. */
const prefixFlag = z
  .string()
  .max(200, { message: '--prefix must be at most 200 characters' })
  .regex(/^[A-Za-z0-9._-]*$/, { message: '--prefix takes the start of a segment name: letters, digits, ".", "_" and "-" only (e.g. --prefix fastpath-)' });

export const ShmLsOptionsSchema = z.object({ prefix: prefixFlag, json: z.boolean().optional() });
export const ShmGcOptionsSchema = z.object({ prefix: prefixFlag, json: z.boolean().optional(), dryRun: z.boolean().optional() });
/** Validated options of `fastpath shm ls`. */
export type ShmLsOptions = z.infer<typeof ShmLsOptionsSchema>;
/** Validated options of `fastpath shm gc`. */
export type ShmGcOptions = z.infer<typeof ShmGcOptionsSchema>;

function parseWith<T>(schema: z.ZodType<T>, raw: unknown): T {
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  throw fpError('FP_USAGE', res.error.issues[0]?.message ?? 'invalid options');
}

/** Whether the creator named in a segment's name runs: 'alive', 'gone', or 'unknown' (no pid in the name). */
export type CreatorStatus = 'alive' | 'gone' | 'unknown';

/** One segment as `fastpath shm` reports it (also the `--json` shape). */
export interface ShmSegmentRow {
  readonly name: string;
  readonly sizeBytes: number;
  /** Permission bits as four octal digits, e.g. `"0600"`. */
  readonly mode: string;
  readonly ownerUid: number;
  /** The pid in the name (`fastpath-<pid>-…`, §10.6.2), or null. */
  readonly creatorPid: number | null;
  readonly creator: CreatorStatus;
  readonly modifiedAt: string;
}

/** The report row of a segment; `creator` is probed now unless given. */
export function segmentRow(info: SegmentInfo, creator?: CreatorStatus): ShmSegmentRow {
  const pid = segmentCreatorPid(info.name);
  return {
    name: info.name,
    sizeBytes: info.sizeBytes,
    mode: info.mode.toString(8).padStart(4, '0'),
    ownerUid: info.ownerUid,
    creatorPid: pid ?? null,
    creator: creator ?? (pid === undefined ? 'unknown' : isProcessAlive(pid) ? 'alive' : 'gone'),
    modifiedAt: new Date(info.mtimeMs).toISOString(),
  };
}

/** `4194624 bytes (4.0 MiB)`. */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return unit === 'B' ? `${bytes} B` : `${bytes} B (${value.toFixed(1)} ${unit})`;
}

function creatorText(row: ShmSegmentRow): string {
  if (row.creatorPid === null) return 'creator pid unknown (name has no pid)';
  return `creator pid ${row.creatorPid} (${row.creator === 'alive' ? 'running' : 'gone'})`;
}

/** Why gc left a segment in place, in words. */
export function keptReason(row: ShmSegmentRow, uid: number | undefined): string {
  if (row.creatorPid === null) return 'name does not carry a creator pid';
  if (uid !== undefined && row.ownerUid !== uid) return `owned by uid ${row.ownerUid}, not this user`;
  if (row.creator === 'alive') return 'creator is running';
  return 'in use or not removable';
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const total = (rows: readonly ShmSegmentRow[]): number => rows.reduce((sum, r) => sum + r.sizeBytes, 0);

/** The text of `fastpath shm ls`. */
export function formatLs(rows: readonly ShmSegmentRow[], prefix: string): string {
  const where = prefix === '' ? '/dev/shm' : `/dev/shm/${prefix}*`;
  if (rows.length === 0) return `no segments in ${where}\n`;
  const width = Math.max(...rows.map((r) => r.name.length));
  const lines = rows.map((r) => `${r.name.padEnd(width)}  ${formatBytes(r.sizeBytes)}  mode ${r.mode}  uid ${r.ownerUid}  ${creatorText(r)}`);
  const gone = rows.filter((r) => r.creator === 'gone').length;
  lines.push(`${plural(rows.length, 'segment')} in ${where}, ${formatBytes(total(rows))}; ${gone} whose creator is gone (fastpath shm gc removes them)`);
  return `${lines.join('\n')}\n`;
}

/** The text of `fastpath shm gc`. */
export function formatGc(removed: readonly ShmSegmentRow[], kept: readonly ShmSegmentRow[], dryRun: boolean, uid: number | undefined): string {
  const verb = dryRun ? 'would remove' : 'removed';
  const rows = [...removed.map((r) => ({ r, action: verb })), ...kept.map((r) => ({ r, action: 'kept' }))];
  const width = Math.max(0, ...rows.map(({ r }) => r.name.length));
  const actionWidth = Math.max(0, ...rows.map(({ action }) => action.length));
  const lines = rows.map(({ r, action }) => {
    const why = action === 'kept' ? `: ${keptReason(r, uid)}` : '';
    return `${action.padEnd(actionWidth)}  ${r.name.padEnd(width)}  ${formatBytes(r.sizeBytes)}  ${creatorText(r)}${why}`;
  });
  lines.push(`${verb} ${plural(removed.length, 'segment')} (${formatBytes(total(removed))}), kept ${kept.length}${dryRun ? ' (dry run: nothing was removed)' : ''}`);
  return `${lines.join('\n')}\n`;
}

/** The body of `fastpath shm ls`. */
export function shmLsAction(opts: ShmLsOptions): void {
  const rows = listSegments(opts.prefix).map((info) => segmentRow(info));
  process.stdout.write(opts.json === true ? `${JSON.stringify({ prefix: opts.prefix, segments: rows }, null, 2)}\n` : formatLs(rows, opts.prefix));
}

/** The body of `fastpath shm gc`. */
export function shmGcAction(opts: ShmGcOptions): void {
  const dryRun = opts.dryRun === true;
  const result = collectGarbageSegments({ prefix: opts.prefix, dryRun });
  const removed = result.removed.map((info) => segmentRow(info, 'gone'));
  const kept = result.kept.map((info) => segmentRow(info));
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ prefix: opts.prefix, dryRun, removed, kept }, null, 2)}\n`);
  } else {
    process.stdout.write(formatGc(removed, kept, dryRun, process.getuid?.()));
  }
}

/** Registers `fastpath shm ls` and `fastpath shm gc` on `program`. */
export function registerShm(program: Command): Command {
  const shm = program
    .command('shm')
    .description('list or remove the shared-memory segments of fast sessions (/dev/shm/fastpath-*)');
  shm
    .command('ls')
    .description('list fast-session segments with size, mode, owner and creator pid')
    .option('--prefix <prefix>', `only segments whose names start with this ('' for all)`, DEFAULT_SEGMENT_PREFIX)
    .option('--json', 'print JSON instead of text')
    .action((raw: unknown) => shmLsAction(parseWith(ShmLsOptionsSchema, raw)));
  shm
    .command('gc')
    .description('remove segments whose creator process no longer exists (docs/SPEC.md §10.6.2)')
    .option('--dry-run', 'only say what would be removed')
    .option('--prefix <prefix>', 'only segments whose names start with this', DEFAULT_SEGMENT_PREFIX)
    .option('--json', 'print JSON instead of text')
    .action((raw: unknown) => shmGcAction(parseWith(ShmGcOptionsSchema, raw)));
  return shm;
}
