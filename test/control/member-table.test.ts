/**
 * The member table of `arpeggio cluster status` (control/ring-health.ts): what each column says,
 * from the statuses the members report, and how it reads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memberRows, renderMemberTable } from '../../src/control/ring-health.js';
import { zeroKvCounters } from '../../src/core/kv-node.js';
import { Ring } from '../../src/core/ring.js';
import type { NodeHostStatus } from '../../src/runtime/node-host.js';
import { restingStatus } from '../frontends/http/helpers.js';

type CoreStatus = NonNullable<NodeHostStatus['core']>;

const RING = ['n1', 'n2', 'n3'];

function statusOf(id: string, core: Partial<CoreStatus>): NodeHostStatus {
  return restingStatus({
    id,
    core: {
      id,
      ready: true,
      status: 'normal',
      ringMembers: RING,
      pendingJoins: [],
      pendingLeaves: [],
      handoff: null,
      vnodesPerNode: 4,
      inflightRequests: 0,
      requestsPerSecond: 0,
      storedRecords: 0,
      breakers: {},
      counters: zeroKvCounters(),
      ...core,
    },
  });
}

test('a row per member: keys stored, ranges owned and their share of the ring, load, breakers that are not closed', () => {
  const rows = memberRows([
    {
      id: 'n1',
      process: 'running',
      status: statusOf('n1', {
        storedRecords: 1200,
        requestsPerSecond: 250.4,
        inflightRequests: 3,
        breakers: { n2: 'closed', n3: 'open' },
      }),
    },
    { id: 'n2', process: 'running', status: statusOf('n2', { storedRecords: 1190, status: 'leaving' }) },
    { id: 'n3', process: 'stopped', status: null },
  ]);
  const ring = Ring.fromMembers(RING, 4);
  assert.deepEqual(
    rows.map((r) => r.rangesOwned),
    RING.map((id) => ring.ownedRanges(id).length),
    'ranges owned as primary: one per virtual node',
  );
  const share = rows.reduce((sum, r) => sum + r.ringShare, 0);
  assert.ok(Math.abs(share - 1) < 1e-9, `the shares cover the ring exactly once (sum ${share})`);
  assert.deepEqual(rows[0].breakers, { n3: 'open' }, 'closed breakers are left out');
  assert.equal(rows[1].state, 'leaving', 'a member that answers shows its membership status');
  assert.equal(rows[2].state, 'stopped', 'a member that does not run says so');
  assert.equal(rows[2].keys, null);

  const lines = renderMemberTable(rows);
  assert.match(lines[0], /^ {2}member +state +keys +ranges +load +breakers$/);
  assert.match(lines[1], /^ {2}n1 +normal +1200 +4 \(\d+\.\d%\) +250\/s, 3 in flight +n3 open$/);
  assert.match(lines[2], /^ {2}n2 +leaving +1190 +4 \(\d+\.\d%\) +0\.0\/s, 0 in flight +all closed$/);
  assert.match(lines[3], /^ {2}n3 +stopped +- +4 \(\d+\.\d%\) +- +-$/);
  const column = lines[0].indexOf('keys');
  for (const line of lines.slice(1)) assert.notEqual(line[column], ' ', 'columns are aligned');
});

test('a member that runs but has not joined yet, or does not answer, says why', () => {
  const rows = memberRows([
    { id: 'n1', process: 'running', status: restingStatus({ id: 'n1', ready: false }) },
    { id: 'n2', process: 'running', status: null, error: 'ECONNREFUSED' },
  ]);
  assert.equal(rows[0].state, 'running, not ready');
  assert.equal(rows[1].state, 'no answer (ECONNREFUSED)');
  assert.deepEqual(
    rows.map((r) => r.rangesOwned),
    [0, 0],
    'no member answered with a ring: nothing to say about ranges',
  );
});
