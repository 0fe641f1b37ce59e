import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HybridClock, hlcLogical, hlcPhysicalMs } from '../../../src/core/hlc.js';
import { dataKey, type KvRecord, reconcile, splitDataKey } from '../../../src/core/record.js';
import {
  compareVectors,
  descends,
  mergeVectors,
  type VersionVector,
} from '../../../src/core/version-vector.js';

const vv = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 1, max: 5 }));

/**
 * Records as the store makes them: each write is by one coordinator, at a timestamp no other write
 * has, and has seen some of the earlier writes (its causal context). Arbitrary records would allow
 * impossible histories, such as two different writes with the same version vector.
 */
const history = fc
  .array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.array(fc.nat(), { maxLength: 3 }), fc.boolean()), {
    minLength: 3,
    maxLength: 12,
  })
  .map((steps) => {
    const made: KvRecord[] = [];
    steps.forEach(([writer, seen, deletes], i) => {
      const hlc = i + 1;
      let context: VersionVector = {};
      for (const j of seen) if (made.length > 0) context = mergeVectors(context, made[j % made.length].vv);
      made.push({
        value: deletes ? null : new Uint8Array([hlc]),
        hlc,
        writer,
        expiresAtMs: 0,
        vv: { ...context, [writer]: hlc },
      });
    });
    return made;
  });
const three = history.chain((made) =>
  fc.tuple(fc.constantFrom(...made), fc.constantFrom(...made), fc.constantFrom(...made)),
);

/** What a version is, for comparing results regardless of object identity. */
const shape = (r: KvRecord) => ({
  hlc: r.hlc,
  writer: r.writer,
  vv: r.vv,
  value: r.value === null ? null : [...r.value],
});

describe('version vectors', () => {
  test('compare is antisymmetric and merge is the least upper bound', () => {
    fc.assert(
      fc.property(vv, vv, (a, b) => {
        const ab = compareVectors(a, b);
        const ba = compareVectors(b, a);
        const flip = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
        assert.equal(ba, flip[ab]);
        const m = mergeVectors(a, b);
        assert.ok(descends(m, a) && descends(m, b));
        for (const k of Object.keys(m)) assert.equal(m[k], Math.max(a[k] ?? 0, b[k] ?? 0));
      }),
    );
  });

  test('concurrent writes are detected', () => {
    const base: VersionVector = { a: 1 };
    assert.equal(compareVectors({ ...base, b: 1 }, { ...base, c: 1 }), 'concurrent');
    assert.equal(compareVectors(base, { a: 2 }), 'before');
  });
});

describe('reconcile: replicas converge whatever order versions arrive in', () => {
  test('commutative, associative and idempotent (last-writer-wins)', () => {
    fc.assert(
      fc.property(three, ([a, b, c]) => {
        assert.deepEqual(shape(reconcile(a, b)), shape(reconcile(b, a)));
        assert.deepEqual(shape(reconcile(reconcile(a, b), c)), shape(reconcile(a, reconcile(b, c))));
        assert.deepEqual(shape(reconcile(a, a)), shape(a));
      }),
      { numRuns: 2000 },
    );
  });

  test('a version that descends from another supersedes it; concurrent ones: the later timestamp wins', () => {
    const old: KvRecord = { value: new Uint8Array([1]), hlc: 10, writer: 'a', expiresAtMs: 0, vv: { a: 10 } };
    const newer: KvRecord = {
      value: new Uint8Array([2]),
      hlc: 5,
      writer: 'b',
      expiresAtMs: 0,
      vv: { a: 10, b: 5 },
    };
    assert.equal(reconcile(old, newer), newer, 'causality beats timestamps');
    const concurrent: KvRecord = {
      value: new Uint8Array([3]),
      hlc: 11,
      writer: 'c',
      expiresAtMs: 0,
      vv: { c: 11 },
    };
    const merged = reconcile(old, concurrent);
    assert.deepEqual([...(merged.value as Uint8Array)], [3]);
    assert.deepEqual(merged.vv, { a: 10, c: 11 });
  });

  test('siblings mode keeps concurrent values side by side, and a write with their context merges them', () => {
    const x: KvRecord = { value: new Uint8Array([1]), hlc: 10, writer: 'a', expiresAtMs: 0, vv: { a: 10 } };
    const y: KvRecord = { value: new Uint8Array([2]), hlc: 11, writer: 'b', expiresAtMs: 0, vv: { b: 11 } };
    const both = reconcile(x, y, 'siblings');
    assert.equal(both.siblings?.length, 2);
    const resolved: KvRecord = {
      value: new Uint8Array([9]),
      hlc: 12,
      writer: 'a',
      expiresAtMs: 0,
      vv: { a: 12, b: 11 },
    };
    const after = reconcile(both, resolved, 'siblings');
    assert.equal(after, resolved);
  });
});

describe('hybrid logical clock', () => {
  test('never goes backwards and orders after everything it has seen', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1e6 }), fc.option(fc.integer({ min: 0, max: 2e9 }))), {
          maxLength: 50,
        }),
        (steps) => {
          const clock = new HybridClock();
          let last = 0;
          for (const [now, remote] of steps) {
            const t = remote === null ? clock.now(now) : clock.observe(remote, now);
            assert.ok(t > last);
            if (remote !== null) assert.ok(t > remote);
            last = t;
          }
        },
      ),
    );
  });

  test('follows physical time when it can', () => {
    const clock = new HybridClock();
    const t = clock.now(1_700_000_000_123);
    assert.equal(hlcPhysicalMs(t), 1_700_000_000_123);
    assert.equal(hlcLogical(clock.now(1_700_000_000_123)), 1);
  });
});

test('storage keys sort by ring position and split back into identifier and key', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (key) => {
      const dk = dataKey(key);
      const { userKey } = splitDataKey(dk);
      assert.deepEqual([...userKey], [...key]);
    }),
  );
});
