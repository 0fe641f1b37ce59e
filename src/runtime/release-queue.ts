/**
 * The host's half of the Ready contract (src/core/types.ts), on a real store:
 *
 * 1. A batch's `writes` are applied to the store at once, so the node reads its own writes in the
 *    very next step.
 * 2. Its `outbox` and `replies` are released only once every write applied so far is durable
 *    (`store.flushed()`), because a message may acknowledge a write.
 * 3. Batches are released in the order they were made, so a batch with no writes still waits
 *    behind an earlier batch whose writes are not durable yet: its reply may reveal their state
 *    (a read that sees an unflushed write must not answer before that write is safe).
 *
 * Group commit: a flush starts on the next turn of the event loop after the first waiting batch,
 * so every batch made in that turn (a burst of messages read from sockets, a tick) shares it, and
 * batches made while a flush is in flight share the next one. One flush is in flight at a time.
 *
 * This mirrors the simulator's `handleReady`/`release`/`onFlush` (src/sim/simulator.ts), where
 * the flush takes `fsyncLatencyMs` of virtual time; here it takes what the disk takes.
 *
 * A failed apply or flush is fatal: the store can no longer say what is durable, so nothing more
 * is released and the host stops the process (fail-stop).
 */
import type { Ready } from '../core/types.js';

export interface ReleaseQueueComponents<M, R, W> {
  store: {
    apply(writes: readonly W[]): void;
    /** Resolves once every write applied before the call is durable; rejects if that failed. */
    flushed(): Promise<void>;
  };
  /** Sends the batch's messages and delivers its replies. Must not throw. */
  release(ready: Ready<M, R, W>): void;
  /** The store failed; called once, after which the queue applies and releases nothing more. */
  onFatal(error: unknown): void;
  /** Runs `fn` after the current event-loop turn. Default: setImmediate. */
  defer?: (fn: () => void) => void;
}

export interface ReleaseQueueStats {
  batches: number;
  /** Batches with nothing to wait for (no writes, nothing ahead of them), released at once. */
  releasedAtOnce: number;
  flushes: number;
  /** The most batches one flush released (how well group commit groups). */
  maxBatchesPerFlush: number;
}

export class ReleaseQueue<M, R, W> {
  readonly stats: ReleaseQueueStats = { batches: 0, releasedAtOnce: 0, flushes: 0, maxBatchesPerFlush: 0 };
  private readonly store: ReleaseQueueComponents<M, R, W>['store'];
  private readonly releaseBatch: (ready: Ready<M, R, W>) => void;
  private readonly onFatal: (error: unknown) => void;
  private readonly defer: (fn: () => void) => void;
  /** Applied, and waiting for a flush that has not started yet. */
  private waiting: Ready<M, R, W>[] = [];
  /** A flush loop is scheduled or running; batches behind it wait for it. */
  private flushing = false;
  private failed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(components: ReleaseQueueComponents<M, R, W>) {
    this.store = components.store;
    this.releaseBatch = components.release;
    this.onFatal = components.onFatal;
    this.defer = components.defer ?? ((fn) => setImmediate(fn));
  }

  /** Batches applied and not yet released. */
  get unreleased(): number {
    return this.waiting.length + this.inFlight;
  }

  private inFlight = 0;

  /** Whether a store failure stopped the queue. */
  get hasFailed(): boolean {
    return this.failed;
  }

  /** Takes one Ready batch: applies its writes now, releases its outputs when the contract allows. */
  push(ready: Ready<M, R, W>): void {
    if (this.failed) return;
    this.stats.batches++;
    if (ready.writes.length > 0) {
      try {
        this.store.apply(ready.writes);
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    if (ready.writes.length === 0 && !this.flushing) {
      // Nothing of its own to wait for and nothing ahead of it: every earlier write is durable.
      this.stats.releasedAtOnce++;
      this.releaseBatch(ready);
      return;
    }
    this.waiting.push(ready);
    if (!this.flushing) {
      this.flushing = true;
      this.defer(() => void this.flushLoop());
    }
  }

  /** Resolves once nothing waits for a flush (for a graceful close). */
  idle(): Promise<void> {
    if (!this.flushing || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async flushLoop(): Promise<void> {
    while (this.waiting.length > 0 && !this.failed) {
      const covered = this.waiting;
      this.waiting = [];
      this.inFlight = covered.length;
      // Every write of `covered` was applied before this call, so this flush covers them all. A
      // round with no writes at all (batches that only queued behind the previous flush) has
      // nothing new to wait for: the previous flush covered everything applied before it.
      if (covered.some((b) => b.writes.length > 0)) {
        this.stats.flushes++;
        try {
          await this.store.flushed();
        } catch (error) {
          this.fail(error);
          return;
        }
        if (this.failed) return;
      }
      this.stats.maxBatchesPerFlush = Math.max(this.stats.maxBatchesPerFlush, covered.length);
      this.inFlight = 0;
      for (const b of covered) this.releaseBatch(b);
    }
    this.flushing = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.waiting = [];
    this.inFlight = 0;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.onFatal(error);
  }
}
