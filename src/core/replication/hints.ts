/**
 * Hinted handoff (Dynamo §4.6): a node that stood in for an unreachable replica holds the write
 * in its `hints` table, and hands it back once the replica is healthy again. A hint is deleted
 * only after it was acknowledged, and only if no newer version replaced it while it travelled.
 * Hints for a node that has left the ring for good go to the key's current replicas instead.
 */
import type { StepOverlay } from '../overlay.js';
import type { Placement } from '../placement.js';
import type { KvRecord } from '../record.js';
import { splitDataKey } from '../record.js';
import type { CallId } from '../rpc/messages.js';
import type { NodeId } from '../types.js';
import type { ReplicaRequest } from './messages.js';
import { hintRange } from './replica.js';

export interface HintedHandoffComponents {
  store: StepOverlay;
  placement: Pick<Placement, 'has' | 'pendingJoins' | 'replicas'>;
  isHealthy: (node: NodeId) => boolean;
  /** Sends a replica request (idempotent) and returns its call id. */
  call: (to: NodeId, req: ReplicaRequest) => CallId;
  /** A hint reached everyone it had to reach and was deleted. */
  delivered: () => void;
}

export interface HintedHandoffInit {
  /** How often a node tries to hand hints back (a new round starts at once after a good one). */
  intervalMs: number;
  /** Hints sent per target per round (bounds the burst after a long outage). */
  batchSize: number;
}

interface Delivery {
  key: Uint8Array;
  record: KvRecord;
  /** Recipients that have not answered yet. */
  pending: number;
  failed: boolean;
}

export class HintedHandoff {
  private readonly inFlight = new Map<CallId, Delivery>();
  private nextRoundMs = 0;

  constructor(
    private readonly c: HintedHandoffComponents,
    private readonly init: HintedHandoffInit,
  ) {}

  /** Starts a round when one is due and none is in flight. */
  tick(nowMs: number): void {
    if (nowMs < this.nextRoundMs) return;
    this.nextRoundMs = nowMs + this.init.intervalMs;
    if (this.inFlight.size > 0) return; // one round at a time
    for (const target of this.targets()) {
      const departed = !this.c.placement.has(target) && !this.c.placement.pendingJoins().includes(target);
      if (!departed && !this.c.isHealthy(target)) continue;
      const range = hintRange(target);
      const hints = this.c.store.scan<KvRecord>('hints', { ...range, limit: this.init.batchSize });
      for (const h of hints) {
        const { id, userKey } = splitDataKey(h.key.subarray(range.start.length));
        const recipients = departed ? this.c.placement.replicas(id) : [target];
        if (recipients.length === 0 || !recipients.every((r) => this.c.isHealthy(r))) continue;
        const delivery: Delivery = { key: h.key, record: h.value, pending: recipients.length, failed: false };
        for (const r of recipients) {
          this.inFlight.set(this.c.call(r, { op: 'write', key: userKey.slice(), record: h.value }), delivery);
        }
      }
    }
  }

  owns(callId: CallId): boolean {
    return this.inFlight.has(callId);
  }

  /** A delivery call ended; the hint goes once every recipient acknowledged it. */
  onAnswer(callId: CallId, ok: boolean, nowMs: number): void {
    const d = this.inFlight.get(callId);
    if (!d) return;
    this.inFlight.delete(callId);
    // The round is over: start the next one at the next tick rather than after a whole interval.
    if (this.inFlight.size === 0 && ok) this.nextRoundMs = nowMs;
    d.pending--;
    if (!ok) d.failed = true;
    if (d.pending > 0 || d.failed) return;
    const now = this.c.store.get<KvRecord>('hints', d.key);
    if (now && now.hlc === d.record.hlc && now.writer === d.record.writer) {
      this.c.store.put('hints', d.key, null);
      this.c.delivered();
    }
  }

  /** The nodes this node holds hints for, read from the hints table itself. */
  private targets(): NodeId[] {
    const targets: NodeId[] = [];
    const decoder = new TextDecoder();
    let start: Uint8Array | undefined;
    for (;;) {
      const [first] = this.c.store.scan<KvRecord>('hints', { start, limit: 1 });
      if (!first) break;
      const name = decoder.decode(first.key.subarray(0, first.key.indexOf(0)));
      targets.push(name);
      start = hintRange(name).end;
    }
    return targets;
  }
}
