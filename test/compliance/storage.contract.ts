/**
 * The storage contract, run against every store (STYLE.md §5): the in-memory store, the
 * simulator's store and LMDB must be indistinguishable to the core, or the simulator lies.
 *
 * A store is reached through a fixture that says what it can do beyond the contract: restart
 * (for stores that persist) and crash (for stores that can lose unflushed writes in-process).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { NodeStore } from '../../src/adapters/storage/types.js';
import { identifierOf } from '../../src/core/id.js';
import { dataKey, type KvRecord, ringBound, splitDataKey } from '../../src/core/record.js';
import {
  compareBytes,
  type StorageEntry,
  type StorageWrite,
  TABLES,
  type Table,
} from '../../src/core/storage.js';
import { MAX_STORAGE_KEY_BYTES, StorageError } from '../../src/core/storage-table.js';

export interface StorageFixture {
  store: NodeStore;
  /** A graceful restart: close, then open the same storage again. Absent: nothing persists. */
  reopen?: () => Promise<NodeStore>;
  /** A crash: what was not flushed is lost; then open again. Absent: cannot be simulated here. */
  crash?: () => Promise<NodeStore>;
  /** Releases everything (closes the store, removes directories). */
  dispose: () => Promise<void>;
}

/** A store under test, and what it can do beyond the contract. */
export interface StorageSubject {
  /** Opens a fresh, empty store. */
  open: () => Promise<StorageFixture>;
  /** Its fixtures have `reopen`: the data outlives the process. */
  persists: boolean;
  /** Its fixtures have `crash`. */
  crashes: boolean;
  /** Runs of the model test; each run opens a fresh store. */
  modelRuns: number;
}

const bytes = (...b: number[]) => new Uint8Array(b);
const put = (table: Table, key: Uint8Array, value: unknown): StorageWrite => ({ table, key, value });
const del = (table: Table, key: Uint8Array): StorageWrite => ({ table, key, value: null });
const all = (store: NodeStore, table: Table) => store.scan(table, { limit: Number.MAX_SAFE_INTEGER });
const keysOf = (entries: StorageEntry[]) => entries.map((e) => [...e.key]);

const record: KvRecord = {
  value: bytes(0, 1, 2, 255),
  vv: { n1: 3, n2: 2 ** 53 - 1 },
  hlc: 2 ** 53 - 1,
  writer: 'n1',
  expiresAtMs: 0,
  siblings: [
    { value: bytes(9), hlc: 17, writer: 'n2', expiresAtMs: 1_700_000_000_000 },
    { value: null, hlc: 16, writer: 'n3', expiresAtMs: 0 },
  ],
};

export function describeStorageContract(name: string, subject: StorageSubject): void {
  /** Runs `body` on a fresh fixture and disposes of it whatever happens. */
  async function withFixture(body: (fx: StorageFixture) => Promise<void>): Promise<void> {
    const fx = await subject.open();
    try {
      await body(fx);
    } finally {
      await fx.dispose();
    }
  }

  describe(`storage contract: ${name}`, () => {
    test('a put is read back, a later write replaces it, a delete removes it, in every table', () =>
      withFixture(async ({ store }) => {
        for (const table of TABLES) {
          const k = bytes(1, 2, 3);
          assert.equal(store.get(table, k), undefined, 'a fresh store is empty');
          store.apply([put(table, k, 'first')]);
          assert.equal(store.get(table, k), 'first');
          store.apply([put(table, k, 'second')]);
          assert.equal(store.get(table, k), 'second', 'a put overwrites');
          store.apply([del(table, k)]);
          assert.equal(store.get(table, k), undefined, 'null deletes');
          store.apply([del(table, k)]);
          assert.equal(store.get(table, k), undefined, 'deleting an absent key is a no-op');
          store.apply([put(table, k, 'a'), put(table, k, 'b')]);
          assert.equal(store.get(table, k), 'b', 'inside a batch the later write wins');
          store.apply([put(table, k, 'c'), del(table, k)]);
          assert.equal(store.get(table, k), undefined, 'inside a batch a later delete wins');
        }
        await store.flushed();
        for (const table of TABLES) assert.equal(store.count(table), 0);
      }));

    test('tables are independent: one key holds its own value in each table', () =>
      withFixture(async ({ store }) => {
        const k = bytes(7);
        store.apply(TABLES.map((t) => put(t, k, { table: t })));
        for (const t of TABLES) assert.deepEqual(store.get(t, k), { table: t });
        store.apply([del('paxos', k)]);
        assert.equal(store.get('paxos', k), undefined);
        for (const t of TABLES.filter((x) => x !== 'paxos')) {
          assert.deepEqual(store.get(t, k), { table: t }, `a delete in paxos must not touch ${t}`);
          assert.equal(store.count(t), 1);
        }
        assert.deepEqual(keysOf(all(store, 'paxos')), [], 'a scan sees one table only');
      }));

    test('keys are binary-safe: every byte value, and keys that differ only by a trailing zero', () =>
      withFixture(async ({ store }) => {
        const keys = Array.from({ length: 256 }, (_, b) => bytes(b));
        keys.push(bytes(0, 0), bytes(1, 0), bytes(255, 255, 255), bytes(0, 255));
        store.apply(keys.map((k) => put('data', k, [...k])));
        await store.flushed();
        for (const k of keys) assert.deepEqual(store.get('data', k), [...k], `key ${[...k]}`);
        assert.equal(store.count('data'), keys.length);
        const sorted = [...keys].sort(compareBytes).map((k) => [...k]);
        assert.deepEqual(keysOf(all(store, 'data')), sorted, 'a scan returns keys in byte order');
      }));

    test('values are binary-safe: all 256 byte values, the empty array, and 1 MiB', () =>
      withFixture(async ({ store }) => {
        const every = Uint8Array.from({ length: 256 }, (_, i) => i);
        const large = new Uint8Array(1 << 20);
        for (let i = 0; i < large.length; i++) large[i] = (i * 2654435761) >>> 24;
        store.apply([
          put('data', bytes(1), every),
          put('data', bytes(2), new Uint8Array(0)),
          put('data', bytes(3), large),
        ]);
        for (const when of ['before flush', 'after flush']) {
          assert.deepStrictEqual(store.get('data', bytes(1)), every, when);
          assert.deepStrictEqual(
            store.get('data', bytes(2)),
            new Uint8Array(0),
            `${when}: empty is not absent`,
          );
          assert.deepStrictEqual(store.get('data', bytes(3)), large, when);
          await store.flushed();
        }
        const scanned = all(store, 'data');
        assert.deepStrictEqual(
          scanned.map((e) => e.value),
          [every, new Uint8Array(0), large],
          'scan returns the same bytes',
        );
      }));

    test('values round-trip exactly: records with siblings, nested objects, integers up to 2^53', () =>
      withFixture(async ({ store }) => {
        const nested = {
          a: [1, -1, 2 ** 32, 2 ** 53, -(2 ** 53), 0.1, 1e300, -2.5e-300],
          b: { c: { d: 'ünïcödé ✓ 𝄞', e: true, f: false, g: null } },
          h: [],
          i: {},
          j: [bytes(1, 2), { k: bytes() }],
          l: '',
        };
        const plainRecord: KvRecord = { value: bytes(5), vv: {}, hlc: 1, writer: 'n9', expiresAtMs: 0 };
        store.apply([
          put('data', bytes(1), record),
          put('data', bytes(2), plainRecord),
          put('meta', bytes(1), nested),
          put('meta', bytes(2), 0),
          put('meta', bytes(3), -0),
          put('meta', bytes(4), false),
          put('meta', bytes(5), Buffer.from([1, 2, 3])),
        ]);
        for (const when of ['before flush', 'after flush']) {
          // Strict: a Uint8Array must come back a Uint8Array (not a Buffer), with no extra fields.
          assert.deepStrictEqual(store.get('data', bytes(1)), record, when);
          const plain = store.get<KvRecord>('data', bytes(2));
          assert.deepStrictEqual(plain, plainRecord, when);
          assert.ok(plain && !('siblings' in plain), `${when}: an absent field stays absent`);
          assert.deepStrictEqual(store.get('meta', bytes(1)), nested, when);
          assert.equal(store.get('meta', bytes(2)), 0, `${when}: zero is a value, not an absence`);
          assert.ok(
            Object.is(store.get('meta', bytes(3)), 0),
            `${when}: MessagePack has one zero: -0 reads as 0`,
          );
          assert.equal(store.get('meta', bytes(4)), false, when);
          assert.deepStrictEqual(
            store.get('meta', bytes(5)),
            bytes(1, 2, 3),
            `${when}: a Buffer reads as Uint8Array`,
          );
          await store.flushed();
        }
      }));

    test('a scan returns start ≤ key < end in ascending byte order, at most limit entries', () =>
      withFixture(async ({ store }) => {
        const keys = [bytes(1), bytes(1, 0), bytes(1, 5), bytes(2), bytes(2, 255), bytes(3), bytes(200)];
        // Applied out of order, across two batches, to show that order comes from the store.
        store.apply([5, 0, 3].map((i) => put('hints', keys[i], i)));
        store.apply([6, 2, 4, 1].map((i) => put('hints', keys[i], i)));
        for (const when of ['before flush', 'after flush']) {
          const scan = (start: Uint8Array | undefined, end: Uint8Array | undefined, limit = 100) =>
            store.scan<number>('hints', { start, end, limit }).map((e) => e.value);
          assert.deepEqual(scan(undefined, undefined), [0, 1, 2, 3, 4, 5, 6], when);
          assert.deepEqual(scan(bytes(1, 5), bytes(3)), [2, 3, 4], `${when}: start inclusive, end exclusive`);
          assert.deepEqual(scan(bytes(1, 1), bytes(2, 0)), [2, 3], `${when}: bounds need not be keys`);
          assert.deepEqual(scan(bytes(2), undefined), [3, 4, 5, 6], `${when}: open end`);
          assert.deepEqual(scan(undefined, bytes(2)), [0, 1, 2], `${when}: open start`);
          assert.deepEqual(scan(undefined, undefined, 3), [0, 1, 2], `${when}: limit`);
          assert.deepEqual(scan(bytes(1, 0), undefined, 1), [1], `${when}: limit from a start`);
          await store.flushed();
        }
      }));

    test('a scan of an empty or inverted range, or with limit 0, returns nothing', () =>
      withFixture(async ({ store }) => {
        store.apply([put('data', bytes(1), 1), put('data', bytes(2), 2), put('data', bytes(3), 3)]);
        for (const when of ['before flush', 'after flush']) {
          const count = (start: Uint8Array | undefined, end: Uint8Array | undefined, limit = 10) =>
            store.scan('data', { start, end, limit }).length;
          assert.equal(count(bytes(2), bytes(2)), 0, `${when}: start = end`);
          assert.equal(count(bytes(3), bytes(1)), 0, `${when}: start > end`);
          assert.equal(count(bytes(1, 0), bytes(1, 1)), 0, `${when}: no key between`);
          assert.equal(count(bytes(4), undefined), 0, `${when}: past the last key`);
          assert.equal(count(undefined, bytes(1)), 0, `${when}: before the first key`);
          assert.equal(count(undefined, undefined, 0), 0, `${when}: limit 0`);
          await store.flushed();
        }
        assert.equal(store.scan('paxos', { limit: 10 }).length, 0, 'an empty table');
      }));

    test('the keys of one ring range are one contiguous scan (dataKey layout)', () =>
      withFixture(async ({ store }) => {
        const userKeys = Array.from({ length: 200 }, (_, i) => new TextEncoder().encode(`user:${i}`));
        store.apply(userKeys.map((k) => put('data', dataKey(k), 1)));
        await store.flushed();
        const ids = userKeys.map((k) => identifierOf(k)).sort((a, b) => a - b);
        const [from, to] = [ids[50], ids[120]];
        const inRange = store.scan('data', { start: ringBound(from), end: ringBound(to), limit: 1000 });
        assert.equal(inRange.length, 70, 'exactly the keys whose ring ids lie in [from, to)');
        for (const e of inRange) {
          const { id } = splitDataKey(e.key);
          assert.ok(id >= from && id < to, `id ${id} outside [${from}, ${to})`);
        }
      }));

    test('reads see a batch as soon as apply returns, before it is durable', () =>
      withFixture(async ({ store }) => {
        store.apply([put('data', bytes(1), 'a'), put('data', bytes(2), 'b')]);
        assert.equal(store.get('data', bytes(1)), 'a');
        assert.equal(store.count('data'), 2);
        assert.deepEqual(keysOf(all(store, 'data')), [[1], [2]]);
        await store.flushed();
        // A second batch on top of durable data: overwrite, delete, insert.
        store.apply([put('data', bytes(1), 'a2'), del('data', bytes(2)), put('data', bytes(0), 'z')]);
        assert.equal(store.get('data', bytes(1)), 'a2', 'an overwrite shows before it is durable');
        assert.equal(store.get('data', bytes(2)), undefined, 'a delete shows before it is durable');
        assert.equal(store.count('data'), 2);
        assert.deepEqual(
          all(store, 'data').map((e) => e.value),
          ['z', 'a2'],
          'a scan merges unflushed writes in key order',
        );
        // A third batch while the second may still be in flight.
        store.apply([put('data', bytes(2), 'b3')]);
        assert.deepEqual(
          all(store, 'data').map((e) => e.value),
          ['z', 'a2', 'b3'],
        );
        await store.flushed();
        assert.deepEqual(
          all(store, 'data').map((e) => e.value),
          ['z', 'a2', 'b3'],
          'the same once durable',
        );
        assert.equal(store.count('data'), 3);
      }));

    test('count follows inserts, overwrites and deletes', () =>
      withFixture(async ({ store }) => {
        const n = 1500; // several chunks of the in-memory table
        store.apply(Array.from({ length: n }, (_, i) => put('data', bytes(i >> 8, i & 255), i)));
        assert.equal(store.count('data'), n);
        store.apply(Array.from({ length: 100 }, (_, i) => put('data', bytes(i >> 8, i & 255), -i)));
        assert.equal(store.count('data'), n, 'an overwrite does not count twice');
        store.apply(Array.from({ length: n / 2 }, (_, i) => del('data', bytes((2 * i) >> 8, (2 * i) & 255))));
        assert.equal(store.count('data'), n / 2);
        await store.flushed();
        assert.equal(store.count('data'), n / 2);
        assert.equal(store.count('meta'), 0);
        const odd = all(store, 'data').map((e) => e.value as number);
        assert.equal(odd.length, n / 2);
        assert.ok(odd.every((v, i) => Math.abs(v) === 2 * i + 1));
      }));

    test('a batch with an invalid write is refused whole, as a definite error', () =>
      withFixture(async ({ store }) => {
        store.apply([put('data', bytes(1), 'kept')]);
        const longest = new Uint8Array(MAX_STORAGE_KEY_BYTES).fill(7);
        const invalid: [string, StorageWrite][] = [
          ['an empty key', put('data', new Uint8Array(0), 1)],
          ['a key over the limit', put('data', new Uint8Array(MAX_STORAGE_KEY_BYTES + 1), 1)],
          ['an undefined value', put('data', bytes(3), undefined)],
          ['an unknown table', put('nope' as Table, bytes(3), 1)],
        ];
        for (const [what, bad] of invalid) {
          assert.throws(
            () => store.apply([put('data', bytes(1), 'changed'), put('data', bytes(2), 'new'), bad]),
            (e: unknown) => e instanceof StorageError && e.code === 'STORAGE_INVALID_WRITE' && e.definite,
            what,
          );
          assert.equal(store.get('data', bytes(1)), 'kept', `${what}: nothing of the batch applies`);
          assert.equal(store.get('data', bytes(2)), undefined, `${what}: nothing of the batch applies`);
        }
        store.apply([put('data', longest, 'longest')]);
        await store.flushed();
        assert.equal(store.get('data', longest), 'longest', `a ${MAX_STORAGE_KEY_BYTES}-byte key is fine`);
        assert.equal(
          store.get('data', new Uint8Array(0)),
          undefined,
          'reading an impossible key finds nothing',
        );
        assert.equal(store.get('data', new Uint8Array(MAX_STORAGE_KEY_BYTES + 1)), undefined);
      }));

    test('mutating what was written or read does not change stored state', () =>
      withFixture(async ({ store }) => {
        const key = bytes(1, 2);
        const value = { list: [1, 2], bytes: bytes(1, 2, 3) };
        store.apply([put('meta', key, value)]);
        key[0] = 9; // the caller reuses its key buffer
        value.list.push(3);
        value.bytes[0] = 99;
        const read = store.get<typeof value>('meta', bytes(1, 2));
        assert.deepStrictEqual(read, { list: [1, 2], bytes: bytes(1, 2, 3) }, 'the store kept its own copy');
        assert.equal(store.get('meta', key), undefined, 'the mutated key is not a stored key');
        if (read) {
          read.list.length = 0;
          read.bytes[1] = 77;
        }
        const [entry] = store.scan<typeof value>('meta', { limit: 1 });
        entry.key[0] = 0;
        await store.flushed();
        assert.deepStrictEqual(store.get('meta', bytes(1, 2)), { list: [1, 2], bytes: bytes(1, 2, 3) });
        assert.deepEqual(keysOf(all(store, 'meta')), [[1, 2]], 'a scanned key is a copy');
      }));

    test('apply after close fails with STORAGE_CLOSED (definite)', async () => {
      const fx = await subject.open();
      try {
        fx.store.apply([put('data', bytes(1), 1)]);
        await fx.store.close();
        await fx.store.close(); // idempotent
        assert.throws(
          () => fx.store.apply([put('data', bytes(2), 2)]),
          (e: unknown) => e instanceof StorageError && e.code === 'STORAGE_CLOSED' && e.definite,
        );
      } finally {
        await fx.dispose();
      }
    });

    // Stores without a disk (or without crashes) do not get these tests at all, rather than
    // skipped ones that would look like coverage.
    const persistent = subject.persists ? test : () => undefined;
    const crashing = subject.crashes ? test : () => undefined;
    persistent('a restart keeps everything written before a graceful close', () =>
      withFixture(async (fx) => {
        const reopen = required(fx.reopen, 'a persistent store needs reopen');
        fx.store.apply([
          put('data', bytes(1), record),
          put('meta', bytes(1), 'me'),
          put('hints', bytes(5), [1]),
        ]);
        await fx.store.flushed();
        fx.store.apply([del('hints', bytes(5)), put('paxos', bytes(2), { ballot: 3 })]);
        // no flushed(): close itself must wait for pending writes
        const again = await reopen();
        assert.deepStrictEqual(again.get('data', bytes(1)), record);
        assert.equal(again.get('meta', bytes(1)), 'me');
        assert.equal(again.get('hints', bytes(5)), undefined, 'the delete applied before close persists');
        assert.deepEqual(again.get('paxos', bytes(2)), { ballot: 3 });
        assert.deepEqual(
          TABLES.map((t) => again.count(t)),
          [1, 1, 0, 1],
        );
      }),
    );

    crashing('a crash keeps exactly what was flushed', () =>
      withFixture(async (fx) => {
        const crash = required(fx.crash, 'a crashing store needs crash');
        fx.store.apply([put('data', bytes(1), 'durable'), put('data', bytes(2), 'durable')]);
        await fx.store.flushed();
        fx.store.apply([put('data', bytes(1), 'lost'), del('data', bytes(2)), put('data', bytes(3), 'lost')]);
        const after = await crash();
        assert.equal(after.get('data', bytes(1)), 'durable', 'an unflushed overwrite is lost');
        assert.equal(after.get('data', bytes(2)), 'durable', 'an unflushed delete is lost');
        assert.equal(after.get('data', bytes(3)), undefined, 'an unflushed insert is lost');
        assert.equal(after.count('data'), 2);
      }),
    );

    test('random sequences of apply, get, scan, count, flush and restart agree with a Map', () =>
      modelTest(subject));
  });
}

function required<T>(value: T | undefined, why: string): T {
  assert.ok(value !== undefined, why);
  return value;
}

// ---- the model test ----

type Command =
  | { kind: 'apply'; writes: { table: Table; key: number[]; value: unknown }[] }
  | { kind: 'get'; table: Table; key: number[] }
  | { kind: 'scan'; table: Table; start: number[] | null; end: number[] | null; limit: number }
  | { kind: 'count'; table: Table }
  | { kind: 'flush' }
  | { kind: 'yield' }
  | { kind: 'reopen' }
  | { kind: 'crash' };

// Few distinct bytes and short keys, so writes collide and ranges are dense.
const keyArb = fc.array(fc.constantFrom(0, 1, 2, 255), { minLength: 1, maxLength: 3 });
const tableArb = fc.constantFrom<Table>('data', 'meta');
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 6 }),
  fc.record(
    { n: fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)), s: fc.array(fc.boolean()) },
    { noNullPrototype: true },
  ),
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      writes: fc.array(fc.record({ table: tableArb, key: keyArb, value: valueArb }), { maxLength: 6 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('get' as const), table: tableArb, key: keyArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('scan' as const),
      table: tableArb,
      start: fc.option(keyArb),
      end: fc.option(keyArb),
      limit: fc.integer({ min: 0, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('count' as const), table: tableArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'yield' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

/** The dumb reference: per table a Map from the key's hex to the entry. */
type Model = Map<Table, Map<string, StorageEntry>>;
const hex = (k: Uint8Array | number[]) => Buffer.from(k).toString('hex');
const copyModel = (m: Model): Model => new Map([...m].map(([t, rows]) => [t, new Map(rows)]));

async function modelTest(subject: StorageSubject): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(commandArb, { maxLength: 40 }), async (commands) => {
      const fx = await subject.open();
      try {
        let store = fx.store;
        let model: Model = new Map(TABLES.map((t) => [t, new Map()]));
        let durable = copyModel(model);
        for (const c of commands) {
          const rows = (t: Table) => model.get(t) as Map<string, StorageEntry>;
          switch (c.kind) {
            case 'apply': {
              store.apply(c.writes.map((w) => put(w.table, Uint8Array.from(w.key), w.value)));
              for (const w of c.writes) {
                if (w.value === null) rows(w.table).delete(hex(w.key));
                else rows(w.table).set(hex(w.key), { key: Uint8Array.from(w.key), value: w.value });
              }
              break;
            }
            case 'get':
              assert.deepStrictEqual(
                store.get(c.table, Uint8Array.from(c.key)),
                rows(c.table).get(hex(c.key))?.value,
              );
              break;
            case 'scan': {
              const start = c.start === null ? undefined : Uint8Array.from(c.start);
              const end = c.end === null ? undefined : Uint8Array.from(c.end);
              const expected = [...rows(c.table).values()]
                .filter(
                  (e) =>
                    (!start || compareBytes(e.key, start) >= 0) && (!end || compareBytes(e.key, end) < 0),
                )
                .sort((a, b) => compareBytes(a.key, b.key))
                .slice(0, c.limit);
              assert.deepStrictEqual(store.scan(c.table, { start, end, limit: c.limit }), expected);
              break;
            }
            case 'count':
              assert.equal(store.count(c.table), rows(c.table).size);
              break;
            case 'flush':
              await store.flushed();
              durable = copyModel(model);
              break;
            case 'yield':
              // Lets asynchronous commits land between reads (a turn of the event loop).
              await new Promise<void>((resolve) => setImmediate(resolve));
              break;
            case 'reopen':
              if (!subject.persists) break;
              store = await required(fx.reopen, 'a persistent store needs reopen')();
              durable = copyModel(model);
              break;
            case 'crash':
              if (!subject.crashes) break;
              store = await required(fx.crash, 'a crashing store needs crash')();
              model = copyModel(durable);
              break;
          }
        }
      } finally {
        await fx.dispose();
      }
    }),
    { numRuns: subject.modelRuns },
  );
}
