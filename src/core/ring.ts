/**
 * A static consistent-hashing ring (Chord's “Consistent Hashing”, after Karger et al.), computed
 * from a membership list. Every node that knows the same members with the same number of virtual
 * nodes computes the same ring, so this is the "truth" that tests compare the Chord protocol
 * against and that replication uses to place replicas.
 *
 * Each physical node owns `vnodesPerNode` virtual nodes at `vnodeIdentifier(nodeId, i)`. A key
 * identifier k belongs to successor(k): the first virtual node clockwise at or after k. So a
 * virtual node v owns the half-open range (predecessor(v), v].
 *
 * The ring is immutable: `withMember` and `withoutMember` return new rings. Queries use binary
 * search over the sorted virtual nodes; nothing on the hot path scans the ring.
 */
import { addId, inHalfOpen, vnodeIdentifier } from './id.js';
import { assert, type NodeId } from './types.js';

/** A ring member: one virtual node of a physical node. Chord's protocol calls it a node. */
export interface VirtualNode {
  /** Its identifier on the circle. */
  readonly id: number;
  /** The physical node that hosts it. */
  readonly node: NodeId;
  /** Which of the physical node's virtual nodes it is (0 … vnodesPerNode − 1). */
  readonly index: number;
}

/** The keys (startExclusive, endInclusive] on the circle; start = end means the whole circle. */
export interface IdRange {
  readonly startExclusive: number;
  readonly endInclusive: number;
}

export class Ring {
  /** Every virtual node, sorted by identifier. */
  readonly vnodes: readonly VirtualNode[];
  /** The physical members, sorted by name. */
  readonly members: readonly NodeId[];
  readonly vnodesPerNode: number;

  private constructor(members: readonly NodeId[], vnodes: readonly VirtualNode[], vnodesPerNode: number) {
    this.members = members;
    this.vnodes = vnodes;
    this.vnodesPerNode = vnodesPerNode;
  }

  /** The ring of `members`, each with `vnodesPerNode` virtual nodes. Duplicate names count once. */
  static fromMembers(members: Iterable<NodeId>, vnodesPerNode: number): Ring {
    assert(Number.isInteger(vnodesPerNode) && vnodesPerNode >= 1, 'a member owns at least one virtual node');
    const names = [...new Set(members)].sort();
    const vnodes: VirtualNode[] = [];
    for (const node of names) vnodes.push(...virtualNodesOf(node, vnodesPerNode));
    vnodes.sort(byId);
    assertDistinctIdentifiers(vnodes);
    return new Ring(names, vnodes, vnodesPerNode);
  }

  /** Number of ring members (virtual nodes). */
  get size(): number {
    return this.vnodes.length;
  }

  /** Number of physical members. */
  get memberCount(): number {
    return this.members.length;
  }

  has(nodeId: NodeId): boolean {
    const i = lowerBound(this.members, nodeId);
    return i < this.members.length && this.members[i] === nodeId;
  }

  /** Index in `vnodes` of successor(keyId): the first virtual node at or after keyId, wrapping. */
  successorIndex(keyId: number): number {
    assert(this.vnodes.length > 0, 'an empty ring has no successors');
    const vnodes = this.vnodes;
    let lo = 0;
    let hi = vnodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (vnodes[mid].id < keyId) lo = mid + 1;
      else hi = mid;
    }
    return lo === vnodes.length ? 0 : lo;
  }

  /** The virtual node that owns `keyId`: successor(keyId), Chord's definition of ownership. */
  successorOf(keyId: number): VirtualNode {
    return this.vnodes[this.successorIndex(keyId)];
  }

  /** The physical node that owns `keyId`. */
  ownerOf(keyId: number): NodeId {
    return this.successorOf(keyId).node;
  }

  /** The ring member just before identifier `id` (strictly counter-clockwise from it). */
  predecessorOf(id: number): VirtualNode {
    // The first member at or after id is at successorIndex(id); the one before it (wrapping)
    // is the last member strictly before id.
    const total = this.vnodes.length;
    return this.vnodes[(this.successorIndex(id) - 1 + total) % total];
  }

  /**
   * The first `n` DISTINCT physical nodes clockwise from `keyId`, starting with its owner:
   * where replicas of the key live. Fewer when the ring has fewer than `n` members.
   */
  preferenceList(keyId: number, n: number): NodeId[] {
    assert(Number.isInteger(n) && n >= 0, 'a preference list has a whole number of entries');
    const want = Math.min(n, this.members.length);
    const out: NodeId[] = [];
    if (want === 0) return out;
    const start = this.successorIndex(keyId);
    const total = this.vnodes.length;
    // Walks at most once around the ring; with few vnodes per node it stops after ~n steps.
    for (let step = 0; step < total && out.length < want; step++) {
      const node = this.vnodes[(start + step) % total].node;
      if (!out.includes(node)) out.push(node);
    }
    return out;
  }

  /** The `count` ring members that follow virtual node `id` clockwise (its successor list). */
  successorsOf(id: number, count: number): VirtualNode[] {
    const total = this.vnodes.length;
    const first = this.successorIndex(addId(id, 1));
    const out: VirtualNode[] = [];
    for (let step = 0; step < Math.min(count, total); step++) out.push(this.vnodes[(first + step) % total]);
    return out;
  }

  /** The virtual nodes of `nodeId` that are on this ring, sorted by identifier. */
  vnodesOf(nodeId: NodeId): VirtualNode[] {
    if (!this.has(nodeId)) return [];
    return virtualNodesOf(nodeId, this.vnodesPerNode).sort(byId);
  }

  /**
   * The ranges `nodeId` owns, one per virtual node: (predecessor(v), v]. With a single virtual
   * node on the whole ring the range is the whole circle (start = end).
   */
  ownedRanges(nodeId: NodeId): IdRange[] {
    return this.vnodesOf(nodeId).map((v) => ({
      startExclusive: this.predecessorOf(v.id).id,
      endInclusive: v.id,
    }));
  }

  /** Whether `nodeId` owns `keyId`. */
  owns(nodeId: NodeId, keyId: number): boolean {
    return this.ownedRanges(nodeId).some((r) => inHalfOpen(keyId, r.startExclusive, r.endInclusive));
  }

  /** A new ring with `nodeId` added (this ring if it is already a member). */
  withMember(nodeId: NodeId): Ring {
    if (this.has(nodeId)) return this;
    const added = virtualNodesOf(nodeId, this.vnodesPerNode).sort(byId);
    const vnodes = mergeSorted(this.vnodes, added);
    assertDistinctIdentifiers(vnodes);
    const members = [...this.members];
    members.splice(lowerBound(members, nodeId), 0, nodeId);
    return new Ring(members, vnodes, this.vnodesPerNode);
  }

  /** A new ring without `nodeId` (this ring if it is not a member). */
  withoutMember(nodeId: NodeId): Ring {
    if (!this.has(nodeId)) return this;
    return new Ring(
      this.members.filter((m) => m !== nodeId),
      this.vnodes.filter((v) => v.node !== nodeId),
      this.vnodesPerNode,
    );
  }
}

function virtualNodesOf(node: NodeId, count: number): VirtualNode[] {
  const out: VirtualNode[] = [];
  for (let index = 0; index < count; index++) out.push({ id: vnodeIdentifier(node, index), node, index });
  return out;
}

function byId(a: VirtualNode, b: VirtualNode): number {
  return a.id - b.id;
}

function mergeSorted(a: readonly VirtualNode[], b: readonly VirtualNode[]): VirtualNode[] {
  const out: VirtualNode[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i].id <= b[j].id)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

function assertDistinctIdentifiers(sorted: readonly VirtualNode[]): void {
  for (let i = 1; i < sorted.length; i++) {
    assert(
      sorted[i].id !== sorted[i - 1].id,
      `virtual nodes ${sorted[i - 1].node}#${sorted[i - 1].index} and ${sorted[i].node}#${sorted[i].index} ` +
        'hash to the same identifier; Chord needs distinct identifiers (rename one node)',
    );
  }
}

/** First index i with items[i] >= value (items sorted). */
function lowerBound(items: readonly string[], value: string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
