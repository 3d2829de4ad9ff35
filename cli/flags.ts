import { z } from 'zod';

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
