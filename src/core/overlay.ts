/**
 * Read-your-writes within one step. The host applies a step's writes only after the step
 * returns, so a step that writes a key and reads it again (a coordinator that is also a
 * replica, two requests for one key handled in one batch) must see its own pending writes.
 * The overlay records them, answers reads from them first, and hands them over as the step's
 * `Ready.writes`.
 */
import {
  compareBytes,
  type ScanOptions,
  type StorageEntry,
  type StorageReader,
  type StorageWrite,
  type Table,
} from './storage.js';

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

function slot(table: Table, key: Uint8Array): string {
  let s = `${table}:`;
  for (let i = 0; i < key.length; i++) s += HEX[key[i]];
  return s;
}

export class StepOverlay implements StorageReader {
  private pending = new Map<string, StorageWrite>();
  private order: StorageWrite[] = [];

  constructor(private readonly base: StorageReader) {}

  put(table: Table, key: Uint8Array, value: unknown): void {
    const w: StorageWrite = { table, key, value };
    this.pending.set(slot(table, key), w);
    this.order.push(w);
  }

  get<T = unknown>(table: Table, key: Uint8Array): T | undefined {
    // Most reads come in steps that wrote nothing yet: skip making the slot's string.
    const w = this.pending.size === 0 ? undefined : this.pending.get(slot(table, key));
    if (w) return w.value === null ? undefined : (w.value as T);
    return this.base.get<T>(table, key);
  }

  scan<T = unknown>(table: Table, options: ScanOptions): StorageEntry<T>[] {
    const mine = [...this.pending.values()].filter(
      (w) =>
        w.table === table &&
        (options.start === undefined || compareBytes(w.key, options.start) >= 0) &&
        (options.end === undefined || compareBytes(w.key, options.end) < 0),
    );
    if (mine.length === 0) return this.base.scan<T>(table, options);
    const merged = new Map<string, StorageEntry<T>>();
    for (const e of this.base.scan<T>(table, { ...options, limit: options.limit + mine.length })) {
      merged.set(slot(table, e.key), e);
    }
    for (const w of mine) {
      if (w.value === null) merged.delete(slot(table, w.key));
      else merged.set(slot(table, w.key), { key: w.key, value: w.value as T });
    }
    return [...merged.values()].sort((a, b) => compareBytes(a.key, b.key)).slice(0, options.limit);
  }

  count(table: Table): number {
    return this.base.count(table);
  }

  /** The writes of this step, in the order made, and a fresh start for the next step. */
  drain(): StorageWrite[] {
    const out = this.order;
    this.order = [];
    this.pending = new Map();
    return out;
  }
}
