/**
 * The callee's memory of answers it gave, so a retried request is answered again instead of
 * being applied again (the lecture's "lost ACK problem": the work was done, the acknowledgement
 * was lost, the sender resends).
 *
 * Bounded two ways, evicting oldest first:
 * - by age: an entry lives `windowMs` from when its request was first seen. The window must
 *   exceed the longest span over which copies of one call can arrive (`callSpanMs`), so no retry
 *   outlives its entry (`assertRpcConfig` checks this).
 * - by count: at most `maxEntries`. An entry evicted for room before its window is up is a hole
 *   in the memory; the cache keeps `forgottenUntilMs`, the time until which a retry it does not
 *   recognise may be a copy of a forgotten one, so the caller can refuse it rather than apply it
 *   a second time.
 *
 * Entries sit in a Map in insertion order, which is first-seen order because the endpoint's
 * clock never goes backwards, so both evictions take from the front in O(1).
 */
import { assert } from '../types.js';

interface Entry<V> {
  firstSeenMs: number;
  value: V;
}

export interface DedupCacheInit {
  windowMs: number;
  maxEntries: number;
}

export interface DedupCacheStats {
  /** Entries dropped because their window passed (the normal way). */
  expired: number;
  /** Entries dropped for room while still inside their window (the cache is too small for the load). */
  evictedEarly: number;
}

export class DedupCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private lastNowMs = Number.NEGATIVE_INFINITY;
  /** Until this time a retry the cache does not know may be a copy of an entry evicted early. */
  private forgottenUntil = Number.NEGATIVE_INFINITY;
  readonly stats: DedupCacheStats = { expired: 0, evictedEarly: 0 };

  constructor(private readonly init: DedupCacheInit) {
    assert(init.windowMs > 0 && init.maxEntries >= 1, 'a dedup cache needs a window and room for one entry');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string, nowMs: number): V | undefined {
    this.expire(nowMs);
    return this.entries.get(key)?.value;
  }

  /** Records the first sighting of `key`. */
  add(key: string, value: V, nowMs: number): void {
    this.expire(nowMs);
    assert(
      !this.entries.has(key),
      'a request is recorded once, at its first sighting; copies find the entry',
    );
    while (this.entries.size >= this.init.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry<V>];
      this.entries.delete(oldestKey);
      this.stats.evictedEarly++;
      this.forgottenUntil = Math.max(this.forgottenUntil, oldest.firstSeenMs + this.init.windowMs);
    }
    this.entries.set(key, { firstSeenMs: nowMs, value });
  }

  /** Replaces the value of a live entry (a deferred answer arriving); false if it is gone. */
  update(key: string, value: V): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    entry.value = value;
    return true;
  }

  /** True while an unknown retry may be a copy of a request whose entry was evicted early. */
  mayHaveForgotten(nowMs: number): boolean {
    return nowMs < this.forgottenUntil;
  }

  /** Drops every entry whose window has passed. */
  expire(nowMs: number): void {
    assert(
      nowMs >= this.lastNowMs,
      'the cache is fed a clock that never goes backwards (first-seen order = map order)',
    );
    this.lastNowMs = nowMs;
    for (const [key, entry] of this.entries) {
      if (entry.firstSeenMs + this.init.windowMs > nowMs) break;
      this.entries.delete(key);
      this.stats.expired++;
    }
  }
}
