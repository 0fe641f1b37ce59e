/**
 * Which of two pieces of news about a member wins (SWIM §4.2, with memberlist's treatment of
 * `dead` and `left`).
 *
 * The paper's rules, for updates about member M:
 *   - `alive` at incarnation j overrides `suspect` at i when j > i, and `alive` at i when j > i;
 *   - `suspect` at j overrides `suspect` at i when j > i, and `alive` at i when j >= i;
 *   - "confirm" (`dead`) overrides everything.
 *
 * All of them are one order: compare (incarnation, rank) lexicographically with
 * alive < suspect < dead < left, and the greater wins. The one departure is the last rule: here
 * `dead` and `left` at incarnation i override every state at incarnations <= i, but `alive` at a
 * higher incarnation overrides them. Only M itself raises its incarnation, so alive at j > i is M
 * speaking after it was declared dead: a false suspicion refuted late, or M restarted and rejoined.
 * The paper instead makes such a member rejoin under a new identity; memberlist does what we do.
 *
 * Because "newer" is a total order on (incarnation, rank), merging views is taking a maximum:
 * commutative, associative and idempotent. Any two nodes that have heard the same updates, in
 * any order and any number of times, hold the same view (a join-semilattice, which is what
 * makes push-pull anti-entropy converge).
 */
import type { MemberState } from './types.js';

/** Rank within one incarnation: the later in a member's life, the higher. */
export const STATE_RANK: Readonly<Record<MemberState, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 };

export interface Version {
  readonly incarnation: number;
  readonly state: MemberState;
}

/** Does `incoming` carry newer news about a member than `current`? */
export function supersedes(incoming: Version, current: Version): boolean {
  if (incoming.incarnation !== current.incarnation) return incoming.incarnation > current.incarnation;
  return STATE_RANK[incoming.state] > STATE_RANK[current.state];
}

/** `dead` and `left` members are tombstones: kept only to reject stale news, never probed. */
export function isTombstone(state: MemberState): boolean {
  return state === 'dead' || state === 'left';
}
