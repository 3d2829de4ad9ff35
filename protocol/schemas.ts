import { z } from 'zod';
import { REASON_CODE_LIST, type ReasonCode } from './reason-codes.js';

/**
 * zod schemas for every message of docs/SPEC.md: signals (§6.1) and replies (§5.4).
 * Unknown fields are ignored (§4.1, §6.1).
 */

const signalId = z.string().min(1, 'signal_id must not be empty').max(128, 'signal_id is longer than 128 characters');
const finitePositive = z.number().finite().positive();
const delayMs = z.number().int().min(0).max(10_000);

export const PrepareSignalSchema = z.object({
  type: z.literal('PREPARE'),
  signal_id: signalId,
  symbol: z.string().min(1).max(32),
  side: z.enum(['Buy', 'Sell']),
  qty: finitePositive,
  leverage: finitePositive.optional(),
  price: finitePositive.optional(),
  timestamp: z.number().optional(),
  delay_ms: delayMs.optional(),
});

export const ConfirmSignalSchema = z.object({
  type: z.literal('CONFIRM'),
  signal_id: signalId,
  timestamp: z.number().optional(),
  delay_ms: delayMs.optional(),
});

export const AbortSignalSchema = z.object({
  type: z.literal('ABORT'),
  signal_id: signalId,
  reason: z.string().max(1024).optional(),
  timestamp: z.number().optional(),
  delay_ms: delayMs.optional(),
});

export const StatusSignalSchema = z.object({ type: z.literal('STATUS') });

/** Longest `message_id` (§11.1.1), in UTF-16 code units like `signal_id`. */
export const MAX_MESSAGE_ID_CHARS = 128;
/** Largest LEDGER `limit` (§11.1.2) and its default. */
export const MAX_LEDGER_LIMIT = 10_000;
export const DEFAULT_LEDGER_LIMIT = 1_000;

/** A control character (U+0000–U+001F, U+007F) or a lone surrogate (not encodable as UTF-8). */
const NOT_IN_MESSAGE_ID = /[\u0000-\u001f\u007f]|[\ud800-\udfff]/u;

/**
 * True for a valid `message_id` of docs/SPEC.md §11.1.1: a string of 1–128 characters
 * (UTF-16 code units) without control characters (U+0000–U+001F, U+007F) and without
 * lone surrogates, so that it is one line of a UTF-8 ledger file and reads back equal.
 */
export function isMessageId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_MESSAGE_ID_CHARS && !NOT_IN_MESSAGE_ID.test(value);
}

const messageId = z
  .string()
  .min(1, 'message_id must not be empty')
  .max(MAX_MESSAGE_ID_CHARS, `message_id is longer than ${MAX_MESSAGE_ID_CHARS} characters`)
  .refine((id) => !/[\u0000-\u001f\u007f]/.test(id), 'message_id must not contain control characters (U+0000–U+001F, U+007F)')
  .refine((id) => !/[\ud800-\udfff]/u.test(id), 'message_id must not contain a lone surrogate (it must be encodable as UTF-8)');

/** §11.1.1: a message to apply at most once, keyed by `message_id`. */
export const MessageSignalSchema = z.object({
  type: z.literal('MESSAGE'),
  message_id: messageId,
  topic: z.string().min(1).max(256).optional(),
  /** Any JSON / MessagePack value; the ledger does not look at it. */
  payload: z.unknown().optional(),
  timestamp: z.number().optional(),
  delay_ms: delayMs.optional(),
});

/** §11.1.2: a page of the ledger. */
export const LedgerSignalSchema = z.object({
  type: z.literal('LEDGER'),
  from: z.number().int('from must be a whole number').min(0, 'from must be 0 or more').optional(),
  limit: z
    .number()
    .int('limit must be a whole number')
    .min(1, 'limit must be at least 1')
    .max(MAX_LEDGER_LIMIT, `limit must be at most ${MAX_LEDGER_LIMIT}`)
    .optional(),
});

export const SignalSchema = z.discriminatedUnion('type', [
  PrepareSignalSchema,
  ConfirmSignalSchema,
  AbortSignalSchema,
  StatusSignalSchema,
  MessageSignalSchema,
  LedgerSignalSchema,
]);

export type PrepareSignal = z.infer<typeof PrepareSignalSchema>;
export type ConfirmSignal = z.infer<typeof ConfirmSignalSchema>;
export type AbortSignal = z.infer<typeof AbortSignalSchema>;
export type StatusSignal = z.infer<typeof StatusSignalSchema>;
export type MessageSignal = z.infer<typeof MessageSignalSchema>;
export type LedgerSignal = z.infer<typeof LedgerSignalSchema>;
export type Signal = z.infer<typeof SignalSchema>;
export type SignalType = Signal['type'];

export const SIGNAL_TYPES = ['PREPARE', 'CONFIRM', 'ABORT', 'STATUS', 'MESSAGE', 'LEDGER'] as const satisfies readonly SignalType[];

/** Validates a decoded signal; on failure `error` names the field and what is wrong. */
export function parseSignal(value: unknown): { ok: true; signal: Signal } | { ok: false; error: string } {
  const res = SignalSchema.safeParse(value);
  if (res.success) return { ok: true, signal: res.data };
  return { ok: false, error: formatIssues(res.error) };
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

const envelopeId = z.union([z.string().max(128), z.number().int()]);

export const AcceptedReplySchema = z.looseObject({
  accepted: z.literal(true),
  id: envelopeId.optional(),
  rejected: z.undefined().optional(),
});

export const RejectedReplySchema = z.looseObject({
  rejected: z.literal(true),
  reason: z.enum(REASON_CODE_LIST as [ReasonCode, ...ReasonCode[]]),
  error: z.string().optional(),
  id: envelopeId.optional(),
  accepted: z.undefined().optional(),
});

/** A reply of §5.4: exactly one of `accepted: true` or `rejected: true` with a known reason. */
export const ReplySchema = z.union([AcceptedReplySchema, RejectedReplySchema]);
export type AcceptedReply = z.infer<typeof AcceptedReplySchema>;
export type RejectedReply = z.infer<typeof RejectedReplySchema>;
export type Reply = z.infer<typeof ReplySchema>;

export const StatusMetricsSchema = z.looseObject({
  messagesReceived: z.number(),
  messagesProcessed: z.number(),
  messagesFailed: z.number(),
  invalidSignatures: z.number(),
  avgLatencyMs: z.number(),
  minLatencyMs: z.number(),
  maxLatencyMs: z.number(),
  ordersExecuted: z.number(),
  openOrders: z.number(),
  /** MESSAGEs applied (first applications, §11.2.3), for servers with a ledger. */
  messagesApplied: z.number().optional(),
  /** MESSAGEs answered as duplicates (§11.2.4), for servers with a ledger. */
  messagesDeduplicated: z.number().optional(),
});

export const StatusReplySchema = z.looseObject({
  accepted: z.literal(true),
  status: z.looseObject({
    running: z.boolean(),
    socketPath: z.string(),
    activeConnections: z.number(),
    maxConnections: z.number(),
    metrics: StatusMetricsSchema,
  }),
});
export type StatusReply = z.infer<typeof StatusReplySchema>;

/** §11.2.3 / §11.2.4: the reply to a MESSAGE, first application or duplicate. */
export const MessageAppliedReplySchema = z.looseObject({
  accepted: z.literal(true),
  id: envelopeId.optional(),
  message_id: z.string(),
  state: z.literal('APPLIED'),
  seq: z.number().int().min(0),
  duplicate: z.literal(true).optional(),
});
export type MessageAppliedReply = z.infer<typeof MessageAppliedReplySchema>;

/** §11.3: the reply to a LEDGER request. */
export const LedgerReplySchema = z.looseObject({
  accepted: z.literal(true),
  id: envelopeId.optional(),
  ledger: z.looseObject({
    from: z.number().int().min(0),
    entries: z.array(z.string()),
    next: z.number().int().min(0).nullable(),
    total: z.number().int().min(0),
  }),
});
export type LedgerReply = z.infer<typeof LedgerReplySchema>;

/** Builds a rejection reply (§5.4). */
export function rejectedReply(reason: ReasonCode, error?: string, id?: string | number): Record<string, unknown> {
  const reply: Record<string, unknown> = {};
  if (id !== undefined) reply.id = id;
  reply.rejected = true;
  reply.reason = reason;
  if (error !== undefined) reply.error = error;
  return reply;
}
