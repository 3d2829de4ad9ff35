import { describe, expect, it } from 'vitest';
import { encodeRequest, parseFraming } from '../protocol/index.js';
import type { BenchReport, FastRoundTripResult, FastSessionResult, FastTransferResult } from './bench-result.js';
import { formatBenchTable } from './bench-report-console.js';
import { renderBenchHtml } from './bench-report-html.js';
import { parseBenchReport } from './bench-report-schema.js';
import { report as sampleReport } from './bench-report-fixture.js';
import { completeFastSession, FAST_TARGETS, frameBody, transferRingCapacity } from './fast-session-bench.js';

/** The pure parts of the fast-session bench: ring sizing, request bodies, comparisons and targets, report round trip. */

function roundTrip(name: string, p50Us: number, extra: Partial<FastRoundTripResult> = {}): FastRoundTripResult {
  const [, method, , transport, wait] = name.split('.');
  return {
    name,
    method: method as 'echo' | 'signal',
    transport: transport as 'shm' | 'uds',
    clientWait: wait,
    serverWait: transport === 'shm' ? 'spin-then-futex' : undefined,
    payloadBytes: 64,
    durationMs: 1_000,
    warmupMs: 100,
    throughputPerSec: Math.round(1e6 / p50Us),
    errors: 0,
    errorSamples: [],
    p50Us,
    p90Us: p50Us * 1.5,
    p99Us: p50Us * 3,
    p999Us: p50Us * 5,
    p9999Us: p50Us * 8,
    maxUs: p50Us * 10,
    meanUs: p50Us * 1.2,
    count: 1_000,
    runs: [{ p50Us, p99Us: p50Us * 3, throughputPerSec: 1 }],
    failure: undefined,
    ...extra,
  };
}

function transfer(transport: 'shm' | 'uds', sizeBytes: number, p50Us: number, sustained: number): FastTransferResult {
  return {
    name: `fast.sink.${sizeBytes === 1_048_576 ? '1MiB' : '10MiB'}.${transport}`,
    transport,
    clientWait: transport === 'shm' ? 'spin' : undefined,
    capacityBytes: transport === 'shm' ? 4 * 1_048_576 : undefined,
    sizeBytes,
    reps: 50,
    p50Us,
    p99Us: p50Us * 2,
    minUs: p50Us / 2,
    maxUs: p50Us * 3,
    meanUs: p50Us,
    gbPerSecP50: sizeBytes / (p50Us * 1e3),
    gbPerSecSustained: sustained,
    errors: 0,
    failure: undefined,
  };
}

const measured: FastSessionResult = {
  transports: ['shm', 'uds'],
  capacityBytes: 4 * 1_048_576,
  ready: [{ transport: 'shm', wait: 'spin-then-futex', maxMessageBytes: 64 * 1_048_576, serverPid: 42 }],
  roundTrips: [
    roundTrip('fast.echo.64B.shm.spin', 4),
    roundTrip('fast.echo.64B.shm.futex', 30),
    roundTrip('fast.echo.64B.uds', 100),
    roundTrip('fast.signal.64B.shm.spin', 20),
    roundTrip('fast.signal.64B.uds', 150),
  ],
  transfers: [transfer('shm', 1_048_576, 200, 6), transfer('uds', 1_048_576, 2_000, 0.5), transfer('shm', 10 * 1_048_576, 3_000, 3.5)],
  oneWay: [
    { name: 'fast.notify.64B.shm', transport: 'shm', payloadBytes: 64, messages: 600_000, durationMs: 1_000, messagesPerSec: 600_000, runs: [{ messagesPerSec: 600_000 }], failure: undefined },
    { name: 'fast.notify.64B.uds', transport: 'uds', payloadBytes: 64, messages: 200_000, durationMs: 1_000, messagesPerSec: 200_000, runs: [{ messagesPerSec: 200_000 }], failure: undefined },
  ],
  nativeRing: {
    capacityBytes: 4 * 1_048_576,
    payloadBytes: 64,
    count: 100_000,
    p50Us: 0.25,
    p90Us: 0.3,
    p99Us: 0.5,
    p999Us: 2,
    maxUs: 100,
    meanUs: 0.3,
    transfers: [{ sizeBytes: 1_048_576, capacityBytes: 4 * 1_048_576, reps: 50, p50Us: 25, p99Us: 60, gbPerSecP50: 41.9 }],
    cpus: [0, 1],
  },
  udsFloor: undefined,
  nativeUdsFloor: undefined,
  socketSignal: undefined,
  comparisons: [],
  targets: [],
  notes: ['a note'],
  failure: undefined,
};

const refs = {
  udsFloor: { name: 'floor.node-echo.ndjson.closed.c1.d1.64B', p50Us: 50, p99Us: 120 },
  nativeUdsFloor: { name: 'native-client.native-echo.ndjson.closed.c1.d1.64B', p50Us: 20, p99Us: 40 },
  socketSignal: { name: 'ndjson.hmac-json.closed.c1.d1.64B', p50Us: 80, p99Us: 200 },
};

describe('completeFastSession', () => {
  const done = completeFastSession(measured, refs);

  it('compares shm with uds, the plain socket and the native ring floor, measure by measure', () => {
    const echo = done.comparisons.find((c) => c.measure === 'echo 64B round trip p50 (shm wait spin)');
    expect(echo).toEqual({ measure: 'echo 64B round trip p50 (shm wait spin)', unit: 'us', shm: 4, uds: 100, shmOverUds: 0.04, socket: undefined, shmOverSocket: undefined, nativeRing: 0.25, shmOverNativeRing: 16 });
    const signal = done.comparisons.find((c) => c.measure === 'signal 64B round trip p50');
    expect(signal).toMatchObject({ shm: 20, uds: 150, socket: 80, shmOverSocket: 0.25 });
    const bytes = done.comparisons.find((c) => c.measure === 'sink 1MiB GB/s (p50)');
    expect(bytes?.nativeRing).toBe(41.9);
    expect(bytes?.shmOverUds).toBeCloseTo(10, 3);
    // 10 MiB went over shm only: compared with nothing, still listed.
    expect(done.comparisons.find((c) => c.measure === 'sink 10MiB send to response p50')).toMatchObject({ shm: 3_000, uds: undefined, shmOverUds: undefined });
    expect(done.comparisons.find((c) => c.measure === 'notifications 64B one way')).toMatchObject({ unit: 'msg/s', shmOverUds: 3 });
    expect(done.udsFloor).toEqual(refs.udsFloor);
  });

  it('judges each target of the issue on its measure, and leaves the unmeasured ones undecided', () => {
    const byId = Object.fromEntries(done.targets.map((t) => [t.id, t]));
    expect(byId['round-trip-spin']).toMatchObject({ measured: 4, limit: FAST_TARGETS.roundTripSpinP50Us, met: true });
    expect(byId['round-trip-futex']).toMatchObject({ measured: 0.6, unit: 'x', met: true });
    expect(byId['round-trip-futex']?.basis).toContain('floor.node-echo');
    expect(byId['transfer-1MiB']).toMatchObject({ measured: 0.2, unit: 'ms', met: true });
    expect(byId['transfer-10MiB']).toMatchObject({ measured: 3, met: false });
    // Sustained throughput is judged on the largest shm transfer.
    expect(byId.throughput).toMatchObject({ measured: 3.5, met: false });
    expect(byId.throughput?.basis).toContain('fast.sink.10MiB.shm');
    expect(byId['one-way']).toMatchObject({ measured: 600_000, met: true });
    const noFloor = completeFastSession(measured, { ...refs, udsFloor: undefined });
    expect(noFloor.targets.find((t) => t.id === 'round-trip-futex')).toMatchObject({ measured: undefined, met: undefined });
    const failed = completeFastSession({ ...measured, roundTrips: [roundTrip('fast.echo.64B.shm.spin', 4, { failure: 'peer died' })] }, refs);
    expect(failed.targets.find((t) => t.id === 'round-trip-spin')).toMatchObject({ measured: undefined, met: undefined });
  });

  it('sets no targets for a uds-only run, and passes a failed section through', () => {
    expect(completeFastSession({ ...measured, transports: ['uds'] }, refs).targets).toEqual([]);
    const refused = completeFastSession({ ...measured, failure: 'no fast session: INVALID_SIGNAL' }, refs);
    expect(refused.failure).toMatch(/INVALID_SIGNAL/);
    expect(refused.targets).toEqual([]);
  });
});

describe('transferRingCapacity', () => {
  it('fits the whole message in one record (half the ring) unless a capacity is forced', () => {
    expect(transferRingCapacity(1_024, 4 * 1_048_576, 'auto')).toBe(4 * 1_048_576);
    expect(transferRingCapacity(1_048_576, 4 * 1_048_576, 'auto')).toBe(4 * 1_048_576);
    expect(transferRingCapacity(2 * 1_048_576, 4 * 1_048_576, 'auto')).toBe(8 * 1_048_576);
    expect(transferRingCapacity(10 * 1_048_576, 4 * 1_048_576, 'auto')).toBe(32 * 1_048_576);
    expect(transferRingCapacity(10 * 1_048_576, 4 * 1_048_576, 4 * 1_048_576)).toBe(4 * 1_048_576);
  });
});

describe('frameBody', () => {
  it('strips the framing from a request frame, leaving the envelope the `signal` method takes', () => {
    const mode = { framing: parseFraming('lp:2:le:frame:01ff:json'), auth: 'none' as const, secret: '' };
    const frame = encodeRequest(mode, { type: 'STATUS' }, { id: 1 });
    expect(JSON.parse(frameBody(mode.framing, frame).toString())).toEqual({ id: 1, signal: { type: 'STATUS' } });
    const nd = { framing: parseFraming('ndjson'), auth: 'none' as const, secret: '' };
    expect(frameBody(nd.framing, encodeRequest(nd, { type: 'STATUS' })).toString()).toBe('{"signal":{"type":"STATUS"}}');
  });
});

describe('the fastSession section in reports', () => {
  const report: BenchReport = { ...sampleReport(), fastSession: completeFastSession(measured, refs) };

  it('survives JSON and the report schema (bench compare reads it back)', () => {
    const back = parseBenchReport(JSON.parse(JSON.stringify(report)), 'r.json');
    expect(back.fastSession).toEqual(report.fastSession);
    // A report without the section (an older fastpath) still loads.
    expect(parseBenchReport(JSON.parse(JSON.stringify({ ...report, fastSession: undefined })), 'old.json').fastSession).toBeUndefined();
  });

  it('prints the round trips, transfers, one way, floors, side-by-side ratios and the verdicts', () => {
    const text = formatBenchTable(report);
    expect(text).toContain('Fast sessions (docs/SPEC.md \u00a710), shm + uds, rings of 4 MiB:');
    expect(text).toMatch(/fast\.echo\.64B\.shm\.spin +spin +spin-then-futex/);
    expect(text).toMatch(/fast\.notify\.64B\.shm: 600,000 notifications .* = 600k msg\/s one way/);
    expect(text).toMatch(/Native C ring floor \(two processes spinning on CPUs 0,1\): 64 B round trip p50 0\.25 µs/);
    expect(text).toMatch(/echo 64B round trip p50 \(shm wait spin\) +4\.0 µs +100 µs +0\.04x/);
    expect(text).toMatch(/ met +round trip p50 <= 5 us with spinning +measured 4\.0 µs/);
    expect(text).toMatch(/NOT MET +10 MiB send to response p50 <= 2\.5 ms +measured 3\.00 ms/);
    expect(text).toContain('note: a note');
  });

  it('renders a small HTML section, and says why when the section failed', () => {
    const html = renderBenchHtml(report);
    expect(html).toContain('<h2 id="fast-session">');
    expect(html).toContain('fast.sink.10MiB.shm');
    expect(html).toContain('NOT MET');
    const failed = renderBenchHtml({ ...report, fastSession: completeFastSession({ ...measured, failure: 'no fast session: refused <x>' }, refs) });
    expect(failed).toContain('Not measured: no fast session: refused &lt;x&gt;');
  });
});
