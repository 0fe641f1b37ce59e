/**
 * What the core knows of storage: a synchronous reader and the writes it asks its host to make.
 *
 * Reads are synchronous because both stores the hosts use answer from memory: LMDB is memory-
 * mapped, and the simulator's store is a sorted map. Writes never happen from the core: they go
 * out in `Ready.writes`, and the host applies them, makes them durable, and only then releases
 * the messages and replies of that batch. A host makes applied-but-not-yet-durable writes
 * visible to reads at once (read-your-own-writes inside the node); the release rule keeps that
 * from leaking: nothing that depends on a write leaves the node before the write is durable.
 *
 * Keys and values of the `data` table are bytes; values of the other tables are plain
 * msgpack-able objects the protocol modules define.
 */

/** The tables a node keeps. Each is an ordered map from byte keys to values. */
export type Table =
  /** user records, keyed by `dataKey(userKey)` so a ring range is a contiguous key range */
  | 'data'
  /** per-key consensus state for linearizable operations (promised and accepted ballots) */
  | 'paxos'
  /** hinted-handoff writes held for an unreachable replica */
  | 'hints'
  /** node metadata: identity, incarnation, cluster config */
  | 'meta';

export const TABLES: readonly Table[] = ['data', 'paxos', 'hints', 'meta'];

/** Put `value` at `key` in `table`; `value: null` deletes the key. */
export interface StorageWrite {
  table: Table;
  key: Uint8Array;
  value: unknown;
}

export interface StorageEntry<T = unknown> {
  key: Uint8Array;
  value: T;
}

export interface ScanOptions {
  /** First key (inclusive); the table's start when absent. */
  start?: Uint8Array;
  /** Last key (exclusive); the table's end when absent. */
  end?: Uint8Array;
  /** At most this many entries. */
  limit: number;
}

export interface StorageReader {
  get<T = unknown>(table: Table, key: Uint8Array): T | undefined;
  /** Entries with start ≤ key < end in ascending byte order, at most `limit`. */
  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[];
  /** Number of entries in a table (may be approximate in the middle of a write batch). */
  count(table: Table): number;
}

/** Byte-wise comparison of keys, the order both stores keep. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
