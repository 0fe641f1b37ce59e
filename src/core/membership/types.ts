/**
 * The vocabulary of SWIM membership (Das, Gupta, Motivala 2002): members with incarnation
 * numbers and states, the updates that gossip spreads, the messages on the wire and the events a
 * host sees. Plain data only, so messages serialise with msgpack or JSON unchanged.
 */
import type { Envelope, NodeId } from '../types.js';

/** What a member advertises about itself (vnodes, client ports, a status such as `normal`). */
export type Meta = Readonly<Record<string, string | number | boolean>>;

/**
 * SWIM §4.2's states, plus `left` (memberlist's graceful leave): `alive` answers probes;
 * `suspect` failed a probe and is given time to refute; `dead` stayed unrefuted (the paper's
 * "confirm"); `left` announced its own departure. `dead` and `left` are tombstones.
 */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** A member as one node sees it. */
export interface Member {
  readonly id: NodeId;
  /**
   * Raised only by the member itself (to refute a suspicion, change its meta, or come back after a
   * restart), so a higher incarnation is always newer news about the member.
   */
  readonly incarnation: number;
  readonly state: MemberState;
  readonly meta: Meta;
  /** Local time at which this node saw the member enter `state`. */
  readonly stateSinceMs: number;
}

/**
 * One piece of membership news, as gossip carries it and as a full-state sync lists it: "member
 * `id` is `state` at `incarnation`". `alive` updates carry the member's meta (an incarnation
 * fixes the meta); the others may omit it. `from` names who raised a suspicion or declared a
 * death, so independent suspicions can be counted (Lifeguard).
 */
export interface MemberUpdate {
  readonly id: NodeId;
  readonly incarnation: number;
  readonly state: MemberState;
  readonly meta?: Meta;
  readonly from?: NodeId;
}

/**
 * The wire protocol. Every failure-detector message (ping, ack, ping-req) piggybacks a bounded
 * number of updates: SWIM's infection-style dissemination (§4.1).
 */
export type SwimMessage =
  /** "Are you alive?" The receiver answers `ack` with the same `seq`. */
  | { type: 'ping'; seq: number; updates: MemberUpdate[] }
  /** The answer to a ping, or an ack relayed by the member that a `ping-req` asked to help. */
  | { type: 'ack'; seq: number; updates: MemberUpdate[] }
  /** "Please ping `target` for me and relay its ack with my `seq`" (SWIM §3.1 indirect probe). */
  | { type: 'ping-req'; seq: number; target: NodeId; updates: MemberUpdate[] }
  /** A newcomer's state (itself and whatever it knows), sent to a seed, which answers `join-ack`. */
  | { type: 'join'; members: MemberUpdate[] }
  | { type: 'join-ack'; members: MemberUpdate[] }
  /** Periodic anti-entropy: full states exchanged both ways (memberlist's push-pull). */
  | { type: 'push-pull'; members: MemberUpdate[] }
  | { type: 'push-pull-ack'; members: MemberUpdate[] }
  /** Updates only, nothing to answer: used to announce a graceful leave at once. */
  | { type: 'gossip'; updates: MemberUpdate[] };

export type SwimMessageType = SwimMessage['type'];

/**
 * What changed in this node's view of another member. `joined`: a member became known (or came
 * back after being dead or gone); `alive`: a suspicion was refuted; `meta`: an alive member changed
 * its meta. A node reports no events about itself.
 */
export interface MembershipEvent {
  type: 'joined' | 'alive' | 'suspect' | 'dead' | 'left' | 'meta';
  member: Member;
}

/** What one call into `Swim` asks the host to do: send these messages; and what changed. */
export interface SwimOutput {
  outbox: Envelope<SwimMessage>[];
  events: MembershipEvent[];
}
