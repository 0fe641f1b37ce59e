/**
 * SWIM in the deterministic simulator: `SwimNode` hosts a `Swim` as a `ProtocolNode`, and
 * `runMembershipExperiment` measures what docs/MEMBERSHIP.md reports: failure-detection time,
 * false-positive rates under message loss, and message load.
 */
import { type SwimConfig, suspicionTimeoutMaxMs, suspicionTimeoutMinMs } from '../core/membership/config.js';
import { Swim, type SwimCounters } from '../core/membership/swim.js';
import type { MembershipEvent, Meta, SwimMessage } from '../core/membership/types.js';
import type { ClientRequest, NodeId, ProtocolNode, Ready } from '../core/types.js';
import { calmNetwork, type NetworkConfig, type NodeContext, Simulator } from './simulator.js';
import { LogStorage } from './storage.js';

/** What a test or an operator asks of a simulated member. */
export type SwimRequest =
  | { type: 'join'; seeds: NodeId[] }
  | { type: 'leave' }
  | { type: 'meta'; meta: Meta };

export interface SwimNodeInit {
  config: SwimConfig;
  /** Joined at the first tick, and again after every restart, as a real node's startup does. */
  seeds: NodeId[];
  meta?: Meta;
  /**
   * Persist the incarnation (as writes to the node's storage) and restart above it. Without it a
   * restarted node learns its old incarnation from the seed's state and refutes it.
   */
  persistIncarnation?: boolean;
  /** Every membership event of every node, with the node's local time. */
  onEvent?: (node: NodeId, event: MembershipEvent, atMs: number) => void;
  /** Sums of every node's counters, across restarts (a restarted node's own start from zero). */
  totals?: SwimCounters;
}

export function zeroCounters(): SwimCounters {
  return {
    probes: 0,
    indirectProbes: 0,
    probesFailed: 0,
    suspicionsRaised: 0,
    deathsDeclared: 0,
    refutations: 0,
    pushPulls: 0,
    reconnectAttempts: 0,
    joinAttempts: 0,
  };
}

/** A host for one `Swim`: the simulator's side of the host contract. Writes are incarnations. */
export class SwimNode implements ProtocolNode<SwimMessage, SwimRequest, never, number> {
  readonly swim: Swim;
  private joined = false;
  private persisted: number;
  private counted = zeroCounters();

  constructor(
    readonly id: NodeId,
    ctx: NodeContext<number>,
    private readonly init: SwimNodeInit,
  ) {
    const log = ctx.storage as LogStorage<number>;
    const before = init.persistIncarnation ? log.visible() : [];
    // One more than any incarnation a previous life of this node used.
    const incarnation = before.length > 0 ? Math.max(...before) + 1 : 0;
    this.persisted = before.length > 0 ? Math.max(...before) : -1;
    this.swim = new Swim(
      { random: ctx.random },
      { self: { id, meta: init.meta ?? {}, incarnation }, config: init.config },
    );
  }

  step(from: NodeId, msg: SwimMessage, nowMs: number): Ready<SwimMessage, never, number> {
    return this.ready(this.swim.step(from, msg, nowMs), nowMs);
  }

  tick(nowMs: number): Ready<SwimMessage, never, number> {
    if (!this.joined) {
      this.joined = true;
      const joined = this.swim.join(this.init.seeds, nowMs);
      const ticked = this.swim.tick(nowMs);
      return this.ready(
        { outbox: [...joined.outbox, ...ticked.outbox], events: [...joined.events, ...ticked.events] },
        nowMs,
      );
    }
    return this.ready(this.swim.tick(nowMs), nowMs);
  }

  request(req: ClientRequest<SwimRequest>, nowMs: number): Ready<SwimMessage, never, number> {
    const body = req.body;
    if (body.type === 'join') return this.ready(this.swim.join(body.seeds, nowMs), nowMs);
    if (body.type === 'leave') return this.ready(this.swim.leave(nowMs), nowMs);
    return this.ready(this.swim.updateMeta(body.meta, nowMs), nowMs);
  }

  private ready(out: ReturnType<Swim['tick']>, nowMs: number): Ready<SwimMessage, never, number> {
    for (const e of out.events) this.init.onEvent?.(this.id, e, nowMs);
    const totals = this.init.totals;
    if (totals) {
      for (const k of Object.keys(totals) as (keyof SwimCounters)[])
        totals[k] += this.swim.counters[k] - this.counted[k];
      this.counted = { ...this.swim.counters };
    }
    const writes: number[] = [];
    if (this.init.persistIncarnation && this.swim.incarnation > this.persisted) {
      this.persisted = this.swim.incarnation;
      writes.push(this.persisted);
    }
    return { outbox: out.outbox, replies: [], writes };
  }
}

export interface MembershipSimOptions {
  seed: number;
  config: SwimConfig;
  network?: Partial<NetworkConfig>;
  /** Virtual ms between ticks; a tenth of the probe timeout keeps deadlines accurate. */
  tickIntervalMs?: number;
  persistIncarnation?: boolean;
  onEvent?: SwimNodeInit['onEvent'];
}

export type MembershipSim = Simulator<SwimMessage, SwimRequest, never, number, SwimNodeInit>;

/** A simulator whose nodes are `SwimNode`s, each with its own incarnation log. */
export function createMembershipSim(options: MembershipSimOptions): MembershipSim {
  return new Simulator<SwimMessage, SwimRequest, never, number, SwimNodeInit>(
    (id, ctx, init) => new SwimNode(id, ctx, init),
    {
      seed: options.seed,
      tickIntervalMs: options.tickIntervalMs ?? Math.max(1, Math.floor(options.config.probeTimeoutMs / 10)),
      network: { ...calmNetwork, ...options.network },
      createStorage: () => new LogStorage<number>(),
    },
  );
}

/** The `Swim` of a live simulated node. */
export function swimOf(sim: MembershipSim, id: NodeId): Swim {
  const node = sim.node(id);
  if (!node) throw new Error(`node ${id} is not up`);
  return (node as SwimNode).swim;
}

/** The state `observer` holds for `subject`, or undefined when it does not know it. */
export function stateSeenBy(sim: MembershipSim, observer: NodeId, subject: NodeId): string | undefined {
  return swimOf(sim, observer).member(subject)?.state;
}

/** Does every live node see every node in `ids` as alive (and nothing else alive)? */
export function allSeeAlive(sim: MembershipSim, ids: NodeId[]): boolean {
  const live = sim.liveNodeIds();
  return live.every((observer) => ids.every((subject) => stateSeenBy(sim, observer, subject) === 'alive'));
}

// ---- the experiment ----------------------------------------------------------------------

export interface MembershipExperimentOptions {
  nodes: number;
  config: SwimConfig;
  packetLossProbability: number;
  /** Virtual time measured after the cluster has formed. */
  durationMs: number;
  /** Members crashed during the run, one at a time, each restarted once everyone saw it dead. */
  crashes: number;
  seed: number;
  /** Called now and then with the fraction of virtual time done (for a progress line). */
  onProgress?: (fraction: number) => void;
}

export interface DetectionSample {
  node: NodeId;
  crashedAtMs: number;
  /** Crash to the first member suspecting it, and to the first and the last declaring it dead. */
  firstSuspectMs: number | null;
  firstDeadMs: number | null;
  allDeadMs: number | null;
}

export interface Summary {
  mean: number | null;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface MembershipExperimentResult {
  nodes: number;
  packetLossProbability: number;
  seed: number;
  config: SwimConfig;
  virtualDurationS: number;
  formationMs: number;
  protocolPeriodMs: number;
  suspicionTimeoutMinMs: number;
  suspicionTimeoutMaxMs: number;
  detection: {
    crashes: number;
    detected: number;
    firstSuspectMs: Summary;
    firstDeadMs: Summary;
    allDeadMs: Summary;
    /** The same, divided by the protocol period. */
    firstDeadPeriods: Summary;
    allDeadPeriods: Summary;
    samples: DetectionSample[];
  };
  falsePositives: {
    /** Time that members were up, summed over members. */
    memberHours: number;
    /** Events in which a member that was up was suspected / declared dead by another. */
    falseSuspicions: number;
    falseDeaths: number;
    /** Distinct (healthy member, time) deaths: a false death counted once however many saw it. */
    falselyDeadMembers: number;
    falseSuspicionsPerMemberHour: number;
    falseDeathsPerMemberHour: number;
    probes: number;
    falseSuspicionsPerProbe: number;
  };
  load: {
    messagesSent: number;
    messagesPerMemberPerSecond: number;
    /** Ping-reqs, sent only when a direct probe got no ack in time. */
    indirectProbesPerMemberPerSecond: number;
    refutations: number;
  };
}

export function summarise(values: number[]): Summary {
  if (values.length === 0) return { mean: null, p50: null, p99: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return {
    mean: round(mean),
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function divide(s: Summary, by: number): Summary {
  const d = (x: number | null) => (x === null ? null : Math.round((x / by) * 100) / 100);
  return { mean: d(s.mean), p50: d(s.p50), p99: d(s.p99), max: d(s.max) };
}

const nodeName = (i: number) => `n${String(i + 1).padStart(3, '0')}`;

/**
 * Forms a cluster of `nodes` members (all joining through the first), lets it settle, then runs
 * for `durationMs` of virtual time at the given loss, crashing `crashes` random members at evenly
 * spaced times. Each crashed member is restarted once every live member has declared it dead (or
 * after twice the detection bound), so the cluster keeps its size. A crashed member's detection
 * clock starts at the crash; suspicions and deaths of members that were up are false positives.
 */
export function runMembershipExperiment(o: MembershipExperimentOptions): MembershipExperimentResult {
  const crashedAt = new Map<NodeId, number>();
  const samples = new Map<NodeId, DetectionSample>();
  const deadSeenBy = new Map<NodeId, Set<NodeId>>();
  let measuring = false;
  let falseSuspicions = 0;
  let falseDeaths = 0;
  const falselyDead = new Set<string>();

  const onEvent = (observer: NodeId, e: MembershipEvent): void => {
    if (!measuring) return;
    const subject = e.member.id;
    const atMs = sim.now();
    const crashTime = crashedAt.get(subject);
    if (crashTime === undefined) {
      if (e.type === 'suspect') falseSuspicions++;
      if (e.type === 'dead') {
        falseDeaths++;
        falselyDead.add(`${subject}@${e.member.incarnation}`);
      }
      return;
    }
    const sample = samples.get(subject) as DetectionSample;
    if (e.type === 'suspect' && sample.firstSuspectMs === null) sample.firstSuspectMs = atMs - crashTime;
    if (e.type === 'dead') {
      if (sample.firstDeadMs === null) sample.firstDeadMs = atMs - crashTime;
      const seen = deadSeenBy.get(subject) as Set<NodeId>;
      seen.add(observer);
      const everyone = sim.liveNodeIds().every((id) => seen.has(id));
      if (everyone && sample.allDeadMs === null) {
        sample.allDeadMs = atMs - crashTime;
        sim.after(0, () => restart(subject));
      }
    }
  };

  const sim = createMembershipSim({
    seed: o.seed,
    config: o.config,
    network: { packetLossProbability: 0 },
  });
  const totals = zeroCounters();
  const ids = Array.from({ length: o.nodes }, (_, i) => nodeName(i));
  for (const id of ids) sim.addNode(id, { config: o.config, seeds: [ids[0]], onEvent, totals });

  // Formation on a calm network; then the measured run at the requested loss.
  const formationLimitMs = 1000 * o.config.probeIntervalMs + 2 * o.config.pushPullIntervalMs;
  const formed = sim.runUntil(() => allSeeAlive(sim, ids), formationLimitMs, o.config.probeIntervalMs);
  if (!formed)
    throw new Error(`the cluster of ${o.nodes} did not form in ${formationLimitMs} ms (seed ${o.seed})`);
  const formationMs = sim.now();
  // Let the join gossip die down so that it does not count as load.
  sim.runFor(10 * o.config.probeIntervalMs);
  sim.setNetwork({ packetLossProbability: o.packetLossProbability });

  function restart(id: NodeId): void {
    if (!crashedAt.has(id)) return;
    crashedAt.delete(id);
    sim.restart(id);
  }

  const startMs = sim.now();
  const endMs = startMs + o.durationMs;
  const spacingMs = o.durationMs / (o.crashes + 1);
  const restartLimitMs =
    2 * (2 * o.nodes * o.config.probeIntervalMs + suspicionTimeoutMaxMs(o.config, o.nodes));
  for (let c = 1; c <= o.crashes; c++) {
    sim.at(startMs + c * spacingMs, () => {
      const candidates = sim.liveNodeIds().filter((id) => !crashedAt.has(id));
      const victim = sim.random.pick(candidates);
      crashedAt.set(victim, sim.now());
      samples.set(victim, {
        node: victim,
        crashedAtMs: sim.now(),
        firstSuspectMs: null,
        firstDeadMs: null,
        allDeadMs: null,
      });
      deadSeenBy.set(victim, new Set());
      sim.crash(victim);
      sim.after(restartLimitMs, () => restart(victim));
    });
  }

  // Observation time of healthy members, integrated in slices.
  const totalsBefore = { ...totals };
  const sentBefore = sim.stats.messagesSent;
  let memberMs = 0;
  const sliceMs = Math.max(o.config.probeIntervalMs, Math.floor(o.durationMs / 1000));
  measuring = true;
  while (sim.now() < endMs) {
    const healthy = sim.liveNodeIds().filter((id) => !crashedAt.has(id)).length;
    const step = Math.min(sliceMs, endMs - sim.now());
    sim.runFor(step);
    memberMs += healthy * step;
    o.onProgress?.((sim.now() - startMs) / o.durationMs);
  }
  measuring = false;
  const delta = (k: keyof SwimCounters) => totals[k] - totalsBefore[k];
  const probes = delta('probes');
  const messagesSent = sim.stats.messagesSent - sentBefore;
  const seconds = o.durationMs / 1000;
  const list = [...samples.values()];
  const firstDead = summarise(list.flatMap((s) => (s.firstDeadMs === null ? [] : [s.firstDeadMs])));
  const allDead = summarise(list.flatMap((s) => (s.allDeadMs === null ? [] : [s.allDeadMs])));
  const memberHours = memberMs / 3_600_000;
  const P = o.config.probeIntervalMs;
  return {
    nodes: o.nodes,
    packetLossProbability: o.packetLossProbability,
    seed: o.seed,
    config: o.config,
    virtualDurationS: seconds,
    formationMs,
    protocolPeriodMs: P,
    suspicionTimeoutMinMs: round(suspicionTimeoutMinMs(o.config, o.nodes)),
    suspicionTimeoutMaxMs: round(suspicionTimeoutMaxMs(o.config, o.nodes)),
    detection: {
      crashes: list.length,
      detected: list.filter((s) => s.allDeadMs !== null).length,
      firstSuspectMs: summarise(list.flatMap((s) => (s.firstSuspectMs === null ? [] : [s.firstSuspectMs]))),
      firstDeadMs: firstDead,
      allDeadMs: allDead,
      firstDeadPeriods: divide(firstDead, P),
      allDeadPeriods: divide(allDead, P),
      samples: list,
    },
    falsePositives: {
      memberHours: round(memberHours),
      falseSuspicions,
      falseDeaths,
      falselyDeadMembers: falselyDead.size,
      falseSuspicionsPerMemberHour: memberHours > 0 ? rate(falseSuspicions / memberHours) : 0,
      falseDeathsPerMemberHour: memberHours > 0 ? rate(falselyDead.size / memberHours) : 0,
      probes,
      falseSuspicionsPerProbe: probes > 0 ? rate(falseSuspicions / probes) : 0,
    },
    load: {
      messagesSent,
      messagesPerMemberPerSecond: round(messagesSent / (o.nodes * seconds)),
      indirectProbesPerMemberPerSecond: rate(delta('indirectProbes') / (o.nodes * seconds)),
      refutations: delta('refutations'),
    },
  };
}

/** Three significant digits. */
function rate(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(3));
}
