import type { BenchEnv, BenchReport, CodecMatrixRow, FastComparison, FastSessionResult, FastTargetCheck, HttpComparison, ScenarioResult } from './bench-result.js';

/**
 * Console output of `fastpath bench`: pure functions from a {@link BenchReport} to a
 * string (autocannon's printResult pattern); the CLI decides where it goes. The
 * small formatters are shared with the HTML report so both read the same.
 */

/** Options of {@link formatBenchTable}. */
export interface BenchTableOptions {
  /** ANSI colours (default off). */
  readonly color?: boolean | undefined;
}

const MICRO = '\u00b5';

/**
 * A latency in µs, human-friendly with about three significant digits:
 * `0.42 µs`, `8.4 µs`, `123 µs`, `1.23 ms`, `45.6 ms`, `2.1 s`. Non-finite → `-`.
 */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us < 0) return `-${formatUs(-us)}`;
  if (us === 0) return `0 ${MICRO}s`;
  if (us < 0.995) return `${us.toFixed(2)} ${MICRO}s`;
  if (us < 99.95) return `${us.toFixed(1)} ${MICRO}s`;
  if (us < 999.5) return `${us.toFixed(0)} ${MICRO}s`;
  const ms = us / 1_000;
  if (ms < 9.995) return `${ms.toFixed(2)} ms`;
  if (ms < 99.95) return `${ms.toFixed(1)} ms`;
  if (ms < 999.5) return `${ms.toFixed(0)} ms`;
  const s = ms / 1_000;
  return s < 99.95 ? `${s.toFixed(1)} s` : `${s.toFixed(0)} s`;
}

/** A per-operation cost in ns: `38.2 ns`, `412 ns`, then as {@link formatUs} (`1.23 µs` is `1.2 µs`). */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  if (ns < 0) return `-${formatNs(-ns)}`;
  if (ns < 99.95) return `${ns.toFixed(1)} ns`;
  if (ns < 999.5) return `${ns.toFixed(0)} ns`;
  return formatUs(ns / 1_000);
}

/** An integer with thousands separators (`48,210`); the value is rounded. Non-finite → `-`. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const rounded = Math.round(n);
  const digits = String(Math.abs(rounded)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return rounded < 0 ? `-${digits}` : digits;
}

/** A large rate compactly: `950`, `12.3k`, `412k`, `2.41M`. Non-finite → `-`. */
export function formatCompact(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a < 9_999.5) return formatCount(n);
  if (a < 99_950) return `${(n / 1e3).toFixed(1)}k`;
  if (a < 999_500) return `${(n / 1e3).toFixed(0)}k`;
  if (a < 9_995_000) return `${(n / 1e6).toFixed(2)}M`;
  if (a < 99_950_000) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e6).toFixed(0)}M`;
}

/** A ratio as `1.12x`. Non-finite → `-`. */
export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-';
}

/** A size in bytes: `64 B`, `4 KiB`, `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const unit = bytes < 1024 * 1024 ? 'KiB' : 'MiB';
  const v = bytes / (unit === 'KiB' ? 1024 : 1024 * 1024);
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} ${unit}`;
}

/** How load was offered: `closed c4×d8` or `open 5,000/s c4`. */
export function loopLabel(s: ScenarioResult): string {
  if (s.loop === 'closed') return `closed c${s.connections}\u00d7d${s.depth}`;
  const rate = s.ratePerSec === undefined ? '?' : formatCount(s.ratePerSec);
  return `open ${rate}/s c${s.connections}`;
}

/** `none`, `same (CPU 2)` or `split (client CPU 2, target CPU 3)`. */
export function pinningLabel(pinning: BenchEnv['pinning']): string {
  const cpu = (n: number | undefined): string => (n === undefined ? '?' : String(n));
  switch (pinning.mode) {
    case 'none':
      return 'none';
    case 'same':
      return `same (CPU ${cpu(pinning.clientCpu ?? pinning.targetCpu)})`;
    case 'split':
      return `split (client CPU ${cpu(pinning.clientCpu)}, target CPU ${cpu(pinning.targetCpu)})`;
  }
}

/** `1.12x / 1.40x` (p50 / p99 over the floor), or `undefined` when the scenario has no floor. */
export function floorRatioLabel(s: ScenarioResult): string | undefined {
  return s.ratioToFloor === undefined ? undefined : `${formatRatio(s.ratioToFloor.p50)} / ${formatRatio(s.ratioToFloor.p99)}`;
}

/** Names of the scenarios that other scenarios of the report use as their floor. */
export function floorNames(report: BenchReport): ReadonlySet<string> {
  return new Set(report.scenarios.flatMap((s) => (s.floor === undefined ? [] : [s.floor.name])));
}

// ---------------------------------------------------------------------------
// Aligned text tables

type Tone = 'bad' | 'warn' | 'dim' | 'head';

interface Cell {
  readonly text: string;
  readonly tone?: Tone | undefined;
}

interface Column {
  readonly title: string;
  readonly right: boolean;
}

const ANSI: Record<Tone, string> = { bad: '\x1b[31m', warn: '\x1b[33m', dim: '\x1b[90m', head: '\x1b[1m' };

function paint(text: string, tone: Tone | undefined, color: boolean): string {
  return color && tone !== undefined ? `${ANSI[tone]}${text}\x1b[0m` : text;
}

/** Pads every cell to its column's width (padding before colouring, so colours never skew alignment). */
function alignRows(columns: readonly Column[], rows: ReadonlyArray<readonly Cell[]>, color: boolean, indent = ''): { header: string; rule: string; rows: string[] } {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  const line = (cells: readonly Cell[]): string =>
    indent +
    columns
      .map((c, i) => {
        const cell = cells[i] ?? { text: '' };
        // The last column is not padded on the right: no trailing blanks, coloured or not.
        const w = i === columns.length - 1 && !c.right ? 0 : (widths[i] ?? 0);
        return paint(c.right ? cell.text.padStart(w) : cell.text.padEnd(w), cell.tone, color);
      })
      .join('  ');
  const header = line(columns.map((c) => ({ text: c.title, tone: 'head' as const })));
  const ruleWidth = widths.reduce((a, b) => a + b, 0) + 2 * Math.max(0, widths.length - 1);
  return { header, rule: indent + '-'.repeat(ruleWidth), rows: rows.map(line) };
}

// ---------------------------------------------------------------------------
// Sections

function envLines(report: BenchReport): string[] {
  const e = report.env;
  const load = e.loadAverage.length > 0 ? e.loadAverage.map((l) => l.toFixed(2)).join(' ') : '-';
  return [
    `${report.tool.name} bench ${report.tool.version}: target ${e.target}, started ${e.startedAt} on ${e.hostname}`,
    `node ${e.nodeVersion} (V8 ${e.v8Version}) ${e.platform}/${e.arch} | CPU ${e.cpuModel} \u00d7${e.cpuCount} | kernel ${e.kernel} | pinning ${pinningLabel(e.pinning)} | load ${load} | timer ${report.tool.timer}`,
  ];
}

const SCENARIO_COLUMNS: readonly Column[] = [
  { title: 'scenario', right: false },
  { title: 'mode', right: false },
  { title: 'loop', right: false },
  { title: 'payload', right: true },
  { title: 'replies/s', right: true },
  { title: 'p50', right: true },
  { title: 'p90', right: true },
  { title: 'p99', right: true },
  { title: 'p99 uncorr', right: true },
  { title: 'p99.9', right: true },
  { title: 'max', right: true },
  { title: 'errors', right: true },
  { title: 'late', right: true },
  { title: 'unanswered', right: true },
  { title: 'vs floor p50/p99', right: false },
];

function scenarioCells(s: ScenarioResult, floors: ReadonlySet<string>): Cell[] {
  const isFloor = floors.has(s.name);
  const nameTone: Tone | undefined = s.failure !== undefined ? 'bad' : isFloor ? 'dim' : undefined;
  const count = (n: number, tone: Tone): Cell => ({ text: formatCount(n), tone: n > 0 ? tone : undefined });
  return [
    { text: s.name, tone: nameTone },
    { text: s.mode },
    { text: loopLabel(s) },
    { text: formatBytes(s.payloadBytes) },
    { text: formatCount(s.throughputPerSec) },
    { text: formatUs(s.p50Us) },
    { text: formatUs(s.p90Us) },
    { text: formatUs(s.p99Us) },
    { text: s.uncorrected === undefined ? '' : formatUs(s.uncorrected.p99Us), tone: 'dim' },
    { text: formatUs(s.p999Us) },
    { text: formatUs(s.maxUs) },
    count(s.errors, 'bad'),
    count(s.late, 'warn'),
    count(s.unanswered, 'bad'),
    { text: floorRatioLabel(s) ?? (isFloor ? '(floor)' : '-'), tone: isFloor ? 'dim' : undefined },
  ];
}

function scenarioTable(report: BenchReport, color: boolean): string[] {
  if (report.scenarios.length === 0) return ['No scenarios ran.'];
  const floors = floorNames(report);
  // The uncorrected column only when some scenario has an uncorrected distribution (open loop).
  const keep = SCENARIO_COLUMNS.map((c) => c.title !== 'p99 uncorr' || report.scenarios.some((s) => s.uncorrected !== undefined));
  const t = alignRows(
    SCENARIO_COLUMNS.filter((_, i) => keep[i] === true),
    report.scenarios.map((s) => scenarioCells(s, floors).filter((_, i) => keep[i] === true)),
    color,
  );
  const out = [t.header, t.rule];
  report.scenarios.forEach((s, i) => {
    out.push(t.rows[i] ?? '');
    if (s.failure !== undefined) out.push(paint(`  FAILED: ${oneLine(s.failure)}`, 'bad', color));
    if (s.errors > 0 && s.errorSamples.length > 0) {
      out.push(`  errors (${formatCount(s.errors)}): ${s.errorSamples.map(oneLine).join(' | ')}`);
    }
  });
  const notes: string[] = [];
  if (report.scenarios.some((s) => s.loop === 'open')) {
    notes.push('Open-loop latencies are from the intended send time (coordinated omission corrected); "p99 uncorr" is from the actual send time.');
  }
  if (floors.size > 0) notes.push('"vs floor" is p50 / p99 over the floor measured in the same run.');
  if (notes.length > 0) out.push('', ...notes);
  return out;
}

const OPERATIONS: readonly CodecMatrixRow['operation'][] = ['encode', 'decode', 'sign', 'verify'];

/** The codec matrix: a row per mode, a column per operation (mean ns/op and ops/s), and the frame size. */
function codecTable(rows: readonly CodecMatrixRow[], color: boolean): string[] {
  const modes = [...new Set(rows.map((r) => r.mode))];
  const ops = OPERATIONS.filter((op) => rows.some((r) => r.operation === op));
  const columns: Column[] = [
    { title: 'mode', right: false },
    ...ops.flatMap((op) => [
      { title: `${op}/op`, right: true },
      { title: 'ops/s', right: true },
    ]),
    { title: 'frame', right: true },
  ];
  const cells = modes.map((mode): Cell[] => {
    const mine = rows.filter((r) => r.mode === mode);
    const sizes = [...new Set(mine.map((r) => r.frameBytes))].sort((a, b) => a - b);
    const frame = sizes.length === 0 ? '-' : sizes.map((b) => formatBytes(b)).join('/');
    return [
      { text: mode },
      ...ops.flatMap((op): Cell[] => {
        const r = mine.find((x) => x.operation === op);
        return r === undefined ? [{ text: '-' }, { text: '-' }] : [{ text: formatNs(r.meanNs) }, { text: formatCompact(r.opsPerSec) }];
      }),
      { text: frame },
    ];
  });
  const t = alignRows(columns, cells, color, '  ');
  return ['Codec matrix (mean per message, operations per second, frame size on the wire):', t.header, t.rule, ...t.rows];
}

/** IPC vs HTTP: p50 and mean of each and the ratios. */
function httpTable(h: HttpComparison, color: boolean): string[] {
  const columns: Column[] = [
    { title: '', right: false },
    { title: 'p50', right: true },
    { title: 'mean', right: true },
  ];
  const t = alignRows(
    columns,
    [
      [{ text: 'IPC (Unix socket)' }, { text: formatUs(h.ipcP50Us) }, { text: formatUs(h.ipcMeanUs) }],
      [{ text: 'HTTP (loopback)' }, { text: formatUs(h.httpP50Us) }, { text: formatUs(h.httpMeanUs) }],
      [{ text: 'HTTP / IPC' }, { text: formatRatio(h.ratioP50) }, { text: formatRatio(h.ratioMean) }],
    ],
    color,
    '  ',
  );
  return [
    `IPC vs HTTP (${h.connections} connection${h.connections === 1 ? '' : 's'}, HTTP ${formatCount(h.httpRequestsPerSec)} req/s, ${formatCount(h.errors)} error${h.errors === 1 ? '' : 's'}):`,
    t.header,
    t.rule,
    ...t.rows,
  ];
}

function fairnessLines(report: BenchReport, color: boolean): string[] {
  const fair = report.scenarios.filter((s) => s.fairness !== undefined);
  if (fair.length === 0) return [];
  const width = Math.max(...fair.map((s) => s.name.length));
  return [
    "Fairness across connections (replies per connection; Jain's index, 1 = perfectly fair):",
    ...fair.map((s) => {
      const f = s.fairness;
      if (f === undefined) return '';
      const index = paint(f.jainIndex.toFixed(3), f.jainIndex < 0.9 ? 'warn' : undefined, color);
      return `  ${s.name.padEnd(width)}  Jain ${index} over ${f.connections} connections, min ${formatCount(f.minPerConnection)} / max ${formatCount(f.maxPerConnection)} (mean ${formatCount(f.meanPerConnection)})`;
    }),
  ];
}

/** A figure of a fast-session comparison in its unit: `3.2 µs`, `512k msg/s`, `12.4 GB/s`. */
export function formatFastValue(value: number | undefined, unit: FastComparison['unit'] | FastTargetCheck['unit']): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  switch (unit) {
    case 'us':
      return formatUs(value);
    case 'ms':
      return formatUs(value * 1_000);
    case 'x':
      return formatRatio(value);
    case 'GB/s':
      return `${value.toFixed(value < 10 ? 2 : 1)} GB/s`;
    case 'msg/s':
      return `${formatCompact(value)} msg/s`;
  }
}

/** `met`, `NOT MET` or `not measured`. */
export function targetVerdict(t: FastTargetCheck): string {
  return t.met === undefined ? 'not measured' : t.met ? 'met' : 'NOT MET';
}

/** The fast-session section: round trips, transfers, one way, the native ring floor, comparisons and targets. */
function fastSessionLines(f: FastSessionResult, color: boolean): string[] {
  const out: string[] = [`Fast sessions (docs/SPEC.md \u00a710), ${f.transports.join(' + ')}, rings of ${formatBytes(f.capacityBytes)}:`];
  if (f.failure !== undefined) return [...out, paint(`  not measured: ${oneLine(f.failure)}`, 'bad', color)];
  for (const r of f.ready) {
    out.push(`  READY ${r.transport}: server wait ${r.wait ?? '-'}, maxMessageBytes ${formatBytes(r.maxMessageBytes)}, server pid ${r.serverPid}`);
  }
  if (f.roundTrips.length > 0) {
    const t = alignRows(
      [
        { title: 'round trip (closed loop, 1 in flight)', right: false },
        { title: 'client wait', right: false },
        { title: 'server wait', right: false },
        { title: 'payload', right: true },
        { title: 'req/s', right: true },
        { title: 'p50', right: true },
        { title: 'p90', right: true },
        { title: 'p99', right: true },
        { title: 'p99.9', right: true },
        { title: 'max', right: true },
        { title: 'errors', right: true },
      ],
      f.roundTrips.map((r): Cell[] => [
        { text: r.name, tone: r.failure !== undefined ? 'bad' : undefined },
        { text: r.clientWait ?? '-' },
        { text: r.serverWait ?? '-' },
        { text: formatBytes(r.payloadBytes) },
        { text: formatCount(r.throughputPerSec) },
        { text: formatUs(r.p50Us) },
        { text: formatUs(r.p90Us) },
        { text: formatUs(r.p99Us) },
        { text: formatUs(r.p999Us) },
        { text: formatUs(r.maxUs) },
        { text: formatCount(r.errors), tone: r.errors > 0 ? 'bad' : undefined },
      ]),
      color,
      '  ',
    );
    out.push('', t.header, t.rule, ...t.rows);
    for (const r of f.roundTrips) if (r.failure !== undefined) out.push(paint(`    ${r.name} FAILED: ${oneLine(r.failure)}`, 'bad', color));
  }
  if (f.transfers.length > 0) {
    const t = alignRows(
      [
        { title: 'transfer (sink, send to response)', right: false },
        { title: 'size', right: true },
        { title: 'ring', right: true },
        { title: 'reps', right: true },
        { title: 'p50', right: true },
        { title: 'p99', right: true },
        { title: 'GB/s p50', right: true },
        { title: 'GB/s sustained', right: true },
      ],
      f.transfers.map((x): Cell[] => [
        { text: x.name, tone: x.failure !== undefined ? 'bad' : undefined },
        { text: formatBytes(x.sizeBytes) },
        { text: x.capacityBytes === undefined ? '-' : formatBytes(x.capacityBytes) },
        { text: formatCount(x.reps) },
        { text: formatUs(x.p50Us) },
        { text: formatUs(x.p99Us) },
        { text: formatFastValue(x.gbPerSecP50, 'GB/s') },
        { text: formatFastValue(x.gbPerSecSustained, 'GB/s') },
      ]),
      color,
      '  ',
    );
    out.push('', t.header, t.rule, ...t.rows);
    for (const x of f.transfers) if (x.failure !== undefined) out.push(paint(`    ${x.name} FAILED: ${oneLine(x.failure)}`, 'bad', color));
  }
  for (const o of f.oneWay) {
    out.push(
      o.failure !== undefined
        ? paint(`  ${o.name}: FAILED: ${oneLine(o.failure)}`, 'bad', color)
        : `  ${o.name}: ${formatCount(o.messages)} notifications in ${formatUs(o.durationMs * 1_000)} = ${formatFastValue(o.messagesPerSec, 'msg/s')} one way`,
    );
  }
  const ring = f.nativeRing;
  if (ring !== undefined) {
    const transfers = ring.transfers.map((x) => `${formatBytes(x.sizeBytes)}${x.capacityBytes === ring.capacityBytes ? '' : ` (${formatBytes(x.capacityBytes)} rings)`} ${formatUs(x.p50Us)} p50 (${formatFastValue(x.gbPerSecP50, 'GB/s')})`).join(', ');
    out.push(
      '',
      `  Native C ring floor (two processes spinning${ring.cpus === undefined ? '' : ` on CPUs ${ring.cpus.join(',')}`}): ${formatBytes(ring.payloadBytes)} round trip p50 ${formatUs(ring.p50Us)}, p99 ${formatUs(ring.p99Us)}${transfers === '' ? '' : `; ${transfers}`}`,
    );
  }
  const floors = [
    f.udsFloor === undefined ? undefined : `UDS floor (Node echo) ${formatUs(f.udsFloor.p50Us)} p50`,
    f.nativeUdsFloor === undefined ? undefined : `native C UDS ping-pong ${formatUs(f.nativeUdsFloor.p50Us)} p50`,
    f.socketSignal === undefined ? undefined : `signal over the plain socket ${formatUs(f.socketSignal.p50Us)} p50`,
  ].filter((x) => x !== undefined);
  if (floors.length > 0) out.push(`  Same run: ${floors.join('; ')}`);
  if (f.comparisons.length > 0) {
    const t = alignRows(
      [
        { title: 'side by side', right: false },
        { title: 'shm', right: true },
        { title: 'uds', right: true },
        { title: 'shm/uds', right: true },
        { title: 'socket', right: true },
        { title: 'shm/socket', right: true },
        { title: 'C ring', right: true },
        { title: 'shm/C ring', right: true },
      ],
      f.comparisons.map((c): Cell[] => [
        { text: c.measure },
        { text: formatFastValue(c.shm, c.unit) },
        { text: formatFastValue(c.uds, c.unit) },
        { text: c.shmOverUds === undefined ? '-' : formatRatio(c.shmOverUds) },
        { text: formatFastValue(c.socket, c.unit) },
        { text: c.shmOverSocket === undefined ? '-' : formatRatio(c.shmOverSocket) },
        { text: formatFastValue(c.nativeRing, c.unit) },
        { text: c.shmOverNativeRing === undefined ? '-' : formatRatio(c.shmOverNativeRing) },
      ]),
      color,
      '  ',
    );
    out.push('', t.header, t.rule, ...t.rows);
  }
  if (f.targets.length > 0) {
    out.push('', '  Targets of issue 4 (reported, not enforced):');
    const width = Math.max(...f.targets.map((t) => t.description.length));
    for (const t of f.targets) {
      const verdict = targetVerdict(t);
      const tone: Tone | undefined = t.met === false ? 'bad' : t.met === undefined ? 'dim' : undefined;
      out.push(`    ${paint(verdict.padEnd(12), tone, color)} ${t.description.padEnd(width)}  measured ${formatFastValue(t.measured, t.unit)} (${t.basis})`);
    }
  }
  for (const n of f.notes) out.push(`  note: ${oneLine(n)}`);
  return out;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The console report of a bench run: the environment, a row per scenario (latency
 * percentiles, throughput, errors, late and unanswered requests, ratios to the floor,
 * the uncorrected p99 of open-loop scenarios) with failures and error samples on their
 * own lines, then the codec matrix, the IPC vs HTTP comparison and fairness when the
 * report has them. Ends with a newline.
 */
export function formatBenchTable(report: BenchReport, opts: BenchTableOptions = {}): string {
  const color = opts.color === true;
  const out: string[] = [...envLines(report), '', ...scenarioTable(report, color)];
  if (report.codecMatrix !== undefined && report.codecMatrix.length > 0) out.push('', ...codecTable(report.codecMatrix, color));
  if (report.http !== undefined) out.push('', ...httpTable(report.http, color));
  if (report.fastSession !== undefined) out.push('', ...fastSessionLines(report.fastSession, color));
  const fairness = fairnessLines(report, color);
  if (fairness.length > 0) out.push('', ...fairness);
  const failed = report.scenarios.filter((s) => s.failure !== undefined).length;
  if (failed > 0) out.push('', paint(`${failed} of ${report.scenarios.length} scenarios failed.`, 'bad', color));
  return `${out.join('\n')}\n`;
}
