#!/usr/bin/env node
/**
 * The producer process of `fastpath crash` (harness/crash-driver.ts): sends a numbered
 * stream of §11 MESSAGEs through the reference {@link FailoverClient} and reports every
 * outcome on stdout, one line each, so the driver knows what was acknowledged even when
 * it kills this process mid-send. Protocol (times are wall-clock ms with µs decimals):
 *
 *     READY <pid>                     queue open, sending starts
 *     A <seq> <d|u|q> <tMs>          acknowledged: delivered, delivered duplicate, queued
 *     J <seq> <reason>                rejected by the server (not acknowledged)
 *     D <seq> <0|1> <tMs>             delivered from the queue (1: the server said duplicate)
 *     X <seq> <reason>                dead-lettered by the drainer
 *     E <text>                        a send failed without being queued (not acknowledged)
 *     S <json>                        summary after `stop`: { stillQueued, stats, flushed }
 *
 * stdin: `stop <drainTimeoutMs>` stops sending, waits for the queue to drain, prints S
 * and exits 0. The secret comes in FASTPATH_SECRET, the rest as one JSON argument.
 */
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { AUTH_MODES } from '../protocol/index.js';
import { FailoverClient } from '../reference-impl/failover-client.js';
import { QUEUE_SYNCHRONOUS } from '../reference-impl/queue.js';

export const CrashProducerConfigSchema = z.strictObject({
  socketPath: z.string().min(1),
  framing: z.string().min(1),
  auth: z.enum(AUTH_MODES),
  queuePath: z.string().min(1),
  synchronous: z.enum(QUEUE_SYNCHRONOUS),
  runId: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  startSeq: z.number().int().min(0),
  ratePerSec: z.number().positive(),
  maxInFlight: z.number().int().min(1),
  replyTimeoutMs: z.number().int().min(1),
});
export type CrashProducerConfig = z.infer<typeof CrashProducerConfigSchema>;

/** The message id of sequence number `seq` in run `runId`. */
export function crashMessageId(runId: string, seq: number): string {
  return `${runId}-${seq}`;
}

function nowMs(): string {
  return (performance.timeOrigin + performance.now()).toFixed(3);
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<number> {
  const parsed = CrashProducerConfigSchema.safeParse(JSON.parse(process.argv[2] ?? 'null'));
  if (!parsed.success) {
    process.stderr.write(`crash-producer: bad configuration: ${parsed.error.message}\n`);
    return 2;
  }
  const cfg = parsed.data;
  const prefix = `${cfg.runId}-`;
  const seqOf = (id: string): string => (id.startsWith(prefix) ? id.slice(prefix.length) : id);
  const client = new FailoverClient(
    {
      socketPath: cfg.socketPath,
      framing: cfg.framing,
      auth: cfg.auth,
      secret: process.env.FASTPATH_SECRET ?? '',
      queuePath: cfg.queuePath,
      synchronous: cfg.synchronous,
      producer: cfg.runId,
      replyTimeoutMs: cfg.replyTimeoutMs,
    },
    {
      onDrain: (e) => {
        if (e.type === 'delivered') out(`D ${seqOf(e.id)} ${e.duplicate ? 1 : 0} ${nowMs()}`);
        else out(`X ${seqOf(e.id)} ${e.reason.replace(/\s+/g, ' ')}`);
      },
    },
  );
  client.start();
  out(`READY ${process.pid}`);

  let seq = cfg.startSeq;
  let inFlight = 0;
  let stopping = false;
  const started = performance.now();
  const sent0 = seq;

  const sendOne = (n: number): void => {
    inFlight++;
    client
      .send({ id: crashMessageId(cfg.runId, n), topic: 'crash', payload: { seq: n } })
      .then(
        (o) => {
          if (o.status === 'rejected') out(`J ${n} ${o.reason}`);
          else out(`A ${n} ${o.status === 'queued' ? 'q' : o.duplicate ? 'u' : 'd'} ${nowMs()}`);
        },
        (err: unknown) => out(`E ${n} ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ')}`),
      )
      .finally(() => {
        inFlight--;
      });
  };

  // Paced: the number sent tracks elapsed time × rate, bounded by maxInFlight.
  const pump = (): void => {
    if (stopping) return;
    const due = sent0 + Math.floor(((performance.now() - started) / 1000) * cfg.ratePerSec);
    while (seq < due && inFlight < cfg.maxInFlight && !stopping) sendOne(seq++);
    setTimeout(pump, 1);
  };
  pump();

  const stopLine = await new Promise<string>((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      if (line.startsWith('stop')) resolve(line);
    });
    rl.on('close', () => resolve('stop 0'));
  });
  stopping = true;
  const drainTimeoutMs = Number(stopLine.split(' ')[1] ?? '0') || 0;
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 2));
  const flushed = await client.flush(drainTimeoutMs);
  const stillQueued = client.outbox.pendingIds(cfg.runId).map(seqOf);
  out(`S ${JSON.stringify({ flushed, stillQueued, nextSeq: seq, stats: client.stats })}`);
  await client.close();
  return 0;
}

process.exitCode = await main();
