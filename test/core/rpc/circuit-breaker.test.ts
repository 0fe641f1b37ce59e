import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BreakerState, CircuitBreaker } from '../../../src/core/rpc/circuit-breaker.js';

/**
 * Table-driven: each row is a script of what happens to one breaker and the state it must end in.
 * Steps: `fail`/`ok` (outcome of an ordinary attempt), `wait N` (time passes), `admit` (an
 * ordinary attempt must pass), `probe` (a probe must be admitted; its token is kept), `reject`
 * (nothing may pass), `probe-ok`/`probe-fail` (outcome of the oldest kept probe), `abandon`
 * (the oldest kept probe is cancelled).
 */
interface Row {
  claim: string;
  steps: string[];
  state: BreakerState;
  openMs?: number;
  transitions?: string[];
}

const init = { peer: 'b', failureThreshold: 3, openMs: 1000, openMsMax: 3000, halfOpenMaxCalls: 1 };
const toOpen = ['fail', 'fail', 'fail'];
const toHalfOpen = [...toOpen, 'wait 1000'];

const rows: Row[] = [
  { claim: 'a new breaker is closed and lets attempts through', steps: ['admit'], state: 'closed' },
  { claim: 'failures below the threshold keep it closed', steps: ['fail', 'fail', 'admit'], state: 'closed' },
  {
    claim: 'threshold consecutive failures open it',
    steps: toOpen,
    state: 'open',
    transitions: ['closed>open'],
  },
  {
    claim: 'a success resets the count of consecutive failures',
    steps: ['fail', 'fail', 'ok', 'fail', 'fail'],
    state: 'closed',
  },
  {
    claim: 'an open breaker lets nothing through',
    steps: [...toOpen, 'reject', 'wait 999', 'reject'],
    state: 'open',
  },
  {
    claim: 'after openMs it turns half-open and admits a probe',
    steps: [...toHalfOpen, 'probe'],
    state: 'half-open',
    transitions: ['closed>open', 'open>half-open'],
  },
  {
    claim: 'half-open admits at most halfOpenMaxCalls probes at once',
    steps: [...toHalfOpen, 'probe', 'reject'],
    state: 'half-open',
  },
  {
    claim: 'a cancelled probe frees its slot',
    steps: [...toHalfOpen, 'probe', 'abandon', 'probe'],
    state: 'half-open',
  },
  {
    claim: 'a successful probe closes it and resets the open time',
    steps: [...toHalfOpen, 'probe', 'probe-ok', 'admit'],
    state: 'closed',
    openMs: 1000,
    transitions: ['closed>open', 'open>half-open', 'half-open>closed'],
  },
  {
    claim: 'a failed probe reopens it with a doubled open time',
    steps: [...toHalfOpen, 'probe', 'probe-fail', 'wait 1999', 'reject'],
    state: 'open',
    openMs: 2000,
    transitions: ['closed>open', 'open>half-open', 'half-open>open'],
  },
  {
    claim: 'the growing open time is capped at openMsMax',
    steps: [
      ...toHalfOpen,
      'probe',
      'probe-fail',
      'wait 2000',
      'probe',
      'probe-fail',
      'wait 3000',
      'probe',
      'probe-fail',
    ],
    state: 'open',
    openMs: 3000,
  },
  {
    claim: 'outcomes of ordinary attempts do not decide a half-open breaker (they predate it)',
    steps: [...toHalfOpen, 'ok', 'fail', 'probe'],
    state: 'half-open',
  },
  {
    claim: 'a stale answer does not close an open breaker',
    steps: [...toOpen, 'ok', 'reject'],
    state: 'open',
  },
  {
    claim: 'a probe from an earlier half-open period does not decide the current one',
    steps: [...toHalfOpen, 'probe', 'wait 0', 'probe-fail', 'wait 2000', 'probe', 'stale-probe-ok'],
    state: 'half-open',
  },
  {
    claim: 'after closing, it again takes threshold failures to open',
    steps: [...toHalfOpen, 'probe', 'probe-ok', 'fail', 'fail', 'admit'],
    state: 'closed',
  },
];

function run(row: Row): { breaker: CircuitBreaker; nowMs: number; transitions: string[] } {
  let nowMs = 0;
  const breaker = new CircuitBreaker(init, nowMs);
  const probes: (number | null)[] = [];
  const staleProbes: (number | null)[] = [];
  for (const step of row.steps) {
    const [verb, arg] = step.split(' ');
    switch (verb) {
      case 'wait':
        nowMs += Number(arg);
        breaker.advance(nowMs);
        break;
      case 'fail':
        breaker.onFailure(nowMs, null, 'timeout');
        break;
      case 'ok':
        breaker.onSuccess(nowMs, null);
        break;
      case 'admit': {
        const a = breaker.admit(nowMs);
        assert.ok(a.allowed && a.probe === null, `${step}: an ordinary attempt passes`);
        break;
      }
      case 'reject':
        assert.equal(breaker.admit(nowMs).allowed, false, `${step} at ${nowMs}: nothing passes`);
        break;
      case 'probe': {
        const a = breaker.admit(nowMs);
        assert.ok(a.allowed && a.probe !== null, `${step} at ${nowMs}: a probe is admitted`);
        probes.push(a.probe);
        break;
      }
      case 'probe-ok':
        breaker.onSuccess(nowMs, probes.shift() as number);
        break;
      case 'probe-fail': {
        const probe = probes.shift() as number;
        staleProbes.push(probe);
        breaker.onFailure(nowMs, probe, 'timeout');
        break;
      }
      case 'stale-probe-ok':
        breaker.onSuccess(nowMs, staleProbes.shift() as number);
        break;
      case 'abandon':
        breaker.abandon(probes.shift() as number);
        break;
      default:
        throw new Error(`unknown step ${step}`);
    }
  }
  const transitions = breaker.takeTransitions().map((t) => `${t.from}>${t.to}`);
  return { breaker, nowMs, transitions };
}

describe('circuit breaker transitions', () => {
  for (const row of rows) {
    test(row.claim, () => {
      const { breaker, nowMs, transitions } = run(row);
      const snap = breaker.snapshot(nowMs);
      assert.equal(snap.state, row.state);
      if (row.openMs !== undefined) assert.equal(snap.openMs, row.openMs);
      if (row.transitions) assert.deepEqual(transitions, row.transitions);
    });
  }

  test('transitions are events with the peer, the time and the reason', () => {
    const breaker = new CircuitBreaker(init, 0);
    for (let i = 0; i < 3; i++) breaker.onFailure(100, null, 'timeout');
    breaker.advance(1100);
    const [opened, halfOpened] = breaker.takeTransitions();
    assert.deepEqual(
      { peer: opened.peer, to: opened.to, atMs: opened.atMs },
      { peer: 'b', to: 'open', atMs: 100 },
    );
    assert.match(opened.reason, /3 consecutive failures/);
    assert.equal(halfOpened.to, 'half-open');
    assert.equal(halfOpened.atMs, 1100);
    assert.deepEqual(breaker.takeTransitions(), [], 'events are handed out once');
    const snap = breaker.snapshot(1100);
    assert.equal(snap.sinceMs, 1100);
    assert.equal(snap.timesOpened, 1);
  });
});
