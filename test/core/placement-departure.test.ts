/**
 * When placement takes a dead member off the ring: a member that was merely running is waited for
 * (deadMemberReplacementMs, in case it comes back); one that was leaving is not; and once off, a
 * dead member stays off until it is heard of alive again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type MemberView, Placement } from '../../src/core/placement.js';
import { config, five } from './placement-fixtures.js';

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

describe('dead members off the ring stay off until they come back', () => {
  test('a dead leaver leaves at once and later reviews of it do not put it back (seed 125 flapped)', () => {
    const p = new Placement(config, five);
    assert.equal(p.observe(view('n2', 'alive', 'leaving', 0), 0), false);
    assert.deepEqual(p.pendingLeaves(), ['n2']);
    assert.equal(p.observe(view('n2', 'dead', 'leaving', 100), 100), true, 'off the ring');
    for (const t of [1100, 2100, 3100]) {
      assert.equal(p.observe(view('n2', 'dead', 'leaving', 100), t), false, `review at ${t}`);
      assert.deepEqual(p.ringMembers().sort(), ['n1', 'n3', 'n4', 'n5']);
    }
  });

  test('a dead leaver first heard of is not added to the ring', () => {
    const p = new Placement(config, ['n1', 'n3', 'n4', 'n5']);
    assert.equal(p.observe(view('n2', 'dead', 'leaving', 0), 0), false);
    assert.deepEqual(p.ringMembers().sort(), ['n1', 'n3', 'n4', 'n5']);
  });

  test('a member replaced after deadMemberReplacementMs stays off; alive again, it is heard again', () => {
    const p = new Placement(config, five);
    assert.equal(p.observe(view('n5', 'dead', 'normal', 0), 1000), false, 'not dead long enough');
    assert.equal(p.observe(view('n5', 'dead', 'normal', 0), 600_000), true, 'replaced');
    assert.equal(p.observe(view('n5', 'dead', 'normal', 0), 601_000), false, 'the next review leaves it off');
    assert.deepEqual(p.ringMembers().sort(), ['n1', 'n2', 'n3', 'n4']);
    assert.equal(
      p.observe(view('n5', 'alive', 'normal', 0), 700_000),
      true,
      'back and normal: on the ring again',
    );
  });

  test('a dead member with status normal still on the ring (not yet replaced) stays on it', () => {
    const p = new Placement(config, five);
    assert.equal(p.observe(view('n3', 'dead', 'normal', 0), 10_000), false);
    assert.deepEqual(p.ringMembers().sort(), five);
  });
});
