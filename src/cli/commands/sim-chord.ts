/**
 * `arpeggio sim chord`: builds a Chord ring in the deterministic simulator, optionally crashes a
 * fraction of it, runs lookups through the protocol and reports path lengths, key spread and
 * failed lookups. Composition only: the experiment lives in src/sim/chord-experiment.ts.
 */
import { performance } from 'node:perf_hooks';
import { successorListLengthFor } from '../../core/chord.js';
import {
  ChordCheckError,
  type ChordExperimentResult,
  runChordExperiment,
} from '../../sim/chord-experiment.js';
import { boolFlag, floatFlag, intFlag, parseFlags, positionals, UsageError } from '../args.js';
import { type Command, formatRows, Progress } from '../command.js';

const MAX_NODES = 65_536;
const MAX_VNODES = 256;
const MAX_RING_MEMBERS = 262_144;
const DIRECT_BUILD_ABOVE_MEMBERS = 2048;

const usage = `arpeggio sim chord — Chord lookups, key spread and failures in the simulator

Usage: arpeggio sim chord --nodes N [flags]

Builds a ring of N physical nodes by joins and stabilization (above ${DIRECT_BUILD_ABOVE_MEMBERS} ring
members, nodes × vnodes, the ring starts stabilized instead), crashes a fraction of the nodes if
asked and lets the ring repair itself, then runs lookups through the real message routing.

Flags:
  --nodes N            physical nodes, 1 … ${MAX_NODES} (required)
  --vnodes V           virtual nodes (ring members) per physical node, 1 … ${MAX_VNODES} (default 1)
  --keys K             keys hashed to count keys per node (default 100 per ring member, at least 10000)
  --lookups L          lookups from random live nodes for random keys (default 10000)
  --fail-fraction F    fraction of nodes to crash at once before the lookups, 0 … 0.95 (default 0)
  --successors R       successor list length r (default 2·⌈log2 ring members⌉)
  --seed S             seed of the simulation; the same seed gives the same output (default 1)
  --json               print one JSON object instead of a table

Examples:
  arpeggio sim chord --nodes 1024 --seed 1 --json
  arpeggio sim chord --nodes 1024 --vnodes 32
  arpeggio sim chord --nodes 1024 --fail-fraction 0.5`;

interface SimChordOptions {
  nodes: number;
  vnodes: number;
  keys: number;
  lookups: number;
  failFraction: number;
  successors: number;
  seed: number;
  json: boolean;
}

function parse(argv: string[]): SimChordOptions {
  const p = parseFlags(argv, {
    nodes: { type: 'string' },
    vnodes: { type: 'string' },
    keys: { type: 'string' },
    lookups: { type: 'string' },
    'fail-fraction': { type: 'string' },
    successors: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  });
  positionals(p, []);
  if (p.values.nodes === undefined) throw new UsageError('--nodes is required');
  const nodes = intFlag(p, 'nodes', 0, { min: 1, max: MAX_NODES });
  const vnodes = intFlag(p, 'vnodes', 1, { min: 1, max: MAX_VNODES });
  if (nodes * vnodes > MAX_RING_MEMBERS) {
    throw new UsageError(
      `--nodes × --vnodes must be at most ${MAX_RING_MEMBERS} ring members, got ${nodes * vnodes}`,
    );
  }
  const failFraction = floatFlag(p, 'fail-fraction', 0, { min: 0, max: 0.95 });
  return {
    nodes,
    vnodes,
    keys: intFlag(p, 'keys', Math.max(10_000, 100 * nodes * vnodes), { min: 1, max: 50_000_000 }),
    lookups: intFlag(p, 'lookups', 10_000, { min: 1, max: 1_000_000 }),
    failFraction,
    successors: intFlag(p, 'successors', successorListLengthFor(nodes * vnodes), { min: 1, max: 256 }),
    seed: intFlag(p, 'seed', 1, { min: 0, max: 2 ** 32 - 1 }),
    json: boolFlag(p, 'json'),
  };
}

/** The command line that reproduces a run exactly. */
function replayCommand(o: SimChordOptions): string {
  return (
    `arpeggio sim chord --nodes ${o.nodes} --vnodes ${o.vnodes} --keys ${o.keys} --lookups ${o.lookups} ` +
    `--fail-fraction ${o.failFraction} --successors ${o.successors} --seed ${o.seed}`
  );
}

function table(r: ChordExperimentResult, elapsedMs: number, replay: string): string {
  const ratio = (x: number): string => (r.keysPerNode.mean > 0 ? (x / r.keysPerNode.mean).toFixed(2) : '-');
  const rows: [string, string][] = [
    [
      'ring',
      `${r.nodes} nodes × ${r.vnodes} vnodes = ${r.ringMembers} ring members, successor lists of ${r.successors}`,
    ],
    [
      'built by',
      r.ringBuild === 'direct'
        ? `direct (above ${DIRECT_BUILD_ABOVE_MEMBERS} ring members nodes start stabilized)`
        : `simulated joins and stabilization, ${(r.buildVirtualMs / 1000).toFixed(1)} s virtual`,
    ],
    [
      'failures',
      r.failedNodes === 0
        ? 'none'
        : `${r.failedNodes} nodes crashed at once; ring ${r.ringHealed ? 'repaired' : 'NOT repaired'} ` +
          `after ${((r.stabilizationVirtualMs ?? 0) / 1000).toFixed(1)} s virtual`,
    ],
    [
      'lookups',
      `${r.lookups}, failed ${r.failedLookupCount} (${(100 * r.failedLookups).toFixed(3)}%); ` +
        `whose successor list all died: ${r.lookupsWhoseSuccessorListAllDied}`,
    ],
    [
      'hops',
      `mean ${r.meanHops.toFixed(3)} (½·log2 ${r.liveRingMembers} = ${r.expectedHops.toFixed(3)}), ` +
        `p50 ${r.p50Hops}, p99 ${r.p99Hops}`,
    ],
    [
      'keys per node',
      `${r.keys} keys: mean ${r.keysPerNode.mean.toFixed(1)}, p1 ${r.keysPerNode.p1} (${ratio(r.keysPerNode.p1)}×), ` +
        `p99 ${r.keysPerNode.p99} (${ratio(r.keysPerNode.p99)}×), max ${r.keysPerNode.max}`,
    ],
    ['messages', `${r.messagesSent} in ${(r.virtualTimeMs / 1000).toFixed(1)} s virtual`],
    ['trace digest', r.traceDigest],
    ['elapsed', `${(elapsedMs / 1000).toFixed(1)} s`],
    ['replay', replay],
  ];
  return formatRows(rows);
}

export const simChordCommand: Command = {
  name: 'chord',
  summary: 'Chord ring: lookup hops, keys per node, lookups after mass failure',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parse(argv);
    const replay = replayCommand(o);
    const progress = new Progress();
    const started = performance.now();
    let result: ChordExperimentResult;
    try {
      result = runChordExperiment({
        nodes: o.nodes,
        vnodes: o.vnodes,
        keys: o.keys,
        lookups: o.lookups,
        failFraction: o.failFraction,
        successors: o.successors,
        seed: o.seed,
        directBuildAboveMembers: DIRECT_BUILD_ABOVE_MEMBERS,
        onProgress: (text) => progress.update(`sim chord: ${text}`),
      });
    } catch (err) {
      progress.done();
      if (!(err instanceof ChordCheckError)) throw err;
      process.stderr.write(
        `arpeggio sim chord: internal check failed with seed ${o.seed}: ${err.message}\nreplay: ${replay}\n`,
      );
      return 1;
    }
    progress.done();
    const elapsedMs = Math.round(performance.now() - started);
    if (o.json) process.stdout.write(`${JSON.stringify({ ...result, elapsedMs })}\n`);
    else process.stdout.write(`${table(result, elapsedMs, replay)}\n`);
    return 0;
  },
};
