/**
 * The knobs of the Chord protocol. Every interval is in virtual or real milliseconds alike: the
 * core only compares them with the `nowMs` it is given. docs/CHORD.md explains each choice.
 */
import { assert } from '../types.js';

export interface ChordConfig {
  /**
   * r, the length of each ring member's successor list (Chord, “Failures and Replication”). The ring stays connected
   * unless r consecutive members fail together, so with r = 2·log2 N it survives the
   * simultaneous failure of half the nodes with high probability (the paper's failure theorem
   * takes r = Ω(log N)). See `successorListLengthFor`.
   */
  successorListLength: number;
  /** How often each ring member runs stabilize(): ask its successor for its predecessor, notify it. */
  stabilizeIntervalMs: number;
  /**
   * How often each ring member runs fix_fingers(): one find_successor for the next finger that
   * may be stale. One answer also fills every following finger whose start it covers, so a full
   * refresh takes about log2 N + 1 rounds, not ID_BITS.
   */
  fixFingersIntervalMs: number;
  /** How often each ring member pings its predecessor (check_predecessor()). */
  checkPredecessorIntervalMs: number;
  /**
   * How long a request to one peer may stay unanswered before the peer counts as failed: the
   * stabilize and ping round trips and each forwarded hop of a lookup (acknowledged by the next
   * hop). Some multiple of the worst round-trip time; too small gives false suspicions.
   */
  rpcTimeoutMs: number;
  /** How long a whole lookup (a client's, or fix_fingers') may take before it fails with TIMEOUT. */
  lookupTimeoutMs: number;
  /** How long a joining ring member waits for the answer to its find_successor before retrying. */
  joinRetryIntervalMs: number;
  /**
   * How long a node that timed out (or left) is remembered as gone, so that stale successor
   * lists and predecessor pointers copied from other members do not bring it straight back.
   * Any message from the node itself clears the mark at once.
   */
  failedNodeMemoryMs: number;
  /** Capacity of the location cache (key range → owner) of each physical node; 0 disables it. */
  locationCacheEntries: number;
  /**
   * Whether closest_preceding_node weighs the successor list against the fingers on every hop
   * (the journal version of Chord does). It shortens lookups by about ½·log2 r hops, so path
   * lengths fall below the paper's ½·log2 N. Off: the successor list is used only when no live
   * finger precedes the key, as after failures.
   */
  successorListShortcut: boolean;
  /** How often one ring member re-routes a lookup whose next hop did not acknowledge it. */
  maxForwardAttempts: number;
}

/**
 * Defaults for a network whose round trip is a few milliseconds (the simulator's calm network,
 * a LAN). Maintenance traffic per ring member is about 1000/stabilizeIntervalMs·3 +
 * 1000/fixFingersIntervalMs·(log2 N + 2) messages per second.
 */
export const defaultChordConfig: ChordConfig = {
  successorListLength: 8,
  stabilizeIntervalMs: 250,
  fixFingersIntervalMs: 250,
  checkPredecessorIntervalMs: 1000,
  rpcTimeoutMs: 100,
  lookupTimeoutMs: 4000,
  joinRetryIntervalMs: 1000,
  failedNodeMemoryMs: 10_000,
  locationCacheEntries: 256,
  maxForwardAttempts: 8,
  successorListShortcut: false,
};

/** r = 2·⌈log2 N⌉ (at least 2): the successor list length that survives losing half the nodes. */
export function successorListLengthFor(nodes: number): number {
  return Math.max(2, 2 * Math.ceil(Math.log2(Math.max(2, nodes))));
}

/** The default configuration with `overrides`, checked. */
export function chordConfig(overrides: Partial<ChordConfig> = {}): ChordConfig {
  const config = { ...defaultChordConfig, ...overrides };
  assert(Number.isInteger(config.successorListLength) && config.successorListLength >= 1, 'r ≥ 1');
  for (const key of [
    'stabilizeIntervalMs',
    'fixFingersIntervalMs',
    'checkPredecessorIntervalMs',
    'rpcTimeoutMs',
    'lookupTimeoutMs',
    'joinRetryIntervalMs',
  ] as const) {
    assert(config[key] > 0, `${key} must be positive, or the periodic work never runs`);
  }
  assert(config.locationCacheEntries >= 0, 'the location cache cannot hold a negative number of entries');
  assert(config.maxForwardAttempts >= 1, 'a lookup needs at least one attempt per hop');
  return config;
}
