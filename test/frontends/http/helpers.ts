/** Shared pieces of the HTTP door's tests: a real single-node host, a scripted fake node. */
import assert from 'node:assert/strict';
import type { KvReply, KvRequest } from '../../../src/core/replication/messages.js';
import type { HttpApi } from '../../../src/frontends/http/app.js';
import { NodeHost, type NodeHostStatus } from '../../../src/runtime/node-host.js';
import { FAST_KV, SECRET, tempDir } from '../../runtime/helpers.js';

/** One real node (replication factor 1) in a temp directory; `stop` closes it and removes the dir. */
export async function singleNode(): Promise<{ host: NodeHost; stop(): Promise<void> }> {
  const dir = await tempDir('arpeggio-http-');
  const host = await NodeHost.start({
    dataDir: dir.path,
    secret: SECRET,
    kvConfig: { ...FAST_KV, replicaCount: 1, readQuorum: 1, writeQuorum: 1 },
    onFatal: (e) => assert.fail(`unexpected fatal error: ${e.message}`),
  });
  await host.whenReady(5000);
  return {
    host,
    async stop() {
      await host.close();
      await dir.remove();
    },
  };
}

/** A node status with everything at rest, for fakes. */
export function restingStatus(overrides: Partial<NodeHostStatus> = {}): NodeHostStatus {
  return {
    id: 'fake-node',
    pid: 1,
    state: 'running',
    ready: true,
    epoch: 1,
    endpoints: { peer: '127.0.0.1:1' },
    dataDir: '/nowhere',
    durability: 'flush',
    startedAt: new Date(0).toISOString(),
    uptimeMs: 0,
    members: [{ id: 'fake-node', state: 'alive', incarnation: 1, meta: {} }],
    inflightRequests: 0,
    storage: { unreleasedBatches: 0, flushes: 0, maxBatchesPerFlush: 0, hintsPending: 0 },
    connectedPeers: [],
    core: null,
    ...overrides,
  };
}

/** A node whose every request gets the reply `answer` gives; it records what it was asked. */
export class ScriptedApi implements HttpApi {
  readonly nodeId = 'fake-node';
  readonly requests: KvRequest[] = [];
  statusNow = restingStatus();
  constructor(public answer: (req: KvRequest) => KvReply) {}
  async request(body: KvRequest): Promise<KvReply> {
    this.requests.push(body);
    return this.answer(body);
  }
  status(): NodeHostStatus {
    return this.statusNow;
  }
}
