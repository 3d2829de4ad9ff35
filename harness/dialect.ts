import { z } from 'zod';
import { isPlainObject, isReasonCode, REASON_CODE_LIST, ReplySchema, formatIssues, SIGNAL_TYPES } from '../protocol/index.js';
import type { ClassifiedReply } from './case.js';

/**
 * Dialects (DESIGN "Targets are described"): how to turn a signal written in spec
 * vocabulary into the target's vocabulary, and how to classify a decoded reply back
 * into spec vocabulary. The default is the spec itself (docs/SPEC.md §5.4, §5.5).
 */
export interface Dialect {
  /** Short description for reports (`spec`, `json`, `module`). */
  readonly name: string;
  /** Translates a signal in spec vocabulary into the target's vocabulary (before signing). */
  toTarget(signal: Record<string, unknown>): Record<string, unknown>;
  /** Classifies a decoded reply body into spec vocabulary. Never throws. */
  classify(reply: unknown): ClassifiedReply;
}

/** A dialect given as code in a `.js`/`.mjs` target module; either function may be left out. */
export interface ModuleDialect {
  toTarget?: (signal: Record<string, unknown>) => Record<string, unknown>;
  classify?: (reply: unknown) => ClassifiedReply;
}

/** The JSON dialect of a target file: renames of types, fields and reasons. */
export const JsonDialectSchema = z.strictObject({
  /** Name of the field that carries the signal type (default `type`). */
  typeField: z.string().min(1).optional(),
  /** Spec signal type → the target's name for it, e.g. `{ "PREPARE": "prep" }`. */
  typeNames: z.partialRecord(z.enum(SIGNAL_TYPES), z.string().min(1)).optional(),
  /** Spec field name → the target's name, e.g. `{ "signal_id": "sid" }` (requests and replies). */
  fieldNames: z.record(z.string(), z.string().min(1)).optional(),
  /** Reply field meaning success (default `accepted`). */
  acceptedField: z.string().min(1).optional(),
  /** Reply field meaning rejection (default `rejected`). */
  rejectedField: z.string().min(1).optional(),
  /** Reply field carrying the reason code (default `reason`). */
  reasonField: z.string().min(1).optional(),
  /** Reply field carrying the error text (default `error`). */
  errorField: z.string().min(1).optional(),
  /** The target's reason code → the spec's, e.g. `{ "BAD_SIG": "INVALID_SIGNATURE" }`. */
  reasonMap: z.record(z.string(), z.enum(REASON_CODE_LIST as [string, ...string[]])).optional(),
});
/** A validated JSON dialect description. */
export type JsonDialectConfig = z.infer<typeof JsonDialectSchema>;

const REASON_SET_TEXT = 'the closed set of docs/SPEC.md §5.5';

/**
 * Classifies a reply of the spec (§5.4): `accepted: true`, or `rejected: true` with a
 * reason from the closed set; anything else (both flags, neither, unknown reason,
 * not an object) is `malformed`.
 */
export function classifySpecReply(reply: unknown): ClassifiedReply {
  if (!isPlainObject(reply)) {
    return { kind: 'malformed', problem: `reply is not an object (got ${describeValue(reply)})`, fields: reply };
  }
  const accepted = reply.accepted;
  const rejected = reply.rejected;
  if (accepted !== undefined && rejected !== undefined) {
    return { kind: 'malformed', problem: 'reply carries both "accepted" and "rejected" (§5.4)', fields: reply };
  }
  if (rejected === true && !isReasonCode(reply.reason)) {
    return {
      kind: 'malformed',
      problem: `reason ${describeValue(reply.reason)} is outside ${REASON_SET_TEXT}`,
      fields: reply,
    };
  }
  if (accepted !== true && rejected !== true) {
    return { kind: 'malformed', problem: 'reply has neither "accepted": true nor "rejected": true (§5.4)', fields: reply };
  }
  const parsed = ReplySchema.safeParse(reply);
  if (!parsed.success) return { kind: 'malformed', problem: formatIssues(parsed.error), fields: reply };
  if (rejected === true) {
    const error = typeof reply.error === 'string' ? reply.error : undefined;
    return error === undefined
      ? { kind: 'rejected', id: reply.id, reason: reply.reason as string, fields: reply }
      : { kind: 'rejected', id: reply.id, reason: reply.reason as string, error, fields: reply };
  }
  return { kind: 'accepted', id: reply.id, fields: reply };
}

/** The dialect of docs/SPEC.md: signals go out unchanged, replies are checked against §5.4. */
export const specDialect: Dialect = {
  name: 'spec',
  toTarget: (signal) => signal,
  classify: classifySpecReply,
};

/**
 * Builds a dialect from the JSON description of a target file. Requests are renamed
 * spec → target; replies are renamed target → spec and then classified like the spec.
 */
export function jsonDialect(config: JsonDialectConfig): Dialect {
  const typeField = config.typeField ?? 'type';
  const typeNames: Record<string, string> = { ...config.typeNames };
  const fieldNames: Record<string, string> = { ...config.fieldNames };
  const reverseFields = new Map<string, string>();
  for (const [spec, theirs] of Object.entries(fieldNames)) reverseFields.set(theirs, spec);
  const replyRenames = new Map<string, string>(reverseFields);
  if (config.acceptedField !== undefined) replyRenames.set(config.acceptedField, 'accepted');
  if (config.rejectedField !== undefined) replyRenames.set(config.rejectedField, 'rejected');
  if (config.reasonField !== undefined) replyRenames.set(config.reasonField, 'reason');
  if (config.errorField !== undefined) replyRenames.set(config.errorField, 'error');
  const reasonMap: Record<string, string> = { ...config.reasonMap };

  return {
    name: 'json',
    toTarget(signal) {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(signal)) {
        if (key === 'type') {
          out[typeField] = typeof value === 'string' && Object.hasOwn(typeNames, value) ? typeNames[value] : value;
        } else {
          out[Object.hasOwn(fieldNames, key) ? (fieldNames[key] as string) : key] = value;
        }
      }
      return out;
    },
    classify(reply) {
      if (!isPlainObject(reply)) return classifySpecReply(reply);
      const renamed: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(reply)) {
        const specKey = replyRenames.get(key) ?? key;
        // An explicitly renamed field wins over a same-named field the target also sends.
        if (specKey !== key || !Object.hasOwn(renamed, specKey)) renamed[specKey] = value;
      }
      if (typeof renamed.reason === 'string' && Object.hasOwn(reasonMap, renamed.reason)) {
        renamed.reason = reasonMap[renamed.reason];
      }
      return classifySpecReply(renamed);
    },
  };
}

/** Wraps a module dialect; missing functions fall back to the spec's. A throwing `classify` yields `malformed`. */
export function moduleDialect(mod: ModuleDialect): Dialect {
  const toTarget = mod.toTarget;
  const classify = mod.classify;
  return {
    name: 'module',
    toTarget: toTarget === undefined ? specDialect.toTarget : (signal) => toTarget({ ...signal }),
    classify:
      classify === undefined
        ? classifySpecReply
        : (reply) => {
            try {
              return classify(reply);
            } catch (err) {
              return { kind: 'malformed', problem: `dialect classify() threw: ${errorMessage(err)}`, fields: reply };
            }
          },
  };
}

/** Short, bounded description of a value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** The message of an Error, or the value as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
