/**
 * The seed search on a fake network and a fake clock (its sleeps advance the clock): it stops as
 * soon as one seed answered and the others were tried, never retries a refusal, skips the node's
 * own address, and fails with a stable code at the deadline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransportError } from '../../src/adapters/transport/errors.js';
import { isRuntimeError } from '../../src/runtime/errors.js';
import { findSeeds, type SeedSearchComponents } from '../../src/runtime/seeds.js';

type Behaviour = (attempt: number) => string | TransportError;

function network(behaviours: Record<string, Behaviour>) {
  let nowMs = 0;
  const attempts = new Map<string, number>();
  const c: SeedSearchComponents = {
    connect: async (address) => {
      const n = (attempts.get(address) ?? 0) + 1;
      attempts.set(address, n);
      const outcome = behaviours[address](n);
      if (outcome instanceof TransportError) throw outcome;
      return outcome;
    },
    now: () => nowMs,
    random: () => 1,
    sleep: async (ms) => {
      nowMs += ms;
    },
    log: { info() {}, warn() {} },
  };
  return { c, attempts, elapsed: () => nowMs };
}

const refused = () =>
  new TransportError('PEER_REJECTED', 'BAD_PROOF: the dialer does not hold the cluster secret');
const down = () => new TransportError('CONNECT_FAILED', 'connect ECONNREFUSED');

describe('finding the seeds of a join', () => {
  test('a seed that answers after a few failures is found, with backoff between tries', async () => {
    const net = network({ 'a:1': (n) => (n < 4 ? down() : 'a') });
    const { seeds } = await findSeeds(net.c, { self: 'me', addresses: ['a:1'], timeoutMs: 10_000 });
    assert.deepEqual(seeds, [{ address: 'a:1', id: 'a' }]);
    assert.equal(net.attempts.get('a:1'), 4);
    assert.equal(net.elapsed(), 200 + 400 + 800, 'full-jitter bounds double: 100·2ⁿ, here at their maximum');
  });

  test('one answer is enough: a seed that is down is tried once, not until the deadline', async () => {
    const net = network({ 'a:1': () => 'a', 'b:1': down });
    const { seeds, failed } = await findSeeds(net.c, {
      self: 'me',
      addresses: ['a:1', 'b:1'],
      timeoutMs: 10_000,
    });
    assert.deepEqual(
      seeds.map((s) => s.id),
      ['a'],
    );
    assert.deepEqual(
      failed.map((f) => f.code),
      ['CONNECT_FAILED'],
    );
    assert.ok(net.elapsed() < 10_000);
  });

  test("the node's own address is skipped, so every node can be given the same list", async () => {
    const net = network({ 'me:1': () => 'me', 'a:1': () => 'a' });
    const { seeds } = await findSeeds(net.c, { self: 'me', addresses: ['me:1', 'a:1'], timeoutMs: 1000 });
    assert.deepEqual(
      seeds.map((s) => s.id),
      ['a'],
    );
  });

  test('a list of only our own address finds no seeds and is no error (the first node)', async () => {
    const net = network({ 'me:1': () => new TransportError('SELF_CONNECT', 'the peer claims our own id') });
    const { seeds } = await findSeeds(net.c, { self: 'me', addresses: ['me:1'], timeoutMs: 1000 });
    assert.deepEqual(seeds, []);
  });

  test('a refusal is final: not retried, and all refusals are JOIN_REFUSED', async () => {
    const net = network({ 'a:1': refused, 'b:1': refused });
    await assert.rejects(
      findSeeds(net.c, { self: 'me', addresses: ['a:1', 'b:1'], timeoutMs: 10_000 }),
      (e) => isRuntimeError(e, 'JOIN_REFUSED') && /cluster secret/.test(e.message),
    );
    assert.equal(net.attempts.get('a:1'), 1, 'a wrong secret does not get better by retrying');
  });

  test('nobody answering is JOIN_FAILED at the deadline, naming every address and why', async () => {
    const net = network({ 'a:1': down, 'b:1': down });
    await assert.rejects(
      findSeeds(net.c, { self: 'me', addresses: ['a:1', 'b:1'], timeoutMs: 5000 }),
      (e) =>
        isRuntimeError(e, 'JOIN_FAILED') && /a:1 \(CONNECT_FAILED/.test(e.message) && /b:1/.test(e.message),
    );
    assert.ok(net.elapsed() >= 5000, 'it kept trying until the deadline');
  });
});
