/**
 * The updates this node still has to spread, for piggybacking on its outgoing messages (SWIM
 * §4.1 infection-style dissemination; memberlist's TransmitLimitedQueue).
 *
 * Each update is sent on at most `transmitLimit` messages (retransmitMult · ceil(log10(N + 1))),
 * fewest-sent first and, among equals, newest first, so fresh news overtakes old news. Only the
 * newest update about a member is kept: older news about it is obsolete.
 */
import type { NodeId } from '../types.js';
import type { MemberUpdate } from './types.js';

interface Queued {
  update: MemberUpdate;
  transmits: number;
  /** Enqueue order: higher is newer. */
  order: number;
}

export class BroadcastQueue {
  private readonly queued = new Map<NodeId, Queued>();
  private enqueued = 0;

  /** Queues `update` for gossip, replacing whatever was queued about the same member. */
  enqueue(update: MemberUpdate): void {
    this.queued.set(update.id, { update, transmits: 0, order: this.enqueued++ });
  }

  /**
   * Up to `max` updates for one outgoing message, fewest-sent first. Counts them as sent and drops
   * those that have now been sent `transmitLimit` times.
   */
  take(max: number, transmitLimit: number): MemberUpdate[] {
    if (max <= 0 || this.queued.size === 0) return [];
    const chosen = [...this.queued.values()]
      .sort((a, b) => a.transmits - b.transmits || b.order - a.order)
      .slice(0, max);
    for (const q of chosen) {
      q.transmits++;
      if (q.transmits >= transmitLimit) this.queued.delete(q.update.id);
    }
    return chosen.map((q) => q.update);
  }

  /** The queued update about `id`, if any (for tests and diagnostics). */
  peek(id: NodeId): MemberUpdate | undefined {
    return this.queued.get(id)?.update;
  }

  get size(): number {
    return this.queued.size;
  }
}
