/**
 * A stored version of a user key, and how concurrent versions are settled.
 *
 * Every replica keeps, per key, the version it believes current: value bytes (or a tombstone),
 * the version vector of the writes it has seen, the hybrid-logical-clock timestamp of the write
 * and which coordinator made it, and an expiry. Replicas that disagree are reconciled with
 * `reconcile`, which is commutative, associative and idempotent, so replicas converge whatever
 * order the versions arrive in (read repair, hinted handoff and anti-entropy all use it).
 */
import { identifierOf } from './id.js';
import type { NodeId } from './types.js';
import { compareVectors, mergeVectors, type VersionVector } from './version-vector.js';

export interface KvVersion {
  /** The value bytes; null marks a deletion (a tombstone, kept for a grace period). */
  value: Uint8Array | null;
  /** HLC timestamp of the write that made this version. */
  hlc: number;
  /** The coordinator that made the write; breaks ties between equal timestamps. */
  writer: NodeId;
  /** Absolute expiry in wall-clock ms; 0 means never. */
  expiresAtMs: number;
}

export interface KvRecord extends KvVersion {
  /** Causal history of this record: every write it reflects. */
  vv: VersionVector;
  /**
   * Concurrent versions kept side by side when the keyspace asks for siblings instead of
   * last-writer-wins. Absent (or empty) in last-writer-wins mode. When present, the record's own
   * value is the last-writer-wins choice among them, so readers that ignore siblings still see
   * one deterministic value.
   */
  siblings?: KvVersion[];
  /**
   * Consensus only: the ballots of the last proposals that led to this record, newest last
   * (`n@node`). A coordinator that retries after a partial accept looks for its own earlier
   * ballot here to learn whether its operation already took effect (see consensus.ts).
   */
  chain?: string[];
}

export type ConflictMode = 'lww' | 'siblings';

/** Orders versions by (hlc, writer): the deterministic last-writer-wins order. */
export function laterVersion<T extends KvVersion>(a: T, b: T): T {
  if (a.hlc !== b.hlc) return a.hlc > b.hlc ? a : b;
  return a.writer >= b.writer ? a : b;
}

function sameVersion(a: KvVersion, b: KvVersion): boolean {
  return a.hlc === b.hlc && a.writer === b.writer;
}

/**
 * The record that reflects both a and b. A version that the other's vector descends from is
 * superseded; concurrent versions are settled by last-writer-wins on (hlc, writer), or kept as
 * siblings in `siblings` mode. Both vectors are merged, so the result descends from both.
 */
export function reconcile(a: KvRecord, b: KvRecord, mode: ConflictMode = 'lww'): KvRecord {
  const order = compareVectors(a.vv, b.vv);
  if (order === 'after') return a;
  if (order === 'before') return b;
  if (order === 'equal') {
    // Same causal history: the same write seen twice, or two records that a buggy peer
    // labelled alike. Pick deterministically so every replica picks the same.
    return laterVersion(a, b);
  }
  const vv = mergeVectors(a.vv, b.vv);
  if (mode === 'lww') {
    const w = laterVersion(a, b);
    const out: KvRecord = { value: w.value, hlc: w.hlc, writer: w.writer, expiresAtMs: w.expiresAtMs, vv };
    if (w.chain) out.chain = w.chain;
    return out;
  }
  const all = [...versionsOf(a), ...versionsOf(b)];
  const siblings: KvVersion[] = [];
  for (const v of all) if (!siblings.some((s) => sameVersion(s, v))) siblings.push(v);
  siblings.sort((x, y) => (laterVersion(x, y) === x ? -1 : 1));
  const w = siblings[0];
  return { value: w.value, hlc: w.hlc, writer: w.writer, expiresAtMs: w.expiresAtMs, vv, siblings };
}

/** The concurrent versions a record holds: its siblings, or itself alone. */
export function versionsOf(r: KvRecord): KvVersion[] {
  if (r.siblings && r.siblings.length > 0) return r.siblings;
  return [{ value: r.value, hlc: r.hlc, writer: r.writer, expiresAtMs: r.expiresAtMs }];
}

/** Whether the record reads as absent at `nowMs`: deleted, or expired. */
export function isAbsent(r: KvRecord | undefined, nowMs: number): boolean {
  return r === undefined || r.value === null || (r.expiresAtMs !== 0 && r.expiresAtMs <= nowMs);
}

const ID_BYTES = 6;

/**
 * The storage key of a user key: its 48-bit ring identifier, big-endian, then the key itself.
 * Sorting by this key sorts by ring position, so the keys of one ring range are one contiguous
 * key range: handoff, re-replication and anti-entropy read ranges with a single scan.
 */
export function dataKey(userKey: Uint8Array): Uint8Array {
  return dataKeyWithId(identifierOf(userKey), userKey);
}

export function dataKeyWithId(id: number, userKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(ID_BYTES + userKey.length);
  writeId(out, id);
  out.set(userKey, ID_BYTES);
  return out;
}

/** The smallest storage key at ring position `id` (a range bound for scans). */
export function ringBound(id: number): Uint8Array {
  const out = new Uint8Array(ID_BYTES);
  writeId(out, id);
  return out;
}

/** Splits a storage key into its ring identifier and the user key. */
export function splitDataKey(key: Uint8Array): { id: number; userKey: Uint8Array } {
  let id = 0;
  for (let i = 0; i < ID_BYTES; i++) id = id * 256 + key[i];
  return { id, userKey: key.subarray(ID_BYTES) };
}

function writeId(out: Uint8Array, id: number): void {
  let v = id;
  for (let i = ID_BYTES - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
}
