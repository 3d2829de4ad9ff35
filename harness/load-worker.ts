import { parentPort, workerData } from 'node:worker_threads';
import { runLoadGroup, type LoadWorkerMessage } from './load-group.js';
import { parseLoadPlan } from './load-plan.js';

/**
 * Worker-thread entry of the load generator: runs the load group described by
 * `workerData` (a {@link LoadPlan}) and posts its {@link LoadGroupResult} (or
 * `{ error }`) to the parent. With `streamIntervals`, each streaming event is posted
 * as `{ kind: 'event', event }` while it runs, before the final message
 * ({@link LoadWorkerMessage}). Loaded by load-runner.ts from dist/.
 */
if (parentPort !== null) {
  const port = parentPort;
  const post = (msg: LoadWorkerMessage): void => port.postMessage(msg);
  try {
    const plan = parseLoadPlan(workerData);
    const result = await runLoadGroup(plan, plan.streamIntervals ? (event) => post({ kind: 'event', event }) : undefined);
    post({ ok: true, result });
  } catch (err) {
    post({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}
