/**
 * The shape every protocol state machine in the core shares.
 *
 * A node never touches the world. The host (the real runtime or the simulator) feeds it
 * messages, client requests and ticks, each with the current time as an argument, and gets a
 * `Ready` batch back: state to persist, messages to send and replies to deliver. The host
 * persists `writes` before it releases the `outbox` and `replies` of the same batch, because
 * those may acknowledge the writes (etcd's raft `Ready`/`Advance` contract).
 */

/** A physical node's name, unique in a cluster (for example `n1` or `10.0.0.7:7000`). */
export type NodeId = string;

/** A message to send to another node. */
export interface Envelope<M> {
  to: NodeId;
  msg: M;
}

/** A reply to the client request with the same `requestId`. */
export interface Reply<R> {
  requestId: number;
  body: R;
}

/** A client request, tagged by the host with an id that the reply carries back. */
export interface ClientRequest<Q> {
  requestId: number;
  body: Q;
}

/** What one step of a node asks its host to do, in this order: persist, then send and reply. */
export interface Ready<M, R = never, W = never> {
  outbox: Envelope<M>[];
  replies: Reply<R>[];
  writes: W[];
}

export function emptyReady<M, R = never, W = never>(): Ready<M, R, W> {
  return { outbox: [], replies: [], writes: [] };
}

/**
 * A protocol node: a deterministic state machine. Given the same sequence of calls with the same
 * arguments (and the same seeded `Random`), it returns the same batches.
 */
export interface ProtocolNode<M, Q = never, R = never, W = never> {
  readonly id: NodeId;
  /** A message arrived from `from`. */
  step(from: NodeId, msg: M, nowMs: number): Ready<M, R, W>;
  /** Time passed; expire deadlines and start periodic work. */
  tick(nowMs: number): Ready<M, R, W>;
  /** A client asks something of this node. */
  request(req: ClientRequest<Q>, nowMs: number): Ready<M, R, W>;
}

/** Source of randomness handed to the core; seeded, so every choice replays. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** A uniformly chosen element; the array must not be empty. */
  pick<T>(items: readonly T[]): T;
  /** A fresh 32-bit seed for a child generator (so sub-components get independent streams). */
  fork(): Random;
}

/** Throws when an invariant is broken. The message says which one and why it must hold. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}
