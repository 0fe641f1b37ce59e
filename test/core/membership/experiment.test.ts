/** The measurement behind `arpeggio sim membership` and its command line. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UsageError } from '../../../src/cli/args.js';
import { simMembershipCommand } from '../../../src/cli/commands/sim-membership.js';
import { runMembershipExperiment, summarise } from '../../../src/sim/membership-experiment.js';
import { testConfig } from './cluster.js';

describe('membership experiment', () => {
  const run = (seed: number) =>
    runMembershipExperiment({
      nodes: 8,
      config: testConfig,
      packetLossProbability: 0.05,
      durationMs: 60_000,
      crashes: 3,
      seed,
    });

  test('measures detection of every crash, false positives and load, and replays from its seed', () => {
    const r = run(1);
    assert.equal(r.detection.crashes, 3);
    assert.equal(r.detection.detectedByAll, 3, 'every crash was seen by every live member');
    assert.ok((r.detection.allDeadMs.max as number) <= r.detectionBoundMs, 'within the bound');
    assert.ok(
      (r.detection.firstDeadMs.mean as number) >= r.suspicionTimeoutMinMs,
      'not before a suspicion could end',
    );
    assert.equal(r.falsePositives.deaths, 0);
    assert.ok(r.falsePositives.probes > 0.9 * 8 * 600, 'about one probe per member per period');
    // A ping and an ack per member per period, a few ping-reqs under loss, rare push-pulls.
    const perPeriod = (r.load.messagesPerMemberPerSecond * testConfig.probeIntervalMs) / 1000;
    assert.ok(perPeriod > 1.8 && perPeriod < 4, `${perPeriod} messages per member per period`);
    assert.deepEqual(run(1), r);
  });

  test('summaries: mean and nearest-rank percentiles', () => {
    assert.deepEqual(summarise([]), { count: 0, mean: null, p50: null, p99: null, max: null });
    assert.deepEqual(summarise([3, 1, 2, 4]), { count: 4, mean: 2.5, p50: 2, p99: 4, max: 4 });
  });

  test('the command rejects bad flags with a usage error', async () => {
    await assert.rejects(simMembershipCommand.run([]), UsageError);
    await assert.rejects(simMembershipCommand.run(['--nodes', '1']), /--nodes must be between 2/);
    await assert.rejects(
      simMembershipCommand.run(['--nodes', '4', '--preset', 'moon']),
      /--preset must be one of/,
    );
    await assert.rejects(simMembershipCommand.run(['--nodes', '4', '--set', 'foo=1']), /unknown knob 'foo'/);
    await assert.rejects(
      simMembershipCommand.run(['--nodes', '4', '--set', 'probeTimeoutMs=5000']),
      /probeTimeoutMs < probeIntervalMs/,
    );
  });
});
