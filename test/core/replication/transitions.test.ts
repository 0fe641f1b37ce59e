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

const text = (t: { next: KvRecord | 'unchanged' }): string | null =>
  t.next === 'unchanged' || t.next.value === null ? null : new TextDecoder().decode(t.next.value);

test('APPEND and SETRANGE build on the current string (absent = empty), keep its expiry and reply the length', () => {
  const append = transitionFor({ op: 'append', key, value: enc.encode('lo'), consistency: 'quorum' }, 0);
  assert.deepEqual(append(current('hel', 900)).reply, { ok: true, applied: true, number: 5 });
  assert.equal(text(append(current('hel', 900))), 'hello');
  const appended = append(current('hel', 900)).next;
  assert.equal(appended !== 'unchanged' && appended.expiresAtMs, 900, 'APPEND keeps the expiry');
  assert.equal(text(append(null)), 'lo');
  const setrange = transitionFor(
    { op: 'setrange', key, offset: 3, value: enc.encode('XY'), consistency: 'quorum' },
    0,
  );
  assert.equal(text(setrange(current('abcdef'))), 'abcXYf');
  assert.equal(text(setrange(null)), '\0\0\0XY', 'a shorter string is padded with zero bytes');
  const empty = transitionFor(
    { op: 'setrange', key, offset: 9, value: new Uint8Array(0), consistency: 'quorum' },
    0,
  );
  assert.equal(empty(current('abc')).next, 'unchanged', 'an empty value changes nothing');
  assert.deepEqual(empty(current('abc')).reply, { ok: true, applied: false, number: 3 });
});

test('INCRBYFLOAT adds decimal floats, writes plain decimals, and refuses non-floats and infinities', () => {
  const add = (by: string) => transitionFor({ op: 'incrbyfloat', key, by, consistency: 'quorum' }, 0);
  assert.equal(text(add('0.1')(current('10.5'))), '10.6');
  assert.equal(text(add('5.0e3')(current('3'))), '5003');
  assert.equal(text(add('-1')(null)), '-1');
  assert.equal(text(add('1e30')(null)), '1000000000000000019884624838656');
  assert.equal(add('1')(current('abc')).reply.ok, false);
  assert.equal(add('nan')(current('1')).reply.ok, false);
  assert.equal(add('1e308')(current('1e308')).reply.ok, false, 'an infinite sum is refused');
});

test('GETDEL replies the value and deletes; GETEX replies it and changes the expiry (past: deletes)', () => {
  const getdel = transitionFor({ op: 'getdel', key, consistency: 'quorum' }, 0);
  const t = getdel(current('v'));
  assert.equal(t.next !== 'unchanged' && t.next.value, null);
  assert.equal(new TextDecoder().decode((t.reply as { value: Uint8Array }).value), 'v');
  assert.equal(getdel(null).next, 'unchanged');
  const getex = (expiresAtMs: number | null) =>
    transitionFor({ op: 'getex', key, expiresAtMs, consistency: 'quorum' }, 1000);
  const later = getex(5000)(current('v'));
  assert.equal(later.next !== 'unchanged' && later.next.expiresAtMs, 5000);
  const persisted = getex(0)(current('v', 3000));
  assert.equal(persisted.next !== 'unchanged' && persisted.next.expiresAtMs, 0);
  const past = getex(500)(current('v'));
  assert.equal(past.next !== 'unchanged' && past.next.value, null, 'an expiry already past deletes the key');
  assert.equal(getex(5000)(null).next, 'unchanged', 'an absent key gets no expiry');
});

test('EXPIRE conditions follow Redis: NX none, XX one, GT later than a set expiry, LT earlier (none = infinite)', () => {
  const expire = (expiresAtMs: number, conditions: ('nx' | 'xx' | 'gt' | 'lt')[]) =>
    transitionFor({ op: 'expire', key, expiresAtMs, conditions, consistency: 'quorum' }, 1000);
  const applied = (t: { reply: unknown }) => (t.reply as { applied: boolean }).applied;
  const persistent = current('v');
  const expiring = current('v', 5000);
  assert.equal(applied(expire(9000, [])(persistent)), true);
  assert.equal(applied(expire(9000, ['nx'])(persistent)), true);
  assert.equal(applied(expire(9000, ['nx'])(expiring)), false);
  assert.equal(applied(expire(9000, ['xx'])(persistent)), false);
  assert.equal(applied(expire(9000, ['gt'])(persistent)), false, 'no expiry is infinite: nothing is later');
  assert.equal(applied(expire(9000, ['gt'])(expiring)), true);
  assert.equal(applied(expire(3000, ['lt'])(persistent)), true, 'anything is earlier than infinite');
  assert.equal(applied(expire(3000, ['lt', 'xx'])(persistent)), false);
  assert.equal(applied(expire(9000, [])(null)), false, 'an absent key gets no expiry');
  const past = expire(10, [])(persistent);
  assert.equal(past.next !== 'unchanged' && past.next.value, null, 'a time already past deletes the key');
});

test('PERSIST removes an expiry; TTL reports existence and expiry; SET KEEPTTL keeps the expiry', () => {
  const persist = transitionFor({ op: 'persist', key, consistency: 'quorum' }, 0);
  assert.deepEqual(persist(current('v')).reply, { ok: true, applied: false });
  const p = persist(current('v', 7000));
  assert.equal(p.next !== 'unchanged' && p.next.expiresAtMs, 0);
  const ttl = transitionFor({ op: 'ttl', key, consistency: 'quorum' }, 1000);
  assert.deepEqual(ttl(current('v', 7000)).reply, { ok: true, applied: true, expiresAtMs: 7000 });
  assert.deepEqual(
    ttl(current('v', 700)).reply,
    { ok: true, applied: false, expiresAtMs: 0 },
    'expired = absent',
  );
  const set = transitionFor(
    {
      op: 'set',
      key,
      value: enc.encode('w'),
      consistency: 'quorum',
      expiresAtMs: 0,
      condition: 'always',
      keepTtl: true,
    },
    1000,
  );
  const kept = set(current('v', 7000));
  assert.equal(kept.next !== 'unchanged' && kept.next.expiresAtMs, 7000);
});

test('APPEND and SETRANGE refuse a result longer than maxBytes (proto-max-bulk-len) and change nothing', () => {
  const append = transitionFor(
    { op: 'append', key, value: enc.encode('xyz'), maxBytes: 5, consistency: 'quorum' },
    0,
  );
  const refused = append(current('abc'));
  assert.equal(refused.next, 'unchanged');
  assert.equal(
    refused.reply.ok === false && refused.reply.error.message,
    'string exceeds maximum allowed size (proto-max-bulk-len)',
  );
  const setrange = transitionFor(
    { op: 'setrange', key, offset: 4, value: enc.encode('xy'), maxBytes: 5, consistency: 'quorum' },
    0,
  );
  assert.equal(setrange(null).next, 'unchanged');
  assert.equal(setrange(null).reply.ok, false);
});
