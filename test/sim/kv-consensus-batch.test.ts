/**
 * Consensus batching (KvConfig.consensusBatchMax): the operations queued on one key behind a
 * running round go together in the next one, each applied in queue order to the state the ones
 * before it left. These tests fire many operations on one key at once and check the replies
 * against the sequential execution of the same operations, with batching on and off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvReply, KvRequest } from '../../src/core/replication/messages.js';
import { KvCluster } from '../../src/sim/kv-cluster.js';
import { boot, call, FAST_KV_CONFIG } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY = enc.encode('hot');

/** Sends every request to `node` in one instant and runs until each is answered. */
function burst(cluster: KvCluster, node: string, reqs: KvRequest[]): KvReply[] {
  const replies: Array<KvReply | null | undefined> = reqs.map(() => undefined);
  reqs.forEach((req, i) => {
    cluster.send(node, req, 5000, (r) => {
      replies[i] = r;
    });
  });
  cluster.sim.runUntil(() => replies.every((r) => r !== undefined), 20_000, 1);
  return replies.map((r, i) => {
    assert.ok(r, `no reply to request ${i} (${reqs[i].op})`);
    return r;
  });
}

const incr = (by = 1): KvRequest => ({ op: 'incr', key: KEY, by, consistency: 'linearizable' });

function counters(cluster: KvCluster, node: string) {
  return cluster.node(node)?.status().counters as { consensusBatches: number; consensusBatchedOps: number };
}

describe('consensus batching on a hot key', () => {
  test('60 concurrent INCRs: every one applied once, in some order (replies are 1..60), in far fewer rounds', () => {
    const cluster = boot(3);
    const replies = burst(
      cluster,
      'n1',
      Array.from({ length: 60 }, () => incr()),
    );
    const numbers = replies.map((r) => {
      assert.ok(r.ok, JSON.stringify(r));
      return r.number as number;
    });
    assert.deepEqual(
      [...numbers].sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    const c = counters(cluster, 'n1');
    assert.ok(c.consensusBatches >= 1, 'the queued INCRs ran in batches');
    assert.equal(c.consensusBatchedOps, 59, 'all but the first ran inside batches');
    const read = call(cluster, 'n2', { op: 'get', key: KEY, consistency: 'linearizable' });
    assert.ok(read.ok);
    assert.equal(dec.decode(read.value as Uint8Array), '60');
  });

  test('with consensusBatchMax 1 the same burst runs one round per operation and gives the same replies', () => {
    const cluster = boot(3, { consensusBatchMax: 1 });
    const replies = burst(
      cluster,
      'n1',
      Array.from({ length: 20 }, () => incr()),
    );
    assert.deepEqual(
      replies.map((r) => (r.ok ? r.number : r.error.code)).sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.equal(counters(cluster, 'n1').consensusBatches, 0);
  });

  test('a mixed batch answers each member as a sequential run would, an error only for its own member', () => {
    // Constant latency: the requests reach n1 in the order they were sent, so the queue (and the
    // batch) has that order and the expected replies are those of a sequential run.
    const cluster = new KvCluster({
      seed: 3,
      nodes: 3,
      config: FAST_KV_CONFIG,
      network: { latencyJitterMeanMs: 0 },
    });
    assert.ok(cluster.boot(60_000), 'the cluster forms');
    cluster.sim.runFor(2000);
    const v = (s: string) => enc.encode(s);
    const reqs: KvRequest[] = [
      {
        op: 'set',
        key: KEY,
        value: v('5'),
        consistency: 'linearizable',
        expiresAtMs: 0,
        condition: 'always',
      },
      incr(),
      incr(2),
      { op: 'get', key: KEY, consistency: 'linearizable' },
      { op: 'append', key: KEY, value: v('x'), consistency: 'linearizable' },
      incr(),
      { op: 'cas', key: KEY, expected: v('8x'), value: v('9'), consistency: 'linearizable' },
      { op: 'getdel', key: KEY, consistency: 'linearizable' },
      {
        op: 'set',
        key: KEY,
        value: v('a'),
        consistency: 'linearizable',
        expiresAtMs: 0,
        condition: 'if-present',
      },
      { op: 'get', key: KEY, consistency: 'linearizable' },
      incr(10),
    ];
    const replies = burst(cluster, 'n1', reqs);
    const show = (r: KvReply) =>
      r.ok
        ? `${r.applied ?? ''}|${r.number ?? ''}|${r.value === undefined ? '' : r.value === null ? 'nil' : dec.decode(r.value)}`
        : r.error.code;
    assert.deepEqual(replies.map(show), [
      'true||', // set 5
      'true|6|', // incr
      'true|8|', // incrby 2
      '||8', // get
      'true|2|', // append: the new length ("8x")
      'NOT_INTEGER', // incr on "8x"
      'true||', // cas 8x -> 9
      'true||9', // getdel: the value it deleted
      'false||', // set XX on an absent key
      '||nil', // get
      'true|10|', // incrby 10 on absent
    ]);
    assert.ok(counters(cluster, 'n1').consensusBatches >= 1);
    const read = call(cluster, 'n3', { op: 'get', key: KEY, consistency: 'linearizable' });
    assert.ok(read.ok);
    assert.equal(dec.decode(read.value as Uint8Array), '10');
  });
});
