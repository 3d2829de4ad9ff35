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

export const SignalSchema = z.discriminatedUnion('type', [
  PrepareSignalSchema,
  ConfirmSignalSchema,
  AbortSignalSchema,
  StatusSignalSchema,
]);

export type PrepareSignal = z.infer<typeof PrepareSignalSchema>;
export type ConfirmSignal = z.infer<typeof ConfirmSignalSchema>;
export type AbortSignal = z.infer<typeof AbortSignalSchema>;
export type StatusSignal = z.infer<typeof StatusSignalSchema>;
export type Signal = z.infer<typeof SignalSchema>;
export type SignalType = Signal['type'];

export const SIGNAL_TYPES = ['PREPARE', 'CONFIRM', 'ABORT', 'STATUS'] as const satisfies readonly SignalType[];

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

/** Builds a rejection reply (§5.4). */
export function rejectedReply(reason: ReasonCode, error?: string, id?: string | number): Record<string, unknown> {
  const reply: Record<string, unknown> = {};
  if (id !== undefined) reply.id = id;
  reply.rejected = true;
  reply.reason = reason;
  if (error !== undefined) reply.error = error;
  return reply;
}
