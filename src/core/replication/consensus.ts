/**
 * Linearizable single-key operations through per-key consensus: CASPaxos (Rystsov, 2018), the
 * register form of single-decree Paxos that Cassandra's lightweight transactions resemble.
 *
 * Every operation, reads included, is a function f applied to the key's current record:
 *   1. prepare(b) to the key's N natural replicas; a majority promises never to accept a ballot
 *      below b and reports the record it holds and the ballot it last accepted;
 *   2. the current record is the one with the highest ballot among the answers (ballot order and
 *      last-writer-wins order agree, because an accepted record carries its ballot as timestamp);
 *   3. accept(b, f(current)) to the replicas; a majority accepting makes it chosen.
 * Ballots never depend on clocks for safety: acceptors only compare them. A read may skip phase
 * 3 when every answer reports the same accepted ballot, since then a majority accepted it and it
 * is already chosen; a read that skips it otherwise (the `read-without-write-back` bug) can
 * return a value that a later read contradicts.
 *
 * The quorum is strict: the N natural replicas, never sloppy substitutes, so any two majorities
 * meet. A retry after a partial accept never applies f twice: if the current record's history
 * already holds our earlier proposal, the operation took effect and only its result is returned.
 * For that check to be sound the coordinator must run at most one consensus operation per key at
 * a time (it queues the others).
 */
import { type KvRecord, laterVersion } from '../record.js';
import type { CallId } from '../rpc/messages.js';
import type { NodeId } from '../types.js';
import type { VersionVector } from '../version-vector.js';
import { type Ballot, compareBallots, type KvReply, kvError, type ReplicaResponse } from './messages.js';
import type { CallResult, Operation, OperationIo } from './operation.js';

/** What f decides: the record to make current (or no change) and the client's reply. */
export interface Transition {
  next: KvRecord | 'unchanged';
  reply: KvReply;
}

/** The timestamp, writer and causal history a record written with this ballot must carry. */
export interface Stamp {
  hlc: number;
  writer: NodeId;
  vv: VersionVector;
  chain: string[];
}

/** How many proposal ballots a record remembers (see `KvRecord.chain`). */
export const CHAIN_LENGTH = 16;

export function ballotId(b: Ballot): string {
  return `${b.n}@${b.node}`;
}

/** Who takes part in a ballot, how many must answer, and the ring view it is made under. */
export interface ConsensusPlan {
  replicas: NodeId[];
  quorum: number;
  ring?: string;
}

export interface ConsensusInit {
  key: Uint8Array;
  /** Asked afresh at every ballot, so a retry follows a membership change. */
  plan: () => ConsensusPlan;
  deadlineMs: number;
  /** The next ballot to try: above `seen` and above every ballot this node issued. */
  nextBallot: (seen: Ballot | null) => Ballot;
  /** f: the operation, applied to the current record (null: the key never existed). */
  transition: (current: KvRecord | null, stamp: Stamp) => Transition;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Deliberately broken variant: reads answer after phase 1 without making their value chosen. */
  readWithoutWriteBack: boolean;
}

type Phase = 'prepare' | 'accept' | 'backoff' | 'done';

type PrepareAnswer = Extract<ReplicaResponse, { op: 'prepare' }>;

export class ConsensusOperation implements Operation {
  finished = false;
  private phase: Phase = 'prepare';
  private ballot: Ballot | null = null;
  private highestSeen: Ballot | null = null;
  private round = new Set<CallId>();
  private promises = new Map<NodeId, PrepareAnswer>();
  private accepts = 0;
  private refusals = 0;
  private failures = 0;
  private attempts = 0;
  private retryAtMs = 0;
  private acceptSent = false;
  private contention = false;
  /**
   * Every proposal this operation made, by ballot id, with the reply it would give. If any of
   * them is in the current record's history, f already ran (a later round may have proposed
   * again without seeing an earlier proposal that then won after all).
   */
  private readonly proposals = new Map<string, { ballot: Ballot; reply: KvReply }>();
  private pendingReply: KvReply | null = null;

  constructor(private readonly init: ConsensusInit) {}

  private plan: ConsensusPlan = { replicas: [], quorum: 1 };

  private get quorum(): number {
    return this.plan.quorum;
  }

  start(io: OperationIo): void {
    this.beginPrepare(io);
  }

  private beginPrepare(io: OperationIo): void {
    this.attempts++;
    this.phase = 'prepare';
    this.ballot = this.init.nextBallot(this.highestSeen);
    this.plan = this.init.plan();
    this.resetRound();
    if (this.plan.replicas.length < this.plan.quorum) {
      this.backoff(io);
      return;
    }
    for (const node of this.plan.replicas) {
      this.round.add(
        io.call(node, { op: 'prepare', key: this.init.key, ballot: this.ballot, ring: this.plan.ring }),
      );
    }
  }

  private resetRound(): void {
    this.round = new Set();
    this.promises = new Map();
    this.accepts = 0;
    this.refusals = 0;
    this.failures = 0;
  }

  onResult(callId: CallId, from: NodeId, result: CallResult, io: OperationIo): void {
    if (this.finished || !this.round.delete(callId)) return; // an answer from an abandoned round
    if (!result.ok) this.failures++;
    else {
      const res = result.response;
      if (res.op === 'prepare' && this.phase === 'prepare') {
        if (res.promised) this.promises.set(from, res);
        else this.refuse(res.highest);
      } else if (res.op === 'accept' && this.phase === 'accept') {
        if (res.accepted) this.accepts++;
        else this.refuse(res.highest);
      }
    }
    if (this.phase === 'prepare' && this.promises.size >= this.quorum) {
      this.decide(io);
      return;
    }
    if (this.phase === 'accept' && this.accepts >= this.quorum) {
      this.done(io, this.pendingReply as KvReply);
      return;
    }
    const stillPossible = this.plan.replicas.length - this.refusals - this.failures;
    const have = this.phase === 'prepare' ? this.promises.size : this.accepts;
    if (stillPossible < this.quorum && have < this.quorum) this.backoff(io);
  }

  private refuse(highest: Ballot | null): void {
    this.refusals++;
    this.contention = true;
    if (compareBallots(highest, this.highestSeen) > 0) this.highestSeen = highest;
  }

  /** Phase 2: pick the current record, apply f, propose the result (or skip when already chosen). */
  private decide(io: OperationIo): void {
    const ballot = this.ballot as Ballot;
    const answers = [...this.promises.values()];
    // The current record is the one with the highest ballot (= highest timestamp). Its own
    // causal history is kept, not merged with the losers': the check below that asks whether our
    // earlier proposal is already in the history must follow the chain of proposals that won.
    let current: KvRecord | null = null;
    for (const a of answers) {
      if (a.record && (!current || laterVersion(a.record, current) === a.record)) current = a.record;
    }
    const highestAccepted = answers.reduce<Ballot | null>(
      (m, a) => (compareBallots(a.accepted, m) > 0 ? a.accepted : m),
      null,
    );
    // Every answer reports the same accepted ballot and holds that ballot's record: a majority
    // accepted it, so it is chosen and may be returned without another round.
    const chosen = answers.every(
      (a) =>
        compareBallots(a.accepted, highestAccepted) === 0 &&
        (highestAccepted === null ||
          (a.record?.hlc === highestAccepted.n && a.record?.writer === highestAccepted.node)),
    );
    const chain = [...(current?.chain ?? []).slice(-(CHAIN_LENGTH - 1)), ballotId(ballot)];
    const stamp: Stamp = {
      hlc: ballot.n,
      writer: ballot.node,
      vv: { ...current?.vv, [ballot.node]: ballot.n },
      chain,
    };

    // Did an earlier round of this operation already make its proposal part of the history? The
    // proposals that led to the current record are listed in its chain. If ours is there, f ran;
    // if the chain is too short to tell (more proposals than it remembers came after ours), the
    // outcome is unknown and we must say so rather than apply f a second time.
    let transition: Transition;
    const history = current?.chain ?? [];
    const ours = [...history].reverse().find((id) => this.proposals.has(id));
    const oldestOurs = [...this.proposals.values()][0]?.ballot;
    if (ours !== undefined) {
      transition = { next: 'unchanged', reply: (this.proposals.get(ours) as { reply: KvReply }).reply };
    } else if (oldestOurs && history.length >= CHAIN_LENGTH && olderThanChain(oldestOurs, history)) {
      this.done(
        io,
        kvError(
          'CONTENTION',
          false,
          'too many competing proposals to tell whether this operation took effect',
        ),
      );
      return;
    } else {
      transition = this.init.transition(current, stamp);
    }
    if (transition.next === 'unchanged' && (chosen || this.init.readWithoutWriteBack)) {
      this.done(io, transition.reply);
      return;
    }
    const next: KvRecord =
      transition.next === 'unchanged'
        ? restamp(current, stamp)
        : { value: transition.next.value, expiresAtMs: transition.next.expiresAtMs, ...stamp };
    if (transition.next !== 'unchanged')
      this.proposals.set(ballotId(ballot), { ballot, reply: transition.reply });
    this.pendingReply = transition.reply;
    this.phase = 'accept';
    this.acceptSent = true;
    this.resetRound();
    for (const node of this.plan.replicas) {
      this.round.add(
        io.call(node, { op: 'accept', key: this.init.key, ballot, record: next, ring: this.plan.ring }),
      );
    }
  }

  private backoff(io: OperationIo): void {
    for (const id of this.round) io.cancel(id);
    this.round = new Set();
    this.phase = 'backoff';
    const capMs = Math.min(
      this.init.backoffMaxMs,
      this.init.backoffBaseMs * 2 ** Math.min(this.attempts, 20),
    );
    this.retryAtMs = io.nowMs + io.random.next() * capMs; // full jitter: dueling proposers drift apart
  }

  onTick(io: OperationIo): void {
    if (this.finished) return;
    if (io.nowMs >= this.init.deadlineMs) {
      const definite = !this.acceptSent;
      const code = this.contention ? 'CONTENTION' : 'TIMEOUT';
      const what = definite ? 'nothing was written' : 'the operation may have taken effect';
      this.done(
        io,
        kvError(code, definite, `no consensus before the deadline after ${this.attempts} ballots; ${what}`),
      );
      return;
    }
    if (this.phase === 'backoff' && io.nowMs >= this.retryAtMs) this.beginPrepare(io);
  }

  private done(io: OperationIo, reply: KvReply): void {
    for (const id of this.round) io.cancel(id);
    this.round = new Set();
    this.phase = 'done';
    this.finished = true;
    io.reply(reply);
  }
}

/**
 * One transition that runs `members` in order, each on the record the ones before it left (all
 * under the same stamp: only the last state is proposed), and replies `batch`: each member's
 * reply. Unchanged when none of them changed anything (a batch of reads).
 */
export function batchTransition(
  members: ReadonlyArray<ConsensusInit['transition']>,
): ConsensusInit['transition'] {
  return (current, stamp) => {
    let state = current;
    let changed = false;
    const replies: KvReply[] = [];
    for (const member of members) {
      const t = member(state, stamp);
      replies.push(t.reply);
      if (t.next !== 'unchanged') {
        state = { value: t.next.value, expiresAtMs: t.next.expiresAtMs, ...stamp };
        changed = true;
      }
    }
    return { next: changed ? (state as KvRecord) : 'unchanged', reply: { ok: true, batch: replies } };
  };
}

/** Whether ballot b is older than every ballot in the chain (so it would have been listed). */
function olderThanChain(b: Ballot, chain: string[]): boolean {
  const oldest = chain[0];
  const at = oldest.lastIndexOf('@');
  const n = Number(oldest.slice(0, at));
  return compareBallots(b, { n, node: oldest.slice(at + 1) }) < 0;
}

/** The same value written again under a new ballot (a read's write-back). */
function restamp(current: KvRecord | null, stamp: Stamp): KvRecord {
  if (!current) return { value: null, expiresAtMs: 0, ...stamp };
  return { value: current.value, expiresAtMs: current.expiresAtMs, ...stamp };
}
