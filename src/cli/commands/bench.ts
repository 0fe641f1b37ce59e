/**
 * `arpeggio bench`: Arpeggio side by side with Redis, Redis Cluster and etcd on this machine.
 * Composition only: the scenarios live in src/control/bench/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePeers } from '../../control/bench/processes.js';
import {
  formatMarkdown,
  formatTable,
  renderSvgChart,
  SCENARIOS,
  type Scenario,
} from '../../control/bench/report.js';
import { BenchRun } from '../../control/bench/scenarios.js';
import { runChordExperiment } from '../../sim/chord-experiment.js';
import { parseFlags, UsageError } from '../args.js';
import type { Command } from '../command.js';

const usage = `arpeggio bench — Arpeggio against Redis, Redis Cluster and etcd on this machine

Usage: arpeggio bench [--quick] [--json] [--out DIR] [--scenarios LIST]

Installs missing peers (apt-get, when root: redis-server redis-tools etcd-server etcd-client),
starts each system on 127.0.0.1 on free ports, drives them with the same load, and stops every
process it started at the end (also on an error or Ctrl-C). See docs/BENCHMARKS.md.

Scenarios (default: all, in this order):
  single-durable   1 Arpeggio node (N = 1, acknowledged after fdatasync) vs redis-server
                   appendfsync always and everysec: redis-benchmark set/get, -P 1 and -P 16
  replicated       3 Arpeggio nodes (N = 3, quorum) vs Redis Cluster 3 masters + 3 replicas
  linearizable     3 Arpeggio nodes, CONSISTENCY linearizable, SET/GET/INCR vs 3-member etcd
                   put/range, both from a Node load generator with 50 clients
  scaling          Arpeggio with 1, 3 and 5 nodes at -P 16; Chord lookup hops in the simulator
  micro            peer RPC round trip, LMDB put+flush and get, frame encode/decode, ring lookup

Flags:
  --quick            20,000 requests per redis-benchmark test and 1 run (default 200,000 and
                     the median of 3 runs); 5 s per Node load run (default 15 s × 3)
  --scenarios LIST   comma-separated subset of the scenarios above
  --json             print one JSON object { machine, command, rows, ratios, notes }
  --out DIR          also write DIR/report.json, DIR/report.md and DIR/chart.svg
  --keep             keep the servers' data and logs (printed) instead of removing them

Examples:
  arpeggio bench --quick --out bench-out
  arpeggio bench --scenarios single-durable,micro --json`;

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmark Arpeggio against Redis, Redis Cluster and etcd on this machine',
  usage,
  async run(argv) {
    const p = parseFlags(argv, {
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      out: { type: 'string' },
      scenarios: { type: 'string' },
    });
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    const scenarios = parseScenarios(p.values.scenarios as string | undefined);
    const json = p.values.json === true;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const workDir = join(tmpdir(), `arpeggio-bench-${process.pid}`);
    const notes = await ensurePeers(log);
    const run = new BenchRun({
      quick: p.values.quick === true,
      scenarios,
      workDir,
      keep: p.values.keep === true,
      command: ['arpeggio', 'bench', ...argv].join(' '),
      log,
      chordLookupHops: (nodes) =>
        runChordExperiment({
          nodes,
          vnodes: 1,
          keys: 10_000,
          lookups: 2_000,
          failFraction: 0,
          successors: 8,
          seed: 1,
        }),
    });
    const onSignal = () => {
      log('interrupted: stopping every server this benchmark started');
      run.abortNow();
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', () => run.abortNow());
    let report: Awaited<ReturnType<BenchRun['run']>>;
    try {
      report = await run.run();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    report.notes.unshift(...notes);
    if (p.values.keep === true) report.notes.push(`servers' data and logs kept in ${workDir}`);
    if (typeof p.values.out === 'string') {
      const out = resolve(p.values.out);
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      writeFileSync(join(out, 'report.md'), formatMarkdown(report));
      writeFileSync(join(out, 'chart.svg'), renderSvgChart(report));
      log(`wrote ${join(out, 'report.json')}, report.md and chart.svg`);
    }
    process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${formatTable(report)}\n`);
    return 0;
  },
};

function parseScenarios(text: string | undefined): Scenario[] {
  if (text === undefined) return [...SCENARIOS];
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(SCENARIOS as readonly string[]).includes(n))
      throw new UsageError(`--scenarios: unknown scenario '${n}' (${SCENARIOS.join(', ')})`);
  }
  if (names.length === 0) throw new UsageError('--scenarios needs at least one scenario');
  return names as Scenario[];
}
