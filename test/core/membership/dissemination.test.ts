/** SWIM §4.1 piggyback queue and §4.3 round-robin probe order, in isolation. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BroadcastQueue } from '../../../src/core/membership/broadcast-queue.js';
import { ProbeOrder, sample } from '../../../src/core/membership/probe-order.js';
import { SeededRandom } from '../../../src/core/random.js';

describe('broadcast queue (infection-style dissemination)', () => {
  test('each update is sent on at most transmitLimit messages, fewest-sent and newest first', () => {
    const q = new BroadcastQueue();
    q.enqueue({ id: 'a', incarnation: 0, state: 'alive', meta: {} });
    q.enqueue({ id: 'b', incarnation: 0, state: 'alive', meta: {} });
    assert.deepEqual(
      q.take(1, 3).map((u) => u.id),
      ['b'],
      'the newest first',
    );
    assert.deepEqual(
      q.take(1, 3).map((u) => u.id),
      ['a'],
      'then the one sent fewer times',
    );
    const sent = { a: 1, b: 1 };
    for (let i = 0; i < 10; i++) for (const u of q.take(2, 3)) sent[u.id as 'a' | 'b']++;
    assert.deepEqual(sent, { a: 3, b: 3 });
    assert.equal(q.size, 0);
  });

  test('newer news about a member replaces the queued one and is sent afresh', () => {
    const q = new BroadcastQueue();
    q.enqueue({ id: 'a', incarnation: 0, state: 'alive', meta: {} });
    q.take(1, 5);
    q.enqueue({ id: 'a', incarnation: 0, state: 'suspect', from: 'b' });
    assert.equal(q.size, 1);
    assert.equal(q.peek('a')?.state, 'suspect');
    let count = 0;
    while (q.take(10, 5).length > 0) count++;
    assert.equal(count, 5);
  });

  test('a message carries at most max updates', () => {
    const q = new BroadcastQueue();
    for (let i = 0; i < 30; i++) q.enqueue({ id: `m${i}`, incarnation: 0, state: 'alive', meta: {} });
    assert.equal(q.take(10, 4).length, 10);
  });
});

describe('round-robin probe order (SWIM §4.3)', () => {
  test('each round probes every member exactly once, so any member is probed within 2(N − 1) − 1 periods', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer(), (n, seed) => {
        const members = Array.from({ length: n }, (_, i) => `m${i}`);
        const order = new ProbeOrder(new SeededRandom(seed));
        const picks: string[] = [];
        for (let i = 0; i < 5 * n; i++)
          picks.push(
            order.next(
              () => true,
              () => [...members],
            ) as string,
          );
        for (let round = 0; round < 5; round++) {
          assert.deepEqual([...picks.slice(round * n, (round + 1) * n)].sort(), [...members].sort());
        }
        for (const m of members) {
          const at = picks.flatMap((p, i) => (p === m ? [i] : []));
          for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] <= 2 * n - 1);
        }
      }),
    );
  });

  test('members that became unprobeable are skipped; a new member is probed within two rounds', () => {
    const random = new SeededRandom(7);
    const order = new ProbeOrder(random);
    const live = new Set(['a', 'b', 'c', 'd']);
    const next = () =>
      order.next(
        (id) => live.has(id),
        () => [...live],
      ) as string;
    next();
    next();
    live.delete('d');
    live.add('e');
    order.insert('e');
    const rest = Array.from({ length: 8 }, next);
    assert.ok(rest.includes('e'));
    assert.ok(!rest.includes('d'), 'a dead member is never probed again');
  });

  test('an empty membership has no target', () => {
    assert.equal(
      new ProbeOrder(new SeededRandom(1)).next(
        () => true,
        () => [],
      ),
      undefined,
    );
  });

  test('sample picks k distinct members, or all of them when there are fewer', () => {
    const r = new SeededRandom(3);
    const s = sample(['a', 'b', 'c', 'd', 'e'], 3, r);
    assert.equal(new Set(s).size, 3);
    assert.deepEqual(sample(['a', 'b'], 3, r).sort(), ['a', 'b']);
  });
});
