/**
 * An in-memory store: one ordered table per storage table, nothing on disk.
 *
 * Values are copied, not frozen: each is encoded with the LMDB store's codec on `apply` and
 * decoded afresh on every read. A caller can therefore mutate what it wrote or read without
 * touching stored state, and a value that would not round-trip through LMDB does not here
 * either — tests on this store do not pass by accident of sharing. (Freezing cannot cover the
 * bytes of a `Uint8Array`, which is why copying was chosen.)
 */
import type { ScanOptions, StorageEntry, StorageWrite, Table } from '../../core/storage.js';
import { EncodedTables, prepareWrites, StorageError } from '../../core/storage-table.js';
import { decodeValue, encodeValue } from './codec.js';
import type { NodeStore } from './types.js';

export class MemoryStore implements NodeStore {
  private readonly tables = new EncodedTables(decodeValue);
  private closed = false;

  apply(writes: readonly StorageWrite[]): void {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'the memory store is closed');
    for (const w of prepareWrites(writes, encodeValue)) {
      if (w.encoded === null) this.tables.table(w.table).delete(w.key);
      else this.tables.table(w.table).set(w.key, w.encoded);
    }
  }

  get<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    return this.tables.get<T>(table, key);
  }

  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[] {
    return this.tables.scan<T>(table, options);
  }

  count(table: Table): number {
    return this.tables.count(table);
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
