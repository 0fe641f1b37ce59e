/**
 * Chord's correctness claim as a property (Stoica et al., “Stabilization”): after any sequence of
 * joins, graceful leaves and crashes followed by a period without churn, stabilization makes every
 * ring member's successor its true successor, and then every lookup finds the true owner.
 * fast-check generates the sequences ("swarm testing": a random ring shape and fault mix per
 * run); a failure prints the fast-check seed and path that replay it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RING_SIZE } from '../../src/core/id.js';
import { SeededRandom } from '../../src/core/random.js';
import { ChordSimulation } from '../../src/sim/chord-experiment.js';

type Op =
  | { kind: 'join'; count: number }
  | { kind: 'leave'; pick: number }
  | { kind: 'crash'; count: number; pick: number }
  | { kind: 'wait'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('join' as const), count: fc.integer({ min: 1, max: 4 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      count: fc.integer({ min: 1, max: 3 }),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
  },
);

const scenario = fc.record({
  seed: fc.nat({ max: 2 ** 31 - 1 }),
  vnodes: fc.integer({ min: 1, max: 3 }),
  initial: fc.integer({ min: 1, max: 8 }),
  ops: fc.array(fc.tuple(op, fc.integer({ min: 0, max: 800 })), { minLength: 1, maxLength: 14 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

const MAX_NODES = 30;
/** More runs for a soak: CHORD_PROPERTY_RUNS=2000 node scripts/run-tests.mjs chord.property */
const RUNS = Number(process.env.CHORD_PROPERTY_RUNS ?? 45);
const SUCCESSOR_LIST_LENGTH = 5;

/** Churn never takes away the last node on the ring: someone must remain to join through. */
function mayRemove(cs: ChordSimulation, id: string): boolean {
  const onRing = cs.liveIds().filter((n) =>
    cs
      .node(n)
      ?.vnodes()
      .some((v) => v.joined),
  );
  return onRing.length > 1 || !onRing.includes(id);
}

/** Plays a scenario; returns the simulation, ready for judging. */
function play(s: Scenario, lossy: boolean): ChordSimulation {
  const cs = new ChordSimulation({
    seed: s.seed,
    vnodes: s.vnodes,
    config: { successorListLength: SUCCESSOR_LIST_LENGTH, locationCacheEntries: 16 },
    network: lossy ? { packetLossProbability: 0.02, reorderProbability: 0.05 } : {},
  });
  let nextName = 0;
  const started = (): number => nextName;
  const bootstrapOf = new Map<string, string[]>();
  const join = (via: string[]): void => {
    const id = `n${nextName++}`;
    bootstrapOf.set(id, via);
    cs.join(id, via);
  };
  cs.create(`n${nextName++}`);
  for (let i = 1; i < s.initial; i++) join(cs.liveIds());
  cs.sim.runFor(500);
  for (const [o, gapMs] of s.ops) {
    // Chord's guarantees cover failures of members that are on the ring (the stabilization theorem covers
    // joins interleaved with stabilization; successor lists cover failures of nodes already known). So a
    // node leaves or fails only once the successor pointers form the true cycle; up to three
    // fail at once, and joins go on at any time.
    if (o.kind === 'leave' || o.kind === 'crash') cs.stabilize('cycle', 30_000, 50);
    const live = cs.liveIds();
    switch (o.kind) {
      case 'join':
        for (let i = 0; i < o.count && started() < MAX_NODES; i++) {
          // Any known node will do; the joiner tries them in turn.
          join([...live.slice(i % live.length), ...live.slice(0, i % live.length)]);
        }
        break;
      case 'leave': {
        const target = live[o.pick % live.length];
        if (mayRemove(cs, target)) cs.leave(target);
        break;
      }
      case 'crash':
        for (let i = 0; i < o.count; i++) {
          const now = cs.liveIds();
          const target = now[(o.pick + i) % now.length];
          if (mayRemove(cs, target)) cs.crash(target);
        }
        break;
      case 'wait':
        cs.sim.runFor(o.ms);
        break;
    }
    cs.sim.runFor(gapMs);
  }
  // A joiner whose every bootstrap node is gone can never join (n.join needs a live member):
  // it gives up, as an operator would restart it with a new bootstrap list.
  for (const id of cs.liveIds()) {
    const node = cs.node(id);
    if (node && !node.joined && bootstrapOf.get(id)?.every((b) => !cs.liveIds().includes(b))) cs.crash(id);
  }
  return cs;
}

/** After churn stops: the ring converges, and lookups from anywhere find the true owner. */
function judge(cs: ChordSimulation, seed: number): void {
  assert.ok(cs.stabilize('fingers', 120_000), `no convergence: ${cs.ringErrors('fingers').join('; ')}`);
  const truth = cs.truth();
  const random = new SeededRandom(seed);
  const outcomes = cs.lookupAll(
    Array.from({ length: 20 }, () => ({ from: random.pick(cs.liveIds()), keyId: random.int(RING_SIZE) })),
    100,
  );
  for (const o of outcomes) {
    assert.ok(
      o.reply?.type === 'lookup' && o.reply.ok,
      `lookup from ${o.from} failed: ${JSON.stringify(o.reply)}`,
    );
    assert.equal(o.reply.owner.id, truth.successorOf(o.keyId).id, `lookup from ${o.from} for ${o.keyId}`);
  }
}

describe('Chord stabilization repairs any churn', () => {
  test('after joins, leaves and crashes, every successor is the true successor and lookups find the true owner', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        judge(play(s, false), s.seed);
      }),
      { numRuns: RUNS },
    );
  });

  test('the same holds when the churn happened on a lossy, reordering network (false suspicions heal)', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const cs = play(s, true);
        cs.sim.setNetwork({ packetLossProbability: 0, reorderProbability: 0 });
        // Requests lost before the network healed still time out (and cause suspicions) afterwards.
        cs.sim.runFor(1000);
        judge(cs, s.seed);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});
