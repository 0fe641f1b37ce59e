import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SeededRandom } from '../../../src/core/random.js';
import { backoffCeilingMs, type RpcConfig } from '../../../src/core/rpc/config.js';
import { type IncomingRequest, RpcEndpoint } from '../../../src/core/rpc/endpoint.js';
import { DEFER, isRpcMessage, refuse } from '../../../src/core/rpc/messages.js';
import { Net, type Req, type Res, testConfig } from './harness.js';

function twoNodes(config: Partial<RpcConfig> = testConfig): Net {
  const net = new Net(config);
  net.start('a');
  net.start('b');
  return net;
}

describe('calls and acknowledgements', () => {
  test('a call completes once with the response, and its request carries the id, attempt and payload', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'x');
    assert.equal(callId, '1.1', 'ids are <epoch>.<sequence number>');
    assert.deepEqual(net.inFlight[0].msg, {
      type: 'rpc-req',
      id: '1.1',
      attempt: 1,
      idempotent: false,
      toEpoch: 0,
      payload: 'x',
    });
    net.deliverAll();
    const [done] = net.completionOf(callId);
    assert.deepEqual(done, { callId, to: 'b', ok: true, response: 'ok:x', attempts: 1, latencyMs: 0 });
    net.advance(10_000);
    assert.equal(net.completionOf(callId).length, 1, 'one completion per call');
    assert.equal(net.inFlight.length, 0, 'nothing is retried after the answer');
  });

  test('successive calls get increasing sequence numbers', () => {
    const net = twoNodes();
    assert.deepEqual(
      [net.call('a', 'b', 'x'), net.call('a', 'b', 'y'), net.call('a', 'b', 'z')],
      ['1.1', '1.2', '1.3'],
    );
  });

  test('rpc messages are recognisable next to a node’s other messages', () => {
    assert.equal(isRpcMessage({ type: 'rpc-req' }), true);
    assert.equal(isRpcMessage({ type: 'swim' }), false);
    assert.equal(isRpcMessage(null), false);
  });

  test('a handler’s refusal reaches the caller as a typed error, and a retried copy gets the same refusal', () => {
    const net = twoNodes();
    let invocations = 0;
    net.handlers.set('b', () => {
      invocations++;
      return refuse('NOT_OWNER', true, 'b does not own that key');
    });
    const callId = net.call('a', 'b', 'x');
    net.deliver(); // the request reaches b; its refusal is lost
    net.dropAll();
    net.advanceFinely(200);
    net.deliverAll();
    const [done] = net.completionOf(callId);
    assert.ok(!done.ok);
    assert.deepEqual(done.error, {
      code: 'NOT_OWNER',
      definite: true,
      message: 'b does not own that key',
      fromPeer: true,
    });
    assert.equal(invocations, 1, 'the retry was answered from memory');
  });
});

describe('retries and duplicate suppression', () => {
  test('a lost answer makes the caller retry with the same id, and the callee replays its answer without handling it again', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'incr');
    net.deliver(); // b handles it
    net.dropAll(); // its answer is lost
    net.advanceFinely(100 + 10); // timeout, then at most the first backoff ceiling (10 ms)
    assert.equal(net.inFlight.length, 1);
    const retry = net.inFlight[0].msg;
    assert.ok(retry.type === 'rpc-req');
    assert.equal(retry.id, callId);
    assert.equal(retry.attempt, 2);
    net.deliverAll();
    assert.equal(net.appliedCount('b', 'incr'), 1, 'applied once');
    assert.equal(net.ep('b').stats.duplicatesReplayed, 1);
    const [done] = net.completionOf(callId);
    assert.ok(done.ok && done.attempts === 2);
  });

  test('the replayed answer echoes the attempt it answers', () => {
    const net = twoNodes();
    net.call('a', 'b', 'x');
    net.deliver();
    net.dropAll();
    net.advanceFinely(110);
    net.deliver();
    const answer = net.inFlight[0].msg;
    assert.ok(answer.type === 'rpc-res' && answer.attempt === 2 && answer.epoch === 1);
  });

  test('after maxAttempts without an answer the call ends with an indefinite TIMEOUT', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'x');
    let requests = 0;
    for (let t = 0; t < 1_000 && net.completionOf(callId).length === 0; t++) {
      requests += net.inFlight.length;
      net.dropAll();
      net.advance(1);
    }
    const [done] = net.completionOf(callId);
    assert.ok(!done.ok);
    assert.equal(done.error.code, 'TIMEOUT');
    assert.equal(
      done.error.definite,
      false,
      'the peer may have applied it: a request or only its answer may have been lost',
    );
    assert.equal(done.attempts, 3);
    assert.equal(requests, 3, 'exactly maxAttempts requests left');
  });

  test('property: each retry waits in [0, min(cap, base · 2^n)) after the timeout of the attempt before', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 400 }),
        fc.integer(),
        (maxAttempts, backoffBaseMs, backoffMaxMs, seed) => {
          const config: RpcConfig = {
            ...testConfig,
            maxAttempts,
            backoffBaseMs,
            backoffMaxMs,
            dedupWindowMs: 100_000,
          };
          const a = new RpcEndpoint<Req, Res>(
            { random: new SeededRandom(seed) },
            { self: 'a', epoch: 1, nowMs: 0, config },
          );
          // A host that ticks exactly when the endpoint's next deadline falls, so delays are exact.
          const sentAt: number[] = [];
          const started = a.call('b', 'x', 0);
          if (started.outbox.length > 0) sentAt.push(0);
          let done = false;
          for (let guard = 0; guard < 100 && !done; guard++) {
            const next = a.nextDeadlineMs();
            if (next === undefined) break;
            const ready = a.tick(next);
            if (ready.outbox.length > 0) sentAt.push(next);
            done = ready.completions.length > 0;
          }
          assert.ok(done, 'the call ended');
          assert.equal(sentAt.length, maxAttempts);
          for (let n = 0; n + 1 < sentAt.length; n++) {
            const delayMs = sentAt[n + 1] - (sentAt[n] + config.requestTimeoutMs);
            const ceilingMs = backoffCeilingMs(config, n);
            assert.ok(
              delayMs >= 0 && (delayMs < ceilingMs || delayMs === 0),
              `retry ${n}: ${delayMs} vs ${ceilingMs}`,
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('an answer to an earlier attempt completes the call while it backs off', () => {
    const net = twoNodes({ ...testConfig, backoffBaseMs: 1_000, backoffMaxMs: 1_000, dedupWindowMs: 10_000 });
    const callId = net.call('a', 'b', 'x');
    net.deliver(); // b answers; the answer is slow
    net.advance(100); // the attempt times out; the retry waits up to 1 s
    assert.equal(net.inFlight.filter((m) => m.msg.type === 'rpc-req').length, 0);
    net.deliverAll();
    assert.ok(net.completionOf(callId)[0]?.ok);
    net.advance(2_000);
    assert.equal(net.inFlight.length, 0, 'no retry after the answer');
  });

  test('late and duplicated answers after completion are ignored and counted', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'x');
    net.deliver();
    const answer = net.inFlight[0];
    net.inFlight.push({ ...answer }); // the network duplicates the answer
    net.deliverAll();
    assert.equal(net.completionOf(callId).length, 1);
    assert.equal(net.ep('a').stats.unmatchedAnswers, 1);
  });

  test('an answer from a node the call did not go to is not accepted', () => {
    const net = twoNodes();
    net.start('c');
    const callId = net.call('a', 'b', 'x');
    net.inFlight = [];
    net.inFlight.push({
      from: 'c',
      to: 'a',
      msg: { type: 'rpc-res', id: callId, attempt: 1, epoch: 1, payload: 'forged' },
    });
    net.deliverAll();
    assert.equal(net.completionOf(callId).length, 0);
    assert.equal(net.ep('a').stats.unmatchedAnswers, 1);
  });

  test('idempotent requests skip the dedup cache: every copy is handled', () => {
    const net = twoNodes();
    net.call('a', 'b', 'read', { idempotent: true });
    net.inFlight.push({ ...net.inFlight[0] });
    net.deliverAll();
    assert.equal(net.appliedCount('b', 'read'), 2);
    assert.equal(net.ep('b').dedupEntries(), 0);
  });

  test('a copy of a non-idempotent request is answered from memory even when duplicated by the network', () => {
    const net = twoNodes();
    net.call('a', 'b', 'incr');
    net.inFlight.push({ ...net.inFlight[0] });
    net.deliverAll();
    assert.equal(net.appliedCount('b', 'incr'), 1);
    assert.equal(net.ep('b').stats.duplicatesReplayed, 1);
  });

  test('cancel ends the call at once and stops its retries', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'x');
    net.dropAll();
    const done = net.ep('a').cancel(callId, net.nowMs);
    assert.ok(done && !done.ok);
    assert.equal(done.error.code, 'CANCELLED');
    assert.equal(done.error.definite, false, 'the first attempt had left');
    net.advanceFinely(500);
    assert.equal(net.inFlight.length, 0);
    assert.equal(net.ep('a').cancel(callId), undefined, 'a call ends once');
    assert.equal(net.ep('a').outstandingCalls('b'), 0);
  });

  test('a lost connection retries at once instead of waiting for the deadline', () => {
    const net = twoNodes({ ...testConfig, backoffBaseMs: 0 });
    const callId = net.call('a', 'b', 'x');
    net.dropAll();
    net.nowMs = 5;
    net.take('a', net.ep('a').peerUnreachable('b', net.nowMs));
    assert.equal(net.inFlight.length, 1, 'the retry left with zero backoff');
    net.deliverAll();
    assert.ok(net.completionOf(callId)[0].ok);
  });

  test('a deferred answer is sent by reply, and copies arriving meanwhile do not run the handler again', () => {
    const net = twoNodes();
    let parked: IncomingRequest | undefined;
    let invocations = 0;
    net.handlers.set('b', (_from, _payload, request) => {
      invocations++;
      parked = request;
      return DEFER;
    });
    const callId = net.call('a', 'b', 'x');
    net.inFlight.push({ ...net.inFlight[0] });
    net.deliverAll();
    assert.equal(invocations, 1);
    assert.equal(net.ep('b').stats.copiesWhileDeferred, 1);
    net.take('b', net.ep('b').reply(parked as IncomingRequest, 'later', net.nowMs));
    net.deliverAll();
    const [done] = net.completionOf(callId);
    assert.ok(done.ok && done.response === 'later');
    // A retry after the answer gets the answer replayed.
    net.inFlight.push({
      from: 'a',
      to: 'b',
      msg: { type: 'rpc-req', id: callId, attempt: 2, idempotent: false, toEpoch: 0, payload: 'x' },
    });
    net.deliver();
    const replay = net.inFlight[0].msg;
    assert.ok(replay.type === 'rpc-res' && replay.payload === 'later');
  });
});

describe('circuit breaker in the endpoint', () => {
  const config: RpcConfig = {
    ...testConfig,
    maxAttempts: 1,
    breakerFailureThreshold: 3,
    breakerOpenMs: 1_000,
  };

  test('after threshold failed attempts calls fail fast, definite, with nothing sent; after openMs a probe passes and its success closes the breaker', () => {
    const net = twoNodes(config);
    for (let i = 0; i < 3; i++) net.call('a', 'b', `x${i}`);
    net.dropAll();
    net.advance(100);
    assert.deepEqual(
      net.events.map((e) => `${e.peer}:${e.from}>${e.to}`),
      ['b:closed>open'],
    );
    assert.equal(net.ep('a').breakerState('b'), 'open');

    const fast = net.call('a', 'b', 'y');
    assert.equal(net.inFlight.length, 0, 'nothing sent while open');
    assert.equal(
      net.completionOf(fast).length,
      0,
      'the completion comes with the next result, not from call()',
    );
    net.advance(0);
    const [failed] = net.completionOf(fast);
    assert.ok(!failed.ok);
    assert.deepEqual([failed.error.code, failed.error.definite, failed.attempts], ['CIRCUIT_OPEN', true, 0]);

    net.advance(1_000);
    assert.equal(net.ep('a').breakerState('b'), 'half-open');
    const probe = net.call('a', 'b', 'probe');
    assert.equal(net.inFlight.length, 1, 'the probe left');
    const blocked = net.call('a', 'b', 'second');
    assert.equal(net.inFlight.length, 1, 'only one probe at a time');
    net.deliverAll();
    assert.ok(net.completionOf(probe)[0].ok);
    assert.equal(net.completionOf(blocked)[0].ok, false);
    assert.equal(net.ep('a').breakerState('b'), 'closed');
    assert.deepEqual(
      net.events.map((e) => e.to),
      ['open', 'half-open', 'closed'],
    );
  });

  test('a failed probe reopens the breaker', () => {
    const net = twoNodes(config);
    for (let i = 0; i < 3; i++) net.call('a', 'b', `x${i}`);
    net.dropAll();
    net.advance(100); // the three attempts time out: open until 1100
    net.advance(1_000);
    assert.equal(net.ep('a').breakerState('b'), 'half-open');
    net.call('a', 'b', 'probe');
    assert.equal(net.inFlight.length, 1, 'the probe left');
    net.dropAll();
    net.advance(100);
    assert.equal(net.ep('a').breakerState('b'), 'open');
    assert.equal(net.ep('a').breakerSnapshot('b', net.nowMs).openMs, 2_000, 'the open time doubled');
  });

  test('a retry that finds the breaker open ends the call, indefinite because earlier attempts left', () => {
    const net = twoNodes({ ...config, maxAttempts: 3, breakerFailureThreshold: 1 });
    const callId = net.call('a', 'b', 'x');
    net.dropAll();
    net.advanceFinely(200);
    const [done] = net.completionOf(callId);
    assert.ok(!done.ok);
    assert.deepEqual([done.error.code, done.error.definite, done.attempts], ['CIRCUIT_OPEN', false, 1]);
  });

  test('breakers are per peer: one dead peer does not stop calls to another', () => {
    const net = twoNodes(config);
    net.start('c');
    for (let i = 0; i < 3; i++) net.call('a', 'b', `x${i}`);
    net.dropAll();
    net.advance(100);
    const toC = net.call('a', 'c', 'y');
    net.deliverAll();
    assert.ok(net.completionOf(toC)[0].ok);
    assert.equal(net.ep('a').breakerState('c'), 'closed');
  });
});

describe('back-pressure', () => {
  test('beyond maxOutstandingCallsPerPeer a call fails fast with a definite OVERLOADED', () => {
    const net = twoNodes({ ...testConfig, maxOutstandingCallsPerPeer: 2 });
    net.call('a', 'b', '1');
    net.call('a', 'b', '2');
    const third = net.call('a', 'b', '3');
    assert.equal(net.inFlight.length, 2, 'the third call sent nothing');
    net.deliverAll();
    const [refused] = net.completionOf(third);
    assert.ok(!refused.ok);
    assert.deepEqual([refused.error.code, refused.error.definite], ['OVERLOADED', true]);
    assert.equal(net.ep('a').outstandingCalls('b'), 0);
    net.call('a', 'b', '4');
    assert.equal(net.inFlight.length, 1, 'room again once calls ended');
  });

  test('a non-idempotent call whose schedule outlasts the dedup window is refused when made', () => {
    const net = twoNodes();
    assert.throws(() => net.call('a', 'b', 'x', { timeoutMs: 1_000 }), /dedup window/);
    assert.doesNotThrow(() => net.call('a', 'b', 'x', { timeoutMs: 1_000, idempotent: true }));
  });
});

describe('epochs and restarts', () => {
  test('a restarted caller’s ids never collide with its predecessor’s, so it gets no stale replayed answer', () => {
    const net = twoNodes();
    net.call('a', 'b', 'x');
    net.deliver(); // b remembers its answer to 1.1 from a
    const oldAnswer = net.inFlight.shift();
    net.start('a', { epoch: 2 });
    const callId = net.call('a', 'b', 'y');
    assert.equal(callId, '2.1');
    net.deliverAll();
    const [done] = net.completionOf(callId);
    assert.ok(done.ok && done.response === 'ok:y', 'the new call got its own answer');
    // The predecessor's answer arrives late at the new incarnation: it matches nothing.
    net.inFlight.push(oldAnswer as (typeof net.inFlight)[number]);
    net.deliverAll();
    assert.equal(net.ep('a').stats.unmatchedAnswers, 1);
  });

  test('a restarted callee refuses a retry its predecessor may have applied (indefinite PEER_RESTARTED)', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'incr');
    net.deliver(); // b applied it ...
    net.dropAll(); // ... and crashed before its answer left
    net.start('b', { epoch: 2 });
    net.handlers.set('b', () => assert.fail('the new incarnation must not apply the retry'));
    net.advanceFinely(200);
    net.deliverAll();
    const [done] = net.completionOf(callId);
    assert.ok(!done.ok);
    assert.deepEqual(
      [done.error.code, done.error.definite, done.error.fromPeer],
      ['PEER_RESTARTED', false, true],
    );
  });

  test('once a caller has heard the new epoch, its calls pinned to it retry normally', () => {
    const net = twoNodes();
    net.start('b', { epoch: 2 });
    net.call('a', 'b', 'hello');
    net.deliverAll(); // a learns b's epoch 2 from the answer
    const callId = net.call('a', 'b', 'incr');
    assert.ok(net.inFlight[0].msg.type === 'rpc-req' && net.inFlight[0].msg.toEpoch === 2);
    net.deliver();
    net.dropAll();
    net.advanceFinely(200);
    net.deliverAll();
    assert.ok(net.completionOf(callId)[0].ok);
    assert.equal(net.appliedCount('b', 'incr'), 1);
  });

  test('the quiet period ends one dedup window after the restart', () => {
    const net = twoNodes();
    net.start('b', { epoch: 2 });
    net.advance(1_000);
    const callId = net.call('a', 'b', 'x');
    net.dropAll(); // the first attempt is lost
    net.advanceFinely(200);
    net.deliverAll();
    assert.ok(net.completionOf(callId)[0].ok, 'a retry is served once the window has passed');
  });

  test('a node at its very first start (epoch 1) has no predecessor and serves retries at once', () => {
    const net = twoNodes();
    const callId = net.call('a', 'b', 'x');
    net.dropAll();
    net.advanceFinely(200);
    net.deliverAll();
    assert.ok(net.completionOf(callId)[0].ok);
  });
});

describe('bounded memory', () => {
  test('the dedup cache stays within dedupMaxEntries and empties after the window', () => {
    const net = twoNodes({ ...testConfig, dedupMaxEntries: 50, maxOutstandingCallsPerPeer: 1_000 });
    for (let i = 0; i < 200; i++) {
      net.call('a', 'b', `w${i}`);
      net.deliverAll();
      assert.ok(net.ep('b').dedupEntries() <= 50);
    }
    assert.equal(net.ep('b').dedupStats().evictedEarly, 150);
    net.advance(1_000);
    assert.equal(net.ep('b').dedupEntries(), 0, 'expired by tick even when idle');
  });

  test('after an early eviction the callee refuses retries it cannot vouch for (indefinite DEDUP_OVERFLOW)', () => {
    const net = twoNodes({ ...testConfig, dedupMaxEntries: 1 });
    const first = net.call('a', 'b', 'incr');
    net.deliver(); // b applies it; the answer is lost
    net.dropAll();
    const second = net.call('a', 'b', 'other');
    net.deliverAll(); // b's one slot now holds this answer: the first was evicted inside its window
    assert.ok(net.completionOf(second)[0].ok);
    net.advanceFinely(200);
    net.deliverAll();
    const [done] = net.completionOf(first);
    assert.ok(!done.ok);
    assert.deepEqual([done.error.code, done.error.definite], ['DEDUP_OVERFLOW', false]);
    assert.equal(net.appliedCount('b', 'incr'), 1, 'applied once, not twice');
  });
});
