import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { distance, identifierOf, inHalfOpen, RING_SIZE, vnodeIdentifier } from '../../src/core/id.js';
import { Ring, type VirtualNode } from '../../src/core/ring.js';

// Dumb references: walk the whole ring.
function linearSuccessor(ring: Ring, keyId: number): VirtualNode {
  let best = ring.vnodes[0];
  for (const v of ring.vnodes) if (distance(keyId, v.id) < distance(keyId, best.id)) best = v;
  return best;
}

function linearPreferenceList(ring: Ring, keyId: number, n: number): string[] {
  const clockwise = [...ring.vnodes].sort((a, b) => distance(keyId, a.id) - distance(keyId, b.id));
  const out: string[] = [];
  for (const v of clockwise) if (!out.includes(v.node) && out.length < n) out.push(v.node);
  return out;
}

const memberNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/), {
  minLength: 1,
  maxLength: 24,
});
const keyId = fc.integer({ min: 0, max: RING_SIZE - 1 });
const vnodeCount = fc.integer({ min: 1, max: 8 });

describe('ring: consistent hashing over the membership list', () => {
  test('every member owns V virtual nodes at vnodeIdentifier(node, i), sorted on the circle', () => {
    const ring = Ring.fromMembers(['b', 'a', 'c', 'a'], 4);
    assert.equal(ring.memberCount, 3);
    assert.equal(ring.size, 12);
    assert.deepEqual(ring.members, ['a', 'b', 'c']);
    for (let i = 1; i < ring.size; i++) assert.ok(ring.vnodes[i - 1].id < ring.vnodes[i].id);
    assert.deepEqual(
      ring.vnodesOf('b').map((v) => v.id),
      [0, 1, 2, 3].map((i) => vnodeIdentifier('b', i)).sort((x, y) => x - y),
    );
  });

  test('a key belongs to its successor: the first virtual node at or after it, wrapping', () => {
    fc.assert(
      fc.property(memberNames, vnodeCount, keyId, (names, v, k) => {
        const ring = Ring.fromMembers(names, v);
        assert.equal(ring.successorOf(k).id, linearSuccessor(ring, k).id);
        // A member's own identifier is owned by that member.
        const any = ring.vnodes[k % ring.size];
        assert.equal(ring.successorOf(any.id), any);
      }),
    );
  });

  test('preferenceList(key, n) is the first n distinct physical nodes clockwise (vs a linear scan)', () => {
    fc.assert(
      fc.property(memberNames, vnodeCount, keyId, fc.integer({ min: 0, max: 30 }), (names, v, k, n) => {
        const ring = Ring.fromMembers(names, v);
        const list = ring.preferenceList(k, n);
        assert.deepEqual(list, linearPreferenceList(ring, k, n));
        assert.equal(list.length, Math.min(n, names.length));
        if (n > 0) assert.equal(list[0], ring.ownerOf(k));
      }),
    );
  });

  test('owned ranges partition the circle: each key lies in exactly one member’s ranges', () => {
    fc.assert(
      fc.property(memberNames, vnodeCount, keyId, (names, v, k) => {
        const ring = Ring.fromMembers(names, v);
        const holders = ring.members.filter((m) =>
          ring.ownedRanges(m).some((r) => inHalfOpen(k, r.startExclusive, r.endInclusive)),
        );
        assert.deepEqual(holders, [ring.ownerOf(k)]);
      }),
    );
  });

  test('a ring of one virtual node owns the whole circle', () => {
    const ring = Ring.fromMembers(['solo'], 1);
    const [range] = ring.ownedRanges('solo');
    assert.equal(range.startExclusive, range.endInclusive);
    assert.equal(ring.ownerOf(0), 'solo');
    assert.equal(ring.ownerOf(RING_SIZE - 1), 'solo');
    assert.deepEqual(ring.successorsOf(range.endInclusive, 3), [ring.vnodes[0]]);
  });

  test('withMember and withoutMember return new rings equal to building from the new list', () => {
    fc.assert(
      fc.property(memberNames, vnodeCount, fc.stringMatching(/^[A-Z][a-z]{0,5}$/), (names, v, extra) => {
        const ring = Ring.fromMembers(names, v);
        const grown = ring.withMember(extra);
        assert.deepEqual(grown.vnodes, Ring.fromMembers([...names, extra], v).vnodes);
        assert.deepEqual(grown.members, Ring.fromMembers([...names, extra], v).members);
        assert.equal(ring.has(extra), false, 'the original ring is unchanged');
        assert.deepEqual(grown.withoutMember(extra).vnodes, ring.vnodes);
        assert.equal(ring.withMember(names[0]), ring, 'adding a member twice changes nothing');
      }),
    );
  });
});

describe('Chord Theorem 1: joins and leaves move only O(K/N) keys', () => {
  const keys = Array.from({ length: 2000 }, (_, i) => identifierOf(`key-${i}`));

  test('a join moves only the keys between the new node and its predecessor, and to the new node', () => {
    fc.assert(
      fc.property(memberNames, fc.stringMatching(/^[A-Z][a-z]{0,5}$/), (names, joiner) => {
        const before = Ring.fromMembers(names, 1);
        const after = before.withMember(joiner);
        const [newcomer] = after.vnodesOf(joiner);
        const predecessor = after.predecessorOf(newcomer.id);
        for (const k of keys) {
          const moved = before.ownerOf(k) !== after.ownerOf(k);
          assert.equal(moved, inHalfOpen(k, predecessor.id, newcomer.id));
          if (moved) assert.equal(after.ownerOf(k), joiner);
        }
      }),
    );
  });

  test('with virtual nodes, a join takes over exactly the ranges of its new virtual nodes', () => {
    fc.assert(
      fc.property(memberNames, vnodeCount, fc.stringMatching(/^[A-Z][a-z]{0,5}$/), (names, v, joiner) => {
        const before = Ring.fromMembers(names, v);
        const after = before.withMember(joiner);
        const ranges = after.ownedRanges(joiner);
        for (const k of keys) {
          const moved = before.ownerOf(k) !== after.ownerOf(k);
          assert.equal(
            moved,
            ranges.some((r) => inHalfOpen(k, r.startExclusive, r.endInclusive)),
          );
        }
      }),
    );
  });

  test('a leave hands the leaving node’s keys to its successors and moves nothing else', () => {
    fc.assert(
      fc.property(
        memberNames.filter((n) => n.length >= 2),
        vnodeCount,
        (names, v) => {
          const before = Ring.fromMembers(names, v);
          const leaver = names[0];
          const after = before.withoutMember(leaver);
          for (const k of keys) {
            const owner = before.ownerOf(k);
            if (owner === leaver) assert.notEqual(after.ownerOf(k), leaver);
            else assert.equal(after.ownerOf(k), owner);
          }
        },
      ),
    );
  });

  test('with 32 virtual nodes per node, keys spread evenly (p99/mean ≤ 1.6, p1/mean ≥ 0.5)', () => {
    const names = Array.from({ length: 200 }, (_, i) => `n${i}`);
    const ring = Ring.fromMembers(names, 32);
    const count = new Map(names.map((n) => [n, 0]));
    const total = 200_000;
    for (let i = 0; i < total; i++) {
      const owner = ring.ownerOf(identifierOf(`k${i}`));
      count.set(owner, (count.get(owner) ?? 0) + 1);
    }
    const sorted = [...count.values()].sort((a, b) => a - b);
    const mean = total / names.length;
    assert.ok(sorted[Math.ceil(0.99 * sorted.length) - 1] / mean <= 1.6);
    assert.ok(sorted[Math.ceil(0.01 * sorted.length) - 1] / mean >= 0.5);
  });
});
