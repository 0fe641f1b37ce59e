import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RING_SIZE } from '../../../src/core/id.js';
import { dataKey, type KvRecord } from '../../../src/core/record.js';
import {
  buildTree,
  differingSlices,
  type RingRange,
  recordsInSlices,
  sliceOf,
} from '../../../src/core/replication/anti-entropy.js';
import { SimKvStorage } from '../../../src/sim/kv-storage.js';

const enc = new TextEncoder();
const rec = (hlc: number): KvRecord => ({
  value: enc.encode(`v${hlc}`),
  hlc,
  writer: 'a',
  expiresAtMs: 0,
  vv: { a: hlc },
});

function store(entries: Array<[string, number]>): SimKvStorage {
  const s = new SimKvStorage();
  s.apply(
    entries.map(([k, hlc]) => ({ table: 'data' as const, key: dataKey(enc.encode(k)), value: rec(hlc) })),
  );
  s.flush();
  return s;
}

const whole: RingRange = { startExclusive: 12345, endInclusive: 12345 };

test('equal replicas have equal roots; one differing record shows up in exactly its slice', () => {
  const keys = Array.from({ length: 500 }, (_, i): [string, number] => [`key${i}`, 1]);
  const a = store(keys);
  const b = store(keys);
  assert.equal(buildTree(a, whole, 6, 10_000).root, buildTree(b, whole, 6, 10_000).root);
  const c = store([...keys.slice(1), ['key0', 2]]);
  const diff = differingSlices(buildTree(a, whole, 6, 10_000), buildTree(c, whole, 6, 10_000));
  assert.equal(diff.length, 1);
  const shipped = recordsInSlices(c, whole, 6, diff, 10_000, 100);
  assert.ok(shipped.some((r) => new TextDecoder().decode(r.key) === 'key0' && r.record.hlc === 2));
});

test('slices cover a range, wrapping past zero, in order', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: RING_SIZE - 1 }),
      fc.integer({ min: 1, max: RING_SIZE - 1 }),
      fc.integer({ min: 1, max: RING_SIZE - 1 }),
      (start, span, offset) => {
        const range = { startExclusive: start, endInclusive: (start + span) % RING_SIZE };
        const id = (start + 1 + (offset % span)) % RING_SIZE;
        const slice = sliceOf(range, 4, id);
        assert.ok(slice >= 0 && slice < 16);
      },
    ),
  );
});

test('a tree only sees the records of its own range', () => {
  const s = store(Array.from({ length: 200 }, (_, i): [string, number] => [`k${i}`, 1]));
  const half: RingRange = { startExclusive: 0, endInclusive: RING_SIZE / 2 };
  const other: RingRange = { startExclusive: RING_SIZE / 2, endInclusive: 0 };
  const n = (r: RingRange) => recordsInSlices(s, r, 0, [0], 10_000, 10_000).length;
  assert.equal(n(half) + n(other), 200);
});
