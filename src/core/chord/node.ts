/**
 * Chord (Stoica, Morris, Karger, Kaashoek, Balakrishnan, SIGCOMM 2001) as a pure state machine.
 *
 * One `ChordNode` is one physical node hosting V virtual ring members ("vnodes"). Each ring member
 * has what the paper gives a node: an identifier, a predecessor, a successor list of r entries
 * (the first is the successor) and a finger table, finger[i] = successor(n + 2^i) for
 * i = 0 … ID_BITS − 1. Nodes share nothing: everything one learns about another comes in a
 * message. Messages between two ring members of the same physical node are handled in the same
 * step, without the network.
 *
 * The paper's pseudo-code maps to methods of the same name:
 *   Figure 5  n.find_successor(id), n.closest_preceding_node(id)  → findSuccessor, closestPrecedingNode
 *   Figure 6  n.join(n'), n.stabilize(), n.notify(n'), n.fix_fingers(), n.check_predecessor()
 *             → join, stabilize, notify, fixFingers, checkPredecessor
 *   “Failures and Replication”: successor lists; the next live entry replaces a failed successor
 *   “Voluntary Node Departures”: leave, as an optimisation of failure
 *
 * Lookups are recursive: each hop forwards the query to closest_preceding_node(key) and the ring
 * member that finds key ∈ (n, successor] answers the origin directly. Each forward must be
 * acknowledged by the next hop within rpcTimeoutMs; if it is not, the next hop counts as failed
 * and the forwarding member routes the query through its next best candidate.
 *
 * Time is the `nowMs` argument; every wait is a deadline stored in a pending-request table and
 * expired by `tick`. Randomness (only the phases of the periodic timers) comes from `random`.
 */
import {
  addId,
  distance,
  ID_BITS,
  identifierOf,
  inHalfOpen,
  inOpen,
  RING_SIZE,
  vnodeIdentifier,
} from '../id.js';
import type { Ring } from '../ring.js';
import {
  assert,
  type ClientRequest,
  emptyReady,
  type NodeId,
  type ProtocolNode,
  type Random,
  type Ready,
} from '../types.js';
import { type ChordConfig, chordConfig } from './config.js';
import { LocationCache } from './location-cache.js';
import type {
  Address,
  ChordMessage,
  ChordMessageType,
  ChordReply,
  ChordRequest,
  LookupError,
  Query,
} from './messages.js';

/** How many recent contacts a node keeps as ways back into the ring. */
const MAX_CONTACTS = 8;

/** finger[i].start = (n + 2^i) mod 2^m (Table 1 of the paper). */
export function fingerStart(id: number, i: number): number {
  return addId(id, 2 ** i);
}

/** What tests and tools may see of one ring member. */
export interface VNodeView {
  readonly self: Address;
  readonly joined: boolean;
  readonly predecessor: Address | null;
  /** successorList[0], or null while joining. */
  readonly successor: Address | null;
  readonly successorList: readonly Address[];
  readonly fingers: readonly (Address | null)[];
}

/** One ring member's state: the paper's per-node variables plus its timers. */
class VNode implements VNodeView {
  readonly self: Address;
  joined = false;
  predecessor: Address | null = null;
  /** successorList[0] is the successor; never empty once joined. */
  successorList: Address[] = [];
  readonly fingers: (Address | null)[] = new Array<Address | null>(ID_BITS).fill(null);
  /** fix_fingers' `next`: the finger to refresh in the next round. */
  nextFingerIndex = 0;
  nextStabilizeMs = 0;
  nextFixFingersMs = 0;
  nextCheckPredecessorMs = 0;
  nextJoinAttemptMs = 0;
  joinAttempts = 0;
  /** Ids of the outstanding request of each kind; one at a time. */
  stabilizeRpc: number | null = null;
  pingRpc: number | null = null;
  fingerQuery: number | null = null;
  joinQuery: number | null = null;
  seekQuery: number | null = null;
  seekAttempts = 0;

  constructor(self: Address) {
    this.self = self;
  }

  get id(): number {
    return this.self.id;
  }

  get successor(): Address | null {
    return this.successorList.length > 0 ? this.successorList[0] : null;
  }
}

/** An outstanding request to one peer, with its deadline. */
interface PendingRpc {
  kind: 'stabilize' | 'ping';
  vnodeId: number;
  peer: Address;
  deadlineMs: number;
}

/** A query this physical node started and waits to hear the answer of. */
type PendingQuery = { deadlineMs: number; keyId: number } & (
  | { purpose: 'lookup'; requestId: number }
  | { purpose: 'finger'; vnodeId: number; fingerIndex: number }
  | { purpose: 'join'; vnodeId: number }
  | { purpose: 'seek'; vnodeId: number }
);

/** A query this node forwarded and waits for the next hop to acknowledge. */
interface PendingForward {
  vnodeId: number;
  next: Address;
  /** The query as it was before this forward. */
  query: Query;
  attempt: number;
  deadlineMs: number;
}

export interface ChordComponents {
  random: Random;
}

export interface ChordInit {
  /** V: how many ring members this physical node hosts. */
  vnodes: number;
  /** Nodes to join through, tried in turn. Empty: this node creates a new ring. */
  bootstrap: readonly NodeId[];
  config?: Partial<ChordConfig>;
  /**
   * Start as a member of this ring with the state stabilization would have converged to
   * (correct predecessor, successor list and fingers) instead of joining. For experiments with
   * rings too large to build by joining; every later change still goes through the protocol.
   */
  stableRing?: Ring;
}

type Handlers = { [K in ChordMessageType]: (from: NodeId, msg: Extract<ChordMessage, { type: K }>) => void };

export class ChordNode implements ProtocolNode<ChordMessage, ChordRequest, ChordReply> {
  readonly id: NodeId;
  readonly config: ChordConfig;
  private readonly random: Random;
  private readonly bootstrap: readonly NodeId[];
  /** This node's ring members, sorted by identifier. */
  private readonly members: VNode[];
  private readonly memberById = new Map<number, VNode>();
  private readonly cache: LocationCache;
  private readonly rpcs = new Map<number, PendingRpc>();
  private readonly queries = new Map<number, PendingQuery>();
  private readonly forwards = new Map<number, PendingForward>();
  /** The last few distinct physical nodes heard from: ways back into the ring (see seekRing). */
  private readonly contacts: NodeId[] = [];
  /** Physical nodes that timed out or left, until when they count as gone. */
  private readonly failedUntilMs = new Map<NodeId, number>();
  private nextSerial = 1;
  private started = false;
  private left = false;
  private readonly initialRing: Ring | undefined;

  // The batch being built by the current step/tick/request, and messages between local members.
  private nowMs = 0;
  private batch: Ready<ChordMessage, ChordReply> = emptyReady();
  private readonly local: ChordMessage[] = [];

  constructor(id: NodeId, components: ChordComponents, init: ChordInit) {
    assert(Number.isInteger(init.vnodes) && init.vnodes >= 1, 'a Chord node hosts at least one ring member');
    this.id = id;
    this.random = components.random;
    this.config = chordConfig(init.config);
    this.bootstrap = init.bootstrap.filter((b) => b !== id);
    this.cache = new LocationCache(this.config.locationCacheEntries);
    this.initialRing = init.stableRing;
    this.members = [];
    for (let index = 0; index < init.vnodes; index++) {
      const member = new VNode({ node: id, id: vnodeIdentifier(id, index) });
      this.members.push(member);
      this.memberById.set(member.id, member);
    }
    this.members.sort((a, b) => a.id - b.id);
    assert(this.memberById.size === init.vnodes, `two ring members of ${id} hash to the same identifier`);
  }

  // ---- what tests and tools may look at -------------------------------------------------

  /** This node's ring members, sorted by identifier. Read-only views of live state. */
  vnodes(): readonly VNodeView[] {
    return this.members;
  }

  /** Whether every ring member of this node has joined. */
  get joined(): boolean {
    return this.members.every((m) => m.joined);
  }

  get hasLeft(): boolean {
    return this.left;
  }

  /** Entries in the location cache. */
  get cachedRanges(): number {
    return this.cache.size;
  }

  /** The owner the location cache remembers for `keyId`, if any. */
  cachedOwner(keyId: number): Address | undefined {
    return this.cache.peek(keyId);
  }

  // ---- the ProtocolNode interface -------------------------------------------------------

  step(from: NodeId, msg: ChordMessage, nowMs: number): Ready<ChordMessage, ChordReply> {
    return this.run(nowMs, () => this.handle(from, msg));
  }

  tick(nowMs: number): Ready<ChordMessage, ChordReply> {
    return this.run(nowMs, () => this.onTick());
  }

  request(req: ClientRequest<ChordRequest>, nowMs: number): Ready<ChordMessage, ChordReply> {
    return this.run(nowMs, () => this.onRequest(req.requestId, req.body));
  }

  private run(nowMs: number, work: () => void): Ready<ChordMessage, ChordReply> {
    this.nowMs = nowMs;
    this.batch = emptyReady();
    if (this.left) return this.batch;
    if (!this.started) this.start();
    work();
    // Messages between this node's own ring members are handled now, in order.
    for (let i = 0; i < this.local.length; i++) {
      assert(i < 1_000_000, 'local messages must die out: each hop brings a query closer to its key');
      this.handle(this.id, this.local[i]);
    }
    this.local.length = 0;
    return this.batch;
  }

  private send(to: NodeId, msg: ChordMessage): void {
    if (to === this.id) this.local.push(msg);
    else this.batch.outbox.push({ to, msg });
  }

  /** Timers start at random phases, so the ring's members do not all stabilize at once. */
  private start(): void {
    this.started = true;
    const c = this.config;
    for (const m of this.members) {
      m.nextStabilizeMs = this.nowMs + this.random.next() * c.stabilizeIntervalMs;
      m.nextFixFingersMs = this.nowMs + this.random.next() * c.fixFingersIntervalMs;
      m.nextCheckPredecessorMs = this.nowMs + this.random.next() * c.checkPredecessorIntervalMs;
      m.nextJoinAttemptMs = this.nowMs;
    }
    if (this.initialRing) this.adoptStableRing(this.initialRing);
    else if (this.bootstrap.length === 0) this.create();
  }

  /**
   * n.create() (Figure 6): a new ring. With V members the ring is this node's members in
   * identifier order, which is what V joins and stabilization would converge to.
   */
  private create(): void {
    const all = this.members;
    all.forEach((m, i) => {
      m.joined = true;
      m.predecessor = all[(i - 1 + all.length) % all.length].self;
      m.successorList = [];
      for (let k = 1; k <= Math.min(this.config.successorListLength, all.length - 1); k++) {
        m.successorList.push(all[(i + k) % all.length].self);
      }
      if (m.successorList.length === 0) m.successorList.push(m.self);
    });
  }

  private adoptStableRing(ring: Ring): void {
    const r = this.config.successorListLength;
    for (const m of this.members) {
      const i = ring.successorIndex(m.id);
      assert(ring.vnodes[i].id === m.id, `${this.id} must be a member of the ring it starts from`);
      m.joined = true;
      m.predecessor = ring.predecessorOf(m.id);
      m.successorList = ring.size === 1 ? [m.self] : ring.successorsOf(m.id, Math.min(r, ring.size - 1));
      for (let f = 0; f < ID_BITS; f++) m.fingers[f] = ring.successorOf(fingerStart(m.id, f));
    }
  }

  // ---- periodic work --------------------------------------------------------------------

  private onTick(): void {
    this.expireDeadlines();
    for (const m of this.members) {
      if (!m.joined) {
        if (m.joinQuery === null && this.nowMs >= m.nextJoinAttemptMs) this.join(m);
        continue;
      }
      if (this.nowMs >= m.nextStabilizeMs) this.stabilize(m);
      if (this.nowMs >= m.nextFixFingersMs) this.fixFingers(m);
      if (this.nowMs >= m.nextCheckPredecessorMs) this.checkPredecessor(m);
    }
  }

  /** n.join(n'): predecessor = nil; successor = n'.find_successor(n) (Figure 6). */
  private join(m: VNode): void {
    const via = this.bootstrap[m.joinAttempts % this.bootstrap.length];
    m.joinAttempts++;
    const queryId = this.newQuery({
      purpose: 'join',
      vnodeId: m.id,
      keyId: m.id,
      deadlineMs: this.nowMs + this.config.joinRetryIntervalMs,
    });
    m.joinQuery = queryId;
    const query: Query = { queryId, origin: this.id, keyId: m.id, hops: 0, route: 'ring' };
    this.send(via, { type: 'find_successor', target: null, query, forwardId: null });
  }

  /**
   * n.stabilize() (Figure 6): x = successor.predecessor; if x ∈ (n, successor) then
   * successor = x; successor.notify(n). The reply also carries the successor's successor list,
   * from which this member rebuilds its own (“Failures and Replication”).
   */
  private stabilize(m: VNode): void {
    m.nextStabilizeMs = this.nowMs + this.config.stabilizeIntervalMs;
    if (m.stabilizeRpc !== null) return; // the previous round is still waiting for its answer
    const successor = m.successorList[0];
    if (successor.id === m.id) this.seekRing(m);
    const rpcId = this.newRpc({
      kind: 'stabilize',
      vnodeId: m.id,
      peer: successor,
      deadlineMs: this.nowMs + this.config.rpcTimeoutMs,
    });
    m.stabilizeRpc = rpcId;
    this.send(successor.node, { type: 'get_predecessor', target: successor.id, rpcId });
  }

  /**
   * Asks a node met outside the ring's pointers (a bootstrap node or a recent contact) for
   * find_successor(n + 1), and adopts the answer if it lies between n and n's successor.
   *
   * The paper's stabilize() cannot repair two things: a member that is its own successor
   * because its whole successor list failed and nobody points at it, and a ring split into two
   * loops (false suspicions on a lossy network can cause both). Stabilization only ever looks at
   * the successor's predecessor, so neither loop learns of the other. A second opinion from
   * another part of the system does: a member that is alone asks on every stabilize round, every
   * member asks once per full fix_fingers cycle.
   */
  private seekRing(m: VNode): void {
    if (m.seekQuery !== null) return;
    const candidates = [...new Set([...this.bootstrap, ...this.contacts])].filter(
      (c) => c !== this.id && !this.isFailed(c),
    );
    if (candidates.length === 0) return;
    const via = candidates[m.seekAttempts++ % candidates.length];
    const keyId = addId(m.id, 1);
    const queryId = this.newQuery({
      purpose: 'seek',
      vnodeId: m.id,
      keyId,
      deadlineMs: this.nowMs + this.config.joinRetryIntervalMs,
    });
    m.seekQuery = queryId;
    const query: Query = { queryId, origin: this.id, keyId, hops: 0, route: 'ring' };
    this.send(via, { type: 'find_successor', target: null, query, forwardId: null });
  }

  private onPredecessorReply(_from: NodeId, msg: Extract<ChordMessage, { type: 'predecessor_reply' }>): void {
    const rpc = this.takeRpc(msg.rpcId);
    if (!rpc) return; // it already timed out
    const m = this.joinedMember(rpc.vnodeId);
    if (!m) return;
    m.stabilizeRpc = null;
    if (m.successorList[0].id !== rpc.peer.id) return; // the successor changed meanwhile; ask again later
    // The successor list: my successor, then its list, cut where the ring wraps around to me.
    m.successorList = this.successorListFrom(m, [rpc.peer, ...msg.successors]);
    const x = msg.predecessor;
    if (x !== null && !this.isFailed(x.node) && inOpen(x.id, m.id, m.successorList[0].id)) {
      m.successorList = this.successorListFrom(m, [x, ...m.successorList]);
      // A new successor: stabilize with it at once to learn its successor list.
      m.nextStabilizeMs = this.nowMs;
    }
    const successor = m.successorList[0];
    this.send(successor.node, { type: 'notify', target: successor.id, sender: m.id });
  }

  private onGetPredecessor(from: NodeId, msg: Extract<ChordMessage, { type: 'get_predecessor' }>): void {
    const m = this.joinedMember(msg.target);
    if (!m) return; // not (or no longer) on the ring: the asker times out and moves on
    this.send(from, {
      type: 'predecessor_reply',
      rpcId: msg.rpcId,
      predecessor: m.predecessor,
      successors: [...m.successorList],
    });
  }

  /** n.notify(n'): if predecessor is nil or n' ∈ (predecessor, n) then predecessor = n' (Figure 6). */
  private onNotify(from: NodeId, msg: Extract<ChordMessage, { type: 'notify' }>): void {
    const m = this.joinedMember(msg.target);
    if (!m) return;
    const candidate: Address =
      from === this.id ? this.memberAddress(msg.sender) : { node: from, id: msg.sender };
    if (m.predecessor === null || inOpen(candidate.id, m.predecessor.id, m.id)) m.predecessor = candidate;
  }

  /**
   * n.fix_fingers() (Figure 6): next = next + 1; finger[next] = find_successor(n + 2^(next−1)).
   * The answer s = successor(start) is also the successor of every later finger start that lies
   * in (n, s], so one answer fills all of those and `next` skips past them.
   */
  private fixFingers(m: VNode): void {
    m.nextFixFingersMs = this.nowMs + this.config.fixFingersIntervalMs;
    if (m.fingerQuery !== null) return;
    const fingerIndex = m.nextFingerIndex;
    const keyId = fingerStart(m.id, fingerIndex);
    const queryId = this.newQuery({
      purpose: 'finger',
      vnodeId: m.id,
      fingerIndex,
      keyId,
      deadlineMs: this.nowMs + this.config.lookupTimeoutMs,
    });
    m.fingerQuery = queryId;
    this.findSuccessor(m, { queryId, origin: this.id, keyId, hops: 0, route: 'ring' }, 0);
  }

  private setFingers(m: VNode, fromIndex: number, owner: Address): void {
    m.fingers[fromIndex] = owner;
    let i = fromIndex + 1;
    while (i < ID_BITS && inHalfOpen(fingerStart(m.id, i), m.id, owner.id)) m.fingers[i++] = owner;
    m.nextFingerIndex = i % ID_BITS;
    if (m.nextFingerIndex === 0) this.seekRing(m); // a full cycle: time for a second opinion
  }

  /** n.check_predecessor(): if predecessor has failed then predecessor = nil (Figure 6). */
  private checkPredecessor(m: VNode): void {
    m.nextCheckPredecessorMs = this.nowMs + this.config.checkPredecessorIntervalMs;
    if (m.predecessor === null || m.pingRpc !== null) return;
    const peer = m.predecessor;
    const rpcId = this.newRpc({
      kind: 'ping',
      vnodeId: m.id,
      peer,
      deadlineMs: this.nowMs + this.config.rpcTimeoutMs,
    });
    m.pingRpc = rpcId;
    this.send(peer.node, { type: 'ping', target: peer.id, rpcId });
  }

  private onPing(from: NodeId, msg: Extract<ChordMessage, { type: 'ping' }>): void {
    if (this.joinedMember(msg.target)) this.send(from, { type: 'pong', rpcId: msg.rpcId });
  }

  private onPong(_from: NodeId, msg: Extract<ChordMessage, { type: 'pong' }>): void {
    const rpc = this.takeRpc(msg.rpcId);
    if (!rpc) return;
    const m = this.memberById.get(rpc.vnodeId);
    if (m) m.pingRpc = null;
  }

  // ---- lookups --------------------------------------------------------------------------

  private onRequest(requestId: number, body: ChordRequest): void {
    if (body.type === 'leave') {
      this.leave();
      this.batch.replies.push({ requestId, body: { type: 'leave', ok: true } });
      return;
    }
    const keyId = 'key' in body ? identifierOf(body.key) : body.keyId;
    if (!(Number.isInteger(keyId) && keyId >= 0 && keyId < RING_SIZE)) {
      this.batch.replies.push({ requestId, body: { type: 'lookup', ok: false, keyId, error: 'BAD_KEY' } });
      return;
    }
    const entry = this.entryMember(keyId);
    if (!entry) {
      this.batch.replies.push({ requestId, body: { type: 'lookup', ok: false, keyId, error: 'NOT_JOINED' } });
      return;
    }
    const queryId = this.newQuery({
      purpose: 'lookup',
      requestId,
      keyId,
      deadlineMs: this.nowMs + this.config.lookupTimeoutMs,
    });
    const query: Query = { queryId, origin: this.id, keyId, hops: 0, route: 'ring' };
    // Answer at once what this node knows itself; otherwise try the location cache, then the ring.
    const knownHere = this.ownsKey(entry, keyId) || inHalfOpen(keyId, entry.id, entry.successorList[0].id);
    const cached = knownHere ? undefined : this.cache.lookup(keyId);
    if (cached && !this.isFailed(cached.node)) {
      this.forward(entry, { ...query, route: 'cache' }, cached, 0);
    } else {
      this.findSuccessor(entry, query, 0);
    }
  }

  /** The ring member of this node a lookup starts from: the one that most closely precedes the key. */
  private entryMember(keyId: number): VNode | undefined {
    let best: VNode | undefined;
    for (const m of this.members) {
      if (m.joined && (best === undefined || distance(m.id, keyId) < distance(best.id, keyId))) best = m;
    }
    return best;
  }

  /**
   * n.find_successor(id) (Figure 5):
   *   if id ∈ (n, successor] return successor
   *   else n' = closest_preceding_node(id); return n'.find_successor(id)
   * Recursive: the answer goes straight to the query's origin. A member that knows its
   * predecessor also answers for its own range (predecessor, n]; a query sent to it from a
   * location cache must be answered that way, or the cache entry was stale.
   */
  private findSuccessor(m: VNode, query: Query, attempt: number): void {
    if (m.predecessor !== null && this.ownsKey(m, query.keyId)) {
      this.answer(query, m.self, m.predecessor.id);
      return;
    }
    if (query.route === 'cache') query = { ...query, route: 'stale-cache' };
    const successor = m.successorList[0];
    if (inHalfOpen(query.keyId, m.id, successor.id)) {
      this.answer(query, successor, m.id);
      return;
    }
    const next = this.closestPrecedingNode(m, query.keyId);
    if (next === null) {
      this.fail(query, 'UNREACHABLE');
      return;
    }
    this.forward(m, query, next, attempt);
  }

  /**
   * n.closest_preceding_node(id) (Figure 5): for i = m downto 1, if finger[i] ∈ (n, id) return
   * finger[i]: the live finger in (n, id) closest to id. The successor list is searched too when
   * no live finger qualifies (it routes around failed fingers), or always with
   * `successorListShortcut`. Null if no live candidate precedes id.
   */
  private closestPrecedingNode(m: VNode, keyId: number): Address | null {
    let best: Address | null = null;
    let bestDistance = Number.POSITIVE_INFINITY;
    const consider = (c: Address | null): void => {
      if (c === null || c.id === m.id || !inOpen(c.id, m.id, keyId) || this.isFailed(c.node)) return;
      const d = distance(c.id, keyId);
      if (d < bestDistance) {
        best = c;
        bestDistance = d;
      }
    };
    for (let i = ID_BITS - 1; i >= 0; i--) consider(m.fingers[i]);
    if (best === null || this.config.successorListShortcut) for (const s of m.successorList) consider(s);
    return best;
  }

  private forward(m: VNode, query: Query, next: Address, attempt: number): void {
    const forwarded: Query = { ...query, hops: query.hops + 1 };
    if (next.node === this.id) {
      // A member of this very node cannot fail separately; no acknowledgement needed.
      this.send(this.id, { type: 'find_successor', target: next.id, query: forwarded, forwardId: null });
      return;
    }
    const forwardId = this.nextSerial++;
    this.forwards.set(forwardId, {
      vnodeId: m.id,
      next,
      query,
      attempt,
      deadlineMs: this.nowMs + this.config.rpcTimeoutMs,
    });
    this.send(next.node, { type: 'find_successor', target: next.id, query: forwarded, forwardId });
  }

  private onFindSuccessor(from: NodeId, msg: Extract<ChordMessage, { type: 'find_successor' }>): void {
    const m = msg.target === null ? this.entryMember(msg.query.keyId) : this.joinedMember(msg.target);
    if (!m) return; // not on the ring: the sender's deadline routes around us
    if (msg.forwardId !== null) this.send(from, { type: 'find_successor_ack', forwardId: msg.forwardId });
    this.findSuccessor(m, msg.query, 0);
  }

  private onFindSuccessorAck(
    _from: NodeId,
    msg: Extract<ChordMessage, { type: 'find_successor_ack' }>,
  ): void {
    this.forwards.delete(msg.forwardId);
  }

  /** The next hop did not take the query: count it as failed and route around it. */
  private onForwardTimeout(f: PendingForward): void {
    this.markFailed(f.next.node);
    const m = this.joinedMember(f.vnodeId);
    if (!m) return;
    if (f.attempt + 1 >= this.config.maxForwardAttempts) {
      this.fail(f.query, 'UNREACHABLE');
      return;
    }
    const query: Query = f.query.route === 'cache' ? { ...f.query, route: 'stale-cache' } : f.query;
    this.findSuccessor(m, query, f.attempt + 1);
  }

  private answer(query: Query, owner: Address, rangeStartId: number): void {
    this.send(query.origin, {
      type: 'found',
      queryId: query.queryId,
      owner,
      rangeStartId,
      hops: query.hops,
      route: query.route,
    });
  }

  private fail(query: Query, reason: LookupError): void {
    this.send(query.origin, { type: 'lookup_failed', queryId: query.queryId, reason });
  }

  private onFound(_from: NodeId, msg: Extract<ChordMessage, { type: 'found' }>): void {
    const q = this.queries.get(msg.queryId);
    if (!q) return; // timed out already
    this.queries.delete(msg.queryId);
    switch (q.purpose) {
      case 'lookup':
        this.cache.remember(msg.rangeStartId, msg.owner);
        this.batch.replies.push({
          requestId: q.requestId,
          body: {
            type: 'lookup',
            ok: true,
            keyId: q.keyId,
            owner: msg.owner,
            hops: msg.hops,
            route: msg.route,
          },
        });
        return;
      case 'finger': {
        const m = this.joinedMember(q.vnodeId);
        if (!m) return;
        m.fingerQuery = null;
        this.setFingers(m, q.fingerIndex, msg.owner);
        return;
      }
      case 'seek': {
        const m = this.joinedMember(q.vnodeId);
        if (!m) return;
        m.seekQuery = null;
        const x = msg.owner;
        if (x.id !== m.id && !this.isFailed(x.node) && inOpen(x.id, m.id, m.successorList[0].id)) {
          m.successorList = this.successorListFrom(m, [x, ...m.successorList]);
          m.nextStabilizeMs = this.nowMs;
        }
        return;
      }
      case 'join': {
        const m = this.memberById.get(q.vnodeId);
        if (!m || m.joined) return;
        m.joinQuery = null;
        m.joined = true;
        m.predecessor = null;
        m.successorList = [msg.owner];
        m.fingers[0] = msg.owner;
        // Tell the successor about us now rather than at the next period.
        m.nextStabilizeMs = this.nowMs;
        m.nextFixFingersMs = this.nowMs;
        return;
      }
    }
  }

  private onLookupFailed(_from: NodeId, msg: Extract<ChordMessage, { type: 'lookup_failed' }>): void {
    const q = this.queries.get(msg.queryId);
    if (!q) return;
    this.queries.delete(msg.queryId);
    this.queryFailed(q, msg.reason);
  }

  private queryFailed(q: PendingQuery, error: LookupError): void {
    switch (q.purpose) {
      case 'lookup':
        this.batch.replies.push({
          requestId: q.requestId,
          body: { type: 'lookup', ok: false, keyId: q.keyId, error },
        });
        return;
      case 'finger': {
        const m = this.memberById.get(q.vnodeId);
        if (m) m.fingerQuery = null;
        return;
      }
      case 'join': {
        const m = this.memberById.get(q.vnodeId);
        if (m) m.joinQuery = null;
        return;
      }
      case 'seek': {
        const m = this.memberById.get(q.vnodeId);
        if (m) m.seekQuery = null;
        return;
      }
    }
  }

  // ---- failures and departures ----------------------------------------------------------

  /**
   * A peer did not answer in time (or said it is leaving). Until failedNodeMemoryMs have passed
   * it is not used or re-learnt from others' lists. Every member drops it from its successor
   * list (falling back to the next live entry), predecessor and fingers.
   */
  private markFailed(nodeId: NodeId): void {
    if (nodeId === this.id) return;
    this.failedUntilMs.set(nodeId, this.nowMs + this.config.failedNodeMemoryMs);
    this.cache.forgetNode(nodeId);
    for (const m of this.members) {
      if (!m.joined) continue;
      const successorBefore = m.successorList[0];
      m.successorList = m.successorList.filter((a) => a.node !== nodeId);
      if (m.successorList.length === 0) m.successorList = [this.fallbackSuccessor(m)];
      if (m.successorList[0].id !== successorBefore.id) m.nextStabilizeMs = this.nowMs;
      if (m.predecessor !== null && m.predecessor.node === nodeId) m.predecessor = null;
      for (let i = 0; i < ID_BITS; i++) if (m.fingers[i]?.node === nodeId) m.fingers[i] = null;
    }
  }

  /**
   * Every entry of the successor list failed: the paper's ring would be broken here. Take the
   * nearest live member known otherwise (a finger or a member of this node); stabilize then
   * walks back from it through predecessor pointers to the true successor.
   */
  private fallbackSuccessor(m: VNode): Address {
    let best: Address = m.self;
    let bestDistance = RING_SIZE;
    const candidates: (Address | null)[] = [
      ...m.fingers,
      ...this.members.filter((o) => o.joined).map((o) => o.self),
    ];
    for (const c of candidates) {
      if (c === null || c.id === m.id || this.isFailed(c.node)) continue;
      const d = distance(m.id, c.id);
      if (d < bestDistance) {
        best = c;
        bestDistance = d;
      }
    }
    return best;
  }

  private isFailed(nodeId: NodeId): boolean {
    const until = this.failedUntilMs.get(nodeId);
    if (until === undefined) return false;
    if (until > this.nowMs) return true;
    this.failedUntilMs.delete(nodeId);
    return false;
  }

  /**
   * Voluntary departure (“Voluntary Node Departures”): each run of this node's consecutive ring members tells the
   * member before the run its new successor list, and the member after the run its new
   * predecessor, so both relink at once instead of waiting for timeouts.
   */
  private leave(): void {
    const isLocal = (a: Address | null): boolean => a !== null && a.node === this.id;
    for (const m of this.members) {
      if (!m.joined) continue;
      const predecessor = m.predecessor;
      if (predecessor !== null && !isLocal(predecessor)) {
        const successors = m.successorList.filter((a) => !isLocal(a));
        if (successors.length > 0) {
          this.send(predecessor.node, {
            type: 'leave_to_predecessor',
            target: predecessor.id,
            sender: m.id,
            successors,
          });
        }
      }
      const successor = m.successorList[0];
      if (!isLocal(successor)) {
        // Walk back over this node's own members to the first one that stays.
        let before = m.predecessor;
        for (let guard = 0; before !== null && isLocal(before) && guard < this.members.length; guard++) {
          before = this.memberById.get(before.id)?.predecessor ?? null;
        }
        this.send(successor.node, {
          type: 'leave_to_successor',
          target: successor.id,
          sender: m.id,
          predecessor: isLocal(before) ? null : before,
        });
      }
    }
    for (const q of this.queries.values()) this.queryFailed(q, 'LEFT');
    this.queries.clear();
    this.left = true;
  }

  private onLeaveToPredecessor(
    from: NodeId,
    msg: Extract<ChordMessage, { type: 'leave_to_predecessor' }>,
  ): void {
    const m = this.joinedMember(msg.target);
    const wasSuccessor = m !== undefined && m.successorList[0].id === msg.sender;
    this.markFailed(from);
    if (!m || !wasSuccessor) return;
    m.successorList = this.successorListFrom(m, msg.successors);
    m.nextStabilizeMs = this.nowMs;
  }

  private onLeaveToSuccessor(from: NodeId, msg: Extract<ChordMessage, { type: 'leave_to_successor' }>): void {
    const m = this.joinedMember(msg.target);
    const wasPredecessor = m !== undefined && m.predecessor !== null && m.predecessor.id === msg.sender;
    this.markFailed(from);
    if (!m || !wasPredecessor) return;
    const p = msg.predecessor;
    m.predecessor = p !== null && !this.isFailed(p.node) ? p : null;
  }

  // ---- deadlines ------------------------------------------------------------------------

  private expireDeadlines(): void {
    const now = this.nowMs;
    for (const [id, rpc] of this.rpcs) {
      if (rpc.deadlineMs > now) continue;
      this.rpcs.delete(id);
      const m = this.memberById.get(rpc.vnodeId);
      if (rpc.kind === 'stabilize') {
        if (m) m.stabilizeRpc = null;
        this.markFailed(rpc.peer.node);
        if (m) m.nextStabilizeMs = now; // try the next successor at once
      } else {
        if (m) m.pingRpc = null;
        this.markFailed(rpc.peer.node);
      }
    }
    for (const [id, f] of this.forwards) {
      if (f.deadlineMs > now) continue;
      this.forwards.delete(id);
      this.onForwardTimeout(f);
    }
    for (const [id, q] of this.queries) {
      if (q.deadlineMs > now) continue;
      this.queries.delete(id);
      this.queryFailed(q, 'TIMEOUT');
    }
  }

  // ---- helpers --------------------------------------------------------------------------

  private readonly handlers: Handlers = {
    find_successor: (from, msg) => this.onFindSuccessor(from, msg),
    find_successor_ack: (from, msg) => this.onFindSuccessorAck(from, msg),
    found: (from, msg) => this.onFound(from, msg),
    lookup_failed: (from, msg) => this.onLookupFailed(from, msg),
    get_predecessor: (from, msg) => this.onGetPredecessor(from, msg),
    predecessor_reply: (from, msg) => this.onPredecessorReply(from, msg),
    notify: (from, msg) => this.onNotify(from, msg),
    ping: (from, msg) => this.onPing(from, msg),
    pong: (from, msg) => this.onPong(from, msg),
    leave_to_predecessor: (from, msg) => this.onLeaveToPredecessor(from, msg),
    leave_to_successor: (from, msg) => this.onLeaveToSuccessor(from, msg),
  };

  private handle(from: NodeId, msg: ChordMessage): void {
    if (from !== this.id) {
      // Hearing from a node proves it is alive, whatever a timeout made us believe.
      this.failedUntilMs.delete(from);
      if (!this.contacts.includes(from)) {
        this.contacts.push(from);
        if (this.contacts.length > MAX_CONTACTS) this.contacts.shift();
      }
    }
    const handler = this.handlers[msg.type] as (from: NodeId, msg: ChordMessage) => void;
    handler(from, msg);
  }

  /**
   * A successor list built from candidates in ring order: live ones only, no repeats, at most r,
   * and cut where the ring wraps around to `m` itself. A ring of one has m as its own successor.
   */
  private successorListFrom(m: VNode, candidates: readonly Address[]): Address[] {
    const out: Address[] = [];
    for (const a of candidates) {
      if (a.id === m.id) break;
      if (this.isFailed(a.node) || out.some((o) => o.id === a.id)) continue;
      out.push(a);
      if (out.length === this.config.successorListLength) break;
    }
    if (out.length === 0) out.push(m.self);
    return out;
  }

  /**
   * Whether `m` owns the key, by its own range (predecessor, n]. A predecessor equal to m itself
   * means "the whole circle" only while m is alone on the ring.
   */
  private ownsKey(m: VNode, keyId: number): boolean {
    const p = m.predecessor;
    if (p === null) return false;
    if (p.id === m.id) return m.successorList[0].id === m.id;
    return inHalfOpen(keyId, p.id, m.id);
  }

  private joinedMember(id: number): VNode | undefined {
    const m = this.memberById.get(id);
    return m?.joined ? m : undefined;
  }

  private memberAddress(id: number): Address {
    const m = this.memberById.get(id);
    assert(m, 'a local message names one of this node’s own ring members');
    return m.self;
  }

  private newRpc(rpc: PendingRpc): number {
    const id = this.nextSerial++;
    this.rpcs.set(id, rpc);
    return id;
  }

  private takeRpc(id: number): PendingRpc | undefined {
    const rpc = this.rpcs.get(id);
    if (rpc) this.rpcs.delete(id);
    return rpc;
  }

  private newQuery(q: PendingQuery): number {
    const id = this.nextSerial++;
    this.queries.set(id, q);
    return id;
  }
}
