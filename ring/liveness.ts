import { RING_HEADER_BYTES, RingWord } from './layout.js';
import { isProcessAlive } from './segment.js';

/**
 * Peer liveness of docs/SPEC.md §10.6: an end of a ring is dead when it closed its
 * end, when its pid no longer exists, or when its heartbeat is older than the
 * staleness bound.
 */

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
export const DEFAULT_PEER_STALE_MS = 5_000;

export type RingRole = 'producer' | 'consumer';

export type PeerState =
  | { readonly state: 'alive'; readonly pid: number }
  | { readonly state: 'absent' }
  | { readonly state: 'closed'; readonly pid: number }
  | { readonly state: 'dead'; readonly pid: number; readonly reason: string };

/** The state of the `role` end of the ring in `buffer`, seen at `nowMs` (wall clock). */
export function peerState(buffer: ArrayBuffer, role: RingRole, staleMs: number = DEFAULT_PEER_STALE_MS, nowMs: number = Date.now()): PeerState {
  const words = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
  const pid = Atomics.load(words, role === 'producer' ? RingWord.producerPid : RingWord.consumerPid);
  if (pid <= 0) return { state: 'absent' };
  if (Atomics.load(words, role === 'producer' ? RingWord.producerClosed : RingWord.consumerClosed) !== 0) return { state: 'closed', pid };
  if (!isProcessAlive(pid)) return { state: 'dead', pid, reason: `${role} pid ${pid} no longer exists` };
  const beat = Atomics.load(words, role === 'producer' ? RingWord.producerHeartbeatMs : RingWord.consumerHeartbeatMs) >>> 0;
  if (beat !== 0) {
    const ageMs = (nowMs % 2 ** 32) - beat;
    const age = ageMs < 0 ? ageMs + 2 ** 32 : ageMs;
    if (age > staleMs && age < 2 ** 31) {
      return { state: 'dead', pid, reason: `${role} pid ${pid} has not refreshed its heartbeat for ${age} ms (bound ${staleMs} ms)` };
    }
  }
  return { state: 'alive', pid };
}
