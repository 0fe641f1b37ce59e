/**
 * The replica side: how a node answers other nodes' requests about keys it stores. Every answer
 * is computed from local state alone; the writes it makes leave in the same Ready batch, so the
 * host makes them durable before the answer is sent (an acknowledgement means durable).
 */
import type { StepOverlay } from '../overlay.js';
import { type ConflictMode, dataKey, type KvRecord, reconcile } from '../record.js';
import type { NodeId } from '../types.js';
import { buildTree, differingSlices, recordsInSlices } from './anti-entropy.js';
import {
  type Ballot,
  compareBallots,
  type PaxosState,
  type ReplicaRequest,
  type ReplicaResponse,
} from './messages.js';

const encoder = new TextEncoder();

/** Where a hint for `target` is kept: the target's name, a zero byte, then the data key. */
export function hintKey(target: NodeId, dk: Uint8Array): Uint8Array {
  const name = encoder.encode(target);
  const out = new Uint8Array(name.length + 1 + dk.length);
  out.set(name, 0);
  out.set(dk, name.length + 1);
  return out;
}

/** The key range holding every hint for `target`. */
export function hintRange(target: NodeId): { start: Uint8Array; end: Uint8Array } {
  const name = encoder.encode(target);
  const start = new Uint8Array(name.length + 1);
  start.set(name, 0);
  const end = new Uint8Array(name.length + 1);
  end.set(name, 0);
  end[name.length] = 1;
  return { start, end };
}

/** The most records one anti-entropy answer carries, whatever the asker wants (frame size). */
const MAX_BATCH = 4096;

export interface ReplicaConfig {
  conflictMode: ConflictMode;
  /** Anti-entropy: at most this many records are read to build a tree. */
  antiEntropyScanLimit: number;
  /** Anti-entropy: at most this many records go back in one answer. */
  antiEntropyBatch: number;
  /** This node's ring view, which consensus requests must match (absent: not checked). */
  ringVersion?: () => string;
}

export class Replica {
  constructor(
    private readonly store: StepOverlay,
    private readonly config: ReplicaConfig,
  ) {}

  handle(req: Exclude<ReplicaRequest, { op: 'ring-view' | 'scan-range' | 'count-range' }>): ReplicaResponse {
    switch (req.op) {
      case 'read':
        return { op: 'read', record: this.readRecord(req.key, req.hintFor) };
      case 'write':
        this.mergeRecord(req.key, req.record, req.hintFor);
        return { op: 'write' };
      case 'prepare':
        if (this.ringDiffers(req.ring)) {
          return {
            op: 'prepare',
            promised: false,
            highest: null,
            accepted: null,
            record: null,
            ringMismatch: true,
          };
        }
        return this.prepare(req.key, req.ballot);
      case 'accept':
        if (this.ringDiffers(req.ring))
          return { op: 'accept', accepted: false, highest: null, ringMismatch: true };
        return this.accept(req.key, req.ballot, req.record);
      case 'ae-compare': {
        const mine = buildTree(this.store, req.range, req.depth, this.config.antiEntropyScanLimit);
        const differing = differingSlices(mine, { depth: req.depth, root: req.root, leaves: req.leaves });
        const records =
          differing.length === 0
            ? []
            : recordsInSlices(
                this.store,
                req.range,
                req.depth,
                differing,
                this.config.antiEntropyScanLimit,
                Math.min(req.batch ?? this.config.antiEntropyBatch, MAX_BATCH),
              );
        return { op: 'ae-compare', differing, records };
      }
      case 'ae-push':
        for (const r of req.records) this.mergeRecord(r.key, r.record);
        return { op: 'ae-push' };
    }
  }

  /**
   * Consensus needs every quorum to meet every other. Quorums drawn from different views of the
   * ring need not, so an acceptor takes part only in proposals made under its own view; the
   * proposer retries once gossip has brought the views together.
   */
  private ringDiffers(proposerRing: string | undefined): boolean {
    return (
      proposerRing !== undefined &&
      this.config.ringVersion !== undefined &&
      proposerRing !== this.config.ringVersion()
    );
  }

  readRecord(key: Uint8Array, hintFor?: NodeId): KvRecord | null {
    const dk = dataKey(key);
    if (hintFor !== undefined) return this.store.get<KvRecord>('hints', hintKey(hintFor, dk)) ?? null;
    return this.store.get<KvRecord>('data', dk) ?? null;
  }

  /** Merges a version into what this node holds; returns the merged record. */
  mergeRecord(key: Uint8Array, incoming: KvRecord, hintFor?: NodeId): KvRecord {
    const dk = dataKey(key);
    const table = hintFor === undefined ? 'data' : 'hints';
    const storeKey = hintFor === undefined ? dk : hintKey(hintFor, dk);
    const existing = this.store.get<KvRecord>(table, storeKey);
    const merged = existing ? reconcile(existing, incoming, this.config.conflictMode) : incoming;
    if (merged !== existing) this.store.put(table, storeKey, merged);
    return merged;
  }

  private paxosState(dk: Uint8Array): PaxosState {
    return this.store.get<PaxosState>('paxos', dk) ?? { promised: null, accepted: null };
  }

  /**
   * CASPaxos phase 1: promise never to accept a ballot lower than `ballot`, and report what was
   * accepted. Refused when a higher ballot was promised or accepted. Promising the same ballot
   * again is harmless, so a retried prepare gets the same answer (requests are idempotent).
   */
  private prepare(key: Uint8Array, ballot: Ballot): ReplicaResponse {
    const dk = dataKey(key);
    const st = this.paxosState(dk);
    const record = this.store.get<KvRecord>('data', dk) ?? null;
    if (compareBallots(ballot, st.promised) < 0 || compareBallots(ballot, st.accepted) <= 0) {
      return {
        op: 'prepare',
        promised: false,
        highest: maxBallot(st.promised, st.accepted),
        accepted: st.accepted,
        record,
      };
    }
    this.store.put('paxos', dk, { promised: ballot, accepted: st.accepted } satisfies PaxosState);
    return { op: 'prepare', promised: true, highest: ballot, accepted: st.accepted, record };
  }

  /**
   * CASPaxos phase 2: accept the proposed record unless a higher ballot was promised meanwhile.
   * The accepted record is merged into the data table, where ordinary reads find it; its
   * timestamp is the ballot's, so last-writer-wins order and ballot order agree. A proposer
   * sends one record per ballot, so accepting a ballot already accepted repeats the same accept.
   */
  private accept(key: Uint8Array, ballot: Ballot, record: KvRecord): ReplicaResponse {
    const dk = dataKey(key);
    const st = this.paxosState(dk);
    if (compareBallots(ballot, st.promised) < 0 || compareBallots(ballot, st.accepted) < 0) {
      return { op: 'accept', accepted: false, highest: maxBallot(st.promised, st.accepted) };
    }
    this.store.put('paxos', dk, { promised: ballot, accepted: ballot } satisfies PaxosState);
    this.mergeRecord(key, record);
    return { op: 'accept', accepted: true, highest: ballot };
  }
}

function maxBallot(a: Ballot | null, b: Ballot | null): Ballot | null {
  return compareBallots(a, b) >= 0 ? a : b;
}
