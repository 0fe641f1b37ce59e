/**
 * What Chord nodes say to each other and to clients. Messages go to a physical node; those for a
 * particular ring member name it by its identifier in `target`. Replies to a request carry the
 * `rpcId` (or `queryId`) the asker chose, so the asker matches them with what it is waiting for.
 */
import type { NodeId } from '../types.js';

/** A ring member's address: which physical node hosts it, and its identifier. */
export interface Address {
  readonly node: NodeId;
  readonly id: number;
}

/**
 * How a lookup reached its answer: `ring` by finger and successor-list routing, `cache` straight
 * to the owner remembered in the location cache, `stale-cache` when the remembered owner no longer
 * owned the key (or did not answer) and routing fell back to the ring.
 */
export type LookupRoute = 'ring' | 'cache' | 'stale-cache';

/** A find_successor query in flight. It travels with the message, so forwarding keeps no state. */
export interface Query {
  readonly queryId: number;
  /** The physical node waiting for the answer. */
  readonly origin: NodeId;
  readonly keyId: number;
  /** Times the query was forwarded from one ring member to another: the paper's path length. */
  readonly hops: number;
  readonly route: LookupRoute;
}

export type ChordMessage =
  /** n.find_successor(id) (Figure 5), recursive; `target: null` lets the receiver pick the member. */
  | {
      type: 'find_successor';
      target: number | null;
      query: Query;
      /** The sender waits for `find_successor_ack` with this id; null when it does not. */
      forwardId: number | null;
    }
  /** The next hop took the query over; the previous hop stops watching it. */
  | { type: 'find_successor_ack'; forwardId: number }
  /** The answer to a query, sent straight to its origin: `owner` owns (rangeStartId, owner.id]. */
  | { type: 'found'; queryId: number; owner: Address; rangeStartId: number; hops: number; route: LookupRoute }
  | { type: 'lookup_failed'; queryId: number; reason: LookupError }
  /** stabilize(): "successor, who is your predecessor?" (and, for the successor list, your list). */
  | { type: 'get_predecessor'; target: number; rpcId: number }
  | { type: 'predecessor_reply'; rpcId: number; predecessor: Address | null; successors: Address[] }
  /** notify(n'): "I think I might be your predecessor" (Figure 6). */
  | { type: 'notify'; target: number; sender: number }
  /** check_predecessor(): is the predecessor still there? */
  | { type: 'ping'; target: number; rpcId: number }
  | { type: 'pong'; rpcId: number }
  /** Graceful leave: "I am leaving; your successor list is now this". */
  | { type: 'leave_to_predecessor'; target: number; sender: number; successors: Address[] }
  /** Graceful leave: "I am leaving; your predecessor is now this". */
  | { type: 'leave_to_successor'; target: number; sender: number; predecessor: Address | null };

export type ChordMessageType = ChordMessage['type'];

/**
 * Definite lookup errors: `BAD_KEY` (keyId is not an integer in [0, 2^48)), `NOT_JOINED` (the
 * node is not on the ring yet), `UNREACHABLE` (every candidate next hop failed), `LEFT` (the
 * node left while the lookup was running); and `TIMEOUT`, when no answer came within
 * lookupTimeoutMs. A lookup changes nothing, so a client may retry any of them.
 */
export type LookupError = 'BAD_KEY' | 'NOT_JOINED' | 'UNREACHABLE' | 'LEFT' | 'TIMEOUT';

export type ChordRequest =
  /** Which ring member owns this key (hashed with identifierOf) or key identifier? */
  | { type: 'lookup'; key: string }
  | { type: 'lookup'; keyId: number }
  /** Leave the ring gracefully; the host stops the node after the reply. */
  | { type: 'leave' };

export type ChordReply =
  | { type: 'lookup'; ok: true; keyId: number; owner: Address; hops: number; route: LookupRoute }
  | { type: 'lookup'; ok: false; keyId: number; error: LookupError }
  | { type: 'leave'; ok: true };
