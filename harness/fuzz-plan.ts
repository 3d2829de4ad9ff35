import { randomInt } from 'node:crypto';
import { fpError } from '../protocol/index.js';
import type { Capabilities, CapabilityName, ModeInfo } from './case.js';
import type { FuzzProperty } from './fuzz-property.js';
import { globToRegExp } from './runner.js';

/**
 * Planning a fuzz run (pure): which property runs in which mode, with which seed and
 * how many inputs. Seeds are derived, never drawn: the same `--seed` gives every
 * (mode, property) pair the same seed on every machine, so a run is reproducible
 * and one pair can be replayed alone.
 */

/** FNV-1a, 32 bits, of the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The fast-check seed of one (mode, property) pair: a signed 32-bit integer derived from the run seed. */
export function deriveSeed(runSeed: number, modeLabel: string, propertyId: string): number {
  return fnv1a32(`${runSeed}/${modeLabel}/${propertyId}`) | 0;
}

/** A random run seed (a non-negative 31-bit integer, easy to type back). */
export function randomRunSeed(): number {
  return randomInt(0, 0x7fffffff);
}

/**
 * Splits `total` over items in proportion to `weights` (largest remainder), giving
 * every item with a positive weight at least one. The sum is exactly `total` when
 * `total` is at least the number of such items, else one each.
 */
export function shareRuns(total: number, weights: readonly number[]): number[] {
  const active = weights.map((w) => (Number.isFinite(w) && w > 0 ? w : 0));
  const count = active.filter((w) => w > 0).length;
  if (count === 0) return active.map(() => 0);
  if (total <= count) return active.map((w) => (w > 0 ? 1 : 0));
  const sum = active.reduce((a, b) => a + b, 0);
  // Largest remainder over the total, then every active item raised to one, taken from the largest shares.
  const exact = active.map((w) => (total * w) / sum);
  const out = exact.map((x) => Math.floor(x));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).filter(({ i }) => active[i]! > 0).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i]!++;
    left--;
  }
  for (let i = 0; i < out.length; i++) {
    if (active[i]! <= 0 || out[i]! > 0) continue;
    let largest = 0;
    for (let j = 1; j < out.length; j++) if (out[j]! > out[largest]!) largest = j;
    out[largest]!--;
    out[i] = 1;
  }
  return out;
}

function declared(value: Capabilities[CapabilityName]): boolean {
  return value !== undefined && value !== false;
}

/** Why a property cannot run against this target (it is then UNIMPLEMENTED), or undefined. */
export function missingFuzzCapability(p: FuzzProperty, capabilities: Capabilities, spawned: boolean): string | undefined {
  for (const cap of p.requires ?? []) {
    if (cap === 'lifecycle' && !spawned) return 'capability "lifecycle" not available: the target is attached, not spawned by the suite';
    if (!declared(capabilities[cap])) return `capability "${cap}" not declared by the target`;
  }
  return undefined;
}

/** True when the property applies to the mode (a throwing `appliesTo` counts as applying). */
export function fuzzPropertyApplies(p: FuzzProperty, mode: ModeInfo): boolean {
  if (p.appliesTo === undefined) return true;
  try {
    return p.appliesTo(mode);
  } catch {
    return true;
  }
}

/** The properties whose id matches any `include` glob (all when none) and no `exclude` glob. */
export function selectFuzzProperties(properties: readonly FuzzProperty[], include: readonly string[] = [], exclude: readonly string[] = []): FuzzProperty[] {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return properties.filter((p) => (inc.length === 0 || inc.some((re) => re.test(p.id))) && !exc.some((re) => re.test(p.id)));
}

const PROPERTY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Checks the property list: literal unique ids, a level, a section, an arbitrary and a run function.
 * @throws FastPathError FP_CONFIG_INVALID listing every problem.
 */
export function validateFuzzProperties(properties: readonly FuzzProperty[]): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of properties) {
    if (typeof p.id !== 'string' || !PROPERTY_ID.test(p.id)) problems.push(`fuzz property id ${JSON.stringify(p.id)} is not a dotted literal id`);
    else if (seen.has(p.id)) problems.push(`fuzz property id "${p.id}" is used twice`);
    seen.add(p.id);
    if (!['MUST', 'SHOULD', 'MAY'].includes(p.level)) problems.push(`fuzz property "${p.id}": level must be MUST, SHOULD or MAY`);
    if (typeof p.section !== 'string' || p.section === '') problems.push(`fuzz property "${p.id}": section is missing`);
    if (typeof p.arbitrary !== 'function' || typeof p.run !== 'function') problems.push(`fuzz property "${p.id}": arbitrary and run must be functions`);
    if (p.weight !== undefined && !(p.weight > 0)) problems.push(`fuzz property "${p.id}": weight must be positive`);
  }
  if (problems.length > 0) throw fpError('FP_CONFIG_INVALID', problems.join('\n'));
}

/** One (mode, property) pair of a run, with its share of inputs. */
export interface FuzzPlanItem {
  readonly mode: ModeInfo;
  readonly property: FuzzProperty;
  /** Set when the property cannot run here (UNIMPLEMENTED). */
  readonly missing: string | undefined;
  readonly seed: number;
  readonly numRuns: number;
  readonly weight: number;
}

/**
 * Plans a run: every selected property in every mode it applies to, with its derived
 * seed and its weighted share of `runs` (over the whole run, all modes together).
 */
export function planFuzzRun(opts: {
  readonly modes: readonly ModeInfo[];
  readonly properties: readonly FuzzProperty[];
  readonly capabilities: Capabilities;
  readonly spawned: boolean;
  readonly runs: number;
  readonly runSeed: number;
}): FuzzPlanItem[] {
  const pairs = opts.modes.flatMap((mode) =>
    opts.properties
      .filter((p) => fuzzPropertyApplies(p, mode))
      .map((property) => ({ mode, property, missing: missingFuzzCapability(property, opts.capabilities, opts.spawned) })),
  );
  const weights = pairs.map((p) => (p.missing === undefined ? (p.property.weight ?? 1) : 0));
  const runs = shareRuns(opts.runs, weights);
  return pairs.map((p, i) => ({
    ...p,
    seed: deriveSeed(opts.runSeed, p.mode.label, p.property.id),
    numRuns: runs[i]!,
    weight: weights[i]!,
  }));
}
