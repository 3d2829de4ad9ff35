import { parentPort, workerData } from 'node:worker_threads';
import { runLoadGroup } from './load-group.js';
import { parseLoadPlan } from './load-plan.js';

/**
 * Worker-thread entry of the load generator: runs the load group described by
 * `workerData` (a {@link LoadPlan}) and posts its {@link LoadGroupResult} (or
 * `{ error }`) to the parent. Loaded by load-runner.ts from dist/.
 */
if (parentPort !== null) {
  const port = parentPort;
  try {
    const plan = parseLoadPlan(workerData);
    const result = await runLoadGroup(plan);
    port.postMessage({ ok: true, result });
  } catch (err) {
    port.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}
