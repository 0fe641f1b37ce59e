/**
 * The RPC layer driven by the deterministic simulator: endpoints inside tiny protocol nodes, a
 * network that loses, duplicates and reorders, and nodes that crash and restart. The handler is
 * a non-idempotent "apply this token" whose effect is a durable write, so the storage tells how
 * many times each call was applied, across restarts too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RpcConfig } from '../../../src/core/rpc/config.js';
import { RpcEndpoint, type RpcReady } from '../../../src/core/rpc/endpoint.js';
import type { RpcCompletion, RpcMessage } from '../../../src/core/rpc/messages.js';
import type { ClientRequest, NodeId, ProtocolNode, Random, Ready } from '../../../src/core/types.js';
import { calmNetwork, type NetworkConfig, Simulator } from '../../../src/sim/simulator.js';
import { LogStorage } from '../../../src/sim/storage.js';

type Req = { token: string };
type Res = { appliedSoFar: number };
type Msg = RpcMessage<Req, Res>;
/** A client asks node X to call `to` with `token`. */
type Q = { to: NodeId; token: string };
type R = RpcCompletion<Res>;
/** The durable effect of applying a token. */
type W = string;

interface NodeInit {
  config: Partial<RpcConfig>;
  /** Claims a first start at every start: a wrong host, to show the quiet period matters. */
  alwaysFirstStart?: boolean;
}

class RpcTestNode implements ProtocolNode<Msg, Q, R, W> {
  readonly endpoint: RpcEndpoint<Req, Res>;
  private readonly replyTo = new Map<string, number>();

  constructor(
    readonly id: NodeId,
    private readonly storage: LogStorage<W>,
    ctx: { random: Random; incarnation: number },
    init: NodeInit,
  ) {
    this.endpoint = new RpcEndpoint<Req, Res>(
      { random: ctx.random },
      {
        self: id,
        epoch: ctx.incarnation,
        firstStart: init.alwaysFirstStart ? true : undefined,
        config: init.config,
      },
    );
  }

  step(from: NodeId, msg: Msg, nowMs: number): Ready<Msg, R, W> {
    const writes: W[] = [];
    const out = this.endpoint.receive(from, msg, nowMs, (_from, req) => {
      writes.push(req.token);
      return { appliedSoFar: this.storage.visible().length + writes.length };
    });
    return this.ready(out, writes);
  }

  tick(nowMs: number): Ready<Msg, R, W> {
    return this.ready(this.endpoint.tick(nowMs), []);
  }

  request(req: ClientRequest<Q>, nowMs: number): Ready<Msg, R, W> {
    const started = this.endpoint.call(req.body.to, { token: req.body.token }, nowMs);
    this.replyTo.set(started.callId, req.requestId);
    return this.ready({ outbox: started.outbox, completions: [], events: started.events }, []);
  }

  private ready(out: RpcReady<Req, Res>, writes: W[]): Ready<Msg, R, W> {
    const replies = out.completions.map((c) => {
      const requestId = this.replyTo.get(c.callId);
      assert.ok(requestId !== undefined, 'every completion belongs to a call this node made');
      this.replyTo.delete(c.callId);
      return { requestId, body: c };
    });
    return { outbox: out.outbox, replies, writes };
  }
}

const simConfig: Partial<RpcConfig> = {
  requestTimeoutMs: 40,
  maxAttempts: 4,
  backoffBaseMs: 10,
  backoffMaxMs: 80,
  // The breaker is exercised elsewhere; here it must not turn loss into fast failures.
  breakerFailureThreshold: 1_000_000,
  dedupWindowMs: 2_000,
};

function makeSim(seed: number, network: Partial<NetworkConfig>, init: NodeInit = { config: simConfig }) {
  const storages = new Map<NodeId, LogStorage<W>>();
  const sim = new Simulator<Msg, Q, R, W, NodeInit>(
    (id, ctx, nodeInit) => new RpcTestNode(id, ctx.storage as LogStorage<W>, ctx, nodeInit),
    {
      seed,
      tickIntervalMs: 5,
      network: { ...calmNetwork, ...network },
      createStorage: (id) => {
        const storage = new LogStorage<W>();
        storages.set(id, storage);
        return storage;
      },
    },
  );
  for (const id of ['a', 'b', 'c']) sim.addNode(id, init);
  return { sim, storages };
}

interface Outcome {
  token: string;
  callee: NodeId;
  completion?: R;
  replies: number;
}

/**
 * Clients ask a, b and c to call each other, `calls` times in all, every `gapMs`; or, with
 * `onlyTo`, ask the other two to call that one.
 */
function runWorkload(
  sim: Simulator<Msg, Q, R, W, NodeInit>,
  calls: number,
  gapMs: number,
  onlyTo?: NodeId,
): Outcome[] {
  const ids = ['a', 'b', 'c'];
  const outcomes: Outcome[] = [];
  for (let i = 0; i < calls; i++) {
    const caller = onlyTo === undefined ? ids[i % 3] : ids.filter((id) => id !== onlyTo)[i % 2];
    const callee = onlyTo ?? ids[(i + 1 + (i % 2)) % 3];
    const outcome: Outcome = { token: `t${i}`, callee, replies: 0 };
    outcomes.push(outcome);
    sim.at(i * gapMs, () => {
      sim.request(caller, { to: callee, token: outcome.token }, (completion) => {
        outcome.completion = completion;
        outcome.replies++;
      });
    });
  }
  return outcomes;
}

function appliedCounts(storages: Map<NodeId, LogStorage<W>>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const storage of storages.values()) {
    for (const token of storage.visible()) counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  return counts;
}

const lossyNetwork: Partial<NetworkConfig> = {
  latencyMinMs: 1,
  latencyJitterMeanMs: 3,
  packetLossProbability: 0.3,
  duplicateProbability: 0.3,
  reorderProbability: 0.2,
  reorderDelayMaxMs: 30,
};

describe('RPC over a lossy, duplicating, reordering simulated network', () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: every call ends once, ok or TIMEOUT; a non-idempotent request applies at most once, and exactly once when ok`, () => {
      const { sim, storages } = makeSim(seed, lossyNetwork);
      const outcomes = runWorkload(sim, 300, 3);
      sim.runFor(300 * 3 + 2_000);
      const applied = appliedCounts(storages);
      const codes = new Map<string, number>();
      for (const o of outcomes) {
        assert.equal(o.replies, 1, `${o.token} ended exactly once`);
        const c = o.completion as R;
        const times = applied.get(o.token) ?? 0;
        assert.ok(times <= 1, `${o.token} applied ${times} times`);
        if (c.ok) {
          assert.equal(times, 1, `${o.token} ended ok, so it was applied`);
          codes.set('ok', (codes.get('ok') ?? 0) + 1);
        } else {
          assert.equal(c.error.code, 'TIMEOUT', `${o.token}: ${c.error.message}`);
          assert.equal(c.error.definite, false);
          codes.set('TIMEOUT', (codes.get('TIMEOUT') ?? 0) + 1);
        }
      }
      // The run must have exercised what it claims to test.
      const ends = ['a', 'b', 'c'].map((id) => (sim.node(id) as RpcTestNode).endpoint.stats);
      const sum = (f: (s: (typeof ends)[number]) => number) => ends.reduce((acc, s) => acc + f(s), 0);
      assert.ok(sim.stats.droppedByLoss > 100 && sim.stats.duplicated > 100);
      assert.ok(sum((s) => s.retriesSent) > 50, 'retries happened');
      assert.ok(sum((s) => s.duplicatesReplayed) > 20, 'copies were answered from memory');
      assert.ok(sum((s) => s.unmatchedAnswers) > 20, 'late and duplicated answers were ignored');
      assert.ok((codes.get('ok') ?? 0) > 250, `most calls succeed: ${[...codes]}`);
      assert.ok((codes.get('TIMEOUT') ?? 0) > 0, 'some calls exhaust their attempts');
    });
  }

  test('the same seed gives the same run', () => {
    const digest = (seed: number) => {
      const { sim } = makeSim(seed, lossyNetwork);
      runWorkload(sim, 100, 3);
      sim.runFor(2_000);
      return sim.traceDigest();
    };
    assert.equal(digest(11), digest(11));
    assert.notEqual(digest(11), digest(12));
  });
});

describe('RPC across callee restarts', () => {
  /** Loss but no duplication: what TCP gives (a dropped connection loses bytes, never repeats them). */
  const tcpLike: Partial<NetworkConfig> = {
    latencyMinMs: 1,
    latencyJitterMeanMs: 2,
    packetLossProbability: 0.3,
    duplicateProbability: 0,
    reorderProbability: 0,
  };

  /** b, the callee of every call, crashes three times and comes straight back. */
  function crashAndRestartB(sim: Simulator<Msg, Q, R, W, NodeInit>): void {
    for (const at of [200, 450, 700]) {
      sim.at(at, () => sim.crash('b'));
      sim.at(at + 5, () => sim.restart('b'));
    }
  }

  test('a callee that restarts mid-call never applies a retried request twice (retries it cannot vouch for are refused)', () => {
    const { sim, storages } = makeSim(5, tcpLike);
    const outcomes = runWorkload(sim, 300, 3, 'b');
    crashAndRestartB(sim);
    sim.runFor(300 * 3 + 3_000);
    const applied = appliedCounts(storages);
    let refused = 0;
    for (const o of outcomes) {
      assert.equal(o.replies, 1, `${o.token} ended exactly once`);
      const times = applied.get(o.token) ?? 0;
      assert.ok(times <= 1, `${o.token} applied ${times} times`);
      const c = o.completion as R;
      if (c.ok) assert.equal(times, 1);
      else {
        assert.equal(c.error.definite, false, `${o.token}: ${c.error.code}`);
        if (c.error.code === 'PEER_RESTARTED') refused++;
      }
    }
    assert.ok(refused > 0, 'some retries reached a fresh incarnation and were refused');
  });

  test('without the quiet period (a host that wrongly claims a first start) the same run applies some request twice', () => {
    const { sim, storages } = makeSim(5, tcpLike, { config: simConfig, alwaysFirstStart: true });
    runWorkload(sim, 300, 3, 'b');
    crashAndRestartB(sim);
    sim.runFor(300 * 3 + 3_000);
    const twice = [...appliedCounts(storages)].filter(([, n]) => n > 1);
    assert.ok(twice.length > 0, 'the test would notice a missing quiet period');
  });
});
