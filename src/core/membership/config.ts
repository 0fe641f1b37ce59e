/**
 * SWIM's knobs, each with what it does, how it scales, and presets after hashicorp/memberlist's
 * DefaultLocalConfig, DefaultLANConfig and DefaultWANConfig. The derived quantities (suspicion
 * timeout, retransmit limit, detection bound) are functions here, so the code, the tests and
 * docs/MEMBERSHIP.md use one formula each.
 *
 * N below is the number of members a node currently counts as alive or suspect, itself included.
 */
import { assert } from '../types.js';

export interface SwimConfig {
  /**
   * The protocol period T' (SWIM §3.1): every period a node probes one member. Detection time and
   * message load both scale with it: each member sends about two messages per period (a ping and
   * the ack to the ping it receives), independent of N.
   */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking `indirectChecks` members to probe (ping-req).
   * Set it above the network's round-trip time at the 99th percentile; it must leave time in the
   * period for the indirect round trip (4 hops): probeTimeoutMs + 2·RTT < probeIntervalMs.
   */
  probeTimeoutMs: number;
  /**
   * k, the number of members asked to probe indirectly (SWIM §3.1). A healthy member is falsely
   * suspected in a period only if the direct path and all k indirect paths fail: with message loss
   * p, about (1−(1−p)²)·(1−(1−p)⁴)^k. Message cost grows linearly in k, only when a probe fails.
   */
  indirectChecks: number;
  /**
   * Suspicion timeout = suspicionMult · max(1, log10(max(1, N))) · probeIntervalMs (memberlist).
   * The log term grows the time a suspect has to refute as gossip needs O(log N) periods to reach
   * it. Larger: fewer false deaths under loss, slower detection.
   */
  suspicionMult: number;
  /**
   * Lifeguard's dynamic suspicion (memberlist's SuspicionMaxTimeoutMult): a suspicion starts with
   * timeout suspicionMaxTimeoutMult × the timeout above and shrinks towards it as independent
   * members confirm the suspicion (see `suspicionTimeoutMs`). 1 gives plain SWIM's fixed timeout.
   */
  suspicionMaxTimeoutMult: number;
  /**
   * Each update is piggybacked on retransmitMult · ceil(log10(N + 1)) messages before this node
   * stops sending it (memberlist). SWIM §4.1 shows λ·log N transmissions reach every member with
   * high probability; larger values spread news more surely and cost piggyback space.
   */
  retransmitMult: number;
  /**
   * Every push-pull interval a node exchanges its full state with one random alive member
   * (anti-entropy), and tries one member it believes dead, or a seed it does not know alive, to
   * heal partitions. Costs O(N) bytes per exchange; repairs whatever gossip missed.
   */
  pushPullIntervalMs: number;
  /**
   * How long a dead or left member is remembered (a tombstone) before it is forgotten. It must
   * outlast every stale `alive` still in flight or in another node's state, which the detection
   * bound plus two push-pull intervals covers; while remembered, a dead member is also retried
   * each push-pull interval, so partitions shorter than this heal without the seeds.
   */
  deadMemberRetentionMs: number;
  /**
   * At most this many updates ride on one ping, ack or ping-req. memberlist fills a 1400-byte UDP
   * packet; an update with small meta is ~60–120 bytes encoded, hence about ten.
   */
  maxPiggybackedUpdates: number;
}

/** One machine, loopback network: tight timeouts (memberlist DefaultLocalConfig). */
export const localConfig: Readonly<SwimConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 200,
  indirectChecks: 1,
  suspicionMult: 3,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 2,
  pushPullIntervalMs: 15_000,
  deadMemberRetentionMs: 120_000,
  maxPiggybackedUpdates: 16,
});

/** A data-centre network, sub-millisecond to few-millisecond RTT (memberlist DefaultLANConfig). */
export const lanConfig: Readonly<SwimConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  pushPullIntervalMs: 30_000,
  deadMemberRetentionMs: 600_000,
  maxPiggybackedUpdates: 10,
});

/** Across regions, RTT in the hundreds of ms and loss (memberlist DefaultWANConfig). */
export const wanConfig: Readonly<SwimConfig> = Object.freeze({
  probeIntervalMs: 5000,
  probeTimeoutMs: 3000,
  indirectChecks: 3,
  suspicionMult: 6,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  pushPullIntervalMs: 60_000,
  deadMemberRetentionMs: 1_800_000,
  maxPiggybackedUpdates: 10,
});

export const SWIM_PRESETS = { local: localConfig, lan: lanConfig, wan: wanConfig } as const;
export type SwimPresetName = keyof typeof SWIM_PRESETS;

/** Throws unless the knobs make sense together. */
export function validateSwimConfig(c: SwimConfig): void {
  const positive = (name: keyof SwimConfig) =>
    assert(Number.isFinite(c[name]) && c[name] > 0, `${name} must be a positive number, got ${c[name]}`);
  for (const name of Object.keys(localConfig) as (keyof SwimConfig)[]) {
    if (name !== 'indirectChecks') positive(name);
  }
  assert(Number.isInteger(c.indirectChecks) && c.indirectChecks >= 0, 'indirectChecks (k) is a count, >= 0');
  assert(Number.isInteger(c.maxPiggybackedUpdates), 'maxPiggybackedUpdates is a count');
  assert(
    c.probeTimeoutMs < c.probeIntervalMs,
    'probeTimeoutMs < probeIntervalMs: the indirect probe must fit in the protocol period',
  );
  assert(
    c.suspicionMaxTimeoutMult >= 1,
    'suspicionMaxTimeoutMult >= 1: the timeout only shrinks to its minimum',
  );
}

/** memberlist's suspicion scale: 1 up to 10 members, then log10(N). */
function suspicionNodeScale(n: number): number {
  return Math.max(1, Math.log10(Math.max(1, n)));
}

/** suspicionMult · max(1, log10(max(1, N))) · probeIntervalMs: the timeout once confirmed. */
export function suspicionTimeoutMinMs(c: SwimConfig, n: number): number {
  return c.suspicionMult * suspicionNodeScale(n) * c.probeIntervalMs;
}

/** suspicionMaxTimeoutMult · suspicionTimeoutMinMs: the timeout of an unconfirmed suspicion. */
export function suspicionTimeoutMaxMs(c: SwimConfig, n: number): number {
  return c.suspicionMaxTimeoutMult * suspicionTimeoutMinMs(c, n);
}

/**
 * How many independent confirmations bring a suspicion down to its minimum timeout (Lifeguard's
 * K = suspicionMult − 2, memberlist), or 0 when fewer than K other members could confirm
 * (N − 2 < K: neither the suspect nor the first suspecter can), in which case the timeout is the
 * minimum from the start.
 */
export function expectedConfirmations(c: SwimConfig, n: number): number {
  const k = Math.max(0, c.suspicionMult - 2);
  return n - 2 < k ? 0 : k;
}

/**
 * Lifeguard's dynamic suspicion timeout after `confirmations` members other than the first
 * suspecter have also suspected the member:
 *   timeout = max(min, max − (max − min) · log(confirmations + 1) / log(K + 1))
 * It starts at max (a lone suspicion is often the suspecter's own trouble) and reaches min after
 * K confirmations (many members failing to reach the suspect is strong evidence).
 */
export function suspicionTimeoutMs(c: SwimConfig, n: number, confirmations: number): number {
  const min = suspicionTimeoutMinMs(c, n);
  const max = suspicionTimeoutMaxMs(c, n);
  const k = expectedConfirmations(c, n);
  if (k < 1 || confirmations >= k) return min;
  const fraction = Math.log(confirmations + 1) / Math.log(k + 1);
  return Math.max(min, max - (max - min) * fraction);
}

/** retransmitMult · ceil(log10(N + 1)): how many messages carry each update from this node. */
export function retransmitLimit(c: SwimConfig, n: number): number {
  return c.retransmitMult * Math.ceil(Math.log10(n + 1));
}

/**
 * An upper bound on the time from a member's crash to every live member declaring it dead, on a
 * loss-free network, for a cluster of N members (the crashed one included). Each live member
 * probes every other member once per round of N − 1 round-robin probes in a fresh random order
 * (SWIM §4.3), so two round-robin probes of the same member are at most 2(N − 1) − 1 probes apart;
 * probes of members heard to be suspected are slipped in out of turn at most every other period,
 * which at most doubles that to 2(2(N − 1) − 1) periods. The probe fails at the end of its period
 * and the member's suspicion then lasts at most the unconfirmed timeout (less if others confirm,
 * or if the death reaches it by gossip first):
 *   bound = 4(N − 1) · probeIntervalMs + suspicionTimeoutMaxMs(N)
 * Expected times are much shorter: the first probe of a crashed member by anyone comes after
 * about e/(e − 1) periods (SWIM §3.1), and then every member probes it out of turn.
 */
export function detectionBoundMs(c: SwimConfig, n: number): number {
  return 4 * Math.max(1, n - 1) * c.probeIntervalMs + suspicionTimeoutMaxMs(c, n);
}
