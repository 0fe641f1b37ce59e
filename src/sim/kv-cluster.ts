/**
 * A cluster of real `KvNode`s in the simulator, with the helpers workloads and checks need:
 * boot and wait for membership to converge, send a request and get a promise-free callback, and
 * look at every replica's stored records directly.
 */
import { type BugName, type KvConfig, KvNode, type KvNodeInit, type PeerMessage } from '../core/kv-node.js';
import { dataKey, type KvRecord } from '../core/record.js';
import { scanRange } from '../core/replication/anti-entropy.js';
import type { KvReply, KvRequest } from '../core/replication/messages.js';
import { hintKey } from '../core/replication/replica.js';
import type { StorageWrite } from '../core/storage.js';
import type { NodeId } from '../core/types.js';
import { SimKvStorage } from './kv-storage.js';
import { type NetworkConfig, Simulator } from './simulator.js';

export type KvSim = Simulator<PeerMessage, KvRequest, KvReply, StorageWrite, KvNodeInit>;

export interface KvClusterOptions {
  seed: number;
  nodes: number;
  config?: Partial<KvConfig>;
  bugs?: readonly BugName[];
  network?: Partial<NetworkConfig>;
  /** The host releases replies before writes are durable (the `ack-before-durable` bug). */
  releaseBeforeFlush?: boolean;
  tickIntervalMs?: number;
  fsyncLatencyMs?: number;
}

/** Nodes' clocks start here (2023-11-14), so records carry realistic timestamps. */
export const SIM_EPOCH_MS = 1_700_000_000_000;

export function nodeName(i: number): NodeId {
  return `n${i + 1}`;
}

export class KvCluster {
  readonly sim: KvSim;
  readonly ids: NodeId[];

  constructor(private readonly options: KvClusterOptions) {
    this.sim = new Simulator<PeerMessage, KvRequest, KvReply, StorageWrite, KvNodeInit>(
      (id, ctx, init) =>
        new KvNode(
          { random: ctx.random, storage: ctx.storage as SimKvStorage },
          { ...init, id, epoch: ctx.incarnation },
        ),
      {
        seed: options.seed,
        tickIntervalMs: options.tickIntervalMs ?? 5,
        fsyncLatencyMs: options.fsyncLatencyMs ?? 1,
        releaseBeforeFlush: options.releaseBeforeFlush ?? false,
        clockOffsetMs: SIM_EPOCH_MS,
        network: options.network as NetworkConfig | undefined,
        createStorage: () => new SimKvStorage(),
      },
    );
    this.ids = Array.from({ length: options.nodes }, (_, i) => nodeName(i));
  }

  init(id: NodeId, seeds: NodeId[]): KvNodeInit {
    return { id, seeds, epoch: 0, config: this.options.config, bugs: this.options.bugs };
  }

  /** Starts every node (all but the first join through the first) and waits for full membership. */
  boot(maxMs = 30_000, clockSkewsMs: ReadonlyMap<NodeId, number> = new Map()): boolean {
    this.ids.forEach((id, i) => {
      this.sim.addNode(id, this.init(id, i === 0 ? [] : [this.ids[0]]));
      this.sim.setClockSkew(id, clockSkewsMs.get(id) ?? 0);
    });
    return this.sim.runUntil(() => this.membershipConverged(), maxMs, 20);
  }

  /** Adds a node that joins through a live member. */
  addNode(id: NodeId): void {
    // An operator names the cluster's nodes as seeds whether or not they are up right now (they
    // may all be down after a power cut); the newcomer keeps trying them.
    const seeds = this.sim.allNodeIds().filter((other) => !this.hasLeft(other));
    this.ids.push(id);
    this.sim.addNode(id, this.init(id, seeds));
  }

  /** Starts a graceful leave; the node is removed from the simulation once it has handed off. */
  leave(id: NodeId): void {
    this.leaving.add(id);
    this.sim.invoke(id, (node, nowMs) => (node as KvNode).leave(nowMs));
    const poll = (): void => {
      const node = this.node(id);
      if (node?.hasLeft) {
        this.left.add(id);
        // Let the announcement go out before the process stops.
        this.sim.after(500, () => this.sim.remove(id));
        return;
      }
      this.sim.after(100, poll);
    };
    poll();
  }

  /** Whether the node has left (or is leaving) the cluster for good. */
  hasLeft(id: NodeId): boolean {
    return this.left.has(id) || this.sim.status(id) === 'removed';
  }

  private readonly leaving = new Set<NodeId>();
  private readonly left = new Set<NodeId>();

  node(id: NodeId): KvNode | undefined {
    return this.sim.node(id) as KvNode | undefined;
  }

  /**
   * Every live node sees every other live node alive, none is joining or leaving, and all agree
   * on the ring.
   */
  membershipConverged(): boolean {
    if (!this.everyoneSeesEveryone()) return false;
    let ring: string | null = null;
    for (const id of this.sim.liveNodeIds()) {
      const status = this.node(id)?.status();
      if (status?.status !== 'normal' || status.pendingJoins.length + status.pendingLeaves.length > 0)
        return false;
      const mine = status.ringMembers.join(',');
      if (ring !== null && mine !== ring) return false;
      ring = mine;
    }
    return true;
  }

  everyoneSeesEveryone(): boolean {
    const live = this.sim.liveNodeIds().filter((id) => this.sim.status(id) === 'up');
    for (const id of live) {
      const node = this.node(id);
      if (!node) return false;
      const alive = new Set(
        node
          .members()
          .filter((m) => m.state === 'alive')
          .map((m) => m.id),
      );
      for (const other of live) if (other !== id && !alive.has(other)) return false;
    }
    return true;
  }

  /** The record each node's storage holds for a key (undefined: none), read straight from storage. */
  storedRecords(key: Uint8Array): Map<NodeId, KvRecord | undefined> {
    const out = new Map<NodeId, KvRecord | undefined>();
    const dk = dataKey(key);
    for (const id of this.sim.allNodeIds()) {
      const storage = this.sim.storageOf(id) as SimKvStorage | undefined;
      out.set(id, storage?.get<KvRecord>('data', dk));
    }
    return out;
  }

  /**
   * On how many nodes a value of a key would survive a crash of every node now: durable in the
   * data table or as a hint for any node.
   */
  durableCopies(key: Uint8Array, value: Uint8Array): number {
    const dk = dataKey(key);
    let copies = 0;
    const same = (r: KvRecord | undefined) =>
      r?.value != null && r.value.length === value.length && r.value.every((b, i) => b === value[i]);
    for (const id of this.sim.allNodeIds()) {
      const storage = this.sim.storageOf(id) as SimKvStorage | undefined;
      if (!storage) continue;
      if (same(storage.getDurable<KvRecord>('data', dk))) copies++;
      else if (this.ids.some((t) => same(storage.getDurable<KvRecord>('hints', hintKey(t, dk))))) copies++;
    }
    return copies;
  }

  /** Records held by live nodes that are not replicas of their key (awaiting orphan handoff). */
  orphans(): number {
    const anyNode = this.node(this.sim.liveNodeIds()[0]);
    if (!anyNode) return 0;
    let n = 0;
    for (const id of this.sim.liveNodeIds()) {
      const storage = this.sim.storageOf(id) as SimKvStorage | undefined;
      if (!storage) continue;
      for (const { range, replicas } of anyNode.allRanges()) {
        if (replicas.includes(id)) continue;
        n += scanRange(storage, range, 1_000_000).length;
      }
    }
    return n;
  }

  /** Hints still held anywhere (hinted handoff has not finished). */
  pendingHints(): number {
    let n = 0;
    for (const id of this.sim.allNodeIds())
      n += (this.sim.storageOf(id) as SimKvStorage | undefined)?.count('hints') ?? 0;
    return n;
  }

  /** Sends a request and calls back with the reply, or with null when none came in time. */
  send(
    nodeId: NodeId,
    req: KvRequest,
    timeoutMs: number,
    done: (reply: KvReply | null, atMs: number) => void,
  ): void {
    let settled = false;
    const requestId = this.sim.request(nodeId, req, (reply, atMs) => {
      if (settled) return;
      settled = true;
      done(reply, atMs);
    });
    this.sim.after(timeoutMs, () => {
      if (settled) return;
      settled = true;
      this.sim.abandon(requestId);
      done(null, this.sim.now());
    });
  }
}
