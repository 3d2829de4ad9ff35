import { formatBytes, formatCount, formatUs } from './bench-report-console.js';
import {
  downsample,
  escapeHtml,
  legend,
  linearAxisFromZero,
  logAxis,
  MAX_POINTS_PER_LINE,
  niceStep,
  rateTick,
  REPORT_CSS,
  styleFor,
  svgPlot,
  tidy,
  usTick,
  type Axis,
  type Point,
  type Series,
  type Tick,
} from './bench-report-html.js';
import type { SoakResult } from './soak-driver.js';
import { futureMinimum } from './soak-trend.js';

/**
 * The self-contained HTML report of `fastpath soak` (pure): the verdict with every
 * check, the figures, and four plots over time: RSS (with the fitted trend), open
 * FDs, p50 and p99 per interval, throughput per interval. Inline CSS and SVG, no
 * script, nothing fetched; every string from the result is escaped.
 */

/** Time unit of the x axes: seconds for runs up to 20 minutes, minutes up to 5 hours, hours beyond. */
export function timeUnit(spanMs: number): { readonly ms: number; readonly name: string; readonly short: string } {
  if (spanMs <= 20 * 60_000) return { ms: 1_000, name: 'seconds', short: 's' };
  if (spanMs <= 5 * 3_600_000) return { ms: 60_000, name: 'minutes', short: 'min' };
  return { ms: 3_600_000, name: 'hours', short: 'h' };
}

/** A linear axis over [min, max] rounded outwards to a 1-2-5 step (min may be negative: the warm-up). */
function rangeAxis(min: number, max: number, title: string, label: (v: number) => string, fromZero = false): Axis {
  const lo0 = fromZero ? Math.min(0, min) : min;
  const span = max - lo0;
  const step = niceStep(span > 0 ? span : Math.max(1, Math.abs(max)));
  const lo = tidy(Math.floor(lo0 / step + 1e-9) * step);
  const hi = tidy(Math.max(lo + step, Math.ceil(max / step - 1e-9) * step));
  const ticks: Tick[] = [];
  for (let v = lo; v <= hi + step * 1e-9; v = tidy(v + step)) ticks.push({ value: v, label: label(v) });
  return { scale: 'linear', min: lo, max: hi, ticks, title };
}

const MIB = 1_048_576;

function section(title: string, id: string, body: string): string {
  return `<h2 id="${id}">${escapeHtml(title)}</h2>\n${body}`;
}

function verdictTable(r: SoakResult): string {
  const rows = r.checks.map(
    (c) =>
      `<tr class="${c.pass ? '' : 'failure'}"><td>${escapeHtml(c.name)}</td><td class="${c.pass ? '' : 'bad'}">${c.pass ? 'pass' : 'FAIL'}</td><td class="num">${escapeHtml(c.actual)}</td><td class="num">${escapeHtml(c.limit)}</td><td>${escapeHtml(c.detail)}</td></tr>`,
  );
  return `<table class="verdict"><thead><tr><th>check</th><th>result</th><th class="num">measured</th><th class="num">limit</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function figuresTable(r: SoakResult): string {
  const row = (k: string, v: string): string => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`;
  const u = r.uncorrectedLatency;
  return `<table class="env"><tbody>${[
    row('target', `${r.target.name} (${r.target.source}), ${r.target.mode}${r.target.pid === null ? '' : `, pid ${r.target.pid}`}`),
    row('offered', `${formatCount(r.config.ratePerSec)} requests/s over ${r.config.connections} connections (at most ${r.config.depth} in flight each), ${formatBytes(r.config.signalBytes)} signals`),
    row('time', `${(r.config.warmupMs / 1_000).toFixed(0)} s warm-up + ${(r.config.durationMs / 1_000).toFixed(0)} s measured; intervals of ${r.config.intervalMs / 1_000} s, a sample every ${r.config.sampleIntervalMs / 1_000} s`),
    row('operations', `${formatCount(r.ops)} good replies, ${formatCount(r.opsPerSec)}/s; ${formatCount(r.sent)} sent, ${formatCount(r.late)} late, ${formatCount(r.unsent)} unsent`),
    row('latency (corrected)', `p50 ${formatUs(r.latency.p50Us)}, p90 ${formatUs(r.latency.p90Us)}, p99 ${formatUs(r.latency.p99Us)}, p99.9 ${formatUs(r.latency.p999Us)}, max ${formatUs(r.latency.maxUs)}`),
    ...(u === null ? [] : [row('latency (uncorrected)', `p50 ${formatUs(u.p50Us)}, p99 ${formatUs(u.p99Us)}, max ${formatUs(u.maxUs)}`)]),
    row('errors / lost', `${formatCount(r.errors)} errors, ${formatCount(r.lost)} lost replies`),
    row('RSS growth', r.rssGrowthPct === null ? 'not measured' : `${r.rssGrowthPct.toFixed(2)} %`),
    row('FD growth', r.fdGrowth === null ? 'not measured' : String(r.fdGrowth)),
    ...(r.p99Drift === null ? [] : [row('p99 drift', `${r.p99Drift.driftPct.toFixed(1)} % (${formatUs(r.p99Drift.fittedStartUs)} → ${formatUs(r.p99Drift.fittedEndUs)})`)]),
    row('CPU', `target ${r.targetCpuPct === null ? '-' : `${r.targetCpuPct.toFixed(0)} %`}, load generator ${r.generatorCpuPct === null ? '-' : `${r.generatorCpuPct.toFixed(0)} %`} (of one core, mean over the measured phase)`),
    row('load generator memory', `RSS ${r.generatorRssStartBytes === null ? '-' : formatBytes(r.generatorRssStartBytes)} after warm-up, ${r.generatorRssEndBytes === null ? '-' : formatBytes(r.generatorRssEndBytes)} at the end`),
    row('run', `started ${r.startedAt}, finished ${r.finishedAt}`),
  ].join('')}</tbody></table>`;
}

function rssPlot(r: SoakResult, unit: ReturnType<typeof timeUnit>, xOf: (tMs: number) => number, x: Axis): string {
  const pts = r.samples.filter((s) => s.rssBytes !== undefined).map((s): Point => [xOf(s.tMs), (s.rssBytes as number) / MIB]);
  if (pts.length === 0) return '<p class="muted">No RSS samples.</p>';
  const warm = pts.filter((p) => p[0] < 0);
  const measured = pts.filter((p) => p[0] >= 0);
  const series: Series[] = [];
  if (warm.length > 0) series.push({ name: 'RSS during warm-up', color: '#7f7f7f', dash: '2 3', points: downsample([...warm, ...measured.slice(0, 1)], MAX_POINTS_PER_LINE, 'mean') });
  series.push({ name: 'RSS', ...styleFor(0), points: downsample(measured, MAX_POINTS_PER_LINE, 'mean') });
  const baseline = futureMinimum(measured.map(([tMs, value]) => ({ tMs, value }))).map((p): Point => [p.tMs, p.value]);
  series.push({ name: 'post-GC baseline', ...styleFor(2), dash: '2 3', points: downsample(baseline, MAX_POINTS_PER_LINE, 'mean') });
  const t = r.rss;
  const first = measured[0];
  const last = measured[measured.length - 1];
  if (t !== null && first !== undefined && last !== undefined) {
    const basis = t.basis === 'baseline' ? 'baseline' : 'samples';
    series.push({ name: `Theil–Sen trend of the ${basis} (${t.growthPct.toFixed(2)} %)`, color: '#D55E00', dash: '8 4', points: [[first[0], t.fittedStartBytes / MIB], [last[0], t.fittedEndBytes / MIB]] });
  }
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const y = rangeAxis(Math.min(...ys), Math.max(...ys), 'RSS (MiB)', (v) => `${tidy(v)}`);
  return `${svgPlot('RSS over time', 'rss-over-time', x, y, series)}${legend(series)}<p class="muted">One point per sample (${unit.name} since the end of the warm-up). The baseline is, at each sample, the lowest RSS from then on; the verdict takes the smaller growth of the Theil–Sen lines through the samples and through the baseline, after warm-up only.</p>`;
}

function fdPlot(r: SoakResult, xOf: (tMs: number) => number, x: Axis): string {
  const fds = r.samples.filter((s) => s.fds !== undefined).map((s): Point => [xOf(s.tMs), s.fds as number]);
  if (fds.length === 0) return '<p class="muted">No FD samples.</p>';
  const sockets = r.samples.filter((s) => s.sockets !== undefined).map((s): Point => [xOf(s.tMs), s.sockets as number]);
  const series: Series[] = [
    { name: 'open FDs', ...styleFor(0), points: downsample(fds, MAX_POINTS_PER_LINE, 'max') },
    { name: 'of them sockets', ...styleFor(2), points: downsample(sockets, MAX_POINTS_PER_LINE, 'max') },
  ];
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const y = rangeAxis(Math.min(...ys), Math.max(...ys), 'file descriptors', (v) => formatCount(v), true);
  return `${svgPlot('Open file descriptors over time', 'fds-over-time', x, y, series)}${legend(series)}`;
}

function latencyPlot(r: SoakResult, xOf: (tMs: number) => number, x: Axis): string {
  const ivs = r.intervals.filter((iv) => iv.count > 0);
  if (ivs.length === 0) return '<p class="muted">No interval with replies.</p>';
  const mid = (iv: { startMs: number; durationMs: number }): number => xOf(iv.startMs + iv.durationMs / 2);
  const series: Series[] = [
    { name: 'p99', ...styleFor(1), points: downsample(ivs.map((iv): Point => [mid(iv), iv.p99Us]), MAX_POINTS_PER_LINE, 'max') },
    { name: 'p50', ...styleFor(0), points: downsample(ivs.map((iv): Point => [mid(iv), iv.p50Us]), MAX_POINTS_PER_LINE, 'mean') },
  ];
  const y = logAxis(
    series.flatMap((s) => s.points.map((p) => p[1])),
    'latency per interval (log scale)',
    usTick,
  );
  return `${svgPlot('p50 and p99 latency per interval', 'p99-over-time', x, y, series)}${legend(series)}`;
}

function throughputPlot(r: SoakResult, xOf: (tMs: number) => number, x: Axis): string {
  if (r.intervals.length === 0) return '<p class="muted">No intervals.</p>';
  const points = r.intervals.map((iv): Point => [xOf(iv.startMs + iv.durationMs / 2), iv.throughputPerSec]);
  const series: Series[] = [
    { name: 'replies per second', ...styleFor(2), points: downsample(points, MAX_POINTS_PER_LINE, 'mean') },
    { name: 'offered rate', color: '#7f7f7f', dash: '8 4', points: [[x.min, r.config.ratePerSec], [x.max, r.config.ratePerSec]] },
  ];
  const y = linearAxisFromZero([...points.map((p) => p[1]), r.config.ratePerSec * 1.15], 'replies per second', rateTick);
  return `${svgPlot('Throughput per interval', 'throughput-over-time', x, y, series)}${legend(series)}`;
}

function filesList(r: SoakResult): string {
  if (r.files === null) return '';
  const link = (p: string, what: string): string => `<li><a href="${escapeHtml(p)}"><code>${escapeHtml(p)}</code></a>: ${escapeHtml(what)}</li>`;
  return section(
    'Files',
    'files',
    `<ul>${link(r.files.intervalLog, 'HdrHistogram interval log, one corrected histogram per interval (ns; HistogramLogProcessor reads it)')}${link(r.files.samples, 'one JSON sample of the target per line')}${link(r.files.hgrm, 'percentile distribution of the measured phase (µs)')}</ul>`,
  );
}

/**
 * The HTML report of a soak: verdict and checks, figures, then RSS, FDs, p50/p99 and
 * throughput over time (x: time since the end of the warm-up, warm-up samples left
 * of zero). Lines are downsampled to at most {@link MAX_POINTS_PER_LINE} points.
 */
export function renderSoakHtml(r: SoakResult): string {
  const ends = [...r.samples.map((s) => s.tMs), ...r.intervals.map((iv) => iv.startMs + iv.durationMs), r.config.durationMs];
  const minT = Math.min(0, ...r.samples.map((s) => s.tMs));
  const unit = timeUnit(Math.max(...ends) - minT);
  const xOf = (tMs: number): number => tMs / unit.ms;
  const x = rangeAxis(xOf(minT), xOf(Math.max(...ends)), `${unit.name} since the end of the warm-up`, (v) => `${tidy(v)} ${unit.short}`, true);
  const status = r.verdict === 'PASS' ? '<span class="pass">PASS</span>' : `<span class="bad">FAIL</span>: ${r.reasons.map(escapeHtml).join('; ')}`;
  const body = [
    `<h1>fastpath soak: ${escapeHtml(r.target.name)} (${escapeHtml(r.target.mode)})</h1>`,
    `<p class="status verdict-line">${status}</p>`,
    section('Verdict', 'verdict', verdictTable(r)),
    section('Figures', 'figures', figuresTable(r)),
    section('RSS over time', 'rss', rssPlot(r, unit, xOf, x)),
    section('Open file descriptors over time', 'fds', fdPlot(r, xOf, x)),
    section('Latency per interval', 'latency', `${latencyPlot(r, xOf, x)}<p class="muted">Corrected latency (from the intended send time) of the requests intended in each interval.</p>`),
    section('Throughput per interval', 'throughput', throughputPlot(r, xOf, x)),
    r.errorSamples.length === 0 ? '' : section('Error samples', 'errors', `<ul>${r.errorSamples.map((e) => `<li><code>${escapeHtml(e)}</code></li>`).join('')}</ul>`),
    filesList(r),
  ].filter((s) => s !== '');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`fastpath soak: ${r.target.name} ${r.verdict} (${r.startedAt})`)}</title>`,
    `<style>${REPORT_CSS}.pass{color:#007a3d;font-weight:600}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
