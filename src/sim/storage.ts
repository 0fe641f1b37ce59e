/**
 * Simulated durable storage. Applied writes are visible to the node at once but survive a crash
 * only after a flush, as with LMDB's committed-but-not-flushed transactions. A protocol that
 * persists state gives the simulator a storage of its own shape through `SimConfig.createStorage`.
 */
export interface SimStorage<W> {
  /** Makes the writes visible to the node; they are not yet durable. */
  apply(writes: readonly W[]): void;
  /** Everything applied so far becomes durable. */
  flush(): void;
  /** A crash: everything applied since the last flush is lost. */
  crash(): void;
}

/** The simplest storage: an append-only log of writes. */
export class LogStorage<W> implements SimStorage<W> {
  readonly durable: W[] = [];
  pending: W[] = [];

  apply(writes: readonly W[]): void {
    for (const w of writes) this.pending.push(w);
  }

  flush(): void {
    for (const w of this.pending) this.durable.push(w);
    this.pending = [];
  }

  crash(): void {
    this.pending = [];
  }

  /** Every write the node can see: durable ones, then pending ones. */
  visible(): W[] {
    return [...this.durable, ...this.pending];
  }
}
