/**
 * A circuit breaker for one peer (Nygard, "Release It!"; the closed/open/half-open machine of the
 * lecture notes). It turns a peer that does not answer into fast, definite failures instead of a
 * pile of calls that each wait for a timeout, and it stops a struggling peer from being buried in
 * retries ("retry storms").
 *
 * ```
 *            failures ≥ threshold              open time elapsed
 *   closed ──────────────────────────▶ open ────────────────────▶ half-open
 *     ▲                                 ▲                           │  │
 *     │                                 └──── a probe failed ───────┘  │
 *     └────────────────────── a probe succeeded ───────────────────────┘
 * ```
 *
 * Closed: everything passes; consecutive failed attempts are counted, any success resets the
 * count. Open: nothing passes until `openUntilMs`. Half-open: up to `halfOpenMaxCalls` probe
 * attempts pass at once; the first probe outcome decides. Each reopening doubles the open time up
 * to `openMsMax`; closing resets it.
 *
 * Only outcomes that belong to the current state count: an attempt sent while closed that times
 * out while half-open says nothing about whether the peer has recovered. A probe carries the
 * generation of the half-open period that admitted it, so stale probes are recognised too.
 */
import { assert, type NodeId } from '../types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerInit {
  /** Named in transition events. */
  peer: NodeId;
  failureThreshold: number;
  openMs: number;
  openMsMax: number;
  halfOpenMaxCalls: number;
}

/** A state change, for the host to log and count. */
export interface BreakerTransition {
  kind: 'breaker';
  peer: NodeId;
  from: BreakerState;
  to: BreakerState;
  atMs: number;
  reason: string;
}

/** What a breaker lets through: nothing, an ordinary attempt, or a probe of a half-open period. */
export type Admission = { allowed: false; retryAfterMs: number } | { allowed: true; probe: number | null };

/** The breaker's state for metrics and the dashboard. */
export interface BreakerSnapshot {
  peer: NodeId;
  state: BreakerState;
  sinceMs: number;
  /** Failed attempts in a row while closed (while open or half-open: the run that opened it). */
  consecutiveFailures: number;
  probesInFlight: number;
  /** When an open breaker turns half-open (meaningful while open). */
  openUntilMs: number;
  /** The open time the next (or current) opening uses. */
  openMs: number;
  timesOpened: number;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private sinceMs: number;
  private consecutiveFailures = 0;
  private probesInFlight = 0;
  /** Numbers the half-open periods, so a probe's outcome is matched to the period that admitted it. */
  private generation = 0;
  private openUntilMs = 0;
  private openMs: number;
  private timesOpened = 0;
  private transitions: BreakerTransition[] = [];

  constructor(
    private readonly init: CircuitBreakerInit,
    nowMs: number,
  ) {
    assert(
      init.failureThreshold >= 1 && init.halfOpenMaxCalls >= 1,
      'a breaker needs a threshold and room for a probe',
    );
    assert(init.openMsMax >= init.openMs, 'the open time grows up to openMsMax');
    this.sinceMs = nowMs;
    this.openMs = init.openMs;
  }

  /** Applies the passage of time: an open breaker whose time is up turns half-open. */
  advance(nowMs: number): void {
    if (this.state === 'open' && nowMs >= this.openUntilMs) {
      this.generation++;
      this.probesInFlight = 0;
      this.moveTo('half-open', nowMs, `open for ${this.openMs} ms`);
    }
  }

  /**
   * Outside evidence that the peer is reachable again (the failure detector heard from it): an
   * open breaker turns half-open now instead of waiting out its open time, so a healed partition
   * does not keep failing requests for up to `openMsMax`. A probe still decides whether it closes.
   */
  peerSeenAlive(nowMs: number): void {
    if (this.state !== 'open') return;
    this.generation++;
    this.probesInFlight = 0;
    this.moveTo('half-open', nowMs, 'the failure detector heard from the peer');
  }

  /** Asks to send one attempt now. A probe admission must later be settled by an outcome or `abandon`. */
  admit(nowMs: number): Admission {
    this.advance(nowMs);
    if (this.state === 'closed') return { allowed: true, probe: null };
    if (this.state === 'open') return { allowed: false, retryAfterMs: this.openUntilMs - nowMs };
    if (this.probesInFlight >= this.init.halfOpenMaxCalls) return { allowed: false, retryAfterMs: 0 };
    this.probesInFlight++;
    return { allowed: true, probe: this.generation };
  }

  /** The peer answered an attempt admitted with `probe` (null: an ordinary attempt). */
  onSuccess(nowMs: number, probe: number | null): void {
    this.advance(nowMs);
    if (this.state === 'closed') {
      this.consecutiveFailures = 0;
      return;
    }
    if (this.state === 'half-open' && this.isCurrentProbe(probe)) {
      this.probesInFlight--;
      this.consecutiveFailures = 0;
      this.openMs = this.init.openMs;
      this.moveTo('closed', nowMs, 'a probe succeeded');
    }
    // Open, or half-open with an attempt from before: the answer is stale evidence; ignore it.
  }

  /** An attempt admitted with `probe` failed: no answer in time, or the connection was lost. */
  onFailure(nowMs: number, probe: number | null, reason: string): void {
    this.advance(nowMs);
    if (this.state === 'closed') {
      this.consecutiveFailures++;
      if (this.consecutiveFailures >= this.init.failureThreshold) {
        this.open(nowMs, `${this.consecutiveFailures} consecutive failures (last: ${reason})`);
      }
      return;
    }
    if (this.state === 'half-open' && this.isCurrentProbe(probe)) {
      this.probesInFlight--;
      this.openMs = Math.min(this.init.openMsMax, this.openMs * 2);
      this.open(nowMs, `a probe failed (${reason})`);
    }
  }

  /** An admitted attempt ended without an outcome (its call was cancelled): free its probe slot. */
  abandon(probe: number | null): void {
    if (this.state === 'half-open' && this.isCurrentProbe(probe)) this.probesInFlight--;
  }

  get currentState(): BreakerState {
    return this.state;
  }

  snapshot(nowMs: number): BreakerSnapshot {
    this.advance(nowMs);
    return {
      peer: this.init.peer,
      state: this.state,
      sinceMs: this.sinceMs,
      consecutiveFailures: this.consecutiveFailures,
      probesInFlight: this.probesInFlight,
      openUntilMs: this.openUntilMs,
      openMs: this.openMs,
      timesOpened: this.timesOpened,
    };
  }

  /** The transitions since the last call, oldest first. */
  takeTransitions(): BreakerTransition[] {
    const taken = this.transitions;
    this.transitions = [];
    return taken;
  }

  private isCurrentProbe(probe: number | null): boolean {
    return probe !== null && probe === this.generation && this.probesInFlight > 0;
  }

  private open(nowMs: number, reason: string): void {
    this.openUntilMs = nowMs + this.openMs;
    this.timesOpened++;
    this.probesInFlight = 0;
    this.moveTo('open', nowMs, reason);
  }

  private moveTo(to: BreakerState, nowMs: number, reason: string): void {
    this.transitions.push({
      kind: 'breaker',
      peer: this.init.peer,
      from: this.state,
      to,
      atMs: nowMs,
      reason,
    });
    this.state = to;
    this.sinceMs = nowMs;
  }
}
