import { describe, expect, it } from 'vitest';
import { ladder, scenario, FLOOR, closedFig, CLOSED, OPEN, FAILED, report } from './bench-report-fixture.js';
import { floorRatioLabel, formatBytes, formatCompact, formatCount, formatNs, formatRatio, formatUs } from './bench-report-console.js';
import { escapeHtml, MAX_POINTS_PER_LINE, percentileAxisLabel, percentileToLogX, renderBenchHtml } from './bench-report-html.js';

/** The `<svg class="plot CLS" …>…</svg>` element of a plot. */
function plot(html: string, cls: string): string {
  const start = html.indexOf(`<svg class="plot ${cls}"`);
  if (start < 0) throw new Error(`no ${cls} plot`);
  return html.slice(start, html.indexOf('</svg>', start) + '</svg>'.length);
}

/** The points of the line drawn for a series, in SVG pixels. */
function linePoints(svg: string, seriesName: string): Array<[number, number]> {
  const marker = `data-series="${escapeHtml(seriesName)}" d="`;
  const at = svg.indexOf(marker);
  if (at < 0) throw new Error(`no line for ${seriesName}`);
  const d = svg.slice(at + marker.length, svg.indexOf('"', at + marker.length));
  expect(d.startsWith('M')).toBe(true);
  return d
    .slice(1)
    .split('L')
    .map((pair) => {
      const [x, y] = pair.split(',').map(Number);
      return [x ?? Number.NaN, y ?? Number.NaN];
    });
}

/** The tick labels of a plot, in document order. */
function tickLabels(svg: string): string[] {
  return [...svg.matchAll(/<text class="tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] ?? '');
}

function expectNonDecreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] ?? Number.NaN);
}

describe('percentileToLogX', () => {
  it('maps a percentile to log10(1/(1-p)), the number of nines', () => {
    expect(percentileToLogX(0)).toBe(0);
    expect(percentileToLogX(50)).toBeCloseTo(Math.log10(2), 12);
    expect(percentileToLogX(90)).toBeCloseTo(1, 12);
    expect(percentileToLogX(99)).toBeCloseTo(2, 12);
    expect(percentileToLogX(99.9)).toBeCloseTo(3, 10);
    expect(percentileToLogX(99.999)).toBeCloseTo(5, 8);
  });

  it('is strictly increasing over [0, 100)', () => {
    const ps = ladder(10, 100, 30).map((p) => p.percentile).filter((p) => p < 100);
    const xs = ps.map(percentileToLogX);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1] ?? Number.NaN);
  });

  it('sends 100% to infinity and anything outside [0, 100] to NaN', () => {
    expect(percentileToLogX(100)).toBe(Number.POSITIVE_INFINITY);
    expect(percentileToLogX(-1)).toBeNaN();
    expect(percentileToLogX(100.5)).toBeNaN();
    expect(percentileToLogX(Number.NaN)).toBeNaN();
  });

  it('has the usual HdrHistogram tick labels at whole nines', () => {
    expect([0, 1, 2, 3, 4, 5].map(percentileAxisLabel)).toEqual(['0%', '90%', '99%', '99.9%', '99.99%', '99.999%']);
  });
});

describe('renderBenchHtml', () => {
  const r = report();
  const html = renderBenchHtml(r);

  it('is one HTML document with a title and the environment', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('</html>');
    expect(html).toMatch(/<title>[^<]*reference \(built-in\)[^<]*<\/title>/);
    for (const v of [r.env.nodeVersion, r.env.cpuModel, r.env.kernel, r.env.hostname, 'split (client CPU 2, target CPU 3)']) expect(html).toContain(escapeHtml(v));
  });

  it('references nothing outside the file', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script[^>]*\ssrc\s*=/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/<img|<iframe|@import|url\(/i);
  });

  it('summarises every scenario with figures formatted from the data', () => {
    const summary = html.slice(html.indexOf('<table class="summary">'), html.indexOf('</table>', html.indexOf('<table class="summary">')));
    for (const s of r.scenarios) {
      const row = summary.slice(summary.indexOf(escapeHtml(s.name)));
      const cells = row.slice(0, row.indexOf('</tr>'));
      for (const v of [s.p50Us, s.p90Us, s.p99Us, s.p999Us, s.maxUs]) expect(cells).toContain(`>${formatUs(v)}<`);
      expect(cells).toContain(`>${formatCount(s.throughputPerSec)}<`);
      const ratio = floorRatioLabel(s);
      if (ratio !== undefined) expect(cells).toContain(`>${ratio}<`);
    }
    expect(summary).toContain(`>${formatUs(OPEN.uncorrected?.p99Us ?? Number.NaN)}<`);
    // The failure spans the whole row, right under its scenario.
    const columns = (summary.match(/<th[ >]/g) ?? []).length;
    const failedRow = summary.slice(summary.indexOf(escapeHtml(FAILED.name)));
    expect(failedRow.slice(failedRow.indexOf('</tr>') + '</tr>'.length)).toMatch(
      new RegExp(`^\\n?<tr class="failure"><td colspan="${columns}">FAILED: ${escapeHtml(FAILED.failure ?? '')}</td></tr>`),
    );
  });

  it('plots the percentile distribution on the 1/(1-p) axis, labelled 0% … 99.999%', () => {
    const svg = plot(html, 'percentiles');
    const labels = tickLabels(svg);
    for (const l of ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%']) expect(labels).toContain(l);
    expect(svg).toContain('latency (log scale)');
    for (const s of r.scenarios) expect(svg).toContain(`data-series="${escapeHtml(s.name)}"`);
    // The legend names every curve.
    for (const s of r.scenarios) expect(html).toMatch(new RegExp(`<li><svg class="swatch"[^]*?</svg>${escapeHtml(s.name)}</li>`));
  });

  it("draws each scenario's percentile curve monotonic in x, without the 100th percentile", () => {
    const svg = plot(html, 'percentiles');
    for (const s of r.scenarios) {
      const pts = linePoints(svg, s.name);
      expect(pts).toHaveLength(s.percentiles.filter((p) => p.percentile < 100).length);
      expectNonDecreasing(pts.map((p) => p[0]));
      expect((pts[pts.length - 1]?.[0] ?? 0) > (pts[0]?.[0] ?? 0)).toBe(true);
      // Latency grows with the percentile: y in pixels goes up the page.
      expectNonDecreasing(pts.map((p) => -p[1]));
    }
  });

  it('places a point at 99.9% where the 99.9% tick is', () => {
    const single = report({
      scenarios: [scenario('at-three-nines', closedFig, { percentiles: [{ percentile: 0, valueUs: 10 }, { percentile: 99.9, valueUs: 100 }, { percentile: 100, valueUs: 1_000 }] })],
    });
    const svg = plot(renderBenchHtml(single), 'percentiles');
    const tick = svg.match(/<text class="tick" x="([\d.]+)"[^>]*>99\.9%<\/text>/);
    const pts = linePoints(svg, 'at-three-nines');
    expect(pts).toHaveLength(2);
    expect(pts[1]?.[0]).toBeCloseTo(Number(tick?.[1]), 0);
  });

  it('draws the uncorrected distribution of an open-loop scenario beside the corrected one', () => {
    const svg = plot(html, 'percentiles');
    const corrected = linePoints(svg, OPEN.name);
    const uncorrected = linePoints(svg, `${OPEN.name} (uncorrected)`);
    expect(uncorrected).toHaveLength(5);
    expectNonDecreasing(uncorrected.map((p) => p[0]));
    // Same colour, drawn dotted.
    const color = (name: string): string | undefined => svg.match(new RegExp(`data-series="${escapeHtml(name).replace(/[().]/g, '\\$&')}" d="[^"]*" stroke="(#[0-9A-Fa-f]{6})"`))?.[1];
    expect(color(`${OPEN.name} (uncorrected)`)).toBe(color(OPEN.name));
    expect(corrected.length).toBeGreaterThan(5);
  });

  it('plots throughput and p99 over time with a line per scenario, in seconds', () => {
    for (const cls of ['throughput-over-time', 'p99-over-time']) {
      const svg = plot(html, cls);
      for (const s of r.scenarios) {
        const pts = linePoints(svg, s.name);
        expect(pts).toHaveLength(s.intervals.length);
        expectNonDecreasing(pts.map((p) => p[0]));
      }
      expect(tickLabels(svg)).toContain('0 s');
      expect(svg).toContain('seconds since the start of the measured phase');
    }
    expect(plot(html, 'p99-over-time')).toContain('p99 latency (log scale)');
  });

  it('gives each scenario a distinct colour', () => {
    const svg = plot(html, 'throughput-over-time');
    const colors = r.scenarios.map((s) => svg.match(new RegExp(`data-series="${escapeHtml(s.name)}" d="[^"]*" stroke="([^"]+)"`))?.[1]);
    expect(new Set(colors).size).toBe(r.scenarios.length);
  });

  it('lists the ratios to the floor computed from the data', () => {
    const section = html.slice(html.indexOf('id="floor"'));
    for (const s of [CLOSED, OPEN]) {
      expect(section).toContain(formatRatio(s.p50Us / FLOOR.p50Us));
      expect(section).toContain(formatRatio(s.p99Us / FLOOR.p99Us));
    }
  });

  it('shows the codec matrix and the IPC vs HTTP comparison', () => {
    const codec = html.slice(html.indexOf('id="codec"'), html.indexOf('id="http"'));
    for (const c of r.codecMatrix ?? []) {
      expect(codec).toContain(`<td>${c.mode}</td><td>${c.operation}</td><td class="num">${formatNs(c.meanNs)}</td>`);
      expect(codec).toContain(`>${formatCompact(c.opsPerSec)}<`);
      expect(codec).toContain(`>${formatBytes(c.frameBytes)}<`);
    }
    const h = r.http;
    if (h === undefined) throw new Error('fixture has http');
    const http = html.slice(html.indexOf('id="http"'));
    for (const v of [h.ipcP50Us, h.ipcMeanUs, h.httpP50Us, h.httpMeanUs]) expect(http).toContain(`>${formatUs(v)}<`);
    expect(http).toContain(`>${formatRatio(h.ratioP50)}<`);
    expect(http).toContain(`>${formatRatio(h.ratioMean)}<`);
  });

  it('shows failures and error samples', () => {
    const problems = html.slice(html.indexOf('id="problems"'));
    expect(problems).toContain(`FAILED: ${escapeHtml(FAILED.failure ?? '')}`);
    for (const e of FAILED.errorSamples) expect(problems).toContain(`<code>${escapeHtml(e)}</code>`);
    expect(html).toContain('1 of 4 scenarios failed');
  });

  it('escapes every string taken from the report', () => {
    const nasty = '<b>&"x';
    const hostile = report({
      env: { ...r.env, target: '<script>alert(1)</script>', hostname: "o'host" },
      scenarios: [
        scenario(nasty, closedFig, {
          mode: '<i>mode</i>',
          failure: 'died </td></tr><img src=x onerror=alert(1)>',
          errors: 1,
          errorSamples: ['</code><svg onload=alert(1)>'],
          files: { hgrm: 'x".hgrm', intervalLog: 'javascript:alert(1)' },
        }),
      ],
    });
    const out = renderBenchHtml(hostile);
    expect(out).not.toContain(nasty);
    expect(out).toContain('&lt;b&gt;&amp;&quot;x');
    expect(out).not.toContain('<script');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out).not.toContain('<i>mode');
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<svg onload');
    expect(out).not.toContain('href="javascript:');
    expect(out).toContain('href="x&quot;.hgrm"');
    expect(linePoints(plot(out, 'percentiles'), nasty).length).toBeGreaterThan(1);
  });

  it('downsamples long series to at most 300 points per line and stays small', () => {
    const dense = Array.from({ length: 2_000 }, (_, i) => ({ percentile: 100 - 100 / 1.01 ** i, valueUs: 10 + i / 10 }));
    const long = Array.from({ length: 3_600 }, (_, i) => ({ startMs: i * 1_000, durationMs: 1_000, throughputPerSec: 50_000 + (i % 7), p50Us: 12, p99Us: 30 + (i % 11), maxUs: 900 }));
    const big = report({ scenarios: [scenario('dense', closedFig, { percentiles: dense, intervals: long }), CLOSED] });
    const out = renderBenchHtml(big);
    expect(MAX_POINTS_PER_LINE).toBe(300);
    const pct = linePoints(plot(out, 'percentiles'), 'dense');
    expect(pct.length).toBeLessThanOrEqual(300);
    expect(pct.length).toBeGreaterThan(100);
    expectNonDecreasing(pct.map((p) => p[0]));
    for (const cls of ['throughput-over-time', 'p99-over-time']) {
      const pts = linePoints(plot(out, cls), 'dense');
      expect(pts.length).toBeLessThanOrEqual(300);
      expectNonDecreasing(pts.map((p) => p[0]));
    }
    expect(out.length).toBeLessThan(150_000);
  });

  it('renders a report without optional sections or scenarios', () => {
    const bare = renderBenchHtml(report({ scenarios: [FLOOR], codecMatrix: undefined, http: undefined }));
    expect(bare).not.toContain('id="codec"');
    expect(bare).not.toContain('id="http"');
    expect(bare).not.toContain('id="floor"');
    expect(bare).not.toContain('id="problems"');
    const empty = renderBenchHtml(report({ scenarios: [] }));
    expect(empty).toContain('No scenarios ran.');
    expect(empty).toContain('No percentile data');
  });
});
