/**
 * `arpeggio torture`: a real local cluster under real faults, judged. Composition only: the run
 * lives in src/control/torture/; this file parses flags, passes the linearizability checker in
 * (control does not import check), handles Ctrl-C and prints the report.
 */
import { performance } from 'node:perf_hooks';
import { checkEvents } from '../../check/linearizability.js';
import { casRegister } from '../../check/models.js';
import { FAULT_KINDS, parseFaults } from '../../control/torture/schedule.js';
import { type HistoryVerdict, runTorture, type TortureReport } from '../../control/torture/torture.js';
import type { RegisterEvent } from '../../control/torture/workload.js';
import { boolFlag, choiceFlag, intFlag, parseFlags, UsageError } from '../args.js';
import type { Command } from '../command.js';

const usage = `arpeggio torture — a real local cluster under real faults, judged

Usage: arpeggio torture [flags]

Starts N real nodes (arpeggio start) on 127.0.0.1 in a temp directory, each behind a
fault-injecting TCP proxy it advertises as its peer address; drives operations from several RESP
clients with unique values while faults follow a seeded schedule; then heals, waits until the
ring has settled, reads everything back from every node and judges:
  quorum        a set workload (every key written once) plus reads: no acknowledged write lost
  linearizable  the same set workload at linearizable, and read/write/cas registers recorded as
                a Jepsen history, judged by the linearizability checker (cas-register)
Every node process is stopped by pid at the end, also on error and Ctrl-C.

Flags:
  --nodes N             nodes, 3 … 9 (default 5)
  --duration-s S        seconds of workload with faults, 5 … 3600 (default 60)
  --faults LIST         comma-separated: ${FAULT_KINDS.join(', ')}, or all, or none
                        (default kill,pause,partition)
                          kill       SIGKILL a node, restart it through the manager after 2–5 s
                          kill-two   SIGKILL two nodes together (some keys lose two of their
                                     three replicas), restart both after 2–5 s
                          pause      SIGSTOP a node, SIGCONT after 2–5 s
                          partition  through the proxies: one node alone, a minority, one
                                     node's outbound traffic only (one-way), a bridge (two
                                     halves cut apart, one node reaching both) or a ring (each
                                     node reaches only its two neighbours), for 2–5 s
                          churn      a node joins (cluster add), then leaves (cluster remove)
  --consistency LEVEL   quorum or linearizable (default quorum)
  --rate OPS            operations per second, all clients together (default 200)
  --clients C           client connections, 1 … 64 (default 8)
  --seed S              the fault schedule's and workload's seed (default: random, reported)
  --overlap P           chance 0 … 1 that a fault starts while the one before it still holds
                        (a pause during a partition, a kill during a pause; never two of
                        one kind, never churn); default 0: one fault at a time
  --keep                keep the run's directory (node logs) and print its path (a run
                        that fails keeps it anyway)
  --json                print the report as one JSON object

Exit code: 0 when nothing was lost and the history is linearizable, 1 otherwise, 2 on bad flags.

Example:
  arpeggio torture --nodes 5 --duration-s 60 --faults kill,pause,partition --consistency quorum --json`;

const FLAGS = {
  nodes: { type: 'string' },
  'duration-s': { type: 'string' },
  faults: { type: 'string' },
  consistency: { type: 'string' },
  rate: { type: 'string' },
  clients: { type: 'string' },
  seed: { type: 'string' },
  overlap: { type: 'string' },
  keep: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** The linearizability checker on a register history, bounded in time and memory. */
export function judgeRegisters(events: RegisterEvent[]): HistoryVerdict {
  const result = checkEvents(events, casRegister, {
    now: () => performance.now(),
    timeoutMs: 60_000,
    maxCacheEntries: 2_000_000,
  });
  return {
    valid: result.valid,
    ops: result.ops,
    ...(result.reason !== undefined ? { reason: result.reason } : {}),
    ...(result.failingKey !== undefined ? { failingKey: result.failingKey } : {}),
    ...(result.counterexample !== undefined ? { counterexample: result.counterexample } : {}),
  };
}

async function run(argv: string[]): Promise<number> {
  const p = parseFlags(argv, FLAGS);
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  let faults: ReturnType<typeof parseFaults>;
  try {
    faults = parseFaults(String(p.values.faults ?? 'kill,pause,partition'));
  } catch (e) {
    throw new UsageError(`--faults: ${(e as Error).message}`);
  }
  const overlap = Number(p.values.overlap ?? 0);
  if (!(Number.isFinite(overlap) && overlap >= 0 && overlap <= 1)) {
    throw new UsageError(`--overlap must be a number from 0 to 1, got '${p.values.overlap}'`);
  }
  const json = boolFlag(p, 'json');
  const abort = new AbortController();
  const onSignal = () => {
    if (!json) process.stderr.write('\ninterrupted: healing and stopping every node…\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let report: TortureReport;
  try {
    report = await runTorture({
      nodes: intFlag(p, 'nodes', 5, { min: 3, max: 9 }),
      durationMs: intFlag(p, 'duration-s', 60, { min: 5, max: 3600 }) * 1000,
      faults,
      consistency: choiceFlag(p, 'consistency', 'quorum', ['quorum', 'linearizable'] as const),
      rate: intFlag(p, 'rate', 200, { min: 1, max: 100_000 }),
      clients: intFlag(p, 'clients', 8, { min: 1, max: 64 }),
      ...(p.values.seed !== undefined ? { seed: intFlag(p, 'seed', 1, { min: 0, max: 2 ** 31 - 1 }) } : {}),
      overlap,
      keepDir: boolFlag(p, 'keep'),
      checkHistory: judgeRegisters,
      signal: abort.signal,
      onProgress: json ? undefined : (line) => process.stderr.write(`${line}\n`),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${describe(report)}\n`);
  return report.ok ? 0 : 1;
}

function describe(r: TortureReport): string {
  const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(2)} %`);
  const ms = (x: number | null) => (x === null ? '-' : `${x} ms`);
  const verdict = r.history.verdict;
  return [
    `arpeggio torture: ${r.ok ? 'PASS' : 'FAIL'} (seed ${r.seed}, ${r.nodes} nodes, ${r.consistency}, ${r.durationMs / 1000} s, ${(r.totalMs / 1000).toFixed(1)} s in all)`,
    ...(r.error !== undefined ? [`  error:                    ${r.error}`] : []),
    `  operations:               ${r.ops} (${r.opsPerSecond}/s): ${r.okCount} ok, ${r.failCount} fail, ${r.infoCount} info`,
    `  acknowledged writes:      ${r.acknowledgedWrites} (${r.indefiniteWrites} indefinite)`,
    `  lost acknowledged writes: ${r.lostAcknowledgedWrites}${r.lostExamples.length > 0 ? ` (${r.lostExamples.join(', ')})` : ''}`,
    ...(verdict !== null
      ? [`  linearizable history:     ${verdict.valid} (${r.history.events} events)`]
      : []),
    `  availability:             ${pct(r.availability)} during faults, ${pct(r.availabilityCalm)} calm`,
    `  latency p50 / p99:        ${ms(r.latencyFaults.p50Ms)} / ${ms(r.latencyFaults.p99Ms)} during faults, ${ms(r.latencyCalm.p50Ms)} / ${ms(r.latencyCalm.p99Ms)} calm`,
    `  stale reads (quorum):     ${r.staleReads}`,
    `  settled after heal in:    ${ms(r.settleMs)}`,
    '  faults:',
    ...r.faults.map(
      (f) =>
        `    ${String(f.startMs).padStart(6)} ms  ${f.kind}${f.shape ? ` (${f.shape})` : ''} ${f.nodes.join(',')} for ${f.endMs - f.startMs} ms${f.error ? `  FAILED: ${f.error}` : ''}`,
    ),
    ...(r.dir !== null && r.dir !== undefined ? [`  directory: ${r.dir}`] : []),
  ].join('\n');
}

export const tortureCommand: Command = {
  name: 'torture',
  summary: 'a real local cluster under kills, pauses, partitions and churn, judged',
  usage,
  run,
};
