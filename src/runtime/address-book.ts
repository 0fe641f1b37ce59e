/**
 * Where each node listens for peers: the transport asks it when it must dial a node id.
 *
 * Three sources, best first: the members' advertised `meta.peer` (what SWIM says now, read live
 * at every dial, so a member that restarted on another port is dialled at its new address at
 * once), the addresses at which seeds answered during this start, and the book persisted in the
 * `meta` table by earlier runs. The last one lets a restarted node reach the members its persisted ring
 * names before anyone gossips to it, even when it is started without `--join`.
 *
 * The persisted book is a hint, not state the protocol depends on: it is written straight to the
 * store, outside the Ready path, and a lost update costs only a slower rejoin.
 */
import type { NodeStore } from '../adapters/storage/types.js';
import type { Member } from '../core/membership/types.js';
import type { NodeId } from '../core/types.js';

export const PEER_ADDRESSES_KEY = new TextEncoder().encode('peer-addresses');

export class AddressBook {
  private readonly fromMembers = new Map<NodeId, string>();
  private readonly learned = new Map<NodeId, string>();
  private persisted: Record<NodeId, string>;
  private live: (id: NodeId) => Member | undefined = () => undefined;

  constructor(
    private readonly store: Pick<NodeStore, 'get' | 'apply'>,
    private readonly self: NodeId,
  ) {
    const stored = store.get<Record<NodeId, string>>('meta', PEER_ADDRESSES_KEY);
    this.persisted = stored !== undefined && typeof stored === 'object' ? { ...stored } : {};
  }

  /** Where the live membership view comes from, once the node runs. */
  attach(member: (id: NodeId) => Member | undefined): void {
    this.live = member;
  }

  addressOf(id: NodeId): string | undefined {
    if (id === this.self) return undefined;
    const peer = this.live(id)?.meta.peer;
    if (typeof peer === 'string') return peer;
    return this.fromMembers.get(id) ?? this.learned.get(id) ?? this.persisted[id];
  }

  /** A seed answered at `address`. */
  learn(id: NodeId, address: string): void {
    this.learned.set(id, address);
  }

  /**
   * Takes the members' advertised addresses and persists the book when it changed. Members that
   * are gone (dead, left) keep their last address: the ring may still name them.
   */
  update(members: readonly Member[]): void {
    for (const m of members) {
      const peer = m.meta.peer;
      if (m.id !== this.self && typeof peer === 'string') this.fromMembers.set(m.id, peer);
    }
    const next: Record<NodeId, string> = { ...this.persisted };
    for (const [id, address] of [...this.learned, ...this.fromMembers]) next[id] = address;
    if (sameBook(next, this.persisted)) return;
    this.persisted = next;
    this.store.apply([{ table: 'meta', key: PEER_ADDRESSES_KEY, value: next }]);
  }

  /** Every known address, best source first (for status pages). */
  entries(): Record<NodeId, string> {
    const out: Record<NodeId, string> = { ...this.persisted };
    for (const [id, address] of [...this.learned, ...this.fromMembers]) out[id] = address;
    return out;
  }
}

function sameBook(a: Record<NodeId, string>, b: Record<NodeId, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
