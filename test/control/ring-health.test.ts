/**
 * When a local cluster counts as settled: every node answers, runs, is ready and `normal` with no
 * change pending, has the same ring, and sees every other node alive and normal. Anything short
 * of that is reported as the first thing still awaited.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ringVerdict } from '../../src/control/ring-health.js';
import { zeroKvCounters } from '../../src/core/kv-node.js';
import type { NodeHostStatus } from '../../src/runtime/node-host.js';

type Core = NonNullable<NodeHostStatus['core']>;

/** A node's status as ARPEGGIO.STATUS reports it, settled unless changed. */
function statusOf(
  id: string,
  all: string[],
  change: {
    core?: Partial<Core>;
    host?: Partial<NodeHostStatus>;
    sees?: Record<string, [string, string]>;
  } = {},
): NodeHostStatus {
  const core: Core = {
    id,
    ready: true,
    status: 'normal',
    ringMembers: [...all],
    pendingJoins: [],
    pendingLeaves: [],
    handoff: null,
    vnodesPerNode: 16,
    inflightRequests: 0,
    counters: zeroKvCounters(),
    ...change.core,
  } as Core;
  return {
    id,
    pid: 1,
    state: 'running',
    ready: true,
    epoch: 1,
    endpoints: {},
    dataDir: `/d/${id}`,
    durability: 'flush',
    startedAt: '',
    uptimeMs: 0,
    members: all.map((m) => {
      const [state, status] = change.sees?.[m] ?? ['alive', 'normal'];
      return { id: m, state: state as 'alive', incarnation: 0, meta: { status } };
    }),
    inflightRequests: 0,
    storage: { unreleasedBatches: 0, flushes: 0, maxBatchesPerFlush: 0 },
    connectedPeers: [],
    core,
    ...change.host,
  };
}

const ids = ['n1', 'n2', 'n3'];
const settled = () => ids.map((id) => ({ id, status: statusOf(id, ids) }));
const withNode = (id: string, status: NodeHostStatus | null, error?: string) =>
  settled().map((o) => (o.id === id ? { id, status, ...(error ? { error } : {}) } : o));

describe('ringVerdict: when a local cluster has settled', () => {
  test('every node normal, one ring, everyone alive: settled', () => {
    assert.deepEqual(ringVerdict(ids, settled()), {
      settled: true,
      reason: '3 nodes, all normal, one ring view',
    });
  });

  test('a node that does not answer, is not running or not ready holds it back, named', () => {
    assert.deepEqual(ringVerdict(ids, withNode('n2', null, 'not running')), {
      settled: false,
      reason: 'n2 does not answer (not running)',
    });
    assert.match(
      ringVerdict(ids, withNode('n3', statusOf('n3', ids, { host: { state: 'closing' } }))).reason,
      /n3 is closing/,
    );
    assert.match(
      ringVerdict(ids, withNode('n3', statusOf('n3', ids, { host: { ready: false } }))).reason,
      /n3 is not ready yet/,
    );
    assert.match(ringVerdict(['n1', 'n2', 'n3', 'n4'], settled()).reason, /n4 does not answer/);
  });

  test('a joining node is reported with its handoff progress', () => {
    const joining = statusOf('n3', ids, {
      core: { status: 'joining', handoff: { purpose: 'join', rangesLeft: 5, rangesTotal: 16 } },
    });
    assert.deepEqual(ringVerdict(ids, withNode('n3', joining)), {
      settled: false,
      reason: 'n3 is joining (handing ranges over: 11/16 done)',
    });
  });

  test('a change still pending anywhere, or two ring views, is not settled', () => {
    const pending = statusOf('n1', ids, { core: { pendingJoins: ['n3'] } });
    assert.match(ringVerdict(ids, withNode('n1', pending)).reason, /n1 sees n3 joining/);
    const leaving = statusOf('n1', ids, { core: { pendingLeaves: ['n2'] } });
    assert.match(ringVerdict(ids, withNode('n1', leaving)).reason, /n1 sees n2 leaving/);
    const stale = statusOf('n2', ids, { core: { ringMembers: ['n1', 'n2'] } });
    assert.match(
      ringVerdict(ids, withNode('n2', stale)).reason,
      /n2's ring is \[n1, n2\], not yet \[n1, n2, n3\]/,
    );
  });

  test('a node that sees another suspect, or still advertising joining, is not settled', () => {
    const suspecting = statusOf('n1', ids, { sees: { n3: ['suspect', 'normal'] } });
    assert.match(ringVerdict(ids, withNode('n1', suspecting)).reason, /n1 sees n3 as suspect/);
    const behind = statusOf('n2', ids, { sees: { n3: ['alive', 'joining'] } });
    assert.match(ringVerdict(ids, withNode('n2', behind)).reason, /n2 still sees n3 as joining/);
  });

  test('members outside the expected set (a node that left) do not matter', () => {
    const observed = settled().map((o) => ({
      ...o,
      status: {
        ...o.status,
        members: [...o.status.members, { id: 'n0', state: 'left' as const, incarnation: 3, meta: {} }],
      },
    }));
    assert.equal(ringVerdict(ids, observed).settled, true);
  });
});
