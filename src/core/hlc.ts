/**
 * Hybrid logical clocks (Kulkarni et al., 2014): timestamps that follow physical time closely but
 * never go backwards and always exceed every timestamp a node has seen, so causally later writes
 * get larger timestamps even across skewed clocks. Used to order concurrent writes
 * (last-writer-wins) — never for safety of the linearizable path, which uses ballots.
 *
 * A timestamp is one integer: physical milliseconds × 1024 + a logical counter. Plain numbers
 * compare and encode cheaply; 2^53 / 1024 ms lasts until the year 2248. When more than 1023
 * events share a millisecond, the counter carries into the millisecond.
 */
export const HLC_LOGICAL_BITS = 10;
const LOGICAL = 2 ** HLC_LOGICAL_BITS;

export function hlcPhysicalMs(ts: number): number {
  return Math.floor(ts / LOGICAL);
}

export function hlcLogical(ts: number): number {
  return ts % LOGICAL;
}

export function makeHlc(physicalMs: number, logical: number): number {
  return physicalMs * LOGICAL + logical;
}

export class HybridClock {
  private last = 0;

  /** A timestamp for a local event at wall time `nowMs`: greater than every one issued or seen. */
  now(nowMs: number): number {
    const physical = makeHlc(Math.floor(nowMs), 0);
    this.last = physical > this.last ? physical : this.last + 1;
    return this.last;
  }

  /** Folds in a timestamp received from another node so later local events order after it. */
  observe(remote: number, nowMs: number): number {
    const physical = makeHlc(Math.floor(nowMs), 0);
    this.last = Math.max(physical, remote + 1, this.last + 1);
    return this.last;
  }

  /** The greatest timestamp issued or seen so far. */
  peek(): number {
    return this.last;
  }
}
