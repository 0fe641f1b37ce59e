/**
 * The host's half of the Ready contract, against a store whose flushes the test completes by
 * hand: nothing a batch says leaves before the writes so far are durable, releases keep the order
 * batches were made in, batches share flushes, and a storage failure stops everything.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Ready } from '../../src/core/types.js';
import { ReleaseQueue } from '../../src/runtime/release-queue.js';

type Batch = Ready<string, string, string>;

/** A store that records applied writes and whose `flushed()` promises the test settles. */
class GatedStore {
  readonly applied: string[] = [];
  readonly flushes: { writesBefore: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  failApply = false;

  apply(writes: readonly string[]): void {
    if (this.failApply) throw new Error('STORAGE_WRITE_FAILED: disk on fire');
    this.applied.push(...writes);
  }

  flushed(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.flushes.push({ writesBefore: this.applied.length, resolve, reject }),
    );
  }
}

function batch(name: string, writes: string[] = []): Batch {
  return {
    outbox: [{ to: 'peer', msg: `${name}.msg` }],
    replies: [{ requestId: 0, body: `${name}.reply` }],
    writes,
  };
}

/** Yields to the event loop so that settled promises run their continuations (not a sleep). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness() {
  const store = new GatedStore();
  const released: string[] = [];
  const fatal: unknown[] = [];
  const deferred: (() => void)[] = [];
  const queue = new ReleaseQueue<string, string, string>({
    store,
    release: (ready) => {
      for (const env of ready.outbox) released.push(env.msg);
      for (const r of ready.replies) released.push(r.body);
    },
    onFatal: (e) => fatal.push(e),
    defer: (fn) => deferred.push(fn),
  });
  /** Ends the current event-loop turn: the scheduled flush starts. */
  const endTurn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { store, released, fatal, queue, endTurn };
}

describe('the host releases a batch only after its writes are durable', () => {
  test('writes are applied at once (readable), but the batch says nothing before the flush resolves', async () => {
    const { store, released, queue, endTurn } = harness();
    queue.push(batch('a', ['w1']));
    assert.deepEqual(store.applied, ['w1'], 'writes are applied at once, so the next step reads them');
    endTurn();
    await turn();
    assert.equal(store.flushes.length, 1);
    assert.deepEqual(released, [], 'no message or reply may leave before its write is durable');
    store.flushes[0].resolve();
    await turn();
    assert.deepEqual(released, ['a.msg', 'a.reply']);
  });

  test('a batch without writes waits behind an unflushed batch: releases keep the order of batches', async () => {
    const { store, released, queue, endTurn } = harness();
    queue.push(batch('a', ['w1']));
    queue.push(batch('b')); // no writes, but its reply may reveal w1
    assert.deepEqual(released, [], 'b must not overtake a: its reply could reveal a write not yet durable');
    endTurn();
    await turn();
    queue.push(batch('c')); // made while the flush is in flight
    store.flushes[0].resolve();
    await turn();
    assert.deepEqual(released, ['a.msg', 'a.reply', 'b.msg', 'b.reply', 'c.msg', 'c.reply']);
    assert.equal(
      store.flushes.length,
      1,
      'c had no writes and came after the flush began: no new flush needed',
    );
  });

  test('a batch with nothing to wait for is released at once', () => {
    const { store, released, queue } = harness();
    queue.push(batch('tick'));
    assert.deepEqual(released, ['tick.msg', 'tick.reply']);
    assert.equal(store.flushes.length, 0);
    assert.equal(queue.stats.releasedAtOnce, 1);
  });

  test('group commit: the batches of one turn share a flush, and those made during it share the next', async () => {
    const { store, released, queue, endTurn } = harness();
    for (let i = 0; i < 5; i++) queue.push(batch(`a${i}`, [`w${i}`]));
    endTurn();
    await turn();
    assert.equal(store.flushes.length, 1, 'five batches of one turn, one flush');
    assert.equal(store.flushes[0].writesBefore, 5, 'the flush was asked for after all five were applied');
    for (let i = 0; i < 3; i++) queue.push(batch(`b${i}`, [`v${i}`]));
    assert.equal(store.flushes.length, 1, 'one flush in flight at a time');
    store.flushes[0].resolve();
    await turn();
    assert.equal(released.length, 10, 'the first five are out');
    assert.equal(store.flushes.length, 2, 'the three made during the flush share the next');
    assert.equal(store.flushes[1].writesBefore, 8);
    store.flushes[1].resolve();
    await turn();
    assert.equal(released.length, 16);
    assert.deepEqual(
      released.filter((m) => m.endsWith('.reply')),
      ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2'].map((n) => `${n}.reply`),
      'released in the order made',
    );
    assert.equal(queue.stats.maxBatchesPerFlush, 5);
  });

  test('idle() resolves once nothing waits for a flush', async () => {
    const { store, queue, endTurn } = harness();
    queue.push(batch('a', ['w']));
    let idle = false;
    const waiting = queue.idle().then(() => {
      idle = true;
    });
    endTurn();
    await turn();
    assert.equal(idle, false);
    store.flushes[0].resolve();
    await waiting;
    assert.equal(queue.unreleased, 0);
  });
});

describe('a storage failure stops the node (fail-stop)', () => {
  test('a failed flush releases nothing of what waited for it, nor anything after', async () => {
    const { store, released, fatal, queue, endTurn } = harness();
    queue.push(batch('a', ['w1']));
    endTurn();
    await turn();
    queue.push(batch('b'));
    store.flushes[0].reject(new Error('STORAGE_WRITE_FAILED: EIO'));
    await turn();
    queue.push(batch('c'));
    assert.deepEqual(released, [], 'nothing may claim durability the disk could not give');
    assert.equal(fatal.length, 1, 'the owner is told once');
    assert.equal(queue.hasFailed, true);
  });

  test('a failed apply is fatal too', () => {
    const { store, released, fatal, queue } = harness();
    store.failApply = true;
    queue.push(batch('a', ['w1']));
    queue.push(batch('b'));
    assert.deepEqual(released, []);
    assert.equal(fatal.length, 1);
  });
});
