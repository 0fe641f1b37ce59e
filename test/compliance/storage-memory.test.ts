/**
 * The storage contract for the two stores that live in memory: the in-memory store of the
 * adapters, and the simulator's store (which adds crashes that lose unflushed writes).
 */
import { MemoryStore } from '../../src/adapters/storage/memory.js';
import type { NodeStore } from '../../src/adapters/storage/types.js';
import type { ScanOptions, StorageEntry, StorageWrite, Table } from '../../src/core/storage.js';
import { StorageError } from '../../src/core/storage-table.js';
import { SimKvStorage } from '../../src/sim/kv-storage.js';
import { describeStorageContract } from './storage.contract.js';

describeStorageContract('memory', {
  open: async () => {
    const store = new MemoryStore();
    return { store, dispose: () => store.close() };
  },
  persists: false,
  crashes: false,
  modelRuns: 300,
});

/**
 * How a host would drive the simulator's store through the NodeStore interface: `flushed()`
 * is an immediate flush (the simulator itself schedules flushes after its fsync latency).
 */
class SimStoreHost implements NodeStore {
  private closed = false;

  constructor(private readonly sim: SimKvStorage) {}

  apply(writes: readonly StorageWrite[]): void {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'closed');
    this.sim.apply(writes);
  }

  get<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    return this.sim.get<T>(table, key);
  }

  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[] {
    return this.sim.scan<T>(table, options);
  }

  count(table: Table): number {
    return this.sim.count(table);
  }

  async flushed(): Promise<void> {
    this.sim.flush();
  }

  async close(): Promise<void> {
    if (!this.closed) this.sim.flush();
    this.closed = true;
  }
}

describeStorageContract('sim (kv-storage)', {
  open: async () => {
    const sim = new SimKvStorage();
    let host = new SimStoreHost(sim);
    const fixture = {
      store: host as NodeStore,
      reopen: async () => {
        await host.close();
        host = new SimStoreHost(sim);
        return host;
      },
      crash: async () => {
        sim.crash();
        host = new SimStoreHost(sim);
        return host;
      },
      dispose: () => host.close(),
    };
    return fixture;
  },
  persists: true,
  crashes: true,
  modelRuns: 300,
});
