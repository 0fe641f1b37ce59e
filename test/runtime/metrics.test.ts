/**
 * NodeMetrics: requests, errors (with code and definiteness) and latencies by door, command and
 * level, counted by wrapping a NodeApi; node series read from status() at scrape time, membership
 * events counted as the changes between scrapes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvError } from '../../src/core/replication/messages.js';
import { NodeMetrics } from '../../src/runtime/metrics.js';
import type { NodeHostStatus } from '../../src/runtime/node-host.js';
import { restingStatus, ScriptedApi } from '../frontends/http/helpers.js';

const get = { op: 'get', key: new Uint8Array([107]), consistency: 'quorum' } as const;

test('an instrumented api counts each request once, and errors by code and definiteness', async () => {
  const api = new ScriptedApi(() => kvError('TIMEOUT', false, 'late'));
  const metrics = new NodeMetrics(() => api.status(), { processMetrics: false });
  const counted = metrics.instrument(api, 'resp');
  await counted.request(get);
  await counted.request(get);
  assert.equal(api.requests.length, 2, 'the wrapped api sees every request');
  assert.equal(counted.nodeId, api.nodeId, 'everything but request passes through');
  const text = await metrics.text();
  assert.match(text, /arpeggio_requests_total\{door="resp",command="get",level="quorum"\} 2/);
  assert.match(
    text,
    /arpeggio_request_errors_total\{door="resp",command="get",level="quorum",code="TIMEOUT",definite="false"\} 2/,
  );
  assert.match(text, /arpeggio_request_duration_seconds_count\{door="resp",command="get",level="quorum"\} 2/);
});

test('membership events are the state changes and incarnation bumps seen between scrapes', async () => {
  let status: NodeHostStatus = restingStatus({
    members: [
      { id: 'fake-node', state: 'alive', incarnation: 1, meta: {} },
      { id: 'b', state: 'alive', incarnation: 1, meta: {} },
    ],
    connectedPeers: ['b'],
  });
  const metrics = new NodeMetrics(() => status, { processMetrics: false });
  const first = await metrics.text();
  assert.match(first, /arpeggio_membership_events_total\{event="joined"\} 2/);
  assert.match(first, /arpeggio_peer_connected\{peer="b"\} 1/);
  assert.match(first, /arpeggio_members\{state="alive"\} 2/);
  status = restingStatus({
    members: [
      { id: 'fake-node', state: 'alive', incarnation: 2, meta: {} },
      { id: 'b', state: 'suspect', incarnation: 1, meta: {} },
    ],
    connectedPeers: [],
  });
  const second = await metrics.text();
  assert.match(second, /arpeggio_membership_events_total\{event="suspect"\} 1/);
  assert.match(second, /arpeggio_membership_events_total\{event="incarnation"\} 1/);
  assert.match(second, /arpeggio_membership_events_total\{event="joined"\} 2/, 'no member joined again');
  assert.match(second, /arpeggio_peer_connected\{peer="b"\} 0/);
});
