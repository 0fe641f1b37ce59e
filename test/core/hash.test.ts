import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import fc from 'fast-check';
import { murmur3x86_128 } from '../../src/core/hash.js';
import { distance, ID_BITS, identifierOf, inHalfOpen, inOpen, RING_SIZE } from '../../src/core/id.js';

// An independent implementation, used only as the oracle.
const require = createRequire(import.meta.url);
const reference = require('murmurhash3js-revisited') as {
  x86: { hash128(b: Uint8Array, seed: number): string };
};

const hex = (words: number[]) => words.map((w) => w.toString(16).padStart(8, '0')).join('');

test('MurmurHash3 x86_128 agrees with an independent implementation on every length and seed', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(), (bytes, seed) => {
      assert.equal(hex(murmur3x86_128(bytes, seed)), reference.x86.hash128(bytes, seed));
    }),
    { numRuns: 2000 },
  );
});

test('identifiers are 48-bit integers spread evenly over the circle', () => {
  assert.equal(ID_BITS, 48);
  const buckets = new Array(16).fill(0);
  const n = 32_000;
  for (let i = 0; i < n; i++) {
    const id = identifierOf(`key:${i}`);
    assert.ok(Number.isSafeInteger(id) && id >= 0 && id < RING_SIZE);
    buckets[Math.floor(id / (RING_SIZE / 16))]++;
  }
  for (const b of buckets)
    assert.ok(Math.abs(b - n / 16) < (n / 16) * 0.1, `bucket ${b} of ${n / 16} expected`);
});

test('circle intervals agree with walking the distance', () => {
  const id = fc.integer({ min: 0, max: RING_SIZE - 1 });
  fc.assert(
    fc.property(id, id, id, (x, a, b) => {
      // x ∈ (a, b] iff walking clockwise from a reaches x no later than b (whole circle when a = b).
      const span = a === b ? RING_SIZE : distance(a, b);
      const dx = distance(a, x);
      assert.equal(inHalfOpen(x, a, b), dx > 0 ? dx <= span : a === b);
      assert.equal(inOpen(x, a, b), dx > 0 && dx < span);
    }),
    { numRuns: 5000 },
  );
});
