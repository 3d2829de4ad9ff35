import { fpError } from '../protocol/index.js';
import { RingOffset, RingWord } from './layout.js';
import { type RingConsumer, type RingProducer } from './ring.js';
import { DoorbellWatcher, futexWait, spinWait } from './segment.js';

/**
 * Wait strategies of docs/SPEC.md §10.3.4 for both ends of a ring:
 *
 * - `spin`: never sleeps; polls the position word (a C busy loop with a pause
 *   instruction when blocking, the event loop when asynchronous). Lowest latency,
 *   one busy core per waiting end.
 * - `futex`: announces the wait in the ring and sleeps on the doorbell word; the peer
 *   rings it (a futex wake) only when a waiter is announced.
 * - `spin-then-futex`: spins for `spinNs`, then sleeps like `futex`.
 */
export const WAIT_STRATEGIES = ['spin', 'spin-then-futex', 'futex'] as const;
export type WaitStrategy = (typeof WAIT_STRATEGIES)[number];

export function isWaitStrategy(value: unknown): value is WaitStrategy {
  return typeof value === 'string' && (WAIT_STRATEGIES as readonly string[]).includes(value);
}

export interface WaitPolicy {
  readonly strategy: WaitStrategy;
  /** Spinning budget of `spin-then-futex` before sleeping (default 50 µs). */
  readonly spinNs?: number;
}

export const DEFAULT_SPIN_NS = 50_000;
/** Longest single sleep, so peer liveness is re-checked at least this often. */
export const MAX_SLEEP_SLICE_MS = 100;

/** What a blocking wait ended with. */
export type WaitOutcome = 'ready' | 'timed-out';

/**
 * Blocks the calling thread until `consumer` has a record (or its producer closed),
 * or `timeoutMs` passed. `checkPeer` runs between sleep slices and may throw
 * (e.g. FP_RING_PEER_DEAD).
 */
export function waitForData(consumer: RingConsumer, policy: WaitPolicy, timeoutMs: number, checkPeer?: () => void): WaitOutcome {
  const ready = (): boolean => consumer.availableBytes() !== 0 || consumer.ended;
  return blockUntil(consumer.buffer, RingOffset.writePos, ready, () => consumer.armWait(), () => consumer.disarmWait(), RingOffset.dataDoorbell, policy, timeoutMs, checkPeer);
}

/** Blocks until `producer` has room for a record of `payloadBytes`; FP_RING_CLOSED if the consumer left. */
export function waitForSpace(producer: RingProducer, payloadBytes: number, policy: WaitPolicy, timeoutMs: number, checkPeer?: () => void): WaitOutcome {
  const ready = (): boolean => {
    if (producer.consumerClosed) throw fpError('FP_RING_CLOSED', 'the consumer closed the ring');
    return producer.fits(payloadBytes);
  };
  return blockUntil(
    producer.buffer,
    RingOffset.readPos,
    ready,
    () => producer.armWait(payloadBytes),
    () => producer.disarmWait(),
    RingOffset.spaceDoorbell,
    policy,
    timeoutMs,
    checkPeer,
  );
}

function blockUntil(
  buffer: ArrayBuffer,
  positionOffset: number,
  ready: () => boolean,
  arm: () => number | undefined,
  disarm: () => void,
  doorbellOffset: number,
  policy: WaitPolicy,
  timeoutMs: number,
  checkPeer: (() => void) | undefined,
): WaitOutcome {
  const words = new Int32Array(buffer, 0, 80);
  const positionWord = positionOffset >>> 2;
  // The position is loaded before each readiness check, so a change between the check
  // and the spin is never missed (the spin ends at once on a value other than `seen`).
  let seen = Atomics.load(words, positionWord);
  if (ready()) return 'ready';
  const start = performance.now();
  const deadline = start + timeoutMs;
  const spinUntil = policy.strategy === 'spin' ? deadline : policy.strategy === 'spin-then-futex' ? start + (policy.spinNs ?? DEFAULT_SPIN_NS) / 1e6 : start;
  for (;;) {
    const now = performance.now();
    if (now >= deadline) return ready() ? 'ready' : 'timed-out';
    if (now < spinUntil) {
      const sliceMs = Math.min(spinUntil - now, MAX_SLEEP_SLICE_MS);
      spinWait(buffer, positionOffset, seen, Math.ceil(sliceMs * 1e6));
    } else {
      const doorbell = arm();
      if (doorbell === undefined) return 'ready';
      try {
        futexWait(buffer, doorbellOffset, doorbell, Math.min(deadline - now, MAX_SLEEP_SLICE_MS));
      } finally {
        disarm();
      }
    }
    seen = Atomics.load(words, positionWord);
    if (ready()) return 'ready';
    checkPeer?.();
  }
}

/**
 * Calls `onReadable` on the event loop whenever `consumer` may have records, without
 * blocking the loop for long: `spin` spins in C (slices of `spinSliceNs`) for up to
 * `spinBudgetUs` per turn of the loop, handling records as soon as they are published, `futex` sleeps on the doorbell in a native watcher
 * thread, `spin-then-futex` polls for `spinNs` after the last record, then sleeps.
 * `onReadable` must drain the ring (read until `tryRead` returns null).
 */
export class AsyncRingWaiter {
  private watcher: DoorbellWatcher | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private stopped = false;
  private lastDataAt = performance.now();
  private readonly spinSliceNs: number;
  /** Longest a spinning waiter keeps the event loop per turn. */
  private readonly spinBudgetMs: number;
  private readonly words: Int32Array;

  constructor(
    private readonly consumer: RingConsumer,
    private readonly policy: WaitPolicy,
    private readonly onReadable: () => void,
    options: { readonly spinSliceNs?: number; readonly spinBudgetUs?: number } = {},
  ) {
    this.spinSliceNs = options.spinSliceNs ?? 20_000;
    this.spinBudgetMs = (options.spinBudgetUs ?? 200) / 1000;
    this.words = new Int32Array(consumer.buffer, 0, 80);
  }

  start(): void {
    this.tick();
  }

  /** Stops polling and sleeping; idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.consumer.disarmWait();
  }

  private readonly tick = (): void => {
    this.immediate = undefined;
    if (this.stopped) return;
    if (this.consumer.availableBytes() !== 0 || this.consumer.ended) {
      this.lastDataAt = performance.now();
      this.onReadable();
      if (this.stopped) return;
    }
    if (this.stillSpinning()) {
      // Spin in C for up to a budget per turn of the loop, handling records the moment
      // they are published, then let the loop run its other I/O.
      const until = performance.now() + this.spinBudgetMs;
      do {
        const seen = Atomics.load(this.words, RingWord.writePos);
        const published = this.consumer.availableBytes() !== 0 || spinWait(this.consumer.buffer, RingOffset.writePos, seen, this.spinSliceNs);
        if (published || this.consumer.ended) {
          this.lastDataAt = performance.now();
          this.onReadable();
          if (this.stopped) return;
        }
      } while (performance.now() < until && this.stillSpinning());
      this.immediate = setImmediate(this.tick);
      return;
    }
    this.sleep();
  };

  private stillSpinning(): boolean {
    const strategy = this.policy.strategy;
    return strategy === 'spin' || (strategy === 'spin-then-futex' && performance.now() - this.lastDataAt < (this.policy.spinNs ?? DEFAULT_SPIN_NS) / 1e6);
  }

  private sleep(): void {
    // The watcher takes the doorbell's value as its baseline when it is created, so it
    // must exist before the wait is announced: a ring after armWait() then always counts.
    this.watcher ??= new DoorbellWatcher(this.consumer.buffer, RingOffset.dataDoorbell, this.onRing);
    if (this.consumer.armWait() === undefined) this.immediate = setImmediate(this.tick);
  }

  private readonly onRing = (): void => {
    if (this.stopped) return;
    this.consumer.disarmWait();
    this.lastDataAt = performance.now();
    if (this.immediate === undefined) this.tick();
  };
}
