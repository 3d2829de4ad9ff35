import { fpError, type AuthMode } from '../protocol/index.js';
import type { LoopKind, PeerKind } from './bench-result.js';

/**
 * Scenario descriptions of `fastpath bench`: the shape of the load (loop, connections,
 * depth, rate, payload) and the peer it runs against. Names are stable and derived
 * from the shape, so `bench compare` matches scenarios across runs.
 */

/** One scenario to run. */
export interface ScenarioSpec {
  readonly peer: Exclude<PeerKind, 'native-client' | 'http'>;
  readonly loop: LoopKind;
  readonly connections: number;
  readonly depth: number;
  /** Open loop: offered rate over all connections. */
  readonly ratePerSec?: number | undefined;
  /** Nominal signal size (the signal is padded up to it; the smallest PREPARE is ~75 bytes). */
  readonly signalBytes: number;
  /** Framing name of the mode (preset or `lp:` string). */
  readonly framing: string;
  readonly auth: AuthMode;
}

/** Named payload sizes of the sweep. */
export const PAYLOAD_SIZES: Readonly<Record<string, number>> = Object.freeze({
  '64B': 64,
  '1KiB': 1_024,
  '64KiB': 65_536,
  '1MiB': 1_048_576,
});

/** `64B`, `1KiB`, … or the byte count. */
export function payloadLabel(bytes: number): string {
  for (const [label, size] of Object.entries(PAYLOAD_SIZES)) if (size === bytes) return label;
  return `${bytes}B`;
}

/**
 * Parses a payload size: a sweep name (`64B`, `1KiB`, `64KiB`, `1MiB`), or a number
 * with an optional unit (`512`, `2KiB`, `3MiB`).
 */
export function parsePayloadSize(text: string): number {
  const t = text.trim();
  const named = PAYLOAD_SIZES[t];
  if (named !== undefined) return named;
  const m = /^(\d+)\s*(B|KiB|MiB)?$/.exec(t);
  if (m === null) throw fpError('FP_USAGE', `--payload: "${text}" is not a size; use 64B, 1KiB, 64KiB, 1MiB or a byte count like 512`);
  const n = Number(m[1]) * (m[2] === 'MiB' ? 1_048_576 : m[2] === 'KiB' ? 1_024 : 1);
  if (n < 1 || n > 16 * 1_048_576) throw fpError('FP_USAGE', `--payload: ${text} is outside 1 B … 16 MiB`);
  return n;
}

/**
 * Stable scenario name, with the mode in it so runs in several modes can share one
 * report: `ndjson.hmac-json.closed.c1.d1.64B`, `lp32-msgpack.hmac-v2.open.c4.r20000.64B`;
 * floors carry only the framing (an echo peer does no auth):
 * `floor.node-echo.ndjson.closed.c1.d1.64B`.
 */
export function scenarioName(s: ScenarioSpec): string {
  const shape =
    s.loop === 'closed'
      ? `closed.c${s.connections}.d${s.depth}.${payloadLabel(s.signalBytes)}`
      : `open.c${s.connections}.r${s.ratePerSec ?? 0}.${payloadLabel(s.signalBytes)}`;
  const framing = s.framing.replaceAll(':', '-');
  return s.peer === 'target' ? `${framing}.${s.auth}.${shape}` : `floor.${s.peer}.${framing}.${shape}`;
}

/** The same shape against another peer. */
export function withPeer(s: ScenarioSpec, peer: ScenarioSpec['peer']): ScenarioSpec {
  return { ...s, peer };
}

/** Key of a scenario's shape (peer excluded), to pair a scenario with its floor. */
export function shapeKey(s: ScenarioSpec): string {
  return scenarioName(withPeer(s, 'target'));
}
