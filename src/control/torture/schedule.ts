/**
 * The fault schedule of a torture run: which fault, on which nodes, when and for how long, all
 * drawn from one seed, so a run's faults can be named and repeated (the processes' timing is
 * real and is not). Pure: no clock, no processes.
 *
 *   calm (warm-up) │ fault 1 │ calm │ fault 2 │ calm │ …  │ calm until the end, then heal
 *
 * One fault at a time, unless `overlap` > 0: then a fault may start while the one before it still
 * holds (a pause during a partition, a kill during a pause), never two of the same kind and never
 * a churn. Node names are placeholders here ("a random member"): the runner
 * picks the actual node when the fault starts, from the members running then, with the same
 * random stream.
 */
import type { Random } from '../../core/types.js';

export const FAULT_KINDS = ['kill', 'kill-two', 'pause', 'partition', 'churn'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * The shapes a partition takes: one node alone both ways; a minority against the rest; one node's
 * outbound traffic only; a **bridge** (two halves that cannot reach each other, and one node that
 * reaches both); a **ring** (each node reaches only its two neighbours in a random cycle, so no
 * majority is fully connected — Jepsen's "majorities ring"). The last two are not transitive:
 * a can reach b and b c, but not a c.
 */
export type PartitionShape = 'isolate-one' | 'minority' | 'one-way-out' | 'bridge' | 'ring';
export const PARTITION_SHAPES: readonly PartitionShape[] = [
  'isolate-one',
  'minority',
  'one-way-out',
  'bridge',
  'ring',
];

export interface PlannedFault {
  kind: FaultKind;
  /** Milliseconds from the start of the run. */
  atMs: number;
  /** How long it holds (kill: until the restart; churn: join, then leave of the new node). */
  holdMs: number;
  shape?: PartitionShape;
  /** It starts while the fault before it still holds (the runner does not wait for that one). */
  overlaps?: boolean;
}

export interface ScheduleOptions {
  durationMs: number;
  faults: readonly FaultKind[];
  /** Calm at the start, so that calm latencies have a sample (default min(3 s, 15 % of the run)). */
  warmupMs?: number;
  /** A fault holds for [minHoldMs, maxHoldMs) (default 2–5 s). */
  minHoldMs?: number;
  maxHoldMs?: number;
  /** Calm between two faults, [minGapMs, maxGapMs) (default 1–3 s). */
  minGapMs?: number;
  maxGapMs?: number;
  /** No fault starts in the last tailMs of the run (default 1 s). */
  tailMs?: number;
  /**
   * The chance, 0 … 1, that the next fault starts while the current one holds, 30–80% into it
   * (default 0: one fault at a time). The overlapping fault is of another kind than the current
   * one and not churn, and never two kills (kill, pause and partition combine; two restarts or two
   * partitions at once would step on each other's healing).
   */
  overlap?: number;
}

/** Faults that end with a restart of the cluster's stopped members: two at once would race. */
const RESTARTS: readonly FaultKind[] = ['kill', 'kill-two'];

/** The faults of a run, in order of start. */
export function planFaults(random: Random, options: ScheduleOptions): PlannedFault[] {
  const {
    durationMs,
    faults,
    warmupMs = Math.min(3000, durationMs * 0.15),
    minHoldMs = 2000,
    maxHoldMs = 5000,
    minGapMs = 1000,
    maxGapMs = 3000,
    tailMs = 1000,
    overlap = 0,
  } = options;
  if (faults.length === 0) return [];
  if (!(overlap >= 0 && overlap <= 1)) throw new RangeError(`overlap must be within 0 … 1, got ${overlap}`);
  const between = (lo: number, hi: number) => Math.round(lo + random.next() * (hi - lo));
  const planned: PlannedFault[] = [];
  const fault = (kind: FaultKind, atMs: number): PlannedFault => {
    const holdMs = Math.min(between(minHoldMs, maxHoldMs), Math.max(0, durationMs - tailMs - atMs));
    const f: PlannedFault = { kind, atMs, holdMs };
    if (kind === 'partition') f.shape = random.pick(PARTITION_SHAPES);
    return f;
  };
  let at = warmupMs;
  while (at < durationMs - tailMs) {
    const first = fault(random.pick(faults), at);
    planned.push(first);
    let end = first.atMs + first.holdMs;
    // Drawn only when overlap is on, so that schedules without it stay what they were.
    const partners = faults.filter(
      (k) =>
        k !== first.kind &&
        k !== 'churn' &&
        first.kind !== 'churn' &&
        !(RESTARTS.includes(k) && RESTARTS.includes(first.kind)),
    );
    if (overlap > 0 && partners.length > 0 && random.next() < overlap) {
      const startsAt = first.atMs + Math.round(first.holdMs * (0.3 + 0.5 * random.next()));
      if (startsAt < durationMs - tailMs) {
        const second = { ...fault(random.pick(partners), startsAt), overlaps: true };
        planned.push(second);
        end = Math.max(end, second.atMs + second.holdMs);
      }
    }
    at = end + between(minGapMs, maxGapMs);
  }
  return planned;
}

/** Parses "kill,pause,partition,churn" (or "all"); throws with the valid names. */
export function parseFaults(text: string): FaultKind[] {
  if (text === 'all') return [...FAULT_KINDS];
  if (text === 'none' || text === '') return [];
  const names = text.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(FAULT_KINDS as readonly string[]).includes(n))
      throw new Error(`unknown fault '${n}' (faults: ${FAULT_KINDS.join(', ')}, all, none)`);
  }
  return [...new Set(names)] as FaultKind[];
}
