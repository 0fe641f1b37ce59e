/**
 * Histories in the Jepsen shape: a sequence of events, each the invocation or the completion of
 * one operation by one process. This module turns events (from JSON Lines, or objects already in
 * memory) into operations with an invocation time and a return time, which is all a
 * linearizability checker needs. The format and its semantics are described in
 * test/fixtures/histories/README.md and docs/CHECKER.md.
 */

/** A JSON value, as found in an event's `value`. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/** One line of a history. */
export interface HistoryEvent {
  process: number | string;
  type: EventType;
  f: string;
  key: string | number;
  value?: Json;
  time: number;
}

/**
 * One operation: an invocation paired with its completion. `fail` operations never appear here:
 * they definitely did not take effect, so they cannot constrain anything.
 */
export interface Operation {
  /** Position among the operations of the history, in order of invocation. */
  index: number;
  process: number | string;
  f: string;
  key: string;
  /** The value given at invocation (what to write, the [expected, new] pair of a cas...). */
  input: Json;
  /** The value given at completion (what a read returned); null when the outcome is unknown. */
  output: Json;
  /**
   * False for `info` or a missing completion: the operation may have taken effect at any moment
   * after its invocation, or never.
   */
  known: boolean;
  invokeTime: number;
  /** +Infinity when the outcome is unknown: nothing bounds when it may take effect. */
  returnTime: number;
  /** Line (or 1-based event position) of the invocation and of the completion, for messages. */
  invokeLine: number;
  returnLine: number | null;
}

export interface History {
  operations: Operation[];
  /** Distinct keys, in order of first invocation. */
  keys: string[];
}

/** A malformed history: names the line (or the 1-based position of the event) at fault. */
export class HistoryError extends Error {
  override name = 'HistoryError';
  constructor(
    readonly line: number,
    readonly problem: string,
    label = 'line',
  ) {
    super(`${label} ${line}: ${problem}`);
  }
}

export interface ParseOptions {
  /** Longest accepted line, in characters (default 1 MiB): guards against a corrupt file. */
  maxLineLength?: number;
  /** Most events accepted (default 10 million). */
  maxEvents?: number;
}

const DEFAULT_MAX_LINE = 1 << 20;
const DEFAULT_MAX_EVENTS = 10_000_000;
const EVENT_TYPES: readonly string[] = ['invoke', 'ok', 'fail', 'info'];

/**
 * Parses a history in JSON Lines, one event per line. Blank lines are skipped. Throws a
 * HistoryError naming the line for anything malformed.
 */
export function parseHistory(text: string, options: ParseOptions = {}): History {
  const maxLine = options.maxLineLength ?? DEFAULT_MAX_LINE;
  const builder = new HistoryBuilder('line', options.maxEvents ?? DEFAULT_MAX_EVENTS);
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    if (end - start > maxLine) {
      throw new HistoryError(
        lineNo,
        `line is ${end - start} characters long, more than the limit ${maxLine}`,
      );
    }
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new HistoryError(lineNo, `bad JSON: ${(err as Error).message}`);
    }
    builder.add(parsed, lineNo);
  }
  return builder.finish();
}

/**
 * Builds a history from events already in memory (a simulator records them as it runs). Errors
 * name the 1-based position of the event.
 */
export function historyFromEvents(events: Iterable<unknown>, options: ParseOptions = {}): History {
  const builder = new HistoryBuilder('event', options.maxEvents ?? DEFAULT_MAX_EVENTS);
  let position = 0;
  for (const event of events) builder.add(event, ++position);
  return builder.finish();
}

/** Pairs invocations with completions, one event at a time. */
class HistoryBuilder {
  private readonly operations: Operation[] = [];
  private readonly keys = new Map<string, true>();
  /** The operation each process has outstanding. */
  private readonly pending = new Map<number | string, Operation>();
  private lastTime = -Infinity;
  private count = 0;

  constructor(
    private readonly label: 'line' | 'event',
    private readonly maxEvents: number,
  ) {}

  add(raw: unknown, line: number): void {
    if (++this.count > this.maxEvents) this.fail(line, `more than ${this.maxEvents} events`);
    const event = this.validate(raw, line);
    // Events must come in time order: pairing takes "the next completion of the process", and
    // a completion recorded before its invocation would be meaningless.
    if (event.time < this.lastTime) {
      this.fail(line, `time ${event.time} is earlier than the previous event's time ${this.lastTime}`);
    }
    this.lastTime = event.time;
    // Jepsen's fault injector logs its actions as events of the process "nemesis"; they are
    // not operations on the system under test.
    if (event.process === 'nemesis') return;

    const key = String(event.key);
    const open = this.pending.get(event.process);
    if (event.type === 'invoke') {
      if (open) {
        this.fail(
          line,
          `process ${JSON.stringify(event.process)} invokes again while its operation of line ` +
            `${open.invokeLine} has not completed`,
        );
      }
      const op: Operation = {
        index: this.operations.length,
        process: event.process,
        f: event.f,
        key,
        input: event.value ?? null,
        output: null,
        known: false,
        invokeTime: event.time,
        returnTime: Number.POSITIVE_INFINITY,
        invokeLine: line,
        returnLine: null,
      };
      this.operations.push(op);
      this.pending.set(event.process, op);
      if (!this.keys.has(key)) this.keys.set(key, true);
      return;
    }

    if (!open) {
      this.fail(
        line,
        `'${event.type}' completion of process ${JSON.stringify(event.process)} without an invoke`,
      );
    }
    if (event.f !== open.f) {
      this.fail(
        line,
        `completion has f '${event.f}' but the invoke on line ${open.invokeLine} has '${open.f}'`,
      );
    }
    if (key !== open.key) {
      this.fail(
        line,
        `completion has key '${key}' but the invoke on line ${open.invokeLine} has '${open.key}'`,
      );
    }
    this.pending.delete(event.process);
    open.returnLine = line;
    if (event.type === 'ok') {
      open.known = true;
      open.output = event.value ?? null;
      open.returnTime = event.time;
    } else if (event.type === 'fail') {
      open.index = -1; // marks it for removal in finish()
    }
    // 'info': stays unknown, returning at +Infinity.
  }

  finish(): History {
    // Operations still pending at the end are unknown too, exactly like 'info'.
    const operations = this.operations.filter((op) => op.index >= 0);
    operations.forEach((op, i) => {
      op.index = i;
    });
    const used = new Set(operations.map((op) => op.key));
    return { operations, keys: [...this.keys.keys()].filter((k) => used.has(k)) };
  }

  private validate(raw: unknown, line: number): HistoryEvent {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.fail(line, 'an event must be a JSON object');
    }
    const e = raw as Record<string, unknown>;
    for (const field of ['process', 'type', 'f', 'key', 'time']) {
      if (!(field in e)) this.fail(line, `missing field "${field}"`);
    }
    const { process, type, f, key, time, value } = e;
    if (!(typeof process === 'string' || Number.isInteger(process))) {
      this.fail(line, `"process" must be an integer or a string, got ${show(process)}`);
    }
    if (typeof type !== 'string' || !EVENT_TYPES.includes(type)) {
      this.fail(line, `unknown type ${show(type)} (expected invoke, ok, fail or info)`);
    }
    if (typeof f !== 'string' || f === '') this.fail(line, `"f" must be a non-empty string, got ${show(f)}`);
    if (typeof key !== 'string' && typeof key !== 'number') {
      this.fail(line, `"key" must be a string or a number, got ${show(key)}`);
    }
    if (typeof time !== 'number' || !Number.isFinite(time)) {
      this.fail(line, `"time" must be a finite number, got ${show(time)}`);
    }
    return {
      process: process as number | string,
      type: type as EventType,
      f: f as string,
      key: key as string | number,
      value: value as Json | undefined,
      time: time as number,
    };
  }

  private fail(line: number, problem: string): never {
    throw new HistoryError(line, problem, this.label);
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
