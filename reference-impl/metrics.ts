/**
 * Server metrics: the counters of seed 000 plus `ordersExecuted` and `openOrders`
 * (docs/SPEC.md §6.8), and the ledger counters `messagesApplied` and
 * `messagesDeduplicated` (§11.5).
 *
 * Every reply to a request frame counts once in `messagesReceived` and once in
 * exactly one of `messagesProcessed` (accepted), `invalidSignatures`
 * (INVALID_SIGNATURE) or `messagesFailed` (any other rejection), so that
 * `received = processed + invalidSignatures + failed` as in seed 000's example.
 * Connections refused with MAX_CONNECTIONS_REACHED carry no request and are not counted.
 */

/** The `metrics` object of a STATUS reply (§6.8). */
export interface MetricsSnapshot {
  readonly messagesReceived: number;
  readonly messagesProcessed: number;
  readonly messagesFailed: number;
  readonly invalidSignatures: number;
  /** Mean `ipc_latency_ms` of accepted replies; 0 before the first one. */
  readonly avgLatencyMs: number;
  /** 0 before the first accepted reply. */
  readonly minLatencyMs: number;
  readonly maxLatencyMs: number;
  /** CONFIRMs that executed (duplicates excluded). */
  readonly ordersExecuted: number;
  /** Signals currently PREPARED (a gauge, not reset by {@link Metrics.reset}). */
  readonly openOrders: number;
  /** MESSAGEs applied: appended to the ledger (§11.2.3). */
  readonly messagesApplied: number;
  /** MESSAGEs answered as duplicates of a ledger entry (§11.2.4). */
  readonly messagesDeduplicated: number;
}

/** Mutable counters; all methods are O(1) and allocation-free. */
export class Metrics {
  messagesReceived = 0;
  messagesProcessed = 0;
  messagesFailed = 0;
  invalidSignatures = 0;
  ordersExecuted = 0;
  messagesApplied = 0;
  messagesDeduplicated = 0;
  private latencySumMs = 0;
  private latencyMinMs = Infinity;
  private latencyMaxMs = 0;

  /** An accepted reply with its processing time. */
  recordAccepted(latencyMs: number): void {
    this.messagesReceived++;
    this.messagesProcessed++;
    this.latencySumMs += latencyMs;
    if (latencyMs < this.latencyMinMs) this.latencyMinMs = latencyMs;
    if (latencyMs > this.latencyMaxMs) this.latencyMaxMs = latencyMs;
  }

  /** A rejected request frame. */
  recordRejected(invalidSignature: boolean): void {
    this.messagesReceived++;
    if (invalidSignature) this.invalidSignatures++;
    else this.messagesFailed++;
  }

  /** A CONFIRM that executed an order. */
  recordExecution(): void {
    this.ordersExecuted++;
  }

  /** A MESSAGE appended to the ledger. */
  recordApplied(): void {
    this.messagesApplied++;
  }

  /** A MESSAGE answered as a duplicate. */
  recordDeduplicated(): void {
    this.messagesDeduplicated++;
  }

  /** Zeroes every counter (seed 000's `resetMetrics()`). */
  reset(): void {
    this.messagesReceived = 0;
    this.messagesProcessed = 0;
    this.messagesFailed = 0;
    this.invalidSignatures = 0;
    this.ordersExecuted = 0;
    this.messagesApplied = 0;
    this.messagesDeduplicated = 0;
    this.latencySumMs = 0;
    this.latencyMinMs = Infinity;
    this.latencyMaxMs = 0;
  }

  /** A snapshot for STATUS; latencies rounded to microseconds. */
  snapshot(openOrders: number): MetricsSnapshot {
    const n = this.messagesProcessed;
    return {
      messagesReceived: this.messagesReceived,
      messagesProcessed: n,
      messagesFailed: this.messagesFailed,
      invalidSignatures: this.invalidSignatures,
      avgLatencyMs: n === 0 ? 0 : roundUs(this.latencySumMs / n),
      minLatencyMs: n === 0 ? 0 : roundUs(this.latencyMinMs),
      maxLatencyMs: roundUs(this.latencyMaxMs),
      ordersExecuted: this.ordersExecuted,
      openOrders,
      messagesApplied: this.messagesApplied,
      messagesDeduplicated: this.messagesDeduplicated,
    };
  }
}

/** Rounds milliseconds to whole microseconds. */
export function roundUs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
