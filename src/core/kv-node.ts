/**
 * A storage node of the replicated key-value store, as one deterministic state machine: SWIM
 * membership decides who is in the cluster, the ring built from the members decides where each
 * key lives, the RPC layer carries replica requests with retries and circuit breakers, and the
 * replication operations coordinate client requests at the level each asks for.
 *
 * The same class runs in the simulator and in a real node process; it never touches the world.
 */

import { HybridClock, hlcPhysicalMs } from './hlc.js';
import { identifierOf } from './id.js';
import { localConfig, type SwimConfig } from './membership/config.js';
import { Swim } from './membership/swim.js';
import type { Member, MembershipEvent, Meta, SwimMessage, SwimOutput } from './membership/types.js';
import { StepOverlay } from './overlay.js';
import { type MemberStatus, type MemberView, Placement, type PlacementMemory } from './placement.js';
import { RateMeter } from './rate-meter.js';
import { type ConflictMode, dataKey, type KvRecord, splitDataKey } from './record.js';
import {
  buildTree,
  type KeyedRecord,
  type RingRange,
  recordsInSlices,
  scanRange,
} from './replication/anti-entropy.js';
import { batchTransition, type ConsensusInit, ConsensusOperation } from './replication/consensus.js';
import { HintedHandoff } from './replication/hints.js';
import {
  type Ballot,
  type KvReply,
  type KvRequest,
  kvError,
  type ReplicaRequest,
  type ReplicaResponse,
} from './replication/messages.js';
import type { CallResult, Operation, OperationIo } from './replication/operation.js';
import { QuorumRead, QuorumWrite } from './replication/quorum.js';
import { Replica } from './replication/replica.js';
import { answerKeyspace, isKeyspaceRequest, keyspaceOperation } from './replication/scan.js';
import { transitionFor } from './replication/transitions.js';
import type { Ring } from './ring.js';
import type { BreakerState } from './rpc/circuit-breaker.js';
import type { RpcConfig } from './rpc/config.js';
import { RpcEndpoint } from './rpc/endpoint.js';
import type { CallId, RpcCompletion, RpcMessage } from './rpc/messages.js';
import type { StorageReader, StorageWrite } from './storage.js';
import type { ClientRequest, Envelope, NodeId, ProtocolNode, Random, Ready, Reply } from './types.js';

/** Everything a node says to another node. */
/** A node's counters (KvNode.counters), all zero: a fresh node's, and fixtures' in tests. */
export function zeroKvCounters() {
  return {
    antiEntropyRounds: 0,
    antiEntropyRecordsReceived: 0,
    antiEntropyRecordsSent: 0,
    hintsDelivered: 0,
    handoffRecordsReceived: 0,
    handoffRecordsSent: 0,
    orphansHandedOff: 0,
    tombstonesCollected: 0,
    /** Consensus rounds that ran more than one queued operation (consensusBatchMax). */
    consensusBatches: 0,
    /** Operations that ran inside such batches. */
    consensusBatchedOps: 0,
  };
}

/** Bound on self-delivered messages per call into the node (each op sends itself a few). */
const MAX_LOCAL_DELIVERIES = 1_000_000;

export type PeerMessage = { type: 'swim'; swim: SwimMessage } | RpcMessage<ReplicaRequest, ReplicaResponse>;

/** Deliberately wrong variants, switched on to show that the checkers catch them. */
export type BugName =
  /** linearizable reads answer after phase 1 even when the value is not yet chosen */
  | 'read-without-write-back'
  /** quorum writes are acknowledged after one replica */
  | 'write-quorum-one'
  /** sloppy-quorum substitutes acknowledge hints and throw them away */
  | 'drop-hints'
  /** the node never rebuilds its ring after it first joins */
  | 'stale-ring';

export const KV_NODE_BUGS: readonly BugName[] = [
  'read-without-write-back',
  'write-quorum-one',
  'drop-hints',
  'stale-ring',
];

export interface KvConfig {
  /** N: how many distinct physical nodes hold each key. */
  replicaCount: number;
  /** R for `quorum` reads. R + W > N makes every read quorum meet every write quorum. */
  readQuorum: number;
  /** W for `quorum` writes. */
  writeQuorum: number;
  /** Virtual nodes per physical node on the ring (load balance: more is smoother, Chord §6.2). */
  vnodesPerNode: number;
  /** A client request that has not finished by then fails with TIMEOUT. */
  requestTimeoutMs: number;
  /** After a read replied, how long it keeps listening to slower replicas to repair them. */
  readRepairWindowMs: number;
  conflictMode: ConflictMode;
  /** How often a node tries to hand hints back to their intended replicas. */
  hintDeliveryIntervalMs: number;
  /** Hints sent per target per delivery round (bounds the burst after a long outage). */
  hintBatchSize: number;
  consensusBackoffBaseMs: number;
  consensusBackoffMaxMs: number;
  /**
   * Consensus operations on one key that waited for the round before them run together in the
   * next round, at most this many: one prepare and one accept apply them all in queue order
   * (a hot key's INCRs cost one round per batch, not per INCR). 1: one operation per round.
   */
  consensusBatchMax: number;
  /** More client requests in flight than this are refused with OVERLOADED. */
  maxInflightRequests: number;
  /**
   * Every this often a node compares one of its ranges with another replica (Merkle trees).
   * A node with V·N ranges covers all of them every V·N·interval: the bound on how long a
   * divergence that no read touches can last.
   */
  antiEntropyIntervalMs: number;
  /** Tree depth: 2^depth leaves per range. Deeper trees ship fewer records per difference. */
  antiEntropyDepth: number;
  /** Records shipped per exchange, each way (the rate bound). */
  antiEntropyBatch: number;
  /** Records read to build one tree (bounds the work per exchange on huge ranges). */
  antiEntropyScanLimit: number;
  /**
   * After a membership change, how long writes still also go to the replicas of before. Must
   * exceed the time gossip takes to reach every node (a few SWIM protocol periods).
   */
  transitionGraceMs: number;
  /** Records per message when a joining or leaving node hands ranges over. */
  handoffBatch: number;
  /** A member dead this long is taken off the ring and its ranges re-replicated (∞: never). */
  deadMemberReplacementMs: number;
  /**
   * Tombstones (and expired values) older than this are collected. Anti-entropy must have
   * reached every replica within it, or a replica that missed the deletion could bring the old
   * value back (Cassandra's gc_grace_seconds).
   */
  tombstoneGraceMs: number;
  swim: Partial<SwimConfig>;
  rpc: Partial<RpcConfig>;
}

export const defaultKvConfig: KvConfig = {
  replicaCount: 3,
  readQuorum: 2,
  writeQuorum: 2,
  vnodesPerNode: 16,
  requestTimeoutMs: 2000,
  readRepairWindowMs: 100,
  conflictMode: 'lww',
  hintDeliveryIntervalMs: 500,
  hintBatchSize: 64,
  consensusBackoffBaseMs: 5,
  consensusBackoffMaxMs: 100,
  consensusBatchMax: 64,
  maxInflightRequests: 10_000,
  antiEntropyIntervalMs: 1000,
  antiEntropyDepth: 6,
  antiEntropyBatch: 256,
  antiEntropyScanLimit: 200_000,
  transitionGraceMs: 10_000,
  handoffBatch: 1024,
  deadMemberReplacementMs: 600_000,
  tombstoneGraceMs: 24 * 3600_000,
  // Placement follows the members' advertised status, so metadata must converge quickly: a full
  // state exchange every 5 s bounds how long a node can miss a status change gossip dropped.
  swim: { pushPullIntervalMs: 5000 },
  // Real processes answer within milliseconds but stall for tens under bursts and GC; attempts
  // time out after a second so a busy peer is not mistaken for a dead one (the simulator's
  // campaigns use tighter values to match their 1–3 ms links).
  rpc: { requestTimeoutMs: 1000 },
};

/** Refuses a configuration whose quorums cannot work, with the reason. */
export function validateKvConfig(c: KvConfig): void {
  const fail = (why: string): never => {
    throw new RangeError(`invalid configuration: ${why}`);
  };
  if (!(Number.isInteger(c.replicaCount) && c.replicaCount >= 1)) fail('replicaCount must be an integer ≥ 1');
  if (!(Number.isInteger(c.consensusBatchMax) && c.consensusBatchMax >= 1))
    fail('consensusBatchMax must be an integer ≥ 1');
  if (!(c.readQuorum >= 1 && c.readQuorum <= c.replicaCount))
    fail('readQuorum must be between 1 and replicaCount');
  if (!(c.writeQuorum >= 1 && c.writeQuorum <= c.replicaCount))
    fail('writeQuorum must be between 1 and replicaCount');
  if (c.readQuorum + c.writeQuorum <= c.replicaCount) {
    fail(
      `readQuorum + writeQuorum must exceed replicaCount (${c.readQuorum} + ${c.writeQuorum} ≤ ${c.replicaCount}): reads could miss acknowledged writes`,
    );
  }
  if (!(Number.isInteger(c.vnodesPerNode) && c.vnodesPerNode >= 1))
    fail('vnodesPerNode must be an integer ≥ 1');
}

export interface KvNodeComponents {
  random: Random;
  storage: StorageReader;
}

export interface KvNodeInit {
  id: NodeId;
  /** Nodes to join through; empty for the first node of a cluster. */
  seeds: NodeId[];
  /** What this node advertises (client endpoints and the like). */
  meta?: Meta;
  /** Fresh at every start (a restart counter): keeps RPC ids unique across restarts. */
  epoch: number;
  config?: Partial<KvConfig>;
  bugs?: readonly BugName[];
}

interface ClientOp {
  requestId: number;
  op: Operation;
  /** Consensus operations on one key run one at a time; this is the key's queue slot. */
  serialKey?: string;
  /** A consensus operation: what it needs to join a batch with the others queued on its key. */
  consensus?: { key: Uint8Array; transition: ConsensusInit['transition'] };
  /**
   * A batch: the request ids of its members, in the order their transitions ran. Its reply is
   * an error for all of them or `batch`, one reply each (see batchTransition).
   */
  members?: number[];
  /** When the client stops waiting; a queued operation that reaches it never starts. */
  deadlineMs: number;
  /** Calls still open, so a retired operation leaves nothing behind. */
  calls: Set<CallId>;
}

/** Where the ring membership is persisted in the `meta` table. */
const RING_MEMBERS_KEY = new TextEncoder().encode('ring-members');
/** Pending joins and leaves and the rings before recent changes (`Placement.memory`). */
const PLACEMENT_MEMORY_KEY = new TextEncoder().encode('placement-memory');
/** The SWIM incarnation of this node's latest start. */
const INCARNATION_KEY = new TextEncoder().encode('incarnation');

function keySlot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += key[i].toString(16).padStart(2, '0');
  return s;
}

export class KvNode implements ProtocolNode<PeerMessage, KvRequest, KvReply, StorageWrite> {
  readonly id: NodeId;
  readonly config: KvConfig;
  private readonly random: Random;
  private readonly overlay: StepOverlay;
  private readonly replica: Replica;
  private readonly swim: Swim;
  private readonly rpc: RpcEndpoint<ReplicaRequest, ReplicaResponse>;
  private readonly clock = new HybridClock();
  private readonly bugs: ReadonlySet<BugName>;
  /** Which nodes hold which keys, through membership changes (see placement.ts). */
  private readonly placement: Placement;
  /** This node's own part in membership changes. */
  private memberStatus: MemberStatus;
  /** A join or leave handing ranges over, one exchange at a time. */
  private handoff: Handoff | null = null;
  /** After a restart: asked a peer whether this node is still on its ring (see rejoin). */
  private membershipCheck: { peer: NodeId; callId: CallId } | null = null;
  private statusSinceMs = Number.NaN;
  private meta: Meta;
  /** A node that was told to join serves nothing until it knows the ring (NOT_READY). */
  private ready: boolean;
  private nextPlacementReviewMs = 0;
  private lastBallot: Ballot | null = null;

  private readonly ops = new Set<ClientOp>();
  private readonly opByCall = new Map<CallId, ClientOp>();
  private readonly consensusQueues = new Map<string, ClientOp[]>();
  private readonly hints: HintedHandoff;
  private readonly antiEntropyCalls = new Map<CallId, { peer: NodeId; range: RingRange }>();
  private nextAntiEntropyMs = 0;
  private antiEntropyCursor = 0;
  /** Client requests started, for the load an operator sees (`status().requestsPerSecond`). */
  private readonly requestRate = new RateMeter(10);
  /** Counters for metrics and tests. */
  readonly counters = zeroKvCounters();

  // Outputs gathered during one step.
  private outbox: Envelope<PeerMessage>[] = [];
  /** RPC messages to this node itself, delivered before the current step returns. */
  private localMail: RpcMessage<ReplicaRequest, ReplicaResponse>[] = [];
  private replies: Reply<KvReply>[] = [];
  private nowMs = 0;

  constructor(components: KvNodeComponents, init: KvNodeInit) {
    this.id = init.id;
    this.config = { ...defaultKvConfig, ...init.config };
    validateKvConfig(this.config);
    this.random = components.random;
    this.bugs = new Set(init.bugs ?? []);
    this.overlay = new StepOverlay(components.storage);
    this.replica = new Replica(this.overlay, {
      conflictMode: this.config.conflictMode,
      antiEntropyScanLimit: this.config.antiEntropyScanLimit,
      antiEntropyBatch: this.config.antiEntropyBatch,
      ringVersion: () => this.placement.version(),
    });
    // A restarted node comes back at a higher incarnation than any it used before, so its
    // "alive" overrides whatever suspicion or death the others recorded while it was down.
    const incarnation = (components.storage.get<number>('meta', INCARNATION_KEY) ?? -1) + 1;
    this.overlay.put('meta', INCARNATION_KEY, incarnation);
    this.rpc = new RpcEndpoint(
      { random: this.random.fork() },
      { self: init.id, epoch: init.epoch, config: this.config.rpc },
    );
    const persisted = components.storage.get<NodeId[]>('meta', RING_MEMBERS_KEY) ?? [];
    const seeds = init.seeds.filter((id) => id !== init.id);
    const firstNode = seeds.length === 0 && persisted.length === 0;
    this.placement = new Placement(
      {
        replicaCount: this.config.replicaCount,
        vnodesPerNode: this.config.vnodesPerNode,
        transitionGraceMs: this.config.transitionGraceMs,
        deadMemberReplacementMs: this.config.deadMemberReplacementMs,
      },
      // A node that was not yet a member when it stopped learns the ring afresh from gossip.
      firstNode ? [init.id] : persisted.includes(init.id) ? persisted : [],
    );
    const memory = components.storage.get<PlacementMemory>('meta', PLACEMENT_MEMORY_KEY);
    if (memory && !firstNode && persisted.includes(init.id)) this.placement.restore(memory, init.id);
    this.persistedPlacementChanges = this.placement.changes;
    this.hints = new HintedHandoff(
      {
        store: this.overlay,
        placement: this.placement,
        isHealthy: (id) => this.isHealthy(id),
        call: (to, req) => {
          const { callId, outbox } = this.rpc.call(to, req, this.nowMs, { idempotent: true });
          this.sendRpc(outbox);
          return callId;
        },
        delivered: () => {
          this.counters.hintsDelivered++;
        },
      },
      { intervalMs: this.config.hintDeliveryIntervalMs, batchSize: this.config.hintBatchSize },
    );
    // The first node of a cluster is the ring. A new node starts as `joining`: it must copy its
    // ranges first. A restarted member starts as `rejoining`, which placement ignores: it asks a
    // peer whether it is still on the ring (it may have been replaced while it was down) before
    // it says `normal` again, or `joining` if it was replaced.
    const wasMember = !firstNode && persisted.includes(init.id);
    this.memberStatus = firstNode ? 'normal' : wasMember ? 'rejoining' : 'joining';
    this.membershipChecked = firstNode;
    this.ringVouched = firstNode;
    this.meta = { ...init.meta, vnodes: this.config.vnodesPerNode, status: this.memberStatus };
    this.swim = new Swim(
      { random: this.random.fork() },
      {
        self: { id: init.id, meta: this.meta, incarnation },
        config: { ...localConfig, ...this.config.swim },
      },
    );
    // Rejoin through whoever this node knew, or the seeds it was given.
    this.pendingJoin = [...new Set([...seeds, ...persisted])].filter((id) => id !== init.id);
    if (!firstNode && this.placement.has(init.id)) {
      // A member before the restart. What it persisted of the ring may be stale (changes it had
      // not flushed, or it was replaced while down), so it serves nothing until a peer has
      // confirmed its membership and gossip has brought its view up to date.
      this.restarted = true;
    }
    this.ready = !this.placement.isEmpty() && !this.restarted;
  }

  private restarted = false;
  /** `placement.changes` when its memory was last persisted. */
  private persistedPlacementChanges: number;
  /** Whether a peer has told us if we are on the ring (first nodes need not ask). */
  private membershipChecked = false;
  /**
   * Whether this node's ring is known to be current, so that it may tell a restarted member that
   * it is no longer on the ring. A restarted node's persisted ring may miss members that joined
   * while it was down, and a member wrongly told "you are not on the ring" drops out and rejoins
   * while everyone else keeps it on their rings: a join that never completes. Known current: the
   * first node; a node whose membership a peer with a current ring confirmed; a node that had to
   * trust its disk (nobody could confirm it: a cluster restarting together) once every live
   * member advertises its ring version.
   */
  private ringVouched = false;
  /** Peers that could not vouch for their ring, and when to ask them again. */
  private readonly unsurePeers = new Map<NodeId, number>();
  /** Whether a peer that could not vouch for its ring still had this node on it. */
  private listedByUnconfirmed = false;
  private pendingJoin: NodeId[];

  // ---- ProtocolNode ----------------------------------------------------------------------

  step(from: NodeId, msg: PeerMessage, nowMs: number): Ready<PeerMessage, KvReply, StorageWrite> {
    this.begin(nowMs);
    if (msg.type === 'swim') {
      // A SWIM ack always answers a ping or ping-req this node sent to `from`: a round trip to the
      // peer works right now. That is the evidence an open breaker waits for (it turns half-open
      // and one probe decides). SWIM's `alive` events alone do not suffice: a peer this node
      // never stopped seeing alive (its probes got through, or went round by ping-req) raises
      // none, and its breaker would stay open for up to breakerOpenMsMax after the fault healed.
      if (msg.swim.type === 'ack') this.rpc.peerSeenAlive(from, nowMs);
      this.absorbSwim(this.swim.step(from, msg.swim, nowMs));
    } else {
      this.receiveRpc(from, msg);
    }
    return this.end();
  }

  /** One RPC message (a request to serve or an answer to a call of ours). */
  private receiveRpc(from: NodeId, msg: RpcMessage<ReplicaRequest, ReplicaResponse>): void {
    const out = this.rpc.receive(from, msg, this.nowMs, (_from, req) =>
      req.op === 'ring-view'
        ? this.ringView(_from)
        : isKeyspaceRequest(req)
          ? answerKeyspace(this.overlay, req)
          : this.replica.handle(req),
    );
    this.absorbRpc(out);
  }

  /**
   * Our ring, for a restarted member checking whether it is still on it. Unconfirmed while this
   * node cannot vouch that its ring is current, or when the asker is one of its pending joins: the
   * asker restarted as a member (a node not yet a member says `joining`, not `rejoining`, and
   * does not take our answer as "replaced"), so its join completed and we have not heard yet.
   */
  private ringView(asker: NodeId): ReplicaResponse {
    const members = this.placement.ringMembers();
    const behind = !members.includes(asker) && this.placement.pendingJoins().includes(asker);
    return { op: 'ring-view', members, unconfirmed: !this.ringVouched || behind };
  }

  tick(nowMs: number): Ready<PeerMessage, KvReply, StorageWrite> {
    this.begin(nowMs);
    if (this.pendingJoin.length > 0) {
      this.absorbSwim(this.swim.join(this.pendingJoin, nowMs));
      this.pendingJoin = [];
    }
    this.absorbSwim(this.swim.tick(nowMs));
    this.absorbRpc(this.rpc.tick(nowMs));
    for (const op of [...this.ops]) {
      op.op.onTick(this.io(op));
      this.retire(op);
    }
    this.expireQueued();
    this.driveMembership();
    this.hints.tick(nowMs);
    if (nowMs >= this.nextAntiEntropyMs) {
      this.nextAntiEntropyMs = nowMs + this.config.antiEntropyIntervalMs;
      this.startAntiEntropy();
    }
    return this.end();
  }

  request(req: ClientRequest<KvRequest>, nowMs: number): Ready<PeerMessage, KvReply, StorageWrite> {
    this.begin(nowMs);
    if (!this.ready) {
      this.replies.push({
        requestId: req.requestId,
        body: kvError('NOT_READY', true, 'this node has not joined the cluster yet'),
      });
    } else if (this.ops.size >= this.config.maxInflightRequests) {
      this.replies.push({
        requestId: req.requestId,
        body: kvError('OVERLOADED', true, 'too many requests in flight'),
      });
    } else {
      this.requestRate.note(nowMs);
      this.startRequest(req.requestId, req.body);
    }
    return this.end();
  }

  /**
   * The transport lost its connection to `peer` (or could not reach it): attempts in flight to
   * it are retried or failed now instead of at their deadlines.
   */
  peerUnreachable(peer: NodeId, nowMs: number): Ready<PeerMessage, KvReply, StorageWrite> {
    this.begin(nowMs);
    this.absorbRpc(this.rpc.peerUnreachable(peer, nowMs));
    return this.end();
  }

  // ---- introspection (tests, metrics, the cluster view) ----------------------------------

  /** A snapshot for operators: membership, readiness, ring and work in progress. */
  status(): {
    id: NodeId;
    ready: boolean;
    status: MemberStatus | 'left';
    members: ReturnType<Swim['members']>;
    ringMembers: NodeId[];
    pendingJoins: NodeId[];
    pendingLeaves: NodeId[];
    handoff: { purpose: 'join' | 'leave'; rangesLeft: number; rangesTotal: number } | null;
    vnodesPerNode: number;
    inflightRequests: number;
    /** Client requests started per second, over the last ten seconds. */
    requestsPerSecond: number;
    /**
     * Records in this node's data table: its replicas' keys, tombstones not yet collected included
     * (null once the host has closed the store).
     */
    storedRecords: number | null;
    /** The circuit breaker of every peer this node has called (absent: never called, closed). */
    breakers: Record<NodeId, BreakerState>;
    counters: KvNode['counters'];
  } {
    return {
      id: this.id,
      ready: this.ready,
      status: this.hasLeft ? 'left' : this.memberStatus,
      members: this.swim.members(),
      ringMembers: this.placement.ringMembers(),
      pendingJoins: this.placement.pendingJoins(),
      pendingLeaves: this.placement.pendingLeaves(),
      handoff: this.handoff
        ? {
            purpose: this.handoff.purpose,
            rangesLeft: this.handoff.tasks.length,
            rangesTotal: this.handoff.total,
          }
        : null,
      vnodesPerNode: this.config.vnodesPerNode,
      inflightRequests: this.ops.size,
      requestsPerSecond: this.requestRate.perSecond(this.nowMs),
      storedRecords: this.storedRecords(),
      breakers: Object.fromEntries(this.rpc.breakerSnapshots(this.nowMs).map((b) => [b.peer, b.state])),
      counters: this.counters,
    };
  }

  private storedRecords(): number | null {
    try {
      return this.overlay.count('data');
    } catch {
      return null; // a host may report its status after it closed the store
    }
  }

  /** Whether this node serves client requests (it knows the ring). */
  isReady(): boolean {
    return this.ready;
  }

  members() {
    return this.swim.members();
  }

  /** The ring reads use, by this node's current view. */
  currentRing(): Ring {
    return this.placement.ring();
  }

  /** The N natural replicas of a key, by this node's current view. */
  replicasOf(key: Uint8Array): NodeId[] {
    return this.placement.replicas(identifierOf(key));
  }

  // ---- requests --------------------------------------------------------------------------

  private startRequest(requestId: number, req: KvRequest): void {
    const deadlineMs = this.nowMs + this.config.requestTimeoutMs;
    if (req.op === 'scan') {
      const op = keyspaceOperation(req, {
        ring: () => this.placement.ring(),
        replicaCount: this.config.replicaCount,
        readQuorum: this.config.readQuorum,
        isHealthy: (id) => this.isHealthy(id),
        self: this.id,
        deadlineMs,
        conflictMode: this.config.conflictMode,
      });
      this.launch({ requestId, op, deadlineMs, calls: new Set() });
      return;
    }
    const usesConsensus =
      req.consistency === 'linearizable' ||
      (req.op !== 'get' && req.op !== 'set' && req.op !== 'del') ||
      (req.op === 'set' &&
        (req.condition !== 'always' || req.returnPrevious === true || req.keepTtl === true));
    if (usesConsensus) {
      const transition = transitionFor(req, this.nowMs);
      this.enqueueConsensus({
        requestId,
        op: this.consensusOperation(req.key, transition, deadlineMs),
        serialKey: keySlot(req.key),
        consensus: { key: req.key, transition },
        deadlineMs,
        calls: new Set(),
      });
      return;
    }
    const level = req.consistency;
    // A ring with fewer members than N holds each key on every member: quorums shrink with it.
    const n = Math.max(1, Math.min(this.config.replicaCount, this.placement.ringMembers().length));
    if (req.op === 'get') {
      const required =
        level === 'one' || level === 'session' ? 1 : level === 'all' ? n : this.config.readQuorum;
      this.launch({
        requestId,
        deadlineMs,
        calls: new Set(),
        op: new QuorumRead({
          key: req.key,
          targets: this.placement.readTargets(identifierOf(req.key), (id) => this.isHealthy(id)),
          required: Math.min(required, n),
          deadlineMs,
          context: level === 'session' ? req.context : undefined,
          conflictMode: this.config.conflictMode,
          readRepairWindowMs: this.config.readRepairWindowMs,
          readRepair: true,
        }),
      });
      return;
    }
    // set (unconditional) and del at one / quorum / all / session
    let required = level === 'one' ? 1 : level === 'all' ? n : this.config.writeQuorum;
    if (this.bugs.has('write-quorum-one')) required = 1;
    const hlc = this.clock.now(this.nowMs);
    const vv = { ...req.context?.vv, [this.id]: hlc };
    const record: KvRecord =
      req.op === 'set'
        ? { value: req.value, expiresAtMs: req.expiresAtMs, hlc, writer: this.id, vv }
        : { value: null, expiresAtMs: 0, hlc, writer: this.id, vv };
    const plan = this.placement.writePlan(identifierOf(req.key), (id) => this.isHealthy(id), this.nowMs);
    this.launch({
      requestId,
      deadlineMs,
      calls: new Set(),
      op: new QuorumWrite({
        key: req.key,
        record,
        targets: plan.targets,
        spares: plan.spares,
        required: Math.min(required, n) + plan.extra,
        deadlineMs,
        success: { ok: true, applied: true, context: { vv } },
      }),
    });
  }

  private nextBallot(seen: Ballot | null): Ballot {
    let n = this.clock.now(this.nowMs);
    if (seen && seen.n >= n) n = this.clock.observe(seen.n, this.nowMs);
    if (this.lastBallot && this.lastBallot.n >= n) n = this.lastBallot.n + 1;
    this.lastBallot = { n, node: this.id };
    return this.lastBallot;
  }

  private consensusOperation(
    key: Uint8Array,
    transition: ConsensusInit['transition'],
    deadlineMs: number,
  ): ConsensusOperation {
    const keyId = identifierOf(key);
    return new ConsensusOperation({
      key,
      plan: () => ({ ...this.placement.consensusPlan(keyId, this.nowMs), ring: this.placement.version() }),
      deadlineMs,
      nextBallot: (seen) => this.nextBallot(seen),
      transition,
      backoffBaseMs: this.config.consensusBackoffBaseMs,
      backoffMaxMs: this.config.consensusBackoffMaxMs,
      readWithoutWriteBack: this.bugs.has('read-without-write-back'),
    });
  }

  /**
   * The next round on a key's queue: its first operation alone, or it and the ones queued behind
   * it (up to consensusBatchMax) as one batch whose transition runs theirs in queue order. The
   * batch takes effect at one accept, inside every member's wait (each was queued before the
   * round began and is answered after it), so the members stay linearizable in queue order.
   */
  private nextRound(queue: ClientOp[]): ClientOp | undefined {
    const first = queue.shift();
    if (first === undefined || first.consensus === undefined) return first;
    const members = [first];
    while (members.length < this.config.consensusBatchMax && queue[0]?.consensus !== undefined) {
      members.push(queue.shift() as ClientOp);
    }
    if (members.length === 1) return first;
    this.counters.consensusBatches++;
    this.counters.consensusBatchedOps += members.length;
    const deadlineMs = Math.min(...members.map((m) => m.deadlineMs));
    return {
      requestId: first.requestId,
      op: this.consensusOperation(
        first.consensus.key,
        batchTransition(members.map((m) => (m.consensus as NonNullable<ClientOp['consensus']>).transition)),
        deadlineMs,
      ),
      serialKey: first.serialKey,
      members: members.map((m) => m.requestId),
      deadlineMs,
      calls: new Set(),
    };
  }

  private enqueueConsensus(op: ClientOp): void {
    const key = op.serialKey as string;
    const queue = this.consensusQueues.get(key);
    if (queue) {
      queue.push(op);
      return;
    }
    this.consensusQueues.set(key, []);
    this.launch(op);
  }

  /** Operations still waiting for their key whose deadline passed end without having started. */
  private expireQueued(): void {
    for (const queue of this.consensusQueues.values()) {
      for (let i = queue.length - 1; i >= 0; i--) {
        if (queue[i].deadlineMs > this.nowMs) continue;
        const [op] = queue.splice(i, 1);
        this.replies.push({
          requestId: op.requestId,
          body: kvError(
            'TIMEOUT',
            true,
            'waited for earlier operations on this key until the deadline; nothing was done',
          ),
        });
      }
    }
  }

  private launch(op: ClientOp): void {
    this.ops.add(op);
    op.op.start(this.io(op));
    this.retire(op);
  }

  /** Forgets a finished operation and starts the next consensus operation on its key. */
  private retire(op: ClientOp): void {
    if (!op.op.finished || !this.ops.has(op)) return;
    this.ops.delete(op);
    for (const callId of op.calls) this.opByCall.delete(callId);
    if (op.serialKey === undefined) return;
    const queue = this.consensusQueues.get(op.serialKey) as ClientOp[];
    const next = this.nextRound(queue);
    if (next) this.launch(next);
    else this.consensusQueues.delete(op.serialKey);
  }

  private io(op: ClientOp): OperationIo {
    return {
      nowMs: this.nowMs,
      random: this.random,
      call: (to, req, options) => {
        const { callId, outbox } = this.rpc.call(to, req, this.nowMs, {
          maxAttempts: options?.maxAttempts,
          idempotent: true,
        });
        this.sendRpc(outbox);
        this.opByCall.set(callId, op);
        op.calls.add(callId);
        return callId;
      },
      cancel: (callId) => {
        this.rpc.cancel(callId);
        this.opByCall.delete(callId);
        op.calls.delete(callId);
      },
      reply: (body) => {
        if (op.members === undefined) {
          this.replies.push({ requestId: op.requestId, body });
          return;
        }
        // A batch: an error is every member's; success carries one reply per member.
        const each = body.ok ? body.batch : undefined;
        op.members.forEach((requestId, i) => {
          this.replies.push({ requestId, body: each === undefined ? body : each[i] });
        });
      },
    };
  }

  // ---- placement -------------------------------------------------------------------------

  /** Folds membership news into placement, persisting any change of the ring. */
  private onMembershipEvents(events: MembershipEvent[]): void {
    for (const e of events) {
      if (e.type === 'joined' || e.type === 'alive') this.rpc.peerSeenAlive(e.member.id, this.nowMs);
      this.observeMember(e.member);
    }
  }

  private observeMember(m: Member): void {
    const status = (m.meta.status as MemberStatus | undefined) ?? 'normal';
    this.observeView({ id: m.id, state: m.state, status, stateSinceMs: m.stateSinceMs });
  }

  /** Folds one member's view into placement (persisting a changed ring); may make the node ready. */
  private observeView(view: MemberView): void {
    if (view.id === this.id) return;
    if (this.bugs.has('stale-ring') && this.placement.ringMembers().length > 1) return;
    if (this.placement.observe(view, this.nowMs)) this.persistRing();
    // Gossip brings members one by one: a ring of the first few would put every key on them. A
    // node serves once a peer has told it the ring (onMembershipCheck).
    if (!this.placement.isEmpty() && this.membershipChecked) this.ready = true;
  }

  /** Advertises this node's ring view whenever it changes, and notes whether everyone shares it. */
  private syncRingView(): void {
    const version = this.placement.version();
    if (this.meta.ring !== version) {
      this.meta = { ...this.meta, ring: version };
      this.absorbSwim(this.swim.updateMeta(this.meta, this.nowMs));
    }
    // Right after a start SWIM knows nobody, and "every live member agrees" would hold vacuously:
    // previous rings would be dropped and a handoff completed on no evidence. Agreement counts
    // only once every ring member has been heard of since this start.
    this.heardOfEveryMember ||= this.placement
      .ringMembers()
      .every((id) => id === this.id || this.swim.member(id) !== undefined);
    this.placement.everyoneAgrees =
      this.heardOfEveryMember &&
      this.swim.members().every((m) => m.id === this.id || m.state !== 'alive' || m.meta.ring === version);
    // A node that trusted its disk knows its ring is current once every live member shares it.
    if (this.membershipChecked && this.memberStatus === 'normal' && this.placement.everyoneAgrees) {
      this.ringVouched = true;
    }
  }

  /** Whether SWIM has heard of every ring member since this start (see `syncRingView`). */
  private heardOfEveryMember = false;

  private persistRing(): void {
    this.overlay.put('meta', RING_MEMBERS_KEY, this.placement.ringMembers());
  }

  /**
   * Writes placement's memory of changes in progress whenever it moved, in the same batch as the
   * step that moved it: whatever this node sends under a view leaves only once the view would
   * survive a crash, so a restart never takes it back to a view it had already left.
   */
  private persistPlacementMemory(): void {
    if (this.placement.changes === this.persistedPlacementChanges) return;
    this.persistedPlacementChanges = this.placement.changes;
    this.overlay.put('meta', PLACEMENT_MEMORY_KEY, this.placement.memory());
  }

  private isHealthy(node: NodeId): boolean {
    if (node === this.id) return true;
    const member = this.swim.member(node);
    return (
      member !== undefined && member.state === 'alive' && this.rpc.breakerState(node, this.nowMs) !== 'open'
    );
  }

  // ---- membership changes: join, leave, replacement --------------------------------------

  /** Starts a graceful leave: hand every range to its next owners, then announce `left`. */
  leave(nowMs: number): Ready<PeerMessage, KvReply, StorageWrite> {
    this.begin(nowMs);
    if (this.memberStatus === 'normal') this.setStatus('leaving');
    return this.end();
  }

  /** Whether a graceful leave has finished (the host may stop the process). */
  get hasLeft(): boolean {
    return this.leftAtMs !== null;
  }

  private leftAtMs: number | null = null;

  private setStatus(status: MemberStatus): void {
    this.memberStatus = status;
    this.statusSinceMs = this.nowMs;
    this.meta = { ...this.meta, status };
    this.absorbSwim(this.swim.updateMeta(this.meta, this.nowMs));
    if (status === 'normal') {
      if (this.placement.add(this.id, this.nowMs)) this.persistRing();
    } else {
      this.placement.observe({ id: this.id, state: 'alive', status, stateSinceMs: this.nowMs }, this.nowMs);
    }
  }

  /**
   * Advances this node's part in membership changes, once per tick:
   * - restarted: ask a peer whether we are still on its ring; if so, back to `normal`;
   * - joining: once everyone has had time to hear it (the grace period), copy every future
   *   range from a current replica, then announce `normal`;
   * - leaving: after the grace period, hand every range to its future replicas, then leave;
   * - and, every second, let placement retire members dead for too long.
   */
  private driveMembership(): void {
    if (this.hasLeft) return;
    this.syncRingView();
    if (Number.isNaN(this.statusSinceMs)) this.statusSinceMs = this.nowMs;
    if (this.nowMs >= this.nextPlacementReviewMs) {
      this.nextPlacementReviewMs = this.nowMs + 1000;
      for (const m of this.swim.members()) if (m.state === 'dead') this.observeMember(m);
      // Ring members SWIM no longer lists: it forgets the dead after deadMemberRetentionMs,
      // which may come before deadMemberReplacementMs. They count as dead since placement first
      // saw them dead (or since now, if it never did: one that is alive is heard of again soon,
      // which clears it), so a member dead for good is still replaced.
      for (const id of this.placement.ringMembers()) {
        if (this.swim.member(id) !== undefined) continue;
        const since = this.placement.deadSinceMs(id) ?? this.nowMs;
        this.observeView({ id, state: 'dead', status: 'normal', stateSinceMs: since });
      }
    }
    if ((this.memberStatus === 'joining' || this.memberStatus === 'rejoining') && !this.membershipChecked) {
      // First ask whether we are a member already: a restart, or a join that completed but
      // whose record of it did not reach our disk before a crash.
      if (this.restarted || !this.placement.isEmpty()) this.checkMembership();
      return;
    }
    if (this.memberStatus === 'joining' && this.ready) {
      if (!this.handoff && this.nowMs - this.statusSinceMs >= this.config.transitionGraceMs) {
        this.placement.observe(
          { id: this.id, state: 'alive', status: 'joining', stateSinceMs: this.nowMs },
          this.nowMs,
        );
        this.handoff = this.planJoin();
      }
    }
    if (
      this.memberStatus === 'leaving' &&
      !this.handoff &&
      this.nowMs - this.statusSinceMs >= this.config.transitionGraceMs
    ) {
      this.handoff = this.planLeave();
    }
    if (this.handoff) this.advanceHandoff();
  }

  /** Is this node a ring member in a healthy peer's view? */
  private checkMembership(): void {
    if (this.membershipCheck) return;
    const peers = this.placement
      .ringMembers()
      .filter((id) => id !== this.id && this.isHealthy(id) && (this.unsurePeers.get(id) ?? 0) <= this.nowMs);
    if (peers.length === 0) {
      // Nobody left to ask who can vouch for its ring (a cluster restarting together). If one
      // that cannot still has us, and we have heard of every member, it agrees with our disk;
      // otherwise trust the disk after the grace period (time for SWIM to find the others).
      const agreed = this.listedByUnconfirmed && this.heardOfEveryMember;
      if (agreed || (this.restarted && this.nowMs - this.statusSinceMs >= this.config.transitionGraceMs)) {
        this.restarted = false;
        this.membershipChecked = true;
        this.ready = true;
        this.unsurePeers.clear();
        this.setStatus('normal');
      }
      return;
    }
    const peer = this.random.pick(peers);
    const { callId, outbox } = this.rpc.call(peer, { op: 'ring-view' }, this.nowMs, { idempotent: true });
    this.sendRpc(outbox);
    this.membershipCheck = { peer, callId };
  }

  private onMembershipCheck(response: ReplicaResponse | null): void {
    const asked = this.membershipCheck?.peer;
    this.membershipCheck = null;
    // A peer that cannot vouch for its ring may miss members that joined while it was down: a
    // restarted member does not take its absence from that ring as "replaced". It asks the
    // others first, and this one again after a while (it may vouch by then).
    if (response?.op === 'ring-view' && response.unconfirmed === true && asked !== undefined) {
      const listed = response.members.includes(this.id);
      if (this.restarted || listed) {
        this.listedByUnconfirmed ||= listed;
        this.unsurePeers.set(asked, this.nowMs + this.config.transitionGraceMs / 5);
        return;
      }
    }
    if (response?.op !== 'ring-view') return; // ask again on a later tick
    const wasMember = this.restarted;
    this.restarted = false;
    this.membershipChecked = true;
    this.ready = true;
    this.unsurePeers.clear();
    if (response.unconfirmed !== true) this.ringVouched = true;
    if (response.unconfirmed !== true || !wasMember) {
      // Members that joined while we were down are on a current ring (they may be restarting
      // themselves now, and ask us in turn); a new node knew only what gossip had brought so far.
      for (const id of response.members) {
        if (id !== this.id && this.placement.add(id, this.nowMs)) this.persistRing();
      }
    }
    // Members that left while we were down may be gone from gossip too: take the peer's word.
    for (const id of this.placement.ringMembers()) {
      const known = this.swim.member(id);
      if (
        id !== this.id &&
        !response.members.includes(id) &&
        (!known || known.state === 'left' || known.state === 'dead')
      ) {
        if (this.placement.remove(id, this.nowMs)) this.persistRing();
      }
    }
    if (response.members.includes(this.id)) {
      this.setStatus('normal');
      return;
    }
    // New, or replaced while down (the others re-replicated our ranges): join, copying first.
    if (this.placement.remove(this.id, this.nowMs)) this.persistRing();
    this.setStatus('joining');
  }

  /** The ranges this node will replicate once it has joined, each with a current replica to copy from. */
  private planJoin(): Handoff {
    const future = this.placement.ring().withMember(this.id);
    const tasks: SyncTask[] = [];
    for (const { range, replicas } of rangesOf(future, this.config.replicaCount)) {
      if (!replicas.includes(this.id)) continue;
      const sources = this.placement.replicas(range.endInclusive).filter((id) => id !== this.id);
      if (sources.length > 0) tasks.push({ range, peers: sources, rounds: 0 });
    }
    return { purpose: 'join', tasks, total: tasks.length, inflight: null, pass: 1 };
  }

  /** The ranges this node holds, each with every node that will hold it once this node is gone. */
  private planLeave(): Handoff {
    const ring = this.placement.ring();
    const future = ring.withoutMember(this.id);
    const tasks: SyncTask[] = [];
    for (const { range, replicas } of rangesOf(ring, this.config.replicaCount)) {
      if (!replicas.includes(this.id)) continue;
      const next =
        future.memberCount === 0 ? [] : future.preferenceList(range.endInclusive, this.config.replicaCount);
      // Every future replica, not only the new ones: a write acknowledged by this node alone
      // (level `one`) may be nowhere else yet.
      for (const heir of next) tasks.push({ range, peers: [heir], rounds: 0 });
    }
    return { purpose: 'leave', tasks, total: tasks.length, inflight: null, pass: 1 };
  }

  /**
   * One exchange at a time: compare Merkle trees of the task's range with its peer, merge what
   * the peer sent, push what it lacks, and repeat until the trees are equal. Then the next range.
   */
  private advanceHandoff(): void {
    const h = this.handoff as Handoff;
    if (h.inflight) return;
    const task = h.tasks[0];
    if (!task) {
      // Writers that had not yet heard of this change wrote to the old replicas alone. Once
      // every live member advertises the change, nobody does any more: one more pass then
      // catches what they wrote, and the change can complete.
      if (!this.placement.everyoneAgrees) return;
      if (h.pass === 1) {
        const again = h.purpose === 'join' ? this.planJoin() : this.planLeave();
        this.handoff = { ...again, pass: 2 };
        return;
      }
      this.handoff = null;
      if (h.purpose === 'join') this.setStatus('normal');
      else {
        this.absorbSwim(this.swim.leave(this.nowMs));
        if (this.placement.remove(this.id, this.nowMs)) this.persistRing();
        this.leftAtMs = this.nowMs;
      }
      return;
    }
    const peer = task.peers.find((id) => this.isHealthy(id));
    if (peer === undefined) return; // wait for a source or heir to be reachable
    const tree = buildTree(
      this.overlay,
      task.range,
      this.config.antiEntropyDepth,
      this.config.antiEntropyScanLimit,
    );
    const { callId, outbox } = this.rpc.call(
      peer,
      {
        op: 'ae-compare',
        range: task.range,
        depth: tree.depth,
        root: tree.root,
        leaves: tree.leaves,
        batch: this.config.handoffBatch,
      },
      this.nowMs,
      { idempotent: true },
    );
    this.sendRpc(outbox);
    h.inflight = { callId, peer, phase: 'compare' };
  }

  private onHandoffAnswer(response: ReplicaResponse | null): void {
    const h = this.handoff as Handoff;
    const inflight = h.inflight as NonNullable<Handoff['inflight']>;
    h.inflight = null;
    const task = h.tasks[0];
    if (!response || !task) return; // failed: the next tick tries again
    if (inflight.phase === 'push') return; // pushed: compare again
    if (response.op !== 'ae-compare') return;
    task.rounds++;
    for (const r of response.records) this.replica.mergeRecord(r.key, r.record);
    this.counters.handoffRecordsReceived += response.records.length;
    if (response.differing.length === 0 || task.rounds > 10_000) {
      h.tasks.shift();
      return;
    }
    const mine = recordsInSlices(
      this.overlay,
      task.range,
      this.config.antiEntropyDepth,
      response.differing,
      this.config.antiEntropyScanLimit,
      this.config.handoffBatch,
      sentBy(response.records),
    );
    if (mine.length === 0) return;
    this.counters.handoffRecordsSent += mine.length;
    const { callId, outbox } = this.rpc.call(inflight.peer, { op: 'ae-push', records: mine }, this.nowMs, {
      idempotent: true,
    });
    this.sendRpc(outbox);
    h.inflight = { callId, peer: inflight.peer, phase: 'push' };
  }

  // ---- anti-entropy ---------------------------------------------------------------------

  /** Every range of the read ring with its replicas, in ring order. */
  allRanges(): Array<{ range: RingRange; replicas: NodeId[] }> {
    return rangesOf(this.placement.ring(), this.config.replicaCount);
  }

  /** The ranges this node replicates, each with its replicas, in ring order. */
  replicatedRanges(): Array<{ range: RingRange; replicas: NodeId[] }> {
    return rangesOf(this.placement.ring(), this.config.replicaCount).filter((r) =>
      r.replicas.includes(this.id),
    );
  }

  /**
   * Compares the next range in turn with one of its other healthy replicas. Each round also
   * looks at a range this node does not replicate: records there (written while views of the
   * ring differed, or left from before a membership change) go to the range's replicas and, once
   * they all hold them, are dropped here.
   */
  private startAntiEntropy(): void {
    // Orphans move only outside membership changes, when this node's view is everyone's.
    if (this.orphanPushes.size === 0 && !this.placement.inTransition(this.nowMs)) this.handOffOrphans();
    if (this.antiEntropyCalls.size > 0) return; // one exchange at a time: the rate bound
    const ranges = this.replicatedRanges();
    if (ranges.length === 0) return;
    const { range, replicas } = ranges[this.antiEntropyCursor++ % ranges.length];
    this.collectGarbage(range);
    const peers = replicas.filter((r) => r !== this.id && this.isHealthy(r));
    if (peers.length === 0) return;
    const peer = this.random.pick(peers);
    const tree = buildTree(
      this.overlay,
      range,
      this.config.antiEntropyDepth,
      this.config.antiEntropyScanLimit,
    );
    const { callId, outbox } = this.rpc.call(
      peer,
      { op: 'ae-compare', range, depth: tree.depth, root: tree.root, leaves: tree.leaves },
      this.nowMs,
      { idempotent: true },
    );
    this.sendRpc(outbox);
    this.antiEntropyCalls.set(callId, { peer, range });
  }

  /** Drops tombstones and expired values of a range once their grace period is over. */
  private collectGarbage(range: RingRange): void {
    const horizonMs = this.nowMs - this.config.tombstoneGraceMs;
    for (const e of scanRange(this.overlay, range, this.config.antiEntropyScanLimit)) {
      const r = e.value;
      const deadSinceMs =
        r.value === null
          ? hlcPhysicalMs(r.hlc)
          : r.expiresAtMs !== 0
            ? r.expiresAtMs
            : Number.POSITIVE_INFINITY;
      if (deadSinceMs < horizonMs && !(r.siblings && r.siblings.length > 1)) {
        this.overlay.put('data', e.key, null);
        this.counters.tombstonesCollected++;
      }
    }
  }

  private orphanCursor = 0;
  private readonly orphanPushes = new Map<
    CallId,
    { records: KeyedRecord[]; pending: number; failed: boolean }
  >();

  private handOffOrphans(): void {
    if (!this.ready || this.placement.isEmpty()) return;
    const foreign = rangesOf(this.placement.ring(), this.config.replicaCount).filter(
      (r) => !r.replicas.includes(this.id),
    );
    if (foreign.length === 0) return;
    const { range, replicas } = foreign[this.orphanCursor++ % foreign.length];
    const found = scanRange(this.overlay, range, this.config.antiEntropyBatch);
    if (found.length === 0) return;
    if (!replicas.every((r) => this.isHealthy(r))) return; // try again when all can take them
    const records = found.map((e) => ({ key: splitDataKey(e.key).userKey.slice(), record: e.value }));
    const batch = { records, pending: replicas.length, failed: false };
    for (const r of replicas) {
      const { callId, outbox } = this.rpc.call(r, { op: 'ae-push', records }, this.nowMs, {
        idempotent: true,
      });
      this.sendRpc(outbox);
      this.orphanPushes.set(callId, batch);
    }
  }

  private onOrphanPushed(callId: CallId, ok: boolean): void {
    const batch = this.orphanPushes.get(callId);
    if (!batch) return;
    this.orphanPushes.delete(callId);
    batch.pending--;
    if (!ok) batch.failed = true;
    if (batch.pending > 0 || batch.failed) return;
    // Every replica holds them now: drop our copies unless they changed meanwhile.
    for (const { key, record } of batch.records) {
      const dk = dataKey(key);
      const now = this.overlay.get<KvRecord>('data', dk);
      if (now && now.hlc === record.hlc && now.writer === record.writer) this.overlay.put('data', dk, null);
    }
    this.counters.orphansHandedOff += batch.records.length;
  }

  /** The peer's records where we differ are merged here; ours go back to it. */
  private onAntiEntropyAnswer(callId: CallId, response: ReplicaResponse | null): void {
    const call = this.antiEntropyCalls.get(callId);
    if (!call) return;
    this.antiEntropyCalls.delete(callId);
    if (response?.op !== 'ae-compare') return;
    this.counters.antiEntropyRounds++;
    if (response.differing.length === 0) return;
    for (const r of response.records) this.replica.mergeRecord(r.key, r.record);
    this.counters.antiEntropyRecordsReceived += response.records.length;
    const mine = recordsInSlices(
      this.overlay,
      call.range,
      this.config.antiEntropyDepth,
      response.differing,
      this.config.antiEntropyScanLimit,
      this.config.antiEntropyBatch,
      sentBy(response.records),
    );
    if (mine.length === 0) return;
    this.counters.antiEntropyRecordsSent += mine.length;
    const { outbox } = this.rpc.call(call.peer, { op: 'ae-push', records: mine }, this.nowMs, {
      idempotent: true,
      maxAttempts: 1,
    });
    this.sendRpc(outbox);
  }

  // ---- plumbing --------------------------------------------------------------------------

  private begin(nowMs: number): void {
    this.nowMs = nowMs;
    this.outbox = [];
    this.replies = [];
  }

  private end(): Ready<PeerMessage, KvReply, StorageWrite> {
    this.deliverLocalMail();
    this.persistPlacementMemory();
    let writes = this.overlay.drain();
    if (this.bugs.has('drop-hints')) writes = writes.filter((w) => w.table !== 'hints');
    return { outbox: this.outbox, replies: this.replies, writes };
  }

  private absorbSwim(out: SwimOutput): void {
    for (const env of out.outbox) this.outbox.push({ to: env.to, msg: { type: 'swim', swim: env.msg } });
    if (out.events.length > 0) this.onMembershipEvents(out.events);
  }

  private sendRpc(outbox: Envelope<RpcMessage<ReplicaRequest, ReplicaResponse>>[]): void {
    for (const env of outbox) {
      if (env.to === this.id) this.localMail.push(env.msg);
      else this.outbox.push(env);
    }
  }

  /**
   * The coordinator is usually one of a key's replicas, and calls itself like any other replica
   * (one code path for counting acknowledgements, retries, dedup). Those calls never leave the
   * core: they are delivered here, before the call into the core returns, as over a link with no
   * latency — which is what the host did with them anyway, one event-loop turn later and at the
   * cost of two extra turns through the host per operation. Durability is unchanged: a reply
   * that counts this node's own write is released only after every write applied before it is
   * durable (the release-queue contract in src/core/types.ts).
   */
  private deliverLocalMail(): void {
    for (let i = 0; i < this.localMail.length; i++) {
      if (i >= MAX_LOCAL_DELIVERIES) {
        throw new Error(`more than ${MAX_LOCAL_DELIVERIES} messages to itself in one step: a call loop`);
      }
      this.receiveRpc(this.id, this.localMail[i]);
    }
    this.localMail = [];
  }

  private absorbRpc(out: {
    outbox: Envelope<RpcMessage<ReplicaRequest, ReplicaResponse>>[];
    completions: RpcCompletion<ReplicaResponse>[];
  }): void {
    this.sendRpc(out.outbox);
    for (const c of out.completions) {
      if (this.hints.owns(c.callId)) {
        this.hints.onAnswer(c.callId, c.ok, this.nowMs);
        continue;
      }
      if (this.antiEntropyCalls.has(c.callId)) {
        this.onAntiEntropyAnswer(c.callId, c.ok ? c.response : null);
        continue;
      }
      if (this.orphanPushes.has(c.callId)) {
        this.onOrphanPushed(c.callId, c.ok);
        continue;
      }
      if (this.handoff?.inflight?.callId === c.callId) {
        this.onHandoffAnswer(c.ok ? c.response : null);
        continue;
      }
      if (this.membershipCheck?.callId === c.callId) {
        this.onMembershipCheck(c.ok ? c.response : null);
        continue;
      }
      const op = this.opByCall.get(c.callId);
      if (!op) continue;
      this.opByCall.delete(c.callId);
      op.calls.delete(c.callId);
      const result: CallResult = c.ok ? { ok: true, response: c.response } : { ok: false, error: c.error };
      op.op.onResult(c.callId, c.to, result, this.io(op));
      this.retire(op);
    }
  }
}

/** One range to hand over, and who to exchange it with (the first healthy one). */
interface SyncTask {
  range: RingRange;
  peers: NodeId[];
  rounds: number;
}

interface Handoff {
  purpose: 'join' | 'leave';
  tasks: SyncTask[];
  total: number;
  inflight: { callId: CallId; peer: NodeId; phase: 'compare' | 'push' } | null;
  /** 1: the copy; 2: the catch-up once every live member has heard of the change. */
  pass: 1 | 2;
}

/**
 * Names the versions the peer just sent: after merging them, a record whose version equals one of
 * them needs no trip back. (Skipped before the batch limit applies, so a batch never fills up
 * with records the peer has and starves the ones it lacks.)
 */
function sentBy(theirs: KeyedRecord[]): ((key: Uint8Array, record: KvRecord) => boolean) | undefined {
  if (theirs.length === 0) return undefined;
  const version = (key: Uint8Array, r: KvRecord) => `${keySlot(key)}|${r.hlc}|${r.writer}`;
  const known = new Set(theirs.map((t) => version(t.key, t.record)));
  return (key, record) => known.has(version(key, record));
}

/** Every range of a ring — (predecessor, vnode] — with its N replicas. */
function rangesOf(ring: Ring, n: number): Array<{ range: RingRange; replicas: NodeId[] }> {
  const out: Array<{ range: RingRange; replicas: NodeId[] }> = [];
  const vnodes = ring.vnodes;
  for (let i = 0; i < vnodes.length; i++) {
    const v = vnodes[i];
    const pred = vnodes[(i - 1 + vnodes.length) % vnodes.length];
    out.push({
      range: { startExclusive: pred.id, endInclusive: v.id },
      replicas: ring.preferenceList(v.id, n),
    });
  }
  return out;
}
