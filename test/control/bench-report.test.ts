/**
 * The benchmark report without any load: redis-benchmark's CSV (Redis 7 with latencies, Redis 6
 * without), medians of runs, the ratios Arpeggio / peer, and the printed forms.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type BenchReport,
  type BenchRow,
  computeRatios,
  foldRuns,
  formatMarkdown,
  formatTable,
  median,
  parseRedisBenchmarkCsv,
  quantileOfSorted,
  renderSvgChart,
} from '../../src/control/bench/report.js';

const REDIS7_CSV = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","33898.30","0.920","0.184","0.655","2.047","2.727","3.007"
"GET","25974.03","1.226","0.240","0.855","3.111","4.655","9.199"
`;

const row = (over: Partial<BenchRow>): BenchRow => ({
  scenario: 'single-durable',
  system: 'arpeggio',
  op: 'set',
  pipeline: 1,
  nodes: 1,
  opsPerSec: 1000,
  p50Ms: 1,
  p99Ms: 2,
  p999Ms: null,
  cpuSecondsPer1kOps: 0.5,
  peakRssMiB: [100],
  runs: 1,
  ...over,
});

describe('redis-benchmark --csv', () => {
  test('Redis 7 output gives throughput, p50 and p99 per test, read by column name', () => {
    const lines = parseRedisBenchmarkCsv(REDIS7_CSV);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0], {
      test: 'SET',
      rps: 33898.3,
      avgMs: 0.92,
      p50Ms: 0.655,
      p99Ms: 2.727,
      maxMs: 3.007,
    });
    assert.equal(lines[1].test, 'GET');
    assert.equal(lines[1].p99Ms, 4.655);
  });

  test('Redis 6 output (no header) gives throughput and no latencies', () => {
    const lines = parseRedisBenchmarkCsv('"SET","12345.67"\n"GET","23456.00"\n');
    assert.deepEqual(lines[0], {
      test: 'SET',
      rps: 12345.67,
      avgMs: null,
      p50Ms: null,
      p99Ms: null,
      maxMs: null,
    });
    assert.equal(lines[1].rps, 23456);
  });

  test('progress lines and warnings around the CSV are skipped', () => {
    const noisy = `WARNING: Could not fetch server CONFIG\r\nSET: rps=1000.0 (overall: 900.0) avg_msec=1.0\r${REDIS7_CSV}`;
    assert.deepEqual(
      parseRedisBenchmarkCsv(noisy).map((l) => l.test),
      ['SET', 'GET'],
      'only quoted CSV lines are data',
    );
  });
});

describe('medians and quantiles', () => {
  test('median of an odd count is the middle value; of an even count the mean of the middle two', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), null);
    assert.equal(median([null, 5]), 5, 'missing figures do not count');
  });

  test('nearest-rank quantiles of sorted samples', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantileOfSorted(xs, 0.5), 50);
    assert.equal(quantileOfSorted(xs, 0.99), 99);
    assert.equal(quantileOfSorted(xs, 1), 100);
    assert.equal(quantileOfSorted([], 0.5), null);
  });

  test('folding runs takes the median of each figure and the largest peak memory', () => {
    const folded = foldRuns([
      row({ opsPerSec: 100, p99Ms: 9, peakRssMiB: [50] }),
      row({ opsPerSec: 300, p99Ms: 1, peakRssMiB: [70] }),
      row({ opsPerSec: 200, p99Ms: 5, peakRssMiB: [60] }),
    ]);
    assert.equal(folded.opsPerSec, 200);
    assert.equal(folded.p99Ms, 5);
    assert.deepEqual(folded.peakRssMiB, [70]);
    assert.equal(folded.runs, 3);
  });
});

describe('ratios Arpeggio / peer', () => {
  test('every Arpeggio row is compared with every peer row of the same scenario, op and pipeline', () => {
    const rows = [
      row({ opsPerSec: 700, p99Ms: 4 }),
      row({ system: 'redis-always', opsPerSec: 1000, p99Ms: 2 }),
      row({ system: 'redis-everysec', opsPerSec: 2000, p99Ms: null }),
      row({ system: 'redis-always', pipeline: 16, opsPerSec: 5000 }),
      row({ system: 'redis-always', op: 'get', opsPerSec: 9000 }),
    ];
    const ratios = computeRatios(rows);
    assert.equal(ratios.length, 2, 'other pipeline depths and other ops are not comparable');
    assert.deepEqual(ratios[0], {
      scenario: 'single-durable',
      op: 'set',
      pipeline: 1,
      system: 'arpeggio',
      peer: 'redis-always',
      throughput: 0.7,
      p99: 2,
    });
    assert.equal(ratios[1].throughput, 0.35);
    assert.equal(ratios[1].p99, null, 'no p99 ratio when the peer has no p99');
  });

  test('Arpeggio variants (arpeggio-relaxed) are compared with the peers, never with each other', () => {
    const ratios = computeRatios([
      row({ opsPerSec: 700 }),
      row({ system: 'arpeggio-relaxed', opsPerSec: 900 }),
      row({ system: 'redis-everysec', opsPerSec: 1800 }),
    ]);
    assert.deepEqual(
      ratios.map((r) => [r.system, r.peer, r.throughput]),
      [
        ['arpeggio', 'redis-everysec', 700 / 1800],
        ['arpeggio-relaxed', 'redis-everysec', 0.5],
      ],
    );
  });

  test('node counts may differ within a scenario (3 Arpeggio nodes vs Redis Cluster 3 + 3)', () => {
    const ratios = computeRatios([
      row({ scenario: 'replicated', nodes: 3, opsPerSec: 300 }),
      row({ scenario: 'replicated', system: 'redis-cluster', nodes: 6, opsPerSec: 1000 }),
    ]);
    assert.equal(ratios.length, 1);
    assert.equal(ratios[0].throughput, 0.3);
  });
});

describe('printing', () => {
  const report: BenchReport = {
    machine: {
      host: 'h',
      cpus: 2,
      cpuModel: 'cpu',
      memoryGiB: 4,
      node: 'v20',
      platform: 'linux',
      loadAverage: [1, 2, 3],
      redisVersion: '7.0.15',
      etcdVersion: '3.4.23',
      startedAt: '2026-01-01T00:00:00Z',
    },
    command: 'arpeggio bench --quick',
    rows: [row({ opsPerSec: 1234.5 }), row({ system: 'redis-always', opsPerSec: 2469, p999Ms: 7.5 })],
    ratios: [],
    notes: ['etcd absent'],
  };
  report.ratios = computeRatios(report.rows);

  test('the text table has a header, one line per row, the ratios and the notes', () => {
    const text = formatTable(report);
    assert.match(text, /scenario\s+system\s+op/);
    assert.match(text, /arpeggio\s+set\s+1\s+1\s+1,235/, 'ops/s rounded with thousands separators');
    assert.match(text, /redis-always\s+0\.50×/);
    assert.match(text, /etcd absent/);
  });

  test('the markdown names the command and machine and has one table line per row', () => {
    const md = formatMarkdown(report);
    assert.match(md, /`arpeggio bench --quick`/);
    assert.match(md, /2 × cpu/);
    assert.equal(
      md.split('\n').filter((l) => l.startsWith('| single-durable')).length,
      3,
      'two rows and one ratio',
    );
  });

  test('the SVG chart has one bar per row and escapes text', () => {
    const svg = renderSvgChart(report);
    assert.match(svg, /^<svg /);
    assert.equal(svg.match(/<rect /g)?.length, 2);
    assert.doesNotMatch(svg, /<text[^>]*>[^<]*&[^a][^<]*</, 'no bare ampersands');
  });
});
