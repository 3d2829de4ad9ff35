import { lstat } from 'node:fs/promises';
import type { CaseContext, WireConnection } from '../../harness/case.js';
import { isPlainObject, type ReasonCode, type SignOptions } from '../../protocol/index.js';
import { type Accepted, Mismatch, check, describeEvent, expectAccepted, expectField, expectRejected, show } from './expect.js';

/**
 * Request flows several cases share: a PREPARE that must be accepted, cleanup of
 * signals a case opened, the "connection still serves" probe of §5.6, STATUS.
 */

export interface Prepared {
  readonly signalId: string;
  readonly reply: Accepted;
}

/** PREPARE that must be accepted with `state: "PREPARED"` and the same `signal_id` (§6.2). */
export async function prepareOk(
  ctx: CaseContext,
  conn: WireConnection,
  overrides: Record<string, unknown> = {},
  what = 'PREPARE',
  opts?: SignOptions,
): Promise<Prepared> {
  const signal = ctx.prepare(overrides);
  const reply = expectAccepted(await conn.request(signal, opts), what);
  expectField(reply, 'state', 'PREPARED', what);
  expectField(reply, 'signal_id', signal.signal_id, what);
  return { signalId: signal.signal_id, reply };
}

/** CONFIRM that must be accepted with state CONFIRMED, a string `orderId` and a finite `fillPrice` (§6.3). */
export async function confirmOk(ctx: CaseContext, conn: WireConnection, signalId: string, what = 'CONFIRM'): Promise<Accepted> {
  const reply = expectAccepted(await conn.request(ctx.confirm(signalId)), what);
  expectField(reply, 'state', 'CONFIRMED', what);
  expectField(reply, 'signal_id', signalId, what);
  const { orderId, fillPrice } = reply.fields;
  check(typeof orderId === 'string' && orderId.length > 0, `${what}: orderId is ${show(orderId)}, expected a non-empty string`);
  check(typeof fillPrice === 'number' && Number.isFinite(fillPrice), `${what}: fillPrice is ${show(fillPrice)}, expected a finite number`);
  return reply;
}

/** ABORT that must be accepted with state ABORTED (§6.4). */
export async function abortOk(ctx: CaseContext, conn: WireConnection, signalId: string, what = 'ABORT'): Promise<Accepted> {
  const reply = expectAccepted(await conn.request(ctx.abort(signalId)), what);
  expectField(reply, 'state', 'ABORTED', what);
  expectField(reply, 'signal_id', signalId, what);
  return reply;
}

/**
 * Best effort: ABORTs signals a case opened so they do not count against
 * `maxOpenOrders` for later cases. Uses a fresh connection when `conn` is gone.
 */
export async function cleanup(ctx: CaseContext, conn: WireConnection | undefined, signalIds: readonly string[]): Promise<void> {
  if (signalIds.length === 0) return;
  try {
    const c = conn !== undefined && !conn.closed ? conn : await ctx.connect();
    ctx.note(`cleanup: ABORT ${signalIds.length} signal(s) this case prepared`);
    for (const id of signalIds) {
      const ev = await c.request(ctx.abort(id));
      if (ev.type === 'closed' || ev.type === 'timeout') return;
    }
  } catch (err) {
    ctx.note(`cleanup skipped: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * §5.6: after a rejection marked *kept*, the same connection answers the next
 * frame. Proven with a PREPARE (accepted) and its ABORT (accepted).
 */
export async function stillServing(ctx: CaseContext, conn: WireConnection, after: string): Promise<void> {
  const signal = ctx.prepare();
  const preparedAt = performance.now();
  const ev = await conn.request(signal);
  if (ev.type !== 'reply' || ev.reply.kind !== 'accepted') {
    throw new Mismatch(`after ${after}, a valid PREPARE on the same connection got ${describeEvent(ev)}`);
  }
  const what = `after ${after}, ABORT on the same connection`;
  const abort = await conn.request(ctx.abort(signal.signal_id));
  // On a loaded machine the PREPARE may really have outlived its TTL before the ABORT
  // arrived: SIGNAL_EXPIRED is then the correct answer, and the server is serving.
  const ttlMs = ctx.capabilities.prepareTtlMs;
  const expiredInTime = abort.type === 'reply' && abort.reply.kind === 'rejected' && abort.reply.reason === 'SIGNAL_EXPIRED';
  if (expiredInTime && ttlMs !== undefined && performance.now() - preparedAt >= ttlMs) {
    ctx.note(`${what}: SIGNAL_EXPIRED, correctly, since more than the ${ttlMs} ms TTL passed after the PREPARE`);
    return;
  }
  const reply = expectAccepted(abort, what);
  expectField(reply, 'state', 'ABORTED', what);
  expectField(reply, 'signal_id', signal.signal_id, what);
}

/** A new connection is served: the server is alive and accepting (§3.1.2: "keep serving other connections"). */
export async function freshConnectionServes(ctx: CaseContext, after: string): Promise<void> {
  const conn = await ctx.connect();
  await stillServing(ctx, conn, `${after} (on a fresh connection)`);
}

export interface StatusView {
  readonly status: Record<string, unknown>;
  readonly metrics: Record<string, unknown>;
}

/** STATUS (§6.8) on `conn`; the reply must be accepted and carry `status.metrics`. */
export async function readStatus(ctx: CaseContext, conn: WireConnection, what = 'STATUS'): Promise<StatusView> {
  const reply = expectAccepted(await conn.request(ctx.status()), what);
  const status = reply.fields.status;
  check(isPlainObject(status), `${what}: reply field "status" is ${show(status)}, expected an object`);
  const metrics = status.metrics;
  check(isPlainObject(metrics), `${what}: status.metrics is ${show(metrics)}, expected an object`);
  return { status, metrics };
}

/** A numeric metric of STATUS. */
export function metric(view: StatusView, name: string, what = 'STATUS'): number {
  const value = view.metrics[name];
  check(typeof value === 'number' && Number.isFinite(value), `${what}: metrics.${name} is ${show(value)}, expected a number`);
  return value;
}

/**
 * Gives the server a moment to notice connections earlier cases closed: polls STATUS
 * until only ours is counted (with `status`), else waits briefly.
 */
export async function settleConnections(ctx: CaseContext): Promise<void> {
  if (ctx.capabilities.status !== true) {
    await ctx.sleep(250);
    return;
  }
  const conn = await ctx.connect();
  for (let i = 0; i < 20; i++) {
    const ev = await conn.request(ctx.status());
    if (ev.type !== 'reply' || ev.reply.kind !== 'accepted') break;
    const status = ev.reply.fields.status;
    if (isPlainObject(status) && typeof status.activeConnections === 'number' && status.activeConnections <= 1) break;
    await ctx.sleep(50);
  }
  await conn.end();
  await ctx.sleep(50);
}

/** Frames for `count` ABORTs of signal ids nobody prepared (envelope ids from `ids`): cheap, stateless requests. */
export function unknownAborts(ctx: CaseContext, count: number, ids: (i: number) => string | number): Buffer {
  const frames: Buffer[] = [];
  const base = ctx.uniqueId('never-prepared');
  for (let i = 0; i < count; i++) frames.push(ctx.encode(ctx.abort(`${base}-${i}`), { id: ids(i) }));
  return Buffer.concat(frames);
}

/** lstat of the socket path: permission bits, inode, type; undefined when absent. */
export async function socketStat(path: string): Promise<{ mode: number; ino: number; isSocket: boolean } | undefined> {
  try {
    const st = await lstat(path);
    return { mode: st.mode & 0o777, ino: st.ino, isSocket: st.isSocket() };
  } catch {
    return undefined;
  }
}

/**
 * The `signal_id` of a request the server rejected is still unused: a valid PREPARE
 * with that id is accepted (not DUPLICATE_SIGNAL), then ABORTed. Also proves the
 * connection still serves (§5.6).
 */
export async function expectUnused(ctx: CaseContext, conn: WireConnection, signalId: string, after: string): Promise<void> {
  const ev = await conn.request(ctx.prepare({ signal_id: signalId }));
  if (ev.type !== 'reply' || ev.reply.kind !== 'accepted') {
    throw new Mismatch(`after ${after}, a valid PREPARE reusing its signal_id on the same connection got ${describeEvent(ev)} (expected accepted: the rejected frame must not have been processed)`);
  }
  await abortOk(ctx, conn, signalId, `after ${after}, ABORT on the same connection`);
}

/**
 * Writes `frame` on a fresh connection and expects one rejection with `reason`;
 * then the connection must keep serving (§5.6), and when `unusedSignalId` is given
 * its PREPARE must not have been processed.
 */
export async function rejectedAndKept(
  ctx: CaseContext,
  frame: Uint8Array,
  reason: ReasonCode,
  what: string,
  unusedSignalId?: string,
): Promise<string> {
  const conn = await ctx.connect();
  await conn.write(frame);
  const rej = expectRejected(await conn.read(), reason, what);
  if (unusedSignalId !== undefined) await expectUnused(ctx, conn, unusedSignalId, what);
  else await stillServing(ctx, conn, what);
  return `${what}: rejected ${reason}${rej.error !== undefined ? ` (${show(rej.error, 100)})` : ''}; the connection kept serving${unusedSignalId !== undefined ? ' and the signal_id was still unused' : ''}`;
}

/** Writes a PREPARE `frame` on a fresh connection; it must be accepted (state PREPARED); then ABORTs it. */
export async function acceptedPrepare(ctx: CaseContext, frame: Uint8Array, signalId: string, what: string): Promise<string> {
  const conn = await ctx.connect();
  await conn.write(frame);
  const reply = expectAccepted(await conn.read(), what);
  expectField(reply, 'state', 'PREPARED', what);
  await abortOk(ctx, conn, signalId);
  return `${what}: accepted (state PREPARED)`;
}

/**
 * Sleeps `ms` on `conn` without letting the idle timeout (§7.3) close it: when the
 * target declares idleTimeoutMs, a stateless request (ABORT of an unknown id) is
 * sent every idleTimeoutMs/3 and its reply read.
 */
export async function keepAliveSleep(ctx: CaseContext, conn: WireConnection, ms: number): Promise<void> {
  const idle = ctx.capabilities.idleTimeoutMs;
  const step = idle === undefined ? ms : Math.max(50, Math.floor(idle / 3));
  const until = Date.now() + ms;
  for (let left = ms; left > 0; left = until - Date.now()) {
    await ctx.sleep(Math.min(step, left));
    if (until - Date.now() > 0) await conn.request(ctx.abort(ctx.uniqueId('keep-alive')));
  }
}
