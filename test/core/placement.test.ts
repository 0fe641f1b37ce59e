/**
 * Placement across restarts: what a node persists of a membership change in progress (pending
 * joins and leaves, the rings before recent changes) brings it back to the same view and the same
 * consensus quorums it had, which is what keeps consensus safe while ownership moves.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { identifierOf } from '../../src/core/id.js';
import { type MemberView, Placement } from '../../src/core/placement.js';
import { config, five } from './placement-fixtures.js';

const keys = Array.from({ length: 200 }, (_, i) => identifierOf(new TextEncoder().encode(`k${i}`)));

function member(id: string, status: MemberView['status']): MemberView {
  return { id, state: 'alive', status, stateSinceMs: 0 };
}

/** The consensus plan of every test key: who takes part and how many must answer. */
function plans(p: Placement, nowMs: number): string[] {
  return keys.map((k) => {
    const plan = p.consensusPlan(k, nowMs);
    return `${plan.replicas.join(',')}/${plan.quorum}`;
  });
}

/** What a restart rebuilds: the persisted ring members, then (with the rule) the persisted memory. */
function restarted(before: Placement, self: string, withMemory: boolean): Placement {
  const after = new Placement(config, before.ringMembers());
  if (withMemory) after.restore(before.memory(), self);
  return after;
}

describe('a restarted node resumes its view of a membership change', () => {
  test('a join it had heard of stays pending: same view, same consensus quorums (n6 must accept)', () => {
    const p = new Placement(config, five);
    p.observe(member('n6', 'joining'), 100);
    const after = restarted(p, 'n1', true);
    assert.equal(after.version(), p.version(), 'acceptors compare this fingerprint: it must not go back');
    assert.deepEqual(plans(after, 200), plans(p, 200));
    // Without the memory the node would be back on the ring before the join, where quorums of the
    // old replicas alone decide: writes the joiner's handoff no longer copies.
    const forgetful = restarted(p, 'n1', false);
    assert.notEqual(forgetful.version(), p.version());
    assert.notDeepEqual(plans(forgetful, 200), plans(p, 200));
  });

  test('the rings before a change it had applied keep their replicas in its quorums until their deadline', () => {
    const p = new Placement(config, five);
    p.observe(member('n6', 'normal'), 1000); // n6 joined: the ring of five becomes a previous ring
    p.everyoneAgrees = true;
    const withExtras = plans(p, 1500);
    assert.ok(
      withExtras.some((plan, i) => plan !== plans(new Placement(config, [...five, 'n6']), 1500)[i]),
      'while the previous ring lasts some keys have extra acceptors',
    );
    const after = restarted(p, 'n2', true);
    after.everyoneAgrees = true;
    assert.deepEqual(plans(after, 1500), withExtras, 'same acceptors and quorums right after the restart');
    // The deadline is on the node's clock and survives too: past it, once everyone agrees, the
    // natural replicas alone remain.
    assert.deepEqual(plans(after, 3001), plans(p, 3001));
    assert.deepEqual(plans(after, 3001), plans(new Placement(config, [...five, 'n6']), 3001));
    // Without the memory the extras vanish at once, while others may still rely on them.
    assert.notDeepEqual(plans(restarted(p, 'n2', false), 1500), withExtras);
  });

  test('its own pending join or leave is not restored: a restarted node decides its status afresh', () => {
    const p = new Placement(config, five);
    p.observe(member('n3', 'leaving'), 100);
    const after = restarted(p, 'n3', true);
    assert.deepEqual(after.pendingLeaves(), [], 'the leave n3 was making ended with its crash');
    assert.deepEqual(restarted(p, 'n1', true).pendingLeaves(), ['n3'], 'others keep it until told');
  });

  test('memory changes are counted, so the node persists exactly when there is something new', () => {
    const p = new Placement(config, five);
    const before = p.changes;
    p.consensusPlan(keys[0], 0);
    assert.equal(p.changes, before, 'reading the plan changes nothing');
    p.observe(member('n6', 'joining'), 100);
    assert.ok(p.changes > before, 'a pending join is news');
    const joined = p.changes;
    p.observe(member('n6', 'normal'), 200);
    assert.ok(p.changes > joined, 'a completed join (and its previous ring) is news');
    const settled = p.changes;
    p.everyoneAgrees = true;
    p.inTransition(200 + config.transitionGraceMs + 1);
    assert.ok(p.changes > settled, 'a previous ring expiring is news');
  });
});
