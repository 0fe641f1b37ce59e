/**
 * The pure pieces of the keyspace scan (src/core/replication/scan.ts): the circle cut into
 * segments, a replica's page of a segment, liveness, and the value-less digests it sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RING_SIZE } from '../../../src/core/id.js';
import { dataKeyWithId, type KvRecord, reconcile, splitDataKey } from '../../../src/core/record.js';
import {
  countSegments,
  digestOf,
  isLive,
  readSegment,
  segmentsFrom,
} from '../../../src/core/replication/scan.js';
import { Ring } from '../../../src/core/ring.js';
import { SimKvStorage } from '../../../src/sim/kv-storage.js';

const enc = new TextEncoder();
const rec = (over: Partial<KvRecord> = {}): KvRecord => ({
  value: enc.encode('value'),
  hlc: 1,
  writer: 'a',
  expiresAtMs: 0,
  vv: { a: 1 },
  ...over,
});

/** A store holding keys at chosen ring positions (so tests can make positions collide). */
function storeAt(entries: Array<[number, string, KvRecord?]>): SimKvStorage {
  const s = new SimKvStorage();
  s.apply(
    entries.map(([id, k, r]) => ({
      table: 'data' as const,
      key: dataKeyWithId(id, enc.encode(k)),
      value: r ?? rec(),
    })),
  );
  s.flush();
  return s;
}

test('the segments of a ring cover the circle exactly once, in order, and never wrap', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 8 }),
      fc.nat(RING_SIZE - 1),
      (m, v, from) => {
        const ring = Ring.fromMembers(
          Array.from({ length: m }, (_, i) => `n${i}`),
          v,
        );
        const segments = segmentsFrom(ring, 3, from);
        assert.equal(segments[0].fromId, from);
        assert.equal(segments[segments.length - 1].toId, RING_SIZE - 1);
        for (const [i, s] of segments.entries()) {
          assert.ok(s.fromId <= s.toId, 'a segment never wraps');
          if (i > 0) assert.equal(s.fromId, segments[i - 1].toId + 1, 'no gap, no overlap');
          // Every position of a segment has the replicas of the segment's own range.
          assert.deepEqual(s.replicas, ring.preferenceList(s.toId === RING_SIZE - 1 ? 0 : s.toId, 3));
          assert.deepEqual(s.replicas, ring.preferenceList(s.fromId, 3));
        }
      },
    ),
    { numRuns: 200, seed: 3 },
  );
});

test('a page of a segment never ends inside one ring position, so resuming neither skips nor splits it', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 7 }),
      (positions, limit) => {
        const entries = positions.map((id, i): [number, string] => [id, `k${i}`]);
        const s = storeAt(entries);
        const seen: string[] = [];
        let from: number | null = 0;
        for (let pages = 0; from !== null; pages++) {
          assert.ok(pages < 1000, 'pages end');
          const page = readSegment(s, { fromId: from, toId: 30 }, limit);
          for (const e of page.entries) {
            const { id } = splitDataKey(e.key);
            assert.ok(
              id >= from && (page.nextId === null || id < page.nextId),
              'the page covers [from, nextId)',
            );
          }
          seen.push(...page.entries.map((e) => new TextDecoder().decode(splitDataKey(e.key).userKey)));
          if (page.nextId !== null) assert.ok(page.nextId > from, 'the cursor moves forward');
          from = page.nextId;
        }
        assert.deepEqual(seen.sort(), entries.map(([, k]) => k).sort(), 'every record exactly once');
      },
    ),
    { numRuns: 300, seed: 5 },
  );
});

test('live means what GET answers: deleted and expired records are not live, a live sibling is', () => {
  assert.ok(isLive(rec(), 1000));
  assert.ok(!isLive(rec({ value: null }), 1000), 'a tombstone');
  assert.ok(!isLive(rec({ expiresAtMs: 1000 }), 1000), 'expired at its expiry');
  assert.ok(isLive(rec({ expiresAtMs: 1001 }), 1000));
  const a = rec({ hlc: 2, writer: 'a', vv: { a: 2 } });
  const b = rec({ value: null, hlc: 1, writer: 'b', vv: { b: 1 } });
  assert.ok(isLive(reconcile(a, b, 'siblings'), 1000), 'concurrent versions, one of them live');
});

test('a digest keeps what reconciliation and liveness need, not the value bytes', () => {
  const big = rec({ value: new Uint8Array(100_000), expiresAtMs: 5000 });
  const d = digestOf(big);
  assert.equal(d.value?.length, 0, 'no value bytes travel');
  assert.equal(isLive(d, 1000), isLive(big, 1000));
  assert.equal(isLive(d, 6000), isLive(big, 6000));
  const newer = rec({ value: null, hlc: 9, vv: { a: 9 } });
  assert.equal(reconcile(d, digestOf(newer)).value, null, 'a newer tombstone still wins over a digest');
  assert.equal(digestOf(rec({ value: null })).value, null, 'a tombstone stays a tombstone');
});

test('count-range counts live keys per segment at the given time', () => {
  const s = storeAt([
    [10, 'a'],
    [11, 'b', rec({ value: null })],
    [12, 'c', rec({ expiresAtMs: 500 })],
    [20, 'd'],
  ]);
  assert.deepEqual(
    countSegments(
      s,
      [
        { fromId: 0, toId: 15 },
        { fromId: 16, toId: 25 },
      ],
      1000,
    ),
    [1, 1],
  );
  assert.deepEqual(countSegments(s, [{ fromId: 0, toId: 15 }], 100), [2], 'before its expiry c counts');
});
