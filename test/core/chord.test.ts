/**
 * Chord's protocol, claim by claim (Stoica et al., SIGCOMM 2001), run in the deterministic
 * simulator: virtual time, no sleeping. Each test names the sentence of the paper it checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChordNode, type ChordReply, fingerStart } from '../../src/core/chord.js';
import { identifierOf, inHalfOpen, RING_SIZE, vnodeIdentifier } from '../../src/core/id.js';
import { SeededRandom } from '../../src/core/random.js';
import { ChordSimulation, type LookupOutcome } from '../../src/sim/chord-experiment.js';

/** A ring of `n` nodes built by joins through n0, stabilized down to the fingers. */
function joinedRing(n: number, options: { vnodes?: number; seed?: number; r?: number; cache?: number } = {}) {
  const cs = new ChordSimulation({
    seed: options.seed ?? 7,
    vnodes: options.vnodes ?? 1,
    config: { successorListLength: options.r ?? 6, locationCacheEntries: options.cache ?? 0 },
  });
  cs.create('n0');
  for (let i = 1; i < n; i++) cs.sim.at(i * 40, () => cs.join(`n${i}`, ['n0']));
  cs.sim.runFor(n * 40);
  assert.ok(cs.stabilize('fingers', 60_000), `ring did not converge: ${cs.ringErrors('fingers')}`);
  return cs;
}

/** Runs one lookup to completion and returns its reply. */
function lookupNow(cs: ChordSimulation, from: string, keyId: number): ChordReply {
  let outcome: LookupOutcome | undefined;
  cs.lookup(from, keyId, (o) => {
    outcome = o;
  });
  cs.sim.runUntil(() => outcome !== undefined, 60_000, 1);
  assert.ok(outcome?.reply, `lookup for ${keyId} from ${from} got no reply`);
  return outcome.reply;
}

function assertOwner(cs: ChordSimulation, reply: ChordReply, keyId: number): void {
  assert.equal(reply.type, 'lookup');
  assert.ok(reply.type === 'lookup' && reply.ok, `lookup failed: ${JSON.stringify(reply)}`);
  assert.equal(reply.owner.id, cs.truth().successorOf(keyId).id);
}

/** A node name whose (single) identifier lies in [fromInclusive, toExclusive) on the circle. */
function nameInRange(prefix: string, fromInclusive: number, toExclusive: number): string {
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    const id = vnodeIdentifier(name, 0);
    if (id !== toExclusive && inHalfOpen(id, (fromInclusive - 1 + RING_SIZE) % RING_SIZE, toExclusive))
      return name;
  }
}

/** Whether anything `id` keeps about other members names physical node `other`. */
function knowsOf(cs: ChordSimulation, id: string, other: string): boolean {
  return (cs.node(id)?.vnodes() ?? []).some(
    (v) =>
      v.predecessor?.node === other ||
      v.successorList.some((a) => a.node === other) ||
      v.fingers.some((f) => f?.node === other),
  );
}

describe('Chord: the ring and its maintenance (Figure 6)', () => {
  test('n.create(): a ring of one node is its own successor and owns every key', () => {
    const cs = new ChordSimulation({ seed: 1, vnodes: 1 });
    cs.create('solo');
    cs.sim.runFor(1000);
    assert.deepEqual(cs.ringErrors('fingers'), []);
    for (const k of [0, 12345, RING_SIZE - 1]) assertOwner(cs, lookupNow(cs, 'solo', k), k);
  });

  test('n.join(n′): a node learns its successor from any node’s find_successor(n), then stabilize fixes the ring', () => {
    const cs = new ChordSimulation({ seed: 2, vnodes: 1 });
    cs.create('a');
    cs.join('b', ['a']);
    cs.sim.runFor(60);
    const b = cs.node('b')?.vnodes()[0];
    assert.ok(b?.joined);
    assert.equal(b.successor?.node, 'a', 'with two nodes the successor of b is a');
    assert.ok(cs.stabilize('lists', 5_000), cs.ringErrors('lists').join('; '));
    cs.join('c', ['b']);
    assert.ok(cs.stabilize('fingers', 20_000), cs.ringErrors('fingers').join('; '));
  });

  test('stabilize() and notify() make many concurrent joins converge to the true ring', () => {
    const cs = new ChordSimulation({ seed: 3, vnodes: 1, config: { successorListLength: 4 } });
    cs.create('n0');
    for (let i = 1; i < 40; i++) cs.join(`n${i}`, ['n0']); // all at the same instant
    assert.ok(cs.stabilize('lists', 60_000), cs.ringErrors('lists').join('; '));
  });

  test('fix_fingers(): eventually finger[i] = successor(n + 2^i) for every i', () => {
    const cs = joinedRing(24);
    const truth = cs.truth();
    for (const id of cs.liveIds()) {
      const v = cs.node(id)?.vnodes()[0];
      assert.ok(v);
      v.fingers.forEach((f, i) => {
        assert.equal(f?.id, truth.successorOf(fingerStart(v.self.id, i)).id);
      });
    }
  });

  test('check_predecessor(): a failed predecessor is cleared, and notify installs the next live one', () => {
    const cs = joinedRing(8);
    const truth = cs.truth();
    const victim = truth.vnodes[3];
    const after = truth.vnodes[4];
    cs.crash(victim.node);
    cs.sim.runFor(1500); // > checkPredecessorIntervalMs + rpcTimeoutMs
    const v = cs.node(after.node)?.vnodes()[0];
    assert.notEqual(v?.predecessor?.id, victim.id);
    assert.ok(cs.stabilize('lists', 10_000), cs.ringErrors('lists').join('; '));
    assert.equal(cs.node(after.node)?.vnodes()[0].predecessor?.id, truth.vnodes[2].id);
  });

  test('failures and replication: when its successor fails, a node falls back to the next live entry of its successor list', () => {
    const cs = joinedRing(10, { r: 4 });
    const truth = cs.truth();
    const [p, s1, s2, s3] = [truth.vnodes[0], truth.vnodes[1], truth.vnodes[2], truth.vnodes[3]];
    cs.crash(s1.node);
    cs.crash(s2.node);
    assert.ok(cs.stabilize('lists', 10_000), cs.ringErrors('lists').join('; '));
    assert.equal(cs.node(p.node)?.vnodes()[0].successor?.id, s3.id);
    // Each successor list again holds the next r live members.
    const list = cs
      .node(p.node)
      ?.vnodes()[0]
      .successorList.map((a) => a.id);
    assert.deepEqual(
      list,
      cs
        .truth()
        .successorsOf(p.id, 4)
        .map((v) => v.id),
    );
  });

  test('a graceful leave relinks predecessor and successor at once, without waiting for a timeout', () => {
    const cs = joinedRing(12, { vnodes: 3 });
    const leaver = 'n5';
    cs.leave(leaver);
    // Well under rpcTimeoutMs + one stabilize round: only the leave messages can have done this.
    cs.sim.runFor(30);
    const truth = cs.truth();
    for (const id of cs.liveIds()) {
      for (const v of cs.node(id)?.vnodes() ?? []) {
        assert.equal(v.successor?.id, truth.successorsOf(v.self.id, 1)[0].id, `successor of ${id}`);
        assert.equal(v.predecessor?.id, truth.predecessorOf(v.self.id).id, `predecessor of ${id}`);
      }
    }
    assert.equal(cs.sim.status(leaver), 'removed');
    assert.ok(cs.stabilize('fingers', 30_000), cs.ringErrors('fingers').join('; '));
  });

  test('with V virtual nodes a physical node hosts V ring members, and lookups find the true owner', () => {
    const cs = joinedRing(10, { vnodes: 4 });
    assert.equal(cs.truth().size, 40);
    const random = new SeededRandom(5);
    for (let i = 0; i < 50; i++) {
      const k = identifierOf(`key-${i}`);
      assertOwner(cs, lookupNow(cs, random.pick(cs.liveIds()), k), k);
    }
  });
});

describe('Chord: lookups (Figure 5) and their path length', () => {
  test('a lookup from any node for any key returns successor(key)', () => {
    const cs = joinedRing(32);
    const random = new SeededRandom(9);
    for (let i = 0; i < 100; i++) {
      const k = random.int(RING_SIZE);
      assertOwner(cs, lookupNow(cs, random.pick(cs.liveIds()), k), k);
    }
  });

  test('Fig 10: the mean path length is about ½·log2 N (N = 128: 3.5 hops)', () => {
    const cs = joinedRing(128, { r: 14 });
    const random = new SeededRandom(11);
    const outcomes = cs.lookupAll(
      Array.from({ length: 2000 }, () => ({ from: random.pick(cs.liveIds()), keyId: random.int(RING_SIZE) })),
      500,
    );
    const hops = outcomes.map((o) => (o.reply?.type === 'lookup' && o.reply.ok ? o.reply.hops : -1));
    assert.ok(hops.every((h) => h >= 0));
    const mean = hops.reduce((a, b) => a + b, 0) / hops.length;
    assert.ok(Math.abs(mean - 3.5) <= 0.35, `mean hops ${mean}`);
  });

  test('location cache: a repeated lookup for a key in a cached range goes straight to the owner in one hop', () => {
    const cs = joinedRing(32, { cache: 64 });
    const k = identifierOf('popular');
    const from = cs.liveIds().find((id) => cs.truth().ownerOf(k) !== id) ?? 'n0';
    const first = lookupNow(cs, from, k);
    assertOwner(cs, first, k);
    assert.ok(first.type === 'lookup' && first.ok && first.route === 'ring');
    const again = lookupNow(cs, from, k);
    assertOwner(cs, again, k);
    assert.ok(again.type === 'lookup' && again.ok);
    assert.equal(again.route, 'cache');
    assert.equal(again.hops, 1);
    assert.ok((cs.node(from)?.cachedRanges ?? 0) >= 1);
  });

  test('location cache: a stale entry is detected by its receiver and routing falls back to the ring', () => {
    const cs = joinedRing(16, { cache: 64 });
    const k = identifierOf('movable');
    const truth = cs.truth();
    const owner = truth.successorOf(k);
    const predecessor = truth.predecessorOf(owner.id);
    const from = cs.liveIds().find((id) => id !== owner.node && id !== predecessor.node) ?? 'n0';
    assertOwner(cs, lookupNow(cs, from, k), k); // warms the cache: (predecessor, owner] → owner
    // A newcomer takes over the part of the range that holds k.
    const newcomer = nameInRange('j', k, owner.id);
    cs.join(newcomer, ['n0']);
    assert.ok(cs.stabilize('lists', 20_000), cs.ringErrors('lists').join('; '));
    const stale = lookupNow(cs, from, k);
    assertOwner(cs, stale, k);
    assert.ok(stale.type === 'lookup' && stale.ok);
    assert.equal(stale.owner.node, newcomer);
    assert.equal(stale.route, 'stale-cache');
    // The answer replaced the stale entry: the next lookup is one hop again.
    const fresh = lookupNow(cs, from, k);
    assert.ok(fresh.type === 'lookup' && fresh.ok);
    assert.deepEqual([fresh.route, fresh.hops, fresh.owner.node], ['cache', 1, newcomer]);
  });

  test('location cache: an entry whose owner crashed times out and routing falls back to the ring', () => {
    const cs = joinedRing(16, { cache: 64 });
    const k = identifierOf('fragile');
    const owner = cs.truth().successorOf(k);
    // A client node that never talks to the owner except through its cache.
    const from = cs.liveIds().find((id) => id !== owner.node && !knowsOf(cs, id, owner.node));
    assert.ok(from, 'some node has no pointer to the owner');
    assertOwner(cs, lookupNow(cs, from, k), k);
    assert.equal(cs.node(from)?.cachedOwner(k)?.id, owner.id);
    cs.crash(owner.node);
    assert.ok(cs.stabilize('lists', 20_000), cs.ringErrors('lists').join('; '));
    const reply = lookupNow(cs, from, k);
    assertOwner(cs, reply, k);
    assert.ok(reply.type === 'lookup' && reply.ok);
    assert.equal(reply.route, 'stale-cache');
    assert.notEqual(cs.node(from)?.cachedOwner(k)?.node, owner.node);
  });

  test('simultaneous node failures: lookups still succeed after a quarter of the nodes fail, when successor lists are long enough', () => {
    const cs = joinedRing(64, { r: 12, seed: 21 });
    const random = new SeededRandom(13);
    const victims = random.shuffle([...cs.liveIds()]).slice(0, 16);
    for (const id of victims) cs.crash(id);
    assert.ok(cs.stabilize('lists', 30_000), cs.ringErrors('lists').join('; '));
    const outcomes = cs.lookupAll(
      Array.from({ length: 500 }, () => ({ from: random.pick(cs.liveIds()), keyId: random.int(RING_SIZE) })),
      200,
    );
    const truth = cs.truth();
    const wrong = outcomes.filter(
      (o) =>
        !(o.reply?.type === 'lookup' && o.reply.ok && o.reply.owner.id === truth.successorOf(o.keyId).id),
    );
    assert.equal(wrong.length, 0, JSON.stringify(wrong.slice(0, 3)));
  });

  test('a lookup at a node that has not joined yet fails with NOT_JOINED (a definite error)', () => {
    const cs = new ChordSimulation({ seed: 4, vnodes: 1 });
    cs.join('lonely', ['nobody']);
    const reply = lookupNow(cs, 'lonely', 42);
    assert.deepEqual(reply, { type: 'lookup', ok: false, keyId: 42, error: 'NOT_JOINED' });
  });

  test('a key identifier off the circle is refused with BAD_KEY (a definite error)', () => {
    const cs = joinedRing(2);
    for (const keyId of [-1, RING_SIZE, 1.5]) {
      assert.deepEqual(lookupNow(cs, 'n0', keyId), { type: 'lookup', ok: false, keyId, error: 'BAD_KEY' });
    }
  });
});

describe('determinism and purity', () => {
  test('the same seed gives the same trace', () => {
    const digest = (seed: number): string => joinedRing(12, { seed }).sim.traceDigest();
    assert.equal(digest(5), digest(5));
    assert.notEqual(digest(5), digest(6));
  });

  test('the core node answers the same calls with the same batches', () => {
    const make = () => new ChordNode('x', { random: new SeededRandom(1) }, { vnodes: 3, bootstrap: ['y'] });
    const a = make();
    const b = make();
    assert.deepEqual(a.tick(0), b.tick(0));
    assert.deepEqual(a.tick(500), b.tick(500));
  });
});
