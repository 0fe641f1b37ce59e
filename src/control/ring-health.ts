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
