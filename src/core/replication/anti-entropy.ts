/**
 * Merkle-tree anti-entropy (Dynamo §4.7): two replicas of a ring range compare hash trees of
 * what they hold and exchange only the records under subtrees whose hashes differ. It repairs
 * what hinted handoff and read repair missed — a write that reached too few replicas and was
 * never read again — so every replica converges even for keys nobody touches.
 *
 * The tree of a range splits it into `2^depth` equal slices of the identifier circle. A leaf's
 * hash is the XOR of its records' digests (so it does not depend on scan order and can be
 * updated incrementally later); an inner node hashes its two children. Equal roots mean equal
 * replicas (up to hash collisions); otherwise the leaves that differ name the slices to swap.
 */
import { murmur3x86_128 } from '../hash.js';
import { distance, RING_SIZE } from '../id.js';
import { type KvRecord, ringBound, splitDataKey } from '../record.js';
import type { StorageEntry, StorageReader } from '../storage.js';

/** A ring range (start, end]: the keys a virtual node owns. start = end means the whole circle. */
export interface RingRange {
  startExclusive: number;
  endInclusive: number;
}

export interface MerkleTree {
  depth: number;
  /** `2^depth` leaf hashes, in ring order from the start of the range. */
  leaves: number[];
  root: number;
}

const encoder = new TextEncoder();

/** What identifies a version: the key, the write that made it, and whether it is a deletion. */
export function recordDigest(key: Uint8Array, r: KvRecord): number {
  const tag = encoder.encode(
    `${r.hlc}/${r.writer}/${r.value === null ? 'x' : r.value.length}/${r.expiresAtMs}`,
  );
  const bytes = new Uint8Array(key.length + 1 + tag.length);
  bytes.set(key, 0);
  bytes.set(tag, key.length + 1);
  return murmur3x86_128(bytes, 0x5eed)[0];
}

/** Combines two 32-bit hashes into one (an inner tree node): integer mixing, no allocation. */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The records of a range, in ring order, at most `limit` (two scans when it wraps past zero). */
export function scanRange(reader: StorageReader, range: RingRange, limit: number): StorageEntry<KvRecord>[] {
  const start = (range.startExclusive + 1) % RING_SIZE;
  const end = range.endInclusive;
  const upTo = (id: number) => (id + 1 >= RING_SIZE ? undefined : ringBound(id + 1));
  if (range.startExclusive !== range.endInclusive && start <= end) {
    return reader.scan<KvRecord>('data', { start: ringBound(start), end: upTo(end), limit });
  }
  // Wraps: (start, max] then [0, end]. A whole-circle range is the same two scans.
  const first = reader.scan<KvRecord>('data', { start: ringBound(start), limit });
  if (first.length >= limit) return first;
  const second = reader.scan<KvRecord>('data', { end: upTo(end), limit: limit - first.length });
  return first.concat(second);
}

/** Which of the `2^depth` slices of the range holds identifier `id`. */
export function sliceOf(range: RingRange, depth: number, id: number): number {
  const span =
    range.startExclusive === range.endInclusive
      ? RING_SIZE
      : distance(range.startExclusive, range.endInclusive);
  const offset = distance(range.startExclusive, id) - 1; // in [0, span)
  return Math.min(2 ** depth - 1, Math.floor((offset / span) * 2 ** depth));
}

/** Builds the tree of a range from what `reader` holds (at most `scanLimit` records are read). */
export function buildTree(
  reader: StorageReader,
  range: RingRange,
  depth: number,
  scanLimit: number,
): MerkleTree {
  const leaves = new Array<number>(2 ** depth).fill(0);
  for (const e of scanRange(reader, range, scanLimit)) {
    const { id, userKey } = splitDataKey(e.key);
    const i = sliceOf(range, depth, id);
    leaves[i] = (leaves[i] ^ recordDigest(userKey, e.value)) >>> 0;
  }
  let level = leaves;
  while (level.length > 1) {
    const up: number[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(mix(level[i], level[i + 1]));
    level = up;
  }
  return { depth, leaves, root: level[0] };
}

/** The leaves where two trees of the same range and depth disagree. */
export function differingSlices(a: MerkleTree, b: MerkleTree): number[] {
  if (a.root === b.root) return [];
  const out: number[] = [];
  for (let i = 0; i < a.leaves.length; i++) if (a.leaves[i] !== b.leaves[i]) out.push(i);
  return out;
}

/** A record as anti-entropy ships it: the user key and its version. */
export interface KeyedRecord {
  key: Uint8Array;
  record: KvRecord;
}

/** The records of the given slices, at most `limit`, leaving out those `skip` names. */
export function recordsInSlices(
  reader: StorageReader,
  range: RingRange,
  depth: number,
  slices: readonly number[],
  scanLimit: number,
  limit: number,
  skip?: (key: Uint8Array, record: KvRecord) => boolean,
): KeyedRecord[] {
  const wanted = new Set(slices);
  const out: KeyedRecord[] = [];
  for (const e of scanRange(reader, range, scanLimit)) {
    const { id, userKey } = splitDataKey(e.key);
    if (!wanted.has(sliceOf(range, depth, id))) continue;
    if (skip?.(userKey, e.value)) continue;
    out.push({ key: userKey.slice(), record: e.value });
    if (out.length >= limit) break;
  }
  return out;
}
