/** Shared setup for the membership tests: a SWIM cluster in the simulator, with an event log. */
import assert from 'node:assert/strict';
import { lanConfig, type SwimConfig } from '../../../src/core/membership/config.js';
import type { MembershipEvent } from '../../../src/core/membership/types.js';
import type { NodeId } from '../../../src/core/types.js';
import {
  allSeeAlive,
  createMembershipSim,
  type MembershipSim,
  stateSeenBy,
  swimOf,
} from '../../../src/sim/membership-experiment.js';
import type { NetworkConfig } from '../../../src/sim/simulator.js';

/**
 * LAN knobs on a 10× faster clock: 100 ms periods, 40 ms probe timeout, on the simulator's calm
 * network (1 ms + exp(1 ms) one way), so a test covers hundreds of periods in little real time.
 */
export const testConfig: SwimConfig = {
  ...lanConfig,
  probeIntervalMs: 100,
  probeTimeoutMs: 40,
  pushPullIntervalMs: 2000,
  deadMemberRetentionMs: 60_000,
};

export interface LoggedEvent {
  atMs: number;
  observer: NodeId;
  type: MembershipEvent['type'];
  subject: NodeId;
  incarnation: number;
}

export interface Cluster {
  sim: MembershipSim;
  events: LoggedEvent[];
  ids: NodeId[];
  /** Adds a member that joins through `seeds`. */
  add(id: NodeId, seeds: NodeId[]): void;
  /** Events about `subject` of the given type, optionally only those seen by `observer`. */
  eventsAbout(subject: NodeId, type?: LoggedEvent['type']): LoggedEvent[];
  stateSeenBy(observer: NodeId, subject: NodeId): string | undefined;
}

export interface ClusterOptions {
  seed: number;
  config?: SwimConfig;
  network?: Partial<NetworkConfig>;
  persistIncarnation?: boolean;
  /** Virtual ms between ticks (default: a tenth of the probe timeout). */
  tickIntervalMs?: number;
}

export const names = (n: number): NodeId[] =>
  Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));

/** Starts `ids`, all joining through the first, and runs until everyone sees everyone alive. */
export function startCluster(ids: NodeId[], o: ClusterOptions): Cluster {
  const config = o.config ?? testConfig;
  const events: LoggedEvent[] = [];
  const sim = createMembershipSim({
    seed: o.seed,
    config,
    network: o.network,
    tickIntervalMs: o.tickIntervalMs,
  });
  const onEvent = (observer: NodeId, e: MembershipEvent, atMs: number) =>
    events.push({ atMs, observer, type: e.type, subject: e.member.id, incarnation: e.member.incarnation });
  const cluster: Cluster = {
    sim,
    events,
    ids: [...ids],
    add(id, seeds) {
      sim.addNode(id, { config, seeds, onEvent, persistIncarnation: o.persistIncarnation });
      cluster.ids.push(id);
    },
    eventsAbout: (subject, type) => events.filter((e) => e.subject === subject && (!type || e.type === type)),
    stateSeenBy: (observer, subject) => stateSeenBy(sim, observer, subject),
  };
  for (const id of ids)
    sim.addNode(id, { config, seeds: [ids[0]], onEvent, persistIncarnation: o.persistIncarnation });
  const formed = sim.runUntil(() => allSeeAlive(sim, ids), 100 * config.probeIntervalMs);
  assert.ok(formed, `the cluster formed (seed ${o.seed})`);
  return cluster;
}

export { allSeeAlive, swimOf };
