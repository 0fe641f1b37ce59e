/**
 * Dynamo-style quorum reads and writes. A key's replicas are the first N healthy nodes clockwise
 * from it (a sloppy quorum: a node standing in for an unreachable one holds the write as a hint
 * for it). A write succeeds once W replicas hold it durably; a read once R replicas answered. With
 * R + W > N on the same N nodes, every read quorum meets every write quorum.
 */
import { type ConflictMode, isAbsent, type KvRecord, reconcile, versionsOf } from '../record.js';
import type { CallId } from '../rpc/messages.js';
import type { NodeId } from '../types.js';
import { descends } from '../version-vector.js';
import { type CausalContext, type KvReply, kvError } from './messages.js';
import type { CallResult, Operation, OperationIo } from './operation.js';

/** A replica to ask, and for whom it stands in when it is a sloppy-quorum substitute. */
export interface Target {
  node: NodeId;
  hintFor?: NodeId;
  /** A replica outside the natural N during a membership change: it must answer itself. */
  extra?: boolean;
}

interface Tally {
  acks: number;
  outstanding: Set<CallId>;
  /** Every failed call was definite (not applied). */
  failuresDefinite: boolean;
  failures: number;
}

function newTally(): Tally {
  return { acks: 0, outstanding: new Set(), failuresDefinite: true, failures: 0 };
}

export interface QuorumWriteInit {
  key: Uint8Array;
  record: KvRecord;
  targets: Target[];
  /**
   * Healthy nodes beyond the targets, in ring order: when a call to a natural replica (or its
   * substitute) fails, the next spare takes the write as a hint for that replica, so a node that
   * died a moment ago — before the failure detector noticed — costs latency, not the write.
   */
  spares?: NodeId[];
  required: number;
  deadlineMs: number;
  /** The reply on success (set, del and their variants answer differently). */
  success: KvReply;
}

export class QuorumWrite implements Operation {
  finished = false;
  private replied = false;
  private readonly tally = newTally();
  private readonly callTargets = new Map<CallId, Target>();

  constructor(private readonly init: QuorumWriteInit) {}

  start(io: OperationIo): void {
    const { targets, required, key, record } = this.init;
    if (targets.length < required) {
      this.finish(
        io,
        kvError('QUORUM_UNAVAILABLE', true, `${targets.length} healthy replicas, ${required} needed`),
      );
      return;
    }
    for (const t of targets) {
      const id = io.call(t.node, { op: 'write', key, record, hintFor: t.hintFor });
      this.tally.outstanding.add(id);
      this.callTargets.set(id, t);
    }
  }

  onResult(callId: CallId, _from: NodeId, result: CallResult, io: OperationIo): void {
    if (!this.tally.outstanding.delete(callId)) return;
    if (result.ok) this.tally.acks++;
    else {
      this.tally.failures++;
      if (!result.error.definite) this.tally.failuresDefinite = false;
      const failed = this.callTargets.get(callId) as Target;
      const spare = this.replied ? undefined : this.init.spares?.shift();
      if (spare !== undefined && !failed.extra) {
        const stand: Target = { node: spare, hintFor: failed.hintFor ?? failed.node };
        const id = io.call(spare, {
          op: 'write',
          key: this.init.key,
          record: this.init.record,
          hintFor: stand.hintFor,
        });
        this.tally.outstanding.add(id);
        this.callTargets.set(id, stand);
      }
    }
    if (!this.replied) {
      if (this.tally.acks >= this.init.required) this.respond(io, this.init.success);
      else if (this.tally.acks + this.tally.outstanding.size < this.init.required) {
        // An unreachable quorum: definite only if no replica can have applied the write.
        const definite = this.tally.acks === 0 && this.tally.failuresDefinite;
        this.respond(
          io,
          definite
            ? kvError(
                'QUORUM_UNAVAILABLE',
                true,
                `${this.tally.failures} replicas refused; nothing was written`,
              )
            : kvError(
                'TIMEOUT',
                false,
                `${this.tally.acks} of ${this.init.required} acknowledgements; the write may have been applied`,
              ),
        );
      }
    }
    if (this.tally.outstanding.size === 0) this.finished = true;
  }

  onTick(io: OperationIo): void {
    if (io.nowMs < this.init.deadlineMs) return;
    if (!this.replied) {
      this.respond(
        io,
        kvError(
          'TIMEOUT',
          false,
          `${this.tally.acks} of ${this.init.required} acknowledgements before the deadline; the write may have been applied`,
        ),
      );
    }
    for (const id of this.tally.outstanding) io.cancel(id);
    this.tally.outstanding.clear();
    this.finished = true;
  }

  private respond(io: OperationIo, reply: KvReply): void {
    this.replied = true;
    io.reply(reply);
  }

  private finish(io: OperationIo, reply: KvReply): void {
    this.respond(io, reply);
    this.finished = true;
  }
}

export interface QuorumReadInit {
  key: Uint8Array;
  targets: Target[];
  required: number;
  deadlineMs: number;
  /** Session level: the reply must reflect at least this causal history. */
  context?: CausalContext;
  conflictMode: ConflictMode;
  /** After replying, how long to wait for the other replicas' answers to repair them. */
  readRepairWindowMs: number;
  /** Deliberately broken variant for campaigns: no read repair. */
  readRepair: boolean;
}

interface ReadAnswer {
  target: Target;
  record: KvRecord | null;
}

export class QuorumRead implements Operation {
  finished = false;
  private replied = false;
  private repairDeadlineMs = Number.POSITIVE_INFINITY;
  private readonly tally = newTally();
  private readonly callTargets = new Map<CallId, Target>();
  private readonly answers: ReadAnswer[] = [];
  private emptySubstitutes = 0;

  constructor(private readonly init: QuorumReadInit) {}

  start(io: OperationIo): void {
    const { targets, required, key } = this.init;
    if (targets.length < required) {
      this.replied = true;
      this.finished = true;
      io.reply(kvError('QUORUM_UNAVAILABLE', true, `${targets.length} healthy replicas, ${required} needed`));
      return;
    }
    for (const t of targets) {
      const id = io.call(t.node, { op: 'read', key, hintFor: t.hintFor });
      this.tally.outstanding.add(id);
      this.callTargets.set(id, t);
    }
  }

  onResult(callId: CallId, _from: NodeId, result: CallResult, io: OperationIo): void {
    if (!this.tally.outstanding.delete(callId)) return;
    const target = this.callTargets.get(callId) as Target;
    if (result.ok && result.response.op === 'read') {
      // A substitute knows only the writes it took while the replica was away: its "nothing
      // here" says nothing about the key, so it does not count toward R unless nothing else can.
      if (target.hintFor !== undefined && result.response.record === null) this.emptySubstitutes++;
      else this.tally.acks++;
      this.answers.push({ target, record: result.response.record });
    } else {
      this.tally.failures++;
    }
    if (!this.replied) this.tryReply(io);
    if (this.tally.outstanding.size === 0) this.complete(io);
  }

  onTick(io: OperationIo): void {
    if (!this.replied && io.nowMs >= this.init.deadlineMs) {
      this.replied = true;
      io.reply(
        kvError(
          'TIMEOUT',
          true,
          `${this.tally.acks} of ${this.init.required} replicas answered before the deadline`,
        ),
      );
    }
    if (io.nowMs >= this.init.deadlineMs || io.nowMs >= this.repairDeadlineMs) {
      for (const id of this.tally.outstanding) io.cancel(id);
      this.tally.outstanding.clear();
      this.complete(io);
    }
  }

  private merged(): KvRecord | null {
    let out: KvRecord | null = null;
    for (const a of this.answers) {
      if (a.record) out = out ? reconcile(out, a.record, this.init.conflictMode) : a.record;
    }
    return out;
  }

  private tryReply(io: OperationIo): void {
    const enough = this.tally.acks >= this.init.required;
    const ctx = this.init.context;
    const record = this.merged();
    const causal =
      !ctx || (record !== null && descends(record.vv, ctx.vv)) || Object.keys(ctx.vv).length === 0;
    if (enough && causal) {
      this.replied = true;
      this.repairDeadlineMs = io.nowMs + this.init.readRepairWindowMs;
      io.reply(readReply(record, io.nowMs));
      return;
    }
    if (this.tally.outstanding.size === 0) {
      this.replied = true;
      if (!enough && causal && this.tally.acks + this.emptySubstitutes >= this.init.required) {
        // Everyone answered; the empty substitutes are all there is to count.
        this.repairDeadlineMs = io.nowMs + this.init.readRepairWindowMs;
        io.reply(readReply(record, io.nowMs));
        return;
      }
      io.reply(
        enough
          ? kvError('QUORUM_UNAVAILABLE', true, 'no reachable replica has seen this session’s writes yet')
          : kvError(
              'QUORUM_UNAVAILABLE',
              true,
              `${this.tally.acks} of ${this.init.required} replicas answered`,
            ),
      );
    }
  }

  /** Read repair: replicas that answered with an older version get the merged one. */
  private complete(io: OperationIo): void {
    if (this.finished) return;
    this.finished = true;
    const final = this.merged();
    if (!final || !this.init.readRepair) return;
    for (const a of this.answers) {
      if (a.record && descends(a.record.vv, final.vv) && a.record.hlc === final.hlc) continue;
      io.call(
        a.target.node,
        { op: 'write', key: this.init.key, record: final, hintFor: a.target.hintFor },
        { maxAttempts: 1 },
      );
    }
  }
}

/** The client's view of a record: its value (null when absent), siblings, and causal context. */
export function readReply(record: KvRecord | null, nowMs: number): KvReply {
  if (!record) return { ok: true, value: null, context: { vv: {} } };
  const context = { vv: record.vv };
  const live = versionsOf(record).filter(
    (v) => v.value !== null && (v.expiresAtMs === 0 || v.expiresAtMs > nowMs),
  );
  if (record.siblings && live.length > 1) {
    return { ok: true, value: live[0].value, siblings: live.map((v) => v.value as Uint8Array), context };
  }
  return { ok: true, value: isAbsent(record, nowMs) ? null : record.value, context };
}
