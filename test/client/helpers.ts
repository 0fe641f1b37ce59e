/** A real three-node cluster in this process, each node serving the HTTP API on an OS-picked port. */
import assert from 'node:assert/strict';
import type { KvConfig } from '../../src/core/kv-node.js';
import type { HttpApi } from '../../src/frontends/http/app.js';
import { createHttpServer } from '../../src/frontends/http/server.js';
import { NodeMetrics } from '../../src/runtime/metrics.js';
import { NodeHost } from '../../src/runtime/node-host.js';
import { eventually, FAST_KV, SECRET, tempDir } from '../runtime/helpers.js';

export interface TestCluster {
  hosts: NodeHost[];
  /** Each node's HTTP endpoint, "127.0.0.1:port", by node id. */
  http: Map<string, string>;
  metrics: Map<string, NodeMetrics>;
  /** Stops one node (its HTTP door closes with it). */
  stop(id: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Three nodes, three copies of each key, quorums of two: any one node can stop and every key still
 * reads at quorum from real replicas. (With two copies on three nodes, a read at R = 1 while a
 * replica is down may be answered "absent" by the stand-in node: see the report of issue 4.)
 * Routing is checked against each key's owner, the first of its preference list.
 */
export async function startCluster(kv: Partial<KvConfig> = {}): Promise<TestCluster> {
  const dirs: Array<{ path: string; remove(): Promise<void> }> = [];
  const hosts: NodeHost[] = [];
  const metrics = new Map<string, NodeMetrics>();
  const stopped = new Set<string>();
  const kvConfig = {
    ...FAST_KV,
    // Joins settle after the grace period: short, so the ring forms in about a second.
    transitionGraceMs: 300,
    replicaCount: 3,
    readQuorum: 2,
    writeQuorum: 2,
    vnodesPerNode: 8,
    ...kv,
  };
  const abandon = async () => {
    for (const h of hosts) await h.close().catch(() => {});
    for (const d of dirs) await d.remove();
  };
  try {
    await form();
  } catch (e) {
    await abandon();
    throw e;
  }
  async function form() {
    for (const id of ['a', 'b', 'c']) {
      const dir = await tempDir('arpeggio-client-');
      dirs.push(dir);
      const host = await NodeHost.start({
        dataDir: dir.path,
        id,
        secret: SECRET,
        kvConfig,
        ...(hosts.length > 0 ? { join: [hosts[0].endpoints.peer] } : {}),
        onFatal: (e) => assert.fail(`unexpected fatal error: ${e.message}`),
        frontDoors: {
          http: async (api) => {
            const m = new NodeMetrics(() => api.status(), { processMetrics: false });
            metrics.set(id, m);
            const server = createHttpServer(m.instrument(api as HttpApi, 'http'), { metrics: m });
            const { port } = await server.listen(0);
            return { address: `127.0.0.1:${port}`, close: () => server.close() };
          },
        },
      });
      hosts.push(host);
    }
    await Promise.all(hosts.map((h) => h.whenReady(10_000)));
    await eventually('every node sees the three on its ring, with their HTTP endpoints', () =>
      hosts.every((h) => {
        const s = h.status();
        return (
          (s.core?.ringMembers.length ?? 0) === 3 &&
          (s.core?.pendingJoins.length ?? 1) === 0 &&
          s.members.filter((m) => m.state === 'alive' && m.meta.http).length === 3
        );
      }),
    );
  }
  const http = new Map(hosts.map((h) => [h.nodeId, h.endpoints.http]));
  return {
    hosts,
    http,
    metrics,
    async stop(id) {
      const host = hosts.find((h) => h.nodeId === id);
      assert.ok(host, `no node ${id}`);
      stopped.add(id);
      await host.close();
    },
    async close() {
      for (const h of hosts) if (!stopped.has(h.nodeId)) await h.close();
      for (const d of dirs) await d.remove();
    },
  };
}
