/** The knobs' formulas give memberlist's numbers, and the presets are consistent. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  detectionBoundMs,
  expectedConfirmations,
  lanConfig,
  retransmitLimit,
  SWIM_PRESETS,
  suspicionTimeoutMaxMs,
  suspicionTimeoutMinMs,
  suspicionTimeoutMs,
  validateSwimConfig,
} from '../../../src/core/membership/config.js';

describe('config formulas', () => {
  test('suspicion timeout = suspicionMult · max(1, log10(N)) · probeInterval (memberlist)', () => {
    assert.equal(suspicionTimeoutMinMs(lanConfig, 1), 4000);
    assert.equal(suspicionTimeoutMinMs(lanConfig, 10), 4000, 'up to ten members the log term is 1');
    assert.equal(suspicionTimeoutMinMs(lanConfig, 100), 8000);
    assert.equal(Math.round(suspicionTimeoutMinMs(lanConfig, 16)), 4816);
    assert.equal(suspicionTimeoutMaxMs(lanConfig, 100), 48_000, 'an unconfirmed suspicion waits 6× longer');
  });

  test('Lifeguard: the timeout falls from max to min as K = suspicionMult − 2 members confirm', () => {
    const n = 64;
    const k = expectedConfirmations(lanConfig, n);
    assert.equal(k, 2);
    const timeouts = [0, 1, 2, 3].map((c) => suspicionTimeoutMs(lanConfig, n, c));
    assert.equal(timeouts[0], suspicionTimeoutMaxMs(lanConfig, n));
    assert.ok(timeouts[0] > timeouts[1] && timeouts[1] > timeouts[2], 'each confirmation shortens it');
    assert.equal(timeouts[2], suspicionTimeoutMinMs(lanConfig, n));
    assert.equal(timeouts[3], timeouts[2], 'never below the minimum');
  });

  test('with too few members to confirm, the timeout is the minimum from the start', () => {
    assert.equal(expectedConfirmations(lanConfig, 3), 0);
    assert.equal(suspicionTimeoutMs(lanConfig, 3, 0), suspicionTimeoutMinMs(lanConfig, 3));
  });

  test('retransmit limit = retransmitMult · ceil(log10(N + 1))', () => {
    assert.equal(retransmitLimit(lanConfig, 1), 4);
    assert.equal(retransmitLimit(lanConfig, 9), 4);
    assert.equal(retransmitLimit(lanConfig, 10), 8);
    assert.equal(retransmitLimit(lanConfig, 64), 8);
    assert.equal(retransmitLimit(lanConfig, 1000), 16);
  });

  test('the detection bound grows linearly in N (round-robin) plus the unconfirmed suspicion timeout', () => {
    assert.equal(detectionBoundMs(lanConfig, 5), 16 * 1000 + 24_000);
  });

  test('every preset is valid; a probe timeout longer than the period is not', () => {
    for (const preset of Object.values(SWIM_PRESETS)) validateSwimConfig(preset);
    assert.throws(
      () => validateSwimConfig({ ...lanConfig, probeTimeoutMs: 1000 }),
      /probeTimeoutMs < probeIntervalMs/,
    );
    assert.throws(() => validateSwimConfig({ ...lanConfig, suspicionMult: 0 }), /suspicionMult/);
  });
});
