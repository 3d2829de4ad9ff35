import { z } from 'zod';
import { fpError } from '../protocol/index.js';

/**
 * zod transforms for command-line flags (strings from commander): each failure is one
 * message that names the flag, what it got and what it takes.
 */

/** A whole number in [min, max]. */
export function intFlag(flag: string, min: number, max: number) {
  return z.string().transform((text, ctx) => {
    const trimmed = text.trim();
    const value = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!(value >= min && value <= max)) {
      ctx.addIssue({ code: 'custom', message: `${flag} must be a whole number from ${min} to ${max}, got "${text}"` });
      return z.NEVER;
    }
    return value;
  });
}

/** A decimal number in (min, max] (`exclusiveMin`) or [min, max]. */
export function numberFlag(flag: string, min: number, max: number, opts: { exclusiveMin?: boolean; example?: string } = {}) {
  return z.string().transform((text, ctx) => {
    const trimmed = text.trim();
    const value = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    const low = opts.exclusiveMin === true ? value > min : value >= min;
    if (!(low && value <= max)) {
      const range = opts.exclusiveMin === true ? `above ${min} and at most ${max}` : `from ${min} to ${max}`;
      const example = opts.example === undefined ? '' : ` (e.g. ${flag} ${opts.example})`;
      ctx.addIssue({ code: 'custom', message: `${flag} must be a number ${range}, got "${text}"${example}` });
      return z.NEVER;
    }
    return value;
  });
}

/** A duration: `500ms`, `5s`, `2m`, `1h`, or plain milliseconds; in [minMs, maxMs]. Yields ms. */
export function durationFlag(flag: string, minMs: number, maxMs: number) {
  return z.string().transform((text, ctx) => {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
    const unit = m?.[2] ?? 'ms';
    const factor = unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1_000 : 1;
    const value = m === null ? Number.NaN : Number(m[1]) * factor;
    if (!(value >= minMs && value <= maxMs)) {
      ctx.addIssue({
        code: 'custom',
        message: `${flag} must be a duration from ${minMs} ms to ${maxMs / 1_000} s like 500ms, 5s or 2m, got "${text}"`,
      });
      return z.NEVER;
    }
    return Math.round(value);
  });
}

/** Bytes in a size written as `512`, `512B`, `4KiB`, `16MiB` or `1GiB`; NaN when it does not parse. */
export function parseSizeText(text: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB|GiB)?$/.exec(text.trim());
  if (m === null) return Number.NaN;
  const unit = m[2] === 'GiB' ? 1_073_741_824 : m[2] === 'MiB' ? 1_048_576 : m[2] === 'KiB' ? 1_024 : 1;
  return Number(m[1]) * unit;
}

function sizeRange(minBytes: number, maxBytes: number): string {
  const show = (n: number): string => (n % 1_073_741_824 === 0 ? `${n / 1_073_741_824} GiB` : n % 1_048_576 === 0 ? `${n / 1_048_576} MiB` : n % 1_024 === 0 ? `${n / 1_024} KiB` : `${n} B`);
  return `${show(minBytes)} to ${show(maxBytes)}`;
}

/** A size in [minBytes, maxBytes] (`4MiB`, `65536`), a power of two when `powerOfTwo`. Yields bytes. */
export function sizeFlag(flag: string, minBytes: number, maxBytes: number, opts: { powerOfTwo?: boolean; example?: string } = {}) {
  return z.string().transform((text, ctx) => {
    const value = parseSizeText(text);
    const pow2 = opts.powerOfTwo !== true || (Number.isInteger(value) && (value & (value - 1)) === 0);
    if (!(value >= minBytes && value <= maxBytes) || !pow2) {
      const kind = opts.powerOfTwo === true ? 'a power of two' : 'a size';
      const example = opts.example === undefined ? '' : ` (e.g. ${flag} ${opts.example})`;
      ctx.addIssue({ code: 'custom', message: `${flag} must be ${kind} from ${sizeRange(minBytes, maxBytes)} like 4KiB, 4MiB or 65536, got "${text}"${example}` });
      return z.NEVER;
    }
    return value;
  });
}

/** A comma-separated list of sizes, each in [minBytes, maxBytes]. Yields bytes, in the order given. */
export function sizeListFlag(flag: string, minBytes: number, maxBytes: number) {
  return z.string().transform((text, ctx) => {
    const parts = text.split(',').map((p) => p.trim());
    const values = parts.map(parseSizeText);
    const bad = parts.find((_, i) => !((values[i] ?? Number.NaN) >= minBytes && (values[i] ?? Number.NaN) <= maxBytes));
    if (bad !== undefined || parts.length === 0) {
      ctx.addIssue({ code: 'custom', message: `${flag} takes sizes from ${sizeRange(minBytes, maxBytes)} separated by commas, like 1KiB,1MiB,10MiB; "${bad ?? text}" is not one` });
      return z.NEVER;
    }
    return values;
  });
}

/**
 * Validates commander's option object against a command's schema.
 * @throws FastPathError FP_USAGE with the first problem (each flag schema names its flag).
 */
export function parseFlags<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  throw fpError('FP_USAGE', issue === undefined ? 'invalid options' : issue.message);
}
