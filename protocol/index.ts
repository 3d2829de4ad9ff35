/**
 * fastpath protocol layer: pure codecs, envelope signing and verification, zod
 * schemas and the reason-code table of docs/SPEC.md. No sockets, no timers.
 */
export * from './errors.js';
export * from './reason-codes.js';
export * from './framing.js';
export * from './frame-decoder.js';
export * from './frame-encoder.js';
export * from './body-codec.js';
export * from './auth.js';
export * from './schemas.js';
export * from './message-codec.js';
export * from './fast-message.js';
export * from './fast-session.js';
