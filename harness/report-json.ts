import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Level, Verdict } from './case.js';
import { renderJunit } from './report-junit.js';
import type { CaseResult, ConformanceResult, ModeResult, Summary } from './runner.js';

/**
 * Report files (DESIGN "Reports are generated data"): `index.json`, one JSON per
 * case with its wire log, and `junit.xml`, in one directory per run.
 */

/** One row of `index.json`'s `cases`. */
export interface IndexCase {
  readonly id: string;
  readonly mode: string;
  readonly section: string;
  readonly level: Level;
  readonly verdict: Verdict;
  readonly durationMs: number;
  readonly expected: string;
  readonly actual: string;
  /** The case's own JSON, relative to the report directory. */
  readonly file: string;
}

/** Per-mode part of `index.json`. */
export interface IndexMode {
  readonly label: string;
  readonly framing: string;
  readonly auth: string;
  readonly startedAt: string;
  readonly summary: Summary;
  readonly startError?: string;
  readonly target?: string;
}

/** The content of `index.json`. */
export interface IndexJson {
  readonly target: ConformanceResult['target'];
  readonly modes: readonly IndexMode[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly strict: boolean;
  readonly summary: Summary;
  readonly runtime: ConformanceResult['runtime'];
  readonly cases: readonly IndexCase[];
}

/** Where a written report lives. */
export interface WrittenReport {
  readonly dir: string;
  readonly indexPath: string;
  readonly junitPath: string;
  readonly caseFiles: number;
}

/** A mode label as a directory name: `lp32-json/hmac-v2` → `lp32-json_hmac-v2`. */
export function sanitizeForPath(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Path of a case's JSON relative to the report directory. */
export function caseFileRelative(mode: string, id: string): string {
  return join('cases', sanitizeForPath(mode), `${sanitizeForPath(id)}.json`);
}

/** `reports/conform/<ISO timestamp with : replaced>` under `cwd`. */
export function defaultReportDir(now: Date = new Date(), cwd: string = process.cwd()): string {
  return resolve(cwd, 'reports', 'conform', now.toISOString().replace(/:/g, '-'));
}

function indexMode(m: ModeResult): IndexMode {
  return {
    label: m.label,
    framing: m.framing,
    auth: m.auth,
    startedAt: m.startedAt,
    summary: m.summary,
    ...(m.startError === undefined ? {} : { startError: m.startError }),
    ...(m.targetDescription === undefined ? {} : { target: m.targetDescription }),
  };
}

function indexCase(c: CaseResult): IndexCase {
  return {
    id: c.id,
    mode: c.mode,
    section: c.section,
    level: c.level,
    verdict: c.verdict,
    durationMs: c.durationMs,
    expected: c.expected,
    actual: c.actual,
    file: caseFileRelative(c.mode, c.id),
  };
}

/** Builds the content of `index.json` (no wire logs: those are in the per-case files). */
export function buildIndex(result: ConformanceResult): IndexJson {
  return {
    target: result.target,
    modes: result.modes.map(indexMode),
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    strict: result.strict,
    summary: result.summary,
    runtime: result.runtime,
    cases: result.modes.flatMap((m) => m.cases.map(indexCase)),
  };
}

/** JSON of one case: the index row plus description, wire log and (on failure) stderr tail. */
export function buildCaseJson(c: CaseResult): Record<string, unknown> {
  return {
    id: c.id,
    mode: c.mode,
    section: c.section,
    level: c.level,
    description: c.description,
    verdict: c.verdict,
    startedAt: c.startedAt,
    durationMs: c.durationMs,
    expected: c.expected,
    actual: c.actual,
    wireLog: c.wireLog,
    wireLogDropped: c.wireLogDropped,
    ...(c.stderrTail === undefined ? {} : { stderrTail: c.stderrTail }),
  };
}

/**
 * Writes `index.json`, `cases/<mode>/<id>.json` and `junit.xml` into `dir` (created).
 * @returns where they are.
 */
export async function writeReports(result: ConformanceResult, dir: string): Promise<WrittenReport> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  let caseFiles = 0;
  for (const mode of result.modes) {
    if (mode.cases.length === 0) continue;
    await mkdir(join(root, 'cases', sanitizeForPath(mode.label)), { recursive: true });
    for (const c of mode.cases) {
      await writeFile(join(root, caseFileRelative(c.mode, c.id)), `${JSON.stringify(buildCaseJson(c), null, 2)}\n`);
      caseFiles++;
    }
  }
  const indexPath = join(root, 'index.json');
  await writeFile(indexPath, `${JSON.stringify(buildIndex(result), null, 2)}\n`);
  const junitPath = join(root, 'junit.xml');
  await writeFile(junitPath, renderJunit(result, { caseFile: (c) => join(root, caseFileRelative(c.mode, c.id)) }));
  return { dir: root, indexPath, junitPath, caseFiles };
}

/** A path for messages: relative to the working directory when that is shorter. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && rel.length < path.length ? rel : path;
}
