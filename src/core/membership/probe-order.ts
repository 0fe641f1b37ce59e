/**
 * SWIM §4.3's round-robin probe target selection: members are probed in a random order, one per
 * protocol period; when the list is exhausted it is reshuffled. Every member is then probed once
 * per round of (N − 1) picks, so a failed member is probed by each live member within
 * 2(N − 1) − 1 picks ("time-bounded strong completeness"), where picking uniformly at random
 * gives only an expected bound. New members are inserted at uniformly random positions.
 */
import type { NodeId, Random } from '../types.js';

export class ProbeOrder {
  private order: NodeId[] = [];
  private readonly listed = new Set<NodeId>();
  private nextIndex = 0;

  constructor(private readonly random: Random) {}

  /**
   * The next member to probe. `probeable(id)` says whether a listed member may still be probed
   * (a dead one is skipped); `candidates()` lists every probeable member for the next round.
   */
  next(probeable: (id: NodeId) => boolean, candidates: () => NodeId[]): NodeId | undefined {
    for (let round = 0; round < 2; round++) {
      while (this.nextIndex < this.order.length) {
        const id = this.order[this.nextIndex++];
        if (probeable(id)) return id;
      }
      this.startRound(candidates());
      if (this.order.length === 0) return undefined;
    }
    return undefined;
  }

  /** Adds a newly known member at a uniformly random position of the list (SWIM §4.3). */
  insert(id: NodeId): void {
    if (this.listed.has(id)) return;
    const at = this.random.int(this.order.length + 1);
    this.order.splice(at, 0, id);
    this.listed.add(id);
    // A member inserted before the cursor waits until the next round, as the paper's list does.
    if (at < this.nextIndex) this.nextIndex++;
  }

  private startRound(candidates: NodeId[]): void {
    this.order = shuffle(candidates, this.random);
    this.listed.clear();
    for (const id of this.order) this.listed.add(id);
    this.nextIndex = 0;
  }
}

/** Fisher–Yates, in place; returns `items`. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** Up to `k` distinct elements of `items` chosen uniformly at random. */
export function sample<T>(items: readonly T[], k: number, random: Random): T[] {
  const copy = [...items];
  const n = Math.min(k, copy.length);
  // A partial Fisher–Yates: the first n positions end up a uniform sample.
  for (let i = 0; i < n; i++) {
    const j = i + random.int(copy.length - i);
    const tmp = copy[i];
    copy[i] = copy[j];
    copy[j] = tmp;
  }
  return copy.slice(0, n);
}
