/**
 * What clients ask a node, what it answers, and what replicas say to each other.
 *
 * Any node coordinates any request (Dynamo's design): it finds the key's replicas on the ring and
 * runs the request at the consistency level the client chose.
 */
import type { KvRecord } from '../record.js';
import type { NodeId } from '../types.js';
import type { VersionVector } from '../version-vector.js';
import type { KeyedRecord, RingRange } from './anti-entropy.js';

/**
 * Per-request consistency.
 * - `one`, `quorum`, `all`: wait for 1, R (or W), or all N replicas; sloppy quorum with hinted
 *   handoff; concurrent writes settled by last-writer-wins on HLC timestamps (or kept as siblings).
 * - `linearizable`: per-key consensus (CASPaxos) over the key's N natural replicas, strict quorum.
 * - `session`: read-your-writes and monotonic reads through the causal context the client carries.
 */
export type Consistency = 'one' | 'quorum' | 'all' | 'linearizable' | 'session';
export const CONSISTENCY_LEVELS: readonly Consistency[] = ['one', 'quorum', 'all', 'linearizable', 'session'];

/** The causal context a session carries for a key: the version vector it has seen. */
export interface CausalContext {
  vv: VersionVector;
}

export type WriteCondition = 'always' | 'if-absent' | 'if-present';

export type KvRequest =
  | { op: 'get'; key: Uint8Array; consistency: Consistency; context?: CausalContext }
  | {
      op: 'set';
      key: Uint8Array;
      value: Uint8Array;
      consistency: Consistency;
      /** Absolute expiry in wall-clock ms, 0 for none; `keepTtl` keeps the current one (needs a read). */
      expiresAtMs: number;
      condition: WriteCondition;
      /** Return the previous value (SET … GET). */
      returnPrevious?: boolean;
      /** Keep the key's current expiry instead of `expiresAtMs` (SET … KEEPTTL). Through consensus. */
      keepTtl?: boolean;
      context?: CausalContext;
    }
  | { op: 'del'; key: Uint8Array; consistency: Consistency; context?: CausalContext }
  /** Adds `by` to the decimal integer stored at key (absent = 0). Always runs through consensus. */
  | { op: 'incr'; key: Uint8Array; by: number; consistency: Consistency }
  /** Sets `value` if the current value equals `expected` (null: absent). Always through consensus. */
  | {
      op: 'cas';
      key: Uint8Array;
      expected: Uint8Array | null;
      value: Uint8Array | null;
      consistency: Consistency;
    }
  /**
   * Appends `value` to the string at key (absent = empty); replies its new length. A result longer
   * than `maxBytes` (default 512 MiB, Redis's proto-max-bulk-len) is refused. Through consensus.
   */
  | { op: 'append'; key: Uint8Array; value: Uint8Array; maxBytes?: number; consistency: Consistency }
  /**
   * Overwrites the string at key from byte `offset`, zero-padding a shorter one; replies the new
   * length. An empty `value` changes nothing; a result longer than `maxBytes` (as for append) is
   * refused. Through consensus.
   */
  | {
      op: 'setrange';
      key: Uint8Array;
      offset: number;
      value: Uint8Array;
      maxBytes?: number;
      consistency: Consistency;
    }
  /** Adds the decimal float `by` to the float stored at key (absent = 0); replies the new text. Consensus. */
  | { op: 'incrbyfloat'; key: Uint8Array; by: string; consistency: Consistency }
  /** Deletes the key and replies the value it had. Through consensus. */
  | { op: 'getdel'; key: Uint8Array; consistency: Consistency }
  /**
   * Replies the value and changes its expiry: absolute wall-clock ms, 0 to persist, null to keep;
   * a time already past deletes the key. Through consensus.
   */
  | { op: 'getex'; key: Uint8Array; expiresAtMs: number | null; consistency: Consistency }
  /**
   * Sets the expiry of an existing key (absolute wall-clock ms; already past deletes it) when
   * every condition holds: nx (it has none), xx (it has one), gt/lt (later/earlier than the
   * current one, where none counts as infinite). `applied`: whether it was set. Through consensus.
   */
  | {
      op: 'expire';
      key: Uint8Array;
      expiresAtMs: number;
      conditions: ExpireCondition[];
      consistency: Consistency;
    }
  /** Removes the expiry; `applied` says whether there was one. Through consensus. */
  | { op: 'persist'; key: Uint8Array; consistency: Consistency }
  /** Reads whether the key exists and its expiry (`expiresAtMs`, 0 for none). Through consensus. */
  | { op: 'ttl'; key: Uint8Array; consistency: Consistency }
  /**
   * Lists the live keys of the whole cluster in ring order from ring position `fromId`, after
   * about `count` stored records (Redis's COUNT hint); `nextId` in the reply continues, null once
   * the scan has passed the top of the circle. At levels other than `one` each range is read on R
   * replicas and their versions reconciled (see replication/scan.ts). `countOnly` (DBSIZE): no
   * keys, `number` = live keys from `fromId` on, counted on one replica per range.
   */
  | { op: 'scan'; fromId: number; count: number; countOnly?: boolean; consistency: Consistency };

export type ExpireCondition = 'nx' | 'xx' | 'gt' | 'lt';

/**
 * Errors carry a stable code and whether the operation definitely did not happen (`definite`)
 * or may have happened (indefinite). Clients retry definite errors freely; indefinite ones only
 * when the operation is idempotent.
 */
export type ErrorCode =
  /** Fewer live replicas than the level needs; nothing was sent. Definite. */
  | 'QUORUM_UNAVAILABLE'
  /** Not enough answers before the deadline; some replicas may have applied it. Indefinite. */
  | 'TIMEOUT'
  /** Consensus kept losing to competing proposers until the deadline. */
  | 'CONTENTION'
  /** The value is not an integer, or the increment overflows. Definite. */
  | 'NOT_INTEGER'
  /** A request the node refuses as malformed or too large. Definite. */
  | 'BAD_REQUEST'
  /** The node is not serving yet (joining) or is shutting down. Definite. */
  | 'NOT_READY'
  /** Too many requests in flight. Definite. */
  | 'OVERLOADED';

export interface KvError {
  code: ErrorCode;
  definite: boolean;
  message: string;
}

export type KvReply =
  | {
      ok: true;
      /** get: the value (null: absent); set with returnPrevious: the previous value. */
      value?: Uint8Array | null;
      /** Concurrent values kept as siblings (get, when the keyspace keeps them). */
      siblings?: Uint8Array[];
      /** set/del/incr/cas: whether the write happened (false: NX/XX condition or CAS mismatch). */
      applied?: boolean;
      /** incr: the new value; append/setrange: the new length. */
      number?: number;
      /** ttl: the key's absolute expiry in wall-clock ms, 0 for none (`applied`: the key exists). */
      expiresAtMs?: number;
      /** scan: the live keys found, and where to continue (null: the scan is complete); countOnly: `number`. */
      keys?: Uint8Array[];
      nextId?: number | null;
      /** The causal context to carry into the next request on this key (session level). */
      context?: CausalContext;
      /**
       * Inside the core only: a batched consensus round's replies, one per member in order
       * (see batchTransition). The node hands each member its own; no client ever sees this.
       */
      batch?: KvReply[];
    }
  | { ok: false; error: KvError };

export function kvError(code: ErrorCode, definite: boolean, message: string): KvReply {
  return { ok: false, error: { code, definite, message } };
}

/** A Paxos ballot: (counter, proposer). Counters come from the HLC, so they rise with time, but
 * safety never depends on that: acceptors only compare ballots. */
export interface Ballot {
  n: number;
  node: NodeId;
}

/** Requests between replicas. */
export type ReplicaRequest =
  /** Read the local version of a key (`hintFor`: read the hint held for that node instead). */
  | { op: 'read'; key: Uint8Array; hintFor?: NodeId }
  /** Merge a version into the local one (`hintFor`: hold it as a hint for that node). */
  | { op: 'write'; key: Uint8Array; record: KvRecord; hintFor?: NodeId }
  /** CASPaxos phase 1, made under ring view `ring` (see Placement.version). */
  | { op: 'prepare'; key: Uint8Array; ballot: Ballot; ring?: string }
  /** CASPaxos phase 2. */
  | { op: 'accept'; key: Uint8Array; ballot: Ballot; record: KvRecord; ring?: string }
  /**
   * Anti-entropy: here is my Merkle tree of this range; send me your records where we differ
   * (at most `batch`, or the replica's own limit).
   */
  | { op: 'ae-compare'; range: RingRange; depth: number; root: number; leaves: number[]; batch?: number }
  /** Which members are on your ring? (A restarted node checks it was not replaced meanwhile.) */
  | { op: 'ring-view' }
  /** Anti-entropy: merge these records. */
  | { op: 'ae-push'; records: KeyedRecord[] }
  /**
   * SCAN: your records (values left out, tombstones included) at ring positions fromId..toId
   * (inclusive, not wrapping), at most about `limit`; answer where you stopped.
   */
  | { op: 'scan-range'; fromId: number; toId: number; limit: number }
  /** DBSIZE: how many live keys (at the coordinator's `nowMs`) you hold in each segment. */
  | { op: 'count-range'; segments: Array<{ fromId: number; toId: number }>; nowMs: number };

export type ReplicaResponse =
  | { op: 'read'; record: KvRecord | null }
  | { op: 'write' }
  | {
      op: 'prepare';
      /** false: a higher ballot was promised or accepted (`promised` says which). */
      promised: boolean;
      highest: Ballot | null;
      /** The ballot this acceptor last accepted, and the record it holds. */
      accepted: Ballot | null;
      record: KvRecord | null;
      /** Refused because the acceptor's view of the ring differs from the proposer's. */
      ringMismatch?: boolean;
    }
  | { op: 'accept'; accepted: boolean; highest: Ballot | null; ringMismatch?: boolean }
  /** The slices that differ and (some of) the responder's records in them. */
  | { op: 'ae-compare'; differing: number[]; records: KeyedRecord[] }
  | { op: 'ae-push' }
  /**
   * `unconfirmed`: the responder cannot vouch that its ring is current (it restarted and no peer
   * with a current ring has confirmed it yet), so it may miss members that joined while it was
   * down: a restarted member must not take its absence from it as "replaced" (see KvNode).
   */
  | { op: 'ring-view'; members: NodeId[]; unconfirmed?: boolean }
  /** Records from `fromId` up to `nextId` (exclusive; null: to the end of the segment). */
  | { op: 'scan-range'; records: KeyedRecord[]; nextId: number | null }
  /** One count per segment asked, in order. */
  | { op: 'count-range'; counts: number[] };

/** What an acceptor keeps for a key (the `paxos` table). */
export interface PaxosState {
  promised: Ballot | null;
  accepted: Ballot | null;
}

export function compareBallots(a: Ballot | null, b: Ballot | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  if (a.n !== b.n) return a.n < b.n ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}
