/**
 * A node's tables in one LMDB environment (lmdb-js): one directory per node, one named
 * database per table, raw byte keys in LMDB's own byte-wise order, values encoded by
 * `codec.ts` (plain MessagePack).
 *
 * Writes. `apply` hands a batch to lmdb-js inside `batch()`, which puts the whole batch into one
 * transaction (atomic on disk) committed by lmdb-js's writer thread, together with whatever
 * else was applied in the same event turn. lmdb-js makes an async put readable only once its
 * transaction commits (its `cache` option would show pending puts to `get` but never to range
 * reads), so the store keeps a pending overlay: every write not yet committed, consulted first
 * by `get` and merged into `scan` and `count`. A batch's overlay entries are dropped when its
 * transaction commits; lmdb-js renews its read snapshot before it resolves the commit, so at
 * every moment a read sees the newest applied value.
 *
 * Durability (docs/STORAGE.md). `flush`, the default: LMDB syncs every transaction
 * (`overlappingSync`: the commit is made visible, then synced outside LMDB's write lock), and
 * `flushed()` resolves once lmdb-js reports the sync. `relaxed`: the environment runs with
 * MDB_NOSYNC, `flushed()` resolves at the commit (the pages are in the OS's cache and survive
 * a crash of the process), and a timer syncs the environment every `relaxedSyncIntervalMs`,
 * which bounds what a power loss can take. A plain commit cannot serve as `relaxed` with
 * `overlappingSync` on: lmdb-js 3.5 resolves a commit only after its sync.
 *
 * Map size. lmdb-js starts with a small map and grows it automatically (it doubles the map
 * when a transaction needs pages beyond it), so there is no size to choose and no
 * MDB_MAP_FULL short of a full disk or address space; `initialMapSizeBytes` only saves the
 * first few remaps of a store known to be large.
 */
import { type Database, open, type RootDatabase } from 'lmdb';
import type { ScanOptions, StorageEntry, StorageWrite, Table } from '../../core/storage.js';
import { TABLES } from '../../core/storage.js';
import {
  inRange,
  isStorableKey,
  type PreparedWrite,
  prepareWrites,
  StorageError,
} from '../../core/storage-table.js';
import { decodeValue, encodeValue } from './codec.js';
import type { Durability, NodeStore } from './types.js';

export interface LmdbStoreInit {
  /** The node's directory; created if absent. Opening an existing one brings its data back. */
  path: string;
  /** When `flushed()` resolves: on disk (`flush`, the default) or committed (`relaxed`). */
  durability?: Durability;
  /** The map to start with; it grows by doubling as data grows. Default: lmdb-js's (128 KiB). */
  initialMapSizeBytes?: number;
  /**
   * `relaxed` only: how often committed writes are synced to disk. It is the window of
   * acknowledged writes a power loss or kernel crash may take (as Redis's `appendfsync
   * everysec`). Default 1000 ms.
   */
  relaxedSyncIntervalMs?: number;
}

/** lmdb-js's environment sync (mdb_env_sync on a worker thread); present but not in its types. */
interface EnvSync {
  sync(callback: (error?: Error | null) => void): void;
}

/** A write the store has applied but LMDB has not committed yet. */
interface Pending {
  key: Uint8Array;
  encoded: Uint8Array | null;
  /** The batch that wrote it last; only that batch's commit may drop it. */
  batch: number;
}

type Tables = Record<Table, Database<Uint8Array, Uint8Array>>;

export class LmdbStore implements NodeStore {
  readonly path: string;
  readonly durability: Durability;
  private readonly root: RootDatabase<Uint8Array, Uint8Array>;
  private readonly dbs: Tables;
  /** Per table: writes applied and not yet committed, by `slot(key)`. */
  private readonly pending = new Map<Table, Map<string, Pending>>();
  private batchesApplied = 0;
  /** Settles once the last applied batch has committed (or failed). */
  private lastCommit: Promise<void> = Promise.resolve();
  private failure: StorageError | null = null;
  private closing: Promise<void> | null = null;
  /** `relaxed`: batches committed, and how many of them a finished sync covers. */
  private batchesCommitted = 0;
  private batchesSynced = 0;
  private syncing: Promise<void> | null = null;
  private readonly syncTimer: NodeJS.Timeout | null = null;

  /** Opens (or creates) the environment at `init.path`. Throws `STORAGE_OPEN_FAILED`. */
  static open(init: LmdbStoreInit): LmdbStore {
    let root: RootDatabase<Uint8Array, Uint8Array>;
    const relaxed = init.durability === 'relaxed';
    try {
      root = open<Uint8Array, Uint8Array>({
        path: init.path,
        // A directory even if its name has a dot in it (lmdb-js would take it for a file name).
        noSubdir: false,
        maxDbs: TABLES.length + 2,
        keyEncoding: 'binary',
        encoding: 'binary',
        // Stated although `flush` gets lmdb-js's Linux defaults: the durability contract rests
        // on them. `relaxed` trades them for commits without a sync, and syncs on a timer.
        overlappingSync: !relaxed,
        noSync: relaxed,
        ...(init.initialMapSizeBytes === undefined ? {} : { mapSize: init.initialMapSizeBytes }),
      });
    } catch (cause) {
      throw new StorageError('STORAGE_OPEN_FAILED', `cannot open LMDB at ${init.path}: ${messageOf(cause)}`, {
        cause,
      });
    }
    try {
      const dbs = {} as Tables;
      for (const table of TABLES) {
        dbs[table] = root.openDB<Uint8Array, Uint8Array>(table, {
          keyEncoding: 'binary',
          encoding: 'binary',
        });
      }
      return new LmdbStore(init, root, dbs);
    } catch (cause) {
      void root.close();
      throw new StorageError(
        'STORAGE_OPEN_FAILED',
        `cannot open tables at ${init.path}: ${messageOf(cause)}`,
        {
          cause,
        },
      );
    }
  }

  private constructor(init: LmdbStoreInit, root: RootDatabase<Uint8Array, Uint8Array>, dbs: Tables) {
    this.path = init.path;
    this.durability = init.durability ?? 'flush';
    this.root = root;
    this.dbs = dbs;
    for (const table of TABLES) this.pending.set(table, new Map());
    if (this.durability === 'relaxed') {
      const intervalMs = init.relaxedSyncIntervalMs ?? 1000;
      // A failed sync is recorded in `failure`; unref: the timer alone keeps no process alive.
      this.syncTimer = setInterval(() => this.syncRelaxed().catch(() => {}), intervalMs).unref();
    }
  }

  /** Writes applied and not yet committed (a gauge for metrics and tests). */
  get uncommittedWrites(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.size;
    return n;
  }

  apply(writes: readonly StorageWrite[]): void {
    this.assertWritable();
    const prepared = prepareWrites(writes, encodeValue);
    if (prepared.length === 0) return;
    const batch = ++this.batchesApplied;
    // One batch, one transaction; lmdb-js queues it for its writer thread and returns.
    const committed = this.root.batch(() => {
      for (const w of prepared) {
        const db = this.dbs[w.table];
        if (w.encoded === null) void db.remove(w.key);
        else void db.put(w.key, w.encoded);
      }
    });
    for (const w of prepared) {
      this.pendingOf(w.table).set(slot(w.key), { key: w.key, encoded: w.encoded, batch });
    }
    this.lastCommit = committed.then(
      () => this.onCommitted(batch, prepared),
      (cause: unknown) => this.onFailed(batch, cause),
    );
  }

  get<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    this.assertReadable();
    if (!isStorableKey(key)) return undefined;
    const pending = this.pendingOf(table);
    const p = pending.size === 0 ? undefined : pending.get(slot(key));
    if (p !== undefined) return p.encoded === null ? undefined : (decodeValue(p.encoded) as T);
    // The fast read reuses one buffer; decoding copies out of it at once.
    const bytes = this.dbs[table].getBinaryFast(key);
    return bytes === undefined ? undefined : (decodeValue(bytes) as T);
  }

  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[] {
    this.assertReadable();
    const out: StorageEntry<T>[] = [];
    const { start, end, limit } = options;
    if (limit <= 0) return out;
    const lower = start !== undefined && start.length > 0 ? start : undefined;
    if (lower !== undefined && end !== undefined && compare(lower, end) >= 0) return out;
    if (end !== undefined && end.length === 0) return out;

    // Pending writes in range, in key order; each shadows the committed entry with its key.
    const pending = [...this.pendingOf(table).values()]
      .filter((p) => inRange(p.key, lower, end))
      .sort((a, b) => compare(a.key, b.key));
    let next = 0;
    const emit = (key: Uint8Array, encoded: Uint8Array): boolean => {
      out.push({ key, value: decodeValue(encoded) as T });
      return out.length < limit;
    };
    /** Emits pending entries below `bound` (all when absent); false once the limit is hit. */
    const emitPendingBelow = (bound: Uint8Array | undefined): boolean => {
      while (next < pending.length && (bound === undefined || compare(pending[next].key, bound) < 0)) {
        const p = pending[next++];
        if (p.encoded !== null && !emit(p.key.slice(), p.encoded)) return false;
      }
      return true;
    };

    const range = this.dbs[table].getRange({
      ...(lower === undefined ? {} : { start: lower }),
      ...(end === undefined ? {} : { end }),
    });
    for (const entry of range) {
      const key = new Uint8Array(entry.key);
      if (!emitPendingBelow(key)) return out;
      if (next < pending.length && compare(pending[next].key, key) === 0) continue; // shadowed
      if (!emit(key, entry.value)) return out;
    }
    emitPendingBelow(undefined);
    return out;
  }

  count(table: Table): number {
    this.assertReadable();
    const db = this.dbs[table];
    let n = entryCountOf(db.getStats());
    for (const p of this.pendingOf(table).values()) {
      const committed = db.doesExist(p.key);
      if (p.encoded === null && committed) n--;
      else if (p.encoded !== null && !committed) n++;
    }
    return n;
  }

  async flushed(): Promise<void> {
    await this.lastCommit;
    if (this.failure) throw this.failure;
    if (this.durability === 'flush') await this.flushedByLmdb();
  }

  close(): Promise<void> {
    if (this.closing === null) {
      if (this.syncTimer !== null) clearInterval(this.syncTimer);
      this.closing = (async () => {
        try {
          // A graceful close leaves everything on disk, in relaxed mode too.
          await this.lastCommit;
          if (this.durability === 'flush') await this.flushedByLmdb();
          else await this.syncRelaxed();
        } finally {
          await this.root.close();
        }
      })();
    }
    return this.closing;
  }

  /** `flush` mode: resolves when lmdb-js reports every commit so far synced. */
  private async flushedByLmdb(): Promise<void> {
    try {
      await this.root.flushed;
    } catch (cause) {
      throw this.fail(`flush of ${this.path} failed`, cause);
    }
  }

  /** `relaxed` mode: syncs the environment if anything was committed since the last sync. */
  private syncRelaxed(): Promise<void> {
    if (this.syncing !== null) return this.syncing.then(() => this.syncRelaxed());
    const target = this.batchesCommitted;
    if (target === this.batchesSynced) return Promise.resolve();
    this.syncing = new Promise<void>((resolve, reject) => {
      (this.root as unknown as EnvSync).sync((error) => {
        this.syncing = null;
        if (error) {
          reject(this.fail(`sync of ${this.path} failed`, error));
        } else {
          this.batchesSynced = target;
          resolve();
        }
      });
    });
    return this.syncing;
  }

  private fail(what: string, cause: unknown): StorageError {
    this.failure ??= new StorageError('STORAGE_WRITE_FAILED', `${what}: ${messageOf(cause)}`, { cause });
    return this.failure;
  }

  private onCommitted(batch: number, writes: readonly PreparedWrite[]): void {
    this.batchesCommitted = batch;
    for (const w of writes) {
      const pending = this.pendingOf(w.table);
      const key = slot(w.key);
      if (pending.get(key)?.batch === batch) pending.delete(key);
    }
  }

  private onFailed(batch: number, cause: unknown): void {
    // Reads keep answering from the overlay: the node is about to stop, and its last view stays
    // consistent until it does. Whether the batch reached the disk is unknown.
    this.fail(`commit of batch ${batch} to ${this.path} failed`, cause);
  }

  private assertWritable(): void {
    if (this.closing !== null)
      throw new StorageError('STORAGE_CLOSED', `the store at ${this.path} is closed`);
    if (this.failure) throw this.failure;
  }

  private assertReadable(): void {
    if (this.closing !== null)
      throw new StorageError('STORAGE_CLOSED', `the store at ${this.path} is closed`);
  }

  private pendingOf(table: Table): Map<string, Pending> {
    return this.pending.get(table) as Map<string, Pending>;
  }
}

/** A key as a string for the overlay's maps: one char per byte, cheap and collision-free. */
function slot(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** Byte-wise order (memcmp), the order of `compareBytes` and of LMDB's default comparator. */
function compare(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function entryCountOf(stats: unknown): number {
  const n = (stats as { entryCount?: unknown }).entryCount;
  if (typeof n !== 'number') throw new Error('lmdb-js getStats() has no entryCount');
  return n;
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
