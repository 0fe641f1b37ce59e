/**
 * The replicated store under simulated faults: a bounded campaign that must pass, and every
 * deliberately broken variant, which the same checkers must catch (so they can fail).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CAMPAIGN_BUGS, runCampaign } from '../../src/cli/commands/sim-kv.js';
import type { Consistency } from '../../src/core/replication/messages.js';
import { type CampaignBug, FAULT_KINDS, replayCommand, runKv } from '../../src/sim/kv-campaign.js';

const base = { nodes: 5, clients: 10, ops: 600, faults: FAULT_KINDS };

describe('campaigns with every fault', () => {
  for (const consistency of ['linearizable', 'quorum', 'one', 'session'] as Consistency[]) {
    test(`${consistency}: no violation, nothing lost, every replica converges`, () => {
      const summary = runCampaign(
        { ...base, consistency },
        1,
        consistency === 'linearizable' || consistency === 'quorum' ? 6 : 3,
      );
      assert.deepEqual(summary.failures, [], JSON.stringify(summary.failures, null, 2));
      assert.equal(summary.violations, 0);
      assert.equal(summary.unknown, 0);
      assert.equal(summary.lostAcknowledgedWrites, 0);
      assert.ok(summary.okOps > summary.ops / 2, 'most operations succeed even under faults');
    });
  }
});

test('a run is a pure function of its seed', () => {
  const options = { ...base, consistency: 'linearizable' as const, seed: 42, ops: 300 };
  const a = runKv(options);
  const b = runKv(options);
  assert.equal(a.traceDigest, b.traceDigest);
  assert.equal(a.okOps, b.okOps);
  assert.notEqual(runKv({ ...options, seed: 43 }).traceDigest, a.traceDigest);
});

describe('deliberately broken variants are caught', () => {
  const levelFor: Record<CampaignBug, Consistency> = {
    'read-without-write-back': 'linearizable',
    'stale-ring': 'linearizable',
    'ack-before-durable': 'quorum',
    'write-quorum-one': 'quorum',
    'drop-hints': 'quorum',
  };
  for (const bug of CAMPAIGN_BUGS) {
    test(`--bug ${bug}`, () => {
      for (let seed = 1; seed <= 40; seed++) {
        const options = { ...base, ops: 2000, consistency: levelFor[bug], bugs: [bug], seed };
        const r = runKv(options);
        if (r.violation !== null) return; // caught
      }
      assert.fail(
        `no campaign of 40 seeds caught ${bug}; replay one with: ${replayCommand({ ...base, ops: 2000, consistency: levelFor[bug], bugs: [bug], seed: 1 })}`,
      );
    });
  }
});
