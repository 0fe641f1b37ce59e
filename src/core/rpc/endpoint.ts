/**
 * One node's end of request/response messaging: ids, acknowledgements (the response is the
 * acknowledgement), timeouts, retries with exponential backoff and full jitter, duplicate
 * suppression on the callee's side, per-peer circuit breakers and back-pressure.
 *
 * Pure, like the rest of the core: the host feeds it calls, messages and ticks with the time as
 * an argument and sends what comes back in `outbox`. Deadlines are data (`deadlineMs` of each
 * call), expired by `tick`. The only randomness is the backoff jitter, from the `Random` given.
 *
 * The guarantees, for a caller and callee with the same `RpcConfig`:
 * - every call ends exactly once, with a response or an error marked definite (not applied) or
 *   indefinite (may have been applied);
 * - a non-idempotent request is applied at most once per call, however often the network loses
 *   or duplicates its attempts and their answers, and even if the callee restarts in between
 *   (see `PEER_RESTARTED`); one exception is stated in docs/RPC.md (a copy duplicated by the
 *   network across a callee restart, which TCP never does);
 * - a call that ended `ok` was applied exactly once.
 */
import { assert, type Envelope, type NodeId, type Random } from '../types.js';
import { fullJitterBackoffMs } from './backoff.js';
import {
  type BreakerSnapshot,
  type BreakerState,
  type BreakerTransition,
  CircuitBreaker,
} from './circuit-breaker.js';
import {
  assertRpcConfig,
  type CallSchedule,
  callSpanMs,
  defaultRpcConfig,
  type RpcConfig,
  retrySendSpanMs,
} from './config.js';
import { DedupCache } from './dedup-cache.js';
import {
  type CallId,
  DEFER,
  type Deferred,
  type RpcCompletion,
  type RpcError,
  type RpcErrorMessage,
  type RpcMessage,
  RpcRefusal,
  type RpcRequestMessage,
  type RpcResponseMessage,
} from './messages.js';

export interface RpcEndpointComponents {
  /** Source of the backoff jitter. */
  random: Random;
}

export interface RpcEndpointInit {
  self: NodeId;
  /**
   * This start's epoch: an integer ≥ 1 that differs from every earlier start of this node, so
   * call ids never repeat across restarts. Best: a counter persisted in the node's meta table,
   * 1 at the very first start and incremented (durably) before the first message of each later
   * start leaves; the simulator's incarnation number is one. Acceptable: a random integer in
   * [2, 2^32) (a 1 in 2^32 chance per restart of reusing an id).
   */
  epoch: number;
  /**
   * True when this node has never run before (its storage was empty); default: `epoch === 1`.
   * Otherwise the endpoint assumes a predecessor ran, answered requests and forgot its answers
   * in the crash, and for one dedup window refuses retries that may be copies of those
   * (`PEER_RESTARTED`).
   */
  firstStart?: boolean;
  /**
   * The time of the start, on the same monotonic clock as every later `nowMs`; default: the time
   * of the first operation (later than the real start, so the quiet period only gets longer).
   */
  nowMs?: number;
  /** Knobs over `defaultRpcConfig`. */
  config?: Partial<RpcConfig>;
}

export interface CallOptions {
  /** Per-attempt timeout for this call (default: `config.requestTimeoutMs`). */
  timeoutMs?: number;
  /** Attempts for this call, the first included (default: `config.maxAttempts`). */
  maxAttempts?: number;
  /**
   * The request may be applied any number of times with the same effect (a read; a write of a
   * versioned record that merges). The callee then skips the dedup cache and handles every copy,
   * and the retry span is not bounded by the dedup window. Default false: the safe assumption.
   */
  idempotent?: boolean;
}

/** What the callee's handler learns about a request besides its payload. */
export interface IncomingRequest {
  from: NodeId;
  id: CallId;
  attempt: number;
  idempotent: boolean;
  nowMs: number;
}

/**
 * Handles one request: returns the response, a `refuse(...)`d error, or `DEFER` to answer later
 * with `RpcEndpoint.reply`. Called once per call for non-idempotent requests (copies get the
 * remembered answer) and once per copy for idempotent ones. Whatever it must persist goes into
 * the node's `Ready.writes` of the same step, which the host makes durable before the answer
 * leaves.
 */
export type RpcHandler<Req, Res> = (
  from: NodeId,
  payload: Req,
  request: IncomingRequest,
) => Res | RpcRefusal | Deferred;

/** Things the host may log or count. */
export type RpcEvent = BreakerTransition;

/** What one operation asks the host to do: send `outbox`, hand `completions` to the callers. */
export interface RpcReady<Req, Res> {
  outbox: Envelope<RpcMessage<Req, Res>>[];
  completions: RpcCompletion<Res>[];
  events: RpcEvent[];
}

/**
 * What `call` returns. No completions: even a call that fails fast ends in the next `tick`,
 * `receive` or `peerUnreachable` result, never inside `call`, so a caller can register the
 * `callId` before its completion can possibly arrive.
 */
export interface CallStarted<Req, Res> {
  callId: CallId;
  outbox: Envelope<RpcMessage<Req, Res>>[];
  events: RpcEvent[];
}

export interface RpcStats {
  callsStarted: number;
  callsSucceeded: number;
  callsFailed: number;
  /** Failed calls by error code. */
  failures: Record<string, number>;
  attemptsSent: number;
  retriesSent: number;
  attemptTimeouts: number;
  /** Answers for no call in progress: late (after the call ended), duplicated, or misdirected. */
  unmatchedAnswers: number;
  /** Handler invocations. */
  requestsHandled: number;
  /** Copies of a non-idempotent request answered from the dedup cache, without the handler. */
  duplicatesReplayed: number;
  /** Copies dropped because the handler deferred and has not answered yet. */
  copiesWhileDeferred: number;
  /** Retries refused because the memory of answers is incomplete (restart or early eviction). */
  retriesRefused: number;
}

type CachedAnswer<Res> =
  | { kind: 'res'; payload: Res }
  | { kind: 'err'; error: RpcError }
  | { kind: 'deferred'; attempt: number };

interface PendingCall<Req> {
  id: CallId;
  to: NodeId;
  payload: Req;
  idempotent: boolean;
  toEpoch: number;
  timeoutMs: number;
  maxAttempts: number;
  startedMs: number;
  /** No attempt leaves after this (`retrySendSpanMs` after the first), so the dedup window covers all. */
  lastSendByMs: number;
  /** Attempts sent so far. */
  attempts: number;
  /** Waiting for the answer to attempt `attempts` until `deadlineMs`, or backing off until then. */
  phase: 'awaiting' | 'backing-off';
  deadlineMs: number;
  /** The breaker admission of the attempt in flight, until its outcome is reported. */
  probe: number | null;
}

export class RpcEndpoint<Req, Res> {
  readonly self: NodeId;
  readonly epoch: number;
  readonly stats: RpcStats = {
    callsStarted: 0,
    callsSucceeded: 0,
    callsFailed: 0,
    failures: {},
    attemptsSent: 0,
    retriesSent: 0,
    attemptTimeouts: 0,
    unmatchedAnswers: 0,
    requestsHandled: 0,
    duplicatesReplayed: 0,
    copiesWhileDeferred: 0,
    retriesRefused: 0,
  };

  private readonly random: Random;
  private readonly config: RpcConfig;
  private nextSeq = 1;
  private lastNowMs = Number.NEGATIVE_INFINITY;
  private readonly firstStart: boolean;
  /** Until then, a retry not pinned to this epoch may be a copy of one the predecessor answered. */
  private quietUntilMs = Number.NEGATIVE_INFINITY;
  /** Completions decided inside `call` (fail-fast), handed out with the next result. */
  private decidedEarly: RpcCompletion<Res>[] = [];
  /** Calls in progress, in start order (so ticks handle them deterministically). */
  private readonly pending = new Map<CallId, PendingCall<Req>>();
  private readonly outstandingByPeer = new Map<NodeId, number>();
  private readonly breakers = new Map<NodeId, CircuitBreaker>();
  /** The latest epoch each peer answered with; pinned into calls as `toEpoch`. */
  private readonly peerEpochs = new Map<NodeId, number>();
  private readonly answers: DedupCache<CachedAnswer<Res>>;

  constructor(components: RpcEndpointComponents, init: RpcEndpointInit) {
    const config: RpcConfig = { ...defaultRpcConfig, ...init.config };
    assertRpcConfig(config);
    assert(
      Number.isInteger(init.epoch) && init.epoch >= 1,
      'epoch 0 means "unknown" on the wire, so real epochs start at 1',
    );
    this.random = components.random;
    this.config = config;
    this.self = init.self;
    this.epoch = init.epoch;
    this.firstStart = init.firstStart ?? init.epoch === 1;
    if (init.nowMs !== undefined) this.clock(init.nowMs);
    this.answers = new DedupCache({ windowMs: config.dedupWindowMs, maxEntries: config.dedupMaxEntries });
  }

  // ---- caller side ----------------------------------------------------------------------------

  /**
   * Starts a call: sends its first attempt, or fails it at once (definite, nothing sent) when
   * the peer's breaker is open or too many calls to it are in progress. Either way the call ends
   * exactly once, in this or a later `RpcReady.completions`.
   */
  call(to: NodeId, payload: Req, nowMs: number, options: CallOptions = {}): CallStarted<Req, Res> {
    const now = this.clock(nowMs);
    const ready = this.emptyReady();
    const started = (): CallStarted<Req, Res> => {
      this.collectEvents(ready);
      for (const c of ready.completions) this.decidedEarly.push(c);
      return { callId: id, outbox: ready.outbox, events: ready.events };
    };
    const schedule: CallSchedule = {
      requestTimeoutMs: options.timeoutMs ?? this.config.requestTimeoutMs,
      maxAttempts: options.maxAttempts ?? this.config.maxAttempts,
    };
    assert(schedule.requestTimeoutMs > 0, 'an attempt needs time to be answered');
    assert(
      Number.isInteger(schedule.maxAttempts) && schedule.maxAttempts >= 1,
      'a call makes at least one attempt',
    );
    const idempotent = options.idempotent ?? false;
    assert(
      idempotent || callSpanMs(this.config, schedule) <= this.config.dedupWindowMs,
      `a non-idempotent call's attempts must all arrive within the callee's dedup window (${this.config.dedupWindowMs} ms), or a late retry could apply twice`,
    );
    const id: CallId = `${this.epoch}.${this.nextSeq++}`;
    this.stats.callsStarted++;
    const call: PendingCall<Req> = {
      id,
      to,
      payload,
      idempotent,
      toEpoch: this.peerEpochs.get(to) ?? 0,
      timeoutMs: schedule.requestTimeoutMs,
      maxAttempts: schedule.maxAttempts,
      startedMs: now,
      lastSendByMs: now + retrySendSpanMs(this.config, schedule),
      attempts: 0,
      phase: 'backing-off',
      deadlineMs: now,
      probe: null,
    };
    const outstanding = this.outstandingByPeer.get(to) ?? 0;
    if (outstanding >= this.config.maxOutstandingCallsPerPeer) {
      ready.completions.push(
        this.failed(
          call,
          now,
          'OVERLOADED',
          true,
          `${outstanding} calls to ${to} in progress (limit ${this.config.maxOutstandingCallsPerPeer})`,
        ),
      );
      return started();
    }
    const admission = this.breaker(to, now).admit(now);
    if (!admission.allowed) {
      ready.completions.push(
        this.failed(call, now, 'CIRCUIT_OPEN', true, `the circuit to ${to} is open; nothing was sent`),
      );
      return started();
    }
    this.pending.set(id, call);
    this.outstandingByPeer.set(to, outstanding + 1);
    this.sendAttempt(call, now, admission.probe, ready);
    return started();
  }

  /**
   * Ends a call whose answer is no longer needed (a quorum was reached without it): no more
   * retries leave. Returns its `CANCELLED` completion (indefinite: an attempt was sent), or
   * undefined if it had already ended.
   */
  cancel(callId: CallId, nowMs?: number): RpcCompletion<Res> | undefined {
    const now = this.clock(nowMs ?? this.lastNowMs);
    const call = this.pending.get(callId);
    if (!call) return undefined;
    this.breaker(call.to, now).abandon(call.probe);
    call.probe = null;
    return this.finish(call, now, 'CANCELLED', false, 'cancelled by the caller after sending');
  }

  /** Time passed: expired attempts are retried after their backoff, or end with `TIMEOUT`. */
  tick(nowMs: number): RpcReady<Req, Res> {
    const now = this.clock(nowMs);
    const ready = this.emptyReady();
    for (const call of [...this.pending.values()]) this.advance(call, now, ready);
    for (const breaker of this.breakers.values()) breaker.advance(now);
    this.answers.expire(now);
    this.collectEvents(ready);
    return ready;
  }

  /**
   * The transport lost its connection to `peer` (a TCP reset, a refused connect): attempts in
   * flight to it count as lost now instead of at their deadline, so their retries start sooner.
   */
  peerUnreachable(peer: NodeId, nowMs: number): RpcReady<Req, Res> {
    const now = this.clock(nowMs);
    const ready = this.emptyReady();
    for (const call of [...this.pending.values()]) {
      if (call.to !== peer || call.phase !== 'awaiting') continue;
      call.deadlineMs = now;
      this.advance(call, now, ready);
    }
    this.collectEvents(ready);
    return ready;
  }

  /** Tells the endpoint a peer's current epoch learned elsewhere (membership), for pinning calls. */
  notePeerEpoch(peer: NodeId, epoch: number): void {
    this.peerEpochs.set(peer, epoch);
  }

  // ---- both sides -----------------------------------------------------------------------------

  /** A message arrived: a request is handled (or answered from memory), an answer ends its call. */
  receive(
    from: NodeId,
    msg: RpcMessage<Req, Res>,
    nowMs: number,
    handle: RpcHandler<Req, Res>,
  ): RpcReady<Req, Res> {
    const now = this.clock(nowMs);
    const ready = this.emptyReady();
    if (msg.type === 'rpc-req') this.onRequest(from, msg, now, handle, ready);
    else this.onAnswer(from, msg, now, ready);
    this.collectEvents(ready);
    return ready;
  }

  // ---- callee side ----------------------------------------------------------------------------

  /** The failure detector saw `peer` alive again: let its breaker probe at once (see CircuitBreaker). */
  peerSeenAlive(peer: NodeId, nowMs: number): void {
    const now = this.clock(nowMs);
    this.breakers.get(peer)?.peerSeenAlive(now);
  }

  /** Answers a request whose handler returned `DEFER`. */
  reply(request: IncomingRequest, result: Res | RpcRefusal, nowMs: number): RpcReady<Req, Res> {
    const now = this.clock(nowMs);
    const ready = this.emptyReady();
    const answer = toAnswer(result);
    let attempt = request.attempt;
    if (!request.idempotent) {
      const key = dedupKey(request.from, request.id);
      const cached = this.answers.get(key, now);
      if (cached?.kind === 'deferred') attempt = cached.attempt;
      // Gone from the cache (window passed or evicted): the answer still goes out; a later copy
      // is then refused or handled as the cache's rules say.
      this.answers.update(key, answer);
    }
    ready.outbox.push({ to: request.from, msg: this.answerMessage(request.id, attempt, answer) });
    return ready;
  }

  // ---- inspection -----------------------------------------------------------------------------

  /** The breaker of every peer called so far. */
  breakerSnapshots(nowMs: number): BreakerSnapshot[] {
    const now = this.clock(nowMs);
    return [...this.breakers.values()].map((b) => b.snapshot(now));
  }

  breakerSnapshot(peer: NodeId, nowMs: number): BreakerSnapshot {
    const now = this.clock(nowMs);
    return this.breaker(peer, now).snapshot(now);
  }

  /** The state of a peer's breaker (`closed` for a peer never called), as of `nowMs` or the last time seen. */
  breakerState(peer: NodeId, nowMs?: number): BreakerState {
    const breaker = this.breakers.get(peer);
    if (!breaker) return 'closed';
    breaker.advance(this.clock(nowMs ?? this.lastNowMs));
    return breaker.currentState;
  }

  /** Calls in progress (to one peer, or to all). */
  outstandingCalls(peer?: NodeId): number {
    return peer === undefined ? this.pending.size : (this.outstandingByPeer.get(peer) ?? 0);
  }

  /** Remembered answers (bounded by `dedupMaxEntries`). */
  dedupEntries(): number {
    return this.answers.size;
  }

  dedupStats(): Readonly<{ expired: number; evictedEarly: number }> {
    return this.answers.stats;
  }

  /** The earliest deadline of any call, for a host that sleeps until the next tick is needed. */
  nextDeadlineMs(): number | undefined {
    if (this.decidedEarly.length > 0) return this.lastNowMs;
    let earliest: number | undefined;
    for (const call of this.pending.values()) {
      if (earliest === undefined || call.deadlineMs < earliest) earliest = call.deadlineMs;
    }
    return earliest;
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Moves one call along its schedule as far as `now` allows. */
  private advance(call: PendingCall<Req>, now: number, ready: RpcReady<Req, Res>): void {
    if (call.phase === 'awaiting') {
      if (now < call.deadlineMs) return;
      this.stats.attemptTimeouts++;
      this.breaker(call.to, now).onFailure(
        now,
        call.probe,
        `attempt ${call.attempts} of ${call.id} timed out`,
      );
      call.probe = null;
      if (call.attempts >= call.maxAttempts) {
        this.finish(
          call,
          now,
          'TIMEOUT',
          false,
          `no answer from ${call.to} after ${call.attempts} attempts`,
          ready,
        );
        return;
      }
      call.phase = 'backing-off';
      call.deadlineMs = now + fullJitterBackoffMs(this.random, this.config, call.attempts - 1);
    }
    if (now < call.deadlineMs) return;
    if (now > call.lastSendByMs) {
      // Ticks came late enough to push the retry past the span the dedup window was sized for.
      this.finish(
        call,
        now,
        'TIMEOUT',
        false,
        `retry to ${call.to} overran its schedule after ${call.attempts} attempts`,
        ready,
      );
      return;
    }
    const admission = this.breaker(call.to, now).admit(now);
    if (!admission.allowed) {
      this.finish(
        call,
        now,
        'CIRCUIT_OPEN',
        false,
        `the circuit to ${call.to} opened after ${call.attempts} attempts`,
        ready,
      );
      return;
    }
    this.stats.retriesSent++;
    this.sendAttempt(call, now, admission.probe, ready);
  }

  private sendAttempt(
    call: PendingCall<Req>,
    now: number,
    probe: number | null,
    ready: RpcReady<Req, Res>,
  ): void {
    call.attempts++;
    call.phase = 'awaiting';
    call.deadlineMs = now + call.timeoutMs;
    call.probe = probe;
    this.stats.attemptsSent++;
    const msg: RpcRequestMessage<Req> = {
      type: 'rpc-req',
      id: call.id,
      attempt: call.attempts,
      idempotent: call.idempotent,
      toEpoch: call.toEpoch,
      payload: call.payload,
    };
    ready.outbox.push({ to: call.to, msg });
  }

  private onAnswer(
    from: NodeId,
    msg: RpcResponseMessage<Res> | RpcErrorMessage,
    now: number,
    ready: RpcReady<Req, Res>,
  ): void {
    const call = this.pending.get(msg.id);
    if (!call || call.to !== from) {
      this.stats.unmatchedAnswers++;
      return;
    }
    this.peerEpochs.set(from, msg.epoch);
    const breaker = this.breaker(from, now);
    if (msg.type === 'rpc-err' && msg.error.code === 'OVERLOADED') {
      breaker.onFailure(now, call.probe, `${from} is overloaded`);
    } else {
      breaker.onSuccess(now, call.probe);
    }
    call.probe = null;
    if (msg.type === 'rpc-res') {
      this.pending.delete(call.id);
      this.release(call.to);
      this.stats.callsSucceeded++;
      ready.completions.push({
        callId: call.id,
        to: call.to,
        ok: true,
        response: msg.payload,
        attempts: call.attempts,
        latencyMs: now - call.startedMs,
      });
      return;
    }
    const error: RpcError = { ...msg.error, fromPeer: true };
    this.finish(call, now, error.code, error.definite, error.message, ready, true);
  }

  private onRequest(
    from: NodeId,
    msg: RpcRequestMessage<Req>,
    now: number,
    handle: RpcHandler<Req, Res>,
    ready: RpcReady<Req, Res>,
  ): void {
    const key = dedupKey(from, msg.id);
    if (!msg.idempotent) {
      const cached = this.answers.get(key, now);
      if (cached?.kind === 'deferred') {
        cached.attempt = msg.attempt;
        this.stats.copiesWhileDeferred++;
        return;
      }
      if (cached) {
        this.stats.duplicatesReplayed++;
        ready.outbox.push({ to: from, msg: this.answerMessage(msg.id, msg.attempt, cached) });
        return;
      }
      const refusal = this.refusalOfUnknownRetry(msg, now);
      if (refusal) {
        this.stats.retriesRefused++;
        ready.outbox.push({
          to: from,
          msg: this.answerMessage(msg.id, msg.attempt, { kind: 'err', error: refusal }),
        });
        return;
      }
    }
    this.stats.requestsHandled++;
    const result = handle(from, msg.payload, {
      from,
      id: msg.id,
      attempt: msg.attempt,
      idempotent: msg.idempotent,
      nowMs: now,
    });
    if (result === DEFER) {
      if (!msg.idempotent) this.answers.add(key, { kind: 'deferred', attempt: msg.attempt }, now);
      return;
    }
    const answer = toAnswer(result);
    if (!msg.idempotent) this.answers.add(key, answer, now);
    ready.outbox.push({ to: from, msg: this.answerMessage(msg.id, msg.attempt, answer) });
  }

  /**
   * A retry this endpoint has no answer for is new only if its memory of answers is complete
   * for the span over which that retry's earlier attempts could have arrived. Two things punch
   * holes in the memory: a restart (the predecessor's answers are gone) and early eviction.
   */
  private refusalOfUnknownRetry(msg: RpcRequestMessage<Req>, now: number): RpcError | undefined {
    if (msg.attempt <= 1) return undefined;
    if (now < this.quietUntilMs && msg.toEpoch !== this.epoch) {
      return {
        code: 'PEER_RESTARTED',
        definite: false,
        message: `${this.self} restarted (epoch ${this.epoch}); an earlier attempt may have been applied before`,
      };
    }
    if (this.answers.mayHaveForgotten(now)) {
      return {
        code: 'DEDUP_OVERFLOW',
        definite: false,
        message: `${this.self} evicted remembered answers early; an earlier attempt may have been applied`,
      };
    }
    return undefined;
  }

  private answerMessage(
    id: CallId,
    attempt: number,
    answer: CachedAnswer<Res>,
  ): RpcResponseMessage<Res> | RpcErrorMessage {
    assert(answer.kind !== 'deferred', 'a deferred request has no answer to send yet');
    if (answer.kind === 'res')
      return { type: 'rpc-res', id, attempt, epoch: this.epoch, payload: answer.payload };
    return { type: 'rpc-err', id, attempt, epoch: this.epoch, error: answer.error };
  }

  /** Ends a call with an error, pushing the completion into `ready` if given. */
  private finish(
    call: PendingCall<Req>,
    now: number,
    code: string,
    definite: boolean,
    message: string,
    ready?: RpcReady<Req, Res>,
    fromPeer = false,
  ): RpcCompletion<Res> {
    assert(this.pending.delete(call.id), 'a call ends once');
    this.release(call.to);
    const completion = this.failed(call, now, code, definite, message, fromPeer);
    ready?.completions.push(completion);
    return completion;
  }

  private failed(
    call: PendingCall<Req>,
    now: number,
    code: string,
    definite: boolean,
    message: string,
    fromPeer = false,
  ): RpcCompletion<Res> {
    this.stats.callsFailed++;
    this.stats.failures[code] = (this.stats.failures[code] ?? 0) + 1;
    const error: RpcError = { code, definite, message };
    if (fromPeer) error.fromPeer = true;
    return {
      callId: call.id,
      to: call.to,
      ok: false,
      error,
      attempts: call.attempts,
      latencyMs: now - call.startedMs,
    };
  }

  private release(peer: NodeId): void {
    const left = (this.outstandingByPeer.get(peer) ?? 0) - 1;
    assert(left >= 0, 'every call released was counted when it started');
    if (left === 0) this.outstandingByPeer.delete(peer);
    else this.outstandingByPeer.set(peer, left);
  }

  private breaker(peer: NodeId, now: number): CircuitBreaker {
    let breaker = this.breakers.get(peer);
    if (!breaker) {
      breaker = new CircuitBreaker(
        {
          peer,
          failureThreshold: this.config.breakerFailureThreshold,
          openMs: this.config.breakerOpenMs,
          openMsMax: this.config.breakerOpenMsMax,
          halfOpenMaxCalls: this.config.breakerHalfOpenMaxCalls,
        },
        now,
      );
      this.breakers.set(peer, breaker);
    }
    return breaker;
  }

  private collectEvents(ready: RpcReady<Req, Res>): void {
    for (const breaker of this.breakers.values()) {
      for (const t of breaker.takeTransitions()) ready.events.push(t);
    }
  }

  /**
   * The endpoint's clock never goes backwards, even if the host's does (a wall clock stepped
   * back), so deadlines and the dedup cache's age order stay consistent. Hosts should pass a
   * monotonic clock anyway: a jump forwards expires deadlines and remembered answers early.
   */
  private clock(nowMs: number): number {
    if (this.lastNowMs === Number.NEGATIVE_INFINITY && !this.firstStart) {
      this.quietUntilMs = nowMs + this.config.dedupWindowMs;
    }
    if (nowMs > this.lastNowMs) this.lastNowMs = nowMs;
    return this.lastNowMs;
  }

  /** A fresh result, holding any completions `call` decided since the last one. */
  private emptyReady(): RpcReady<Req, Res> {
    const completions = this.decidedEarly;
    this.decidedEarly = [];
    return { outbox: [], completions, events: [] };
  }
}

function dedupKey(from: NodeId, id: CallId): string {
  // Ids are digits and one dot, so the first '@' separates them from any node name.
  return `${id}@${from}`;
}

function toAnswer<Res>(result: Res | RpcRefusal): CachedAnswer<Res> {
  if (result instanceof RpcRefusal) {
    return { kind: 'err', error: { code: result.code, definite: result.definite, message: result.message } };
  }
  return { kind: 'res', payload: result };
}
