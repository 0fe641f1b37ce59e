/**
 * Chord in the deterministic simulator: a harness (`ChordSimulation`) that starts, joins, leaves
 * and crashes nodes and compares every ring member's state with the true ring (`Ring` over the
 * live members), and the experiment behind `arpeggio sim chord` (`runChordExperiment`), which
 * measures the paper's claims: path length ½·log2 N (Fig 10), keys per node against virtual nodes
 * (Fig 9), and lookups after half the nodes fail at once (“Simultaneous Node Failures”).
 *
 * Lookups always go through the protocol's real message routing. Only the ring's construction
 * has a shortcut: above `directBuildAboveMembers` ring members the nodes start from the state
 * stabilization would converge to, instead of joining one by one.
 */
import {
  type ChordConfig,
  type ChordInit,
  type ChordMessage,
  ChordNode,
  type ChordReply,
  type ChordRequest,
  fingerStart,
  type VNodeView,
} from '../core/chord.js';
import { ID_BITS, identifierOf } from '../core/id.js';
import { SeededRandom } from '../core/random.js';
import { Ring, type VirtualNode } from '../core/ring.js';
import type { NodeId } from '../core/types.js';
import { calmNetwork, type NetworkConfig, Simulator } from './simulator.js';

export type ChordSim = Simulator<ChordMessage, ChordRequest, ChordReply, never, ChordInit>;

export interface ChordSimulationOptions {
  seed: number;
  /** V: ring members per physical node. */
  vnodes: number;
  config?: Partial<ChordConfig>;
  network?: Partial<NetworkConfig>;
  /** How often the simulator ticks each node; the protocol's intervals should be multiples of it. */
  tickIntervalMs?: number;
  /** Keep the last N trace lines (`sim.trace()`), to find where two runs diverge. */
  traceLinesKept?: number;
}

/**
 * How much of the ring's state a check compares with the truth: `cycle`, every live member has
 * joined and its successor is its true successor (the successor pointers form the true cycle);
 * `lists`, also its predecessor and its whole successor list; `fingers`, also every finger.
 */
export type RingCheckLevel = 'cycle' | 'lists' | 'fingers';

/** The outcome of one lookup as a client saw it. */
export interface LookupOutcome {
  from: NodeId;
  keyId: number;
  reply: ChordReply | null;
}

/** An internal check of an experiment failed: the protocol did not do what it must. */
export class ChordCheckError extends Error {
  override name = 'ChordCheckError';
}

export class ChordSimulation {
  readonly sim: ChordSim;
  readonly vnodes: number;
  readonly config: Partial<ChordConfig>;
  /** Nodes asked to leave: they are off the true ring from that moment. */
  private readonly departing = new Set<NodeId>();

  constructor(options: ChordSimulationOptions) {
    this.vnodes = options.vnodes;
    this.config = options.config ?? {};
    this.sim = new Simulator<ChordMessage, ChordRequest, ChordReply, never, ChordInit>(
      (id, ctx, init) => new ChordNode(id, { random: ctx.random }, init),
      {
        seed: options.seed,
        tickIntervalMs: options.tickIntervalMs ?? 50,
        network: { ...calmNetwork, ...options.network },
      },
    );
  }

  /** The first node: it creates the ring. */
  create(id: NodeId): void {
    this.sim.addNode(id, { vnodes: this.vnodes, bootstrap: [], config: this.config });
  }

  /** A node that joins through `via` (tried in turn until one answers). */
  join(id: NodeId, via: readonly NodeId[]): void {
    this.sim.addNode(id, { vnodes: this.vnodes, bootstrap: via, config: this.config });
  }

  /** Starts every node of `members` already stabilized on their ring (the direct build). */
  addStable(members: readonly NodeId[]): Ring {
    const ring = Ring.fromMembers(members, this.vnodes);
    for (const id of members)
      this.sim.addNode(id, { vnodes: this.vnodes, bootstrap: [], config: this.config, stableRing: ring });
    return ring;
  }

  /** Asks `id` to leave gracefully; the host stops it once it has said goodbye. */
  leave(id: NodeId): void {
    this.departing.add(id);
    this.sim.request(id, { type: 'leave' }, () => this.sim.remove(id));
  }

  crash(id: NodeId): void {
    this.sim.crash(id);
  }

  /** Nodes that are up and not leaving. */
  liveIds(): NodeId[] {
    return this.sim.liveNodeIds().filter((id) => !this.departing.has(id));
  }

  node(id: NodeId): ChordNode | undefined {
    return this.sim.node(id) as ChordNode | undefined;
  }

  /** The true ring: every live node's members. */
  truth(): Ring {
    return Ring.fromMembers(this.liveIds(), this.vnodes);
  }

  /**
   * Where the ring members' state differs from the truth, at most `limit` descriptions (empty
   * when the ring has converged to `level`).
   */
  ringErrors(level: RingCheckLevel, limit = 5): string[] {
    const truth = this.truth();
    const errors: string[] = [];
    const r = this.successorListLength();
    for (const id of this.liveIds()) {
      const node = this.node(id);
      if (!node) continue;
      for (const v of node.vnodes()) {
        const problem = memberError(v, truth, r, level);
        if (problem !== null) errors.push(`${id}#${v.self.id}: ${problem}`);
        if (errors.length >= limit) return errors;
      }
    }
    return errors;
  }

  /** Runs until the ring has converged to `level`; false if it has not within `maxMs`. */
  stabilize(level: RingCheckLevel, maxMs: number, checkEveryMs = 250): boolean {
    return this.sim.runUntil(() => this.ringErrors(level, 1).length === 0, maxMs, checkEveryMs);
  }

  /** Sends a lookup; `done` gets the reply (or null if `timeoutMs` passed without one). */
  lookup(from: NodeId, keyId: number, done: (outcome: LookupOutcome) => void, timeoutMs = 30_000): void {
    let answered = false;
    const requestId = this.sim.request(from, { type: 'lookup', keyId }, (reply) => {
      if (answered) return;
      answered = true;
      done({ from, keyId, reply });
    });
    this.sim.after(timeoutMs, () => {
      if (answered) return;
      answered = true;
      this.sim.abandon(requestId);
      done({ from, keyId, reply: null });
    });
  }

  /** Runs the given lookups (spread over `spreadMs`) to completion and returns their outcomes. */
  lookupAll(
    lookups: readonly { from: NodeId; keyId: number }[],
    spreadMs = 0,
    onProgress?: (done: number) => void,
  ): LookupOutcome[] {
    const outcomes: LookupOutcome[] = new Array(lookups.length);
    let done = 0;
    const start = this.sim.now();
    lookups.forEach((l, i) => {
      const atMs = start + (lookups.length > 1 ? (spreadMs * i) / lookups.length : 0);
      this.sim.at(atMs, () =>
        this.lookup(l.from, l.keyId, (o) => {
          outcomes[i] = o;
          done++;
        }),
      );
    });
    const timeoutMs = 30_000;
    for (let step = 0; done < lookups.length && step * 1000 < spreadMs + timeoutMs + 1000; step++) {
      this.sim.runUntil(() => done === lookups.length, 1000, 50);
      onProgress?.(done);
    }
    return outcomes;
  }

  private successorListLength(): number {
    const first = this.liveIds()[0];
    return first === undefined ? 1 : (this.node(first)?.config.successorListLength ?? 1);
  }
}

/** What is wrong with one ring member's state compared with the true ring, or null. */
function memberError(v: VNodeView, truth: Ring, r: number, level: RingCheckLevel): string | null {
  if (!v.joined) return 'not joined yet';
  const expectedSuccessors =
    truth.size === 1 ? [truth.vnodes[0]] : truth.successorsOf(v.self.id, Math.min(r, truth.size - 1));
  if (v.successor?.id !== expectedSuccessors[0].id)
    return `successor ${v.successor?.id} ≠ ${expectedSuccessors[0].id}`;
  const expectedPredecessor = truth.predecessorOf(v.self.id);
  if (v.predecessor?.id !== expectedPredecessor.id)
    return `predecessor ${v.predecessor?.id} ≠ ${expectedPredecessor.id}`;
  if (
    v.successorList.length !== expectedSuccessors.length ||
    v.successorList.some((s, i) => s.id !== expectedSuccessors[i].id)
  ) {
    return `successor list [${v.successorList.map((s) => s.id)}] ≠ [${expectedSuccessors.map((s) => s.id)}]`;
  }
  if (level === 'fingers') {
    for (let i = 0; i < ID_BITS; i++) {
      const expected = truth.successorOf(fingerStart(v.self.id, i));
      if (v.fingers[i]?.id !== expected.id) return `finger ${i} ${v.fingers[i]?.id} ≠ ${expected.id}`;
    }
  }
  return null;
}

// ---- the experiment ----------------------------------------------------------------------

export interface ChordExperimentOptions {
  nodes: number;
  vnodes: number;
  /** Keys hashed to measure how evenly they spread over the physical nodes. */
  keys: number;
  lookups: number;
  /** Fraction of physical nodes crashed at once before the lookups. */
  failFraction: number;
  /** r, the successor list length. */
  successors: number;
  seed: number;
  /** Rings with more members than this start stabilized instead of joining (default 2048). */
  directBuildAboveMembers?: number;
  /** Protocol settings over `experimentConfig(successors)`, e.g. `{ successorListShortcut: true }`. */
  config?: Partial<ChordConfig>;
  onProgress?: (text: string) => void;
}

export interface Distribution {
  mean: number;
  p1: number;
  p99: number;
  max: number;
}

export interface ChordExperimentResult {
  nodes: number;
  vnodes: number;
  ringMembers: number;
  successors: number;
  ringBuild: 'simulated-join' | 'direct';
  /** Virtual time the joins and stabilization took (0 for the direct build). */
  buildVirtualMs: number;
  failedNodes: number;
  /** Virtual time the ring took to repair itself after the failures; null when nothing failed. */
  stabilizationVirtualMs: number | null;
  /** Whether successors, predecessors and successor lists were all correct again after the failures. */
  ringHealed: boolean | null;
  liveRingMembers: number;
  lookups: number;
  meanHops: number;
  p50Hops: number;
  p99Hops: number;
  /** ½·log2 of the live ring members: Chord's expected path length. */
  expectedHops: number;
  keys: number;
  /** Keys per live physical node. */
  keysPerNode: Distribution;
  /** Fraction of lookups that did not return the true owner (of the live ring). */
  failedLookups: number;
  failedLookupCount: number;
  /**
   * Lookups for keys whose whole successor list died: the key's owner before the failures and
   * the r − 1 members after it, which is the successor list of the key's predecessor. Only these
   * may fail: they are the keys a store replicated on successor lists would have lost.
   */
  lookupsWhoseSuccessorListAllDied: number;
  /** Failed lookups for keys whose successor list still had a live member (must be 0). */
  failedLookupsUnexplained: number;
  virtualTimeMs: number;
  messagesSent: number;
  traceDigest: string;
  seed: number;
}

/** The protocol settings the experiment uses; the location cache is off so hops measure routing. */
export function experimentConfig(successors: number): Partial<ChordConfig> {
  return { successorListLength: successors, locationCacheEntries: 0 };
}

const JOIN_CONVERGENCE_MAX_MS = 120_000;
const REPAIR_MAX_MS = 120_000;
const LOOKUP_SPREAD_MS = 1_000;

export function runChordExperiment(options: ChordExperimentOptions): ChordExperimentResult {
  const { nodes, vnodes, keys, lookups, failFraction, successors, seed } = options;
  const progress = options.onProgress ?? (() => {});
  const cs = new ChordSimulation({
    seed,
    vnodes,
    config: { ...experimentConfig(successors), ...options.config },
  });
  const sim = cs.sim;
  // Workload choices get their own stream, so they do not shift when the protocol's traffic does.
  const workload = new SeededRandom(seed ^ 0x9e3779b9);
  const names = Array.from({ length: nodes }, (_, i) => `n${i}`);
  const ringMembers = nodes * vnodes;
  const direct = ringMembers > (options.directBuildAboveMembers ?? 2048);

  // 1. Build the ring.
  if (direct) {
    progress('building the ring directly');
    cs.addStable(names);
  } else {
    buildByJoining(cs, names, workload, progress);
  }
  const buildVirtualMs = sim.now();
  const before = cs.truth();

  // 2. Crash a fraction of the physical nodes at once, and let the ring repair itself.
  const failed = workload.shuffle([...names]).slice(0, Math.floor(failFraction * nodes));
  let stabilizationVirtualMs: number | null = null;
  let ringHealed: boolean | null = null;
  if (failed.length > 0) {
    progress(`crashing ${failed.length} nodes`);
    for (const id of failed) cs.crash(id);
    const startMs = sim.now();
    ringHealed = cs.stabilize('lists', REPAIR_MAX_MS);
    stabilizationVirtualMs = sim.now() - startMs;
    const dead = new Set(failed);
    if (!ringHealed && brokenSuccessorLists(before, dead, successors) === 0) {
      throw new ChordCheckError(
        `the ring did not repair itself within ${REPAIR_MAX_MS} ms although every member kept a live ` +
          `successor-list entry: ${cs.ringErrors('lists').join('; ')}`,
      );
    }
  }
  const after = cs.truth();
  const live = cs.liveIds();

  // 3. Lookups, from random live nodes for random keys, through the protocol.
  const keyIdOf = keyIdentifiers();
  const plan = Array.from({ length: lookups }, () => ({
    from: workload.pick(live),
    keyId: keyIdOf(workload.int(Math.max(1, keys))),
  }));
  const outcomes = cs.lookupAll(plan, LOOKUP_SPREAD_MS, (done) => progress(`lookups ${done}/${lookups}`));

  // 4. Judge every lookup against the true ring.
  const dead = new Set(failed);
  const hops: number[] = [];
  let failedCount = 0;
  let successorListDied = 0;
  let unexplained = 0;
  for (const o of outcomes) {
    const listDied =
      dead.size > 0 && keySuccessorList(before, o.keyId, successors).every((v) => dead.has(v.node));
    if (listDied) successorListDied++;
    const reply = o.reply;
    if (
      reply !== null &&
      reply.type === 'lookup' &&
      reply.ok &&
      reply.owner.id === after.successorOf(o.keyId).id
    ) {
      hops.push(reply.hops);
      continue;
    }
    failedCount++;
    if (!listDied) unexplained++;
  }
  if (unexplained > 0 && (ringHealed ?? true)) {
    throw new ChordCheckError(
      `${unexplained} of ${lookups} lookups failed although the key's successor list had a live member`,
    );
  }

  progress('counting keys per node');
  const keysPerNode = keyDistribution(after, live, keys, keyIdOf);
  hops.sort((a, b) => a - b);
  return {
    nodes,
    vnodes,
    ringMembers,
    successors,
    ringBuild: direct ? 'direct' : 'simulated-join',
    buildVirtualMs: round(buildVirtualMs, 1),
    failedNodes: failed.length,
    stabilizationVirtualMs: stabilizationVirtualMs === null ? null : round(stabilizationVirtualMs, 1),
    ringHealed,
    liveRingMembers: after.size,
    lookups,
    meanHops: round(mean(hops), 3),
    p50Hops: quantile(hops, 0.5),
    p99Hops: quantile(hops, 0.99),
    expectedHops: round(0.5 * Math.log2(after.size), 3),
    keys,
    keysPerNode,
    failedLookups: round(lookups === 0 ? 0 : failedCount / lookups, 6),
    failedLookupCount: failedCount,
    lookupsWhoseSuccessorListAllDied: successorListDied,
    failedLookupsUnexplained: unexplained,
    virtualTimeMs: round(sim.now(), 1),
    messagesSent: sim.stats.messagesSent,
    traceDigest: sim.traceDigest(),
    seed,
  };
}

/**
 * Joins in waves that double the ring: each new node joins through a random member already on
 * it, the joins of a wave spread over half a second. After each wave the successors must be
 * right; after the last, the fingers too.
 */
function buildByJoining(
  cs: ChordSimulation,
  names: readonly NodeId[],
  workload: SeededRandom,
  progress: (text: string) => void,
): void {
  const sim = cs.sim;
  cs.create(names[0]);
  let started = 1;
  while (started < names.length) {
    const on = names.slice(0, started);
    const wave = names.slice(started, Math.min(names.length, 2 * started));
    const t0 = sim.now();
    wave.forEach((id, i) => {
      const via = [workload.pick(on), workload.pick(on), workload.pick(on)];
      sim.at(t0 + (500 * i) / wave.length, () => cs.join(id, via));
    });
    started += wave.length;
    sim.runFor(500);
    progress(`joining: ${started}/${names.length} nodes started, stabilizing`);
    if (!cs.stabilize('lists', JOIN_CONVERGENCE_MAX_MS)) {
      throw new ChordCheckError(
        `successors did not converge after ${started} joins: ${cs.ringErrors('lists').join('; ')}`,
      );
    }
  }
  progress('fixing fingers');
  if (!cs.stabilize('fingers', JOIN_CONVERGENCE_MAX_MS)) {
    throw new ChordCheckError(`fingers did not converge: ${cs.ringErrors('fingers').join('; ')}`);
  }
}

/** The key's successor list before the failures: its owner and the r − 1 members after it. */
function keySuccessorList(ring: Ring, keyId: number, r: number): VirtualNode[] {
  const owner = ring.successorOf(keyId);
  return [owner, ...ring.successorsOf(owner.id, Math.min(r, ring.size) - 1)];
}

/** Live members every entry of whose successor list died: where the paper's ring would break. */
function brokenSuccessorLists(ring: Ring, dead: ReadonlySet<NodeId>, r: number): number {
  let broken = 0;
  for (const v of ring.vnodes) {
    if (dead.has(v.node)) continue;
    if (ring.successorsOf(v.id, Math.min(r, ring.size - 1)).every((s) => dead.has(s.node))) broken++;
  }
  return broken;
}

function keyDistribution(
  ring: Ring,
  live: readonly NodeId[],
  keys: number,
  keyIdOf: (k: number) => number,
): Distribution {
  const count = new Map<NodeId, number>(live.map((id) => [id, 0]));
  for (let k = 0; k < keys; k++) {
    const owner = ring.ownerOf(keyIdOf(k));
    count.set(owner, (count.get(owner) ?? 0) + 1);
  }
  const counts = [...count.values()].sort((a, b) => a - b);
  return {
    mean: round(mean(counts), 3),
    p1: quantile(counts, 0.01),
    p99: quantile(counts, 0.99),
    max: counts[counts.length - 1] ?? 0,
  };
}

/**
 * identifierOf(`key-${k}`), encoding into one reused buffer: the key-distribution count hashes
 * millions of keys, and a fresh byte array per key would dominate its time.
 */
function keyIdentifiers(): (k: number) => number {
  const encoder = new TextEncoder();
  const buffer = new Uint8Array(64);
  return (k) => {
    const { written } = encoder.encodeInto(`key-${k}`, buffer);
    return identifierOf(buffer.subarray(0, written));
  };
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
