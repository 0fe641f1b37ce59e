/**
 * Scenario tests of the store's mechanisms, each in the simulator with real KvNodes: the claims
 * of docs/REPLICATION.md, one at a time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvReply, KvRequest } from '../../src/core/replication/messages.js';
import { nodeName } from '../../src/sim/kv-cluster.js';
import type { SimKvStorage } from '../../src/sim/kv-storage.js';
import { boot, call, setReq as set } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const get = (
  key: string,
  consistency: KvRequest['consistency'] = 'quorum',
): Extract<KvRequest, { op: 'get' }> => ({
  op: 'get',
  key: enc.encode(key),
  consistency,
});
const textOf = (r: KvReply) => (r.ok && r.value ? dec.decode(r.value) : null);

describe('replication', () => {
  test('any node coordinates any key; a quorum write is read back through every other node', () => {
    const cluster = boot(5);
    assert.ok(call(cluster, 'n1', set('k', 'v')).ok);
    for (const id of cluster.ids) assert.equal(textOf(call(cluster, id, get('k'))), 'v');
    const holders = [...cluster.storedRecords(enc.encode('k')).values()].filter(Boolean).length;
    assert.ok(holders >= 2 && holders <= 3, `stored on ${holders} nodes`);
  });

  test('hinted handoff: a write while a replica is down lands on a substitute and reaches the replica after it returns', () => {
    const cluster = boot(5);
    const key = 'hinted';
    const [victim] = cluster.node('n1')?.replicasOf(enc.encode(key)) ?? [];
    cluster.sim.crash(victim);
    // Let SWIM notice, so the coordinator picks a substitute.
    cluster.sim.runUntil(
      () =>
        cluster
          .node(cluster.ids.find((id) => id !== victim) as string)
          ?.members()
          .find((m) => m.id === victim)?.state !== 'alive',
      30_000,
      50,
    );
    const coordinator = cluster.ids.find((id) => id !== victim) as string;
    assert.ok(call(cluster, coordinator, set(key, 'while-down')).ok);
    assert.ok(cluster.pendingHints() > 0, 'a substitute holds a hint');
    cluster.sim.restart(victim);
    assert.ok(
      cluster.sim.runUntil(() => cluster.pendingHints() === 0, 60_000, 100),
      'every hint is handed back',
    );
    assert.equal(cluster.storedRecords(enc.encode(key)).get(victim)?.value?.length, 'while-down'.length);
  });

  test('a substitute that holds nothing for a key does not make a read miss the value a live replica has', () => {
    const cluster = boot(3, { replicaCount: 2, readQuorum: 1, writeQuorum: 2 });
    for (let i = 0; i < 40; i++) assert.ok(call(cluster, 'n1', set(`r${i}`, `v${i}`)).ok);
    cluster.sim.crash('n3');
    // Once the others have declared n3 dead, reads for its keys go to a substitute for it.
    cluster.sim.runUntil(
      () =>
        cluster
          .node('n1')
          ?.members()
          .find((m) => m.id === 'n3')?.state === 'dead',
      60_000,
      50,
    );
    for (let i = 0; i < 40; i++) {
      for (const id of ['n1', 'n2'])
        assert.equal(textOf(call(cluster, id, get(`r${i}`, 'one'))), `v${i}`, `r${i} via ${id}`);
    }
  });

  test('session level: read-your-writes through another node with the write’s context', () => {
    const cluster = boot(5, { readQuorum: 2, writeQuorum: 2 });
    const w = call(cluster, 'n1', set('s', 'mine', 'session'));
    assert.ok(w.ok && w.context);
    const r = call(cluster, 'n4', { ...get('s', 'session'), context: w.ok ? w.context : undefined });
    assert.equal(textOf(r), 'mine');
  });

  test('tombstones and expired values are collected after the grace period', () => {
    const cluster = boot(3, { tombstoneGraceMs: 2000 });
    assert.ok(call(cluster, 'n1', set('gone', 'x')).ok);
    assert.ok(call(cluster, 'n1', { op: 'del', key: enc.encode('gone'), consistency: 'all' }).ok);
    assert.ok(
      [...cluster.storedRecords(enc.encode('gone')).values()].some((r) => r && r.value === null),
      'a tombstone is kept at first',
    );
    cluster.sim.runFor(10_000);
    assert.deepEqual([...cluster.storedRecords(enc.encode('gone')).values()].filter(Boolean), []);
  });
});

describe('membership changes', () => {
  test('a joining node receives about its fair share; reads and writes during the move succeed', () => {
    const cluster = boot(3);
    const keys = 600;
    for (let i = 0; i < keys; i++) assert.ok(call(cluster, nodeName(i % 3), set(`key${i}`, `v${i}`)).ok);
    cluster.addNode('n4');
    // Keep working while the new node copies its ranges.
    let failures = 0;
    for (let i = 0; i < 100; i++) {
      const r = call(cluster, nodeName(i % 3), i % 2 ? set(`key${i}`, `w${i}`) : get(`key${i}`));
      if (!r.ok) failures++;
    }
    assert.equal(failures, 0, 'every request during the join succeeds');
    assert.ok(
      cluster.sim.runUntil(() => cluster.membershipConverged(), 60_000, 50),
      'the join completes',
    );
    const received = (cluster.sim.storageOf('n4') as SimKvStorage).count('data');
    const fair = (keys * 3) / 4;
    assert.ok(received <= fair * 1.15, `the new node holds ${received} keys, fair share ${fair}`);
    assert.ok(received >= fair * 0.5, `the new node holds ${received} keys, fair share ${fair}`);
    for (let i = 0; i < keys; i += 7) assert.ok(textOf(call(cluster, 'n4', get(`key${i}`))) !== null);
  });

  test('a graceful leave hands every range off: every key stays readable', () => {
    const cluster = boot(4);
    for (let i = 0; i < 300; i++) assert.ok(call(cluster, 'n1', set(`k${i}`, `v${i}`, 'one')).ok);
    cluster.leave('n2');
    assert.ok(cluster.sim.runUntil(() => cluster.hasLeft('n2') && cluster.membershipConverged(), 60_000, 50));
    for (let i = 0; i < 300; i++) assert.equal(textOf(call(cluster, 'n3', get(`k${i}`, 'all'))), `v${i}`);
  });
});
