/**
 * When placement takes a dead member off the ring: a member that was merely running is waited for
 * (deadMemberReplacementMs, in case it comes back); one that was leaving is not.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type MemberView, Placement, type PlacementConfig } from '../../src/core/placement.js';

const config: PlacementConfig = {
  replicaCount: 3,
  vnodesPerNode: 16,
  transitionGraceMs: 2000,
  deadMemberReplacementMs: 600_000,
};
const five = ['n1', 'n2', 'n3', 'n4', 'n5'];

const view = (
  id: string,
  state: MemberView['state'],
  status: MemberView['status'],
  stateSinceMs: number,
): MemberView => ({ id, state, status, stateSinceMs });

describe('a dead member leaves the ring', () => {
  test('a normal member dead for less than deadMemberReplacementMs stays: it may come back', () => {
    const p = new Placement(config, five);
    assert.equal(
      p.observe(view('n5', 'dead', 'normal', 1000), 1000 + config.deadMemberReplacementMs - 1),
      false,
    );
    assert.ok(p.ringMembers().includes('n5'));
    assert.equal(p.observe(view('n5', 'dead', 'normal', 1000), 1000 + config.deadMemberReplacementMs), true);
    assert.ok(!p.ringMembers().includes('n5'), 'replaced once the time is up');
  });

  test('a leaving member declared dead leaves at once: its `left` was lost, or it gave up its leave', () => {
    const p = new Placement(config, five);
    p.observe(view('n5', 'alive', 'leaving', 0), 1000);
    assert.deepEqual(p.pendingLeaves(), ['n5']);
    // SWIM forgets the dead after deadMemberRetentionMs (120 s in the local preset), before
    // deadMemberReplacementMs: waiting for the replacement would leave n5 on the ring for good.
    assert.equal(p.observe(view('n5', 'dead', 'leaving', 5000), 5000), true);
    assert.ok(!p.ringMembers().includes('n5'), 'off the ring when declared dead');
    assert.deepEqual(p.pendingLeaves(), [], 'and no longer a pending leave that blocks agreement');
  });

  test('the rule follows the leave placement recorded even if the dead member’s last status says normal', () => {
    const p = new Placement(config, five);
    p.observe(view('n5', 'alive', 'leaving', 0), 1000);
    assert.equal(p.observe(view('n5', 'dead', 'normal', 5000), 5000), true);
    assert.ok(!p.ringMembers().includes('n5'));
  });
});
