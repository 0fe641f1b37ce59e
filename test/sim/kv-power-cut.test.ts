/**
 * A power cut: several members restart at once, and one of them comes back with a persisted ring
 * that is behind the cluster's (it was down while another node joined). Until a restarted node
 * has had its own membership confirmed, its ring may be stale, so it must not tell others whether
 * they are members (docs/REPLICATION.md, "Membership changes").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvCluster } from '../../src/sim/kv-cluster.js';
import { FAST_KV_CONFIG } from './helpers.js';

test('after a power cut, a member is not told it is no member by a node whose ring is stale, and every node is normal again', () => {
  const cluster = new KvCluster({ seed: 3, nodes: 5, config: FAST_KV_CONFIG });
  assert.ok(cluster.boot(60_000), 'the cluster forms');
  const { sim } = cluster;
  sim.runFor(2000);
  // n1 is down while n6 joins: its persisted ring will not have n6.
  sim.crash('n1');
  sim.runFor(3000);
  cluster.addNode('n6');
  assert.ok(
    sim.runUntil(() => cluster.membershipConverged(), 60_000, 10),
    'n6 joins while n1 is down',
  );
  sim.runFor(2000);
  // The power cut: everyone else goes down; n1 and n6 come back first.
  for (const id of ['n2', 'n3', 'n4', 'n5', 'n6']) sim.crash(id);
  sim.runFor(100);
  sim.restart('n1');
  sim.restart('n6');
  sim.runFor(200);
  for (const id of ['n2', 'n3', 'n4', 'n5']) sim.restart(id);
  const all = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
  const settled = sim.runUntil(() => cluster.membershipConverged(), 120_000, 20);
  const views = all
    .map((id) => {
      const s = cluster.node(id)?.status();
      return `${id} ${s?.status} ring=${s?.ringMembers} +${s?.pendingJoins} -${s?.pendingLeaves}`;
    })
    .join('; ');
  assert.ok(settled, `membership converges after the power cut: ${views}`);
  assert.deepEqual(
    cluster.node('n1')?.status().ringMembers,
    all,
    `every member is still on the ring: ${views}`,
  );
});
