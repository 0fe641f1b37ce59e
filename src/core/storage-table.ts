/**
 * What every store shares, whichever host runs it: the ordered table behind the in-memory and
 * simulated stores, the limits of a storage key, and the validation of a write batch.
 *
 * It lives in the core because both the simulator (`src/sim`) and the adapters (`src/adapters`)
 * build on it and neither may import the other; it is pure data-structure code, no I/O. The
 * key limit is also something the protocol must respect when it forms keys (a user key longer
 * than `MAX_STORAGE_KEY_BYTES - 6` cannot be stored in `data`).
 */
import {
  compareBytes,
  type ScanOptions,
  type StorageEntry,
  type StorageWrite,
  TABLES,
  type Table,
} from './storage.js';
import { assert } from './types.js';

/**
 * The longest key a store accepts. LMDB's limit with its default 4 KiB pages (lmdb-js README,
 * "maximum key size is 1978 bytes"); every store enforces it so that a key that works in the
 * simulator also works on disk.
 */
export const MAX_STORAGE_KEY_BYTES = 1978;

export type StorageErrorCode =
  /** definite: the batch broke a rule (key size, table, value); nothing of it was applied */
  | 'STORAGE_INVALID_WRITE'
  /** definite: the store could not be opened (directory missing rights, not a directory, …) */
  | 'STORAGE_OPEN_FAILED'
  /** indefinite: a commit or flush failed; the batch may or may not be on disk. Stop the node. */
  | 'STORAGE_WRITE_FAILED'
  /** definite: the store is closed or closing; nothing was applied */
  | 'STORAGE_CLOSED';

/** A storage failure with a stable code, marked definite (it did not happen) or indefinite. */
export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly definite: boolean;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'StorageError';
    this.code = code;
    this.definite = code !== 'STORAGE_WRITE_FAILED';
  }
}

/** A write checked and ready for a store: key copied, value encoded (`null`: delete). */
export interface PreparedWrite {
  table: Table;
  key: Uint8Array;
  encoded: Uint8Array | null;
}

/**
 * Checks a whole batch before any of it is applied, so that a bad write is a definite error
 * that leaves the store untouched. Keys are copied into plain `Uint8Array`s (a caller that
 * reuses its key buffer cannot reorder a table); values are encoded with `encode`.
 */
export function prepareWrites(
  writes: readonly StorageWrite[],
  encode: (value: unknown) => Uint8Array,
): PreparedWrite[] {
  const out: PreparedWrite[] = [];
  for (const w of writes) {
    if (!TABLES.includes(w.table)) {
      throw new StorageError('STORAGE_INVALID_WRITE', `unknown table '${String(w.table)}'`);
    }
    if (!(w.key instanceof Uint8Array))
      throw new StorageError('STORAGE_INVALID_WRITE', 'keys are Uint8Arrays');
    if (!isStorableKey(w.key)) {
      throw new StorageError(
        'STORAGE_INVALID_WRITE',
        `key of ${w.key.length} bytes in '${w.table}': keys are 1 to ${MAX_STORAGE_KEY_BYTES} bytes`,
      );
    }
    if (w.value === undefined) {
      throw new StorageError('STORAGE_INVALID_WRITE', `undefined value in '${w.table}': use null to delete`);
    }
    let encoded: Uint8Array | null = null;
    if (w.value !== null) {
      try {
        encoded = encode(w.value);
      } catch (cause) {
        throw new StorageError('STORAGE_INVALID_WRITE', `value in '${w.table}' cannot be encoded`, { cause });
      }
    }
    out.push({ table: w.table, key: Uint8Array.from(w.key), encoded });
  }
  return out;
}

/** Whether a key can exist in a store (LMDB has no empty keys and a size limit). */
export function isStorableKey(key: Uint8Array): boolean {
  return key.length > 0 && key.length <= MAX_STORAGE_KEY_BYTES;
}

/** Whether `key` lies in [start, end); absent bounds are open. */
export function inRange(
  key: Uint8Array,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
): boolean {
  return (
    (start === undefined || compareBytes(key, start) >= 0) &&
    (end === undefined || compareBytes(key, end) < 0)
  );
}

interface Chunk<V> {
  keys: Uint8Array[];
  /** `prefixOf(keys[i])`: most comparisons end here, without touching the key's bytes. */
  prefixes: number[];
  values: V[];
}

/** A chunk splits in two above this many entries: an insert moves at most this many slots. */
const CHUNK_MAX_ENTRIES = 512;
/** A chunk that shrinks below this merges into its successor when both fit in one chunk. */
const CHUNK_MIN_ENTRIES = 128;
/** Bytes folded into a key's numeric prefix: 6 bytes stay below 2^53, and are a data key's ring id. */
const PREFIX_BYTES = 6;

/**
 * An ordered map from byte keys to values: a list of sorted chunks (as Python's
 * sortedcontainers). Finding a key is two binary searches (over chunk boundaries, then inside
 * one chunk), so get is O(log n) and an insert or delete moves at most `CHUNK_MAX_ENTRIES`
 * slots, plus the chunk list on a split — fast enough for millions of keys per table, with far
 * less code than a B-tree.
 *
 * Each entry also keeps its key's first six bytes as a number, compared before the bytes: the
 * searches then run over a dense array of numbers instead of chasing a pointer per key (three
 * to five times faster at 10^5 keys), and data keys, whose first six bytes are their ring id,
 * almost never need the byte comparison.
 *
 * The table keeps the key objects it is given; callers must not mutate them afterwards.
 */
export class SortedTable<V> {
  /** Non-empty, ordered chunks: every key of chunk i is below every key of chunk i+1. */
  private readonly chunks: Chunk<V>[] = [];
  /** The prefix of each chunk's last key: the search for a chunk stays in one dense array. */
  private readonly lastPrefixes: number[] = [];
  private entries = 0;

  get size(): number {
    return this.entries;
  }

  get(key: Uint8Array): V | undefined {
    const prefix = prefixOf(key);
    const c = this.chunkFor(key, prefix);
    if (c === this.chunks.length) return undefined;
    const chunk = this.chunks[c];
    const i = lowerBound(chunk, key, prefix);
    return i < chunk.keys.length && isSame(chunk, i, key, prefix) ? chunk.values[i] : undefined;
  }

  /** Inserts or replaces; returns the value it replaced. */
  set(key: Uint8Array, value: V): V | undefined {
    const prefix = prefixOf(key);
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], prefixes: [prefix], values: [value] });
      this.lastPrefixes.push(prefix);
      this.entries = 1;
      return undefined;
    }
    // A key above every key goes to the last chunk.
    const c = Math.min(this.chunkFor(key, prefix), this.chunks.length - 1);
    const chunk = this.chunks[c];
    const i = lowerBound(chunk, key, prefix);
    if (i < chunk.keys.length && isSame(chunk, i, key, prefix)) {
      const previous = chunk.values[i];
      chunk.values[i] = value;
      return previous;
    }
    chunk.keys.splice(i, 0, key);
    chunk.prefixes.splice(i, 0, prefix);
    chunk.values.splice(i, 0, value);
    this.entries++;
    if (i === chunk.keys.length - 1) this.lastPrefixes[c] = prefix;
    if (chunk.keys.length > CHUNK_MAX_ENTRIES) {
      const half = chunk.keys.length >> 1;
      this.chunks.splice(c + 1, 0, {
        keys: chunk.keys.splice(half),
        prefixes: chunk.prefixes.splice(half),
        values: chunk.values.splice(half),
      });
      this.lastPrefixes.splice(c, 0, chunk.prefixes[half - 1]);
    }
    return undefined;
  }

  /** Removes the key; returns the value it held. */
  delete(key: Uint8Array): V | undefined {
    const prefix = prefixOf(key);
    const c = this.chunkFor(key, prefix);
    if (c === this.chunks.length) return undefined;
    const chunk = this.chunks[c];
    const i = lowerBound(chunk, key, prefix);
    if (i === chunk.keys.length || !isSame(chunk, i, key, prefix)) return undefined;
    const previous = chunk.values[i];
    chunk.keys.splice(i, 1);
    chunk.prefixes.splice(i, 1);
    chunk.values.splice(i, 1);
    this.entries--;
    if (chunk.keys.length === 0) {
      this.chunks.splice(c, 1);
      this.lastPrefixes.splice(c, 1);
      return previous;
    }
    if (i === chunk.keys.length) this.lastPrefixes[c] = chunk.prefixes[i - 1];
    if (chunk.keys.length < CHUNK_MIN_ENTRIES && c + 1 < this.chunks.length) {
      const next = this.chunks[c + 1];
      if (chunk.keys.length + next.keys.length <= CHUNK_MAX_ENTRIES) {
        chunk.keys.push(...next.keys);
        chunk.prefixes.push(...next.prefixes);
        chunk.values.push(...next.values);
        this.chunks.splice(c + 1, 1);
        this.lastPrefixes.splice(c, 1);
      }
    }
    return previous;
  }

  /**
   * Visits entries with start ≤ key < end in ascending order until `visit` returns false.
   * The table must not be modified during the visit.
   */
  forRange(
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
    visit: (key: Uint8Array, value: V) => boolean,
  ): void {
    let c = 0;
    let i = 0;
    if (start !== undefined) {
      const prefix = prefixOf(start);
      c = this.chunkFor(start, prefix);
      if (c < this.chunks.length) i = lowerBound(this.chunks[c], start, prefix);
    }
    for (; c < this.chunks.length; c++, i = 0) {
      const { keys, values } = this.chunks[c];
      for (; i < keys.length; i++) {
        if (end !== undefined && compareBytes(keys[i], end) >= 0) return;
        if (!visit(keys[i], values[i])) return;
      }
    }
  }

  /** Checks every invariant of the structure (for tests; O(n)). */
  verify(): void {
    let total = 0;
    let previous: Uint8Array | null = null;
    assert(this.lastPrefixes.length === this.chunks.length, 'one last prefix per chunk');
    this.chunks.forEach((chunk, c) => {
      const n = chunk.keys.length;
      assert(n > 0 && n <= CHUNK_MAX_ENTRIES, `chunk ${c} holds 1 to ${CHUNK_MAX_ENTRIES} entries, not ${n}`);
      assert(chunk.prefixes.length === n && chunk.values.length === n, `chunk ${c}: parallel arrays agree`);
      assert(this.lastPrefixes[c] === chunk.prefixes[n - 1], `chunk ${c}: last prefix is current`);
      for (let i = 0; i < n; i++) {
        assert(
          chunk.prefixes[i] === prefixOf(chunk.keys[i]),
          `chunk ${c}, entry ${i}: prefix matches its key`,
        );
        assert(previous === null || compareBytes(previous, chunk.keys[i]) < 0, 'keys strictly ascend');
        previous = chunk.keys[i];
      }
      total += n;
    });
    assert(total === this.entries, `size ${this.entries} counts the ${total} entries`);
  }

  /** The index of the first chunk whose last key is ≥ key; `chunks.length` if none. */
  private chunkFor(key: Uint8Array, prefix: number): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = this.lastPrefixes[mid];
      const keys = p === prefix ? this.chunks[mid].keys : null;
      if ((keys === null ? p - prefix : compareBytes(keys[keys.length - 1], key)) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The first `PREFIX_BYTES` bytes as a number, short keys padded with zeros. Order-preserving:
 * prefixOf(a) < prefixOf(b) implies a < b (a padding zero only ever stands where the shorter
 * key has ended, and a key sorts before its extensions). Equal prefixes say nothing.
 */
function prefixOf(key: Uint8Array): number {
  let p = 0;
  for (let i = 0; i < PREFIX_BYTES; i++) p = p * 256 + (i < key.length ? key[i] : 0);
  return p;
}

/** compareBytes(chunk.keys[i], key), deciding on the prefixes when they differ. */
function compareAt<V>(chunk: Chunk<V>, i: number, key: Uint8Array, prefix: number): number {
  const p = chunk.prefixes[i];
  return p !== prefix ? p - prefix : compareBytes(chunk.keys[i], key);
}

function isSame<V>(chunk: Chunk<V>, i: number, key: Uint8Array, prefix: number): boolean {
  return chunk.prefixes[i] === prefix && compareBytes(chunk.keys[i], key) === 0;
}

/** The first index in the chunk whose key is ≥ key. */
function lowerBound<V>(chunk: Chunk<V>, key: Uint8Array, prefix: number): number {
  let lo = 0;
  let hi = chunk.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareAt(chunk, mid, key, prefix) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One sorted table of encoded values per storage table, read through a decoder: the shared body
 * of the in-memory stores (the adapter's MemoryStore and the simulator's disk), which differ only
 * in how they write (with or without an undo log) and which codec instance they use.
 */
export class EncodedTables {
  private readonly tables = new Map<Table, SortedTable<Uint8Array>>();

  constructor(private readonly decode: (bytes: Uint8Array) => unknown) {}

  table(table: Table): SortedTable<Uint8Array> {
    let t = this.tables.get(table);
    if (t === undefined) {
      t = new SortedTable<Uint8Array>();
      this.tables.set(table, t);
    }
    return t;
  }

  get<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    if (!isStorableKey(key)) return undefined;
    const encoded = this.table(table).get(key);
    return encoded === undefined ? undefined : (this.decode(encoded) as T);
  }

  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[] {
    const out: StorageEntry<T>[] = [];
    if (options.limit <= 0) return out;
    this.table(table).forRange(options.start, options.end, (key, encoded) => {
      out.push({ key: key.slice(), value: this.decode(encoded) as T });
      return out.length < options.limit;
    });
    return out;
  }

  count(table: Table): number {
    return this.table(table).size;
  }
}
