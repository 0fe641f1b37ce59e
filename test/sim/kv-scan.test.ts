/**
 * The cluster-wide keyspace scan (src/core/replication/scan.ts) in the simulator with real
 * KvNodes: the claims of docs/REPLICATION.md, "Listing the keyspace".
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { BugName, KvConfig } from '../../src/core/kv-node.js';
import type { Consistency, KvRequest } from '../../src/core/replication/messages.js';
import { type KvCluster, nodeName, SIM_EPOCH_MS } from '../../src/sim/kv-cluster.js';
import { boot, call } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * No repair behind the test's back, so a replica that missed a write keeps missing it: no
 * anti-entropy, and the substitute that took the write for the partitioned replica drops its hint
 * (the `drop-hints` bug, used here on purpose).
 */
const noRepair: Partial<KvConfig> = { antiEntropyIntervalMs: 1e9, hintDeliveryIntervalMs: 1e9 };
const dropHints: BugName[] = ['drop-hints'];

const set = (key: string, consistency: Consistency = 'quorum'): KvRequest => ({
  op: 'set',
  key: enc.encode(key),
  value: enc.encode(`v-${key}`),
  consistency,
  expiresAtMs: 0,
  condition: 'always',
});
const del = (key: string): KvRequest => ({ op: 'del', key: enc.encode(key), consistency: 'quorum' });

/** One SCAN step: keys and the next position (null: done). */
function scanStep(
  cluster: KvCluster,
  node: string,
  fromId: number,
  count: number,
  consistency: Consistency = 'quorum',
): { keys: string[]; nextId: number | null } {
  const r = call(cluster, node, { op: 'scan', fromId, count, consistency });
  assert.ok(r.ok, `scan at ${node} from ${fromId}: ${r.ok ? '' : `${r.error.code} ${r.error.message}`}`);
  return { keys: (r.keys ?? []).map((k) => dec.decode(k)), nextId: r.nextId ?? null };
}

/** A full iteration from position 0: every key listed (with duplicates) and the number of steps. */
function fullScan(
  cluster: KvCluster,
  node: string,
  count = 50,
  consistency: Consistency = 'quorum',
): { keys: string[]; steps: number } {
  const keys: string[] = [];
  let fromId: number | null = 0;
  let steps = 0;
  while (fromId !== null) {
    assert.ok(steps++ < 10_000, 'the scan ends');
    const page = scanStep(cluster, node, fromId, count, consistency);
    keys.push(...page.keys);
    if (page.nextId !== null) assert.ok(page.nextId > fromId, 'the cursor only moves forward');
    fromId = page.nextId;
  }
  return { keys, steps };
}

function dbsize(cluster: KvCluster, node: string): number {
  const r = call(cluster, node, {
    op: 'scan',
    fromId: 0,
    count: 1000,
    countOnly: true,
    consistency: 'quorum',
  });
  assert.ok(r.ok && r.nextId === null, 'a count covers the whole ring in one request');
  return r.number ?? -1;
}

/** The first node that is not a replica of `key`, by `cluster`'s ring. */
function replicasOf(cluster: KvCluster, key: string): string[] {
  return cluster.node('n1')?.replicasOf(enc.encode(key)) ?? [];
}

describe('the keyspace scan: SCAN, KEYS and DBSIZE see the whole cluster', () => {
  test('keys written through different coordinators are all found by a full SCAN from any node, also after a node crashes', () => {
    const cluster = boot(5);
    const written = Array.from({ length: 120 }, (_, i) => `key${i}`);
    for (const [i, k] of written.entries()) assert.ok(call(cluster, nodeName(i % 5), set(k)).ok);
    for (const id of cluster.ids) {
      const { keys, steps } = fullScan(cluster, id);
      assert.deepEqual([...new Set(keys)].sort(), [...written].sort(), `a full SCAN from ${id}`);
      assert.ok(steps > 1, 'COUNT 50 over 120 keys takes more than one step');
      assert.equal(dbsize(cluster, id), written.length, `DBSIZE at ${id}`);
    }
    cluster.sim.crash('n3');
    // At once, before the failure detector notices: calls to n3 fail and other replicas stand in.
    for (const id of ['n1', 'n2', 'n4', 'n5']) {
      const { keys } = fullScan(cluster, id, 200);
      assert.deepEqual([...new Set(keys)].sort(), [...written].sort(), `a full SCAN from ${id} with n3 down`);
      assert.equal(dbsize(cluster, id), written.length, `DBSIZE at ${id} with n3 down`);
    }
  });

  test('a replica that missed a write does not hide the key: R replicas are merged', () => {
    const cluster = boot(5, noRepair, 1, dropHints);
    const key = 'missed';
    const [, , lagging] = replicasOf(cluster, key);
    const coordinator = cluster.ids.find((id) => !replicasOf(cluster, key).includes(id)) as string;
    cluster.sim.partition([[lagging], cluster.ids.filter((id) => id !== lagging)]);
    assert.ok(call(cluster, coordinator, set(key)).ok, 'written on the two replicas on the majority side');
    cluster.sim.runFor(1000); // the coordinator's retries to the lagging replica run out
    cluster.sim.heal();
    cluster.sim.runUntil(() => cluster.everyoneSeesEveryone(), 30_000, 20);
    assert.ok(!cluster.storedRecords(enc.encode(key)).get(lagging), `${lagging} really missed the write`);
    const alone = fullScan(cluster, lagging, 1000, 'one').keys;
    assert.ok(!alone.includes(key), 'level one asks only the coordinator itself, which lacks the key');
    const merged = fullScan(cluster, lagging, 1000, 'quorum').keys;
    assert.ok(merged.includes(key), 'a quorum scan merges another replica, which holds the key');
  });

  test('a replica that missed a deletion does not bring the key back; expired keys are not listed', () => {
    const cluster = boot(5, noRepair, 1, dropHints);
    const key = 'deleted';
    assert.ok(call(cluster, 'n1', set(key, 'all')).ok);
    const [, , lagging] = replicasOf(cluster, key);
    cluster.sim.partition([[lagging], cluster.ids.filter((id) => id !== lagging)]);
    const coordinator = cluster.ids.find((id) => !replicasOf(cluster, key).includes(id)) as string;
    assert.ok(call(cluster, coordinator, del(key)).ok);
    cluster.sim.runFor(1000); // the coordinator's retries to the lagging replica run out
    cluster.sim.heal();
    cluster.sim.runUntil(() => cluster.everyoneSeesEveryone(), 30_000, 20);
    assert.ok(
      fullScan(cluster, lagging, 1000, 'one').keys.includes(key),
      `${lagging} still holds the old value`,
    );
    assert.ok(!fullScan(cluster, lagging, 1000, 'quorum').keys.includes(key), 'the tombstone wins the merge');

    const now = SIM_EPOCH_MS + cluster.sim.now(); // the nodes' wall clock
    const expiring: KvRequest = {
      ...(set('short') as Extract<KvRequest, { op: 'set' }>),
      expiresAtMs: now + 500,
    };
    assert.ok(call(cluster, 'n2', expiring).ok);
    assert.ok(fullScan(cluster, 'n2').keys.includes('short'), 'listed while it lives');
    cluster.sim.runFor(1000);
    assert.ok(!fullScan(cluster, 'n2').keys.includes('short'), 'not listed once expired');
    assert.equal(dbsize(cluster, 'n2'), 0, 'DBSIZE counts neither the deleted nor the expired key');
  });

  test('property: a full iteration with random COUNTs returns every key alive throughout it', () => {
    const cluster = boot(5, {}, 7);
    let run = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 5, max: 60 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.constantFrom<Consistency>('one', 'quorum', 'all'),
        (counts, keyCount, churn, consistency) => {
          const prefix = `p${run++}/`;
          const stable = Array.from({ length: keyCount }, (_, i) => `${prefix}s${i}`);
          for (const [i, k] of stable.entries()) assert.ok(call(cluster, nodeName(i % 5), set(k, 'all')).ok);
          const seen = new Set<string>();
          let fromId: number | null = 0;
          let step = 0;
          while (fromId !== null) {
            assert.ok(step < 10_000, 'the scan ends');
            // Churn between steps: keys come and go; none of the stable keys is touched.
            const c = churn[step % Math.max(1, churn.length)];
            if (c !== undefined) {
              const k = `${prefix}c${c % 10}`;
              call(cluster, nodeName(c % 5), c % 3 === 0 ? del(k) : set(k));
            }
            const page = scanStep(
              cluster,
              nodeName(step % 5),
              fromId,
              counts[step % counts.length],
              consistency,
            );
            for (const k of page.keys) seen.add(k);
            fromId = page.nextId;
            step++;
          }
          const mine = [...seen].filter((k) => k.startsWith(prefix));
          for (const k of stable) assert.ok(seen.has(k), `${k} was alive throughout, yet not listed`);
          for (const k of mine) assert.ok(/\/(s\d+|c\d)$/.test(k), `${k} was never written`);
        },
      ),
      { numRuns: 12, seed: 42 },
    );
  });
});
