import { z } from 'zod';

/**
 * The fast-session handshake (docs/SPEC.md §10.1): a signed request whose signal is
 * a HELLO, sent on an ordinary connection in its framing and auth mode. Accepted, the
 * connection becomes a fast session: FastMessages through two shared-memory rings
 * (`shm`) or as lp32 MessagePack frames on the same socket (`uds`).
 */

export const FAST_TRANSPORTS = ['shm', 'uds'] as const;
export type FastTransport = (typeof FAST_TRANSPORTS)[number];

export const FAST_SESSION_VERSION = 1;

/** Segment names: what follows `/dev/shm/`. */
export const SegmentNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'a segment name is 1-200 of [A-Za-z0-9._-], not starting with . _ or -');

export const HelloSchema = z.discriminatedUnion('transport', [
  z.strictObject({
    type: z.literal('HELLO'),
    version: z.literal(FAST_SESSION_VERSION),
    transport: z.literal('shm'),
    /** Ring the client writes requests into; the server is its consumer. */
    requestRing: SegmentNameSchema,
    /** Ring the server writes responses into; the client is its consumer. */
    responseRing: SegmentNameSchema,
    /** Data capacity of each ring in bytes (power of two). */
    capacityBytes: z.number().int().positive(),
    /** Largest message either side sends (reassembled chunks included). */
    maxMessageBytes: z.number().int().positive().optional(),
    /** How the client waits; the server chooses its own wait and says so in READY. */
    wait: z.enum(['spin', 'spin-then-futex', 'futex']).optional(),
    pid: z.number().int().positive(),
  }),
  z.strictObject({
    type: z.literal('HELLO'),
    version: z.literal(FAST_SESSION_VERSION),
    transport: z.literal('uds'),
    maxMessageBytes: z.number().int().positive().optional(),
    pid: z.number().int().positive().optional(),
  }),
]);
export type Hello = z.infer<typeof HelloSchema>;

/** The accepted reply to a HELLO. */
export const ReadyReplySchema = z.looseObject({
  accepted: z.literal(true),
  type: z.literal('READY'),
  transport: z.enum(FAST_TRANSPORTS),
  version: z.literal(FAST_SESSION_VERSION),
  /** Largest message the server accepts and sends in this session. */
  maxMessageBytes: z.number().int().positive(),
  /** The server's wait strategy on the request ring (shm only). */
  wait: z.enum(['spin', 'spin-then-futex', 'futex']).optional(),
  serverPid: z.number().int().positive(),
});
export type ReadyReply = z.infer<typeof ReadyReplySchema>;

/** True when a decoded signal value asks for a fast session. */
export function isHelloSignal(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'HELLO';
}
