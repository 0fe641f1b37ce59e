/**
 * SWIM §4.2's precedence rules, as a table, and the property that makes views converge: merging
 * news is taking a maximum, so the order in which a node hears it does not matter.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { STATE_RANK, supersedes, type Version } from '../../../src/core/membership/precedence.js';
import { Swim } from '../../../src/core/membership/swim.js';
import type { MemberState, MemberUpdate } from '../../../src/core/membership/types.js';
import { SeededRandom } from '../../../src/core/random.js';
import { testConfig } from './cluster.js';

const v = (state: MemberState, incarnation: number): Version => ({ state, incarnation });

// [current, incoming, does incoming win, the rule]
const table: [Version, Version, boolean, string][] = [
  [v('suspect', 1), v('alive', 2), true, 'alive with a higher incarnation overrides suspect'],
  [v('suspect', 1), v('alive', 1), false, 'alive with the same incarnation does not override suspect'],
  [v('alive', 1), v('alive', 2), true, 'alive with a higher incarnation overrides alive'],
  [v('alive', 2), v('alive', 2), false, 'the same news twice is not news'],
  [v('alive', 1), v('suspect', 1), true, 'suspect overrides alive with the same incarnation'],
  [v('alive', 1), v('suspect', 2), true, 'suspect overrides alive with a lower incarnation'],
  [v('alive', 2), v('suspect', 1), false, 'suspect does not override alive with a higher incarnation'],
  [v('suspect', 1), v('suspect', 2), true, 'suspect with a higher incarnation overrides suspect'],
  [v('suspect', 2), v('suspect', 2), false, 'an equal suspicion is a confirmation, not an override'],
  [v('alive', 3), v('dead', 3), true, 'dead overrides alive at the same incarnation'],
  [v('suspect', 3), v('dead', 3), true, 'dead overrides suspect at the same incarnation'],
  [v('suspect', 5), v('dead', 3), false, 'a stale death does not kill a member that incarnated since'],
  [v('dead', 3), v('alive', 3), false, 'stale alive cannot resurrect a dead member'],
  [v('dead', 3), v('suspect', 3), false, 'stale suspicion cannot resurrect a dead member'],
  [
    v('dead', 3),
    v('alive', 4),
    true,
    'alive above the death is the member itself back (refuted or rejoined)',
  ],
  [v('alive', 3), v('left', 3), true, 'left overrides alive'],
  [v('suspect', 3), v('left', 3), true, 'left overrides suspect'],
  [v('dead', 3), v('left', 3), true, 'a graceful leave is the better account of the same end'],
  [v('left', 3), v('dead', 3), false, 'dead does not override left at the same incarnation'],
  [v('left', 3), v('alive', 4), true, 'a member that left may rejoin with a higher incarnation'],
];

describe('precedence (SWIM §4.2)', () => {
  for (const [current, incoming, wins, rule] of table) {
    test(`${rule}: ${incoming.state}@${incoming.incarnation} over ${current.state}@${current.incarnation} → ${wins}`, () => {
      assert.equal(supersedes(incoming, current), wins);
    });
  }

  test('supersedes is a strict total order on (incarnation, state)', () => {
    const version = fc.record({
      incarnation: fc.integer({ min: 0, max: 4 }),
      state: fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left'),
    });
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        const equal = a.incarnation === b.incarnation && a.state === b.state;
        assert.ok(!supersedes(a, a), 'irreflexive');
        assert.equal(
          supersedes(a, b) || supersedes(b, a),
          !equal,
          'total: of two different versions one wins',
        );
        assert.ok(!(supersedes(a, b) && supersedes(b, a)), 'antisymmetric');
        if (supersedes(a, b) && supersedes(b, c)) assert.ok(supersedes(a, c), 'transitive');
      }),
    );
    assert.deepEqual(Object.keys(STATE_RANK), ['alive', 'suspect', 'dead', 'left']);
  });
});

describe('merging views is order-independent', () => {
  const update = fc.record({
    id: fc.constantFrom('x', 'y', 'z'),
    incarnation: fc.integer({ min: 0, max: 3 }),
    state: fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left'),
  });

  /** A node that hears `updates` (as a state sync: every update carries meta) in this order. */
  function viewAfter(updates: MemberUpdate[]): string[] {
    const swim = new Swim(
      { random: new SeededRandom(1) },
      { self: { id: 'me', meta: {} }, config: testConfig },
    );
    swim.tick(0);
    for (const u of updates) swim.step('peer', { type: 'push-pull-ack', members: [u] }, 1);
    return swim.members().map((m) => `${m.id}:${m.state}@${m.incarnation}`);
  }

  test('any two orders of the same news give the same view (a join-semilattice)', () => {
    fc.assert(
      fc.property(fc.array(update, { minLength: 1, maxLength: 12 }), fc.integer(), (raw, shuffleSeed) => {
        const updates = raw.map((u) => ({ ...u, meta: { v: u.incarnation } }));
        const shuffled = [...updates];
        const r = new SeededRandom(shuffleSeed);
        r.shuffle(shuffled);
        assert.deepEqual(viewAfter(shuffled), viewAfter(updates));
        // Hearing everything twice changes nothing either.
        assert.deepEqual(viewAfter([...updates, ...shuffled]), viewAfter(updates));
      }),
      { numRuns: 300 },
    );
  });

  test('the view of each member is the greatest version heard about it', () => {
    fc.assert(
      fc.property(fc.array(update, { minLength: 1, maxLength: 12 }), (raw) => {
        const updates = raw.map((u) => ({ ...u, meta: {} }));
        const expected = new Map<string, MemberUpdate>();
        for (const u of updates) {
          const cur = expected.get(u.id);
          if (!cur || supersedes(u, cur)) expected.set(u.id, u);
        }
        const view = viewAfter(updates).filter((line) => !line.startsWith('me:'));
        const want = [...expected.values()]
          .sort((a, b) => a.id.localeCompare(b.id))
          .map((u) => `${u.id}:${u.state}@${u.incarnation}`);
        assert.deepEqual(view, want);
      }),
      { numRuns: 300 },
    );
  });
});
