/**
 * From seed addresses (`--join host:port,…`) to seed node ids: the core joins through node ids,
 * and a new node does not know its seeds' ids until it has shaken hands with them.
 *
 * Every address is dialled at once and redialled with capped exponential backoff and full jitter
 * until it answers. The search ends when every address has answered, or been refused, or failed
 * at least once while another one answered (one answer is enough to join: membership spreads the
 * rest); or at the deadline.
 *
 * A refusal in the handshake (wrong cluster secret, another cluster, another version) is not
 * retried: it will not change. An address that turns out to be this very node is skipped, so every
 * node of a cluster can be given the same `--join` list.
 */
import { isTransportError, type TransportError } from '../adapters/transport/errors.js';
import type { NodeId } from '../core/types.js';
import { messageOf, RuntimeError } from './errors.js';

export interface SeedSearchComponents {
  /** Dials an address, runs the handshake and resolves with the node id there. */
  connect(address: string): Promise<NodeId>;
  /** Wall-clock ms. */
  now(): number;
  /** Uniform in [0, 1), for backoff jitter. */
  random(): number;
  /** Waits `ms` (a real timer in the runtime). */
  sleep(ms: number): Promise<void>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface SeedSearchInit {
  self: NodeId;
  addresses: readonly string[];
  /** Give up on addresses that never answered after this long. */
  timeoutMs: number;
  /** Redial n waits uniform(0, min(max, base · 2ⁿ)). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface SeedSearchResult {
  /** Seeds that answered, by address. */
  seeds: Array<{ address: string; id: NodeId }>;
  /** Addresses that never answered (or refused), with the last reason. */
  failed: Array<{ address: string; code: string; reason: string }>;
}

/** Handshake refusals that a redial will not cure; TLS_ERROR: a certificate the seed does not trust. */
const REFUSALS = new Set(['PEER_REJECTED', 'BAD_PROOF', 'CLUSTER_MISMATCH', 'VERSION_MISMATCH', 'TLS_ERROR']);

type State =
  | { kind: 'trying'; attempts: number; code: string; reason: string }
  | { kind: 'answered'; id: NodeId }
  | { kind: 'self' }
  | { kind: 'refused'; code: string; reason: string };

/**
 * Finds the seeds' ids. Throws `JOIN_REFUSED` when every address refused us, and `JOIN_FAILED`
 * when none answered by the deadline; otherwise returns what it found (possibly only self).
 */
export async function findSeeds(c: SeedSearchComponents, init: SeedSearchInit): Promise<SeedSearchResult> {
  const baseMs = init.backoffBaseMs ?? 100;
  const maxMs = init.backoffMaxMs ?? 2000;
  const deadlineMs = c.now() + init.timeoutMs;
  const addresses = [...new Set(init.addresses)];
  const states = new Map<string, State>(
    addresses.map((a) => [a, { kind: 'trying', attempts: 0, code: 'NOT_TRIED', reason: 'not tried yet' }]),
  );
  const someAnswered = () => [...states.values()].some((s) => s.kind === 'answered');
  const done = () =>
    [...states.values()].every(
      (s) => s.kind !== 'trying' || (s.attempts > 0 && someAnswered()) || c.now() >= deadlineMs,
    );

  await Promise.all(
    addresses.map(async (address) => {
      for (;;) {
        const state = states.get(address) as State;
        if (state.kind !== 'trying') return;
        try {
          const id = await c.connect(address);
          if (id === init.self) {
            states.set(address, { kind: 'self' });
            return;
          }
          states.set(address, { kind: 'answered', id });
          c.log.info({ seed: address, id }, 'seed answered');
          return;
        } catch (e) {
          const code = isTransportError(e) ? e.code : 'CONNECT_FAILED';
          const reason = isTransportError(e) ? (e as TransportError).detail : messageOf(e);
          if (code === 'SELF_CONNECT' || /SELF_CONNECT/.test(reason)) {
            states.set(address, { kind: 'self' });
            return;
          }
          if (REFUSALS.has(code)) {
            states.set(address, { kind: 'refused', code, reason });
            c.log.warn(
              { seed: address, code, reason },
              'seed refused this node: check that every node has the same cluster secret and name',
            );
            return;
          }
          const attempts = state.attempts + 1;
          states.set(address, { kind: 'trying', attempts, code, reason });
          if (done()) return;
          const boundMs = Math.min(maxMs, baseMs * 2 ** Math.min(attempts, 20));
          const waitMs = Math.min(c.random() * boundMs, Math.max(0, deadlineMs - c.now()));
          if (attempts === 1 || attempts % 10 === 0) {
            c.log.info({ seed: address, code, reason, attempts }, 'seed not answering yet; retrying');
          }
          await c.sleep(waitMs);
          if (done()) return;
        }
      }
    }),
  );

  const seeds: SeedSearchResult['seeds'] = [];
  const failed: SeedSearchResult['failed'] = [];
  for (const [address, s] of states) {
    if (s.kind === 'answered') seeds.push({ address, id: s.id });
    else if (s.kind === 'trying' || s.kind === 'refused')
      failed.push({ address, code: s.code, reason: s.reason });
  }
  const others = addresses.filter((a) => states.get(a)?.kind !== 'self');
  if (seeds.length === 0 && others.length > 0) {
    const list = failed.map((f) => `${f.address} (${f.code}: ${f.reason})`).join('; ');
    if (failed.every((f) => REFUSALS.has(f.code))) {
      throw new RuntimeError(
        'JOIN_REFUSED',
        `every seed refused this node: ${list}. Every node needs the same cluster secret ` +
          '(--secret, ARPEGGIO_SECRET or the config file) and cluster name, and with TLS a ' +
          'certificate signed by the CA the others trust (--tls-ca)',
      );
    }
    throw new RuntimeError(
      'JOIN_FAILED',
      `no seed answered within ${init.timeoutMs} ms: ${list}. Check the --join addresses and that ` +
        'those nodes run',
    );
  }
  for (const f of failed) c.log.warn(f, 'seed did not answer; joining through the others');
  return { seeds, failed };
}
