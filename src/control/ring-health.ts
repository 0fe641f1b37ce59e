/**
 * When is a cluster settled? A pure judgement over what every node says about itself
 * (`NodeHostStatus`, e.g. from `ARPEGGIO.STATUS`), so that a manager can poll until it holds and
 * say, meanwhile, what it is waiting for.
 *
 * Settled means: every expected node answers, runs and is ready; each is `normal` (not joining or
 * leaving), with no handoff in progress and no membership change pending; each one's ring is
 * exactly the expected nodes (one ring view everywhere); and each sees every other one `alive` and
 * advertising `normal`. Then a write reaches the same N replicas whichever node coordinates it.
 */
import { distance, RING_SIZE } from '../core/id.js';
import { Ring } from '../core/ring.js';
import type { NodeHostStatus } from '../runtime/node-host.js';

/** What one node said, or why it said nothing. */
export interface NodeObservation {
  id: string;
  status: NodeHostStatus | null;
  /** Why there is no status: not running, no answer, … */
  error?: string;
}

export interface RingVerdict {
  settled: boolean;
  /** When settled, a summary; otherwise the first thing still awaited, for a progress line. */
  reason: string;
}

export function ringVerdict(expected: readonly string[], observed: readonly NodeObservation[]): RingVerdict {
  const wanted = [...expected].sort();
  const byId = new Map(observed.map((o) => [o.id, o]));
  const waiting = (reason: string): RingVerdict => ({ settled: false, reason });
  if (wanted.length === 0) return waiting('no node to wait for');
  const statuses = new Map<string, { status: NodeHostStatus; core: NonNullable<NodeHostStatus['core']> }>();
  for (const id of wanted) {
    const o = byId.get(id);
    if (o?.status == null) return waiting(`${id} does not answer${o?.error ? ` (${o.error})` : ''}`);
    const s = o.status;
    if (s.state !== 'running') return waiting(`${id} is ${s.state}`);
    if (!s.ready || s.core === null) return waiting(`${id} is not ready yet (joining the ring)`);
    statuses.set(id, { status: s, core: s.core });
  }
  for (const [id, { core }] of statuses) {
    if (core.status !== 'normal') {
      const h = core.handoff;
      const progress = h
        ? `handing ranges over: ${h.rangesTotal - h.rangesLeft}/${h.rangesTotal} done`
        : 'waiting for the others to hear of it';
      return waiting(`${id} is ${core.status} (${progress})`);
    }
    if (core.handoff !== null) return waiting(`${id} is finishing a handoff`);
    if (core.pendingJoins.length > 0) return waiting(`${id} sees ${core.pendingJoins.join(', ')} joining`);
    if (core.pendingLeaves.length > 0) return waiting(`${id} sees ${core.pendingLeaves.join(', ')} leaving`);
    const ring = [...core.ringMembers].sort();
    if (ring.join(',') !== wanted.join(',')) {
      return waiting(`${id}'s ring is [${ring.join(', ')}], not yet [${wanted.join(', ')}]`);
    }
  }
  for (const [id, { status }] of statuses) {
    const members = status.members;
    for (const other of wanted) {
      if (other === id) continue;
      const m = members.find((x) => x.id === other);
      if (m === undefined) return waiting(`${id} has not heard of ${other} yet`);
      if (m.state !== 'alive') return waiting(`${id} sees ${other} as ${m.state}`);
      const advertised = m.meta.status ?? 'normal';
      if (advertised !== 'normal') return waiting(`${id} still sees ${other} as ${advertised}`);
    }
  }
  const n = wanted.length;
  return { settled: true, reason: `${n} node${n === 1 ? '' : 's'}, all normal, one ring view` };
}

// ---- the member table of `arpeggio cluster status` ------------------------------------------

/** One member as an operator sees it: what it runs, holds, owns and carries, and its breakers. */
export interface MemberRow {
  member: string;
  /** Membership status when it answers (normal, joining, leaving), else why not (stopped, …). */
  state: string;
  /** Records the member stores (its replicas' keys, uncollected tombstones too); null: unknown. */
  keys: number | null;
  /** Ranges it owns as primary on the ring (one per virtual node) and their share of the circle. */
  rangesOwned: number;
  ringShare: number;
  /** Client requests started per second (last ten seconds) and in flight; null: unknown. */
  requestsPerSecond: number | null;
  inflight: number | null;
  /** Its circuit breakers toward peers that are not closed (open or half-open). */
  breakers: Record<string, 'open' | 'half-open'>;
}

/** A member's process as the manager knows it, beside what the member says of itself. */
export interface MemberObservation extends NodeObservation {
  /** running, stopped, left… (what the manager knows without asking the node). */
  process?: string;
}

/**
 * The rows of the member table, one per observed member, in the order given. Ranges come from the
 * ring of the first member that answers (every member's, once the ring has settled).
 */
export function memberRows(observed: readonly MemberObservation[]): MemberRow[] {
  const core = observed.find((o) => o.status?.core)?.status?.core ?? null;
  const ring = core ? Ring.fromMembers(core.ringMembers, core.vnodesPerNode) : null;
  return observed.map((o) => {
    const c = o.status?.core ?? null;
    const owned = ring?.ownedRanges(o.id) ?? [];
    const span = owned.reduce(
      (sum, r) =>
        sum + (r.startExclusive === r.endInclusive ? RING_SIZE : distance(r.startExclusive, r.endInclusive)),
      0,
    );
    const breakers: Record<string, 'open' | 'half-open'> = {};
    for (const [peer, state] of Object.entries(c?.breakers ?? {}))
      if (state !== 'closed') breakers[peer] = state;
    const state =
      o.process !== undefined && o.process !== 'running'
        ? o.process
        : o.status == null
          ? o.error
            ? `no answer (${o.error})`
            : 'no answer'
          : c === null || !o.status.ready
            ? `${o.status.state}, not ready`
            : o.status.state !== 'running'
              ? o.status.state
              : c.status;
    return {
      member: o.id,
      state,
      keys: c?.storedRecords ?? null,
      rangesOwned: owned.length,
      ringShare: span / RING_SIZE,
      requestsPerSecond: c?.requestsPerSecond ?? null,
      inflight: c?.inflightRequests ?? null,
      breakers,
    };
  });
}

/** The member table as aligned text lines: member, state, keys, ranges, load, breakers. */
export function renderMemberTable(rows: readonly MemberRow[]): string[] {
  const cells = [
    ['member', 'state', 'keys', 'ranges', 'load', 'breakers'],
    ...rows.map((r) => [
      r.member,
      r.state,
      r.keys === null ? '-' : String(r.keys),
      r.rangesOwned === 0 ? '-' : `${r.rangesOwned} (${(r.ringShare * 100).toFixed(1)}%)`,
      r.requestsPerSecond === null
        ? '-'
        : `${formatRate(r.requestsPerSecond)}/s, ${r.inflight ?? 0} in flight`,
      Object.keys(r.breakers).length === 0
        ? r.keys === null
          ? '-'
          : 'all closed'
        : Object.entries(r.breakers)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([peer, state]) => `${peer} ${state}`)
            .join(', '),
    ]),
  ];
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => `  ${row.map((cell, c) => cell.padEnd(widths[c])).join('   ')}`.trimEnd());
}

function formatRate(perSecond: number): string {
  return perSecond >= 100 ? String(Math.round(perSecond)) : perSecond.toFixed(1);
}
