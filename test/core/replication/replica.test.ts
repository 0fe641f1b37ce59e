/** The acceptor rules of CASPaxos and the replica's merge rule, checked on a real store. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StepOverlay } from '../../../src/core/overlay.js';
import type { KvRecord } from '../../../src/core/record.js';
import type { Ballot, ReplicaResponse } from '../../../src/core/replication/messages.js';
import { Replica } from '../../../src/core/replication/replica.js';
import { SimKvStorage } from '../../../src/sim/kv-storage.js';

const key = new TextEncoder().encode('k');
const rec = (hlc: number, writer: string, value: number): KvRecord => ({
  value: new Uint8Array([value]),
  hlc,
  writer,
  expiresAtMs: 0,
  vv: { [writer]: hlc },
});

function replica() {
  const storage = new SimKvStorage();
  const overlay = new StepOverlay(storage);
  const r = new Replica(overlay, { conflictMode: 'lww', antiEntropyScanLimit: 1000, antiEntropyBatch: 100 });
  const handle = (req: Parameters<Replica['handle']>[0]): ReplicaResponse => {
    const res = r.handle(req);
    storage.apply(overlay.drain());
    storage.flush();
    return res;
  };
  return { handle, storage };
}

const b = (n: number, node = 'p'): Ballot => ({ n, node });

describe('CASPaxos acceptor', () => {
  test('promises a higher ballot and reports what it accepted', () => {
    const { handle } = replica();
    const first = handle({ op: 'prepare', key, ballot: b(5) });
    assert.deepEqual(first, { op: 'prepare', promised: true, highest: b(5), accepted: null, record: null });
    assert.deepEqual(handle({ op: 'accept', key, ballot: b(5), record: rec(5, 'p', 1) }), {
      op: 'accept',
      accepted: true,
      highest: b(5),
    });
    const second = handle({ op: 'prepare', key, ballot: b(7) });
    assert.equal(second.op === 'prepare' && second.promised, true);
    assert.deepEqual(second.op === 'prepare' && second.accepted, b(5));
    assert.deepEqual(second.op === 'prepare' && second.record?.value, new Uint8Array([1]));
  });

  test('refuses a prepare or accept below what it promised', () => {
    const { handle } = replica();
    handle({ op: 'prepare', key, ballot: b(9) });
    const low = handle({ op: 'prepare', key, ballot: b(8) });
    assert.deepEqual(low.op === 'prepare' && [low.promised, low.highest], [false, b(9)]);
    const acc = handle({ op: 'accept', key, ballot: b(8), record: rec(8, 'p', 2) });
    assert.deepEqual(acc, { op: 'accept', accepted: false, highest: b(9) });
  });

  test('a repeated prepare or accept of the same ballot gets the same answer (retries are safe)', () => {
    const { handle } = replica();
    const p1 = handle({ op: 'prepare', key, ballot: b(3) });
    assert.deepEqual(handle({ op: 'prepare', key, ballot: b(3) }), p1);
    const a1 = handle({ op: 'accept', key, ballot: b(3), record: rec(3, 'p', 4) });
    assert.deepEqual(handle({ op: 'accept', key, ballot: b(3), record: rec(3, 'p', 4) }), a1);
  });

  test('ties between equal counters are broken by proposer name', () => {
    const { handle } = replica();
    handle({ op: 'prepare', key, ballot: b(4, 'b') });
    const lower = handle({ op: 'prepare', key, ballot: b(4, 'a') });
    assert.equal(lower.op === 'prepare' && lower.promised, false);
  });
});

describe('replica writes', () => {
  test('merging keeps the newer version whatever order the writes arrive in', () => {
    const one = replica();
    one.handle({ op: 'write', key, record: rec(1, 'a', 1) });
    one.handle({ op: 'write', key, record: rec(2, 'b', 2) });
    const two = replica();
    two.handle({ op: 'write', key, record: rec(2, 'b', 2) });
    two.handle({ op: 'write', key, record: rec(1, 'a', 1) });
    const read = (r: ReturnType<typeof replica>) => r.handle({ op: 'read', key });
    assert.deepEqual(read(one), read(two));
  });

  test('a hint is kept apart from the data, under its intended owner', () => {
    const { handle } = replica();
    handle({ op: 'write', key, record: rec(1, 'a', 7), hintFor: 'n9' });
    assert.deepEqual(handle({ op: 'read', key }), { op: 'read', record: null });
    const hint = handle({ op: 'read', key, hintFor: 'n9' });
    assert.deepEqual(hint.op === 'read' && hint.record?.value, new Uint8Array([7]));
  });
});
