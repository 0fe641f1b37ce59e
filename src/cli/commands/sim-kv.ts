/**
 * `arpeggio sim kv`: runs the replicated store in the deterministic simulator, seed after seed,
 * under the chosen faults, and judges every history. Composition only: the campaign lives in
 * src/sim/kv-campaign.ts.
 */
import { performance } from 'node:perf_hooks';
import { KV_NODE_BUGS } from '../../core/kv-node.js';
import { CONSISTENCY_LEVELS, type Consistency } from '../../core/replication/messages.js';
import {
  type CampaignBug,
  FAULT_KINDS,
  type FaultKind,
  type KvRunOptions,
  type KvRunResult,
  replayCommand,
  runKv,
} from '../../sim/kv-campaign.js';
import { boolFlag, choiceFlag, intFlag, parseFlags, positionals, UsageError } from '../args.js';
import { type Command, Progress } from '../command.js';

export const CAMPAIGN_BUGS: readonly CampaignBug[] = [...KV_NODE_BUGS, 'ack-before-durable'];

const BUG_DESCRIPTIONS: Record<CampaignBug, string> = {
  'read-without-write-back': 'linearizable reads answer after phase 1 without making their value chosen',
  'write-quorum-one': 'quorum writes are acknowledged after a single replica',
  'drop-hints': 'sloppy-quorum substitutes acknowledge hinted writes and throw them away',
  'stale-ring': 'a node never rebuilds its ring after it first learns of the cluster',
  'ack-before-durable': 'the host sends replies before the writes they acknowledge are durable',
};

const usage = `arpeggio sim kv — the replicated store under faults, judged by checkers

Usage: arpeggio sim kv [flags]

Runs a cluster of real store nodes in the simulator for each seed: clients issue operations while
a fault plan drawn from --faults disrupts the cluster, then faults stop and every operation must
succeed. Judged per level: linearizable histories by the linearizability checker; other levels by
"no acknowledged write lost"; every level by convergence of all replicas after heal.

Flags:
  --nodes N             nodes in the cluster, 3 … 32 (default 5)
  --clients C           concurrent clients, 1 … 200 (default 10)
  --ops M               operations per seed, 1 … 1000000 (default 2000)
  --seeds S             how many seeds to run, 1 … 100000 (default 1)
  --seed X              the first seed (default 1); seeds X … X+S-1 run
  --faults LIST         comma-separated: ${FAULT_KINDS.join(', ')}, or all, or none (default none)
  --consistency LEVEL   ${CONSISTENCY_LEVELS.join(', ')} (default quorum)
  --bug NAME[,NAME]     switch on deliberately wrong variants (see --list-bugs)
  --list-bugs           list the deliberately wrong variants and exit
  --json                print one JSON object

Exit code: 0 when every seed passed, 1 when any seed found a violation, 2 on bad flags.

Examples:
  arpeggio sim kv --nodes 5 --clients 10 --ops 2000 --seeds 20 --faults partition,crash,loss,duplicate,reorder --consistency linearizable --json
  arpeggio sim kv --seeds 50 --faults all --consistency quorum
  arpeggio sim kv --seeds 200 --faults all --consistency linearizable --bug read-without-write-back`;

function parseFaults(raw: string | undefined): FaultKind[] {
  if (raw === undefined || raw === 'none' || raw === '') return [];
  if (raw === 'all') return [...FAULT_KINDS];
  const out: FaultKind[] = [];
  for (const f of raw.split(',')) {
    if (!(FAULT_KINDS as readonly string[]).includes(f)) {
      throw new UsageError(
        `--faults: unknown fault '${f}'; choose from ${FAULT_KINDS.join(', ')}, all, none`,
      );
    }
    out.push(f as FaultKind);
  }
  return out;
}

function parseBugs(raw: string | undefined): CampaignBug[] {
  if (raw === undefined) return [];
  return raw.split(',').map((b) => {
    if (!(CAMPAIGN_BUGS as readonly string[]).includes(b)) {
      throw new UsageError(`--bug: unknown variant '${b}'; arpeggio sim kv --list-bugs names them`);
    }
    return b as CampaignBug;
  });
}

export interface CampaignSummary {
  seeds: number;
  firstSeed: number;
  ops: number;
  okOps: number;
  failedOps: number;
  indefiniteOps: number;
  violations: number;
  unknown: number;
  lostAcknowledgedWrites: number;
  livenessFailures: number;
  converged: boolean;
  failures: Array<{ seed: number; violation: string; replay: string }>;
  elapsedMs: number;
}

/** Runs seeds first … first+count-1 and sums them up; `onSeed` sees each result. */
export function runCampaign(
  base: Omit<KvRunOptions, 'seed'>,
  firstSeed: number,
  count: number,
  onSeed?: (r: KvRunResult, done: number) => void,
): CampaignSummary {
  const start = performance.now();
  const s: CampaignSummary = {
    seeds: count,
    firstSeed,
    ops: 0,
    okOps: 0,
    failedOps: 0,
    indefiniteOps: 0,
    violations: 0,
    unknown: 0,
    lostAcknowledgedWrites: 0,
    livenessFailures: 0,
    converged: true,
    failures: [],
    elapsedMs: 0,
  };
  for (let i = 0; i < count; i++) {
    const options: KvRunOptions = { ...base, seed: firstSeed + i };
    const r = runKv(options);
    s.ops += r.ops;
    s.okOps += r.okOps;
    s.failedOps += r.failedOps;
    s.indefiniteOps += r.indefiniteOps;
    if (r.linearizable === false) s.violations++;
    if (r.linearizable === 'unknown') s.unknown++;
    s.lostAcknowledgedWrites += r.lostAcknowledgedWrites;
    s.livenessFailures += r.livenessFailures;
    if (!r.converged) s.converged = false;
    if (r.violation !== null)
      s.failures.push({ seed: r.seed, violation: r.violation, replay: replayCommand(options) });
    onSeed?.(r, i + 1);
  }
  s.elapsedMs = Math.round(performance.now() - start);
  return s;
}

export const simKvCommand: Command = {
  name: 'kv',
  summary: 'the replicated store under faults, judged by checkers',
  usage,
  async run(argv) {
    const p = parseFlags(argv, {
      nodes: { type: 'string' },
      clients: { type: 'string' },
      ops: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      faults: { type: 'string' },
      consistency: { type: 'string' },
      bug: { type: 'string' },
      'list-bugs': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    positionals(p, []);
    const json = boolFlag(p, 'json');
    if (boolFlag(p, 'list-bugs')) {
      if (json) process.stdout.write(`${JSON.stringify({ bugs: BUG_DESCRIPTIONS })}\n`);
      else for (const b of CAMPAIGN_BUGS) process.stdout.write(`${b.padEnd(26)} ${BUG_DESCRIPTIONS[b]}\n`);
      return 0;
    }
    const base = {
      nodes: intFlag(p, 'nodes', 5, { min: 3, max: 32 }),
      clients: intFlag(p, 'clients', 10, { min: 1, max: 200 }),
      ops: intFlag(p, 'ops', 2000, { min: 1, max: 1_000_000 }),
      faults: parseFaults(p.values.faults as string | undefined),
      consistency: choiceFlag<Consistency>(p, 'consistency', 'quorum', CONSISTENCY_LEVELS),
      bugs: parseBugs(p.values.bug as string | undefined),
    };
    const count = intFlag(p, 'seeds', 1, { min: 1, max: 100_000 });
    const first = intFlag(p, 'seed', 1, { min: 0, max: 2 ** 32 - 1 });
    const progress = new Progress();
    let failed = 0;
    const summary = runCampaign(base, first, count, (r, done) => {
      if (r.violation !== null) {
        failed++;
        progress.done();
        process.stderr.write(
          `seed ${r.seed}: ${r.violation} — replay: ${replayCommand({ ...base, seed: r.seed })}\n`,
        );
      }
      progress.update(`sim kv: ${done}/${count} seeds, ${failed} failed`);
    });
    progress.done();
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      const lines = [
        `seeds ${summary.firstSeed}…${summary.firstSeed + summary.seeds - 1} (${summary.seeds}), ${summary.ops} operations in ${(summary.elapsedMs / 1000).toFixed(1)} s`,
        `  ok ${summary.okOps}, failed (definite) ${summary.failedOps}, indefinite ${summary.indefiniteOps}`,
        `  linearizability violations ${summary.violations}, undecided ${summary.unknown}`,
        `  acknowledged writes lost ${summary.lostAcknowledgedWrites}`,
        `  operations failed after heal ${summary.livenessFailures}`,
        `  replicas converged ${summary.converged ? 'yes' : 'no'}`,
        summary.failures.length === 0
          ? 'PASS'
          : `FAIL: ${summary.failures.length} seeds (replay commands above)`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return summary.failures.length === 0 ? 0 : 1;
  },
};
