import { describe, expect, it } from 'vitest';
import { FLOOR, CLOSED, OPEN, FAILED, MODES, report } from './bench-report-fixture.js';
import {
  formatBenchTable,
  formatBytes,
  formatCompact,
  formatCount,
  formatNs,
  formatRatio,
  formatUs,
  loopLabel,
  pinningLabel,
} from './bench-report-console.js';

function lineOf(text: string, name: string): string {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no row for ${name} in:\n${text}`);
  return line;
}

/** A RegExp matching the given pieces in order, separated by blanks. */
const inOrder = (...pieces: string[]): RegExp => new RegExp(pieces.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\s+'));

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('formatUs', () => {
  it('prints about three significant digits in the unit that fits', () => {
    expect(formatUs(8.4)).toBe('8.4 \u00b5s');
    expect(formatUs(0.42)).toBe('0.42 \u00b5s');
    expect(formatUs(45.66)).toBe('45.7 \u00b5s');
    expect(formatUs(123.4)).toBe('123 \u00b5s');
    expect(formatUs(1_234)).toBe('1.23 ms');
    expect(formatUs(45_600)).toBe('45.6 ms');
    expect(formatUs(456_000)).toBe('456 ms');
    expect(formatUs(2_100_000)).toBe('2.1 s');
    expect(formatUs(0)).toBe('0 \u00b5s');
  });

  it('moves to the next unit when rounding would print 1000', () => {
    expect(formatUs(999.7)).toBe('1.00 ms');
    expect(formatUs(999_700)).toBe('1.0 s');
    expect(formatUs(99.97)).toBe('100 \u00b5s');
  });

  it('prints a dash for values that are not numbers', () => {
    expect(formatUs(Number.NaN)).toBe('-');
    expect(formatUs(Number.POSITIVE_INFINITY)).toBe('-');
  });
});

describe('small formatters', () => {
  it('format ns, counts, rates, ratios and sizes', () => {
    expect(formatNs(38.24)).toBe('38.2 ns');
    expect(formatNs(412.3)).toBe('412 ns');
    expect(formatNs(1_234)).toBe('1.2 \u00b5s');
    expect(formatCount(1_234_567.6)).toBe('1,234,568');
    expect(formatCount(-950)).toBe('-950');
    expect(formatCompact(9_876)).toBe('9,876');
    expect(formatCompact(12_345)).toBe('12.3k');
    expect(formatCompact(2_410_000)).toBe('2.41M');
    expect(formatRatio(1.116)).toBe('1.12x');
    expect(formatBytes(64)).toBe('64 B');
    expect(formatBytes(4_096)).toBe('4 KiB');
    expect(formatBytes(1_572_864)).toBe('1.5 MiB');
  });

  it('label the loop and the pinning', () => {
    expect(loopLabel(CLOSED)).toBe('closed c1\u00d7d1');
    expect(loopLabel(OPEN)).toBe('open 20,000/s c4');
    expect(pinningLabel({ mode: 'same', clientCpu: 1, targetCpu: 1 })).toBe('same (CPU 1)');
    expect(pinningLabel({ mode: 'none', clientCpu: undefined, targetCpu: undefined })).toBe('none');
  });
});

describe('formatBenchTable', () => {
  const r = report();
  const out = formatBenchTable(r);

  it('starts with the environment: target, node, CPU model, kernel and pinning', () => {
    const header = out.split('\n').slice(0, 2).join('\n');
    expect(header).toContain(r.env.target);
    expect(header).toContain(r.env.nodeVersion);
    expect(header).toContain(r.env.cpuModel);
    expect(header).toContain(r.env.kernel);
    expect(header).toContain('pinning split (client CPU 2, target CPU 3)');
  });

  it('has a row per scenario with its figures formatted from the data', () => {
    for (const s of r.scenarios) {
      const row = lineOf(out, s.name);
      for (const v of [s.p50Us, s.p90Us, s.p99Us, s.p999Us, s.maxUs]) expect(row).toContain(formatUs(v));
      expect(row).toContain(formatCount(s.throughputPerSec));
      expect(row).toContain(loopLabel(s));
      expect(row).toContain(formatBytes(s.payloadBytes));
      expect(row).toContain(s.mode);
    }
  });

  it('shows the ratios to the floor as p50 / p99 and marks the floor itself', () => {
    for (const s of [CLOSED, OPEN]) {
      const p50 = (s.p50Us / FLOOR.p50Us).toFixed(2);
      const p99 = (s.p99Us / FLOOR.p99Us).toFixed(2);
      expect(lineOf(out, s.name)).toContain(`${p50}x / ${p99}x`);
    }
    expect(lineOf(out, FLOOR.name)).toContain('(floor)');
    expect(lineOf(out, FAILED.name).trimEnd().endsWith(' -')).toBe(true);
  });

  it('shows the uncorrected p99 of an open-loop scenario right after the corrected one', () => {
    const row = lineOf(out, OPEN.name);
    const corrected = formatUs(OPEN.p99Us);
    const uncorrected = formatUs(OPEN.uncorrected?.p99Us ?? Number.NaN);
    expect(row).toMatch(inOrder(corrected, uncorrected, formatUs(OPEN.p999Us)));
    expect(row).toContain(` ${OPEN.late} `);
  });

  it('puts a failure on its own line under its scenario, with the error samples', () => {
    const lines = out.split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${FAILED.name} `));
    expect(lines[i + 1]).toBe(`  FAILED: ${FAILED.failure ?? ''}`);
    expect(lines[i + 2]).toContain(`errors (${FAILED.errors})`);
    for (const e of FAILED.errorSamples) expect(lines[i + 2]).toContain(e);
    expect(lineOf(out, FAILED.name)).toContain(String(FAILED.unanswered));
    expect(out).toContain('1 of 4 scenarios failed.');
  });

  it('aligns every column with its header', () => {
    const lines = out.split('\n');
    const header = lines.find((l) => l.startsWith('scenario '));
    expect(header).toBeDefined();
    const end = (header ?? '').indexOf(' p50 ') + ' p50'.length;
    for (const s of r.scenarios) {
      const row = lineOf(out, s.name);
      expect(row.slice(0, end).endsWith(formatUs(s.p50Us))).toBe(true);
    }
  });

  it('prints the codec matrix per mode with ns/op, ops/s and the frame size', () => {
    const matrix = r.codecMatrix ?? [];
    expect(out).toContain('Codec matrix');
    for (const mode of MODES) {
      const row = out.split('\n').find((l) => l.startsWith(`  ${mode} `)) ?? '';
      for (const c of matrix.filter((x) => x.mode === mode)) {
        expect(row).toMatch(inOrder(formatNs(c.meanNs), formatCompact(c.opsPerSec)));
        expect(row).toContain(formatBytes(c.frameBytes));
      }
    }
  });

  it('prints IPC vs HTTP with p50, mean and the ratios', () => {
    const h = r.http;
    if (h === undefined) throw new Error('fixture has http');
    const section = out.slice(out.indexOf('IPC vs HTTP'));
    for (const v of [h.ipcP50Us, h.ipcMeanUs, h.httpP50Us, h.httpMeanUs]) expect(section).toContain(formatUs(v));
    expect(section).toMatch(inOrder('HTTP / IPC', formatRatio(h.ratioP50), formatRatio(h.ratioMean)));
    expect(section).toContain(`${formatCount(h.httpRequestsPerSec)} req/s`);
  });

  it("prints fairness with Jain's index and min/max per connection", () => {
    const f = OPEN.fairness;
    if (f === undefined) throw new Error('fixture has fairness');
    const line = out.split('\n').find((l) => l.startsWith(`  ${OPEN.name}`) && l.includes('Jain')) ?? '';
    expect(line).toContain(`Jain ${f.jainIndex.toFixed(3)} over ${f.connections} connections`);
    expect(line).toContain(`min ${formatCount(f.minPerConnection)} / max ${formatCount(f.maxPerConnection)}`);
  });

  it('colours only when asked, without changing the text', () => {
    expect(out).not.toContain('\x1b[');
    const coloured = formatBenchTable(r, { color: true });
    expect(coloured).toContain('\x1b[31m');
    expect(stripAnsi(coloured)).toBe(out);
  });

  it('leaves out the sections the report does not have', () => {
    const bare = formatBenchTable(report({ scenarios: [FLOOR, CLOSED], codecMatrix: undefined, http: undefined }));
    expect(bare).not.toContain('Codec matrix');
    expect(bare).not.toContain('IPC vs HTTP');
    expect(bare).not.toContain('Fairness');
    expect(bare).not.toContain('p99 uncorr');
    expect(bare).not.toContain('FAILED');
    expect(formatBenchTable(report({ scenarios: [] }))).toContain('No scenarios ran.');
  });
});
