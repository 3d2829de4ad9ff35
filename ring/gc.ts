import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readRingHeader } from './layout.js';
import { SHM_DIR } from './native.js';
import { DEFAULT_SEGMENT_PREFIX, type SegmentInfo, isProcessAlive, listSegments, openSegment, shmSupport, unlinkSegment } from './segment.js';

/**
 * Garbage collection of fast-session segments (docs/SPEC.md §10.6.2): segments are
 * named `fastpath-<pid>-<n>-req` / `-rsp` after the process that created them; one
 * whose creator no longer exists is garbage (its client died between creating the
 * rings and unlinking them after READY). Servers collect at start; `fastpath shm gc`
 * on demand.
 */

/** `fastpath-<pid>-<rest>`: the creator's pid is the first number after the prefix. */
const CREATOR_PID_PATTERN = /^fastpath-(\d{1,10})-./;

/** Options of {@link collectGarbageSegments}. */
export interface GarbageCollectionOptions {
  /**
   * Only segments whose names start with this are looked at (default `fastpath-`).
   * Names that do not follow `fastpath-<pid>-…` are always kept.
   */
  readonly prefix?: string;
  /** Report what would be removed without removing anything (default false). */
  readonly dryRun?: boolean;
  /**
   * Keep segments modified less than this long ago (default 0: age does not matter).
   * A grace period for callers that share /dev/shm with processes still being set up
   * or torn down.
   */
  readonly minAgeMs?: number;
}

/** What {@link collectGarbageSegments} did. */
export interface GarbageCollectionResult {
  /** Segments removed (with `dryRun`: the ones that would have been removed). */
  readonly removed: SegmentInfo[];
  /** Segments left in place: a live creator, a foreign owner, a name without a pid, too young, or not removable. */
  readonly kept: SegmentInfo[];
}

/** The creator pid a segment name announces, or undefined when the name has none. */
export function segmentCreatorPid(name: string): number | undefined {
  const match = CREATOR_PID_PATTERN.exec(name);
  if (match === null) return undefined;
  const pid = Number(match[1]);
  return pid >= 1 && pid <= 2 ** 31 - 1 ? pid : undefined;
}

/** The creator pid in the ring header, when the segment maps as a valid ring; undefined otherwise. */
function headerCreatorPid(name: string): number | undefined {
  if (!shmSupport().available) return undefined;
  let segment;
  try {
    segment = openSegment(name);
  } catch {
    return undefined; // gone, empty, not ours to open: judge by the name alone
  }
  try {
    const pid = readRingHeader(segment.buffer, { fileBytes: segment.sizeBytes }).creatorPid;
    return pid >= 1 && pid <= 2 ** 31 - 1 ? pid : undefined;
  } catch {
    return undefined; // not a (finished) ring
  } finally {
    segment.close();
  }
}

function removeSegment(name: string): boolean {
  try {
    if (shmSupport().available) unlinkSegment(name);
    else unlinkSync(join(SHM_DIR, name));
    return true;
  } catch (err) {
    // Removed by someone else meanwhile: gone either way.
    return (err as { code?: unknown }).code === 'ENOENT' || (err as { code?: unknown }).code === 'FP_SHM_NOT_FOUND';
  }
}

/**
 * Removes the segments whose creator process no longer exists (§10.6.2): a segment
 * named `fastpath-<pid>-…` is garbage when `<pid>` is not a live process and, when
 * the file maps as a valid ring, neither is the creator pid in its header. Segments
 * of live processes, names that do not follow the pattern and segments owned by
 * another user are kept, never touched.
 *
 * ```ts
 * const { removed } = collectGarbageSegments();
 * if (removed.length > 0) console.error(`removed ${removed.length} stale segment(s)`);
 * ```
 *
 * @throws FastPathError FP_SHM_UNAVAILABLE when /dev/shm cannot be listed (not Linux, no /dev/shm).
 */
export function collectGarbageSegments(options: GarbageCollectionOptions = {}): GarbageCollectionResult {
  const prefix = options.prefix ?? DEFAULT_SEGMENT_PREFIX;
  const minAgeMs = options.minAgeMs ?? 0;
  const uid = process.getuid?.();
  const nowMs = Date.now();
  const removed: SegmentInfo[] = [];
  const kept: SegmentInfo[] = [];
  for (const info of listSegments(prefix)) {
    const namePid = segmentCreatorPid(info.name);
    const garbage =
      namePid !== undefined &&
      (uid === undefined || info.ownerUid === uid) &&
      nowMs - info.mtimeMs >= minAgeMs &&
      !isProcessAlive(namePid) &&
      !isCreatorInHeaderAlive(info.name, namePid);
    if (!garbage) {
      kept.push(info);
    } else if (options.dryRun === true || removeSegment(info.name)) {
      removed.push(info);
    } else {
      kept.push(info);
    }
  }
  return { removed, kept };
}

function isCreatorInHeaderAlive(name: string, namePid: number): boolean {
  const headerPid = headerCreatorPid(name);
  return headerPid !== undefined && headerPid !== namePid && isProcessAlive(headerPid);
}
