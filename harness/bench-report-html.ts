import type { BenchReport, CodecMatrixRow, FastSessionResult, HttpComparison, IntervalPoint, LatencySummary, ScenarioResult } from './bench-result.js';
import {
  floorNames,
  floorRatioLabel,
  formatBytes,
  formatCompact,
  formatCount,
  formatFastValue,
  formatNs,
  formatRatio,
  formatUs,
  loopLabel,
  pinningLabel,
  targetVerdict,
} from './bench-report-console.js';

/**
 * The self-contained HTML report of `fastpath bench`: a pure function from a
 * {@link BenchReport} to one HTML document. Inline CSS and inline SVG drawn here, no
 * script, and no reference to anything outside the file (no fonts, images, styles or
 * scripts fetched), so it opens the same offline, from CI artifacts or mail.
 * Every string taken from the report is escaped.
 */

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * The x coordinate of a percentile on the HdrHistogram percentile-distribution axis:
 * `log10(1 / (1 - p/100))`, i.e. the number of nines (0% → 0, 90% → 1, 99% → 2,
 * 99.9% → 3). 100% maps to `Infinity`; a percentile outside [0, 100] or NaN to `NaN`.
 */
export function percentileToLogX(percentile: number): number {
  if (!(percentile >= 0 && percentile <= 100)) return Number.NaN;
  if (percentile === 100) return Number.POSITIVE_INFINITY;
  return Math.log10(100 / (100 - percentile));
}

/** The label of an integer position on that axis: 0 → `0%`, 1 → `90%`, 2 → `99%`, 3 → `99.9%`, 5 → `99.999%`. */
export function percentileAxisLabel(nines: number): string {
  if (nines <= 0) return '0%';
  if (nines === 1) return '90%';
  return `99${nines > 2 ? `.${'9'.repeat(nines - 2)}` : ''}%`;
}

/** Most points drawn for one line of a plot; longer series are downsampled. */
export const MAX_POINTS_PER_LINE = 300;

// ---------------------------------------------------------------------------
// Series and downsampling (pure, in data coordinates)

/** A point of a plot, in data coordinates. */
export type Point = readonly [x: number, y: number];

/**
 * At most `maxPoints` points of an x-sorted series: the x range is cut into equal
 * bins and each bin gives one point, its last one (`last`, keeps a monotonic curve
 * on its own points), the mean (`mean`) or the bin's largest y at its mean x (`max`,
 * keeps spikes visible).
 */
export function downsample(points: readonly Point[], maxPoints: number, pick: 'last' | 'mean' | 'max'): Point[] {
  if (points.length <= maxPoints) return [...points];
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined) return [];
  const bins = Math.max(1, pick === 'last' ? maxPoints - 1 : maxPoints);
  const span = last[0] - first[0];
  const groups: Point[][] = [];
  let current: Point[] = [];
  let currentBin = -1;
  const rest = pick === 'last' ? points.slice(1) : points;
  for (const p of rest) {
    const bin = span > 0 ? Math.min(bins - 1, Math.floor(((p[0] - first[0]) / span) * bins)) : 0;
    if (bin !== currentBin && current.length > 0) {
      groups.push(current);
      current = [];
    }
    currentBin = bin;
    current.push(p);
  }
  if (current.length > 0) groups.push(current);
  const reduced = groups.map((g): Point => {
    const meanX = g.reduce((a, p) => a + p[0], 0) / g.length;
    if (pick === 'last') return g[g.length - 1] ?? [meanX, 0];
    if (pick === 'max') return [meanX, Math.max(...g.map((p) => p[1]))];
    return [meanX, g.reduce((a, p) => a + p[1], 0) / g.length];
  });
  return pick === 'last' ? [first, ...reduced] : reduced;
}

/** A scenario's percentile curve on the log axis: finite, below 100%, sorted, downsampled. */
function percentileSeries(s: ScenarioResult): Point[] {
  const pts = s.percentiles
    .filter((p) => p.percentile < 100 && Number.isFinite(p.valueUs))
    .map((p): Point => [percentileToLogX(p.percentile), p.valueUs])
    .filter((p) => Number.isFinite(p[0]))
    .sort((a, b) => a[0] - b[0]);
  return downsample(pts, MAX_POINTS_PER_LINE, 'last');
}

/** The percentiles a {@link LatencySummary} carries, as points on the log axis (max excluded: it is 100%). */
function summarySeries(l: LatencySummary): Point[] {
  const pairs: Array<[number, number]> = [
    [50, l.p50Us],
    [90, l.p90Us],
    [99, l.p99Us],
    [99.9, l.p999Us],
    [99.99, l.p9999Us],
  ];
  return pairs.map(([p, v]): Point => [percentileToLogX(p), v]).filter((p) => Number.isFinite(p[1]));
}

// ---------------------------------------------------------------------------
// SVG plots

export interface Tick {
  readonly value: number;
  readonly label: string;
}

export interface Axis {
  readonly scale: 'linear' | 'log';
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly Tick[];
  readonly title: string;
}

export interface Series {
  readonly name: string;
  readonly color: string;
  /** SVG stroke-dasharray, '' for solid. */
  readonly dash: string;
  readonly points: readonly Point[];
}

/** Okabe–Ito plus a few Tableau colours: distinguishable, also for most colour-blind readers. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#1a1a1a', '#8c564b', '#7f7f7f', '#bcbd22'];
/** Dash patterns cycled once the palette is used up (the dotted `2 3` is kept for uncorrected curves). */
const DASHES = ['', '8 4', '12 3 3 3'];
const UNCORRECTED_DASH = '2 3';

export function styleFor(index: number): { color: string; dash: string } {
  return {
    color: PALETTE[index % PALETTE.length] ?? '#000',
    dash: DASHES[Math.floor(index / PALETTE.length) % DASHES.length] ?? '',
  };
}

const PLOT = { width: 820, height: 340, left: 70, right: 34, top: 14, bottom: 46 } as const;

/** A number for SVG coordinates: one decimal, no trailing `.0`. */
function num(n: number): string {
  return String(Math.round(n * 10) / 10);
}

function unitOf(axis: Axis, v: number): number {
  const t =
    axis.scale === 'log'
      ? (Math.log10(Math.max(v, axis.min)) - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min))
      : (v - axis.min) / (axis.max - axis.min);
  return Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
}

function pxX(axis: Axis, v: number): number {
  return PLOT.left + unitOf(axis, v) * (PLOT.width - PLOT.left - PLOT.right);
}

function pxY(axis: Axis, v: number): number {
  return PLOT.height - PLOT.bottom - unitOf(axis, v) * (PLOT.height - PLOT.top - PLOT.bottom);
}

/** A 1-2-5 step giving about `target` intervals over `range`. */
export function niceStep(range: number, target = 5): number {
  if (!(range > 0)) return 1;
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

export function tidy(n: number): number {
  return Number(n.toPrecision(10));
}

/** A linear axis from 0 to a round number at or above the largest value. */
export function linearAxisFromZero(values: readonly number[], title: string, label: (v: number) => string): Axis {
  const finite = values.filter((v) => Number.isFinite(v));
  const top = Math.max(0, ...finite);
  const step = niceStep(top > 0 ? top : 1);
  const max = tidy(Math.max(step, Math.ceil(top / step - 1e-9) * step));
  const ticks: Tick[] = [];
  for (let i = 0; i * step <= max + step * 1e-9; i++) ticks.push({ value: tidy(i * step), label: label(tidy(i * step)) });
  return { scale: 'linear', min: 0, max, ticks, title };
}

/** A log axis over whole decades around the positive values; 2× and 5× ticks when it spans at most two decades. */
export function logAxis(values: readonly number[], title: string, label: (v: number) => string): Axis {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = positive.length === 0 ? 1 : 10 ** Math.floor(Math.log10(Math.min(...positive)));
  let hi = positive.length === 0 ? 10 : 10 ** Math.ceil(Math.log10(Math.max(...positive)));
  if (hi <= lo) hi = lo * 10;
  const decades = Math.round(Math.log10(hi / lo));
  const ticks: Tick[] = [];
  for (let d = 0; d <= decades; d++) {
    const base = tidy(lo * 10 ** d);
    ticks.push({ value: base, label: label(base) });
    if (decades <= 2 && d < decades) for (const m of [2, 5]) ticks.push({ value: tidy(base * m), label: label(tidy(base * m)) });
  }
  return { scale: 'log', min: tidy(lo), max: tidy(hi), ticks, title };
}

/** Tick labels in µs without trailing zeros: `1 µs`, `20 µs`, `1 ms`, `2.5 ms`. */
export function usTick(v: number): string {
  return formatUs(v).replace(/\.(\d*?)0+ /, (_m, d: string) => (d.length > 0 ? `.${d} ` : ' '));
}

export function svgPlot(ariaLabel: string, className: string, x: Axis, y: Axis, series: readonly Series[]): string {
  const bottom = PLOT.height - PLOT.bottom;
  const right = PLOT.width - PLOT.right;
  const parts: string[] = [
    `<svg class="plot ${className}" viewBox="0 0 ${PLOT.width} ${PLOT.height}" role="img" aria-label="${escapeHtml(ariaLabel)}">`,
  ];
  for (const t of x.ticks) {
    const px = num(pxX(x, t.value));
    parts.push(`<line class="grid" x1="${px}" y1="${PLOT.top}" x2="${px}" y2="${bottom}"/>`);
    parts.push(`<text class="tick" x="${px}" y="${bottom + 15}" text-anchor="middle">${escapeHtml(t.label)}</text>`);
  }
  for (const t of y.ticks) {
    const py = num(pxY(y, t.value));
    parts.push(`<line class="grid" x1="${PLOT.left}" y1="${py}" x2="${right}" y2="${py}"/>`);
    parts.push(`<text class="tick" x="${PLOT.left - 6}" y="${py}" dy="0.32em" text-anchor="end">${escapeHtml(t.label)}</text>`);
  }
  parts.push(`<rect class="frame" x="${PLOT.left}" y="${PLOT.top}" width="${right - PLOT.left}" height="${bottom - PLOT.top}"/>`);
  parts.push(`<text class="axis-title" x="${num((PLOT.left + right) / 2)}" y="${PLOT.height - 8}" text-anchor="middle">${escapeHtml(x.title)}</text>`);
  const midY = num((PLOT.top + bottom) / 2);
  parts.push(`<text class="axis-title" x="14" y="${midY}" text-anchor="middle" transform="rotate(-90 14 ${midY})">${escapeHtml(y.title)}</text>`);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const coords = s.points.map((p) => `${num(pxX(x, p[0]))},${num(pxY(y, p[1]))}`);
    const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
    const name = escapeHtml(s.name);
    parts.push(`<path class="curve" data-series="${name}" d="M${coords.join('L')}" stroke="${s.color}"${dash}><title>${name}</title></path>`);
    // A lone point draws no line: mark it.
    if (s.points.length === 1) {
      const [cx, cy] = (coords[0] ?? '0,0').split(',');
      parts.push(`<circle cx="${cx ?? 0}" cy="${cy ?? 0}" r="3" fill="${s.color}"><title>${name}</title></circle>`);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

export function legend(series: readonly Series[]): string {
  const items = series
    .filter((s) => s.points.length > 0)
    .map((s) => {
      const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
      return `<li><svg class="swatch" viewBox="0 0 28 10" width="28" height="10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" stroke="${s.color}" stroke-width="2.5"${dash}/></svg>${escapeHtml(s.name)}</li>`;
    });
  return `<ul class="legend">${items.join('')}</ul>`;
}

function percentilePlot(report: BenchReport): string {
  const series: Series[] = [];
  report.scenarios.forEach((s, i) => {
    const style = styleFor(i);
    const points = percentileSeries(s);
    if (points.length > 0) series.push({ name: s.name, ...style, points });
    if (s.uncorrected !== undefined && s.uncorrected.count > 0) {
      series.push({ name: `${s.name} (uncorrected)`, color: style.color, dash: UNCORRECTED_DASH, points: summarySeries(s.uncorrected) });
    }
  });
  if (series.length === 0) return '<p class="muted">No percentile data in this report.</p>';
  const maxX = Math.max(...series.flatMap((s) => s.points.map((p) => p[0])));
  // At least 99.999%, more when the histograms resolve further, at most 99.99999%.
  const nines = Math.min(7, Math.max(5, Math.ceil(maxX - 1e-9)));
  const ticks: Tick[] = Array.from({ length: nines + 1 }, (_, d) => ({ value: d, label: percentileAxisLabel(d) }));
  const x: Axis = { scale: 'linear', min: 0, max: nines, ticks, title: 'percentile (log scale of 1/(1-p))' };
  const y = logAxis(
    series.flatMap((s) => s.points.map((p) => p[1])),
    'latency (log scale)',
    usTick,
  );
  return `${svgPlot('Latency by percentile', 'percentiles', x, y, series)}${legend(series)}`;
}

/** Tick labels for rates without trailing zeros: `20k`, `2.5k`, `1M`. */
export function rateTick(v: number): string {
  return formatCompact(v).replace(/\.0+(?=[kM]$)/, '');
}

export function secondsTick(v: number): string {
  return `${tidy(v)} s`;
}

function overTimePlots(report: BenchReport): string {
  const throughput: Series[] = [];
  const p99: Series[] = [];
  report.scenarios.forEach((s, i) => {
    if (s.intervals.length === 0) return;
    const style = styleFor(i);
    const sorted = [...s.intervals].sort((a, b) => a.startMs - b.startMs);
    const mid = (iv: IntervalPoint): number => (iv.startMs + iv.durationMs / 2) / 1_000;
    const t = sorted.map((iv): Point => [mid(iv), iv.throughputPerSec]).filter((p) => Number.isFinite(p[1]));
    const l = sorted.map((iv): Point => [mid(iv), iv.p99Us]).filter((p) => Number.isFinite(p[1]));
    throughput.push({ name: s.name, ...style, points: downsample(t, MAX_POINTS_PER_LINE, 'mean') });
    p99.push({ name: s.name, ...style, points: downsample(l, MAX_POINTS_PER_LINE, 'max') });
  });
  if (throughput.length === 0) return '<p class="muted">No interval data in this report.</p>';
  const ends = report.scenarios.flatMap((s) => s.intervals.map((iv) => (iv.startMs + iv.durationMs) / 1_000));
  const x = linearAxisFromZero(ends, 'seconds since the start of the measured phase', secondsTick);
  const yT = linearAxisFromZero(
    throughput.flatMap((s) => s.points.map((p) => p[1])),
    'replies per second',
    rateTick,
  );
  const yL = logAxis(
    p99.flatMap((s) => s.points.map((p) => p[1])),
    'p99 latency (log scale)',
    usTick,
  );
  return [
    '<h3>Throughput over time</h3>',
    svgPlot('Throughput over time', 'throughput-over-time', x, yT, throughput),
    '<h3>p99 latency over time</h3>',
    svgPlot('p99 latency over time', 'p99-over-time', x, yL, p99),
    legend(throughput),
    '<p class="muted">One point per interval, at its middle; throughput is averaged and p99 is the largest when intervals are merged to fit.</p>',
  ].join('\n');
}

// ---------------------------------------------------------------------------
// Tables

interface HtmlCell {
  readonly html: string;
  readonly num?: boolean;
  readonly cls?: string;
}

const text = (s: string, cls?: string): HtmlCell => ({ html: escapeHtml(s), ...(cls === undefined ? {} : { cls }) });
const numeric = (s: string, cls?: string): HtmlCell => ({ html: escapeHtml(s), num: true, ...(cls === undefined ? {} : { cls }) });

function td(c: HtmlCell): string {
  const classes = [c.num === true ? 'num' : '', c.cls ?? ''].filter((x) => x !== '').join(' ');
  return `<td${classes === '' ? '' : ` class="${classes}"`}>${c.html}</td>`;
}

function table(cls: string, headers: ReadonlyArray<string | { text: string; num: boolean }>, rows: readonly string[]): string {
  const th = headers
    .map((h) => (typeof h === 'string' ? `<th>${escapeHtml(h)}</th>` : `<th${h.num ? ' class="num"' : ''}>${escapeHtml(h.text)}</th>`))
    .join('');
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function envTable(report: BenchReport): string {
  const e = report.env;
  const rows: Array<[string, string]> = [
    ['target', e.target],
    ['started', e.startedAt],
    ['host', e.hostname],
    ['node', `${e.nodeVersion} (V8 ${e.v8Version})`],
    ['platform', `${e.platform}/${e.arch}`],
    ['CPU', `${e.cpuModel} \u00d7${e.cpuCount}`],
    ['kernel', e.kernel],
    ['load average', e.loadAverage.length > 0 ? e.loadAverage.map((l) => l.toFixed(2)).join(' ') : '-'],
    ['pinning', pinningLabel(e.pinning)],
    ['tool', `${report.tool.name} ${report.tool.version}, timer ${report.tool.timer}`],
  ];
  return `<table class="env"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</tbody></table>`;
}

function summaryTable(report: BenchReport): string {
  const floors = floorNames(report);
  const uncorr = report.scenarios.some((s) => s.uncorrected !== undefined);
  const headers = [
    'scenario',
    'mode',
    'loop',
    { text: 'payload', num: true },
    { text: 'replies/s', num: true },
    { text: 'p50', num: true },
    { text: 'p90', num: true },
    { text: 'p99', num: true },
    ...(uncorr ? [{ text: 'p99 uncorrected', num: true }] : []),
    { text: 'p99.9', num: true },
    { text: 'max', num: true },
    { text: 'errors', num: true },
    { text: 'late', num: true },
    { text: 'unanswered', num: true },
    'vs floor p50 / p99',
  ];
  const rows = report.scenarios.flatMap((s, i) => {
    const isFloor = floors.has(s.name);
    const style = styleFor(i);
    const name: HtmlCell = {
      html: `<span class="key" style="background:${style.color}"></span>${escapeHtml(s.name)}`,
      cls: s.failure !== undefined ? 'bad' : isFloor ? 'muted' : '',
    };
    const bad = (n: number): HtmlCell => numeric(formatCount(n), n > 0 ? 'bad' : undefined);
    const cells: HtmlCell[] = [
      name,
      text(s.mode),
      text(loopLabel(s)),
      numeric(formatBytes(s.payloadBytes)),
      numeric(formatCount(s.throughputPerSec)),
      numeric(formatUs(s.p50Us)),
      numeric(formatUs(s.p90Us)),
      numeric(formatUs(s.p99Us)),
      ...(uncorr ? [numeric(s.uncorrected === undefined ? '' : formatUs(s.uncorrected.p99Us), 'muted')] : []),
      numeric(formatUs(s.p999Us)),
      numeric(formatUs(s.maxUs)),
      bad(s.errors),
      numeric(formatCount(s.late), s.late > 0 ? 'warn' : undefined),
      bad(s.unanswered),
      text(floorRatioLabel(s) ?? (isFloor ? '(floor)' : '-'), isFloor ? 'muted' : undefined),
    ];
    const out = [`<tr>${cells.map(td).join('')}</tr>`];
    if (s.failure !== undefined) out.push(`<tr class="failure"><td colspan="${cells.length}">FAILED: ${escapeHtml(s.failure)}</td></tr>`);
    return out;
  });
  return table('summary', headers, rows);
}

function floorSection(report: BenchReport): string {
  const withFloor = report.scenarios.filter((s) => s.floor !== undefined && s.ratioToFloor !== undefined);
  if (withFloor.length === 0) return '';
  const maxRatio = Math.max(1, ...withFloor.flatMap((s) => [s.ratioToFloor?.p50 ?? 0, s.ratioToFloor?.p99 ?? 0].filter(Number.isFinite)));
  // Bars on a log scale, so that 1.2x stays visible next to a 90x tail.
  const bar = (ratio: number): HtmlCell => {
    const share = Number.isFinite(ratio) && ratio > 1 && maxRatio > 1 ? Math.log(Math.min(ratio, maxRatio)) / Math.log(maxRatio) : 0;
    const width = 2 + Math.round(share * 118);
    return { html: `<span class="bar" style="width:${width}px"></span>${escapeHtml(formatRatio(ratio))}` };
  };
  const rows = withFloor.map((s) => {
    const f = s.floor;
    const r = s.ratioToFloor;
    if (f === undefined || r === undefined) return '';
    return `<tr>${[text(s.name), text(f.name), numeric(formatUs(f.p50Us)), numeric(formatUs(s.p50Us)), bar(r.p50), numeric(formatUs(f.p99Us)), numeric(formatUs(s.p99Us)), bar(r.p99)]
      .map(td)
      .join('')}</tr>`;
  });
  return [
    '<h2 id="floor">Ratio to the floor</h2>',
    '<p class="muted">The floor is a raw echo peer measured in the same run; on shared, noisy machines these side-by-side ratios are the figures that hold. Bars on a log scale.</p>',
    table('floor', ['scenario', 'floor', { text: 'floor p50', num: true }, { text: 'p50', num: true }, 'p50 ratio', { text: 'floor p99', num: true }, { text: 'p99', num: true }, 'p99 ratio'], rows),
  ].join('\n');
}

const OPERATION_ORDER: readonly CodecMatrixRow['operation'][] = ['encode', 'decode', 'sign', 'verify'];

function codecSection(rows: readonly CodecMatrixRow[] | undefined): string {
  if (rows === undefined || rows.length === 0) return '';
  const modes = [...new Set(rows.map((r) => r.mode))];
  const sorted = [...rows].sort((a, b) => modes.indexOf(a.mode) - modes.indexOf(b.mode) || OPERATION_ORDER.indexOf(a.operation) - OPERATION_ORDER.indexOf(b.operation));
  const body = sorted.map(
    (r) =>
      `<tr>${[
        text(r.mode),
        text(r.operation),
        numeric(formatNs(r.meanNs)),
        numeric(formatNs(r.p50Ns)),
        numeric(formatNs(r.p99Ns)),
        numeric(formatCompact(r.opsPerSec)),
        numeric(formatCount(r.samples)),
        numeric(formatBytes(r.frameBytes)),
      ]
        .map(td)
        .join('')}</tr>`,
  );
  return [
    '<h2 id="codec">Codec matrix</h2>',
    '<p class="muted">Cost per message of each operation in each mode, and the frame size on the wire of the mode\u2019s sample signal.</p>',
    table(
      'codec',
      ['mode', 'operation', { text: 'mean/op', num: true }, { text: 'p50/op', num: true }, { text: 'p99/op', num: true }, { text: 'ops/s', num: true }, { text: 'samples', num: true }, { text: 'frame', num: true }],
      body,
    ),
  ].join('\n');
}

function httpSection(h: HttpComparison | undefined): string {
  if (h === undefined) return '';
  const rows = [
    `<tr>${[text('IPC (Unix socket)'), numeric(formatUs(h.ipcP50Us)), numeric(formatUs(h.ipcMeanUs))].map(td).join('')}</tr>`,
    `<tr>${[text('HTTP (loopback)'), numeric(formatUs(h.httpP50Us)), numeric(formatUs(h.httpMeanUs))].map(td).join('')}</tr>`,
    `<tr class="ratio">${[text('HTTP / IPC'), numeric(formatRatio(h.ratioP50)), numeric(formatRatio(h.ratioMean))].map(td).join('')}</tr>`,
  ];
  return [
    '<h2 id="http">IPC vs HTTP</h2>',
    `<p>Same signal endpoint of the reference server, ${h.connections} connection${h.connections === 1 ? '' : 's'}; HTTP ${escapeHtml(formatCount(h.httpRequestsPerSec))} requests/s, <span${h.errors > 0 ? ' class="bad"' : ''}>${escapeHtml(formatCount(h.errors))} errors</span>.</p>`,
    table('http', ['', { text: 'p50', num: true }, { text: 'mean', num: true }], rows),
  ].join('\n');
}

/** Fast sessions: round trips, transfers, one way, side-by-side ratios and the issue's targets (small tables, no plots). */
function fastSessionSection(f: FastSessionResult | undefined): string {
  if (f === undefined) return '';
  const out = ['<h2 id="fast-session">Fast sessions (shared-memory rings and uds)</h2>'];
  if (f.failure !== undefined) return [...out, `<p class="bad">Not measured: ${escapeHtml(f.failure)}</p>`].join('\n');
  const ready = f.ready.map((r) => `${r.transport}: server wait ${r.wait ?? '-'}, maxMessageBytes ${formatBytes(r.maxMessageBytes)}`).join('; ');
  out.push(`<p class="muted">Transports ${escapeHtml(f.transports.join(' + '))}, rings of ${escapeHtml(formatBytes(f.capacityBytes))}. READY ${escapeHtml(ready)}.</p>`);
  const row = (cells: HtmlCell[]): string => `<tr>${cells.map(td).join('')}</tr>`;
  if (f.roundTrips.length > 0) {
    out.push(
      table(
        'fast-rt',
        ['round trip', 'client wait', 'server wait', { text: 'req/s', num: true }, { text: 'p50', num: true }, { text: 'p99', num: true }, { text: 'p99.9', num: true }, { text: 'max', num: true }, { text: 'errors', num: true }],
        f.roundTrips.map((r) =>
          row([
            text(r.name, r.failure !== undefined ? 'bad' : undefined),
            text(r.clientWait ?? '-'),
            text(r.serverWait ?? '-'),
            numeric(formatCount(r.throughputPerSec)),
            numeric(formatUs(r.p50Us)),
            numeric(formatUs(r.p99Us)),
            numeric(formatUs(r.p999Us)),
            numeric(formatUs(r.maxUs)),
            numeric(formatCount(r.errors), r.errors > 0 ? 'bad' : undefined),
          ]),
        ),
      ),
    );
  }
  if (f.transfers.length > 0) {
    out.push(
      table(
        'fast-transfer',
        ['transfer', { text: 'size', num: true }, { text: 'ring', num: true }, { text: 'reps', num: true }, { text: 'p50', num: true }, { text: 'p99', num: true }, { text: 'GB/s p50', num: true }, { text: 'GB/s sustained', num: true }],
        f.transfers.map((x) =>
          row([
            text(x.name, x.failure !== undefined ? 'bad' : undefined),
            numeric(formatBytes(x.sizeBytes)),
            numeric(x.capacityBytes === undefined ? '-' : formatBytes(x.capacityBytes)),
            numeric(formatCount(x.reps)),
            numeric(formatUs(x.p50Us)),
            numeric(formatUs(x.p99Us)),
            numeric(formatFastValue(x.gbPerSecP50, 'GB/s')),
            numeric(formatFastValue(x.gbPerSecSustained, 'GB/s')),
          ]),
        ),
      ),
    );
  }
  if (f.oneWay.length > 0) {
    out.push(
      table(
        'fast-oneway',
        ['one way', { text: 'messages', num: true }, { text: 'msg/s', num: true }],
        f.oneWay.map((o) => row([text(o.name, o.failure !== undefined ? 'bad' : undefined), numeric(formatCount(o.messages)), numeric(formatFastValue(o.messagesPerSec, 'msg/s'))])),
      ),
    );
  }
  if (f.nativeRing !== undefined) {
    const ring = f.nativeRing;
    const transfers = ring.transfers.map((x) => `${formatBytes(x.sizeBytes)}${x.capacityBytes === ring.capacityBytes ? '' : ` (${formatBytes(x.capacityBytes)} rings)`}: ${formatUs(x.p50Us)} p50 (${formatFastValue(x.gbPerSecP50, 'GB/s')})`).join(', ');
    out.push(`<p>Native C ring floor (two processes spinning): ${escapeHtml(formatBytes(ring.payloadBytes))} round trip p50 ${escapeHtml(formatUs(ring.p50Us))}, p99 ${escapeHtml(formatUs(ring.p99Us))}${transfers === '' ? '' : `; ${escapeHtml(transfers)}`}.</p>`);
  }
  if (f.comparisons.length > 0) {
    const r = (x: number | undefined): HtmlCell => numeric(x === undefined ? '-' : formatRatio(x));
    out.push(
      table(
        'fast-compare',
        ['side by side', { text: 'shm', num: true }, { text: 'uds', num: true }, { text: 'shm/uds', num: true }, { text: 'socket', num: true }, { text: 'shm/socket', num: true }, { text: 'C ring', num: true }, { text: 'shm/C ring', num: true }],
        f.comparisons.map((c) =>
          row([
            text(c.measure),
            numeric(formatFastValue(c.shm, c.unit)),
            numeric(formatFastValue(c.uds, c.unit)),
            r(c.shmOverUds),
            numeric(formatFastValue(c.socket, c.unit)),
            r(c.shmOverSocket),
            numeric(formatFastValue(c.nativeRing, c.unit)),
            r(c.shmOverNativeRing),
          ]),
        ),
      ),
    );
  }
  if (f.targets.length > 0) {
    out.push(
      '<p class="muted">Targets of issue 4, judged on this run (reported, not enforced).</p>',
      table(
        'fast-targets',
        ['target', 'verdict', { text: 'measured', num: true }, 'basis'],
        f.targets.map((t) => row([text(t.description), text(targetVerdict(t), t.met === false ? 'bad' : t.met === undefined ? 'muted' : undefined), numeric(formatFastValue(t.measured, t.unit)), text(t.basis, 'muted')])),
      ),
    );
  }
  if (f.notes.length > 0) out.push(`<ul class="muted">${f.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`);
  return out.join('\n');
}

function fairnessSection(report: BenchReport): string {
  const fair = report.scenarios.filter((s) => s.fairness !== undefined);
  if (fair.length === 0) return '';
  const rows = fair.map((s) => {
    const f = s.fairness;
    if (f === undefined) return '';
    return `<tr>${[
      text(s.name),
      numeric(String(f.connections)),
      numeric(f.jainIndex.toFixed(3), f.jainIndex < 0.9 ? 'warn' : undefined),
      numeric(formatCount(f.minPerConnection)),
      numeric(formatCount(f.meanPerConnection)),
      numeric(formatCount(f.maxPerConnection)),
    ]
      .map(td)
      .join('')}</tr>`;
  });
  return [
    '<h2 id="fairness">Fairness across connections</h2>',
    "<p class=\"muted\">Replies per connection; Jain's index is 1 when every connection got the same share.</p>",
    table('fairness', ['scenario', { text: 'connections', num: true }, { text: "Jain's index", num: true }, { text: 'min', num: true }, { text: 'mean', num: true }, { text: 'max', num: true }], rows),
  ].join('\n');
}

function repetitionsSection(report: BenchReport): string {
  const repeated = report.scenarios.filter((s) => s.runs.length > 1);
  if (repeated.length === 0) return '';
  const rows = repeated.flatMap((s) =>
    s.runs.map(
      (r, i) =>
        `<tr>${[text(i === 0 ? s.name : ''), numeric(String(i + 1)), numeric(formatUs(r.p50Us)), numeric(formatUs(r.p90Us)), numeric(formatUs(r.p99Us)), numeric(formatUs(r.p999Us)), numeric(formatCount(r.throughputPerSec))]
          .map(td)
          .join('')}</tr>`,
    ),
  );
  return [
    '<h2 id="runs">Repetitions</h2>',
    table('runs', ['scenario', { text: 'run', num: true }, { text: 'p50', num: true }, { text: 'p90', num: true }, { text: 'p99', num: true }, { text: 'p99.9', num: true }, { text: 'replies/s', num: true }], rows),
  ].join('\n');
}

function problemsSection(report: BenchReport): string {
  const troubled = report.scenarios.filter((s) => s.failure !== undefined || s.errors > 0 || s.unanswered > 0 || s.errorSamples.length > 0);
  if (troubled.length === 0) return '';
  const blocks = troubled.map((s) => {
    const parts = [`<div class="problem"><h3>${escapeHtml(s.name)}</h3>`];
    if (s.failure !== undefined) parts.push(`<p class="bad">FAILED: ${escapeHtml(s.failure)}</p>`);
    parts.push(`<p>${escapeHtml(`${formatCount(s.errors)} errors, ${formatCount(s.unanswered)} unanswered, ${formatCount(s.late)} late of ${formatCount(s.sent)} sent`)}</p>`);
    if (s.errorSamples.length > 0) parts.push(`<ul class="samples">${s.errorSamples.map((e) => `<li><code>${escapeHtml(e)}</code></li>`).join('')}</ul>`);
    parts.push('</div>');
    return parts.join('');
  });
  return ['<h2 id="problems">Errors and failures</h2>', ...blocks].join('\n');
}

/** A link for a file path relative to the report directory; anything that looks like a URL or an absolute path stays text. */
function fileLink(path: string): string {
  const relative = !/^[a-z][a-z0-9+.-]*:/i.test(path) && !path.startsWith('/') && !path.startsWith('\\');
  return relative ? `<a href="${escapeHtml(path)}"><code>${escapeHtml(path)}</code></a>` : `<code>${escapeHtml(path)}</code>`;
}

function filesSection(report: BenchReport): string {
  const rows = report.scenarios.flatMap((s) => {
    const files: Array<[string, string | undefined]> = [
      ['.hgrm', s.files.hgrm],
      ['uncorrected .hgrm', s.files.uncorrectedHgrm],
      ['interval log', s.files.intervalLog],
    ];
    const present = files.filter((f): f is [string, string] => f[1] !== undefined);
    return present.length === 0 ? [] : [`<tr><td>${escapeHtml(s.name)}</td><td>${present.map(([k, p]) => `${escapeHtml(k)}: ${fileLink(p)}`).join(' &middot; ')}</td></tr>`];
  });
  if (rows.length === 0) return '';
  return ['<h2 id="files">Files</h2>', '<p class="muted">HdrHistogram files next to this report, readable by standard HdrHistogram tools.</p>', table('files', ['scenario', 'files'], rows)].join('\n');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;background:#fff;margin:0 auto;padding:16px 24px 48px;max-width:1280px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top;white-space:nowrap}
thead th{background:#f4f4f4;border-bottom:1px solid #ccc}
.env th{background:none;font-weight:600;color:#555}.env td{white-space:normal}
.num{text-align:right}
.bad{color:#b00020;font-weight:600}.warn{color:#a15c00}.muted{color:#6b6b6b}
tr.failure td{color:#b00020;background:#fff0f0;white-space:pre-wrap}
.status{margin:4px 0 12px}.status .bad{padding:1px 6px;border-radius:3px;background:#fff0f0}
.key{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.bar{display:inline-block;height:10px;background:#0072B2;opacity:.55;margin-right:6px;vertical-align:middle}
.plot{width:100%;max-width:${PLOT.width}px;height:auto;display:block}
.plot .grid{stroke:#e6e6e6;stroke-width:1}.plot .frame{fill:none;stroke:#999}
.plot .tick{font-size:11px;fill:#444}.plot .axis-title{font-size:12px;fill:#222}
.plot .curve{fill:none;stroke-width:1.8;stroke-linejoin:round}
.legend{list-style:none;padding:0;margin:4px 0 16px;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px}
.legend li{display:flex;align-items:center;gap:6px}
.problem{margin-bottom:8px}.samples code{white-space:pre-wrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
`;

/** The report style sheet (shared by the soak report). */
export const REPORT_CSS = CSS;

/**
 * The HTML report of a bench run, as one self-contained document: the environment;
 * a summary table (as on the console); the latency distribution of every scenario on
 * the HdrHistogram percentile axis (open-loop uncorrected curves dotted); throughput
 * and p99 over time; ratios to the floor; fairness; the codec matrix and the IPC vs
 * HTTP comparison when present; repetitions; error samples and failures; links to the
 * `.hgrm` and interval-log files. Readable without JavaScript; lines are downsampled
 * to at most {@link MAX_POINTS_PER_LINE} points.
 */
export function renderBenchHtml(report: BenchReport): string {
  const failed = report.scenarios.filter((s) => s.failure !== undefined).length;
  const status =
    failed > 0
      ? `<span class="bad">${failed} of ${report.scenarios.length} scenario${report.scenarios.length === 1 ? '' : 's'} failed</span>`
      : `${report.scenarios.length} scenario${report.scenarios.length === 1 ? '' : 's'}, none failed`;
  const body = [
    `<h1>${escapeHtml(`${report.tool.name} bench`)}: ${escapeHtml(report.env.target)}</h1>`,
    `<p class="status">${status}; started ${escapeHtml(report.env.startedAt)} on ${escapeHtml(report.env.hostname)}.</p>`,
    '<h2 id="env">Environment</h2>',
    envTable(report),
    '<h2 id="summary">Summary</h2>',
    report.scenarios.length === 0 ? '<p class="muted">No scenarios ran.</p>' : summaryTable(report),
    '<p class="muted">Latencies in open loop are measured from the intended send time (coordinated omission corrected); the uncorrected figures are from the actual send time.</p>',
    '<h2 id="percentiles">Latency by percentile</h2>',
    percentilePlot(report),
    '<h2 id="over-time">Over time</h2>',
    overTimePlots(report),
    floorSection(report),
    fairnessSection(report),
    codecSection(report.codecMatrix),
    httpSection(report.http),
    fastSessionSection(report.fastSession),
    repetitionsSection(report),
    problemsSection(report),
    filesSection(report),
  ].filter((s) => s !== '');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`${report.tool.name} bench: ${report.env.target} (${report.env.startedAt})`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
