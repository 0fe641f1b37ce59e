import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvRecord } from '../../../src/core/record.js';
import { parseInteger, transitionFor } from '../../../src/core/replication/transitions.js';

const enc = new TextEncoder();
const key = enc.encode('k');
const current = (text: string, expiresAtMs = 0): KvRecord => ({
  value: enc.encode(text),
  hlc: 1,
  writer: 'a',
  expiresAtMs,
  vv: { a: 1 },
});

test('integers follow Redis: no leading zeros, spaces or plus signs; 64-bit range limited to safe integers', () => {
  for (const [text, n] of [
    ['0', 0],
    ['-5', -5],
    ['123', 123],
  ] as const)
    assert.equal(parseInteger(enc.encode(text)), n);
  for (const text of ['', '01', ' 1', '+1', '1.0', 'abc', '-0', '99999999999999999999'])
    assert.equal(parseInteger(enc.encode(text)), null);
});

test('INCR adds to the stored integer, treats absent as 0, keeps the expiry and refuses non-integers', () => {
  const incr = transitionFor({ op: 'incr', key, by: 5, consistency: 'linearizable' }, 1000);
  const t1 = incr(null);
  assert.deepEqual(t1.reply, { ok: true, applied: true, number: 5 });
  const t2 = incr(current('10', 5000));
  assert.equal(t2.next !== 'unchanged' && new TextDecoder().decode(t2.next.value as Uint8Array), '15');
  assert.equal(t2.next !== 'unchanged' && t2.next.expiresAtMs, 5000);
  const t3 = incr(current('ten'));
  assert.equal(t3.next, 'unchanged');
  assert.equal(t3.reply.ok === false && t3.reply.error.code, 'NOT_INTEGER');
  const expired = incr(current('10', 500));
  assert.deepEqual(
    expired.reply,
    { ok: true, applied: true, number: 5 },
    'an expired value counts as absent',
  );
});

test('CAS swaps only when the current value is the expected one', () => {
  const cas = transitionFor(
    { op: 'cas', key, expected: enc.encode('x'), value: enc.encode('y'), consistency: 'linearizable' },
    0,
  );
  assert.equal(cas(current('x')).reply.ok && (cas(current('x')).reply as { applied: boolean }).applied, true);
  assert.equal(cas(current('z')).next, 'unchanged');
  assert.equal(cas(null).next, 'unchanged');
  const fromAbsent = transitionFor(
    { op: 'cas', key, expected: null, value: enc.encode('y'), consistency: 'linearizable' },
    0,
  );
  assert.notEqual(fromAbsent(null).next, 'unchanged');
});

test('SET NX and XX honour presence; SET … GET returns the previous value', () => {
  const nx = transitionFor(
    {
      op: 'set',
      key,
      value: enc.encode('v'),
      consistency: 'quorum',
      expiresAtMs: 0,
      condition: 'if-absent',
      returnPrevious: true,
    },
    0,
  );
  assert.deepEqual(nx(current('old')).reply, { ok: true, applied: false, value: enc.encode('old') });
  assert.notEqual(nx(null).next, 'unchanged');
  const xx = transitionFor(
    {
      op: 'set',
      key,
      value: enc.encode('v'),
      consistency: 'quorum',
      expiresAtMs: 0,
      condition: 'if-present',
    },
    0,
  );
  assert.equal(xx(null).next, 'unchanged');
});
