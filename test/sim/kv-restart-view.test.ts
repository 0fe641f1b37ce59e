/**
 * Restarts during a membership change, in the simulator with real KvNodes: a node that restarts
 * comes back to the view of the change it had (docs/REPLICATION.md, "Membership changes"), and
 * the campaign seed that found the bug stays linearizable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_KINDS, runKv } from '../../src/sim/kv-campaign.js';
import { KvCluster } from '../../src/sim/kv-cluster.js';
import { FAST_KV_CONFIG } from './helpers.js';

test('members that restart while a join is in progress still count the joiner, before they hear from it', () => {
  const cluster = new KvCluster({ seed: 7, nodes: 5, config: FAST_KV_CONFIG });
  assert.ok(cluster.boot(60_000), 'the cluster forms');
  cluster.sim.runFor(2000);
  const old = [...cluster.ids];
  cluster.addNode('n6');
  const everyoneKnows = () => old.every((id) => cluster.node(id)?.status().pendingJoins.includes('n6'));
  assert.ok(cluster.sim.runUntil(everyoneKnows, 10_000, 1), 'every member hears of the join');
  // Cut the joiner off, so that its join cannot complete and nobody hears from it again, and
  // power-cycle every old member at once.
  for (const id of old) {
    cluster.sim.blockLink('n6', id);
    cluster.sim.blockLink(id, 'n6');
  }
  cluster.sim.runFor(50); // the views' writes are flushed
  for (const id of old) cluster.sim.crash(id);
  cluster.sim.runFor(100);
  for (const id of old) cluster.sim.restart(id);
  assert.ok(
    cluster.sim.runUntil(() => old.every((id) => cluster.node(id)?.isReady()), 20_000, 10),
    'the old members serve again',
  );
  for (const id of old) {
    // Forgetting the join would put this node back on the ring before it, whose quorums of the
    // old replicas alone can choose values that the joiner's handoff (already past) never copies.
    assert.deepEqual(cluster.node(id)?.status().pendingJoins, ['n6'], `${id} remembers the join`);
  }
});

test('campaign seed 23 (churn, a majority crashing during a join): the history is linearizable', () => {
  const r = runKv({
    seed: 23,
    nodes: 5,
    clients: 10,
    ops: 5000,
    consistency: 'linearizable',
    faults: FAULT_KINDS,
  });
  assert.equal(r.linearizable, true, JSON.stringify(r.counterexample)?.slice(0, 2000));
  assert.equal(r.violation, null, r.violation ?? '');
});
