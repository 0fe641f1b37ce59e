/**
 * SWIM in the deterministic simulator: `SwimNode` hosts a `Swim` as a `ProtocolNode`, and
 * `runMembershipExperiment` measures what docs/MEMBERSHIP.md reports: failure-detection time,
 * false-positive rates under message loss, and message load.
 */
import {
  detectionBoundMs,
  type SwimConfig,
  suspicionTimeoutMaxMs,
  suspicionTimeoutMinMs,
} from '../core/membership/config.js';
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

/** Does every live node see every node in `ids` as alive? */
export function allSeeAlive(sim: MembershipSim, ids: NodeId[]): boolean {
  const live = sim.liveNodeIds();
  return live.every((observer) => ids.every((subject) => stateSeenBy(sim, observer, subject) === 'alive'));
}

// ---- the experiment ----------------------------------------------------------------------

/**
 * One-way latency per preset's kind of network: loopback and a data centre (the simulator's calm
 * network, 1 ms + exp(1 ms)), and a WAN (40 ms + exp(10 ms), a cross-continent link).
 */
export const PRESET_NETWORKS: Record<
  'local' | 'lan' | 'wan',
  Pick<NetworkConfig, 'latencyMinMs' | 'latencyJitterMeanMs'>
> = {
  local: { latencyMinMs: 1, latencyJitterMeanMs: 1 },
  lan: { latencyMinMs: 1, latencyJitterMeanMs: 1 },
  wan: { latencyMinMs: 40, latencyJitterMeanMs: 10 },
};

export interface MembershipExperimentOptions {
  nodes: number;
  config: SwimConfig;
  latency?: Pick<NetworkConfig, 'latencyMinMs' | 'latencyJitterMeanMs'>;
  packetLossProbability: number;
  /** Virtual time measured after the cluster has formed. */
  durationMs: number;
  /** Members crashed during the run, at evenly spaced times, each restarted once everyone saw it dead. */
  crashes: number;
  seed: number;
  /** Called now and then with the fraction of the measured virtual time done (for a progress line). */
  onProgress?: (fraction: number) => void;
}

export interface DetectionSample {
  node: NodeId;
  crashedAtMs: number;
  /** From the crash to the first member suspecting it, and to the first and the last declaring it dead. */
  firstSuspectMs: number | null;
  firstDeadMs: number | null;
  allDeadMs: number | null;
}

export interface Summary {
  count: number;
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
  detectionBoundMs: number;
  detection: {
    crashes: number;
    /** Crashes that every live member declared dead before the member was restarted. */
    detectedByAll: number;
    firstSuspectMs: Summary;
    firstDeadMs: Summary;
    allDeadMs: Summary;
    /** The same, in protocol periods. */
    firstDeadPeriods: Summary;
    allDeadPeriods: Summary;
    samples: DetectionSample[];
  };
  falsePositives: {
    /** Time members were up, summed over members. */
    memberHours: number;
    probes: number;
    /** Suspicions of a member that was up: distinct (member, incarnation) episodes. */
    suspicions: number;
    /** Deaths of a member that was up: distinct (member, incarnation) episodes. */
    deaths: number;
    /** The same deaths counted once per member that declared them. */
    deathEvents: number;
    suspicionsPerMemberHour: number;
    deathsPerMemberHour: number;
    suspicionsPerProbe: number;
  };
  load: {
    messagesSent: number;
    messagesPerMemberPerSecond: number;
    /** Ping-reqs, sent only when a direct probe got no ack in time. */
    pingReqsPerMemberPerSecond: number;
    refutations: number;
  };
  traceDigest: string;
}

export function summarise(values: number[]): Summary {
  if (values.length === 0) return { count: 0, mean: null, p50: null, p99: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const mean = sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
  return {
    count: sorted.length,
    mean: round(mean),
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Three significant digits. */
function rate(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(3));
}

function inPeriods(s: Summary, periodMs: number): Summary {
  const d = (x: number | null) => (x === null ? null : Math.round((x / periodMs) * 100) / 100);
  return { count: s.count, mean: d(s.mean), p50: d(s.p50), p99: d(s.p99), max: d(s.max) };
}

const nodeName = (i: number) => `n${String(i + 1).padStart(3, '0')}`;

/**
 * Forms a cluster of `nodes` members (joining through the first three) on a loss-free network,
 * then runs for `durationMs` of virtual time at the given loss, crashing `crashes` random members
 * at evenly spaced times. A crashed member is restarted (without its incarnation, so it rejoins by
 * refuting its death) once every live member has declared it dead, or after twice the detection
 * bound, so the cluster keeps its size. News about a crashed member's last incarnation, or older
 * ones, is detection; a suspicion or death of a member at an incarnation it had while up is a
 * false positive.
 */
export function runMembershipExperiment(o: MembershipExperimentOptions): MembershipExperimentResult {
  const P = o.config.probeIntervalMs;
  const ids = Array.from({ length: o.nodes }, (_, i) => nodeName(i));
  /** The incarnation each member had at its last crash: news at or below it is about that life. */
  const crashedIncarnation = new Map<NodeId, number>();
  const down = new Set<NodeId>();
  /** The sample of each member's latest crash; `finished` keeps them all, in crash order. */
  const samples = new Map<NodeId, DetectionSample>();
  const finished: DetectionSample[] = [];
  const deadSeenBy = new Map<NodeId, Set<NodeId>>();
  const falseSuspicions = new Set<string>();
  const falseDeaths = new Set<string>();
  let falseDeathEvents = 0;
  let measuring = false;

  const sim = createMembershipSim({
    seed: o.seed,
    config: o.config,
    network: { ...(o.latency ?? PRESET_NETWORKS.lan), packetLossProbability: 0 },
  });

  const onEvent = (observer: NodeId, e: MembershipEvent): void => {
    if (!measuring || (e.type !== 'suspect' && e.type !== 'dead')) return;
    const subject = e.member.id;
    const episode = `${subject}@${e.member.incarnation}`;
    const lastLife = crashedIncarnation.get(subject);
    if (lastLife === undefined || e.member.incarnation > lastLife) {
      if (e.type === 'suspect') falseSuspicions.add(episode);
      else {
        falseDeaths.add(episode);
        falseDeathEvents++;
      }
      return;
    }
    const sample = samples.get(subject);
    if (!sample || !down.has(subject)) return; // late news of a life already restarted
    const sinceCrash = sim.now() - sample.crashedAtMs;
    if (e.type === 'suspect') {
      sample.firstSuspectMs ??= sinceCrash;
      return;
    }
    sample.firstDeadMs ??= sinceCrash;
    const seen = deadSeenBy.get(subject) as Set<NodeId>;
    seen.add(observer);
    if (sample.allDeadMs === null && sim.liveNodeIds().every((id) => seen.has(id))) {
      sample.allDeadMs = sinceCrash;
      sim.after(0, () => restart(sample));
    }
  };

  const totals = zeroCounters();
  // Three seeds, as a deployment would list, so that a restarted seed finds the cluster too.
  const seeds = ids.slice(0, 3);
  for (const id of ids) sim.addNode(id, { config: o.config, seeds, onEvent, totals });

  const formationLimitMs = 100 * o.nodes * P + 2 * o.config.pushPullIntervalMs;
  if (!sim.runUntil(() => allSeeAlive(sim, ids), formationLimitMs, P)) {
    throw new Error(`the cluster of ${o.nodes} did not form in ${formationLimitMs} ms (seed ${o.seed})`);
  }
  const formationMs = sim.now();
  // Let the join gossip die down so that it does not count as load.
  sim.runFor(10 * P);
  sim.setNetwork({ packetLossProbability: o.packetLossProbability });

  /** Restarts the member after the crash that `sample` records, unless that already happened. */
  function restart(sample: DetectionSample): void {
    if (samples.get(sample.node) !== sample || !down.delete(sample.node)) return;
    sim.restart(sample.node);
  }

  const bound = detectionBoundMs(o.config, o.nodes);
  const startMs = sim.now();
  const endMs = startMs + o.durationMs;
  const spacingMs = o.durationMs / (o.crashes + 1);
  for (let c = 1; c <= o.crashes; c++) {
    sim.at(startMs + c * spacingMs, () => {
      const victim = sim.random.pick(sim.liveNodeIds().filter((id) => !down.has(id)));
      crashedIncarnation.set(victim, swimOf(sim, victim).incarnation);
      down.add(victim);
      const sample = {
        node: victim,
        crashedAtMs: sim.now(),
        firstSuspectMs: null,
        firstDeadMs: null,
        allDeadMs: null,
      };
      samples.set(victim, sample);
      finished.push(sample);
      deadSeenBy.set(victim, new Set());
      sim.crash(victim);
      sim.after(2 * bound, () => restart(sample));
    });
  }

  const before = { ...totals };
  const sentBefore = sim.stats.messagesSent;
  const sliceMs = Math.max(P, Math.floor(o.durationMs / 200));
  let memberMs = 0;
  measuring = true;
  while (sim.now() < endMs) {
    const up = o.nodes - down.size;
    const step = Math.min(sliceMs, endMs - sim.now());
    sim.runFor(step);
    memberMs += up * step;
    o.onProgress?.((sim.now() - startMs) / o.durationMs);
  }
  measuring = false;

  const delta = (k: keyof SwimCounters) => totals[k] - before[k];
  const seconds = o.durationMs / 1000;
  const memberHours = memberMs / 3_600_000;
  const messagesSent = sim.stats.messagesSent - sentBefore;
  const values = (pick: (s: DetectionSample) => number | null) =>
    finished.flatMap((s) => (pick(s) === null ? [] : [pick(s) as number]));
  const firstDead = summarise(values((s) => s.firstDeadMs));
  const allDead = summarise(values((s) => s.allDeadMs));
  return {
    nodes: o.nodes,
    packetLossProbability: o.packetLossProbability,
    seed: o.seed,
    config: o.config,
    virtualDurationS: seconds,
    formationMs: round(formationMs),
    protocolPeriodMs: P,
    suspicionTimeoutMinMs: round(suspicionTimeoutMinMs(o.config, o.nodes)),
    suspicionTimeoutMaxMs: round(suspicionTimeoutMaxMs(o.config, o.nodes)),
    detectionBoundMs: round(bound),
    detection: {
      crashes: finished.length,
      detectedByAll: finished.filter((s) => s.allDeadMs !== null).length,
      firstSuspectMs: summarise(values((s) => s.firstSuspectMs)),
      firstDeadMs: firstDead,
      allDeadMs: allDead,
      firstDeadPeriods: inPeriods(firstDead, P),
      allDeadPeriods: inPeriods(allDead, P),
      samples: finished,
    },
    falsePositives: {
      memberHours: round(memberHours),
      probes: delta('probes'),
      suspicions: falseSuspicions.size,
      deaths: falseDeaths.size,
      deathEvents: falseDeathEvents,
      suspicionsPerMemberHour: rate(falseSuspicions.size / memberHours),
      deathsPerMemberHour: rate(falseDeaths.size / memberHours),
      suspicionsPerProbe: delta('probes') > 0 ? rate(falseSuspicions.size / delta('probes')) : 0,
    },
    load: {
      messagesSent,
      messagesPerMemberPerSecond: round(messagesSent / (o.nodes * seconds)),
      pingReqsPerMemberPerSecond: rate(delta('indirectProbes') / (o.nodes * seconds)),
      refutations: delta('refutations'),
    },
    traceDigest: sim.traceDigest(),
  };
}
