import type * as fc from 'fast-check';
import type { Capabilities, CapabilityName, CaseContext, Level, ModeInfo, ReadEvent } from './case.js';

/**
 * The fuzz property model (`fastpath fuzz`): a property is data plus an arbitrary
 * and a run function, like a conformance case, but run for many generated inputs.
 * The engine (harness/fuzz-runner.ts) checks it with fast-check against a running
 * target, runs the common oracles after every input (target alive and answering,
 * RSS and open FDs bounded), shrinks a failure and saves it as a replay file.
 * Properties live in suites/fuzz/.
 */

/** What an arbitrary may depend on: only this, so a replay rebuilds the same arbitrary. */
export interface FuzzArbitraryContext {
  readonly mode: ModeInfo;
  readonly capabilities: Capabilities;
}

/** One fuzz property. `Input` is whatever the arbitrary generates. */
export interface FuzzProperty<Input = unknown> {
  /** Literal, stable, dotted: `fuzz.frame.mutated`. Reported as the case id. */
  readonly id: string;
  /** docs/SPEC.md section the oracle of this property enforces. */
  readonly section: string;
  readonly level: Level;
  readonly description: string;
  /** What a conformant server does with every input, in one sentence. */
  readonly expected: string;
  /** Capabilities the property needs; missing ones make it UNIMPLEMENTED. */
  readonly requires?: readonly CapabilityName[];
  /** Restricts the property to some modes (e.g. length-prefixed framings only). */
  readonly appliesTo?: (mode: ModeInfo) => boolean;
  /** Relative share of `--runs` this property gets (default 1). */
  readonly weight?: number;
  /** Budget of one `run()`; past it the input counts as a hang (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Builds the arbitrary for one mode (pure: the same context gives the same arbitrary). */
  arbitrary(ctx: FuzzArbitraryContext): fc.Arbitrary<Input>;
  /**
   * Sends one input to the target through `ctx` (connections opened with
   * `ctx.connect()` are logged and closed by the engine) and checks every reply.
   * @returns undefined when nothing contradicted the spec, else what did (one line,
   *   expected vs actual). Throwing counts as a finding too.
   */
  run(input: Input, ctx: CaseContext): Promise<string | undefined>;
}

/** Erases the input type, for lists of properties with different inputs. */
export function fuzzProperty<Input>(p: FuzzProperty<Input>): FuzzProperty<unknown> {
  return p as unknown as FuzzProperty<unknown>;
}

/**
 * The reply oracle shared by every property: a reply must be one complete,
 * decodable frame that the dialect classifies as an acceptance or a rejection with a
 * known reason (§5.4), and a close must not cut a reply frame in half (§5.6).
 * @returns undefined for a well-formed reply (or a clean close or timeout, which the
 *   caller judges), else the problem, prefixed with `what` (e.g. "reply to frame 3").
 */
export function replyProblem(ev: ReadEvent, what: string): string | undefined {
  switch (ev.type) {
    case 'undecodable':
      return `${what}: the reply frame does not decode (${ev.error})`;
    case 'reply':
      return ev.reply.kind === 'malformed' ? `${what}: malformed reply (${ev.reply.problem})` : undefined;
    case 'closed':
      return ev.partialBytes > 0 ? `${what}: the target closed the connection in the middle of a reply frame (${ev.partialBytes} bytes of an incomplete frame)` : undefined;
    case 'timeout':
      return undefined;
  }
}
