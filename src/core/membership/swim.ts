/**
 * SWIM: Scalable Weakly-consistent Infection-style process group Membership (Das, Gupta,
 * Motivala, DSN 2002), with the practical choices of hashicorp/memberlist and Lifeguard's dynamic
 * suspicion timeout. A pure state machine: the host feeds it messages (`step`), time (`tick`) and
 * commands (`join`, `leave`, `updateMeta`), each with the current time, and sends the messages it
 * returns. Where each part of the paper lives:
 *
 *   §3.1 failure detector: one probe per protocol period      startProbe, probeIndirectly,
 *        ping → ack, else ping-req to k members → relayed ack  concludeProbe, onPing, onAck,
 *                                                               onPingReq
 *   §4.1 infection-style dissemination: updates piggybacked    piggyback, BroadcastQueue
 *        on ping/ack/ping-req, each sent ~λ·log N times
 *   §4.2 suspicion: suspect instead of dead; incarnation       suspect, expireSuspicions,
 *        numbers; the suspected member refutes                 hearAboutSelf, incarnate
 *        precedence of alive / suspect / confirm (dead)        precedence.ts, learn
 *   §4.3 round-robin probe order (time-bounded completeness)   ProbeOrder
 *   §5 joining through a known member                          join, onStateSync
 *   memberlist: push-pull anti-entropy, graceful leave,        runPushPull, onStateSync, leave
 *        tombstones; Lifeguard: suspicion confirmations,       confirmSuspicion, config.ts
 *        "buddy system" (a suspect hears it from us at once)   piggyback
 *   ours: heard suspects are probed out of turn                nextSuspectToProbe
 *
 * A node never reports events about itself and never believes news that it is suspect, dead or
 * gone: it refutes them (see `hearAboutSelf`).
 */
import type { NodeId, Random } from '../types.js';
import { assert } from '../types.js';
import { BroadcastQueue } from './broadcast-queue.js';
import { retransmitLimit, type SwimConfig, suspicionTimeoutMs, validateSwimConfig } from './config.js';
import { isTombstone, supersedes } from './precedence.js';
import { ProbeOrder, sample } from './probe-order.js';
import type {
  Member,
  MemberState,
  MembershipEvent,
  MemberUpdate,
  Meta,
  SwimMessage,
  SwimMessageType,
  SwimOutput,
} from './types.js';

export interface SwimComponents {
  /** Every random choice (probe order, ping-req helpers, push-pull partner, start phases). */
  random: Random;
}

export interface SwimInit {
  self: {
    id: NodeId;
    meta: Meta;
    /**
     * The incarnation to start at (default 0). A restarted node should pass one more than the
     * highest incarnation it persisted; without that it still comes back, by refuting the old
     * incarnation it learns from the seed's state (see `hearAboutSelf`).
     */
    incarnation?: number;
  };
  config: SwimConfig;
}

/** Running totals of what this node did, for measurement. */
export interface SwimCounters {
  probes: number;
  indirectProbes: number;
  probesFailed: number;
  suspicionsRaised: number;
  deathsDeclared: number;
  refutations: number;
  pushPulls: number;
  reconnectAttempts: number;
  joinAttempts: number;
}

/** A suspicion in progress: the deadline is data, expired by `tick`. */
interface Suspicion {
  startedAtMs: number;
  deadlineMs: number;
  /** Who has suspected the member at this incarnation: the first suspecter, then confirmations. */
  suspecters: Set<NodeId>;
}

interface MemberRecord {
  id: NodeId;
  incarnation: number;
  state: MemberState;
  meta: Meta;
  stateSinceMs: number;
  suspicion?: Suspicion;
  /** When a tombstone (dead or left) is forgotten. */
  forgetAtMs?: number;
}

/** The probe of the current protocol period. */
interface Probe {
  target: NodeId;
  /** The target's incarnation when the probe began: the one a failed probe casts doubt on. */
  incarnation: number;
  seq: number;
  /** No ack by then: ask `indirectChecks` members to probe (ping-req). */
  indirectAtMs: number;
  /** No ack by then: the target is suspected. The end of the protocol period. */
  endsAtMs: number;
  acked: boolean;
  indirectSent: boolean;
}

/** A ping this node sent on behalf of a ping-req: an ack for `seq` goes back to the requester. */
interface Relay {
  requester: NodeId;
  requesterSeq: number;
  expiresAtMs: number;
}

type Handler<T extends SwimMessageType> = (
  from: NodeId,
  msg: Extract<SwimMessage, { type: T }>,
  nowMs: number,
) => void;

export class Swim {
  readonly id: NodeId;
  readonly config: Readonly<SwimConfig>;
  readonly counters: SwimCounters = {
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

  private readonly random: Random;
  /** Every member this node knows, itself included, tombstones included. */
  private readonly records = new Map<NodeId, MemberRecord>();
  /** Members that are alive or suspect, itself included: N in every formula. */
  private liveCount = 0;
  private readonly suspects = new Set<NodeId>();
  private readonly tombstones = new Set<NodeId>();
  private readonly broadcasts = new BroadcastQueue();
  private readonly probeOrder: ProbeOrder;
  private probe: Probe | null = null;
  /** Members this node heard are suspected and has not probed since: probed out of turn. */
  private readonly suspectsToProbe = new Set<NodeId>();
  private lastProbeOutOfTurn = false;
  private readonly relays = new Map<number, Relay>();
  private nextSeq = 1;

  private started = false;
  private nextProbeAtMs = 0;
  private nextPushPullAtMs = 0;
  private seeds: NodeId[] = [];
  /** Set while no seed has answered a join yet. */
  private nextJoinAttemptAtMs: number | null = null;
  private leaving = false;

  /** What the current call will return. */
  private out: SwimOutput = { outbox: [], events: [] };

  private readonly handlers: { [T in SwimMessageType]: Handler<T> } = {
    ping: (from, msg, nowMs) => this.onPing(from, msg, nowMs),
    ack: (from, msg, nowMs) => this.onAck(from, msg, nowMs),
    'ping-req': (from, msg, nowMs) => this.onPingReq(from, msg, nowMs),
    join: (from, msg, nowMs) => this.onStateSync(from, msg.members, 'join-ack', nowMs),
    'join-ack': (from, msg, nowMs) => this.onStateSync(from, msg.members, null, nowMs),
    'push-pull': (from, msg, nowMs) => this.onStateSync(from, msg.members, 'push-pull-ack', nowMs),
    'push-pull-ack': (from, msg, nowMs) => this.onStateSync(from, msg.members, null, nowMs),
    gossip: (from, msg, nowMs) => this.learnAll(from, msg.updates, nowMs),
  };

  constructor(components: SwimComponents, init: SwimInit) {
    validateSwimConfig(init.config);
    const incarnation = init.self.incarnation ?? 0;
    assert(Number.isSafeInteger(incarnation) && incarnation >= 0, 'an incarnation is a non-negative integer');
    this.id = init.self.id;
    this.config = { ...init.config };
    this.random = components.random;
    this.probeOrder = new ProbeOrder(this.random);
    this.records.set(this.id, {
      id: this.id,
      incarnation,
      state: 'alive',
      meta: { ...init.self.meta },
      stateSinceMs: 0,
    });
    this.liveCount = 1;
  }

  // ---- the host's API ---------------------------------------------------------------------

  /** A message arrived from `from`. */
  step(from: NodeId, msg: SwimMessage, nowMs: number): SwimOutput {
    this.begin(nowMs);
    if (this.leaving) {
      // A node that left only answers pings, so its `left` keeps spreading on the acks.
      if (msg.type === 'ping') this.send(from, { type: 'ack', seq: msg.seq, updates: this.piggyback(from) });
    } else if (from !== this.id) {
      (this.handlers[msg.type] as Handler<SwimMessageType>)(from, msg, nowMs);
    }
    return this.finish();
  }

  /** Time passed: run the protocol period, expire suspicions and tombstones, push-pull. */
  tick(nowMs: number): SwimOutput {
    this.begin(nowMs);
    if (!this.leaving) {
      this.runProbe(nowMs);
      this.expireSuspicions(nowMs);
      this.runPushPull(nowMs);
      this.retryJoin(nowMs);
    }
    this.forgetTombstones(nowMs);
    this.expireRelays(nowMs);
    return this.finish();
  }

  /**
   * Joins the cluster through `seedIds` (SWIM §5: "a new member contacts a known member"): sends
   * each seed its state and retries every protocol period until one answers with the full member
   * list. Seeds are also retried later by push-pull whenever this node does not see them alive,
   * which heals partitions that outlast tombstones. A node whose only seed is itself starts a
   * cluster of one.
   */
  join(seedIds: NodeId[], nowMs: number): SwimOutput {
    this.begin(nowMs);
    assert(!this.leaving, 'a node that left comes back as a new instance, with a higher incarnation');
    this.seeds = [...new Set(seedIds)].filter((id) => id !== this.id);
    if (this.seeds.length > 0) {
      this.nextJoinAttemptAtMs = nowMs;
      this.retryJoin(nowMs);
    }
    return this.finish();
  }

  /**
   * Leaves gracefully: announces `left` to every member it knows at once (and by gossip), so
   * others drop it without a suspicion period. Afterwards the node only answers pings.
   */
  leave(nowMs: number): SwimOutput {
    this.begin(nowMs);
    if (this.leaving) return this.finish();
    this.leaving = true;
    this.probe = null;
    this.nextJoinAttemptAtMs = null;
    const me = this.self();
    this.changeState(me, 'left', nowMs);
    const left = this.updateOf(me);
    this.broadcasts.enqueue(left);
    const others = [...this.records.values()].filter((r) => r.id !== this.id && !isTombstone(r.state));
    for (const r of others) this.send(r.id, { type: 'gossip', updates: [left] });
    return this.finish();
  }

  /**
   * Changes this node's meta. A meta belongs to an incarnation, so the node incarnates and
   * gossips `alive` with the new meta, which overrides the old everywhere.
   */
  updateMeta(meta: Meta, nowMs: number): SwimOutput {
    this.begin(nowMs);
    assert(!this.leaving, 'a node that left has no meta to change');
    const me = this.self();
    me.meta = { ...meta };
    this.incarnate(me.incarnation + 1);
    return this.finish();
  }

  /** Every known member, this node included, tombstones included, ordered by id. */
  members(): Member[] {
    return [...this.records.values()].map(snapshot).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: NodeId): Member | undefined {
    const r = this.records.get(id);
    return r ? snapshot(r) : undefined;
  }

  /** This node's incarnation: a host that persists it lets a restart start above it. */
  get incarnation(): number {
    return this.self().incarnation;
  }

  /** N: members alive or suspect, this node included. */
  get liveMemberCount(): number {
    return this.liveCount;
  }

  /**
   * The earliest time at which `tick` has work to do, so that a real host can set one timer
   * instead of ticking at a fixed rate. Infinity when nothing is scheduled.
   */
  nextDeadlineMs(): number {
    let t = Number.POSITIVE_INFINITY;
    if (!this.started) return t;
    if (!this.leaving) {
      t = Math.min(t, this.nextPushPullAtMs);
      const p = this.probe;
      t = Math.min(
        t,
        p === null ? this.nextProbeAtMs : p.indirectSent || p.acked ? p.endsAtMs : p.indirectAtMs,
      );
      for (const id of this.suspects) t = Math.min(t, this.records.get(id)?.suspicion?.deadlineMs ?? t);
      if (this.nextJoinAttemptAtMs !== null) t = Math.min(t, this.nextJoinAttemptAtMs);
    }
    for (const id of this.tombstones) t = Math.min(t, this.records.get(id)?.forgetAtMs ?? t);
    for (const r of this.relays.values()) t = Math.min(t, r.expiresAtMs);
    return t;
  }

  // ---- §3.1 the failure detector ---------------------------------------------------------

  /** One protocol period: ping the next member; ping-req after the timeout; suspect at the end. */
  private runProbe(nowMs: number): void {
    const p = this.probe;
    if (p && !p.acked && !p.indirectSent && nowMs >= p.indirectAtMs) this.probeIndirectly(p);
    if (p && nowMs >= p.endsAtMs) this.concludeProbe(p, nowMs);
    if (this.probe === null && nowMs >= this.nextProbeAtMs) {
      // Periods are laid on a fixed grid so that late ticks do not stretch them; a host that fell
      // more than a period behind (a paused process) starts a fresh grid.
      this.nextProbeAtMs += this.config.probeIntervalMs;
      if (this.nextProbeAtMs <= nowMs) this.nextProbeAtMs = nowMs + this.config.probeIntervalMs;
      this.startProbe(nowMs);
    }
  }

  private startProbe(nowMs: number): void {
    const outOfTurn = this.lastProbeOutOfTurn ? undefined : this.nextSuspectToProbe();
    this.lastProbeOutOfTurn = outOfTurn !== undefined;
    const target =
      outOfTurn ??
      this.probeOrder.next(
        (id) => this.isProbeable(id),
        () => [...this.records.values()].filter((r) => this.isProbeable(r.id)).map((r) => r.id),
      );
    if (target === undefined) return;
    this.suspectsToProbe.delete(target);
    const seq = this.nextSeq++;
    this.probe = {
      target,
      incarnation: (this.records.get(target) as MemberRecord).incarnation,
      seq,
      indirectAtMs: nowMs + this.config.probeTimeoutMs,
      endsAtMs: nowMs + this.config.probeIntervalMs,
      acked: false,
      indirectSent: false,
    };
    this.counters.probes++;
    this.send(target, { type: 'ping', seq, updates: this.piggyback(target) });
  }

  /**
   * A member this node heard is suspected is probed at the next period, out of turn (at most every
   * other period, so the round-robin bound at most doubles). If the suspect is alive, the ping
   * tells it of the suspicion and its ack brings the refutation straight back, so no member's
   * suspicion outlives the refutation merely because gossip missed it; if it is dead, the failed
   * probe is this member's own confirmation and shortens the timeout (Lifeguard). Not in the
   * paper: see docs/MEMBERSHIP.md for the measurements that motivated it.
   */
  private nextSuspectToProbe(): NodeId | undefined {
    for (const id of this.suspectsToProbe) {
      this.suspectsToProbe.delete(id);
      if (this.records.get(id)?.state === 'suspect') return id;
    }
    return undefined;
  }

  /** No direct ack in time: ask k random alive members to ping the target for us. */
  private probeIndirectly(p: Probe): void {
    p.indirectSent = true;
    const candidates = [...this.records.values()]
      .filter((r) => r.state === 'alive' && r.id !== this.id && r.id !== p.target)
      .map((r) => r.id);
    for (const helper of sample(candidates, this.config.indirectChecks, this.random)) {
      this.counters.indirectProbes++;
      this.send(helper, { type: 'ping-req', seq: p.seq, target: p.target, updates: this.piggyback(helper) });
    }
  }

  /**
   * The end of the protocol period: without an ack, direct or relayed, the target is suspected,
   * unless it has incarnated since the probe began: then it spoke since, and the silence this
   * probe met belonged to an earlier incarnation (a previous life, say, that crashed).
   */
  private concludeProbe(p: Probe, nowMs: number): void {
    this.probe = null;
    if (p.acked) return;
    this.counters.probesFailed++;
    const rec = this.records.get(p.target);
    if (rec && this.isProbeable(rec.id) && rec.incarnation === p.incarnation) this.suspect(rec, nowMs);
  }

  private onPing(from: NodeId, msg: Extract<SwimMessage, { type: 'ping' }>, nowMs: number): void {
    this.learnAll(from, msg.updates, nowMs);
    this.send(from, { type: 'ack', seq: msg.seq, updates: this.piggyback(from) });
  }

  private onAck(from: NodeId, msg: Extract<SwimMessage, { type: 'ack' }>, nowMs: number): void {
    this.learnAll(from, msg.updates, nowMs);
    if (this.probe && this.probe.seq === msg.seq) {
      this.probe.acked = true;
      return;
    }
    const relay = this.relays.get(msg.seq);
    if (relay) {
      this.relays.delete(msg.seq);
      this.send(relay.requester, {
        type: 'ack',
        seq: relay.requesterSeq,
        updates: this.piggyback(relay.requester),
      });
    }
  }

  /** Another member could not reach `target` directly: ping it on their behalf. */
  private onPingReq(from: NodeId, msg: Extract<SwimMessage, { type: 'ping-req' }>, nowMs: number): void {
    this.learnAll(from, msg.updates, nowMs);
    if (msg.target === this.id) {
      this.send(from, { type: 'ack', seq: msg.seq, updates: this.piggyback(from) });
      return;
    }
    const seq = this.nextSeq++;
    this.relays.set(seq, {
      requester: from,
      requesterSeq: msg.seq,
      expiresAtMs: nowMs + this.config.probeIntervalMs,
    });
    this.send(msg.target, { type: 'ping', seq, updates: this.piggyback(msg.target) });
  }

  private expireRelays(nowMs: number): void {
    if (this.relays.size === 0) return;
    for (const [seq, r] of this.relays) if (r.expiresAtMs <= nowMs) this.relays.delete(seq);
  }

  // ---- §4.2 suspicion ----------------------------------------------------------------------

  /** This node's own probe of `rec` failed. */
  private suspect(rec: MemberRecord, nowMs: number): void {
    if (rec.state === 'alive') this.counters.suspicionsRaised++;
    this.declare(rec, 'suspect', nowMs);
  }

  /** This node's own news about another member: a suspicion or a death, applied and gossiped. */
  private declare(rec: MemberRecord, state: 'suspect' | 'dead', nowMs: number): void {
    const news: MemberUpdate = { id: rec.id, incarnation: rec.incarnation, state, from: this.id };
    assert(
      news.id !== this.id && news.incarnation === rec.incarnation,
      'only the member itself raises its incarnation: a suspicion or death names the one it doubts',
    );
    this.learn(news, nowMs);
  }

  private startSuspicion(rec: MemberRecord, from: NodeId, nowMs: number): void {
    rec.suspicion = {
      startedAtMs: nowMs,
      deadlineMs: nowMs + suspicionTimeoutMs(this.config, this.liveCount, 0),
      suspecters: new Set([from]),
    };
  }

  /**
   * Lifeguard: another member independently suspects `rec` at the same incarnation. Each new
   * suspecter shortens the timeout (config.ts `suspicionTimeoutMs`); the confirmation is gossiped
   * on so that others count it too. Returns whether it was news.
   */
  private confirmSuspicion(rec: MemberRecord, from: NodeId): boolean {
    const s = rec.suspicion;
    assert(s !== undefined && rec.state === 'suspect', 'only a suspect has a suspicion to confirm');
    if (s.suspecters.has(from)) return false;
    s.suspecters.add(from);
    s.deadlineMs = s.startedAtMs + suspicionTimeoutMs(this.config, this.liveCount, s.suspecters.size - 1);
    this.broadcasts.enqueue(this.updateOf(rec, from));
    return true;
  }

  /** Suspects nobody refuted in time are declared dead (the paper's "confirm"). */
  private expireSuspicions(nowMs: number): void {
    if (this.suspects.size === 0) return;
    for (const id of [...this.suspects]) {
      const rec = this.records.get(id) as MemberRecord;
      if ((rec.suspicion as Suspicion).deadlineMs > nowMs) continue;
      this.counters.deathsDeclared++;
      this.declare(rec, 'dead', nowMs);
    }
  }

  // ---- §4.1/§4.2 dissemination and precedence ---------------------------------------------

  private learnAll(from: NodeId, updates: readonly MemberUpdate[], nowMs: number): void {
    for (const u of updates) {
      if (!isWellFormed(u)) continue;
      // A suspicion or death without a named source is vouched for by whoever relayed it.
      this.learn(u.from === undefined && u.state !== 'alive' ? { ...u, from } : u, nowMs);
    }
  }

  /**
   * News about a member. The newer news wins (precedence.ts); older news is dropped, except that
   * an equal suspicion from a new suspecter confirms it. Accepted news is gossiped on.
   */
  private learn(u: MemberUpdate, nowMs: number): void {
    if (u.id === this.id) {
      this.hearAboutSelf(u);
      return;
    }
    const rec = this.records.get(u.id);
    if (!rec) {
      this.learnNewMember(u, nowMs);
      return;
    }
    if (!supersedes(u, rec)) {
      const sameSuspicion =
        u.state === 'suspect' && rec.state === 'suspect' && u.incarnation === rec.incarnation;
      if (sameSuspicion && u.from !== undefined) this.confirmSuspicion(rec, u.from);
      return;
    }
    const previous = rec.state;
    const metaChanged = u.state === 'alive' && u.meta !== undefined && !sameMeta(u.meta, rec.meta);
    rec.incarnation = u.incarnation;
    if (metaChanged) rec.meta = { ...u.meta };
    this.changeState(rec, u.state, nowMs);
    switch (u.state) {
      case 'alive':
        if (isTombstone(previous)) this.emit('joined', rec);
        else if (previous === 'suspect') this.emit('alive', rec);
        if (metaChanged && !isTombstone(previous)) this.emit('meta', rec);
        break;
      case 'suspect':
        if (isTombstone(previous)) this.emit('joined', rec);
        if (rec.suspicion === undefined) {
          if (u.from !== this.id) this.suspectsToProbe.add(rec.id);
          this.startSuspicion(rec, u.from ?? this.id, nowMs);
          this.emit('suspect', rec);
        } else if (u.from !== undefined) {
          // Suspected again at a higher incarnation: the running timer keeps its deadline.
          rec.suspicion.suspecters.add(u.from);
        }
        break;
      case 'dead':
      case 'left':
        if (previous !== u.state) this.emit(u.state, rec);
        break;
    }
    this.broadcasts.enqueue(this.updateOf(rec, u.from));
  }

  /** The first news of a member. Tombstones are kept silently so stale news cannot revive it. */
  private learnNewMember(u: MemberUpdate, nowMs: number): void {
    // A suspicion says nothing of the member's meta; wait for its alive or a state sync.
    if (u.state === 'suspect' && u.meta === undefined) return;
    const rec: MemberRecord = {
      id: u.id,
      incarnation: u.incarnation,
      state: 'alive',
      meta: { ...u.meta },
      stateSinceMs: nowMs,
    };
    this.records.set(rec.id, rec);
    this.liveCount++;
    if (isTombstone(u.state)) {
      this.changeState(rec, u.state, nowMs);
      return;
    }
    this.probeOrder.insert(rec.id);
    this.emit('joined', rec);
    if (u.state === 'suspect') {
      this.suspectsToProbe.add(rec.id);
      this.changeState(rec, 'suspect', nowMs);
      this.startSuspicion(rec, u.from ?? this.id, nowMs);
      this.emit('suspect', rec);
    }
    this.broadcasts.enqueue(this.updateOf(rec, u.from));
  }

  /**
   * News about this node. Anything at least as new as what the node itself says, other than its
   * own current alive (a suspicion, a death, a leave or an alive from a previous life of this
   * node), is refuted by incarnating above it (SWIM §4.2). Refuting deaths, not only suspicions,
   * is memberlist's choice: a member wrongly declared dead comes back at once instead of having
   * to rejoin, and a restarted node that did not persist its incarnation learns its old one from
   * the seed's state and overtakes it.
   */
  private hearAboutSelf(u: MemberUpdate): void {
    const me = this.self();
    if (this.leaving) return;
    if (u.incarnation < me.incarnation) {
      // Someone still doubts an older incarnation: the refutation has not reached it (its copies
      // may all have been lost). Send it afresh; the paper's rule would leave this node to die.
      if (u.state !== 'alive') this.broadcasts.enqueue(this.updateOf(me));
      return;
    }
    const current = u.state === 'alive' && u.incarnation === me.incarnation;
    if (current && (u.meta === undefined || sameMeta(u.meta, me.meta))) return;
    this.counters.refutations++;
    this.incarnate(u.incarnation + 1);
  }

  /** Raises this node's incarnation and gossips it alive. Only a member raises its own. */
  private incarnate(incarnation: number): void {
    const me = this.self();
    assert(incarnation > me.incarnation, 'an incarnation only grows, or older news would override newer');
    me.incarnation = incarnation;
    this.broadcasts.enqueue(this.updateOf(me));
  }

  /**
   * The updates to piggyback on a message to `to`: up to maxPiggybackedUpdates from the queue.
   * If this node suspects `to`, the suspicion goes first, whether or not it is still queued:
   * Lifeguard's buddy system, applied to every message rather than only to probes, so that a
   * suspect hears of its suspicion from the first member it talks to and can refute in time.
   */
  private piggyback(to: NodeId): MemberUpdate[] {
    const rec = this.records.get(to);
    const buddy = rec?.state === 'suspect' ? [this.updateOf(rec, firstSuspecter(rec))] : [];
    const limit = retransmitLimit(this.config, this.liveCount);
    const queued = this.broadcasts.take(this.config.maxPiggybackedUpdates - buddy.length, limit);
    return [...buddy, ...queued.filter((u) => u.id !== to || buddy.length === 0)];
  }

  // ---- §5 joining, and memberlist's push-pull anti-entropy --------------------------------

  private retryJoin(nowMs: number): void {
    if (this.nextJoinAttemptAtMs === null || nowMs < this.nextJoinAttemptAtMs) return;
    this.nextJoinAttemptAtMs = nowMs + this.config.probeIntervalMs;
    this.counters.joinAttempts++;
    const members = this.fullState();
    for (const seed of this.seeds) this.send(seed, { type: 'join', members });
  }

  /**
   * Every push-pull interval: a full state exchange with one random alive member, and one attempt
   * to reach a member believed dead (or a seed not seen alive). If that member is in fact alive,
   * across a healed partition, it learns it was declared dead, refutes, and answers with its side's
   * state, and both sides merge back into one cluster.
   */
  private runPushPull(nowMs: number): void {
    if (nowMs < this.nextPushPullAtMs) return;
    this.nextPushPullAtMs = nowMs + this.config.pushPullIntervalMs;
    const records = [...this.records.values()];
    const alive = records.filter((r) => r.state === 'alive' && r.id !== this.id).map((r) => r.id);
    const gone = records.filter((r) => r.state === 'dead').map((r) => r.id);
    const unseenSeeds = this.seeds.filter((id) => {
      const r = this.records.get(id);
      return r === undefined || r.state === 'left';
    });
    const members = this.fullState();
    if (alive.length > 0) {
      this.counters.pushPulls++;
      this.send(this.random.pick(alive), { type: 'push-pull', members });
    }
    const lost = [...new Set([...gone, ...unseenSeeds])];
    if (lost.length > 0) {
      this.counters.reconnectAttempts++;
      this.send(this.random.pick(lost), { type: 'push-pull', members });
    }
  }

  /** A join or push-pull: merge the other side's full state, and answer with ours if asked. */
  private onStateSync(
    from: NodeId,
    members: readonly MemberUpdate[],
    replyType: 'join-ack' | 'push-pull-ack' | null,
    nowMs: number,
  ): void {
    this.learnAll(from, members, nowMs);
    if (replyType === null) {
      this.nextJoinAttemptAtMs = null; // someone answered: this node is in
      return;
    }
    this.send(from, { type: replyType, members: this.fullState() });
  }

  /**
   * Every record, with its meta. A suspicion names its first suspecter, so that relaying a state
   * does not count as the relayer confirming the suspicion.
   */
  private fullState(): MemberUpdate[] {
    return [...this.records.values()].map((r) => {
      const origin = firstSuspecter(r);
      const u = { id: r.id, incarnation: r.incarnation, state: r.state, meta: r.meta };
      return origin === undefined ? u : { ...u, from: origin };
    });
  }

  // ---- bookkeeping ---------------------------------------------------------------------

  private forgetTombstones(nowMs: number): void {
    if (this.tombstones.size === 0) return;
    for (const id of [...this.tombstones]) {
      const rec = this.records.get(id) as MemberRecord;
      if ((rec.forgetAtMs as number) > nowMs) continue;
      this.tombstones.delete(id);
      this.records.delete(id);
    }
  }

  /**
   * The one place a member's state changes, keeping N, the suspect set, the tombstone set and
   * the probe order in step with it.
   */
  private changeState(rec: MemberRecord, state: MemberState, nowMs: number): void {
    const before = rec.state;
    if (before === state) return;
    rec.state = state;
    rec.stateSinceMs = nowMs;
    if (isTombstone(before) !== isTombstone(state)) this.liveCount += isTombstone(state) ? -1 : 1;
    if (before === 'suspect') {
      this.suspects.delete(rec.id);
      rec.suspicion = undefined;
    }
    if (state === 'suspect') this.suspects.add(rec.id);
    if (rec.id === this.id) return; // this node's own record is never forgotten nor probed
    if (isTombstone(state)) {
      this.tombstones.add(rec.id);
      rec.forgetAtMs = nowMs + this.config.deadMemberRetentionMs;
    } else if (isTombstone(before)) {
      this.tombstones.delete(rec.id);
      rec.forgetAtMs = undefined;
      this.probeOrder.insert(rec.id);
    }
  }

  private isProbeable(id: NodeId): boolean {
    const r = this.records.get(id);
    return r !== undefined && id !== this.id && (r.state === 'alive' || r.state === 'suspect');
  }

  private self(): MemberRecord {
    return this.records.get(this.id) as MemberRecord;
  }

  private updateOf(rec: MemberRecord, from?: NodeId): MemberUpdate {
    const u: { -readonly [K in keyof MemberUpdate]: MemberUpdate[K] } = {
      id: rec.id,
      incarnation: rec.incarnation,
      state: rec.state,
    };
    if (rec.state === 'alive') u.meta = rec.meta;
    if (from !== undefined && rec.state !== 'alive') u.from = from;
    return u;
  }

  private emit(type: MembershipEvent['type'], rec: MemberRecord): void {
    this.out.events.push({ type, member: snapshot(rec) });
  }

  private send(to: NodeId, msg: SwimMessage): void {
    this.out.outbox.push({ to, msg });
  }

  private begin(nowMs: number): void {
    if (this.started) return;
    // The first call fixes the start; random phases keep members from probing in lockstep.
    this.started = true;
    this.self().stateSinceMs = nowMs;
    this.nextProbeAtMs = nowMs + this.random.next() * this.config.probeIntervalMs;
    this.nextPushPullAtMs = nowMs + this.random.next() * this.config.pushPullIntervalMs;
  }

  private finish(): SwimOutput {
    const out = this.out;
    this.out = { outbox: [], events: [] };
    return out;
  }
}

function firstSuspecter(r: MemberRecord): NodeId | undefined {
  if (r.suspicion === undefined) return undefined;
  return r.suspicion.suspecters.values().next().value;
}

function snapshot(r: MemberRecord): Member {
  return { id: r.id, incarnation: r.incarnation, state: r.state, meta: r.meta, stateSinceMs: r.stateSinceMs };
}

function sameMeta(a: Meta, b: Meta): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

const STATES: ReadonlySet<string> = new Set(['alive', 'suspect', 'dead', 'left']);

/** Peers are trusted but their messages are checked for shape: a bad update is dropped. */
function isWellFormed(u: MemberUpdate): boolean {
  return (
    typeof u === 'object' &&
    u !== null &&
    typeof u.id === 'string' &&
    u.id.length > 0 &&
    Number.isSafeInteger(u.incarnation) &&
    u.incarnation >= 0 &&
    STATES.has(u.state)
  );
}
