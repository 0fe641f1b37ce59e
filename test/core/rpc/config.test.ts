import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SeededRandom } from '../../../src/core/random.js';
import { fullJitterBackoffMs } from '../../../src/core/rpc/backoff.js';
import {
  assertRpcConfig,
  backoffCeilingMs,
  callSpanMs,
  type RpcConfig,
  retrySendSpanMs,
  rpcConfigPresets,
} from '../../../src/core/rpc/config.js';

describe('rpc config', () => {
  test('every preset satisfies its own rules', () => {
    for (const [name, preset] of Object.entries(rpcConfigPresets)) {
      assert.doesNotThrow(() => assertRpcConfig(preset), name);
    }
  });

  test('the retry send span is Σ (timeout + backoff ceiling) over the retries, the call span one timeout more', () => {
    const config: RpcConfig = {
      ...rpcConfigPresets.local,
      requestTimeoutMs: 100,
      maxAttempts: 4,
      backoffBaseMs: 10,
      backoffMaxMs: 30,
    };
    // ceilings 10, 20, 30 (capped from 40)
    assert.equal(retrySendSpanMs(config), 3 * 100 + 10 + 20 + 30);
    assert.equal(callSpanMs(config), 3 * 100 + 10 + 20 + 30 + 100);
    assert.equal(retrySendSpanMs({ ...config, maxAttempts: 1 }), 0, 'a call without retries sends once');
  });

  test('a dedup window shorter than the call span is refused: a late retry could apply twice', () => {
    const config: RpcConfig = { ...rpcConfigPresets.local };
    assert.throws(
      () => assertRpcConfig({ ...config, dedupWindowMs: callSpanMs(config) - 1 }),
      /dedupWindowMs/,
    );
    assert.doesNotThrow(() => assertRpcConfig({ ...config, dedupWindowMs: callSpanMs(config) }));
  });

  test('nonsense knobs are refused with the knob named', () => {
    assert.throws(() => assertRpcConfig({ ...rpcConfigPresets.local, maxAttempts: 0 }), /maxAttempts/);
    assert.throws(
      () => assertRpcConfig({ ...rpcConfigPresets.local, requestTimeoutMs: -1 }),
      /requestTimeoutMs/,
    );
    assert.throws(
      () => assertRpcConfig({ ...rpcConfigPresets.local, breakerOpenMsMax: 10 }),
      /breakerOpenMsMax/,
    );
  });
});

describe('exponential backoff with full jitter', () => {
  test('property: the delay before retry n lies in [0, min(cap, base · 2^n))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer(),
        (backoffBaseMs, backoffMaxMs, n, seed) => {
          const delayMs = fullJitterBackoffMs(new SeededRandom(seed), { backoffBaseMs, backoffMaxMs }, n);
          const ceilingMs = Math.min(backoffMaxMs, backoffBaseMs * 2 ** n);
          assert.equal(backoffCeilingMs({ backoffBaseMs, backoffMaxMs }, n), ceilingMs);
          assert.ok(
            delayMs >= 0 && (delayMs < ceilingMs || (ceilingMs === 0 && delayMs === 0)),
            `${delayMs} vs ${ceilingMs}`,
          );
        },
      ),
      { numRuns: 1_000 },
    );
  });

  test('the jitter is full: delays spread over the whole window, mean about half the ceiling', () => {
    const random = new SeededRandom(7);
    const config = { backoffBaseMs: 100, backoffMaxMs: 10_000 };
    const delays = Array.from({ length: 5_000 }, () => fullJitterBackoffMs(random, config, 3)); // ceiling 800
    const mean = delays.reduce((s, d) => s + d, 0) / delays.length;
    assert.ok(Math.abs(mean - 400) < 20, `mean ${mean}`);
    assert.ok(delays.some((d) => d < 40) && delays.some((d) => d > 760), 'both ends of [0, 800) are reached');
  });
});
