/**
 * Linearizability checking: is there a total order of the operations, consistent with real time
 * (an operation that returned before another was invoked comes first), in which every answer
 * is what the sequential model would have given?
 *
 * The search is Wing & Gong's (1993) with Lowe's memoisation (2017), as in Porcupine:
 *
 * - Every operation contributes a call entry and a return entry to a doubly linked list sorted
 *   by time. Walking the list from the head, the call entries met before the first return entry
 *   are exactly the operations that may be linearized next: each of them was invoked before
 *   the earliest pending operation returned.
 * - Linearizing an operation applies it to the model and "lifts" its two entries out of the
 *   list; backtracking "unlifts" them (dancing links: both are O(1)).
 * - Meeting a return entry means its operation should already have been linearized: a dead end,
 *   so undo the last choice and try the next candidate after it.
 * - The memo: two paths that have linearized the same set of operations and reached the same
 *   model state have the same future, so each (set, state) pair is explored only once. This is
 *   what makes the search practical; without it, histories with 50 concurrent clients blow up.
 *
 * The history is first split by key (when the model says keys are independent), since
 * linearizability is compositional: the whole is linearizable iff every key is. The keys are
 * searched in turns (see checkHistory).
 *
 * Limits: the memo's memory is bounded, and the search gives up with "unknown" when the memo is
 * full or the deadline passes. "unknown" is never rounded to "valid": only a completed search
 * proves a history linearizable, and only an exhausted one proves it is not.
 *
 * The code is pure: no clock is read except through `options.now`, so the simulator can run it
 * in virtual time and get the same answer for the same history.
 */
import { SeededRandom } from '../core/random.js';
import { type History, historyFromEvents, type Json, type Operation, type ParseOptions } from './history.js';
import type { Model, ModelState } from './models.js';

export interface CheckOptions {
  /** A clock in milliseconds (the CLI passes performance.now; a simulator, its virtual clock). */
  now: () => number;
  /** Give up with "unknown" after this long (default: no limit). */
  timeoutMs?: number;
  /** Give up on a key when the memo holds this many entries, all keys together (default: no limit). */
  maxCacheEntries?: number;
  /**
   * Give up on a key when the search's memory, all keys together, reaches this many bytes
   * (default 256 MiB): the memo, plus an estimate for the interned states and transitions.
   */
  maxCacheBytes?: number;
}

/** An operation as a person wants to read it in a counterexample. */
export interface OpSummary {
  process: number | string;
  f: string;
  key: string;
  /** Jepsen-style: the completion's value for a completed operation, the invocation's otherwise. */
  value: Json;
  /** 'info' when the outcome is unknown (an info completion, or none). */
  type: 'ok' | 'info';
  invokeTime: number;
  /** null when the outcome is unknown. */
  returnTime: number | null;
  invokeLine: number;
}

export interface Counterexample {
  key: string;
  /**
   * The longest prefix of a linearization the search found: these operations, in this order,
   * are consistent with the model and with real time.
   */
  linearized: OpSummary[];
  /** The model's state after that prefix. */
  stateAfter: string;
  /** The operation that returned before the search could fit it in after the prefix. */
  mustPrecede: OpSummary;
  /**
   * The operations that could come next after the prefix (invoked before `mustPrecede`
   * returned). `allowed` says whether the model accepts it in `stateAfter`; even the allowed
   * ones lead to a dead end further on.
   */
  candidates: Array<OpSummary & { allowed: boolean }>;
}

export interface CheckResult {
  valid: true | false | 'unknown';
  /** Operations in the history (failed ones excluded). */
  ops: number;
  keys: number;
  elapsedMs: number;
  /** The first key found not linearizable ("" for a model that checks the history whole). */
  failingKey?: string;
  counterexample?: Counterexample;
  /** Why the verdict is unknown. */
  reason?: string;
}

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
/** Rough cost of one entry of a JS Map with its key and value, for the memory estimate. */
const MAP_ENTRY_BYTES = 40;
/** How many search steps between two looks at the clock: a clock read costs more than a step. */
const CLOCK_INTERVAL = 1024;
/** Steps each key gets in the first round; the allowance doubles every round. */
const FIRST_SLICE = 4096;

/** Checks a history already parsed. Throws a HistoryError if the model rejects an operation. */
export function checkHistory<S extends ModelState, P>(
  history: History,
  model: Model<S, P>,
  options: CheckOptions,
): CheckResult {
  const start = options.now();
  const deadline = start + (options.timeoutMs ?? Number.POSITIVE_INFINITY);
  const result = (fields: Partial<CheckResult> & Pick<CheckResult, 'valid'>): CheckResult => ({
    ops: history.operations.length,
    keys: history.keys.length,
    elapsedMs: options.now() - start,
    ...fields,
  });

  // Prepare every operation before searching anything, so that bad input is always reported,
  // even when an earlier key would already fail.
  const groups = new Map<string, { ops: Operation[]; prepared: P[] }>();
  for (const op of history.operations) {
    const prepared = model.prepare(op);
    if (prepared === null) continue;
    const groupKey = model.perKey ? op.key : '';
    let group = groups.get(groupKey);
    if (!group) groups.set(groupKey, (group = { ops: [], prepared: [] }));
    group.ops.push(op);
    group.prepared.push(prepared);
  }

  // The keys are searched in turns, each for a number of steps that doubles every round, rather
  // than each to the end before the next. One non-linearizable key is enough for the verdict,
  // and a key whose refutation takes milliseconds must not wait behind one that takes minutes
  // (in the 50-client reference history, four keys are of the second kind). Porcupine gets the
  // same effect by checking keys in parallel; turns counted in steps keep the verdict and the
  // counterexample deterministic. A history that is linearizable costs at most a few extra
  // rounds of bookkeeping, since every key has to be searched to the end anyway.
  const budget = new MemoryBudget(
    options.maxCacheEntries ?? Number.POSITIVE_INFINITY,
    options.maxCacheBytes ?? DEFAULT_CACHE_BYTES,
  );
  let active = [...groups].map(([key, group]) => {
    const keep = model.keep?.(group.prepared);
    const ops = keep ? group.ops.filter((_, i) => keep[i]) : group.ops;
    const prepared = keep ? group.prepared.filter((_, i) => keep[i]) : group.prepared;
    return { key, search: new Search(model, ops, prepared, budget) };
  });
  let abandoned: string | undefined;
  for (let slice = FIRST_SLICE; active.length > 0; slice = Math.min(slice * 2, 2 ** 30)) {
    const unfinished: typeof active = [];
    for (const { key, search } of active) {
      const outcome = search.run(slice, options.now, deadline);
      if (outcome === 'paused') {
        unfinished.push({ key, search });
        continue;
      }
      if (outcome === 'invalid') {
        return result({ valid: false, failingKey: key, counterexample: search.counterexample(key) });
      }
      search.release();
      if (outcome === 'timeout') {
        return result({ valid: 'unknown', reason: `time limit reached while checking key '${key}'` });
      }
      // The memo is full: this key stays undecided, but another one may still be refuted.
      if (outcome === 'cache-full') abandoned ??= key;
    }
    active = unfinished;
  }
  if (abandoned !== undefined) {
    return result({
      valid: 'unknown',
      reason: `memo limit (${budget.describe()}) reached while checking key '${abandoned}'`,
    });
  }
  return result({ valid: true });
}

/** Checks events recorded in memory (see historyFromEvents). */
export function checkEvents<S extends ModelState, P>(
  events: Iterable<unknown>,
  model: Model<S, P>,
  options: CheckOptions & ParseOptions,
): CheckResult {
  return checkHistory(historyFromEvents(events, options), model, options);
}

type Outcome = 'valid' | 'invalid' | 'paused' | 'timeout' | 'cache-full';

/**
 * The search over one key. Operations are numbered 0..n-1; in the linked list, node i is the
 * call entry of operation i, node n+i its return entry, and node 2n the head. Typed arrays
 * instead of objects keep the inner loop free of allocation and pointer chasing.
 *
 * The search can be paused after a number of steps and resumed: all of its position lives in
 * fields, not in the call stack.
 */
class Search<S extends ModelState, P> {
  private readonly n: number;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly head: number;
  /** Nodes in time order, kept for building the counterexample. */
  private readonly order: Int32Array;

  /** Model states met so far, interned: the search only handles their indices. */
  private readonly states: S[] = [];
  private readonly stateIds = new Map<S, number>();
  /** step() results per (state, operation), as state index or -1 for "impossible". */
  private readonly transitions = new Map<number, number>();
  /** An estimate of the memory held by `states` and `transitions`, charged to the budget. */
  private chargedBytes = 0;
  private readonly memo: Memo;

  // The position of the search. The stack of choices records which operation was linearized,
  // and the state and `high` before it.
  private readonly stackOp: Int32Array;
  private readonly stackState: Int32Array;
  private readonly stackHigh: Int32Array;
  private depth = 0;
  /** The linearized operations as a bitset, and its Zobrist hash (see Memo). */
  private readonly bits: Uint32Array;
  private setHash = 0;
  /** 1 + the largest linearized operation (operations are numbered in invocation order). */
  private high = 0;
  private state: number;
  /** The list node to consider next. */
  private entry: number;
  /**
   * The deepest stack seen, for the counterexample: bestPrefix[0, bestDepth), of which the
   * current stack shares the first `agree` entries (so that updating it costs O(1) amortized
   * per step rather than a copy of the whole stack).
   */
  private readonly bestPrefix: Int32Array;
  private bestDepth = 0;
  private agree = 0;

  private readonly ops: Operation[];
  private readonly prepared: P[];

  constructor(
    private readonly model: Model<S, P>,
    ops: Operation[],
    prepared: P[],
    private readonly budget: MemoryBudget,
  ) {
    // Number the operations in invocation order (a parsed history already is), so that the
    // call entries in the list come in index order, which the memo's encoding relies on.
    const byInvocation = ops
      .map((_, i) => i)
      .sort((a, b) => compare(ops[a].invokeTime, ops[b].invokeTime) || a - b);
    this.ops = byInvocation.map((i) => ops[i]);
    this.prepared = byInvocation.map((i) => prepared[i]);
    const n = ops.length;
    this.n = n;
    this.head = 2 * n;
    this.next = new Int32Array(2 * n + 1);
    this.prev = new Int32Array(2 * n + 1);

    const time = (node: number): number =>
      node < n ? this.ops[node].invokeTime : this.ops[node - n].returnTime;
    const nodes = Array.from({ length: 2 * n }, (_, i) => i);
    // At equal times a call sorts before a return: the two operations are then treated as
    // concurrent, which can only accept more orders, never reject a correct history.
    // (Comparisons rather than subtraction: unknown operations all return at +Infinity.)
    nodes.sort((a, b) => compare(time(a), time(b)) || compare(Number(a >= n), Number(b >= n)) || a - b);
    this.order = Int32Array.from(nodes);
    let last = this.head;
    for (const node of nodes) {
      this.next[last] = node;
      this.prev[node] = last;
      last = node;
    }
    this.next[last] = -1;
    this.prev[this.head] = -1;

    this.memo = new Memo(n, budget, (out) => this.encode(out));
    this.stackOp = new Int32Array(n);
    this.stackState = new Int32Array(n);
    this.stackHigh = new Int32Array(n);
    this.bestPrefix = new Int32Array(n);
    this.bits = new Uint32Array(Math.ceil(n / 32) + 1);
    this.state = this.internState(model.init());
    this.entry = this.next[this.head];
  }

  /** Gives the memory back to the budget; the search cannot run any more. */
  release(): void {
    this.memo.release();
    this.budget.give(0, this.chargedBytes);
    this.chargedBytes = 0;
  }

  /** Searches for at most `maxSteps` steps. */
  run(maxSteps: number, now: () => number, deadline: number): Outcome {
    const { n, next, head } = this;
    let entry = this.entry;
    let steps = 0;
    let outcome: Outcome | undefined;
    while (outcome === undefined) {
      if (++steps % CLOCK_INTERVAL === 0 && now() > deadline) {
        outcome = 'timeout';
      } else if (steps > maxSteps) {
        outcome = 'paused';
      } else if (entry === -1) {
        // Only reached when the list is empty: every operation is linearized.
        outcome = 'valid';
      } else if (entry >= n) {
        // A return entry: its operation should have been linearized by now, a dead end. Undo
        // the last choice and try the next candidate after it.
        if (this.depth === 0) {
          outcome = 'invalid';
        } else {
          const op = this.pop();
          entry = next[op];
        }
      } else {
        // A call entry: try linearizing its operation now.
        const after = this.transition(this.state, entry);
        const added = after >= 0 ? this.push(entry, after) : 0;
        if (added === -1) outcome = 'cache-full';
        else entry = added === 1 ? next[head] : next[entry];
      }
    }
    this.entry = entry;
    return outcome;
  }

  /**
   * Linearizes `op`, reaching state `after`, unless that configuration was explored already.
   * Returns what Memo.add returned: 1 done, 0 already explored, -1 memo full.
   */
  private push(op: number, after: number): 1 | 0 | -1 {
    // Move to the new configuration first, since the memo encodes it from the search's fields
    // (see encode), and come back if it was explored already.
    const word = op >>> 5;
    const bit = 1 << (op & 31);
    const high = this.high;
    this.bits[word] |= bit;
    this.high = Math.max(high, op + 1);
    this.lift(op);
    const hash = this.setHash ^ this.memo.zobrist[op];
    const added = this.memo.add(hash, after);
    if (added !== 1) {
      this.unlift(op);
      this.high = high;
      this.bits[word] &= ~bit;
      return added;
    }
    const depth = this.depth++;
    this.stackOp[depth] = op;
    this.stackState[depth] = this.state;
    this.stackHigh[depth] = high;
    this.state = after;
    this.setHash = hash;

    if (this.agree === depth && depth < this.bestDepth && this.bestPrefix[depth] === op) this.agree++;
    if (depth + 1 > this.bestDepth) {
      this.bestPrefix.set(this.stackOp.subarray(this.agree, depth + 1), this.agree);
      this.bestDepth = this.agree = depth + 1;
    }
    return 1;
  }

  /** Undoes the last choice and returns its operation. */
  private pop(): number {
    const depth = --this.depth;
    const op = this.stackOp[depth];
    this.state = this.stackState[depth];
    this.high = this.stackHigh[depth];
    this.bits[op >>> 5] &= ~(1 << (op & 31));
    this.setHash ^= this.memo.zobrist[op];
    this.unlift(op);
    if (this.agree > depth) this.agree = depth;
    return op;
  }

  /**
   * Writes the set of linearized operations compactly, for the memo: as [low, high, bits of the
   * operations low..high-1], where every operation below `low` is linearized and none from
   * `high` on. Operations are numbered in invocation order and the search linearizes them
   * roughly in that order, so the window is about as wide as the concurrency, not the history:
   * a long history costs a few words per entry, not one bit per operation.
   */
  private encode(out: Uint32Array): number {
    const first = this.next[this.head];
    // The list holds the operations not yet linearized; its first node is the oldest one's call.
    const low = first === -1 ? this.n : first;
    const high = Math.max(low, this.high);
    out[0] = low;
    out[1] = high;
    const words = Math.ceil((high - low) / 32);
    const base = low >>> 5;
    const shift = low & 31;
    for (let w = 0; w < words; w++) {
      const lower = this.bits[base + w] >>> shift;
      // (x << 32 is x in JavaScript, hence the special case; bits has a spare word at the end.)
      out[2 + w] = shift === 0 ? lower : lower | (this.bits[base + w + 1] << (32 - shift));
    }
    return 2 + words;
  }

  /** Removes an operation's call and return entries from the list. */
  private lift(call: number): void {
    const { next, prev } = this;
    const ret = call + this.n;
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call]; // a call always has a successor: at least its own return
    next[prev[ret]] = next[ret];
    if (next[ret] !== -1) prev[next[ret]] = prev[ret];
  }

  /** Puts them back, in the reverse order of lift. */
  private unlift(call: number): void {
    const { next, prev } = this;
    const ret = call + this.n;
    if (next[ret] !== -1) prev[next[ret]] = ret;
    next[prev[ret]] = ret;
    prev[next[call]] = call;
    next[prev[call]] = call;
  }

  private internState(state: S): number {
    let id = this.stateIds.get(state);
    if (id === undefined) {
      id = this.states.length;
      this.states.push(state);
      this.stateIds.set(state, id);
      this.charge(MAP_ENTRY_BYTES + (typeof state === 'string' ? 2 * state.length : 0));
    }
    return id;
  }

  private transition(state: number, op: number): number {
    const key = state * this.n + op;
    let to = this.transitions.get(key);
    if (to === undefined) {
      const after = this.model.step(this.states[state], this.prepared[op]);
      to = after === undefined ? -1 : this.internState(after);
      this.transitions.set(key, to);
      this.charge(MAP_ENTRY_BYTES);
    }
    return to;
  }

  /** Accounts memory that is held until release(); the memo refuses entries beyond the budget. */
  private charge(bytes: number): void {
    this.chargedBytes += bytes;
    this.budget.charge(bytes);
  }

  /** Explains a failed search from the deepest point it reached. */
  counterexample(key: string): Counterexample {
    const { n, ops } = this;
    const prefix = Array.from(this.bestPrefix.subarray(0, this.bestDepth));
    let state = this.internState(this.model.init());
    for (const op of prefix) state = this.transition(state, op);

    const done = new Uint8Array(n);
    for (const op of prefix) done[op] = 1;
    const candidates: Array<OpSummary & { allowed: boolean }> = [];
    let mustPrecede = -1;
    for (const node of this.order) {
      const op = node < n ? node : node - n;
      if (done[op]) continue;
      if (node >= n) {
        mustPrecede = op;
        break;
      }
      candidates.push({ ...summarize(ops[op]), allowed: this.transition(state, op) >= 0 });
    }
    return {
      key,
      linearized: prefix.map((op) => summarize(ops[op])),
      stateAfter: this.model.show(this.states[state]),
      // A failed search always stops at a return entry, so there is one.
      mustPrecede: summarize(ops[mustPrecede]),
      candidates,
    };
  }
}

function compare(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function summarize(op: Operation): OpSummary {
  return {
    process: op.process,
    f: op.f,
    key: op.key,
    value: op.known && op.f === 'read' ? op.output : op.input,
    type: op.known ? 'ok' : 'info',
    invokeTime: op.invokeTime,
    returnTime: op.known ? op.returnTime : null,
    invokeLine: op.invokeLine,
  };
}

/**
 * The memory all the searches may use together, in memo entries and in bytes. The bytes count
 * the live memo entries plus what the searches charge for their interned states and
 * transitions, an estimate; the typed arrays grow by doubling, so a growth can briefly hold up
 * to twice the memo's share.
 */
class MemoryBudget {
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  /** Reserves one memo entry of `bytes`; false if that would exceed the budget. */
  take(bytes: number): boolean {
    if (this.entries + 1 > this.maxEntries || this.bytes + bytes > this.maxBytes) return false;
    this.entries++;
    this.bytes += bytes;
    return true;
  }

  /** Counts memory taken outside the memo, which cannot be refused but limits the memo. */
  charge(bytes: number): void {
    this.bytes += bytes;
  }

  give(entries: number, bytes: number): void {
    this.entries -= entries;
    this.bytes -= bytes;
  }

  describe(): string {
    const entries = Number.isFinite(this.maxEntries) ? `${this.maxEntries} entries or ` : '';
    return `${entries}${Math.round(this.maxBytes / 2 ** 20)} MiB`;
  }
}

/**
 * The set of (linearized operations, model state) pairs already explored: an open-addressing
 * hash table over an arena of encoded sets (see Search.encode), all in typed arrays, so that it
 * makes no garbage. The hash of a set is the XOR of a random number per member (Zobrist
 * hashing), which the search updates in O(1) as it adds and removes operations. The set is only
 * encoded when it has to be compared (the hash and state match a stored entry) or stored.
 */
class Memo {
  readonly zobrist: Uint32Array;
  /** Encoded sets, one after the other. */
  private codes: Uint32Array;
  private codesUsed = 0;
  private codeStart: Int32Array;
  private codeLength: Int32Array;
  private stateOf: Int32Array;
  private hashOf: Uint32Array;
  /** Slot -> entry index + 1; 0 is an empty slot. Kept at most half full. */
  private table: Int32Array;
  private size = 0;
  private bytes = 0;
  /** The set being looked up, encoded. */
  private readonly scratch: Uint32Array;

  constructor(
    n: number,
    private readonly budget: MemoryBudget,
    private readonly encode: (out: Uint32Array) => number,
  ) {
    // A fixed seed: the same history must always be searched the same way.
    const random = new SeededRandom(0x5eed);
    this.zobrist = Uint32Array.from({ length: n }, () => random.nextUint32());
    this.scratch = new Uint32Array(Math.ceil(n / 32) + 2);
    const capacity = 256;
    this.codes = new Uint32Array(capacity * 4);
    this.codeStart = new Int32Array(capacity);
    this.codeLength = new Int32Array(capacity);
    this.stateOf = new Int32Array(capacity);
    this.hashOf = new Uint32Array(capacity);
    this.table = new Int32Array(2 * capacity);
  }

  /**
   * Adds the current configuration (whose set hashes to `setHash`) with `state`: 1 if it is new,
   * 0 if it was already there, -1 if the budget is spent.
   */
  add(setHash: number, state: number): 1 | 0 | -1 {
    const hash = mix(setHash ^ Math.imul(state + 1, 0x9e3779b1));
    let length = -1;
    let mask = this.table.length - 1;
    let slot = hash & mask;
    for (let stored = this.table[slot]; stored !== 0; stored = this.table[slot]) {
      const e = stored - 1;
      if (this.hashOf[e] === hash && this.stateOf[e] === state) {
        if (length < 0) length = this.encode(this.scratch);
        if (this.sameCode(e, length)) return 0;
      }
      slot = (slot + 1) & mask;
    }
    if (length < 0) length = this.encode(this.scratch);
    // The code, four fields, two table slots.
    const bytes = 4 * (length + 6);
    if (!this.budget.take(bytes)) return -1;
    this.bytes += bytes;
    if (this.size === this.stateOf.length) {
      this.growEntries();
      mask = this.table.length - 1;
      slot = hash & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    }
    if (this.codesUsed + length > this.codes.length) {
      const codes = new Uint32Array(Math.max(2 * this.codes.length, this.codesUsed + length));
      codes.set(this.codes.subarray(0, this.codesUsed));
      this.codes = codes;
    }
    const e = this.size++;
    this.codes.set(this.scratch.subarray(0, length), this.codesUsed);
    this.codeStart[e] = this.codesUsed;
    this.codeLength[e] = length;
    this.codesUsed += length;
    this.stateOf[e] = state;
    this.hashOf[e] = hash;
    this.table[slot] = e + 1;
    return 1;
  }

  release(): void {
    this.budget.give(this.size, this.bytes);
    this.size = this.bytes = this.codesUsed = 0;
    this.codes = new Uint32Array(0);
    this.codeStart = new Int32Array(0);
    this.codeLength = new Int32Array(0);
    this.stateOf = new Int32Array(0);
    this.hashOf = new Uint32Array(0);
    this.table = new Int32Array(0);
  }

  private sameCode(e: number, length: number): boolean {
    if (this.codeLength[e] !== length) return false;
    const start = this.codeStart[e];
    for (let i = 0; i < length; i++) if (this.codes[start + i] !== this.scratch[i]) return false;
    return true;
  }

  private growEntries(): void {
    const capacity = this.stateOf.length * 2;
    const grow = <T extends Int32Array | Uint32Array>(old: T, make: (size: number) => T): T => {
      const bigger = make(capacity);
      bigger.set(old);
      return bigger;
    };
    this.codeStart = grow(this.codeStart, (size) => new Int32Array(size));
    this.codeLength = grow(this.codeLength, (size) => new Int32Array(size));
    this.stateOf = grow(this.stateOf, (size) => new Int32Array(size));
    this.hashOf = grow(this.hashOf, (size) => new Uint32Array(size));
    this.table = new Int32Array(2 * capacity);
    const mask = this.table.length - 1;
    for (let e = 0; e < this.size; e++) {
      let slot = this.hashOf[e] & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.table[slot] = e + 1;
    }
  }
}

/** MurmurHash3's finalizer: spreads every input bit over the low bits used as a slot. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
