/**
 * The simulator's disk for nodes that keep tables (`StorageWrite`s): an ordered in-memory store
 * with LMDB's durability shape. Applied writes are visible at once; `flush()` makes them
 * durable; `crash()` loses everything applied since the last flush.
 *
 * Cost: one ordered table per storage table holds the visible state; an undo log records, for
 * each write applied since the last flush, what the key held before. `flush()` only drops the
 * log; `crash()` replays it backwards. Neither copies the store.
 *
 * Values are encoded on apply and decoded on every read with the same MessagePack settings as
 * the LMDB store (src/adapters/storage/codec.ts; the layering keeps the simulator from importing
 * adapters, so the two settings are kept alike by hand and held to it by the storage contract
 * suite, test/compliance/). A protocol that mutates a record it read cannot change the disk.
 */
import { Packr } from 'msgpackr';
import type { ScanOptions, StorageEntry, StorageReader, StorageWrite, Table } from '../core/storage.js';
import { EncodedTables, prepareWrites } from '../core/storage-table.js';
import type { SimStorage } from './storage.js';

// Same options as the LMDB store's codec; see its comments for what they guarantee.
const packr = new Packr({ useRecords: false, copyBuffers: true });

function encode(value: unknown): Uint8Array {
  return new Uint8Array(packr.pack(value));
}

function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes) as unknown;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Undo {
  table: Table;
  key: Uint8Array;
  /** What the key held before the write; undefined: it was absent. */
  previous: Uint8Array | undefined;
}

export class SimKvStorage implements SimStorage<StorageWrite>, StorageReader {
  private readonly tables = new EncodedTables(decode);
  private undo: Undo[] = [];

  /** How many applied writes a crash would lose now. */
  get unflushedWrites(): number {
    return this.undo.length;
  }

  apply(writes: readonly StorageWrite[]): void {
    for (const w of prepareWrites(writes, encode)) {
      const t = this.tables.table(w.table);
      const previous = w.encoded === null ? t.delete(w.key) : t.set(w.key, w.encoded);
      this.undo.push({ table: w.table, key: w.key, previous });
    }
  }

  flush(): void {
    this.undo = [];
  }

  crash(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const { table, key, previous } = this.undo[i];
      if (previous === undefined) this.tables.table(table).delete(key);
      else this.tables.table(table).set(key, previous);
    }
    this.undo = [];
  }

  get<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    return this.tables.get<T>(table, key);
  }

  /**
   * What a crash now would leave at `key`: its value as of the last flush. For checkers that ask
   * whether an acknowledged write really is durable (simulation only; linear in unflushed writes).
   */
  getDurable<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    for (const u of this.undo) {
      if (u.table === table && sameKey(u.key, key))
        return u.previous === undefined ? undefined : (decode(u.previous) as T);
    }
    return this.get<T>(table, key);
  }

  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[] {
    return this.tables.scan<T>(table, options);
  }

  count(table: Table): number {
    return this.tables.count(table);
  }
}
