/**
 * Listing the keyspace across the cluster: SCAN, KEYS and DBSIZE (docs/REPLICATION.md, "Listing
 * the keyspace").
 *
 * Stored keys sort by ring position (`dataKey`), so the keyspace is one circle of positions
 * [0, 2^48) and a cursor is simply a position. A scan walks the circle in *segments*: a segment is
 * the part of one ring range (predecessor, vnode] from the cursor to the range's end, cut at the
 * top of the circle so that it never wraps. All the keys of a segment live on the same N replicas.
 *
 * One step of a scan, coordinated by any node:
 * 1. find the segment that holds the cursor, under the coordinator's current ring;
 * 2. ask R of its replicas (`scan-range`) for the records they hold from the cursor on, at most
 *    about COUNT of them; each answers where it stopped (never inside one ring position);
 * 3. keep the records below the smallest stopping point, reconcile each key's versions across the
 *    replicas (the same `reconcile` as reads), and list the keys whose merged record is live: a
 *    replica that missed a write does not hide the key, one that missed a deletion does not bring
 *    it back, and expired values are left out;
 * 4. the cursor moves to that stopping point, and 0 ("done") once it passes the top of the circle.
 *
 * Why it keeps Redis's promise (a full iteration returns every key that existed throughout it):
 * cursors only grow and every step covers [cursor, next) completely on R replicas; a key present
 * throughout was acknowledged by W replicas of its range, and R + W > N makes the two sets meet.
 * Because a cursor is a ring position and not a vnode or a node, it stays meaningful when the ring
 * changes between steps; a range that moved is read from its new replicas.
 *
 * Replicas send records without their values (`digestOf`): reconciliation needs only the version
 * metadata, and a page of keys stays small however large the values are.
 *
 * DBSIZE counts live keys on ONE replica per segment (`count-range`, every segment at once, grouped
 * by replica): an estimate, exact when the replicas agree (see the docs for when they do not).
 */
import { identifierOf, RING_SIZE } from '../id.js';
import {
  type ConflictMode,
  isAbsent,
  type KvRecord,
  reconcile,
  ringBound,
  splitDataKey,
  versionsOf,
} from '../record.js';
import type { Ring } from '../ring.js';
import type { CallId } from '../rpc/messages.js';
import type { StorageEntry, StorageReader } from '../storage.js';
import type { NodeId } from '../types.js';
import type { KeyedRecord } from './anti-entropy.js';
import {
  type KvReply,
  type KvRequest,
  kvError,
  type ReplicaRequest,
  type ReplicaResponse,
} from './messages.js';
import type { CallResult, Operation, OperationIo } from './operation.js';

/** Positions [fromId, toId] of the circle, both inclusive; fromId ≤ toId (a segment never wraps). */
export interface Segment {
  fromId: number;
  toId: number;
}

/** A segment and the N replicas of the range it belongs to. */
export interface PlacedSegment extends Segment {
  replicas: NodeId[];
}

/**
 * Most records one `scan-range` answer carries, whatever COUNT asks for: values are left out, so a
 * record is its key and version metadata (~100 bytes), and an answer stays well under a frame.
 */
export const MAX_SCAN_RECORDS = 1000;

/**
 * Most rounds of replica calls one SCAN request makes before it answers with a cursor. A round
 * costs a round trip; with V·M ranges (80 for 16 vnodes on 5 nodes) and a sparse keyspace, going
 * on to the next segment while COUNT is not reached keeps KEYS and a full SCAN at a few requests,
 * and the bound keeps one request well inside its timeout.
 */
export const MAX_ROUNDS_PER_REQUEST = 32;

// ---- the circle, cut into segments ---------------------------------------------------------

/** The segment that holds `fromId`: from it to the end of its range, or to the top of the circle. */
export function segmentAt(ring: Ring, replicaCount: number, fromId: number): PlacedSegment {
  if (ring.memberCount === 0) return { fromId, toId: RING_SIZE - 1, replicas: [] };
  const vnode = ring.successorOf(fromId);
  const toId = vnode.id >= fromId ? vnode.id : RING_SIZE - 1;
  return { fromId, toId, replicas: ring.preferenceList(vnode.id, replicaCount) };
}

/** Every segment of the ring from `fromId` to the top of the circle, in order, with replicas. */
export function segmentsFrom(ring: Ring, replicaCount: number, fromId: number): PlacedSegment[] {
  const out: PlacedSegment[] = [];
  if (ring.memberCount === 0) return out;
  for (let from = fromId; from < RING_SIZE; ) {
    const s = segmentAt(ring, replicaCount, from);
    out.push(s);
    from = s.toId + 1;
  }
  return out;
}

// ---- the replica's side --------------------------------------------------------------------

/** The version metadata of a record without its value bytes: enough to reconcile and judge liveness. */
export function digestOf(r: KvRecord): KvRecord {
  const out: KvRecord = {
    value: r.value === null ? null : EMPTY,
    hlc: r.hlc,
    writer: r.writer,
    expiresAtMs: r.expiresAtMs,
    vv: r.vv,
  };
  if (r.siblings && r.siblings.length > 0) {
    out.siblings = r.siblings.map((s) => ({ ...s, value: s.value === null ? null : EMPTY }));
  }
  return out;
}

const EMPTY = new Uint8Array(0);

/** Whether a GET at `nowMs` would answer a value (the rule of `readReply`): not deleted, not expired. */
export function isLive(r: KvRecord, nowMs: number): boolean {
  if (r.siblings && r.siblings.length > 1) {
    const live = versionsOf(r).filter(
      (v) => v.value !== null && (v.expiresAtMs === 0 || v.expiresAtMs > nowMs),
    );
    if (live.length > 1) return true;
  }
  return !isAbsent(r, nowMs);
}

const positionOf = (e: StorageEntry<KvRecord>) => splitDataKey(e.key).id;
const upTo = (id: number) => (id + 1 < RING_SIZE ? ringBound(id + 1) : undefined);

/**
 * The records a replica holds in `segment`, at most about `limit`, tombstones and expired values
 * included (another replica's older live version must meet them). `nextId` is where the answer
 * stopped: never inside one ring position, so resuming there neither skips nor splits a position;
 * null when the whole segment was read.
 */
export function readSegment(
  reader: StorageReader,
  segment: Segment,
  limit: number,
): { entries: StorageEntry<KvRecord>[]; nextId: number | null } {
  const max = Math.max(1, limit);
  const entries = reader.scan<KvRecord>('data', {
    start: ringBound(segment.fromId),
    end: upTo(segment.toId),
    limit: max + 1,
  });
  if (entries.length <= max) return { entries, nextId: null };
  const stopId = positionOf(entries[max]);
  const below = entries.filter((e) => positionOf(e) < stopId);
  if (below.length > 0) return { entries: below, nextId: stopId };
  // More than `limit` keys share one position (a 48-bit collision, or a tiny limit): take them all.
  const whole = reader.scan<KvRecord>('data', {
    start: ringBound(stopId),
    end: upTo(stopId),
    limit: 1 << 20,
  });
  return { entries: whole, nextId: stopId + 1 <= segment.toId ? stopId + 1 : null };
}

/** Live keys a replica holds in each segment, judged at the coordinator's `nowMs`. */
export function countSegments(reader: StorageReader, segments: readonly Segment[], nowMs: number): number[] {
  return segments.map((segment) => {
    let n = 0;
    for (let from: number | null = segment.fromId; from !== null; ) {
      const page = readSegment(reader, { fromId: from, toId: segment.toId }, 1024);
      for (const e of page.entries) if (isLive(e.value, nowMs)) n++;
      from = page.nextId;
    }
    return n;
  });
}

export type KeyspaceRequest = Extract<ReplicaRequest, { op: 'scan-range' | 'count-range' }>;

export function isKeyspaceRequest(req: ReplicaRequest): req is KeyspaceRequest {
  return req.op === 'scan-range' || req.op === 'count-range';
}

/** Answers a peer's `scan-range` or `count-range` from local state alone. */
export function answerKeyspace(reader: StorageReader, req: KeyspaceRequest): ReplicaResponse {
  if (req.op === 'count-range')
    return { op: 'count-range', counts: countSegments(reader, req.segments, req.nowMs) };
  const page = readSegment(reader, req, Math.min(req.limit, MAX_SCAN_RECORDS));
  return {
    op: 'scan-range',
    records: page.entries.map((e) => ({
      key: splitDataKey(e.key).userKey.slice(),
      record: digestOf(e.value),
    })),
    nextId: page.nextId,
  };
}

// ---- the coordinator's side ----------------------------------------------------------------

/** Who to ask: prefer this node (no network), then the replicas in ring order. */
function byPreference(replicas: readonly NodeId[], self: NodeId): NodeId[] {
  return replicas.includes(self) ? [self, ...replicas.filter((r) => r !== self)] : [...replicas];
}

export interface ScanInit {
  /** Where to start (a ring position). */
  fromId: number;
  /** About how many stored records to read (Redis's COUNT hint); a page may hold fewer keys. */
  count: number;
  /** The segment holding a position, under the coordinator's ring as it is now. */
  segmentAt(fromId: number): PlacedSegment;
  isHealthy(id: NodeId): boolean;
  self: NodeId;
  /** Replicas per segment whose answers are merged (R; 1 at level `one`). */
  required: number;
  deadlineMs: number;
  conflictMode: ConflictMode;
  maxRounds?: number;
}

/** One SCAN request: rounds of `scan-range` calls, one segment at a time, until COUNT is reached. */
export class ScanOperation implements Operation {
  finished = false;
  private cursor: number;
  private segment: PlacedSegment | null = null;
  private need = 0;
  private spares: NodeId[] = [];
  private readonly outstanding = new Set<CallId>();
  private answers: Array<{ records: KeyedRecord[]; nextId: number | null }> = [];
  private readonly keys: Uint8Array[] = [];
  private examined = 0;
  private rounds = 0;
  /** Past half the client's time, no new round starts: the pages so far go back with a cursor. */
  private answerByMs = Number.POSITIVE_INFINITY;

  constructor(private readonly init: ScanInit) {
    this.cursor = init.fromId;
  }

  start(io: OperationIo): void {
    this.answerByMs = io.nowMs + (this.init.deadlineMs - io.nowMs) / 2;
    this.startRound(io);
  }

  private startRound(io: OperationIo): void {
    const segment = this.init.segmentAt(this.cursor);
    this.segment = segment;
    this.answers = [];
    this.rounds++;
    const healthy = byPreference(segment.replicas, this.init.self).filter((id) => this.init.isHealthy(id));
    this.need = Math.min(this.init.required, segment.replicas.length);
    if (healthy.length < this.need || this.need === 0) {
      this.finish(
        io,
        kvError(
          'QUORUM_UNAVAILABLE',
          true,
          `${healthy.length} healthy replicas of the range at position ${this.cursor}, ${this.need} needed`,
        ),
      );
      return;
    }
    this.spares = healthy.slice(this.need);
    for (const node of healthy.slice(0, this.need)) this.ask(io, node);
  }

  private ask(io: OperationIo, node: NodeId): void {
    const s = this.segment as PlacedSegment;
    const limit = Math.max(1, Math.min(this.init.count - this.examined, MAX_SCAN_RECORDS));
    this.outstanding.add(io.call(node, { op: 'scan-range', fromId: s.fromId, toId: s.toId, limit }));
  }

  onResult(callId: CallId, _from: NodeId, result: CallResult, io: OperationIo): void {
    if (this.finished || !this.outstanding.delete(callId)) return;
    if (result.ok && result.response.op === 'scan-range') {
      this.answers.push({ records: result.response.records, nextId: result.response.nextId });
    } else {
      const spare = this.spares.shift();
      if (spare !== undefined) this.ask(io, spare);
      else if (this.answers.length + this.outstanding.size < this.need) {
        this.finish(
          io,
          kvError(
            'QUORUM_UNAVAILABLE',
            true,
            `${this.answers.length} of ${this.need} replicas of the range at position ${this.cursor} answered`,
          ),
        );
        return;
      }
    }
    if (this.answers.length >= this.need) this.completeRound(io);
  }

  /** Merges the round's answers below the smallest stopping point, then answers or goes on. */
  private completeRound(io: OperationIo): void {
    for (const id of this.outstanding) io.cancel(id);
    this.outstanding.clear();
    const s = this.segment as PlacedSegment;
    const stop = Math.min(...this.answers.map((a) => a.nextId ?? s.toId + 1));
    const merged = new Map<string, { key: Uint8Array; record: KvRecord }>();
    for (const answer of this.answers) {
      for (const { key, record } of answer.records) {
        const id = identifierOf(key);
        if (id >= stop) continue;
        const slot = keySlot(key);
        const seen = merged.get(slot);
        merged.set(slot, {
          key,
          record: seen ? reconcile(seen.record, record, this.init.conflictMode) : record,
        });
      }
    }
    for (const { key, record } of merged.values()) if (isLive(record, io.nowMs)) this.keys.push(key);
    // Empty segments cost a round but read nothing: the round bound, not COUNT, limits them.
    this.examined += merged.size;
    const done = stop >= RING_SIZE;
    this.cursor = stop;
    if (
      done ||
      this.examined >= this.init.count ||
      this.rounds >= (this.init.maxRounds ?? MAX_ROUNDS_PER_REQUEST) ||
      io.nowMs >= this.answerByMs
    ) {
      this.finish(io, { ok: true, keys: this.keys, nextId: done ? null : stop });
      return;
    }
    this.startRound(io);
  }

  onTick(io: OperationIo): void {
    if (this.finished || io.nowMs < this.init.deadlineMs) return;
    for (const id of this.outstanding) io.cancel(id);
    this.outstanding.clear();
    this.finish(
      io,
      kvError(
        'TIMEOUT',
        true,
        `the range at position ${this.cursor} was not read before the deadline (a scan changes nothing)`,
      ),
    );
  }

  private finish(io: OperationIo, reply: KvReply): void {
    this.finished = true;
    io.reply(reply);
  }
}

export interface CountInit {
  /** The segments to count, in order, each with its replicas. */
  segments: PlacedSegment[];
  isHealthy(id: NodeId): boolean;
  self: NodeId;
  deadlineMs: number;
}

/**
 * DBSIZE: live keys per segment on one replica each, all segments at once, one `count-range` call
 * per replica. A call that fails hands its segments to another healthy replica of each.
 */
export class CountOperation implements Operation {
  finished = false;
  private total = 0;
  private left: number;
  private readonly tried: Array<Set<NodeId>>;
  private readonly calls = new Map<CallId, number[]>();

  constructor(private readonly init: CountInit) {
    this.left = init.segments.length;
    this.tried = init.segments.map(() => new Set());
  }

  start(io: OperationIo): void {
    if (this.left === 0) {
      this.finish(io, { ok: true, keys: [], number: 0, nextId: null });
      return;
    }
    this.assign(
      io,
      this.init.segments.map((_, i) => i),
    );
  }

  /** Sends each segment to a healthy replica not tried for it yet, grouped by replica. */
  private assign(io: OperationIo, indexes: number[]): void {
    const byNode = new Map<NodeId, number[]>();
    for (const i of indexes) {
      const node = byPreference(this.init.segments[i].replicas, this.init.self).find(
        (id) => !this.tried[i].has(id) && this.init.isHealthy(id),
      );
      if (node === undefined) {
        const s = this.init.segments[i];
        this.finish(
          io,
          kvError(
            'QUORUM_UNAVAILABLE',
            true,
            `no replica of the range at position ${s.fromId} could count it`,
          ),
        );
        return;
      }
      this.tried[i].add(node);
      const group = byNode.get(node) ?? [];
      group.push(i);
      byNode.set(node, group);
    }
    for (const [node, group] of byNode) {
      const segments = group.map((i) => ({
        fromId: this.init.segments[i].fromId,
        toId: this.init.segments[i].toId,
      }));
      this.calls.set(io.call(node, { op: 'count-range', segments, nowMs: io.nowMs }), group);
    }
  }

  onResult(callId: CallId, _from: NodeId, result: CallResult, io: OperationIo): void {
    const group = this.calls.get(callId);
    if (this.finished || group === undefined) return;
    this.calls.delete(callId);
    if (result.ok && result.response.op === 'count-range' && result.response.counts.length === group.length) {
      for (const n of result.response.counts) this.total += n;
      this.left -= group.length;
      if (this.left === 0) this.finish(io, { ok: true, keys: [], number: this.total, nextId: null });
      return;
    }
    this.assign(io, group);
  }

  onTick(io: OperationIo): void {
    if (this.finished || io.nowMs < this.init.deadlineMs) return;
    this.finish(io, kvError('TIMEOUT', true, `${this.left} ranges were not counted before the deadline`));
  }

  private finish(io: OperationIo, reply: KvReply): void {
    for (const id of this.calls.keys()) io.cancel(id);
    this.calls.clear();
    this.finished = true;
    io.reply(reply);
  }
}

/** What the node lends a keyspace request: its ring, its view of health, its quorum. */
export interface KeyspaceContext {
  /** The read ring as it is now (a SCAN reads each round under the ring of that moment). */
  ring(): Ring;
  replicaCount: number;
  readQuorum: number;
  isHealthy(id: NodeId): boolean;
  self: NodeId;
  deadlineMs: number;
  conflictMode: ConflictMode;
}

/** The operation for a client's `scan`: a count (DBSIZE) or a page of keys (SCAN, KEYS). */
export function keyspaceOperation(req: Extract<KvRequest, { op: 'scan' }>, ctx: KeyspaceContext): Operation {
  const fromId = Math.min(Math.max(0, Math.floor(req.fromId)), RING_SIZE - 1);
  if (req.countOnly) {
    return new CountOperation({
      segments: segmentsFrom(ctx.ring(), ctx.replicaCount, fromId),
      isHealthy: ctx.isHealthy,
      self: ctx.self,
      deadlineMs: ctx.deadlineMs,
    });
  }
  const required =
    req.consistency === 'one' ? 1 : req.consistency === 'all' ? ctx.replicaCount : ctx.readQuorum;
  return new ScanOperation({
    fromId,
    count: Math.max(1, req.count),
    segmentAt: (id) => segmentAt(ctx.ring(), ctx.replicaCount, id),
    isHealthy: ctx.isHealthy,
    self: ctx.self,
    required,
    deadlineMs: ctx.deadlineMs,
    conflictMode: ctx.conflictMode,
  });
}

function keySlot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += key[i].toString(16).padStart(2, '0');
  return s;
}
