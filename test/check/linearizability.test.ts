import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import fc from 'fast-check';
import { type History, historyFromEvents, type Json, parseHistory } from '../../src/check/history.js';
import { type CheckResult, checkEvents, checkHistory } from '../../src/check/linearizability.js';
import { casRegister, kv, MODELS, type Model, type ModelName } from '../../src/check/models.js';

// Compiled to dist/test/check/, so the repository root is three levels up.
const fixtures = new URL('../../../test/fixtures/histories/', import.meta.url);
const now = () => performance.now();

function fixture(name: string): string {
  return readFileSync(new URL(`${name}.jsonl`, fixtures), 'utf8');
}

const verdicts = JSON.parse(readFileSync(new URL('verdicts.json', fixtures), 'utf8')) as Record<
  string,
  { model: ModelName; valid: boolean }
>;

test('all 109 reference histories get their known verdict', (t) => {
  const names = Object.keys(verdicts);
  assert.equal(names.length, 109);
  const wrong: string[] = [];
  let total = 0;
  for (const name of names) {
    const { model, valid } = verdicts[name];
    const result = checkHistory(parseHistory(fixture(name)), MODELS[model], { now, timeoutMs: 30_000 });
    total += result.elapsedMs;
    if (result.valid !== valid)
      wrong.push(`${name}: expected ${valid}, got ${result.valid} ${result.reason ?? ''}`);
    if (valid === false && result.valid === false) {
      assert.ok(result.failingKey !== undefined && result.counterexample, `${name} has a counterexample`);
    }
  }
  assert.deepEqual(wrong, []);
  t.diagnostic(`109 histories checked in ${total.toFixed(0)} ms (search time, parsing excluded)`);
});

for (const name of ['c50-ok', 'c50-bad']) {
  test(`${name} (50 clients) is decided well under 10 s`, (t) => {
    const result = checkHistory(parseHistory(fixture(name)), kv, { now, timeoutMs: 10_000 });
    t.diagnostic(`${name}: ${result.valid} in ${result.elapsedMs.toFixed(0)} ms`);
    assert.equal(result.valid, verdicts[name].valid);
    assert.ok(result.elapsedMs < 10_000, `${name} took ${result.elapsedMs} ms`);
  });
}

// ---------------------------------------------------------------------------------------------
// Hand-made classics. Each operation is written as [process, f, value, invoke, return, result],
// where return null means the outcome is unknown (info) and result is what a read returned.

type Op = [process: number, f: string, value: Json, invoke: number, ret: number | null, result?: Json];

function events(ops: Op[], key = 'x'): object[] {
  const out: Array<{ time: number; event: object }> = [];
  for (const [process, f, value, invoke, ret, result] of ops) {
    out.push({ time: invoke, event: { process, type: 'invoke', f, key, value, time: invoke } });
    const type = ret === null ? 'info' : 'ok';
    const end = ret ?? invoke + 0.5;
    const completed = f === 'read' && ret !== null ? (result ?? null) : value;
    out.push({ time: end, event: { process, type, f, key, value: completed, time: end } });
  }
  // Stable: an invoke and a completion at the same time keep the order above.
  return out.sort((a, b) => a.time - b.time).map((e) => e.event);
}

function check(ops: Op[], model: Model<string, unknown> = casRegister): CheckResult {
  return checkEvents(events(ops), model, { now });
}

test('a stale read is not linearizable', () => {
  const r = check([
    [0, 'write', 1, 0, 1],
    [1, 'write', 2, 2, 3],
    [2, 'read', null, 4, 5, 1],
  ]);
  assert.equal(r.valid, false);
  assert.equal(r.failingKey, 'x');
  const c = r.counterexample!;
  assert.equal(c.mustPrecede.f, 'read');
  assert.equal(c.stateAfter, '2');
  assert.deepEqual(
    c.linearized.map((op) => op.value),
    [1, 2],
  );
});

test('a lost write (append) is not linearizable', () => {
  const r = check(
    [
      [0, 'append', 'a', 0, 1],
      [1, 'append', 'b', 2, 3],
      [2, 'read', null, 4, 5, 'b'],
    ],
    kv,
  );
  assert.equal(r.valid, false);
});

test('two cas that both succeed from the same expected value are not linearizable', () => {
  const r = check([
    [0, 'write', 0, 0, 1],
    [1, 'cas', [0, 1], 2, 5],
    [2, 'cas', [0, 2], 3, 6],
  ]);
  assert.equal(r.valid, false);
});

test('two concurrent cas that chain are linearizable in either order of invocation', () => {
  for (const [a, b] of [
    [2, 3],
    [3, 2],
  ]) {
    const r = check([
      [0, 'write', 0, 0, 1],
      [1, 'cas', [1, 2], a, 6],
      [2, 'cas', [0, 1], b, 7],
      [3, 'read', null, 8, 9, 2],
    ]);
    assert.equal(r.valid, true);
  }
});

test('an info write that a later read observes is linearizable', () => {
  assert.equal(
    check([
      [0, 'write', 1, 0, null],
      [1, 'read', null, 5, 6, 1],
    ]).valid,
    true,
  );
});

test('an info write never observed is linearizable', () => {
  assert.equal(
    check([
      [0, 'write', 1, 0, null],
      [1, 'read', null, 5, 6, null],
      [1, 'read', null, 7, 8, null],
    ]).valid,
    true,
  );
});

test('an info write cannot be undone once observed', () => {
  assert.equal(
    check([
      [0, 'write', 1, 0, null],
      [1, 'read', null, 5, 6, 1],
      [1, 'read', null, 7, 8, null],
    ]).valid,
    false,
  );
});

test('info writes and cas that nobody observed are left out: many of them do not blow up the search', () => {
  // 150 writes and 50 cas with unknown outcomes, all concurrent with a read loop that sees only
  // the known writes. Every subset of pending unknown operations is a search state, so without
  // leaving the unobserved ones out the memo would overflow long before a verdict.
  const ops: Op[] = [];
  for (let i = 0; i < 150; i++) ops.push([100 + i, 'write', `lost-${i}`, i, null]);
  for (let i = 0; i < 50; i++) ops.push([300 + i, 'cas', [`never-${i}`, `gone-${i}`], i, null]);
  for (let i = 0; i < 40; i++) {
    ops.push([0, 'write', `w${i}`, 200 + 10 * i, 201 + 10 * i]);
    ops.push([1, 'read', null, 202 + 10 * i, 203 + 10 * i, `w${i}`]);
  }
  const r = checkEvents(events(ops), casRegister, { now, maxCacheEntries: 50_000 });
  assert.equal(r.valid, true, r.reason);
  // The same history with one unknown write observed is still decided, and still valid.
  ops.push([2, 'read', null, 700, 701, 'lost-7']);
  assert.equal(checkEvents(events(ops), casRegister, { now, maxCacheEntries: 50_000 }).valid, true);
});

test('an invocation without completion is like info', () => {
  const history = events([[1, 'read', null, 5, 6, 1]]);
  history.unshift({ process: 0, type: 'invoke', f: 'write', key: 'x', value: 1, time: 0 });
  assert.equal(checkEvents(history, casRegister, { now }).valid, true);
});

test('an info cas applies only if its expected value matches', () => {
  const base: Op[] = [
    [0, 'write', 0, 0, 1],
    [1, 'cas', [0, 1], 2, null],
  ];
  assert.equal(check([...base, [2, 'read', null, 5, 6, 1]]).valid, true);
  assert.equal(check([...base, [2, 'read', null, 5, 6, 0]]).valid, true);
  assert.equal(check([...base, [2, 'read', null, 5, 6, 7]]).valid, false);
});

test('operations concurrent with a write may see it or not, in real-time order', () => {
  // The write spans both reads: null then 1 fits, 1 then null does not.
  assert.equal(
    check([
      [0, 'write', 1, 0, 10],
      [1, 'read', null, 1, 2, null],
      [1, 'read', null, 3, 4, 1],
    ]).valid,
    true,
  );
  assert.equal(
    check([
      [0, 'write', 1, 0, 10],
      [1, 'read', null, 1, 2, 1],
      [1, 'read', null, 3, 4, null],
    ]).valid,
    false,
  );
});

test('a read of a value never written is not linearizable', () => {
  assert.equal(check([[0, 'read', null, 0, 1, 42]]).valid, false);
  assert.equal(check([[0, 'read', null, 0, 1, 'ghost']], kv).valid, false);
});

test('fail operations are ignored', () => {
  const history = [
    { process: 0, type: 'invoke', f: 'write', key: 'x', value: 1, time: 0 },
    { process: 0, type: 'fail', f: 'write', key: 'x', value: 1, time: 1 },
    { process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: 2 },
    { process: 1, type: 'ok', f: 'read', key: 'x', value: null, time: 3 },
  ];
  assert.equal(checkEvents(history, casRegister, { now }).valid, true);
  // ...so observing the failed write's value is a violation.
  history[3] = { ...history[3], value: 1 };
  assert.equal(checkEvents(history, casRegister, { now }).valid, false);
});

test('keys are independent and the failing one is named', () => {
  const history = [...events([[0, 'write', 1, 0, 1]], 'a'), ...events([[1, 'read', null, 0, 1, 5]], 'b')];
  history.sort((x, y) => (x as { time: number }).time - (y as { time: number }).time);
  const r = checkEvents(history, casRegister, { now });
  assert.equal(r.valid, false);
  assert.equal(r.failingKey, 'b');
  assert.equal(r.keys, 2);
  assert.equal(r.ops, 2);
});

// ---------------------------------------------------------------------------------------------
// Limits: reaching them gives "unknown", never a verdict.

test('reaching the deadline gives unknown, never valid', () => {
  for (const name of ['c50-ok', 'c50-bad']) {
    // A clock that jumps an hour on every read: the deadline passes at the first look.
    let t = 0;
    const result = checkHistory(parseHistory(fixture(name)), kv, {
      now: () => (t += 3_600_000),
      timeoutMs: 1,
    });
    assert.equal(result.valid, 'unknown', name);
    assert.match(result.reason ?? '', /time limit/);
  }
  // With a real clock and a tiny deadline on a hard key (key 0 of c50-bad is not decided in seconds).
  const hard = parseHistory(fixture('c50-bad'));
  hard.operations = hard.operations.filter((op) => op.key === '0');
  hard.keys = ['0'];
  assert.equal(checkHistory(hard, kv, { now, timeoutMs: 50 }).valid, 'unknown');
});

test('a full memo gives unknown', () => {
  const result = checkHistory(parseHistory(fixture('c50-ok')), kv, { now, maxCacheEntries: 100 });
  assert.equal(result.valid, 'unknown');
  assert.match(result.reason ?? '', /memo limit/);
  const small = checkHistory(parseHistory(fixture('c50-ok')), kv, { now, maxCacheBytes: 100_000 });
  assert.equal(small.valid, 'unknown');
});

test('the order of the operations in a hand-built History does not matter', () => {
  for (const name of ['c10-ok', 'c10-bad', 'etcd_002', 'etcd_000']) {
    const history = parseHistory(fixture(name));
    history.operations.reverse();
    const { model, valid } = verdicts[name];
    assert.equal(checkHistory(history, MODELS[model], { now }).valid, valid, name);
  }
});

test('the same history always gets the same counterexample', () => {
  const run = () => checkHistory(parseHistory(fixture('c50-bad')), kv, { now: () => 0 });
  const a = run();
  assert.equal(a.valid, false);
  assert.deepEqual(run().counterexample, a.counterexample);
});

// ---------------------------------------------------------------------------------------------
// Property: a history recorded from a real sequential register, with every operation's interval
// stretched around its real linearization point, is always linearizable; corrupting one read
// into a value never written makes it not linearizable.

interface Spec {
  model: Model<string, unknown>;
  arbOp: fc.Arbitrary<[string, Json]>;
  /** Runs op on the register: [new state, the read result or whether it applied]. */
  apply(state: Json, f: string, value: Json): { state: Json; result: Json; applied: boolean };
  initial: Json;
  never: Json;
}

const registerSpec: Spec = {
  model: casRegister,
  arbOp: fc.oneof(
    fc.constant<[string, Json]>(['read', null]),
    fc.integer({ min: 0, max: 4 }).map((v): [string, Json] => ['write', v]),
    fc
      .tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }))
      .map((p): [string, Json] => ['cas', p]),
  ),
  apply(state, f, value) {
    if (f === 'read') return { state, result: state, applied: true };
    if (f === 'write') return { state: value, result: value, applied: true };
    const [expected, next] = value as [Json, Json];
    return expected === state
      ? { state: next, result: value, applied: true }
      : { state, result: value, applied: false };
  },
  initial: null,
  never: 999,
};

const kvSpec: Spec = {
  model: kv,
  arbOp: fc.oneof(
    fc.constant<[string, Json]>(['read', null]),
    fc.constantFrom('a', 'b', 'c').map((v): [string, Json] => ['write', v]),
    fc.constantFrom('a', 'b', 'c').map((v): [string, Json] => ['append', v]),
  ),
  apply(state, f, value) {
    if (f === 'read') return { state, result: state, applied: true };
    const next = f === 'write' ? (value as string) : `${state as string}${value as string}`;
    return { state: next, result: value, applied: true };
  },
  initial: '',
  never: 'never-written',
};

/** One operation of a run, and how far its interval stretches around its linearization point. */
interface Step {
  op: [string, Json];
  key: string;
  before: number;
  after: number;
  info: boolean;
}

const arbRun = (spec: Spec): fc.Arbitrary<Step[]> =>
  fc.array(
    fc.record({
      op: spec.arbOp,
      key: fc.constantFrom('k1', 'k2'),
      before: fc.integer({ min: 0, max: 35 }),
      after: fc.integer({ min: 0, max: 35 }),
      info: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 25 },
  );

type Event = Record<string, Json>;

/**
 * Executes the operations one by one at times 10, 20, ... (their real linearization points) and
 * records each as an interval around its point, so that intervals overlap as in a concurrent run.
 */
function record(spec: Spec, run: Step[]): Event[] {
  const state = new Map<string, Json>();
  const out: Array<{ time: number; order: number; event: Event }> = [];
  run.forEach(({ op: [f, value], key, before, after, info }, i) => {
    const { state: next, result, applied } = spec.apply(state.get(key) ?? spec.initial, f, value);
    state.set(key, next);
    const point = 10 * (i + 1);
    const type = info ? 'info' : applied ? 'ok' : 'fail';
    out.push({
      time: point - before,
      order: 0,
      event: { process: i, type: 'invoke', f, key, value, time: point - before },
    });
    out.push({
      time: point + after,
      order: 1,
      event: { process: i, type, f, key, value: result, time: point + after },
    });
  });
  return out.sort((a, b) => a.time - b.time || a.order - b.order).map((e) => e.event);
}

for (const spec of [registerSpec, kvSpec]) {
  test(`property (${spec.model.name}): histories of a real sequential object are linearizable`, () => {
    fc.assert(
      fc.property(arbRun(spec), (run) => {
        assert.equal(checkEvents(record(spec, run), spec.model, { now }).valid, true);
      }),
      { numRuns: 300 },
    );
  });

  test(`property (${spec.model.name}): a read of a value never written makes it invalid`, () => {
    fc.assert(
      fc.property(arbRun(spec), fc.nat(), (run, pick) => {
        const events = record(spec, run);
        const reads = events.flatMap((e, i) => (e.type === 'ok' && e.f === 'read' ? [i] : []));
        fc.pre(reads.length > 0);
        const index = reads[pick % reads.length];
        events[index] = { ...events[index], value: spec.never };
        assert.equal(checkEvents(events, spec.model, { now }).valid, false);
      }),
      { numRuns: 300 },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Property: on small random histories, valid or not, the search agrees with brute force (every
// order of the operations that respects real time).

function bruteForce(history: History, model: Model<string, unknown>): boolean {
  const items = history.operations.flatMap((op) => {
    const prepared = model.prepare(op);
    return prepared === null ? [] : [{ op, prepared }];
  });
  const search = (remaining: typeof items, state: string): boolean => {
    // Operations whose outcome is unknown may never have taken effect.
    if (remaining.every(({ op }) => !op.known)) return true;
    return remaining.some((item) => {
      if (remaining.some(({ op }) => op.returnTime < item.op.invokeTime)) return false;
      const next = model.step(state, item.prepared);
      return (
        next !== undefined &&
        search(
          remaining.filter((other) => other !== item),
          next,
        )
      );
    });
  };
  return search(items, model.init());
}

const arbRandomHistory = (spec: Spec, results: Json[]): fc.Arbitrary<Event[]> =>
  fc
    .array(
      fc.record({
        op: spec.arbOp,
        result: fc.constantFrom(...results),
        invoke: fc.integer({ min: 0, max: 20 }),
        length: fc.integer({ min: 0, max: 10 }),
        outcome: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'info', 'fail'),
      }),
      { minLength: 1, maxLength: 7 },
    )
    .map((ops) => {
      const out: Array<{ time: number; order: number; event: Event }> = [];
      ops.forEach(({ op: [f, value], result, invoke, length, outcome }, i) => {
        const ret = invoke + length;
        const completion = f === 'read' && outcome === 'ok' ? result : value;
        out.push({
          time: invoke,
          order: 0,
          event: { process: i, type: 'invoke', f, key: 'k', value, time: invoke },
        });
        out.push({
          time: ret,
          order: 1,
          event: { process: i, type: outcome, f, key: 'k', value: completion, time: ret },
        });
      });
      return out.sort((a, b) => a.time - b.time || a.order - b.order).map((e) => e.event);
    });

for (const [spec, results] of [
  [registerSpec, [null, 0, 1, 2]],
  [kvSpec, ['', 'a', 'b', 'ab', 'ba', 'c']],
] as Array<[Spec, Json[]]>) {
  test(`property (${spec.model.name}): agrees with brute force on small random histories`, () => {
    let invalid = 0;
    fc.assert(
      fc.property(arbRandomHistory(spec, results), (events) => {
        const history = historyFromEvents(events);
        const expected = bruteForce(history, spec.model);
        if (!expected) invalid++;
        assert.equal(checkHistory(history, spec.model, { now }).valid, expected);
      }),
      { numRuns: 1000 },
    );
    // Both verdicts must be exercised for the comparison to mean anything.
    assert.ok(invalid > 100 && invalid < 900, `${invalid} of 1000 invalid`);
  });
}
