/**
 * The host side of storage: what the runtime holds for one node. The core reads through the
 * `StorageReader` half synchronously; the host applies each `Ready.writes` with `apply` and
 * releases that batch's messages and replies only after `flushed()` resolves (the Ready
 * release rule, docs/STORAGE.md).
 */
import type { StorageReader, StorageWrite } from '../../core/storage.js';

export { MAX_STORAGE_KEY_BYTES, StorageError, type StorageErrorCode } from '../../core/storage-table.js';

export interface NodeStore extends StorageReader {
  /**
   * Applies a batch atomically: visible to `get`/`scan`/`count` as soon as this returns
   * (read-your-writes), durable later. Throws `StorageError` without applying anything when a
   * write breaks a rule (`STORAGE_INVALID_WRITE`) or the store is closed (`STORAGE_CLOSED`).
   */
  apply(writes: readonly StorageWrite[]): void;
  /**
   * Resolves once everything applied so far is durable: for LMDB, committed and flushed to
   * disk (unless the store was opened with relaxed durability). Rejects with
   * `STORAGE_WRITE_FAILED` (indefinite) if a commit failed; the node must then stop.
   */
  flushed(): Promise<void>;
  /** Waits for pending writes to become durable, then releases the store. Idempotent. */
  close(): Promise<void>;
}

/**
 * When `flushed()` resolves.
 * - `flush` (the default): the batch is synced to disk (fdatasync); it survives power loss.
 * - `relaxed`: the batch is committed but not synced; it survives a crash of the process (the
 *   OS holds its pages) and is synced within `relaxedSyncIntervalMs`. A power loss or kernel
 *   crash may undo the writes of that window (and, LMDB warns for MDB_NOSYNC, on a file system
 *   that reorders writes, damage the environment). An operator's explicit choice and a
 *   benchmark knob; never the default.
 */
export type Durability = 'flush' | 'relaxed';
