import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AUTH_MODES, fpError } from '../protocol/index.js';
import type { Capabilities } from './case.js';
import { CapabilitiesSchema, formatJsonPath } from './target-file.js';

/**
 * Replay files of `fastpath fuzz`: one shrunk counterexample, enough to run exactly it
 * again (`fastpath fuzz --replay FILE`): the target it was found on, the mode, the
 * property, the fast-check seed and path, and the capabilities the arbitrary was
 * built with (the arbitrary depends on them; the same ones rebuild the same input).
 * The counterexample itself is stored as `fc.stringify` text, for people.
 */

/** The `format` field of a replay file. */
export const REPLAY_FORMAT = 'fastpath-fuzz-replay';
/** The version this code writes and reads. */
export const REPLAY_VERSION = 1;

/** A fast-check path: colon-separated non-negative integers (`12:0:3`). */
const pathText = z.string().regex(/^\d+(:\d+)*$/, 'must be a fast-check path like "12:0:3"');
const int32 = z.number().int().min(-0x80000000).max(0xffffffff);

/** Schema of a replay file. */
export const ReplayFileSchema = z.strictObject({
  format: z.literal(REPLAY_FORMAT),
  version: z.literal(REPLAY_VERSION),
  createdAt: z.string(),
  target: z.strictObject({ name: z.string(), source: z.string().min(1) }),
  mode: z.strictObject({ framing: z.string().min(1), auth: z.enum(AUTH_MODES), label: z.string().min(1) }),
  capabilities: CapabilitiesSchema,
  property: z.strictObject({ id: z.string().min(1), section: z.string() }),
  /** The `--seed` of the run that found it. */
  runSeed: int32,
  /** The fast-check seed of this (mode, property). */
  seed: int32,
  /** The fast-check path of the shrunk counterexample. */
  path: pathText,
  /** `fc.stringify` of the counterexample. */
  counterexample: z.string(),
  /** What the counterexample contradicted. */
  problem: z.string(),
  /** How many inputs ran before the failure, and shrink steps after it. */
  inputs: z.number().int().nonnegative(),
  shrinks: z.number().int().nonnegative(),
});
/** A validated replay file. */
export type ReplayFile = z.infer<typeof ReplayFileSchema>;

/** The capabilities of a replay file, as the harness type. */
export function replayCapabilities(replay: ReplayFile): Capabilities {
  return replay.capabilities as Capabilities;
}

/**
 * Validates parsed JSON as a replay file.
 * @throws FastPathError FP_USAGE naming the file and every problem.
 */
export function parseReplayFile(value: unknown, file: string): ReplayFile {
  const res = ReplayFileSchema.safeParse(value);
  if (res.success) return res.data;
  const problems = res.error.issues.slice(0, 5).map((i) => `${formatJsonPath(i.path)}: ${i.message}`);
  const hint =
    typeof value === 'object' && value !== null && (value as { format?: unknown }).format !== REPLAY_FORMAT
      ? ` (not a fastpath fuzz replay file: "format" must be "${REPLAY_FORMAT}")`
      : '';
  throw fpError('FP_USAGE', `--replay ${file}: invalid replay file${hint}: ${problems.join('; ')}; use a file written by fastpath fuzz (reports/fuzz/<time>/replays/*.json)`);
}

/**
 * Reads and validates a replay file.
 * @throws FastPathError FP_USAGE when it is missing, not JSON or not a replay file.
 */
export async function readReplayFile(file: string): Promise<ReplayFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw fpError('FP_USAGE', `--replay ${file}: cannot read the replay file (${code}); pass the path fastpath fuzz printed after "replay:"`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw fpError('FP_USAGE', `--replay ${file}: not JSON (${err instanceof Error ? err.message : String(err)}); the file is corrupt or not a replay file`);
  }
  return parseReplayFile(value, file);
}

/** Writes a replay file (its directory is created). */
export async function writeReplayFile(file: string, replay: ReplayFile): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(ReplayFileSchema.parse(replay), null, 2)}\n`);
}
