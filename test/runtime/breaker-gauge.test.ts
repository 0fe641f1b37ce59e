/** `arpeggio_breaker_state`: the core's circuit breaker toward each peer, read from status() at scrape time. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeroKvCounters } from '../../src/core/kv-node.js';
import { NodeMetrics } from '../../src/runtime/metrics.js';
import type { NodeHostStatus } from '../../src/runtime/node-host.js';
import { restingStatus } from '../frontends/http/helpers.js';

test('one gauge per peer the node has called: 0 closed, 1 half-open, 2 open', async () => {
  const core: NodeHostStatus['core'] = {
    id: 'fake-node',
    ready: true,
    status: 'normal',
    ringMembers: ['fake-node', 'b', 'c', 'd'],
    pendingJoins: [],
    pendingLeaves: [],
    handoff: null,
    vnodesPerNode: 4,
    inflightRequests: 0,
    requestsPerSecond: 0,
    storedRecords: 0,
    breakers: { b: 'closed', c: 'half-open', d: 'open' },
    counters: zeroKvCounters(),
  };
  let status = restingStatus({ core });
  const metrics = new NodeMetrics(() => status, { processMetrics: false });
  const text = await metrics.text();
  assert.match(text, /arpeggio_breaker_state\{peer="b"\} 0/);
  assert.match(text, /arpeggio_breaker_state\{peer="c"\} 1/);
  assert.match(text, /arpeggio_breaker_state\{peer="d"\} 2/);
  status = restingStatus({ core: null });
  assert.doesNotMatch(
    await metrics.text(),
    /arpeggio_breaker_state\{/,
    'no core, no breakers: no stale series',
  );
});
