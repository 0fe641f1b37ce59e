/**
 * The location cache: key ranges whose owner a lookup has found, so that the next lookup for a
 * key in the same range goes straight to the owner in one hop (the Chord paper suggests
 * caching lookup results; CFS and DHash cache locations the same way). Entries may be stale: the owner
 * checks that it still owns the key, and the lookup falls back to the ring when it does not.
 *
 * Ranges never overlap: a new range replaces every entry it overlaps, which is how a newer
 * answer corrects an older one. Entries are kept sorted by their end, so a lookup is one binary
 * search. When full, the least recently used entry goes.
 */
import { inHalfOpen } from '../id.js';
import type { NodeId } from '../types.js';
import type { Address } from './messages.js';

interface Entry {
  startExclusive: number;
  owner: Address;
  lastUsed: number;
}

export class LocationCache {
  private readonly capacity: number;
  /** Sorted by owner.id, which is each range's inclusive end. */
  private entries: Entry[] = [];
  private useCounter = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.length;
  }

  /** The remembered owner of `keyId`, if a cached range holds it; counts as a use. */
  lookup(keyId: number): Address | undefined {
    const entry = this.find(keyId);
    if (entry) entry.lastUsed = ++this.useCounter;
    return entry?.owner;
  }

  /** Like `lookup`, without touching the recency order (for inspection). */
  peek(keyId: number): Address | undefined {
    return this.find(keyId)?.owner;
  }

  private find(keyId: number): Entry | undefined {
    if (this.entries.length === 0) return undefined;
    const i = this.firstEndingAtOrAfter(keyId);
    // Ranges do not overlap, so only the first range ending at or after the key can hold it.
    const entry = this.entries[i === this.entries.length ? 0 : i];
    return inHalfOpen(keyId, entry.startExclusive, entry.owner.id) ? entry : undefined;
  }

  /** Remembers that `owner` owns (startExclusive, owner.id], replacing what this contradicts. */
  remember(startExclusive: number, owner: Address): void {
    if (this.capacity === 0) return;
    const end = owner.id;
    this.entries = this.entries.filter(
      (e) => !(inHalfOpen(end, e.startExclusive, e.owner.id) || inHalfOpen(e.owner.id, startExclusive, end)),
    );
    if (this.entries.length >= this.capacity) this.evictLeastRecentlyUsed();
    const entry: Entry = { startExclusive, owner, lastUsed: ++this.useCounter };
    this.entries.splice(this.firstEndingAtOrAfter(end), 0, entry);
  }

  /** Forgets the ranges of one ring member (it did not answer, or did not own the key). */
  forgetOwner(ownerId: number): void {
    this.entries = this.entries.filter((e) => e.owner.id !== ownerId);
  }

  /** Forgets every range owned by a member of physical node `nodeId` (it failed or left). */
  forgetNode(nodeId: NodeId): void {
    this.entries = this.entries.filter((e) => e.owner.node !== nodeId);
  }

  private evictLeastRecentlyUsed(): void {
    let oldest = 0;
    for (let i = 1; i < this.entries.length; i++) {
      if (this.entries[i].lastUsed < this.entries[oldest].lastUsed) oldest = i;
    }
    this.entries.splice(oldest, 1);
  }

  private firstEndingAtOrAfter(id: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid].owner.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
