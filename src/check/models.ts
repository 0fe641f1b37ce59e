/**
 * Sequential specifications: what a single copy of the object would answer. The checker asks a
 * model one question, "can this operation happen in this state, and what is the state after?",
 * and searches for an order of the operations in which every answer is yes.
 */
import { HistoryError, type Json, type Operation } from './history.js';

/**
 * A model state. Restricted to primitives so that `===` is equality and a state can be a Map
 * key: the checker interns every state it meets into a small integer, and from then on compares
 * and hashes integers only. A richer state (a set, a queue) encodes itself canonically, for
 * example as a sorted JSON string.
 */
export type ModelState = string | number | boolean | null;

export interface Model<S extends ModelState = ModelState, P = unknown> {
  readonly name: string;
  /** One line for the CLI usage. */
  readonly description: string;
  /**
   * True when the keys are independent objects. Linearizability is compositional (Herlihy &
   * Wing 1990), so the history can then be checked one key at a time, which is exponentially
   * cheaper than checking it whole.
   */
  readonly perKey: boolean;
  /** The state of every key before any operation. */
  init(): S;
  /**
   * Validates an operation and converts it to what `step` needs, so that `step` does no parsing.
   * Returns null for an operation that cannot affect the verdict (a read whose result is
   * unknown): the checker leaves it out, which makes the search smaller. Throws a HistoryError
   * naming the line for an operation the model does not understand.
   */
  prepare(op: Operation): P | null;
  /**
   * The state after `op`, or undefined if `op` cannot have happened in `state` (a read that
   * returned another value, a successful cas whose expected value differs). An operation whose
   * outcome is unknown must be accepted in every state: "it took effect at the very end" is
   * then always possible, and that stands for "it never took effect".
   */
  step(state: S, op: P): S | undefined;
  /** A short rendering of a state for counterexamples. */
  show(state: S): string;
  /**
   * Optional: which of one key's prepared operations the search can leave out without changing
   * the verdict (true = keep). Only operations with unknown outcomes qualify: they may always
   * "never have taken effect", so one whose effect nobody could have observed is dead weight that
   * multiplies the search (every subset of pending unknown operations is a state).
   */
  keep?(ops: readonly P[]): boolean[];
}

/** JSON text with object keys sorted, so that equal values give equal strings. */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

function unsupported(model: string, op: Operation, known: string): never {
  throw new HistoryError(op.invokeLine, `the ${model} model has no operation '${op.f}' (it knows ${known})`);
}

// ---------------------------------------------------------------------------------------------
// cas-register: one register per key holding any JSON value, initially null.

type CasRegisterOp =
  | { kind: 'read'; value: string }
  | { kind: 'write'; value: string; known: boolean }
  | { kind: 'cas'; expected: string; next: string; known: boolean };

export const casRegister: Model<string, CasRegisterOp> = {
  name: 'cas-register',
  description: 'read, write, cas [expected, new]; initial value null (etcd-style register)',
  perKey: true,
  init: () => 'null',
  prepare(op) {
    switch (op.f) {
      case 'read':
        return op.known ? { kind: 'read', value: canonicalJson(op.output) } : null;
      case 'write':
        return { kind: 'write', value: canonicalJson(op.input), known: op.known };
      case 'cas': {
        const pair = op.input;
        if (!Array.isArray(pair) || pair.length !== 2) {
          throw new HistoryError(
            op.invokeLine,
            `a cas value must be [expected, new], got ${canonicalJson(pair)}`,
          );
        }
        return {
          kind: 'cas',
          expected: canonicalJson(pair[0]),
          next: canonicalJson(pair[1]),
          known: op.known,
        };
      }
      default:
        return unsupported('cas-register', op, 'read, write, cas');
    }
  },
  step(state, op) {
    switch (op.kind) {
      case 'read':
        return state === op.value ? state : undefined;
      case 'write':
        return op.value;
      case 'cas':
        if (state === op.expected) return op.next;
        // A cas reported ok did apply, so its expected value must have matched. One whose outcome
        // is unknown and whose expected value does not match simply did nothing.
        return op.known ? undefined : state;
    }
  },
  show: (state) => state,
  /**
   * An unknown write or cas whose new value no read returned and no cas expected is left out.
   * If it took effect, the next operation to depend on the state found its value there: a read
   * would have returned it, a cas that applied would have expected it. Neither happened, so a
   * linearization with it is a linearization without it (an unknown cas that would match the
   * older value instead is placed at the very end, i.e. it never took effect), and one without
   * it extends to one with it placed at the very end.
   */
  keep(ops) {
    const observed = new Set<string>();
    for (const op of ops) {
      if (op.kind === 'read') observed.add(op.value);
      else if (op.kind === 'cas') observed.add(op.expected);
    }
    return ops.map((op) => {
      if (op.kind === 'write') return op.known || observed.has(op.value);
      if (op.kind === 'cas') return op.known || observed.has(op.next);
      return true;
    });
  },
};

// ---------------------------------------------------------------------------------------------
// kv: one string per key, initially "" (Porcupine's key-value model).

type KvOp =
  | { kind: 'read'; value: string }
  | { kind: 'write'; value: string }
  | { kind: 'append'; value: string };

function stringValue(op: Operation, value: Json, what: string): string {
  if (typeof value === 'string') return value;
  throw new HistoryError(
    op.returnLine !== null && what === 'read result' ? op.returnLine : op.invokeLine,
    `the kv model needs a string as ${what} of '${op.f}', got ${canonicalJson(value)}`,
  );
}

export const kv: Model<string, KvOp> = {
  name: 'kv',
  description: 'read, write, append on strings per key; initial value ""',
  perKey: true,
  init: () => '',
  prepare(op) {
    switch (op.f) {
      case 'read':
        if (!op.known) return null;
        // A missing key reads as null in some stores: the model's initial "" is the same thing.
        return { kind: 'read', value: op.output === null ? '' : stringValue(op, op.output, 'read result') };
      case 'write':
        return { kind: 'write', value: stringValue(op, op.input, 'value') };
      case 'append':
        return { kind: 'append', value: stringValue(op, op.input, 'value') };
      default:
        return unsupported('kv', op, 'read, write, append');
    }
  },
  step(state, op) {
    switch (op.kind) {
      case 'read':
        return state === op.value ? state : undefined;
      case 'write':
        return op.value;
      case 'append':
        return state + op.value;
    }
  },
  show: (state) => JSON.stringify(state),
};

/** The models the CLI knows, by name. */
export type ModelName = 'cas-register' | 'kv';
export const MODELS: Readonly<Record<ModelName, Model>> = { 'cas-register': casRegister, kv };
export const MODEL_NAMES = Object.keys(MODELS) as ModelName[];
