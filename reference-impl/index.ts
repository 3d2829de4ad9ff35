/**
 * fastpath reference implementation: the server, the clients and the durable queue of
 * docs/SPEC.md. Depends on `protocol/` and `ring/` (fast sessions). The package's
 * subpath exports are narrower views: `fastpath-harness/server` (entry-server.ts),
 * `/client` (entry-client.ts) and `/queue` (entry-queue.ts).
 */
export * from './entry-server.js';
export * from './entry-client.js';
export * from './entry-queue.js';
