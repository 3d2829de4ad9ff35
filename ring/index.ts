/**
 * fastpath shared-memory layer (docs/SPEC.md §10): the native segment and futex
 * binding, the single-producer single-consumer ring, FastMessages over rings, and
 * fast sessions. Depends only on `protocol/`; used by the reference implementation
 * and by the harness, each as an ordinary library.
 */
export * from './layout.js';
export * from './ring.js';
export * from './segment.js';
export * from './wait.js';
export * from './liveness.js';
export * from './message-channel.js';
export * from './session.js';
export * from './gc.js';
