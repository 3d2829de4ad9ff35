import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { FuzzProperty } from '../../harness/fuzz-property.js';
import { startTarget } from '../../harness/launcher.js';
import { IdSource, createCaseContext } from '../../harness/runner.js';
import { REFERENCE_CAPABILITIES, findPackageRoot, makeMode, resolveTarget, type ResolvedTarget } from '../../harness/targets.js';
import { WireLog } from '../../harness/wire-log.js';
import { type ScheduledCommands, authReplayProperty, lifecycleFuzzProperties, messageDedupeProperty, signalLifecycleProperty } from './lifecycle.js';

/**
 * The stateful fuzz properties driven directly (fc.check with each property's
 * arbitrary and run, fixed seeds) against real processes: the reference passes every
 * property in two modes, and each broken fixture server is caught by the property
 * that should catch it within a bounded number of inputs, with a problem text naming
 * the contradiction. (The engine's own end-to-end run of the fixtures is test/fuzz.test.ts.)
 */

const root = findPackageRoot();
const SEED = 20_240_601;
/** Inputs per property against the reference, per mode. */
const REFERENCE_RUNS = 200;
/** Inputs a fixture's defect must be found within. */
const FIXTURE_RUNS = 200;

beforeAll(() => {
  for (const file of ['dist/cli/main.js', 'dist/fixtures/broken/serve-broken.js']) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run npx tsc -p tsconfig.json first`);
  }
});

interface FuzzOutcome {
  /** Inputs run up to and including the first failing one (all of them when none failed). */
  readonly inputs: number;
  readonly failed: boolean;
  /** The problem of the shrunk counterexample. */
  readonly problem: string | undefined;
  /** The commands of the shrunk counterexample, e.g. `c1:PREPARE s0,c1:CONFIRM s0`. */
  readonly commands: string | undefined;
  readonly elapsedMs: number;
  /** How many replies of each kind the inputs got (from the summary note each input leaves in its wire log). */
  readonly replies: ReadonlyMap<string, number>;
}

/** Runs `property` against the target `resolved` (already started as `running`) like the engine does, one context per input. */
async function fuzz<A>(property: FuzzProperty<ScheduledCommands<A>>, resolved: ResolvedTarget, running: Awaited<ReturnType<typeof startTarget>>, numRuns: number): Promise<FuzzOutcome> {
  const mode = resolved.modes[0]!;
  const capabilities = resolved.capabilities;
  const ids = new IdSource();
  const replies = new Map<string, number>();
  const t0 = performance.now();
  const details = await fc.check(
    fc.asyncProperty(property.arbitrary({ mode, capabilities }), async (input) => {
      const log = new WireLog();
      const ctx = createCaseContext({ mode, capabilities, target: running, dialect: resolved.dialect, log, readTimeoutMs: undefined, ids });
      try {
        const problem = await property.run(input, ctx);
        if (problem !== undefined) throw new Error(problem);
      } finally {
        await ctx.finish(false);
        for (const entry of log.entries) {
          for (const [, kind, n] of entry.preview.match(/; replies: .*/)?.[0].matchAll(/(\w+) (\d+)/g) ?? []) replies.set(kind!, (replies.get(kind!) ?? 0) + Number(n));
        }
      }
    }),
    { seed: SEED, numRuns },
  );
  const error = details.errorInstance;
  return {
    inputs: details.numRuns,
    failed: details.failed,
    problem: error instanceof Error ? error.message : error === null ? undefined : String(error),
    commands: details.counterexample === null ? undefined : String(details.counterexample[0].commands).replace(/ \/\*.*\*\/$/, ''),
    elapsedMs: Math.round(performance.now() - t0),
    replies,
  };
}

describe('the stateful fuzz properties against the reference', () => {
  for (const [framing, auth] of [
    ['lp32-json', 'hmac-v2'],
    ['ndjson', 'none'],
  ] as const) {
    it(`pass ${REFERENCE_RUNS} inputs each in ${framing}/${auth}`, { timeout: 60_000 }, async () => {
      const resolved = await resolveTarget('reference', { framing, auth });
      const running = await startTarget(resolved, resolved.modes[0]!);
      onTestFinished(async () => void (await running.stop()));
      const mode = resolved.modes[0]!;
      const summary: string[] = [];
      for (const property of [fuzzOf(signalLifecycleProperty), fuzzOf(messageDedupeProperty), fuzzOf(authReplayProperty)]) {
        if (property.appliesTo !== undefined && !property.appliesTo(mode)) continue;
        const outcome = await property.fuzz(resolved, running, REFERENCE_RUNS);
        expect(outcome.problem, `${property.id} in ${mode.label}: ${outcome.commands ?? ''}`).toBeUndefined();
        expect(outcome.failed).toBe(false);
        summary.push(`${property.id} ${outcome.inputs} inputs in ${outcome.elapsedMs} ms`);
      }
      console.info(`reference ${mode.label}: ${summary.join('; ')}`);
    });
  }

  it('pass with a 4 ms TTL, where signals expire in the middle of inputs (every outcome timing allows is accepted)', { timeout: 60_000 }, async () => {
    // Shorter than an input lasts (about 5 ms), so expiries happen in every run, however fast or busy the machine is.
    const ttlMs = 4;
    const base = await resolveTarget('reference', { framing: 'ndjson', auth: 'none' });
    const spawn = base.spawn!;
    const args = spawn.args.map((a, i) => (spawn.args[i - 1] === '--ttl-ms' ? String(ttlMs) : a));
    const resolved: ResolvedTarget = { ...base, spawn: { ...spawn, args }, capabilities: { ...base.capabilities, prepareTtlMs: ttlMs } };
    const running = await startTarget(resolved, resolved.modes[0]!);
    onTestFinished(async () => void (await running.stop()));
    const outcome = await fuzz(signalLifecycleProperty, resolved, running, REFERENCE_RUNS);
    console.info(`reference with TTL ${ttlMs} ms: ${outcome.inputs} inputs in ${outcome.elapsedMs} ms; replies ${JSON.stringify(Object.fromEntries(outcome.replies))}`);
    expect(outcome.problem, outcome.commands).toBeUndefined();
    expect(outcome.replies.get('SIGNAL_EXPIRED') ?? 0).toBeGreaterThan(0);
  });
});

describe('the broken fixture servers are caught', () => {
  const cases = [
    {
      fault: 'confirm-twice',
      property: fuzzOf(signalLifecycleProperty),
      commands: /^c\d:PREPARE (s\d),c\d:CONFIRM \1,c\d:CONFIRM \1(,[^,]+)?$/,
      problem: /CONFIRM s\d\): expected accepted with state CONFIRMED and the original orderId "[^"]+" and fillPrice [\d.]+ \(§6\.3\.1.*got accepted .*"orderId":"[^"]+"/,
    },
    {
      fault: 'applies-duplicates',
      property: fuzzOf(messageDedupeProperty),
      commands: /^c\d:MESSAGE (m\d)( v\d)?,c\d:MESSAGE \1( v\d)?(,[^,]+)?$/,
      problem: /MESSAGE m\d.*\): expected accepted with state APPLIED, duplicate: true and the original seq \d+ \(§11\.2\.4.*got accepted /,
    },
    {
      fault: 'no-replay-check',
      property: fuzzOf(authReplayProperty),
      commands: /^c\d:\w+ s\d,c\d:(RESEND #\d+|\w+ s\d with the nonce of #\d+)(,[^,]+)?$/,
      problem: /(exact resend of request \d+|reused from request \d+).*: expected rejected REPLAY_DETECTED \(§4\.4\.3.*got (accepted|rejected (?!REPLAY_DETECTED))/,
    },
  ];
  for (const c of cases) {
    it(`${c.fault}: ${c.property.id} finds it within ${FIXTURE_RUNS} inputs`, { timeout: 60_000 }, async () => {
      const resolved = await resolveTarget(join(root, 'fixtures', 'broken', `${c.fault}.json`));
      const running = await startTarget(resolved, resolved.modes[0]!);
      onTestFinished(async () => void (await running.stop()));
      const outcome = await c.property.fuzz(resolved, running, FIXTURE_RUNS);
      console.info(`${c.fault}: ${c.property.id} failed at input ${outcome.inputs}, ${outcome.elapsedMs} ms with shrinking to ${outcome.commands ?? '?'}: ${outcome.problem ?? ''}`);
      expect(outcome.failed).toBe(true);
      expect(outcome.inputs).toBeLessThanOrEqual(FIXTURE_RUNS);
      expect(outcome.commands).toMatch(c.commands);
      expect(outcome.problem).toMatch(c.problem);
    });
  }
});

/** A property with its input type behind a `fuzz` function, so properties of different inputs share one table. */
function fuzzOf<A>(property: FuzzProperty<ScheduledCommands<A>>): {
  id: string;
  appliesTo: FuzzProperty['appliesTo'];
  fuzz: (r: ResolvedTarget, t: Awaited<ReturnType<typeof startTarget>>, numRuns: number) => Promise<FuzzOutcome>;
} {
  return { id: property.id, appliesTo: property.appliesTo, fuzz: (r, t, numRuns) => fuzz(property, r, t, numRuns) };
}

describe('the property list', () => {
  it('holds the three stateful properties with their sections, the replay one for hmac-v2 only', () => {
    expect(lifecycleFuzzProperties.map((p) => `${p.id} §${p.section}`)).toEqual(['fuzz.signal.lifecycle §6', 'fuzz.message.dedupe §11.2', 'fuzz.auth.replay §4.4.3']);
    expect(authReplayProperty.appliesTo?.(makeMode('ndjson', 'hmac-json', 's'))).toBe(false);
    expect(authReplayProperty.appliesTo?.(makeMode('ndjson', 'hmac-v2', 's'))).toBe(true);
  });
});

describe('the generated inputs', () => {
  const mode = makeMode('ndjson', 'none', '');
  const texts = (capabilities: ResolvedTarget['capabilities']): string[] =>
    fc.sample(signalLifecycleProperty.arbitrary({ mode, capabilities }), { seed: SEED, numRuns: 100 }).flatMap((input) => [...input.commands].map(String));

  it('print as c<connection>:<request> with small ids, with FILLs and risk breaches when limits are declared', () => {
    const all = texts(REFERENCE_CAPABILITIES);
    for (const t of all) expect(t).toMatch(/^c[1-3]:(PREPARE s[0-3]( no-price| max-leverage| over-leverage| max-notional| over-notional)?|CONFIRM s[0-3]|ABORT s[0-3]|FILL \d+)$/);
    for (const part of ['FILL', 'over-leverage', 'over-notional', 'c3:']) expect(all.some((t) => t.includes(part)), part).toBe(true);
  });

  it('leave FILLs and limit breaches out when the target declares no risk limits', () => {
    expect(texts({ prepareTtlMs: 1_000 }).filter((t) => /FILL|leverage|notional/.test(t))).toEqual([]);
  });
});
