/**
 * The RPC layer's knobs, each with its unit and the formula that ties it to the others.
 *
 * Every node of a cluster must use the same values: a callee's duplicate-suppression window is
 * sized for the callers' retry schedule (see `assertRpcConfig`).
 */
import { assert } from '../types.js';

export interface RpcConfig {
  /** How long one attempt waits for its answer before it counts as lost. */
  requestTimeoutMs: number;
  /** Attempts per call, the first included (1: never retry). */
  maxAttempts: number;
  /** Backoff before retry n (n = 0 for the first retry) is uniform in [0, min(backoffMaxMs, backoffBaseMs · 2^n)). */
  backoffBaseMs: number;
  /** Cap of the backoff ceiling. */
  backoffMaxMs: number;
  /** Consecutive failed attempts to one peer (timeouts, lost connections) that open its breaker. */
  breakerFailureThreshold: number;
  /** How long an opened breaker fails calls fast before it lets probes through (first opening). */
  breakerOpenMs: number;
  /** Each reopening from half-open doubles the open time, up to this (= breakerOpenMs: no growth). */
  breakerOpenMsMax: number;
  /** Probe attempts a half-open breaker lets through at once. */
  breakerHalfOpenMaxCalls: number;
  /**
   * How long a callee remembers a non-idempotent request's answer, from when it first saw it.
   * Must be ≥ `callSpanMs(config)` so every retry of a request finds its first answer.
   */
  dedupWindowMs: number;
  /**
   * How many answers the callee remembers at most. Size it to the peak rate of non-idempotent
   * requests × dedupWindowMs; overflowing it evicts early and makes the callee refuse retries it
   * can no longer vouch for (`DEDUP_OVERFLOW`).
   */
  dedupMaxEntries: number;
  /** Calls to one peer in progress (sent or waiting to retry) beyond which `call` fails fast with `OVERLOADED`. */
  maxOutstandingCallsPerPeer: number;
}

/** Per-call overrides of the schedule. */
export interface CallSchedule {
  requestTimeoutMs: number;
  maxAttempts: number;
}

/** The ceiling of the full-jitter backoff before retry `retryIndex` (0 for the first retry). */
export function backoffCeilingMs(
  config: Pick<RpcConfig, 'backoffBaseMs' | 'backoffMaxMs'>,
  retryIndex: number,
): number {
  // 2^n overflows to Infinity for large n, which min() then caps: no special case needed.
  return Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** retryIndex);
}

/**
 * The latest time, after the first attempt left, at which any attempt of a call may leave:
 * Σ_{n=0}^{A-2} (timeout + min(cap, base · 2^n)). The endpoint never sends an attempt later than
 * this (a retry made late by a slow tick is dropped instead), so the bound holds by construction.
 */
export function retrySendSpanMs(config: RpcConfig, schedule: CallSchedule = config): number {
  let spanMs = 0;
  for (let n = 0; n < schedule.maxAttempts - 1; n++) {
    spanMs += schedule.requestTimeoutMs + backoffCeilingMs(config, n);
  }
  return spanMs;
}

/**
 * How long after the first attempt left a copy of some attempt of the call may still arrive:
 * the send span plus one more request timeout, which is the longest we assume a message lingers
 * in the network (the role TCP's maximum segment lifetime plays). A message older than that is
 * outside the model; over TCP it cannot happen, since a connection that drops discards its bytes.
 */
export function callSpanMs(config: RpcConfig, schedule: CallSchedule = config): number {
  return retrySendSpanMs(config, schedule) + schedule.requestTimeoutMs;
}

/** Checks the knobs are sane and that the dedup window covers the retry schedule. */
export function assertRpcConfig(config: RpcConfig): void {
  const positive: (keyof RpcConfig)[] = [
    'requestTimeoutMs',
    'backoffMaxMs',
    'breakerOpenMs',
    'breakerOpenMsMax',
    'dedupWindowMs',
  ];
  for (const key of positive) {
    assert(
      config[key] > 0 && Number.isFinite(config[key]),
      `rpc config ${key} must be a positive number of ms`,
    );
  }
  assert(config.backoffBaseMs >= 0, 'rpc config backoffBaseMs must not be negative');
  const counts: (keyof RpcConfig)[] = [
    'maxAttempts',
    'breakerFailureThreshold',
    'breakerHalfOpenMaxCalls',
    'dedupMaxEntries',
    'maxOutstandingCallsPerPeer',
  ];
  for (const key of counts) {
    assert(Number.isInteger(config[key]) && config[key] >= 1, `rpc config ${key} must be an integer ≥ 1`);
  }
  assert(
    config.breakerOpenMsMax >= config.breakerOpenMs,
    'breakerOpenMsMax caps the growing open time, so it is ≥ breakerOpenMs',
  );
  const spanMs = callSpanMs(config);
  assert(
    config.dedupWindowMs >= spanMs,
    `dedupWindowMs (${config.dedupWindowMs}) must cover the longest call span (${spanMs} ms = retry send span + one timeout), or a late retry could apply twice`,
  );
}

/**
 * Presets. `local`: one machine or the simulator (sub-millisecond links). `lan`: a data centre
 * (≈0.5 ms links, GC pauses of tens of ms). `wan`: links of up to ≈250 ms round trip.
 * Timeouts are several times the expected round trip plus the callee's service time, so a slow
 * answer is rarely mistaken for a lost one; windows are ≥ 3× the call span for margin.
 */
export const rpcConfigPresets = {
  local: {
    requestTimeoutMs: 250,
    maxAttempts: 3,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    breakerFailureThreshold: 5,
    breakerOpenMs: 1_000,
    breakerOpenMsMax: 8_000,
    breakerHalfOpenMaxCalls: 1,
    dedupWindowMs: 5_000,
    dedupMaxEntries: 100_000,
    maxOutstandingCallsPerPeer: 1_024,
  },
  lan: {
    requestTimeoutMs: 1_000,
    maxAttempts: 3,
    backoffBaseMs: 50,
    backoffMaxMs: 1_000,
    breakerFailureThreshold: 5,
    breakerOpenMs: 2_000,
    breakerOpenMsMax: 30_000,
    breakerHalfOpenMaxCalls: 1,
    dedupWindowMs: 15_000,
    dedupMaxEntries: 500_000,
    maxOutstandingCallsPerPeer: 4_096,
  },
  wan: {
    requestTimeoutMs: 3_000,
    maxAttempts: 4,
    backoffBaseMs: 100,
    backoffMaxMs: 5_000,
    breakerFailureThreshold: 5,
    breakerOpenMs: 5_000,
    breakerOpenMsMax: 60_000,
    breakerHalfOpenMaxCalls: 2,
    dedupWindowMs: 60_000,
    dedupMaxEntries: 1_000_000,
    maxOutstandingCallsPerPeer: 4_096,
  },
} as const satisfies Record<string, RpcConfig>;

/** What an endpoint uses for knobs it is not given: the `local` preset (simulator, one machine). */
export const defaultRpcConfig: RpcConfig = rpcConfigPresets.local;
