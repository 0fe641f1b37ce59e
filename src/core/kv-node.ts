/**
 * A storage node of the replicated key-value store, as one deterministic state machine: SWIM
 * membership decides who is in the cluster, the ring built from the members decides where each
 * key lives, the RPC layer carries replica requests with retries and circuit breakers, and the
 * replication operations coordinate client requests at the level each asks for.
 *
 * The same class runs in the simulator and in a real node process; it never touches the world.
 */

import { HybridClock } from './hlc.js';
import { identifierOf } from './id.js';
import { localConfig, type SwimConfig } from './membership/config.js';
import { Swim } from './membership/swim.js';
import type { MembershipEvent, Meta, SwimMessage, SwimOutput } from './membership/types.js';
import { StepOverlay } from './overlay.js';
import { type ConflictMode, type KvRecord, splitDataKey } from './record.js';
import { buildTree, type RingRange, recordsInSlices } from './replication/anti-entropy.js';
import { ConsensusOperation } from './replication/consensus.js';
import {
  type Ballot,
  type KvReply,
  type KvRequest,
  kvError,
  type ReplicaRequest,
  type ReplicaResponse,
} from './replication/messages.js';
import type { CallResult, Operation, OperationIo } from './replication/operation.js';
import { QuorumRead, QuorumWrite, type Target } from './replication/quorum.js';
import { hintRange, Replica } from './replication/replica.js';
import { transitionFor } from './replication/transitions.js';
import { Ring } from './ring.js';
import type { RpcConfig } from './rpc/config.js';
import { RpcEndpoint } from './rpc/endpoint.js';
import type { CallId, RpcCompletion, RpcMessage } from './rpc/messages.js';
import type { StorageReader, StorageWrite } from './storage.js';
import type { ClientRequest, Envelope, NodeId, ProtocolNode, Random, Ready, Reply } from './types.js';

/** Everything a node says to another node. */
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
  maxInflightRequests: 10_000,
  antiEntropyIntervalMs: 1000,
  antiEntropyDepth: 6,
  antiEntropyBatch: 256,
  antiEntropyScanLimit: 200_000,
  swim: {},
  rpc: {},
};

/** Refuses a configuration whose quorums cannot work, with the reason. */
export function validateKvConfig(c: KvConfig): void {
  const fail = (why: string): never => {
    throw new RangeError(`invalid configuration: ${why}`);
  };
  if (!(Number.isInteger(c.replicaCount) && c.replicaCount >= 1)) fail('replicaCount must be an integer ≥ 1');
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
  /** When the client stops waiting; a queued operation that reaches it never starts. */
  deadlineMs: number;
  /** Calls still open, so a retired operation leaves nothing behind. */
  calls: Set<CallId>;
}

/** Where the ring membership is persisted in the `meta` table. */
const RING_MEMBERS_KEY = new TextEncoder().encode('ring-members');
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
  private ring: Ring;
  private ringStale = true;
  /**
   * The members that own ranges on the ring. Kept apart from SWIM's live view and persisted:
   * a member that is down still owns its ranges (its writes go to substitutes as hints), and a
   * node that restarts rebuilds the same ring from disk before it hears from anyone, so every
   * coordinator computes the same replicas for a key. Members leave the ring only by a graceful
   * leave.
   */
  private readonly ringMembers = new Set<NodeId>();
  /** A node that was told to join serves nothing until it knows the ring (NOT_READY). */
  private ready: boolean;
  private lastBallot: Ballot | null = null;

  private readonly ops = new Set<ClientOp>();
  private readonly opByCall = new Map<CallId, ClientOp>();
  private readonly consensusQueues = new Map<string, ClientOp[]>();
  private readonly hintDeliveries = new Map<CallId, { key: Uint8Array; record: KvRecord }>();
  private nextHintDeliveryMs = 0;
  private readonly antiEntropyCalls = new Map<CallId, { peer: NodeId; range: RingRange }>();
  private nextAntiEntropyMs = 0;
  private antiEntropyCursor = 0;
  /** Counters for metrics and tests. */
  readonly counters = {
    antiEntropyRounds: 0,
    antiEntropyRecordsReceived: 0,
    antiEntropyRecordsSent: 0,
    hintsDelivered: 0,
  };

  // Outputs gathered during one step.
  private outbox: Envelope<PeerMessage>[] = [];
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
    });
    // A restarted node comes back at a higher incarnation than any it used before, so its
    // "alive" overrides whatever suspicion or death the others recorded while it was down.
    const incarnation = (components.storage.get<number>('meta', INCARNATION_KEY) ?? -1) + 1;
    this.overlay.put('meta', INCARNATION_KEY, incarnation);
    this.swim = new Swim(
      { random: this.random.fork() },
      {
        self: { id: init.id, meta: { ...init.meta, vnodes: this.config.vnodesPerNode }, incarnation },
        config: { ...localConfig, ...this.config.swim },
      },
    );
    this.rpc = new RpcEndpoint(
      { random: this.random.fork() },
      { self: init.id, epoch: init.epoch, config: this.config.rpc },
    );
    const persisted = components.storage.get<NodeId[]>('meta', RING_MEMBERS_KEY) ?? [];
    for (const id of [init.id, ...persisted]) this.ringMembers.add(id);
    this.ring = Ring.fromMembers(this.ringMembers, this.config.vnodesPerNode);
    // Rejoin through whoever this node knew, or the seeds it was given.
    this.pendingJoin = [...new Set([...init.seeds, ...persisted])].filter((id) => id !== init.id);
    this.ready = this.pendingJoin.length === 0 || persisted.length > 1;
  }

  private pendingJoin: NodeId[];

  // ---- ProtocolNode ----------------------------------------------------------------------

  step(from: NodeId, msg: PeerMessage, nowMs: number): Ready<PeerMessage, KvReply, StorageWrite> {
    this.begin(nowMs);
    if (msg.type === 'swim') {
      this.absorbSwim(this.swim.step(from, msg.swim, nowMs));
    } else {
      const out = this.rpc.receive(from, msg, nowMs, (_from, req) => this.replica.handle(req));
      this.absorbRpc(out);
    }
    return this.end();
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
    if (nowMs >= this.nextHintDeliveryMs) {
      this.nextHintDeliveryMs = nowMs + this.config.hintDeliveryIntervalMs;
      this.deliverHints();
    }
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
    members: ReturnType<Swim['members']>;
    ringMembers: NodeId[];
    vnodesPerNode: number;
    inflightRequests: number;
    counters: KvNode['counters'];
  } {
    return {
      id: this.id,
      ready: this.ready,
      members: this.swim.members(),
      ringMembers: [...this.ringMembers].sort(),
      vnodesPerNode: this.config.vnodesPerNode,
      inflightRequests: this.ops.size,
      counters: this.counters,
    };
  }

  /** Whether this node serves client requests (it knows the ring). */
  isReady(): boolean {
    return this.ready;
  }

  members() {
    return this.swim.members();
  }

  currentRing(): Ring {
    this.refreshRing();
    return this.ring;
  }

  /** The N natural replicas of a key, by this node's current view. */
  replicasOf(key: Uint8Array): NodeId[] {
    this.refreshRing();
    return this.ring.preferenceList(identifierOf(key), this.config.replicaCount);
  }

  // ---- requests --------------------------------------------------------------------------

  private startRequest(requestId: number, req: KvRequest): void {
    const deadlineMs = this.nowMs + this.config.requestTimeoutMs;
    const usesConsensus =
      req.consistency === 'linearizable' ||
      req.op === 'incr' ||
      req.op === 'cas' ||
      (req.op === 'set' && (req.condition !== 'always' || req.returnPrevious === true));
    if (usesConsensus) {
      const op = new ConsensusOperation({
        key: req.key,
        replicas: this.replicasOf(req.key),
        deadlineMs,
        nextBallot: (seen) => this.nextBallot(seen),
        transition: transitionFor(req, this.nowMs),
        backoffBaseMs: this.config.consensusBackoffBaseMs,
        backoffMaxMs: this.config.consensusBackoffMaxMs,
        readWithoutWriteBack: this.bugs.has('read-without-write-back'),
      });
      this.enqueueConsensus({ requestId, op, serialKey: keySlot(req.key), deadlineMs, calls: new Set() });
      return;
    }
    const level = req.consistency;
    const n = this.config.replicaCount;
    if (req.op === 'get') {
      const required =
        level === 'one' || level === 'session' ? 1 : level === 'all' ? n : this.config.readQuorum;
      this.launch({
        requestId,
        deadlineMs,
        calls: new Set(),
        op: new QuorumRead({
          key: req.key,
          targets: this.targetsFor(req.key),
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
    this.launch({
      requestId,
      deadlineMs,
      calls: new Set(),
      op: new QuorumWrite({
        key: req.key,
        record,
        targets: this.targetsFor(req.key),
        required: Math.min(required, n),
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
    const next = queue.shift();
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
        this.replies.push({ requestId: op.requestId, body });
      },
    };
  }

  // ---- placement -------------------------------------------------------------------------

  private refreshRing(): void {
    if (!this.ringStale) return;
    if (this.bugs.has('stale-ring') && this.ring.memberCount > 1) return;
    this.ringStale = false;
    this.ring = Ring.fromMembers(this.ringMembers, this.config.vnodesPerNode);
  }

  /** Folds membership news into the ring membership, persisting any change. */
  private onMembershipEvents(events: MembershipEvent[]): void {
    let changed = false;
    for (const e of events) {
      if (e.type === 'joined' || e.type === 'alive') this.rpc.peerSeenAlive(e.member.id, this.nowMs);
      if ((e.type === 'joined' || e.type === 'alive') && !this.ringMembers.has(e.member.id)) {
        this.ringMembers.add(e.member.id);
        changed = true;
      } else if (e.type === 'left' && this.ringMembers.delete(e.member.id)) {
        changed = true;
      }
    }
    if (events.some((e) => e.type === 'joined' || e.type === 'alive')) this.ready = true;
    if (!changed) return;
    this.ringStale = true;
    this.overlay.put('meta', RING_MEMBERS_KEY, [...this.ringMembers].sort());
  }

  private isHealthy(node: NodeId): boolean {
    if (node === this.id) return true;
    const member = this.swim.member(node);
    return (
      member !== undefined && member.state === 'alive' && this.rpc.breakerState(node, this.nowMs) !== 'open'
    );
  }

  /**
   * The sloppy quorum for a key: its N natural replicas, with each unhealthy one replaced by the
   * next healthy node clockwise beyond them, which holds the write as a hint for it.
   */
  private targetsFor(key: Uint8Array): Target[] {
    this.refreshRing();
    const n = this.config.replicaCount;
    const walk = this.ring.preferenceList(identifierOf(key), this.ring.memberCount);
    const natural = walk.slice(0, n);
    const spares = walk.slice(n).filter((node) => this.isHealthy(node));
    const targets: Target[] = [];
    for (const node of natural) {
      if (this.isHealthy(node)) targets.push({ node });
      else {
        const spare = spares.shift();
        if (spare !== undefined) targets.push({ node: spare, hintFor: node });
      }
    }
    return targets;
  }

  // ---- hinted handoff --------------------------------------------------------------------

  /**
   * Sends held hints back to their intended replicas once those are healthy again: one batch per
   * target at a time, the next as soon as the previous one is answered.
   */
  private deliverHints(): void {
    if (this.hintDeliveries.size > 0) return; // one round at a time
    const targets = new Set<NodeId>();
    for (const m of this.swim.members()) if (m.id !== this.id && this.isHealthy(m.id)) targets.add(m.id);
    for (const target of targets) {
      const range = hintRange(target);
      const hints = this.overlay.scan<KvRecord>('hints', { ...range, limit: this.config.hintBatchSize });
      for (const h of hints) {
        const dk = h.key.subarray(range.start.length);
        const { userKey } = splitDataKey(dk);
        const key = userKey.slice();
        const { callId, outbox } = this.rpc.call(target, { op: 'write', key, record: h.value }, this.nowMs, {
          idempotent: true,
        });
        this.sendRpc(outbox);
        this.hintDeliveries.set(callId, { key: h.key, record: h.value });
      }
    }
  }

  private onHintDelivered(callId: CallId, ok: boolean): void {
    const d = this.hintDeliveries.get(callId);
    if (!d) return;
    this.hintDeliveries.delete(callId);
    // The round is over: start the next one at the next tick rather than after a whole interval.
    if (this.hintDeliveries.size === 0 && ok) this.nextHintDeliveryMs = this.nowMs;
    if (!ok) return;
    // Delete the hint only if no newer version arrived for it while it was on its way.
    const now = this.overlay.get<KvRecord>('hints', d.key);
    if (now && now.hlc === d.record.hlc && now.writer === d.record.writer) {
      this.overlay.put('hints', d.key, null);
      this.counters.hintsDelivered++;
    }
  }

  // ---- anti-entropy ---------------------------------------------------------------------

  /** The ranges this node replicates, each with its replicas, in ring order. */
  replicatedRanges(): Array<{ range: RingRange; replicas: NodeId[] }> {
    this.refreshRing();
    const out: Array<{ range: RingRange; replicas: NodeId[] }> = [];
    const vnodes = this.ring.vnodes;
    for (let i = 0; i < vnodes.length; i++) {
      const v = vnodes[i];
      const pred = vnodes[(i - 1 + vnodes.length) % vnodes.length];
      const replicas = this.ring.preferenceList(v.id, this.config.replicaCount);
      if (replicas.includes(this.id))
        out.push({ range: { startExclusive: pred.id, endInclusive: v.id }, replicas });
    }
    return out;
  }

  /** Compares the next range in turn with one of its other healthy replicas. */
  private startAntiEntropy(): void {
    if (this.antiEntropyCalls.size > 0) return; // one exchange at a time: the rate bound
    const ranges = this.replicatedRanges();
    if (ranges.length === 0) return;
    const { range, replicas } = ranges[this.antiEntropyCursor++ % ranges.length];
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
    let writes = this.overlay.drain();
    if (this.bugs.has('drop-hints')) writes = writes.filter((w) => w.table !== 'hints');
    return { outbox: this.outbox, replies: this.replies, writes };
  }

  private absorbSwim(out: SwimOutput): void {
    for (const env of out.outbox) this.outbox.push({ to: env.to, msg: { type: 'swim', swim: env.msg } });
    if (out.events.length > 0) this.onMembershipEvents(out.events);
  }

  private sendRpc(outbox: Envelope<RpcMessage<ReplicaRequest, ReplicaResponse>>[]): void {
    for (const env of outbox) this.outbox.push(env);
  }

  private absorbRpc(out: {
    outbox: Envelope<RpcMessage<ReplicaRequest, ReplicaResponse>>[];
    completions: RpcCompletion<ReplicaResponse>[];
  }): void {
    this.sendRpc(out.outbox);
    for (const c of out.completions) {
      if (this.hintDeliveries.has(c.callId)) {
        this.onHintDelivered(c.callId, c.ok);
        continue;
      }
      if (this.antiEntropyCalls.has(c.callId)) {
        this.onAntiEntropyAnswer(c.callId, c.ok ? c.response : null);
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
