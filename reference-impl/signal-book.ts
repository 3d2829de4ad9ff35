import type { PrepareSignal, ReasonCode } from '../protocol/index.js';
import { type ClockMs, monotonicMs } from './clock.js';

/**
 * The PREPARE / CONFIRM / ABORT state machine of docs/SPEC.md §6.2–§6.6.
 *
 * ```
 *            CONFIRM            CONFIRM (duplicate: original orderId/fillPrice)
 * PREPARE ─► PREPARED ─────────► CONFIRMED ◄─┘
 *               │ ABORT
 *               ├──────────────► ABORTED ◄── ABORT (duplicate)
 *               │ prepareTtlMs
 *               └──────────────► EXPIRED
 * ```
 *
 * Time comes from an injected monotonic clock, so TTL and retention are
 * unit-testable without sleeping. Expiry and eviction are lazy: every call first
 * sweeps the queues from their heads (amortised O(1), no timers).
 */

export type SignalState = 'PREPARED' | 'CONFIRMED' | 'ABORTED' | 'EXPIRED';

/** Risk limits of §6.6. */
export interface RiskLimits {
  /** Largest accepted `leverage`. */
  readonly maxLeverage: number;
  /** Largest accepted `qty × price` (checked only when `price` is given). */
  readonly maxNotional: number;
  /** Largest number of simultaneously PREPARED signals. */
  readonly maxOpenOrders: number;
}

/** Options of a {@link SignalBook}. */
export interface SignalBookOptions {
  /** Life of a PREPARE without CONFIRM/ABORT (§6.5). */
  readonly prepareTtlMs: number;
  readonly risk: RiskLimits;
  /**
   * Hard bound on remembered signals (all states). When reached, a new PREPARE is
   * refused with RISK_REJECTED instead of forgetting a signal early: forgetting a
   * confirmed signal would let a retried PREPARE + CONFIRM execute twice.
   * Default {@link DEFAULT_MAX_RETAINED_SIGNALS}.
   */
  readonly maxRetainedSignals?: number;
  /** Monotonic clock in ms; default `performance.now()`. */
  readonly now?: ClockMs;
  /** fillPrice of a CONFIRM whose PREPARE had no `price` (seed 000: 50000). */
  readonly defaultFillPrice?: number;
  /** Prefix of generated order ids; default derived from the start time. */
  readonly orderIdPrefix?: string;
}

export const DEFAULT_MAX_RETAINED_SIGNALS = 1_000_000;
export const DEFAULT_FILL_PRICE = 50_000;
/** Terminal states are kept this many TTLs after the latest moment they can become terminal (§6.5 asks ≥ 10). */
export const RETENTION_TTLS = 10;

/** An accepted signal reply body (§6.2–§6.4), without `id` and `ipc_latency_ms`. Fresh per call: the caller may add fields. */
export type SignalAccepted = {
  accepted: true;
  signal_id: string;
  state: SignalState;
  orderId?: string;
  fillPrice?: number;
  duplicate?: true;
};

/** A rejection (§5.4). Fresh per call: the caller may add fields. */
export type SignalRejected = {
  rejected: true;
  reason: ReasonCode;
  error: string;
};

export type SignalOutcome = SignalAccepted | SignalRejected;

/** The fields of a PREPARE the book uses. */
export type PrepareRequest = Pick<PrepareSignal, 'signal_id' | 'qty'> & Partial<Pick<PrepareSignal, 'leverage' | 'price'>>;

class SignalRecord {
  state: SignalState = 'PREPARED';
  orderId = '';
  constructor(
    readonly signalId: string,
    readonly preparedAtMs: number,
    readonly fillPrice: number,
  ) {}
}

function rejected(reason: ReasonCode, error: string): SignalRejected {
  return { rejected: true, reason, error };
}

/** In-memory signal state per §6; one per server. */
export class SignalBook {
  /** signal_id → record, in PREPARE order (which is also preparedAtMs order). */
  private readonly records = new Map<string, SignalRecord>();
  /** Every remembered record in PREPARE order: [evictHead, openHead) are terminal, open ones are at or after openHead. */
  private queue: SignalRecord[] = [];
  private evictHead = 0;
  private openHead = 0;
  private open = 0;
  private executed = 0;
  private orderSeq = 0;
  private readonly now: ClockMs;
  private readonly maxRetained: number;
  private readonly defaultFillPrice: number;
  private readonly orderIdPrefix: string;
  private readonly retentionMs: number;

  constructor(private readonly options: SignalBookOptions) {
    this.now = options.now ?? monotonicMs;
    this.maxRetained = options.maxRetainedSignals ?? DEFAULT_MAX_RETAINED_SIGNALS;
    this.defaultFillPrice = options.defaultFillPrice ?? DEFAULT_FILL_PRICE;
    this.orderIdPrefix = options.orderIdPrefix ?? `${Date.now().toString(36)}-`;
    // A signal is terminal at the latest prepareTtlMs after its PREPARE; keep it 10 TTLs beyond that.
    this.retentionMs = options.prepareTtlMs * (RETENTION_TTLS + 1);
  }

  /** §6.2 and §6.6: duplicate check, then risk limits, then the signal becomes PREPARED. */
  prepare(req: PrepareRequest): SignalOutcome {
    const nowMs = this.now();
    this.sweep(nowMs);
    const id = req.signal_id;
    if (this.records.has(id)) {
      return rejected('DUPLICATE_SIGNAL', `signal_id "${id}" was already used (state ${this.records.get(id)!.state}): use a new signal_id for a new PREPARE`);
    }
    const risk = this.options.risk;
    const leverage = req.leverage ?? 1;
    if (leverage > risk.maxLeverage) {
      return rejected('RISK_REJECTED', `leverage ${leverage} exceeds maxLeverage ${risk.maxLeverage}`);
    }
    if (req.price !== undefined && req.qty * req.price > risk.maxNotional) {
      return rejected('RISK_REJECTED', `notional qty × price = ${req.qty * req.price} exceeds maxNotional ${risk.maxNotional}`);
    }
    if (this.open + 1 > risk.maxOpenOrders) {
      return rejected('RISK_REJECTED', `${this.open} signals are already open (maxOpenOrders ${risk.maxOpenOrders}): confirm or abort some first`);
    }
    if (this.records.size >= this.maxRetained) {
      return rejected('RISK_REJECTED', `signal book full: ${this.records.size} signals retained (maxRetainedSignals); retry once older signals are evicted`);
    }
    const record = new SignalRecord(id, nowMs, req.price ?? this.defaultFillPrice);
    this.records.set(id, record);
    this.queue.push(record);
    this.open++;
    return { accepted: true, signal_id: id, state: 'PREPARED' };
  }

  /** §6.3: executes a PREPARED signal once; a repeat returns the original orderId and fillPrice with `duplicate: true`. */
  confirm(signalId: string): SignalOutcome {
    this.sweep(this.now());
    const record = this.records.get(signalId);
    if (record === undefined) return unknown(signalId);
    switch (record.state) {
      case 'PREPARED':
        record.state = 'CONFIRMED';
        record.orderId = `${this.orderIdPrefix}${++this.orderSeq}`;
        this.open--;
        this.executed++;
        return { accepted: true, signal_id: signalId, state: 'CONFIRMED', orderId: record.orderId, fillPrice: record.fillPrice };
      case 'CONFIRMED':
        return { accepted: true, signal_id: signalId, state: 'CONFIRMED', orderId: record.orderId, fillPrice: record.fillPrice, duplicate: true };
      case 'ABORTED':
        return rejected('INVALID_STATE', `signal "${signalId}" was aborted and cannot be confirmed`);
      case 'EXPIRED':
        return expired(signalId, this.options.prepareTtlMs);
    }
  }

  /**
   * §6.3 with a test-only fault: a CONFIRM of a confirmed signal executes again
   * with a new orderId and no `duplicate` flag (fault `confirm-twice`).
   */
  confirmAgain(signalId: string): SignalOutcome {
    this.sweep(this.now());
    const record = this.records.get(signalId);
    if (record?.state !== 'CONFIRMED') return this.confirm(signalId);
    record.orderId = `${this.orderIdPrefix}${++this.orderSeq}`;
    this.executed++;
    return { accepted: true, signal_id: signalId, state: 'CONFIRMED', orderId: record.orderId, fillPrice: record.fillPrice };
  }

  /** §6.4: discards a PREPARED signal; a repeat is accepted with `duplicate: true`. */
  abort(signalId: string): SignalOutcome {
    this.sweep(this.now());
    const record = this.records.get(signalId);
    if (record === undefined) return unknown(signalId);
    switch (record.state) {
      case 'PREPARED':
        record.state = 'ABORTED';
        this.open--;
        return { accepted: true, signal_id: signalId, state: 'ABORTED' };
      case 'ABORTED':
        return { accepted: true, signal_id: signalId, state: 'ABORTED', duplicate: true };
      case 'CONFIRMED':
        return rejected('INVALID_STATE', `signal "${signalId}" was confirmed and cannot be aborted`);
      case 'EXPIRED':
        return expired(signalId, this.options.prepareTtlMs);
    }
  }

  /** The state of a remembered signal, or undefined when unknown (never seen, or evicted after retention). */
  stateOf(signalId: string): SignalState | undefined {
    this.sweep(this.now());
    return this.records.get(signalId)?.state;
  }

  /** Signals currently PREPARED. */
  get openOrders(): number {
    this.sweep(this.now());
    return this.open;
  }

  /** CONFIRMs that executed since construction. */
  get ordersExecuted(): number {
    return this.executed;
  }

  /** Signals remembered in any state. */
  get size(): number {
    this.sweep(this.now());
    return this.records.size;
  }

  /** Expires PREPARED signals past their TTL, then evicts records past retention. */
  private sweep(nowMs: number): void {
    const queue = this.queue;
    const ttlMs = this.options.prepareTtlMs;
    let openHead = this.openHead;
    while (openHead < queue.length) {
      const record = queue[openHead]!;
      if (record.state === 'PREPARED') {
        if (nowMs - record.preparedAtMs < ttlMs) break;
        record.state = 'EXPIRED';
        this.open--;
      }
      openHead++;
    }
    this.openHead = openHead;
    // Every record before openHead is terminal; the ones past retention are also before it.
    let evictHead = this.evictHead;
    while (evictHead < openHead && nowMs - queue[evictHead]!.preparedAtMs >= this.retentionMs) {
      this.records.delete(queue[evictHead]!.signalId);
      evictHead++;
    }
    if (evictHead > 1024 && evictHead * 2 > queue.length) {
      this.queue = queue.slice(evictHead);
      this.openHead -= evictHead;
      evictHead = 0;
    }
    this.evictHead = evictHead;
  }
}

function unknown(signalId: string): SignalRejected {
  return rejected('UNKNOWN_SIGNAL', `no signal "${signalId}": it was never prepared, or was forgotten after its retention`);
}

function expired(signalId: string, ttlMs: number): SignalRejected {
  return rejected('SIGNAL_EXPIRED', `signal "${signalId}" expired: not confirmed or aborted within prepareTtlMs (${ttlMs} ms) of its PREPARE`);
}
