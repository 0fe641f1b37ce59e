/**
 * One `Swim` driven by hand: each test feeds messages and ticks and reads what it sends, for the
 * sentences of the paper (and memberlist's additions) one at a time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { suspicionTimeoutMaxMs } from '../../../src/core/membership/config.js';
import { Swim } from '../../../src/core/membership/swim.js';
import type { MemberUpdate, SwimMessage, SwimOutput } from '../../../src/core/membership/types.js';
import { SeededRandom } from '../../../src/core/random.js';
import { testConfig } from './cluster.js';

const config = testConfig;

/** Node `me` that already knows `others` alive at incarnation 0 (through a state sync). */
function nodeKnowing(others: string[], seed = 1, me = 'me'): Swim {
  const swim = new Swim({ random: new SeededRandom(seed) }, { self: { id: me, meta: { port: 1 } }, config });
  swim.tick(0);
  const members: MemberUpdate[] = others.map((id) => ({
    id,
    incarnation: 0,
    state: 'alive',
    meta: { port: 2 },
  }));
  swim.step(others[0], { type: 'push-pull-ack', members }, 0);
  return swim;
}

function messages<T extends SwimMessage['type']>(out: SwimOutput, type: T) {
  return out.outbox.filter((e) => e.msg.type === type) as {
    to: string;
    msg: Extract<SwimMessage, { type: T }>;
  }[];
}

const updatesIn = (out: SwimOutput): MemberUpdate[] =>
  out.outbox.flatMap((e) => ('updates' in e.msg ? e.msg.updates : 'members' in e.msg ? e.msg.members : []));

/** Ticks every ms from `fromMs` to `toMs`, collecting everything sent and reported. */
function tickThrough(swim: Swim, fromMs: number, toMs: number): SwimOutput {
  const all: SwimOutput = { outbox: [], events: [] };
  for (let t = fromMs; t <= toMs; t++) {
    const out = swim.tick(t);
    all.outbox.push(...out.outbox);
    all.events.push(...out.events);
  }
  return all;
}

describe('the failure detector (SWIM §3.1)', () => {
  test('one ping per protocol period, to members in round-robin order', () => {
    const swim = nodeKnowing(['a', 'b', 'c', 'd']);
    const out = tickThrough(swim, 1, 8 * config.probeIntervalMs);
    const pings = messages(out, 'ping');
    assert.ok(pings.length >= 7 && pings.length <= 8, `${pings.length} pings in 8 periods`);
    assert.deepEqual(
      pings
        .slice(0, 4)
        .map((p) => p.to)
        .sort(),
      ['a', 'b', 'c', 'd'],
      'each member once per round',
    );
  });

  test('a ping is answered by an ack with its seq, carrying piggybacked updates', () => {
    const swim = nodeKnowing(['a', 'b']);
    const out = swim.step('a', { type: 'ping', seq: 42, updates: [] }, 5);
    const [ack] = messages(out, 'ack');
    assert.equal(ack.to, 'a');
    assert.equal(ack.msg.seq, 42);
    assert.ok(ack.msg.updates.length > 0, 'news of a and b joining is still being gossiped');
    assert.ok(ack.msg.updates.length <= config.maxPiggybackedUpdates);
  });

  test('no ack within the probe timeout: ping-req to k other members; none by the period end: suspect', () => {
    const swim = nodeKnowing(['a', 'b', 'c', 'd', 'e']);
    const all = tickThrough(swim, 1, 2 * config.probeIntervalMs);
    const [ping] = messages(all, 'ping');
    const target = ping.to;
    const reqs = messages(all, 'ping-req').filter((m) => m.msg.target === target);
    assert.equal(reqs.length, config.indirectChecks, 'k indirect probes');
    assert.equal(new Set(reqs.map((r) => r.to)).size, config.indirectChecks, 'to distinct members');
    assert.ok(!reqs.some((r) => r.to === target || r.to === 'me'));
    const suspected = all.events.filter((e) => e.type === 'suspect');
    assert.deepEqual(
      suspected.map((e) => [e.member.id, e.member.incarnation]),
      [[target, 0]],
      'suspected at the incarnation it had',
    );
  });

  test('an ack, direct or relayed, within the period keeps the target alive', () => {
    const swim = nodeKnowing(['a', 'b', 'c']);
    let t = 1;
    let ping: { to: string; msg: Extract<SwimMessage, { type: 'ping' }> } | undefined;
    for (; !ping; t++) ping = messages(swim.tick(t), 'ping')[0];
    // The ack comes back through a helper after the timeout, with the prober's own seq.
    const later = tickThrough(swim, t, t + config.probeTimeoutMs + 1);
    const [req] = messages(later, 'ping-req');
    swim.step(req.to, { type: 'ack', seq: ping.msg.seq, updates: [] }, t + config.probeTimeoutMs + 5);
    const rest = tickThrough(swim, t + config.probeTimeoutMs + 6, t + config.probeIntervalMs + 5);
    assert.deepEqual(rest.events, []);
    assert.equal(swim.member(ping.to)?.state, 'alive');
  });

  test('a ping-req makes the helper ping the target and relay its ack with the requester seq', () => {
    const helper = nodeKnowing(['a', 'b']);
    const out = helper.step('a', { type: 'ping-req', seq: 7, target: 'b', updates: [] }, 10);
    const [ping] = messages(out, 'ping');
    assert.equal(ping.to, 'b');
    const relayed = helper.step('b', { type: 'ack', seq: ping.msg.seq, updates: [] }, 12);
    const [ack] = messages(relayed, 'ack');
    assert.deepEqual([ack.to, ack.msg.seq], ['a', 7]);
    const again = helper.step('b', { type: 'ack', seq: ping.msg.seq, updates: [] }, 13);
    assert.deepEqual(messages(again, 'ack'), [], 'a duplicate ack is relayed once');
  });
});

describe('suspicion and incarnations (SWIM §4.2)', () => {
  test('a member that hears it is suspected refutes by incarnating and gossiping alive', () => {
    const swim = nodeKnowing(['a', 'b']);
    const out = swim.step(
      'a',
      { type: 'ping', seq: 1, updates: [{ id: 'me', incarnation: 0, state: 'suspect', from: 'a' }] },
      5,
    );
    assert.equal(swim.incarnation, 1);
    assert.ok(
      updatesIn(out).some((u) => u.id === 'me' && u.state === 'alive' && u.incarnation === 1),
      'the refutation rides on the very ack',
    );
    assert.equal(swim.member('me')?.state, 'alive');
    assert.equal(swim.counters.refutations, 1);
  });

  test('it refutes a death too, so a member wrongly declared dead comes back (memberlist)', () => {
    const swim = nodeKnowing(['a']);
    swim.step('a', { type: 'gossip', updates: [{ id: 'me', incarnation: 0, state: 'dead', from: 'a' }] }, 5);
    assert.equal(swim.incarnation, 1);
  });

  test('stale news about itself is ignored', () => {
    const swim = nodeKnowing(['a']);
    swim.updateMeta({ port: 3 }, 1);
    swim.updateMeta({ port: 4 }, 2);
    swim.step(
      'a',
      { type: 'gossip', updates: [{ id: 'me', incarnation: 1, state: 'suspect', from: 'a' }] },
      5,
    );
    assert.equal(swim.incarnation, 2);
    assert.equal(swim.counters.refutations, 0);
  });

  test('an unrefuted suspect is declared dead at its deadline: the unconfirmed (max) timeout', () => {
    const swim = nodeKnowing(['a', 'b', 'c', 'd', 'e']);
    swim.step(
      'a',
      { type: 'gossip', updates: [{ id: 'b', incarnation: 0, state: 'suspect', from: 'a' }] },
      10,
    );
    assert.equal(swim.member('b')?.state, 'suspect');
    const deadline = 10 + suspicionTimeoutMaxMs(config, 6);
    // Keep b answering this node's own probes, so only the gossiped suspicion counts.
    let dead: number | undefined;
    for (let t = 11; t <= deadline + 5 && dead === undefined; t++) {
      const out = swim.tick(t);
      for (const p of messages(out, 'ping'))
        if (p.to === 'b') swim.step('b', { type: 'ack', seq: p.msg.seq, updates: [] }, t);
      if (out.events.some((e) => e.type === 'dead' && e.member.id === 'b')) dead = t;
    }
    assert.ok(dead !== undefined && Math.abs(dead - deadline) <= 1, `dead at ${dead}, deadline ${deadline}`);
  });

  test('Lifeguard: independent confirmations shorten the suspicion', () => {
    const swim = nodeKnowing(['a', 'b', 'c', 'd', 'e']);
    for (const from of ['a', 'c', 'd']) {
      swim.step(from, { type: 'gossip', updates: [{ id: 'b', incarnation: 0, state: 'suspect', from }] }, 10);
    }
    const out = tickThrough(swim, 11, 10 + config.suspicionMult * config.probeIntervalMs + 1);
    assert.ok(
      out.events.some((e) => e.type === 'dead' && e.member.id === 'b'),
      'dead after the minimum timeout',
    );
  });

  test('a member heard to be suspected is probed at the next period, and hears of it in that ping', () => {
    const swim = nodeKnowing(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    let t = 1;
    while (messages(swim.tick(t), 'ping').length === 0) t++;
    swim.step(
      'a',
      { type: 'gossip', updates: [{ id: 'f', incarnation: 0, state: 'suspect', from: 'a' }] },
      t + 1,
    );
    const next = tickThrough(swim, t + 2, t + config.probeIntervalMs + 1);
    const [ping] = messages(next, 'ping');
    assert.equal(ping.to, 'f', 'out of turn');
    assert.deepEqual(ping.msg.updates[0], { id: 'f', incarnation: 0, state: 'suspect', from: 'a' });
  });

  test('alive with a higher incarnation overrides the suspicion: the member refuted it', () => {
    const swim = nodeKnowing(['a', 'b']);
    swim.step(
      'a',
      { type: 'gossip', updates: [{ id: 'b', incarnation: 0, state: 'suspect', from: 'a' }] },
      10,
    );
    const out = swim.step(
      'a',
      { type: 'gossip', updates: [{ id: 'b', incarnation: 1, state: 'alive', meta: { port: 2 } }] },
      20,
    );
    assert.deepEqual(
      out.events.map((e) => e.type),
      ['alive'],
    );
    assert.equal(swim.member('b')?.incarnation, 1);
  });

  test("a node never raises another member's incarnation: only the member itself does", () => {
    const update = fc.record({
      id: fc.constantFrom('a', 'b', 'me'),
      incarnation: fc.integer({ min: 0, max: 5 }),
      state: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(update, fc.integer({ min: 0, max: 300 })), { maxLength: 30 }),
        (script) => {
          const swim = nodeKnowing(['a', 'b']);
          const heard = new Map<string, number>([
            ['a', 0],
            ['b', 0],
          ]);
          let now = 1;
          for (const [u, dt] of script) {
            now += dt;
            swim.tick(now);
            swim.step('a', { type: 'gossip', updates: [{ ...u, meta: {} }] }, now);
            if (u.id !== 'me') heard.set(u.id, Math.max(heard.get(u.id) ?? 0, u.incarnation));
            for (const m of swim.members()) {
              if (m.id !== 'me')
                assert.ok(m.incarnation <= (heard.get(m.id) ?? 0), `${m.id} at ${m.incarnation}`);
            }
          }
          // It refutes news about itself by going one above it, never further.
          const aboutMe = script.filter(([u]) => u.id === 'me').map(([u]) => u.incarnation);
          assert.ok(swim.incarnation <= Math.max(0, ...aboutMe) + 1);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('joining, leaving, meta, restarts', () => {
  test('a join is answered with the full member list; the newcomer is then gossiped', () => {
    const seed = nodeKnowing(['a', 'b']);
    const out = seed.step(
      'new',
      { type: 'join', members: [{ id: 'new', incarnation: 0, state: 'alive', meta: { x: 1 } }] },
      5,
    );
    const [reply] = messages(out, 'join-ack');
    assert.equal(reply.to, 'new');
    assert.deepEqual(reply.msg.members.map((m) => m.id).sort(), ['a', 'b', 'me', 'new']);
    assert.deepEqual(
      out.events.map((e) => [e.type, e.member.id]),
      [['joined', 'new']],
    );
    const next = seed.step('a', { type: 'ping', seq: 1, updates: [] }, 6);
    assert.ok(updatesIn(next).some((u) => u.id === 'new' && u.state === 'alive'));
  });

  test('join retries every period until a seed answers', () => {
    const swim = new Swim({ random: new SeededRandom(2) }, { self: { id: 'me', meta: {} }, config });
    const first = swim.join(['s1', 's2', 'me'], 0);
    assert.deepEqual(
      messages(first, 'join').map((m) => m.to),
      ['s1', 's2'],
      'never itself',
    );
    const retries = tickThrough(swim, 1, 3 * config.probeIntervalMs);
    assert.equal(messages(retries, 'join').length, 6);
    swim.step(
      's1',
      { type: 'join-ack', members: [{ id: 's1', incarnation: 0, state: 'alive', meta: {} }] },
      301,
    );
    assert.equal(messages(tickThrough(swim, 302, 1000), 'join').length, 0);
  });

  test('a graceful leave tells every member at once; afterwards the node only answers pings', () => {
    const swim = nodeKnowing(['a', 'b', 'c']);
    const out = swim.leave(10);
    assert.deepEqual(
      messages(out, 'gossip')
        .map((m) => m.to)
        .sort(),
      ['a', 'b', 'c'],
    );
    assert.ok(updatesIn(out).every((u) => u.id === 'me' && u.state === 'left'));
    assert.equal(swim.member('me')?.state, 'left');
    assert.deepEqual(tickThrough(swim, 11, 10_000).outbox, [], 'no probes, no push-pull after leaving');
    const ack = swim.step('a', { type: 'ping', seq: 3, updates: [] }, 10_001);
    assert.equal(messages(ack, 'ack').length, 1);
    swim.step('a', { type: 'gossip', updates: [{ id: 'me', incarnation: 0, state: 'dead' }] }, 10_002);
    assert.equal(swim.incarnation, 0, 'a node that left does not refute');
  });

  test('updateMeta raises the incarnation and gossips the new meta', () => {
    const swim = nodeKnowing(['a']);
    swim.updateMeta({ port: 1, status: 'leaving' }, 5);
    assert.equal(swim.incarnation, 1);
    const out = swim.step('a', { type: 'ping', seq: 1, updates: [] }, 6);
    const mine = updatesIn(out).find((u) => u.id === 'me');
    assert.deepEqual(mine, {
      id: 'me',
      incarnation: 1,
      state: 'alive',
      meta: { port: 1, status: 'leaving' },
    });
    const other = nodeKnowing(['me'], 3, 'a');
    const events = other.step('me', { type: 'ping', seq: 2, updates: [mine as MemberUpdate] }, 7).events;
    assert.deepEqual(
      events.map((e) => [e.type, e.member.meta.status]),
      [['meta', 'leaving']],
    );
  });

  test('a restarted node that lost its incarnation learns the old one from the seed and overtakes it', () => {
    const restarted = new Swim({ random: new SeededRandom(4) }, { self: { id: 'me', meta: {} }, config });
    restarted.join(['s'], 0);
    const members: MemberUpdate[] = [
      { id: 's', incarnation: 0, state: 'alive', meta: {} },
      { id: 'me', incarnation: 6, state: 'dead', meta: {} },
    ];
    const out = restarted.step('s', { type: 'join-ack', members }, 3);
    assert.equal(restarted.incarnation, 7);
    assert.deepEqual(
      out.events.map((e) => [e.type, e.member.id]),
      [['joined', 's']],
    );
    const started = new Swim(
      { random: new SeededRandom(4) },
      { self: { id: 'me', meta: {}, incarnation: 9 }, config },
    );
    started.step('s', { type: 'join-ack', members }, 3);
    assert.equal(started.incarnation, 9, 'a host that persisted its incarnation starts above the old one');
  });

  test('tombstones reject stale alive until deadMemberRetentionMs, then are forgotten', () => {
    const swim = nodeKnowing(['a', 'b']);
    swim.step('a', { type: 'gossip', updates: [{ id: 'b', incarnation: 2, state: 'dead', from: 'a' }] }, 10);
    const stale = swim.step(
      'a',
      { type: 'gossip', updates: [{ id: 'b', incarnation: 2, state: 'alive', meta: {} }] },
      20,
    );
    assert.deepEqual(stale.events, []);
    assert.equal(swim.member('b')?.state, 'dead');
    swim.tick(10 + config.deadMemberRetentionMs - 1);
    assert.ok(swim.member('b'), 'still remembered');
    swim.tick(10 + config.deadMemberRetentionMs);
    assert.equal(swim.member('b'), undefined, 'forgotten');
  });

  test('nextDeadlineMs names when the next tick has work', () => {
    const swim = nodeKnowing(['a']);
    const t = swim.nextDeadlineMs();
    assert.ok(t > 0 && t <= config.probeIntervalMs);
    assert.equal(messages(swim.tick(t - 0.001), 'ping').length, 0);
    assert.equal(messages(swim.tick(t), 'ping').length, 1);
  });
});
