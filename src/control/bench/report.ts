/**
 * The benchmark report: its rows, the ratios Arpeggio / peer, and how it is printed (a text
 * table, a markdown table, an SVG bar chart). Pure: no I/O, so it is tested on fixed inputs.
 */

export const SCENARIOS = ['single-durable', 'replicated', 'linearizable', 'scaling', 'micro'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** One measured line: a system doing one operation at one pipeline depth. */
export interface BenchRow {
  scenario: Scenario;
  /**
   * `arpeggio`, `redis-always`, `redis-everysec`, `redis-cluster`, `etcd`, and the reference
   * servers `node-floor` and `node-aof` (floor-server.ts: one Node.js process, no Arpeggio).
   */
  system: string;
  /** `set`, `get`, `incr`; micro rows name what they time (`rpc-round-trip`, …). */
  op: string;
  /** Requests a client has in flight on one connection (redis-benchmark -P). */
  pipeline: number;
  /** Server processes (Redis Cluster 3 + 3: 6). */
  nodes: number;
  /** Median over runs. */
  opsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Only where the load generator records it (the Node one does; redis-benchmark's CSV does not). */
  p999Ms: number | null;
  /** Server CPU (user + system, every server process) per 1,000 operations. */
  cpuSecondsPer1kOps: number | null;
  /** Peak resident memory (VmHWM) of each server process, MiB. */
  peakRssMiB: number[];
  runs: number;
  note?: string;
}

/** Arpeggio's figure over a peer's on rows that did the same operation the same way. */
export interface Ratio {
  scenario: Scenario;
  op: string;
  pipeline: number;
  /** The Arpeggio row's system: `arpeggio` or a variant (`arpeggio-relaxed`). */
  system: string;
  peer: string;
  /** Arpeggio ops/s ÷ peer ops/s: above 1, Arpeggio is faster. */
  throughput: number;
  /** Arpeggio p99 ÷ peer p99: below 1, Arpeggio's tail is shorter. Null when either lacks one. */
  p99: number | null;
}

export interface MachineInfo {
  host: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverage: number[];
  redisVersion: string | null;
  etcdVersion: string | null;
  startedAt: string;
}

export interface BenchReport {
  machine: MachineInfo;
  /** The command line that produced it. */
  command: string;
  rows: BenchRow[];
  ratios: Ratio[];
  /** What went wrong or was skipped, one line each. */
  notes: string[];
}

/** One line of redis-benchmark `--csv`. */
export interface RedisBenchmarkLine {
  /** As redis-benchmark names it: `SET`, `GET`, `INCR`, … */
  test: string;
  rps: number;
  avgMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  const re = /"((?:[^"]|"")*)"|([^,]+)|(?<=,|^)(?=,|$)/g;
  for (const m of line.matchAll(re)) cells.push((m[1] ?? m[2] ?? '').replace(/""/g, '"'));
  return cells;
}

/**
 * Parses redis-benchmark `--csv`. Redis 7 prints a header
 * (`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",…,"p99_latency_ms",…`);
 * Redis 6 and older print `"SET","12345.67"` with no header and no latencies. Lines that are not
 * CSV (progress, warnings) are skipped.
 */
export function parseRedisBenchmarkCsv(text: string): RedisBenchmarkLine[] {
  const lines = text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('"'));
  let columns: string[] = ['test', 'rps'];
  const out: RedisBenchmarkLine[] = [];
  for (const line of lines) {
    const cells = splitCsvLine(line);
    if (cells[0] === 'test') {
      columns = cells;
      continue;
    }
    const cell = (name: string): number | null => {
      const i = columns.indexOf(name);
      if (i < 0 || i >= cells.length) return null;
      const n = Number(cells[i]);
      return Number.isFinite(n) ? n : null;
    };
    const rps = cell('rps');
    if (rps === null) continue;
    out.push({
      test: cells[0],
      rps,
      avgMs: cell('avg_latency_ms'),
      p50Ms: cell('p50_latency_ms'),
      p99Ms: cell('p99_latency_ms'),
      maxMs: cell('max_latency_ms'),
    });
  }
  return out;
}

/** The median; the mean of the middle two for an even count; null for none. */
export function median(values: readonly (number | null)[]): number | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** The q-quantile (0 … 1) of ascending values, nearest rank; null for none. */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Several runs of one row folded into one: the median of each figure separately (so p99 is the
 * median of the runs' p99s, not the p99 of all samples), peak memory the largest seen.
 */
export function foldRuns(runs: readonly BenchRow[]): BenchRow {
  if (runs.length === 0) throw new RangeError('foldRuns needs at least one run');
  const first = runs[0];
  const peaks = first.peakRssMiB.map((_, i) => Math.max(...runs.map((r) => r.peakRssMiB[i] ?? 0)));
  return {
    ...first,
    opsPerSec: median(runs.map((r) => r.opsPerSec)) ?? 0,
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    p999Ms: median(runs.map((r) => r.p999Ms)),
    cpuSecondsPer1kOps: median(runs.map((r) => r.cpuSecondsPer1kOps)),
    peakRssMiB: peaks,
    runs: runs.reduce((n, r) => n + r.runs, 0),
  };
}

/** Arpeggio's rows: `arpeggio` (durability flush) and variants such as `arpeggio-relaxed`. */
export function isArpeggio(system: string): boolean {
  return system === 'arpeggio' || system.startsWith('arpeggio-');
}

/**
 * Every Arpeggio row against every peer row of the same scenario, operation and pipeline depth.
 * Node counts may differ (Redis Cluster runs 6 processes for Arpeggio's 3): the scenario defines
 * what is comparable. Micro and scaling rows have no peer.
 */
export function computeRatios(rows: readonly BenchRow[]): Ratio[] {
  const ratios: Ratio[] = [];
  for (const a of rows) {
    if (!isArpeggio(a.system)) continue;
    for (const p of rows) {
      if (isArpeggio(p.system) || p.scenario !== a.scenario || p.op !== a.op || p.pipeline !== a.pipeline)
        continue;
      if (p.opsPerSec <= 0) continue;
      ratios.push({
        scenario: a.scenario,
        op: a.op,
        pipeline: a.pipeline,
        system: a.system,
        peer: p.system,
        throughput: a.opsPerSec / p.opsPerSec,
        p99: a.p99Ms !== null && p.p99Ms !== null && p.p99Ms > 0 ? a.p99Ms / p.p99Ms : null,
      });
    }
  }
  return ratios;
}

const fmt = (v: number | null, digits: number): string => (v === null ? '–' : v.toFixed(digits));
const fmtOps = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));

const HEADER = [
  'scenario',
  'system',
  'op',
  'P',
  'nodes',
  'ops/s',
  'p50 ms',
  'p99 ms',
  'p99.9 ms',
  'CPU s/1k ops',
  'peak RSS MiB',
] as const;

function rowCells(r: BenchRow): string[] {
  return [
    r.scenario,
    r.system,
    r.op,
    String(r.pipeline),
    String(r.nodes),
    fmtOps(r.opsPerSec),
    fmt(r.p50Ms, 3),
    fmt(r.p99Ms, 3),
    fmt(r.p999Ms, 3),
    fmt(r.cpuSecondsPer1kOps, 4),
    r.peakRssMiB.length === 0 ? '–' : r.peakRssMiB.map((m) => Math.round(m)).join('/'),
  ];
}

function ratioCells(q: Ratio): string[] {
  return [
    q.scenario,
    q.op,
    String(q.pipeline),
    q.system,
    q.peer,
    `${q.throughput.toFixed(2)}×`,
    fmt(q.p99, 2),
  ];
}

const RATIO_HEADER = ['scenario', 'op', 'P', 'arpeggio', 'vs', 'throughput', 'p99 ratio'] as const;

function textTable(header: readonly string[], rows: string[][], rightFrom: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The report as text tables for a terminal. */
export function formatTable(report: BenchReport): string {
  const parts = [
    textTable(HEADER, report.rows.map(rowCells), 3),
    '',
    'Arpeggio / peer (throughput above 1: Arpeggio faster; p99 below 1: Arpeggio shorter tail)',
    report.ratios.length === 0
      ? '  (no comparable rows)'
      : textTable(RATIO_HEADER, report.ratios.map(ratioCells), 2),
  ];
  if (report.notes.length > 0) parts.push('', 'Notes:', ...report.notes.map((n) => `  - ${n}`));
  return parts.join('\n');
}

function markdownTable(header: readonly string[], rows: string[][], rightFrom: number): string {
  const align = header.map((_, i) => (i >= rightFrom ? '---:' : '---'));
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

/** The report as markdown: the machine, the command, the rows, the ratios, the notes. */
export function formatMarkdown(report: BenchReport): string {
  const m = report.machine;
  return [
    '# Arpeggio benchmark report',
    '',
    `- Command: \`${report.command}\``,
    `- Started: ${m.startedAt}`,
    `- Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB.toFixed(1)} GiB, ${m.platform}, Node ${m.node}, load average at start ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
    `- Peers: redis ${m.redisVersion ?? 'absent'}, etcd ${m.etcdVersion ?? 'absent'}`,
    '',
    '## Rows',
    '',
    markdownTable(HEADER, report.rows.map(rowCells), 3),
    '',
    '## Arpeggio / peer',
    '',
    report.ratios.length === 0
      ? '(no comparable rows)'
      : markdownTable(RATIO_HEADER, report.ratios.map(ratioCells), 2),
    '',
    ...(report.notes.length > 0 ? ['## Notes', '', ...report.notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
}

const COLORS: Record<string, string> = {
  arpeggio: '#2f6fdf',
  'arpeggio-relaxed': '#7fa8ef',
  'redis-always': '#d9453b',
  'redis-everysec': '#f08a5d',
  'redis-cluster': '#b83280',
  etcd: '#3aa757',
  'node-floor': '#6a4fb3',
  'node-aof': '#a78bdb',
};

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A horizontal bar chart of ops/s for every non-micro row, grouped by scenario, op and pipeline;
 * bars share one logarithmic scale because the figures span orders of magnitude.
 */
export function renderSvgChart(report: BenchReport): string {
  const rows = report.rows.filter((r) => r.scenario !== 'micro' && r.opsPerSec > 0);
  const barHeightPx = 16;
  const gapPx = 4;
  const labelWidthPx = 330;
  const plotWidthPx = 420;
  const topPx = 30;
  const heightPx = topPx + rows.length * (barHeightPx + gapPx) + 30;
  const maxOps = Math.max(10, ...rows.map((r) => r.opsPerSec));
  const logMax = Math.log10(maxOps * 1.2);
  const logMin = 1; // 10 ops/s at the left edge
  const x = (ops: number) =>
    (Math.max(0, Math.log10(Math.max(ops, 10)) - logMin) / (logMax - logMin)) * plotWidthPx;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidthPx + plotWidthPx + 110}" height="${heightPx}" font-family="sans-serif" font-size="11">`,
    `<text x="4" y="18" font-size="13" font-weight="bold">ops/s (log scale), ${escapeXml(report.machine.cpus.toString())} cores, loopback</text>`,
  ];
  rows.forEach((r, i) => {
    const y = topPx + i * (barHeightPx + gapPx);
    const label = `${r.scenario} ${r.op} P${r.pipeline} ${r.system} (${r.nodes})`;
    const w = x(r.opsPerSec);
    parts.push(
      `<text x="${labelWidthPx - 6}" y="${y + barHeightPx - 4}" text-anchor="end">${escapeXml(label)}</text>`,
      `<rect x="${labelWidthPx}" y="${y}" width="${w.toFixed(1)}" height="${barHeightPx}" fill="${COLORS[r.system] ?? '#888'}"/>`,
      `<text x="${(labelWidthPx + w + 4).toFixed(1)}" y="${y + barHeightPx - 4}">${escapeXml(fmtOps(r.opsPerSec))}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
