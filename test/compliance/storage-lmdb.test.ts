/**
 * The storage contract for LMDB, in both durability modes, plus what only a disk store has:
 * errors on opening, a map that grows, and an overlay that never shows a stale value while
 * commits land.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LmdbStore } from '../../src/adapters/storage/lmdb.js';
import type { Durability, NodeStore } from '../../src/adapters/storage/types.js';
import { StorageError } from '../../src/core/storage-table.js';
import { describeStorageContract, type StorageFixture } from './storage.contract.js';

async function lmdbFixture(durability: Durability): Promise<StorageFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'arpeggio-lmdb-'));
  const path = join(dir, 'node.1'); // a dot in the name: still a directory
  let store = LmdbStore.open({ path, durability });
  return {
    store,
    reopen: async (): Promise<NodeStore> => {
      await store.close();
      store = LmdbStore.open({ path, durability });
      return store;
    },
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

for (const durability of ['flush', 'relaxed'] as const) {
  describeStorageContract(`lmdb (${durability})`, {
    open: () => lmdbFixture(durability),
    persists: true,
    crashes: false, // a crash needs a real process: test/adapters/lmdb-durability.test.ts
    modelRuns: 60,
  });
}

test('opening where no directory can be made fails with STORAGE_OPEN_FAILED, naming the path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'arpeggio-lmdb-'));
  try {
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    for (const path of [file, join(file, 'node')]) {
      assert.throws(
        () => LmdbStore.open({ path }),
        (e: unknown) =>
          e instanceof StorageError &&
          e.code === 'STORAGE_OPEN_FAILED' &&
          e.definite &&
          e.message.includes(path),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the map grows past its initial size without an error, and the data reads back after a restart', async () => {
  const fx = await lmdbFixture('flush');
  try {
    const mib = 1 << 20;
    const total = 24; // far beyond lmdb-js's initial 128 KiB map
    for (let i = 0; i < total; i += 4) {
      fx.store.apply(
        [0, 1, 2, 3].map((j) => ({
          table: 'data' as const,
          key: Uint8Array.of(i + j),
          value: new Uint8Array(mib).fill(i + j),
        })),
      );
      await fx.store.flushed();
    }
    const again = await (fx.reopen as () => Promise<NodeStore>)();
    assert.equal(again.count('data'), total);
    for (let i = 0; i < total; i++) {
      const v = again.get<Uint8Array>('data', Uint8Array.of(i));
      assert.ok(v && v.length === mib && v[0] === i && v[mib - 1] === i, `value ${i} intact`);
    }
  } finally {
    await fx.dispose();
  }
});

test('while batches commit one after another, every read shows the newest applied value', async () => {
  const fx = await lmdbFixture('flush');
  try {
    const store = fx.store as LmdbStore;
    const key = Uint8Array.of(42);
    for (let i = 1; i <= 300; i++) {
      store.apply([{ table: 'data', key, value: i }]);
      assert.equal(store.get('data', key), i);
      assert.deepEqual(
        store.scan('data', { limit: 5 }).map((e) => e.value),
        [i],
      );
      assert.equal(store.count('data'), 1);
      if (i % 3 === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        assert.equal(store.get('data', key), i, 'a landed commit does not bring back an older value');
      }
    }
    await store.flushed();
    assert.equal(store.uncommittedWrites, 0, 'the overlay empties once everything committed');
    assert.equal(store.get('data', key), 300);
  } finally {
    await fx.dispose();
  }
});
