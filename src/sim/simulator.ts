/**
 * The deterministic simulator: many protocol nodes in one process, virtual time, a seeded RNG
 * and a network that loses, duplicates, delays and reorders messages, partitions (symmetric or
 * one-way), crashes and restarts nodes (losing unflushed writes), pauses them and skews their
 * clocks. It drives the very `ProtocolNode` code the real runtime drives.
 *
 * Determinism: every random choice comes from one seeded generator, events at the same virtual
 * time run in insertion order, and nothing reads the wall clock. The same seed gives the same
 * trace, and `traceDigest()` proves it.
 */
import { SeededRandom } from '../core/random.js';
import type { ClientRequest, Envelope, NodeId, ProtocolNode, Random, Ready, Reply } from '../core/types.js';
import { TraceDigest } from './digest.js';
import { EventQueue } from './event-queue.js';
import { LogStorage, type SimStorage } from './storage.js';

export interface NetworkConfig {
  /** Every message takes at least this long. */
  latencyMinMs: number;
  /** Mean of the exponential delay added to the minimum (a long tail, as real networks have). */
  latencyJitterMeanMs: number;
  /** Probability that a message is lost. */
  packetLossProbability: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateProbability: number;
  /**
   * Probability that a message may overtake earlier ones on its link. Otherwise links are FIFO,
   * as a TCP connection is.
   */
  reorderProbability: number;
  /** Extra delay, uniform in [0, this], given to a reordered message. */
  reorderDelayMaxMs: number;
}

export const calmNetwork: NetworkConfig = {
  latencyMinMs: 1,
  latencyJitterMeanMs: 1,
  packetLossProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderDelayMaxMs: 20,
};

export interface SimConfig<W> {
  seed: number;
  /** How often each node's `tick` runs, in virtual ms. */
  tickIntervalMs: number;
  network: NetworkConfig;
  /** Time from applying writes to their being durable; outputs of that batch wait for it. */
  fsyncLatencyMs: number;
  /**
   * A deliberately wrong host that releases messages and replies before the writes they
   * acknowledge are durable. For showing that checkers catch it.
   */
  releaseBeforeFlush: boolean;
  /**
   * Added to every node's clock: virtual time starts at 0, but a node's wall clock should read
   * like a real one (protocols that stamp records with it must never see it go below zero, even
   * with a large negative skew).
   */
  clockOffsetMs: number;
  /** Keep the last N trace lines in memory (0: keep none; the digest is always computed). */
  traceLinesKept: number;
  createStorage: (id: NodeId) => SimStorage<W>;
}

export interface NodeContext<W> {
  random: Random;
  storage: SimStorage<W>;
  /** 1 at the first start, +1 at each restart. */
  incarnation: number;
}

/** Builds a node instance, at first start and again at every restart (from its storage). */
export type NodeFactory<M, Q, R, W, I> = (
  id: NodeId,
  ctx: NodeContext<W>,
  init: I,
) => ProtocolNode<M, Q, R, W>;

export type NodeStatus = 'up' | 'paused' | 'crashed' | 'removed';

interface SimNode<M, Q, R, W, I> {
  id: NodeId;
  init: I;
  instance: ProtocolNode<M, Q, R, W> | null;
  status: NodeStatus;
  incarnation: number;
  skewMs: number;
  storage: SimStorage<W>;
  /** Events that reached the node while it was paused, in arrival order. */
  held: SimEvent<M, Q>[];
  /** Outputs waiting for the next flush of this node's storage. */
  unreleased: Ready<M, R, W>[];
  flushScheduled: boolean;
}

type SimEvent<M, Q> =
  | { kind: 'deliver'; atMs: number; seq: number; from: NodeId; to: NodeId; msg: M }
  | { kind: 'tick'; atMs: number; seq: number; node: NodeId; incarnation: number }
  | { kind: 'request'; atMs: number; seq: number; node: NodeId; req: ClientRequest<Q> }
  | { kind: 'flush'; atMs: number; seq: number; node: NodeId; incarnation: number }
  | { kind: 'call'; atMs: number; seq: number; fn: () => void };

export interface SimStats {
  events: number;
  messagesSent: number;
  messagesDelivered: number;
  droppedByLoss: number;
  droppedByPartition: number;
  droppedAtDeadNode: number;
  duplicated: number;
  reordered: number;
  requests: number;
  replies: number;
}

export type ReplyHandler<R> = (reply: R, atMs: number) => void;

export class Simulator<M, Q = never, R = never, W = never, I = undefined> {
  readonly config: SimConfig<W>;
  /** The generator for everything the simulation itself decides. Workloads may fork it. */
  readonly random: SeededRandom;
  readonly stats: SimStats = {
    events: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    droppedByLoss: 0,
    droppedByPartition: 0,
    droppedAtDeadNode: 0,
    duplicated: 0,
    reordered: 0,
    requests: 0,
    replies: 0,
  };

  private readonly factory: NodeFactory<M, Q, R, W, I>;
  private readonly nodes = new Map<NodeId, SimNode<M, Q, R, W, I>>();
  private readonly queue = new EventQueue<SimEvent<M, Q>>();
  private readonly digest = new TraceDigest();
  private readonly traceLines: string[] = [];
  private readonly blocked = new Set<string>();
  private readonly lastArrivalOnLink = new Map<string, number>();
  private readonly replyHandlers = new Map<number, ReplyHandler<R>>();
  private nowMs = 0;
  private nextRequestId = 1;

  constructor(factory: NodeFactory<M, Q, R, W, I>, config: Partial<SimConfig<W>> & { seed: number }) {
    this.factory = factory;
    this.config = {
      tickIntervalMs: 10,
      fsyncLatencyMs: 1,
      releaseBeforeFlush: false,
      clockOffsetMs: 0,
      traceLinesKept: 0,
      createStorage: () => new LogStorage<W>(),
      ...config,
      network: { ...calmNetwork, ...config.network },
    };
    this.random = new SeededRandom(config.seed);
  }

  /** Current virtual time in ms. */
  now(): number {
    return this.nowMs;
  }

  // ---- topology -------------------------------------------------------------------------

  /** Adds and starts a node; its ticks begin at a random phase so nodes do not move in step. */
  addNode(id: NodeId, init: I): ProtocolNode<M, Q, R, W> {
    if (this.nodes.has(id) && this.nodes.get(id)?.status !== 'removed') {
      throw new Error(`node ${id} already exists`);
    }
    const node: SimNode<M, Q, R, W, I> = {
      id,
      init,
      instance: null,
      status: 'crashed',
      incarnation: 0,
      skewMs: 0,
      storage: this.config.createStorage(id),
      held: [],
      unreleased: [],
      flushScheduled: false,
    };
    this.nodes.set(id, node);
    this.start(node);
    this.record(`add ${id}`);
    return node.instance as ProtocolNode<M, Q, R, W>;
  }

  /** The live instance of a node (to inspect its state), or undefined when it is down. */
  node(id: NodeId): ProtocolNode<M, Q, R, W> | undefined {
    return this.nodes.get(id)?.instance ?? undefined;
  }

  status(id: NodeId): NodeStatus | undefined {
    return this.nodes.get(id)?.status;
  }

  /** Ids of nodes that are up or paused (not crashed, not removed), in insertion order. */
  liveNodeIds(): NodeId[] {
    return [...this.nodes.values()]
      .filter((n) => n.status === 'up' || n.status === 'paused')
      .map((n) => n.id);
  }

  allNodeIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.status !== 'removed').map((n) => n.id);
  }

  storageOf(id: NodeId): SimStorage<W> | undefined {
    return this.nodes.get(id)?.storage;
  }

  /** Kills a node: its memory and unflushed writes are gone; messages to it are dropped. */
  crash(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status === 'crashed' || node.status === 'removed') return;
    node.status = 'crashed';
    node.instance = null;
    node.held = [];
    node.unreleased = [];
    node.flushScheduled = false;
    node.storage.crash();
    this.record(`crash ${id}`);
  }

  /** Starts a crashed node again from what its storage kept. */
  restart(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'crashed') return;
    this.start(node);
    this.record(`restart ${id} #${node.incarnation}`);
  }

  /** Removes a node for good (after a graceful leave, say). */
  remove(id: NodeId): void {
    const node = this.mustGet(id);
    this.crash(id);
    node.status = 'removed';
    this.record(`remove ${id}`);
  }

  /** A process pause (GC, SIGSTOP): the node neither ticks nor handles anything until resumed. */
  pause(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'up') return;
    node.status = 'paused';
    this.record(`pause ${id}`);
  }

  /** Resumes a paused node, which then handles what arrived meanwhile, in order. */
  resume(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'paused') return;
    node.status = 'up';
    this.record(`resume ${id}`);
    const held = node.held;
    node.held = [];
    for (const e of held) this.queue.push({ ...e, atMs: this.nowMs });
  }

  /** The node's clock reads virtual time + skew (which may be negative). */
  setClockSkew(id: NodeId, skewMs: number): void {
    this.mustGet(id).skewMs = skewMs;
    this.record(`skew ${id} ${skewMs}`);
  }

  // ---- network faults -------------------------------------------------------------------

  /** Nodes in different groups cannot reach each other, both ways. Nodes in no group are unaffected. */
  partition(groups: NodeId[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]) for (const b of groups[j]) this.blocked.add(linkKey(a, b));
      }
    }
    this.record(`partition ${groups.map((g) => g.join(',')).join('|')}`);
  }

  /** Messages from `from` to `to` are lost; the other direction still works. */
  blockLink(from: NodeId, to: NodeId): void {
    this.blocked.add(linkKey(from, to));
    this.record(`block ${from}>${to}`);
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(linkKey(from, to));
  }

  /** Removes every partition and blocked link. */
  heal(): void {
    this.blocked.clear();
    this.record('heal');
  }

  setNetwork(change: Partial<NetworkConfig>): void {
    Object.assign(this.config.network, change);
    this.record(`network ${JSON.stringify(change)}`);
  }

  // ---- clients and scheduling ------------------------------------------------------------

  /**
   * A client sends `body` to node `nodeId`. The reply, if any ever comes, goes to `onReply`.
   * Clients sit outside the partitions; a crashed node never answers, so a client that needs an
   * answer sets its own deadline with `after`.
   */
  request(nodeId: NodeId, body: Q, onReply?: ReplyHandler<R>): number {
    const requestId = this.nextRequestId++;
    if (onReply) this.replyHandlers.set(requestId, onReply);
    this.queue.push({
      kind: 'request',
      atMs: this.nowMs + this.latency(),
      node: nodeId,
      req: { requestId, body },
    });
    this.stats.requests++;
    return requestId;
  }

  /** Forgets the reply handler of a request the client gave up on. */
  abandon(requestId: number): void {
    this.replyHandlers.delete(requestId);
  }

  /**
   * An operator's command to a node (join, leave, …): `command` runs against the live instance
   * now, and its Ready is handled like any other. Ignored when the node is not up.
   */
  invoke(id: NodeId, command: (node: ProtocolNode<M, Q, R, W>, nowMs: number) => Ready<M, R, W>): void {
    const node = this.nodes.get(id);
    if (node?.status !== 'up' || !node.instance) return;
    this.record(`invoke ${id}`);
    this.handleReady(node, command(node.instance, this.localTime(node)));
  }

  /** Runs `fn` at virtual time `atMs` (fault plans and workloads use this). */
  at(atMs: number, fn: () => void): void {
    this.queue.push({ kind: 'call', atMs: Math.max(atMs, this.nowMs), fn });
  }

  after(delayMs: number, fn: () => void): void {
    this.at(this.nowMs + delayMs, fn);
  }

  // ---- running ---------------------------------------------------------------------------

  /** Runs every event up to `nowMs + durationMs`, then sets the clock there. */
  runFor(durationMs: number): void {
    const end = this.nowMs + durationMs;
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.atMs > end) break;
      this.runOne();
    }
    this.nowMs = end;
  }

  /**
   * Runs until `done()` holds (checked whenever virtual time has moved on by `checkEveryMs`) or
   * `maxMs` of virtual time have passed. Returns whether `done()` held.
   */
  runUntil(done: () => boolean, maxMs: number, checkEveryMs = 10): boolean {
    const end = this.nowMs + maxMs;
    let nextCheck = this.nowMs;
    for (;;) {
      if (this.nowMs >= nextCheck) {
        if (done()) return true;
        nextCheck = this.nowMs + checkEveryMs;
      }
      const next = this.queue.peek();
      if (!next || next.atMs > end) break;
      this.runOne();
    }
    this.nowMs = end;
    return done();
  }

  /** The digest of everything that happened so far: equal seeds give equal digests. */
  traceDigest(): string {
    return this.digest.hex();
  }

  /** The last `traceLinesKept` trace lines (for finding where two runs diverge). */
  trace(): readonly string[] {
    return this.traceLines;
  }

  // ---- internals -------------------------------------------------------------------------

  private runOne(): void {
    const e = this.queue.pop() as SimEvent<M, Q>;
    this.nowMs = e.atMs;
    this.stats.events++;
    switch (e.kind) {
      case 'call':
        e.fn();
        return;
      case 'tick':
        this.onTick(e);
        return;
      case 'deliver':
        this.onDeliver(e);
        return;
      case 'request':
        this.onRequest(e);
        return;
      case 'flush':
        this.onFlush(e);
        return;
    }
  }

  private start(node: SimNode<M, Q, R, W, I>): void {
    node.incarnation++;
    node.status = 'up';
    node.instance = this.factory(
      node.id,
      { random: this.random.fork(), storage: node.storage, incarnation: node.incarnation },
      node.init,
    );
    const phase = this.random.next() * this.config.tickIntervalMs;
    this.queue.push({ kind: 'tick', atMs: this.nowMs + phase, node: node.id, incarnation: node.incarnation });
  }

  private localTime(node: SimNode<M, Q, R, W, I>): number {
    return this.config.clockOffsetMs + this.nowMs + node.skewMs;
  }

  private onTick(e: Extract<SimEvent<M, Q>, { kind: 'tick' }>): void {
    const node = this.nodes.get(e.node);
    if (
      !node ||
      node.incarnation !== e.incarnation ||
      node.status === 'crashed' ||
      node.status === 'removed'
    ) {
      return; // the tick chain of a dead incarnation ends here
    }
    this.queue.push({ ...e, atMs: this.nowMs + this.config.tickIntervalMs });
    if (node.status === 'paused') return;
    const ready = (node.instance as ProtocolNode<M, Q, R, W>).tick(this.localTime(node));
    this.handleReady(node, ready);
  }

  private onDeliver(e: Extract<SimEvent<M, Q>, { kind: 'deliver' }>): void {
    const node = this.nodes.get(e.to);
    if (this.blocked.has(linkKey(e.from, e.to))) {
      this.stats.droppedByPartition++;
      this.record(`x ${e.from}>${e.to} ${describe(e.msg)} partition`);
      return;
    }
    if (!node || node.status === 'crashed' || node.status === 'removed') {
      this.stats.droppedAtDeadNode++;
      this.record(`x ${e.from}>${e.to} ${describe(e.msg)} dead`);
      return;
    }
    if (node.status === 'paused') {
      node.held.push(e);
      return;
    }
    this.stats.messagesDelivered++;
    this.record(`d ${e.from}>${e.to} ${describe(e.msg)}`);
    const ready = (node.instance as ProtocolNode<M, Q, R, W>).step(e.from, e.msg, this.localTime(node));
    this.handleReady(node, ready);
  }

  private onRequest(e: Extract<SimEvent<M, Q>, { kind: 'request' }>): void {
    const node = this.nodes.get(e.node);
    if (!node || node.status === 'crashed' || node.status === 'removed') {
      this.record(`q ${e.node} #${e.req.requestId} dead`);
      return;
    }
    if (node.status === 'paused') {
      node.held.push(e);
      return;
    }
    this.record(`q ${e.node} #${e.req.requestId} ${describe(e.req.body)}`);
    const ready = (node.instance as ProtocolNode<M, Q, R, W>).request(e.req, this.localTime(node));
    this.handleReady(node, ready);
  }

  private onFlush(e: Extract<SimEvent<M, Q>, { kind: 'flush' }>): void {
    const node = this.nodes.get(e.node);
    if (
      !node ||
      node.incarnation !== e.incarnation ||
      node.status === 'crashed' ||
      node.status === 'removed'
    ) {
      return;
    }
    // A paused process does not run its I/O completions either; try again after it resumes.
    if (node.status === 'paused') {
      this.queue.push({ ...e, atMs: this.nowMs + this.config.tickIntervalMs });
      return;
    }
    node.flushScheduled = false;
    node.storage.flush();
    const batches = node.unreleased;
    node.unreleased = [];
    for (const b of batches) this.release(node, b);
  }

  /**
   * The host's half of the Ready contract: writes are applied at once but the batch's messages
   * and replies wait until the writes are durable, and so does every later batch of the node,
   * because a later reply may reveal state that is not durable yet.
   */
  private handleReady(node: SimNode<M, Q, R, W, I>, ready: Ready<M, R, W>): void {
    if (ready.writes.length > 0) node.storage.apply(ready.writes);
    const mustWait = !this.config.releaseBeforeFlush && (ready.writes.length > 0 || node.flushScheduled);
    if (!mustWait) {
      if (ready.writes.length > 0) this.scheduleFlush(node);
      this.release(node, ready);
      return;
    }
    node.unreleased.push(ready);
    this.scheduleFlush(node);
  }

  private scheduleFlush(node: SimNode<M, Q, R, W, I>): void {
    if (node.flushScheduled) return;
    node.flushScheduled = true;
    this.queue.push({
      kind: 'flush',
      atMs: this.nowMs + this.config.fsyncLatencyMs,
      node: node.id,
      incarnation: node.incarnation,
    });
  }

  private release(node: SimNode<M, Q, R, W, I>, ready: Ready<M, R, W>): void {
    for (const env of ready.outbox) this.send(node.id, env);
    for (const reply of ready.replies) this.deliverReply(node.id, reply);
  }

  private deliverReply(from: NodeId, reply: Reply<R>): void {
    const handler = this.replyHandlers.get(reply.requestId);
    this.stats.replies++;
    this.record(`r ${from} #${reply.requestId} ${describe(reply.body)}`);
    if (!handler) return;
    this.replyHandlers.delete(reply.requestId);
    const atMs = this.nowMs + this.latency();
    this.queue.push({ kind: 'call', atMs, fn: () => handler(reply.body, atMs) });
  }

  private send(from: NodeId, env: Envelope<M>): void {
    const net = this.config.network;
    this.stats.messagesSent++;
    const key = linkKey(from, env.to);
    if (this.blocked.has(key)) {
      this.stats.droppedByPartition++;
      return;
    }
    if (net.packetLossProbability > 0 && this.random.next() < net.packetLossProbability) {
      this.stats.droppedByLoss++;
      this.record(`x ${from}>${env.to} ${describe(env.msg)} loss`);
      return;
    }
    const copies = net.duplicateProbability > 0 && this.random.next() < net.duplicateProbability ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      let atMs = this.nowMs + this.latency();
      if (net.reorderProbability > 0 && this.random.next() < net.reorderProbability) {
        atMs += this.random.next() * net.reorderDelayMaxMs;
        this.stats.reordered++;
      } else {
        // FIFO on the link unless this message was chosen to overtake.
        atMs = Math.max(atMs, this.lastArrivalOnLink.get(key) ?? 0);
        this.lastArrivalOnLink.set(key, atMs);
      }
      this.queue.push({ kind: 'deliver', atMs, from, to: env.to, msg: env.msg });
    }
  }

  private latency(): number {
    const net = this.config.network;
    return (
      net.latencyMinMs + (net.latencyJitterMeanMs > 0 ? this.random.exponential(net.latencyJitterMeanMs) : 0)
    );
  }

  private record(line: string): void {
    const full = `${this.nowMs.toFixed(3)} ${line}`;
    this.digest.add(full);
    if (this.config.traceLinesKept > 0) {
      this.traceLines.push(full);
      if (this.traceLines.length > this.config.traceLinesKept) this.traceLines.shift();
    }
  }

  private mustGet(id: NodeId): SimNode<M, Q, R, W, I> {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id} in the simulation`);
    return node;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

/** A short description of a message for the trace: its `type` field, or its JSON. */
function describe(value: unknown): string {
  if (value !== null && typeof value === 'object' && 'type' in value) {
    return String((value as { type: unknown }).type);
  }
  return JSON.stringify(value) ?? 'undefined';
}
