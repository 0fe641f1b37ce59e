import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DedupCache } from '../../../src/core/rpc/dedup-cache.js';

describe('duplicate-suppression cache', () => {
  test('an entry is remembered for exactly its window from first sighting', () => {
    const cache = new DedupCache<string>({ windowMs: 100, maxEntries: 10 });
    cache.add('1.1@a', 'answer', 50);
    assert.equal(cache.get('1.1@a', 149.9), 'answer');
    assert.equal(cache.get('1.1@a', 150), undefined);
    assert.equal(cache.stats.expired, 1);
    assert.equal(cache.mayHaveForgotten(150), false, 'expiry after the window is no hole in the memory');
  });

  test('it never holds more than maxEntries and evicts the oldest first', () => {
    const cache = new DedupCache<number>({ windowMs: 1_000, maxEntries: 3 });
    for (let i = 1; i <= 5; i++) cache.add(`1.${i}@a`, i, i);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('1.1@a', 5), undefined);
    assert.equal(cache.get('1.2@a', 5), undefined);
    assert.equal(cache.get('1.3@a', 5), 3);
    assert.equal(cache.stats.evictedEarly, 2);
  });

  test('an early eviction is remembered as a hole until the evicted entry would have expired', () => {
    const cache = new DedupCache<number>({ windowMs: 1_000, maxEntries: 1 });
    cache.add('1.1@a', 1, 10);
    cache.add('1.2@a', 2, 20); // evicts 1.1, first seen at 10: a retry of it may come until 1010
    assert.equal(cache.mayHaveForgotten(1_009), true);
    assert.equal(cache.mayHaveForgotten(1_010), false);
  });

  test('a later deferred answer replaces the placeholder', () => {
    const cache = new DedupCache<string>({ windowMs: 100, maxEntries: 10 });
    cache.add('1.1@a', 'pending', 0);
    assert.equal(cache.update('1.1@a', 'done'), true);
    assert.equal(cache.get('1.1@a', 1), 'done');
    assert.equal(cache.update('1.9@a', 'x'), false, 'an entry that is gone is not recreated');
  });

  test('property: size stays within maxEntries and no entry outlives its window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }),
        (maxEntries, windowMs, gaps) => {
          const cache = new DedupCache<number>({ windowMs, maxEntries });
          let nowMs = 0;
          const seenAt = new Map<string, number>();
          gaps.forEach((gap, i) => {
            nowMs += gap;
            const key = `1.${i}@a`;
            cache.add(key, i, nowMs);
            seenAt.set(key, nowMs);
            assert.ok(cache.size <= maxEntries);
          });
          for (const [key, at] of seenAt) {
            if (at + windowMs <= nowMs) assert.equal(cache.get(key, nowMs), undefined, 'expired');
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
