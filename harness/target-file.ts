import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { AUTH_MODES, fpError, parseFraming, SIGNAL_TYPES } from '../protocol/index.js';
import { describeValue, errorMessage, JsonDialectSchema, jsonDialect, moduleDialect, specDialect, type Dialect, type ModuleDialect } from './dialect.js';

/**
 * Target files (docs/SPEC.md §8): a JSON document, or a `.js`/`.mjs` module whose
 * default export is the same object (where the dialect may be code). Validation is
 * strict: unknown keys are errors with a did-you-mean suggestion, and every problem
 * becomes one line naming the file, the JSON path and the fix.
 */

const positiveInt = z.number().int().positive();
const positiveNumber = z.number().positive();

/** Capabilities of §8; every one is optional, a missing one makes the cases that need it UNIMPLEMENTED. */
export const CapabilitiesSchema = z.strictObject({
  status: z.boolean().optional(),
  delay: z.boolean().optional(),
  lifecycle: z.boolean().optional(),
  maxConnections: positiveInt.optional(),
  maxFrameBytes: positiveInt.optional(),
  prepareTtlMs: positiveInt.optional(),
  risk: z
    .strictObject({ maxLeverage: positiveNumber, maxNotional: positiveNumber, maxOpenOrders: positiveInt })
    .optional(),
  rateLimit: z.strictObject({ burst: positiveInt, refillPerSec: positiveNumber }).optional(),
  idleTimeoutMs: positiveInt.optional(),
  shutdownDeadlineMs: positiveInt.optional(),
  timestampWindowMs: positiveInt.optional(),
  fastSession: z.boolean().optional(),
  /** §11: `true` (MESSAGE and LEDGER, persistent), or `{ "file": "<path>" }`, the ledger file the target appends to (may use `{dir}`). */
  ledger: z.union([z.boolean(), z.strictObject({ file: z.string().min(1) })]).optional(),
});

/** How to start the server under test. `args` and `env` values may hold `{socket}`, `{secret}`, `{framing}`, `{auth}`, `{dir}`. */
export const SpawnSchema = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  /** Working directory, relative to the target file. */
  cwd: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  readyTimeoutMs: positiveInt.max(600_000).optional(),
});

const framingName = z.string().superRefine((value, ctx) => {
  try {
    parseFraming(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: errorMessage(err) });
  }
});

/** One framing + auth combination a target supports. */
export const ModeSchema = z.strictObject({ framing: framingName, auth: z.enum(AUTH_MODES) });

const baseShape = {
  /** Editors' JSON-schema hint; ignored. */
  $schema: z.string().optional(),
  name: z.string().min(1).max(100),
  spawn: SpawnSchema.optional(),
  /** Attach to this socket instead of spawning (relative paths resolve against the target file). */
  socket: z.string().min(1).optional(),
  modes: z.array(ModeSchema).min(1).optional(),
  framing: framingName.optional(),
  auth: z.enum(AUTH_MODES).optional(),
  secret: z.string().min(1).optional(),
  capabilities: CapabilitiesSchema,
};

/** Problems across keys (exactly one of spawn/socket; modes vs framing/auth), as messages. */
function structuralProblems(value: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const hasSpawn = value.spawn !== undefined;
  const hasSocket = value.socket !== undefined;
  if (hasSpawn === hasSocket) {
    problems.push(
      hasSpawn
        ? 'both "spawn" and "socket" are given (keep "spawn" to start the server, or "socket" to attach to a running one)'
        : 'neither "spawn" nor "socket" is given (add "spawn": {"command", "args"} to start the server, or "socket": "/path.sock" to attach)',
    );
  }
  if (value.modes !== undefined && (value.framing !== undefined || value.auth !== undefined)) {
    problems.push('both "modes" and a top-level "framing"/"auth" are given (list every combination in "modes", or drop "modes")');
  }
  const ledger = (value.capabilities as { ledger?: unknown } | undefined)?.ledger;
  const ledgerFile = typeof ledger === 'object' && ledger !== null ? (ledger as { file?: unknown }).file : undefined;
  if (!hasSpawn && typeof ledgerFile === 'string' && ledgerFile.includes('{dir}')) {
    problems.push('capabilities.ledger.file uses {dir}, the temp dir of a target the suite spawns, but this target is attached (give an absolute path, or start it with "spawn")');
  }
  return problems;
}

/** A target file in JSON: the schema of docs/SPEC.md §8. */
export const TargetFileSchema = z.strictObject({ ...baseShape, dialect: JsonDialectSchema.optional() }).superRefine((value, ctx) => {
  for (const message of structuralProblems(value)) ctx.addIssue({ code: 'custom', message });
});

/** A validated target description (from JSON, or a module with its dialect split off). */
export type TargetDescription = z.infer<typeof TargetFileSchema>;
/** Capabilities as declared in a target file. */
export type TargetCapabilities = z.infer<typeof CapabilitiesSchema>;
/** A mode as declared in a target file. */
export type TargetMode = z.infer<typeof ModeSchema>;

/** A loaded target file: its description, its dialect, and where it lives. */
export interface LoadedTargetFile {
  readonly description: TargetDescription;
  readonly dialect: Dialect;
  /** Absolute path of the file. */
  readonly file: string;
  /** Directory that relative `cwd` and `socket` resolve against. */
  readonly baseDir: string;
}

/** Known keys of each object in the schema, by JSON path with array indices written `[]`. */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': [...Object.keys(baseShape), 'dialect'],
  spawn: Object.keys(SpawnSchema.shape),
  capabilities: Object.keys(CapabilitiesSchema.shape),
  'capabilities.risk': ['maxLeverage', 'maxNotional', 'maxOpenOrders'],
  'capabilities.rateLimit': ['burst', 'refillPerSec'],
  'capabilities.ledger': ['file'],
  'modes[]': Object.keys(ModeSchema.shape),
  dialect: Object.keys(JsonDialectSchema.shape),
  'dialect.typeNames': SIGNAL_TYPES,
};

/** JSON path for messages: `capabilities.rateLimit.burst`, `modes[1].framing`. */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function schemaPathKey(path: readonly PropertyKey[]): string {
  return formatJsonPath(path).replace(/\[\d+\]/g, '[]');
}

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The closest candidate to `word`, when it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return bestDistance <= limit ? best : undefined;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** How to write a value of a union-typed key, for messages. */
const UNION_EXAMPLES: Record<string, string> = {
  'capabilities.ledger': 'true, or { "file": "{dir}/ledger.log" }',
};

const EXPECTED_TEXT: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  function: 'a function',
};

/** Turns one zod issue into one line: file, JSON path, problem and fix. */
export function formatTargetIssue(issue: z.core.$ZodIssue, file: string, input: unknown): string[] {
  const at = formatJsonPath(issue.path);
  const where = at === '' ? file : `${file} at ${at}`;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = KNOWN_KEYS[schemaPathKey(issue.path)] ?? [];
      const inPart = at === '' ? `in ${file}` : `at ${at} in ${file}`;
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        const fix = guess !== undefined ? `did you mean "${guess}"?` : `remove it; known keys: ${known.join(', ')}`;
        return `unknown key "${key}" ${inPart} (${fix})`;
      });
    }
    case 'invalid_type': {
      const actual = valueAt(input, issue.path);
      const expected = EXPECTED_TEXT[issue.expected] ?? issue.expected;
      if (actual === undefined) {
        const key = issue.path[issue.path.length - 1];
        const parent = formatJsonPath(issue.path.slice(0, -1));
        return [`missing key "${String(key)}" ${parent === '' ? `in ${file}` : `at ${parent} in ${file}`} (add it: ${expected})`];
      }
      let fix = `set it to ${expected}`;
      if (typeof actual === 'string' && (issue.expected === 'number' || issue.expected === 'int') && actual.trim() !== '' && Number.isFinite(Number(actual))) {
        fix = `write ${actual.trim()} without quotes`;
      } else if (typeof actual === 'string' && issue.expected === 'boolean' && (actual === 'true' || actual === 'false')) {
        fix = `write ${actual} without quotes`;
      } else if (issue.expected === 'int' && typeof actual === 'number') {
        fix = `use a whole number, e.g. ${Math.max(1, Math.round(actual))}`;
      }
      return [`${where}: expected ${expected}, got ${describeValue(actual)} (${fix})`];
    }
    case 'too_small': {
      const actual = valueAt(input, issue.path);
      if (issue.origin === 'string') return [`${where}: must not be empty (give a value or remove the key)`];
      if (issue.origin === 'array') return [`${where}: must hold at least ${String(issue.minimum)} entr${Number(issue.minimum) === 1 ? 'y' : 'ies'} (add one or remove the key)`];
      const bound = `${issue.inclusive ? '≥' : '>'} ${String(issue.minimum)}`;
      return [`${where}: must be ${bound}, got ${describeValue(actual)} (use a positive value)`];
    }
    case 'too_big': {
      const actual = valueAt(input, issue.path);
      if (issue.origin === 'string') return [`${where}: longer than ${String(issue.maximum)} characters (shorten it)`];
      return [`${where}: must be ≤ ${String(issue.maximum)}, got ${describeValue(actual)} (use a smaller value)`];
    }
    case 'invalid_value': {
      const actual = valueAt(input, issue.path);
      const options = issue.values.map((v) => String(v));
      const guess = typeof actual === 'string' ? didYouMean(actual, options) : undefined;
      const fix = guess !== undefined ? `did you mean "${guess}"?` : `use one of ${options.map((o) => `"${o}"`).join(', ')}`;
      return [`${where}: ${describeValue(actual)} is not allowed (${fix})`];
    }
    case 'invalid_union': {
      // The branch of the value's own type explains the problem best (e.g. a typo inside the object form).
      const branch = issue.errors.find((issues) => !issues.some((i) => i.path.length === 0 && i.code === 'invalid_type'));
      if (branch !== undefined && branch.length > 0) {
        return branch.flatMap((i) => formatTargetIssue({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue, file, input));
      }
      const expected = [
        ...new Set(issue.errors.flatMap((issues) => issues.filter((i) => i.code === 'invalid_type').map((i) => EXPECTED_TEXT[i.expected] ?? i.expected))),
      ];
      const example = UNION_EXAMPLES[schemaPathKey(issue.path)];
      return [`${where}: expected ${expected.join(' or ')}, got ${describeValue(valueAt(input, issue.path))}${example === undefined ? '' : ` (write ${example})`}`];
    }
    case 'custom':
      return [`${where}: ${issue.message}`];
    default:
      return [`${where}: ${issue.message}`];
  }
}

/** Formats every issue of a failed parse, one line each. */
export function formatTargetIssues(error: z.ZodError, file: string, input: unknown): string[] {
  return error.issues.flatMap((issue) => formatTargetIssue(issue, file, input));
}

/**
 * Validates a target description object.
 * @param file How to name the file in messages (as the user wrote it).
 * @throws FastPathError FP_TARGET_INVALID, one line per problem.
 */
export function parseTargetDescription(value: unknown, file: string): TargetDescription {
  const res = TargetFileSchema.safeParse(value);
  if (res.success) return res.data;
  const lines = formatTargetIssues(res.error, file, value);
  // zod skips refinements once a key is wrong; report the structural problems too.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const message of structuralProblems(value as Record<string, unknown>)) {
      const line = `${file}: ${message}`;
      if (!lines.includes(line)) lines.push(line);
    }
  }
  throw fpError('FP_TARGET_INVALID', lines.join('\n'), { file, issues: lines });
}

const ModuleDialectSchema = z.custom<ModuleDialect>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    ((value as Record<string, unknown>).toTarget === undefined || typeof (value as Record<string, unknown>).toTarget === 'function') &&
    ((value as Record<string, unknown>).classify === undefined || typeof (value as Record<string, unknown>).classify === 'function'),
);

function isCodeDialect(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const rec = value as Record<string, unknown>;
  return typeof rec.toTarget === 'function' || typeof rec.classify === 'function';
}

/**
 * Validates a module's default export: the JSON schema, except that `dialect` may
 * be `{ toTarget?(signal), classify?(reply) }` functions.
 */
export function parseTargetModule(value: unknown, file: string): { description: TargetDescription; dialect: Dialect } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fpError('FP_TARGET_INVALID', `${file}: the default export must be a target object (export default { name, spawn | socket, capabilities })`);
  }
  const rec = value as Record<string, unknown>;
  if (isCodeDialect(rec.dialect)) {
    const { dialect: code, ...rest } = rec;
    const checked = ModuleDialectSchema.safeParse(code);
    if (!checked.success) {
      throw fpError('FP_TARGET_INVALID', `${file} at dialect: toTarget and classify must be functions (or leave one out)`);
    }
    return { description: parseTargetDescription(rest, file), dialect: moduleDialect(checked.data) };
  }
  const description = parseTargetDescription(value, file);
  return { description, dialect: description.dialect === undefined ? specDialect : jsonDialect(description.dialect) };
}

/**
 * Loads a target file: `.json` is parsed and validated; `.js`/`.mjs` is imported and
 * its default export validated. `.ts` is imported only where the runtime can load
 * TypeScript (a loader such as tsx, or a Node with type stripping); otherwise the
 * error says to compile it or use JSON.
 * @param path As the user wrote it (relative to the working directory).
 * @throws FastPathError FP_TARGET_INVALID
 */
export async function loadTargetFile(path: string): Promise<LoadedTargetFile> {
  const file = resolve(path);
  const baseDir = resolve(file, '..');
  try {
    const info = await stat(file);
    if (!info.isFile()) throw fpError('FP_TARGET_INVALID', `${path}: not a file (give a target file: .json, .js or .mjs)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw fpError('FP_TARGET_INVALID', `${path}: no such file (give reference, unix:/path.sock, or a target file: .json, .js, .mjs)`);
    }
    throw err;
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.json') {
    const text = await readFile(file, 'utf8');
    let value: unknown;
    try {
      value = JSON.parse(text) as unknown;
    } catch (err) {
      throw fpError('FP_TARGET_INVALID', `${path}: not valid JSON: ${errorMessage(err)} (fix the syntax)`);
    }
    const description = parseTargetDescription(value, path);
    const dialect = description.dialect === undefined ? specDialect : jsonDialect(description.dialect);
    return { description, dialect, file, baseDir };
  }
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs' || ext === '.ts' || ext === '.mts') {
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((ext === '.ts' || ext === '.mts') && (code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING')) {
        throw fpError(
          'FP_TARGET_INVALID',
          `${path}: this Node (${process.version}) cannot import TypeScript; compile it (npx tsc) and pass the .js file, or write the target as .json or .mjs`,
        );
      }
      throw fpError('FP_TARGET_INVALID', `${path}: could not be imported: ${errorMessage(err)}`);
    }
    if (mod.default === undefined) {
      throw fpError('FP_TARGET_INVALID', `${path}: has no default export (add export default { name, spawn | socket, capabilities })`);
    }
    const { description, dialect } = parseTargetModule(mod.default, path);
    return { description, dialect, file, baseDir };
  }
  throw fpError('FP_TARGET_INVALID', `${path}: unsupported target file type "${ext || '(none)'}" (use .json, .js or .mjs)`);
}
