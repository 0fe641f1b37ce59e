/**
 * Placement: which nodes hold a key, while the membership changes under it.
 *
 * The ring that serves reads holds the members whose status is `normal` or `leaving`. A node that
 * joins is `joining` until it has copied its future ranges from their current owners; a node that
 * leaves is `leaving` until it has handed its ranges to their future owners. While a change is
 * under way — and for a grace period after it, until every node has heard of it — writes go to the
 * union of the key's replicas in the rings before and after, and need W acknowledgements plus one
 * from each replica beyond the N natural ones. Any W + k of those N + k nodes then meet any read
 * quorum of R > N − W taken from either ring, so a quorum read sees every acknowledged write even
 * while ownership moves (Cassandra's "pending ranges" follow the same arithmetic).
 *
 * The members of the read ring are persisted by the node, and so are the pending joins and leaves
 * and the rings before recent changes (`memory`), so a restarted node computes the same replicas
 * and consensus quorums before it hears from anyone.
 */
import { murmur3x86_128 } from './hash.js';
import type { Target } from './replication/quorum.js';
import { Ring } from './ring.js';
import type { NodeId } from './types.js';

/**
 * `rejoining`: a member that restarted and is checking with a peer whether it is still on the
 * ring. Placement ignores it (it is on the ring or not, as before its restart); unlike `joining`,
 * it says nothing about a join under way.
 */
export type MemberStatus = 'joining' | 'rejoining' | 'normal' | 'leaving';

/** What placement needs to know about a member: SWIM's state and the status it advertises. */
export interface MemberView {
  id: NodeId;
  state: 'alive' | 'suspect' | 'dead' | 'left';
  status: MemberStatus;
  /** When the member entered its SWIM state, on this node's clock. */
  stateSinceMs: number;
}

export interface PlacementConfig {
  replicaCount: number;
  vnodesPerNode: number;
  /** How long the rings before a change keep receiving writes after it (≥ gossip spread time). */
  transitionGraceMs: number;
  /** A member dead this long leaves the ring so others re-replicate its ranges (∞: never). */
  deadMemberReplacementMs: number;
}

/**
 * What a node keeps of placement beyond the ring members, so that a restart resumes the same view
 * (see `Placement.memory`). Deadlines are on the node's clock.
 */
export interface PlacementMemory {
  joining: NodeId[];
  leaving: NodeId[];
  previous: Array<{ members: NodeId[]; untilMs: number }>;
}

export interface WritePlan {
  targets: Target[];
  /** Healthy nodes beyond the targets, in ring order, to stand in for targets that fail. */
  spares: NodeId[];
  /** Acknowledgements needed beyond the level's own W (one per replica outside the N natural). */
  extra: number;
}

export class Placement {
  private readonly members = new Set<NodeId>();
  private readonly joining = new Set<NodeId>();
  private readonly leaving = new Set<NodeId>();
  /**
   * Members taken off the ring because they were dead (a dead leaver, or dead for longer than
   * deadMemberReplacementMs), until they are heard of alive again: what SWIM keeps saying of them
   * (dead, with the status they last had) must not put them back.
   */
  private readonly retired = new Set<NodeId>();
  /** Since when each ring member has been dead, as first observed (for members SWIM forgets). */
  private readonly deadSince = new Map<NodeId, number>();
  /** Rings of before recent changes, still written to until their grace ends. */
  private previous: Array<{ ring: Ring; untilMs: number }> = [];
  private readRing: Ring | null = null;
  private nextRing: Ring | null = null;
  private versionCache: string | null = null;
  /**
   * Whether every live member advertises this node's ring version. Previous rings are forgotten
   * only then (and after the grace period): until everyone has moved, someone may still use
   * them alone, and writes must keep meeting that someone's quorums.
   */
  everyoneAgrees = false;
  /** Bumped whenever `memory()` would answer differently: the node persists it when this moves. */
  changes = 0;

  constructor(
    private readonly config: PlacementConfig,
    initialMembers: Iterable<NodeId>,
  ) {
    for (const id of initialMembers) this.members.add(id);
  }

  /** Members of the read ring, sorted (what the node persists). */
  ringMembers(): NodeId[] {
    return [...this.members].sort();
  }

  has(id: NodeId): boolean {
    return this.members.has(id);
  }

  isEmpty(): boolean {
    return this.members.size === 0;
  }

  pendingJoins(): NodeId[] {
    return [...this.joining].sort();
  }

  pendingLeaves(): NodeId[] {
    return [...this.leaving].sort();
  }

  /**
   * The pending joins and leaves and the rings before recent changes: what a node must persist
   * beside the ring members. Consensus across a change is safe only while every node either
   * knows of the change or still uses the rings before it (see `consensusPlan`); a node that
   * forgot, in a restart, a join it had seen would form quorums under the older view that the
   * joiner's handoff no longer covers, and one that forgot its previous rings would drop the
   * replicas that hold what was chosen under them.
   */
  memory(): PlacementMemory {
    return {
      joining: this.pendingJoins(),
      leaving: this.pendingLeaves(),
      previous: this.previous.map((p) => ({ members: [...p.ring.members], untilMs: p.untilMs })),
    };
  }

  /**
   * Takes back what `memory()` returned before a restart. The node's own pending join or leave is
   * not restored: a restarted node decides its status afresh (a leave it was making is abandoned).
   */
  restore(memory: PlacementMemory, self: NodeId): void {
    for (const id of memory.joining) if (id !== self && !this.members.has(id)) this.joining.add(id);
    for (const id of memory.leaving) if (id !== self && this.members.has(id)) this.leaving.add(id);
    this.previous = memory.previous.map((p) => ({
      ring: Ring.fromMembers(p.members, this.config.vnodesPerNode),
      untilMs: p.untilMs,
    }));
    this.invalidate();
  }

  inTransition(nowMs: number): boolean {
    this.expire(nowMs);
    return this.joining.size > 0 || this.leaving.size > 0 || this.previous.length > 0;
  }

  /**
   * A short fingerprint of this node's view: the ring members and the pending joins and leaves.
   * Nodes advertise it, and consensus acceptors refuse proposals made under another view.
   */
  version(): string {
    if (this.versionCache === null) {
      const text = `${[...this.members].sort().join(',')}|+${[...this.joining].sort().join(',')}|-${[...this.leaving].sort().join(',')}`;
      const [h1, h2] = murmur3x86_128(new TextEncoder().encode(text), 0);
      this.versionCache = h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
    }
    return this.versionCache;
  }

  /** The ring reads use. */
  ring(): Ring {
    this.readRing ??= Ring.fromMembers(this.members, this.config.vnodesPerNode);
    return this.readRing;
  }

  /** The ring once every pending join and leave has completed. */
  futureRing(): Ring {
    if (!this.nextRing) {
      const future = new Set(this.members);
      for (const id of this.joining) future.add(id);
      for (const id of this.leaving) future.delete(id);
      this.nextRing = Ring.fromMembers(future, this.config.vnodesPerNode);
    }
    return this.nextRing;
  }

  /**
   * Folds in what SWIM says of a member. Returns true when the read ring changed (the node then
   * persists `ringMembers()`).
   */
  observe(m: MemberView, nowMs: number): boolean {
    if (m.state === 'dead') {
      if (!this.deadSince.has(m.id)) this.deadSince.set(m.id, m.stateSinceMs);
    } else {
      this.deadSince.delete(m.id);
    }
    if (m.state === 'left') {
      this.joining.delete(m.id);
      this.leaving.delete(m.id);
      return this.remove(m.id, nowMs);
    }
    // A dead member is replaced after deadMemberReplacementMs, in case it comes back. One that was
    // leaving is not waited for: it finished and its `left` was lost (it stopped soon after, so
    // nobody may ever hear it; SWIM forgets the dead after deadMemberRetentionMs, which may come
    // first, and the member would then stay on the ring for good), or it gave up its leave, and
    // a restart decides its status afresh (`joining`, then normal again if still on the ring).
    if (
      m.state === 'dead' &&
      this.members.has(m.id) &&
      (m.status === 'leaving' ||
        this.leaving.has(m.id) ||
        nowMs - m.stateSinceMs >= this.config.deadMemberReplacementMs)
    ) {
      this.leaving.delete(m.id);
      this.retired.add(m.id);
      return this.remove(m.id, nowMs);
    }
    // Dead and off the ring: it stays off until it comes back. Without this, the next review of
    // the dead (every second) took "leaving" or "normal" for a member heard of for the first time
    // and put it back, and the one after removed it again: the ring flapped for good.
    if (m.state === 'dead' && (this.retired.has(m.id) || m.status === 'leaving')) return false;
    if (m.state !== 'dead') this.retired.delete(m.id);
    switch (m.status) {
      case 'rejoining':
        return false;
      case 'joining':
        if (!this.members.has(m.id) && !this.joining.has(m.id) && m.state !== 'dead') {
          this.joining.add(m.id);
          this.invalidate();
        }
        return false;
      case 'normal':
        if (this.joining.delete(m.id)) this.invalidate();
        if (this.leaving.delete(m.id)) this.invalidate();
        return this.add(m.id, nowMs);
      case 'leaving': {
        // Only a member can be leaving; one heard of for the first time is a member still.
        const added = this.add(m.id, nowMs);
        if (!this.leaving.has(m.id)) {
          this.leaving.add(m.id);
          this.invalidate();
        }
        return added;
      }
    }
  }

  /**
   * Since when `id` has been dead as this placement first heard it (SWIM forgets the dead after
   * its retention time, which may end before deadMemberReplacementMs: the node keeps asking with
   * this time so the replacement still comes due). Undefined: never observed dead.
   */
  deadSinceMs(id: NodeId): number | undefined {
    return this.deadSince.get(id);
  }

  /** Adds a member to the read ring directly (this node finishing its own join). */
  add(id: NodeId, nowMs: number): boolean {
    if (this.members.has(id)) return false;
    this.remember(nowMs);
    this.members.add(id);
    this.joining.delete(id);
    this.invalidate();
    return true;
  }

  remove(id: NodeId, nowMs: number): boolean {
    if (!this.members.has(id)) return false;
    this.remember(nowMs);
    this.members.delete(id);
    this.invalidate();
    return true;
  }

  /** The N natural replicas of a key in the read ring. */
  replicas(keyId: number): NodeId[] {
    if (this.members.size === 0) return [];
    return this.ring().preferenceList(keyId, this.config.replicaCount);
  }

  /**
   * Where a write goes: the natural replicas (an unhealthy one replaced by the next healthy node
   * beyond them, holding the write as a hint), plus — during a membership change — the replicas
   * the key has in the rings before and after, which must acknowledge too.
   */
  writePlan(keyId: number, isHealthy: (id: NodeId) => boolean, nowMs: number): WritePlan {
    const targets = this.sloppyTargets(keyId, isHealthy);
    const extras = this.extraReplicas(keyId, nowMs);
    for (const id of extras) targets.push({ node: id, extra: true });
    const used = new Set(targets.map((t) => t.node));
    const ring = this.ring();
    const spares =
      ring.memberCount === 0
        ? []
        : ring.preferenceList(keyId, ring.memberCount).filter((id) => !used.has(id) && isHealthy(id));
    return { targets, spares, extra: extras.length };
  }

  /** Where a read goes: the natural replicas, with sloppy substitutes for unhealthy ones. */
  readTargets(keyId: number, isHealthy: (id: NodeId) => boolean): Target[] {
    return this.sloppyTargets(keyId, isHealthy);
  }

  /**
   * The acceptors of a key for consensus: the natural replicas plus the extra ones of a change in
   * progress; a quorum is a majority of the natural ones plus every extra one (strict: no
   * substitutes, so any two quorums meet, in either ring).
   */
  consensusPlan(keyId: number, nowMs: number): { replicas: NodeId[]; quorum: number } {
    const natural = this.replicas(keyId);
    const extras = this.extraReplicas(keyId, nowMs);
    return { replicas: [...natural, ...extras], quorum: Math.floor(natural.length / 2) + 1 + extras.length };
  }

  private sloppyTargets(keyId: number, isHealthy: (id: NodeId) => boolean): Target[] {
    if (this.members.size === 0) return [];
    const ring = this.ring();
    const walk = ring.preferenceList(keyId, ring.memberCount);
    const natural = walk.slice(0, this.config.replicaCount);
    const spares = walk.slice(this.config.replicaCount).filter((id) => isHealthy(id));
    const targets: Target[] = [];
    for (const id of natural) {
      if (isHealthy(id)) targets.push({ node: id });
      else {
        const spare = spares.shift();
        if (spare !== undefined) targets.push({ node: spare, hintFor: id });
      }
    }
    return targets;
  }

  /** Replicas of the key in the future ring and in recent previous rings, beyond the natural ones. */
  private extraReplicas(keyId: number, nowMs: number): NodeId[] {
    this.expire(nowMs);
    if (this.joining.size === 0 && this.leaving.size === 0 && this.previous.length === 0) return [];
    const natural = new Set(this.replicas(keyId));
    const extra = new Set<NodeId>();
    const consider = (ring: Ring) => {
      if (ring.memberCount === 0) return;
      for (const id of ring.preferenceList(keyId, this.config.replicaCount)) {
        if (!natural.has(id)) extra.add(id);
      }
    };
    if (this.joining.size > 0 || this.leaving.size > 0) consider(this.futureRing());
    for (const p of this.previous) consider(p.ring);
    return [...extra].sort();
  }

  private remember(nowMs: number): void {
    if (this.members.size > 0) {
      this.previous.push({ ring: this.ring(), untilMs: nowMs + this.config.transitionGraceMs });
      this.changes++;
    }
  }

  private expire(nowMs: number): void {
    if (this.previous.length === 0 || !this.everyoneAgrees) return;
    const kept = this.previous.filter((p) => p.untilMs > nowMs);
    if (kept.length === this.previous.length) return;
    this.previous = kept;
    this.changes++;
  }

  private invalidate(): void {
    this.changes++;
    this.readRing = null;
    this.nextRing = null;
    this.versionCache = null;
  }
}
