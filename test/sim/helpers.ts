/**
 * What the simulation tests of the store share: fast timers (so a test covers many rounds of
 * gossip, anti-entropy and retries in little virtual time), a booted cluster, and a request run
 * to its reply.
 */
import assert from 'node:assert/strict';
import type { BugName, KvConfig } from '../../src/core/kv-node.js';
import type { KvReply, KvRequest } from '../../src/core/replication/messages.js';
import { KvCluster } from '../../src/sim/kv-cluster.js';

/** Timers short enough for a test, long enough for the simulated network's latency. */
export const FAST_KV_CONFIG: Partial<KvConfig> = {
  transitionGraceMs: 500,
  antiEntropyIntervalMs: 50,
  hintDeliveryIntervalMs: 100,
  swim: { pushPullIntervalMs: 1000 },
  rpc: { requestTimeoutMs: 25, maxAttempts: 4, backoffBaseMs: 5, backoffMaxMs: 50 },
};

/** A formed cluster of `nodes`, after the joins' transition periods (writes reach N replicas only). */
export function boot(
  nodes: number,
  config: Partial<KvConfig> = {},
  seed = 1,
  bugs: BugName[] = [],
): KvCluster {
  const cluster = new KvCluster({ seed, nodes, config: { ...FAST_KV_CONFIG, ...config }, bugs });
  assert.ok(cluster.boot(60_000), 'the cluster forms');
  cluster.sim.runFor(2000);
  return cluster;
}

/** Sends a request to `node` and runs the simulation until it is answered. */
export function call(cluster: KvCluster, node: string, req: KvRequest): KvReply {
  let reply: KvReply | null | undefined;
  cluster.send(node, req, 5000, (r) => {
    reply = r;
  });
  cluster.sim.runUntil(() => reply !== undefined, 10_000, 1);
  assert.ok(reply, `no reply to ${req.op} at ${node}`);
  return reply;
}

const enc = new TextEncoder();

/** An unconditional SET request of text key and value. */
export function setReq(
  key: string,
  value: string,
  consistency: KvRequest['consistency'] = 'quorum',
): KvRequest {
  return {
    op: 'set',
    key: enc.encode(key),
    value: enc.encode(value),
    consistency,
    expiresAtMs: 0,
    condition: 'always',
  };
}
