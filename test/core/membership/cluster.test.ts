/**
 * Real `Swim` instances in the deterministic simulator: the claims of SWIM and of our additions,
 * each checked on whole clusters with crashes, loss, one-way links and partitions.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { detectionBoundMs, suspicionTimeoutMinMs } from '../../../src/core/membership/config.js';
import { allSeeAlive, names, startCluster, swimOf, testConfig } from './cluster.js';

const P = testConfig.probeIntervalMs;
/** Tick granularity plus a few message latencies: what the virtual clock may add to any bound. */
const SLACK_MS = 30;

describe('failure detection', () => {
  test('a crashed member is declared dead by every live member within 4(N−1)·T + the unconfirmed suspicion timeout', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 9 }),
        fc.nat(),
        fc.integer({ min: 1, max: 1_000_000 }),
        (n, v, seed) => {
          const ids = names(n);
          const c = startCluster(ids, { seed });
          const victim = ids[v % n];
          c.sim.runFor(5 * P);
          const crashedAt = c.sim.now();
          c.sim.crash(victim);
          const bound = detectionBoundMs(testConfig, n);
          const live = ids.filter((id) => id !== victim);
          const everyone = () => live.every((o) => c.stateSeenBy(o, victim) === 'dead');
          assert.ok(
            c.sim.runUntil(everyone, bound + SLACK_MS, 1),
            `all saw ${victim} dead within ${bound} ms (seed ${seed})`,
          );
          const deaths = c.eventsAbout(victim, 'dead');
          assert.equal(deaths.length, live.length, 'each live member declares it dead once');
          assert.ok(deaths.every((d) => d.atMs - crashedAt <= bound + SLACK_MS));
          const falseAlarms = c.events.filter(
            (e) => e.subject !== victim && (e.type === 'dead' || e.type === 'suspect'),
          );
          assert.deepEqual(falseAlarms, [], 'nobody else was suspected on a loss-free network');
        },
      ),
      { numRuns: 12 },
    );
  });

  test('with everyone probing, detection takes a few periods plus the confirmed suspicion timeout', () => {
    const ids = names(8);
    const c = startCluster(ids, { seed: 11 });
    c.sim.runFor(5 * P);
    const crashedAt = c.sim.now();
    c.sim.crash('d');
    c.sim.runUntil(() => ids.every((o) => o === 'd' || c.stateSeenBy(o, 'd') === 'dead'), 100 * P);
    const first = Math.min(...c.eventsAbout('d', 'dead').map((e) => e.atMs)) - crashedAt;
    const min = suspicionTimeoutMinMs(testConfig, 8);
    assert.ok(first >= min, 'no earlier than the minimum suspicion timeout');
    assert.ok(
      first <= min + 5 * P,
      `first declared dead after ${first} ms: confirmations cut the timeout to its minimum`,
    );
  });

  test('one broken link does not make two members suspect each other: ping-req goes around it', () => {
    const ids = names(5);
    const c = startCluster(ids, { seed: 3 });
    c.sim.blockLink('a', 'b');
    c.sim.blockLink('b', 'a');
    c.sim.runFor(300 * P);
    assert.deepEqual(c.eventsAbout('a', 'suspect').concat(c.eventsAbout('b', 'suspect')), []);
    assert.ok(swimOf(c.sim, 'a').counters.indirectProbes > 0, 'a did need indirect probes');
  });

  test('a member that cannot send (one-way partition) is suspected, hears it, and refutes once it can', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const ids = names(5);
      const c = startCluster(ids, { seed });
      const others = ids.filter((id) => id !== 'e');
      // e hears everyone but nobody hears e: its acks, and so its refutations, are lost.
      for (const o of others) c.sim.blockLink('e', o);
      assert.ok(
        c.sim.runUntil(() => c.eventsAbout('e', 'suspect').length > 0, 100 * P, 1),
        `e suspected (seed ${seed})`,
      );
      c.sim.runFor(P);
      c.sim.heal();
      c.sim.runFor(50 * P);
      assert.ok(swimOf(c.sim, 'e').incarnation >= 1, 'e refuted by incarnating');
      assert.deepEqual(c.eventsAbout('e', 'dead'), [], `e was never declared dead (seed ${seed})`);
      assert.ok(allSeeAlive(c.sim, ids), 'everyone sees e alive again');
      const inc = swimOf(c.sim, 'e').incarnation;
      assert.ok(
        others.every((o) => swimOf(c.sim, o).member('e')?.incarnation === inc),
        'at its new incarnation',
      );
    }
  });

  test('no member of a healthy cluster is declared dead at 5% message loss over 10 simulated minutes', () => {
    const ids = names(8);
    const c = startCluster(ids, { seed: 5, network: { packetLossProbability: 0.05 }, tickIntervalMs: 10 });
    c.sim.runFor(10 * 60_000);
    const suspicions = c.events.filter((e) => e.type === 'suspect').length;
    assert.deepEqual(
      c.events.filter((e) => e.type === 'dead'),
      [],
      `no false deaths (${suspicions} suspicions, all refuted)`,
    );
    assert.ok(allSeeAlive(c.sim, ids));
  });
});

describe('membership changes', () => {
  test('a graceful leave reaches every member as `left` within a few message delays, with no suspicion', () => {
    const ids = names(6);
    const c = startCluster(ids, { seed: 8 });
    c.sim.runFor(10 * P);
    const leftAt = c.sim.now();
    c.sim.request('c', { type: 'leave' });
    const rest = ids.filter((id) => id !== 'c');
    assert.ok(c.sim.runUntil(() => rest.every((o) => c.stateSeenBy(o, 'c') === 'left'), 20 * P, 1));
    assert.ok(c.sim.now() - leftAt < 20, `everyone knew after ${c.sim.now() - leftAt} ms`);
    c.sim.remove('c');
    c.sim.runFor(100 * P);
    assert.deepEqual(c.eventsAbout('c', 'suspect').concat(c.eventsAbout('c', 'dead')), []);
    assert.equal(c.eventsAbout('c', 'left').length, rest.length);
  });

  test('a joining node learns everyone, and everyone learns it', () => {
    const ids = names(6);
    const c = startCluster(ids, { seed: 9 });
    c.sim.runFor(10 * P);
    const start = c.sim.now();
    c.add('z', ['c']);
    assert.ok(c.sim.runUntil(() => allSeeAlive(c.sim, [...ids, 'z']), 20 * P, 1));
    assert.ok(c.sim.now() - start < 5 * P, `converged in ${c.sim.now() - start} ms`);
    assert.equal(c.eventsAbout('z', 'joined').length, ids.length, 'each member reported z joined once');
  });

  test('a meta update reaches every member, even at 5% loss', () => {
    const ids = names(8);
    const c = startCluster(ids, { seed: 10, network: { packetLossProbability: 0.05 } });
    c.sim.request('b', { type: 'meta', meta: { status: 'leaving', vnodes: 64 } });
    const everyone = () => ids.every((o) => swimOf(c.sim, o).member('b')?.meta.status === 'leaving');
    assert.ok(c.sim.runUntil(everyone, 30 * P));
    assert.equal(c.eventsAbout('b', 'meta').length, ids.length - 1);
  });

  test('partition {a,b} | {c,d,e}: each side declares the other dead; after heal everyone is alive everywhere', () => {
    const ids = names(5);
    const c = startCluster(ids, { seed: 12 });
    c.sim.partition([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    c.sim.runFor(detectionBoundMs(testConfig, 5) + SLACK_MS);
    assert.equal(c.stateSeenBy('a', 'd'), 'dead');
    assert.equal(c.stateSeenBy('e', 'b'), 'dead');
    assert.equal(c.stateSeenBy('a', 'b'), 'alive', 'members on the same side stay alive');
    c.sim.heal();
    const healedAt = c.sim.now();
    assert.ok(c.sim.runUntil(() => allSeeAlive(c.sim, ids), 3 * testConfig.pushPullIntervalMs, 1));
    assert.ok(
      c.sim.now() - healedAt <= testConfig.pushPullIntervalMs + 10 * P,
      'within a push-pull interval',
    );
    c.sim.runFor(50 * P);
    assert.ok(allSeeAlive(c.sim, ids), 'and it stays so');
  });

  test('a partition that outlasts the tombstones heals through the seeds', () => {
    const config = { ...testConfig, deadMemberRetentionMs: 3000 };
    const ids = names(5);
    const c = startCluster(ids, { seed: 13, config });
    c.sim.partition([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    c.sim.runFor(detectionBoundMs(config, 5) + config.deadMemberRetentionMs + 1000);
    assert.equal(swimOf(c.sim, 'c').member('a'), undefined, 'c forgot a');
    assert.equal(swimOf(c.sim, 'a').member('c'), undefined, 'a forgot c');
    c.sim.heal();
    assert.ok(c.sim.runUntil(() => allSeeAlive(c.sim, ids), 3 * config.pushPullIntervalMs, 1));
  });

  for (const persistIncarnation of [false, true]) {
    test(`a crashed and restarted node is readmitted (${persistIncarnation ? 'persisted' : 'learnt'} incarnation)`, () => {
      const ids = names(5);
      const c = startCluster(ids, { seed: 14, persistIncarnation });
      c.sim.crash('d');
      c.sim.runUntil(() => ids.every((o) => o === 'd' || c.stateSeenBy(o, 'd') === 'dead'), 100 * P);
      const deadAt = swimOf(c.sim, 'a').member('d')?.incarnation as number;
      c.sim.restart('d');
      assert.ok(
        c.sim.runUntil(() => allSeeAlive(c.sim, ids), 10 * P, 1),
        'readmitted within a few periods',
      );
      assert.ok((swimOf(c.sim, 'a').member('d')?.incarnation as number) > deadAt, 'at a higher incarnation');
      assert.equal(
        c.eventsAbout('d', 'joined').filter((e) => e.atMs > 0 && e.observer !== 'd').length >= 4,
        true,
      );
    });
  }
});

describe('pauses', () => {
  test('a member paused past its suspicion is declared dead, and on resuming refutes and is back', () => {
    const ids = names(5);
    const c = startCluster(ids, { seed: 15 });
    c.sim.pause('b');
    const rest = ids.filter((id) => id !== 'b');
    assert.ok(
      c.sim.runUntil(
        () => rest.every((o) => c.stateSeenBy(o, 'b') === 'dead'),
        detectionBoundMs(testConfig, 5),
      ),
    );
    c.sim.resume('b');
    assert.ok(c.sim.runUntil(() => allSeeAlive(c.sim, ids), testConfig.pushPullIntervalMs + 20 * P, 1));
    assert.ok(swimOf(c.sim, 'b').incarnation >= 1, 'b came back by refuting its death');
  });
});

describe('determinism', () => {
  test('the same seed gives the same events and trace; another seed does not', () => {
    const run = (seed: number) => {
      const ids = names(6);
      const c = startCluster(ids, { seed, network: { packetLossProbability: 0.1 } });
      c.sim.after(500, () => c.sim.crash('b'));
      c.sim.after(1000, () =>
        c.sim.partition([
          ['a', 'c'],
          ['d', 'e', 'f'],
        ]),
      );
      c.sim.after(4000, () => c.sim.heal());
      c.sim.after(5000, () => c.sim.restart('b'));
      c.sim.runFor(10_000);
      return { events: JSON.stringify(c.events), digest: c.sim.traceDigest() };
    };
    const first = run(77);
    assert.deepEqual(run(77), first);
    assert.notEqual(run(78).digest, first.digest);
  });
});
