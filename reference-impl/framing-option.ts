import { z } from 'zod';
import { type FramingSpec, isPlainObject, parseFraming } from '../protocol/index.js';

/** True for a structurally valid {@link FramingSpec} (what `parseFraming` returns). */
export function isFramingSpec(value: unknown): value is FramingSpec {
  if (!isPlainObject(value)) return false;
  const positiveInt = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  if (value.kind === 'ndjson') return value.codec === 'json' && positiveInt(value.maxFrameBytes);
  return (
    value.kind === 'lp' &&
    (value.prefixBytes === 2 || value.prefixBytes === 4) &&
    (value.endian === 'be' || value.endian === 'le') &&
    (value.lengthIncludes === 'body' || value.lengthIncludes === 'frame') &&
    value.header instanceof Uint8Array &&
    (value.codec === 'json' || value.codec === 'msgpack') &&
    positiveInt(value.maxFrameBytes)
  );
}

/**
 * A framing option: a {@link FramingSpec}, or a preset / `lp:` string parsed with
 * `parseFraming` (docs/SPEC.md §3.4; `maxFrameBytes` then takes its default).
 */
export const FramingOptionSchema = z
  .union([z.string(), z.custom<FramingSpec>(isFramingSpec, 'framing must be a FramingSpec (see parseFraming)')])
  .transform((value, ctx): FramingSpec => {
    if (typeof value !== 'string') return value;
    try {
      return parseFraming(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** A framing option as callers write it. */
export type FramingOption = z.input<typeof FramingOptionSchema>;

/** Formats zod issues as `path: message; …`. */
export function describeIssues(error: z.ZodError, root: string): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : root}: ${i.message}`).join('; ');
}
