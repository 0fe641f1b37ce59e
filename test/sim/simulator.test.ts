import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientRequest, NodeId, ProtocolNode, Random, Ready } from '../../src/core/types.js';
import { Simulator } from '../../src/sim/simulator.js';
import { LogStorage } from '../../src/sim/storage.js';

/**
 * A toy protocol that exercises every part of the host contract: it gossips pings to random
 * peers on ticks (randomness and time), answers pings (messages), and stores client values
 * (writes that must be durable before the reply).
 */
type Msg = { type: 'ping'; n: number } | { type: 'pong'; n: number };
type Req = { type: 'put'; value: number } | { type: 'stats' };
type Rep = { type: 'ok' } | { type: 'stats'; pings: number; pongs: number; values: number[]; nowMs: number };

class ToyNode implements ProtocolNode<Msg, Req, Rep, number> {
  pings = 0;
  pongs = 0;
  readonly pingsFrom = new Map<NodeId, number>();
  private sent = 0;
  private nextPingMs = 0;
  readonly values: number[];

  constructor(
    readonly id: NodeId,
    private readonly peers: NodeId[],
    private readonly random: Random,
    storage: LogStorage<number>,
  ) {
    this.values = storage.visible();
  }

  step(from: NodeId, msg: Msg): Ready<Msg, Rep, number> {
    if (msg.type === 'ping') {
      this.pings++;
      this.pingsFrom.set(from, (this.pingsFrom.get(from) ?? 0) + 1);
      return { outbox: [{ to: from, msg: { type: 'pong', n: msg.n } }], replies: [], writes: [] };
    }
    this.pongs++;
    return { outbox: [], replies: [], writes: [] };
  }

  tick(nowMs: number): Ready<Msg, Rep, number> {
    if (nowMs < this.nextPingMs) return { outbox: [], replies: [], writes: [] };
    this.nextPingMs = nowMs + 50;
    const to = this.random.pick(this.peers.filter((p) => p !== this.id));
    return { outbox: [{ to, msg: { type: 'ping', n: this.sent++ } }], replies: [], writes: [] };
  }

  request(req: ClientRequest<Req>, nowMs: number): Ready<Msg, Rep, number> {
    if (req.body.type === 'put') {
      this.values.push(req.body.value);
      return {
        outbox: [],
        replies: [{ requestId: req.requestId, body: { type: 'ok' } }],
        writes: [req.body.value],
      };
    }
    const body: Rep = {
      type: 'stats',
      pings: this.pings,
      pongs: this.pongs,
      values: [...this.values],
      nowMs,
    };
    return { outbox: [], replies: [{ requestId: req.requestId, body }], writes: [] };
  }
}

const ids = ['a', 'b', 'c', 'd', 'e'];

function makeSim(seed: number, options: Partial<ConstructorParameters<typeof Simulator>[1]> = {}) {
  const sim = new Simulator<Msg, Req, Rep, number, undefined>(
    (id, ctx) => new ToyNode(id, ids, ctx.random, ctx.storage as LogStorage<number>),
    { seed, tickIntervalMs: 10, createStorage: () => new LogStorage<number>(), ...options },
  );
  for (const id of ids) sim.addNode(id, undefined);
  return sim;
}

function toy(sim: Simulator<Msg, Req, Rep, number, undefined>, id: NodeId): ToyNode {
  return sim.node(id) as ToyNode;
}

describe('determinism', () => {
  test('the same seed gives the same trace digest, a different seed a different one', () => {
    const run = (seed: number) => {
      const sim = makeSim(seed, {
        network: {
          latencyMinMs: 1,
          latencyJitterMeanMs: 3,
          packetLossProbability: 0.1,
          duplicateProbability: 0.1,
          reorderProbability: 0.2,
          reorderDelayMaxMs: 20,
        },
      });
      sim.after(300, () =>
        sim.partition([
          ['a', 'b'],
          ['c', 'd', 'e'],
        ]),
      );
      sim.after(600, () => sim.crash('c'));
      sim.after(700, () => sim.heal());
      sim.after(900, () => sim.restart('c'));
      sim.runFor(2000);
      return { digest: sim.traceDigest(), delivered: sim.stats.messagesDelivered };
    };
    const first = run(42);
    assert.ok(first.delivered > 100, 'the toy protocol did exchange messages');
    assert.deepEqual(run(42), first);
    assert.notEqual(run(43).digest, first.digest);
  });
});

describe('network faults', () => {
  test('a symmetric partition stops traffic between groups both ways and heal restores it', () => {
    const sim = makeSim(1);
    sim.partition([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    sim.runFor(1000);
    assert.ok(sim.stats.droppedByPartition > 0, 'pings across the partition were dropped');
    assert.deepEqual([...toy(sim, 'a').pingsFrom.keys()], ['b'], 'a heard only from its own side');
    assert.ok(!toy(sim, 'c').pingsFrom.has('a') && !toy(sim, 'c').pingsFrom.has('b'));
    sim.heal();
    const before = sim.stats.droppedByPartition;
    sim.runFor(1000);
    assert.equal(sim.stats.droppedByPartition, before, 'nothing is dropped after heal');
  });

  test('a one-way block loses messages in one direction only', () => {
    const sim = makeSim(2);
    sim.blockLink('a', 'b');
    assert.equal(sim.isBlocked('a', 'b'), true);
    assert.equal(sim.isBlocked('b', 'a'), false);
    sim.runFor(2000);
    assert.equal(toy(sim, 'b').pingsFrom.get('a'), undefined, 'nothing from a reaches b');
    assert.ok((toy(sim, 'a').pingsFrom.get('b') ?? 0) > 0, 'b still reaches a');
  });

  test('loss drops about the configured fraction; duplication delivers copies', () => {
    const sim = makeSim(3, {
      network: {
        latencyMinMs: 1,
        latencyJitterMeanMs: 1,
        packetLossProbability: 0.3,
        duplicateProbability: 0.5,
        reorderProbability: 0,
        reorderDelayMaxMs: 0,
      },
    });
    sim.runFor(20_000);
    const lossRate = sim.stats.droppedByLoss / sim.stats.messagesSent;
    assert.ok(lossRate > 0.25 && lossRate < 0.35, `loss rate ${lossRate}`);
    const dupRate = sim.stats.duplicated / (sim.stats.messagesSent - sim.stats.droppedByLoss);
    assert.ok(dupRate > 0.45 && dupRate < 0.55, `duplicate rate ${dupRate}`);
    const pings = ids.reduce((s, id) => s + toy(sim, id).pings, 0);
    const pingsSent = sim.stats.messagesSent / 2;
    assert.ok(pings > pingsSent * 0.7 * 1.3, 'duplicated pings were delivered more than once');
  });

  test('links are FIFO unless reordering is switched on', () => {
    for (const reorderProbability of [0, 0.5]) {
      const order: number[] = [];
      const sim = new Simulator<number, never, never, never, undefined>(
        (id) => ({
          id,
          step: (_from, n) => {
            if (id === 'b') order.push(n);
            return { outbox: [], replies: [], writes: [] };
          },
          tick: () => ({ outbox: [], replies: [], writes: [] }),
          request: () => ({ outbox: [], replies: [], writes: [] }),
        }),
        {
          seed: 9,
          network: {
            latencyMinMs: 1,
            latencyJitterMeanMs: 5,
            packetLossProbability: 0,
            duplicateProbability: 0,
            reorderProbability,
            reorderDelayMaxMs: 30,
          },
        },
      );
      sim.addNode('a', undefined);
      sim.addNode('b', undefined);
      // Reach into the host the way a node's outbox would: a node that sends 0..199 at once.
      const sender = sim as unknown as { send(from: string, env: { to: string; msg: number }): void };
      for (let n = 0; n < 200; n++) sender.send('a', { to: 'b', msg: n });
      sim.runFor(1000);
      const sorted = [...order].sort((x, y) => x - y);
      if (reorderProbability === 0) assert.deepEqual(order, sorted);
      else assert.notDeepEqual(order, sorted);
    }
  });
});

describe('crashes, pauses, durability, clocks', () => {
  test('a reply waits for its write to be durable, and a crash keeps only flushed writes', () => {
    const sim = makeSim(4, { fsyncLatencyMs: 5 });
    let ackedAt = -1;
    const sentAt = sim.now();
    sim.request('a', { type: 'put', value: 7 }, (_r, at) => {
      ackedAt = at;
    });
    sim.runFor(100);
    assert.ok(ackedAt - sentAt >= 5, 'the acknowledgement came after the fsync latency');
    // A put whose flush has not happened yet is lost by a crash right after it is applied.
    sim.request('a', { type: 'put', value: 8 });
    sim.runUntil(() => toy(sim, 'a').values.includes(8), 100, 0.01);
    sim.crash('a');
    sim.restart('a');
    assert.deepEqual(toy(sim, 'a').values, [7]);
  });

  test('the broken host that releases before flush acknowledges writes a crash then loses', () => {
    const sim = makeSim(5, { fsyncLatencyMs: 50, releaseBeforeFlush: true });
    let acked = false;
    sim.request('a', { type: 'put', value: 1 }, () => {
      acked = true;
    });
    sim.runUntil(() => acked, 40, 0.1);
    assert.equal(acked, true);
    sim.crash('a');
    sim.restart('a');
    assert.deepEqual(toy(sim, 'a').values, [], 'the acknowledged write is gone');
  });

  test('a paused node handles nothing until resumed, then handles what it was sent', () => {
    const sim = makeSim(6);
    sim.runFor(200);
    sim.pause('b');
    const pingsBefore = toy(sim, 'b').pings;
    sim.runFor(2000);
    assert.equal(toy(sim, 'b').pings, pingsBefore);
    sim.resume('b');
    sim.runFor(1);
    assert.ok(toy(sim, 'b').pings > pingsBefore + 20, 'held pings were delivered on resume');
  });

  test('a node reads virtual time plus its clock skew', () => {
    const sim = makeSim(7);
    sim.setClockSkew('c', -300_000);
    const seen: number[] = [];
    sim.runFor(1000);
    sim.request('c', { type: 'stats' }, (r) => {
      if (r.type === 'stats') seen.push(r.nowMs);
    });
    sim.request('d', { type: 'stats' }, (r) => {
      if (r.type === 'stats') seen.push(r.nowMs);
    });
    sim.runFor(100);
    assert.equal(seen.length, 2);
    const [c, d] = seen;
    assert.ok(d - c > 299_000 && d - c < 301_000, `skew seen ${d - c}`);
  });

  test('messages to a crashed node are dropped and a restarted node starts a new incarnation', () => {
    const sim = makeSim(8);
    sim.crash('e');
    sim.runFor(1000);
    assert.ok(sim.stats.droppedAtDeadNode > 0);
    assert.equal(sim.node('e'), undefined);
    sim.restart('e');
    sim.runFor(500);
    assert.ok(toy(sim, 'e').pings > 0);
  });
});
