import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HistoryError, historyFromEvents, parseHistory } from '../../src/check/history.js';
import { checkHistory } from '../../src/check/linearizability.js';
import { casRegister, kv } from '../../src/check/models.js';

const lines = (...events: object[]): string => events.map((e) => JSON.stringify(e)).join('\n');
const ev = (process: number | string, type: string, f: string, value: unknown, time: number, key = 'k') => ({
  process,
  type,
  f,
  key,
  value,
  time,
});

/** Asserts that parsing throws a HistoryError for `line` whose message matches `pattern`. */
function rejects(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parseHistory(text),
    (err: unknown) => {
      assert.ok(err instanceof HistoryError, `expected a HistoryError, got ${err}`);
      assert.equal(err.line, line);
      assert.match(err.message, new RegExp(`^line ${line}: `));
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('pairs each invoke with the next completion of the same process', () => {
  const h = parseHistory(
    lines(
      ev(1, 'invoke', 'write', 1, 0),
      ev(2, 'invoke', 'read', null, 1),
      ev(2, 'ok', 'read', 1, 2),
      ev(1, 'ok', 'write', 1, 3),
    ),
  );
  assert.equal(h.operations.length, 2);
  const [write, read] = h.operations;
  assert.deepEqual(
    [write.process, write.f, write.input, write.known, write.invokeTime, write.returnTime],
    [1, 'write', 1, true, 0, 3],
  );
  assert.deepEqual([read.output, read.invokeLine, read.returnLine], [1, 2, 3]);
  assert.deepEqual(h.keys, ['k']);
});

test('fail operations are dropped; info and missing completions return at +Infinity, unknown', () => {
  const h = parseHistory(
    lines(
      ev(1, 'invoke', 'write', 1, 0),
      ev(1, 'fail', 'write', 1, 1),
      ev(2, 'invoke', 'write', 2, 2),
      ev(2, 'info', 'write', null, 3),
      ev(3, 'invoke', 'write', 3, 4),
    ),
  );
  assert.deepEqual(
    h.operations.map((op) => [op.index, op.input, op.known, op.returnTime]),
    [
      [0, 2, false, Number.POSITIVE_INFINITY],
      [1, 3, false, Number.POSITIVE_INFINITY],
    ],
  );
});

test('blank lines, CRLF line ends and nemesis events are accepted', () => {
  const text = `${JSON.stringify(ev('nemesis', 'info', 'start', null, 0))}\r\n\r\n${JSON.stringify(ev(1, 'invoke', 'read', null, 1))}\r\n`;
  const h = parseHistory(text);
  assert.equal(h.operations.length, 1);
  assert.equal(h.operations[0].known, false);
});

test('bad JSON names the line', () => {
  rejects(`${JSON.stringify(ev(1, 'invoke', 'read', null, 0))}\n{"process": 1,`, 2, /bad JSON/);
});

test('a missing field names the field', () => {
  rejects(JSON.stringify({ type: 'invoke', f: 'read', key: 'k', time: 0 }), 1, /missing field "process"/);
  rejects(JSON.stringify({ process: 1, type: 'invoke', f: 'read', key: 'k' }), 1, /missing field "time"/);
});

test('an unknown type, a non-object, a bad time or process are rejected', () => {
  rejects(JSON.stringify(ev(1, 'done', 'read', null, 0)), 1, /unknown type "done"/);
  rejects('[1, 2]', 1, /must be a JSON object/);
  rejects(JSON.stringify(ev(1, 'invoke', 'read', null, 0)).replace('"time":0', '"time":"soon"'), 1, /"time"/);
  rejects(JSON.stringify(ev(1.5, 'invoke', 'read', null, 0)), 1, /"process" must be an integer/);
});

test('a completion without an invoke is rejected', () => {
  rejects(lines(ev(1, 'invoke', 'read', null, 0), ev(2, 'ok', 'read', null, 1)), 2, /without an invoke/);
});

test('a process invoking twice is rejected, naming the outstanding operation', () => {
  rejects(
    lines(ev(1, 'invoke', 'read', null, 0), ev(1, 'invoke', 'write', 3, 1)),
    2,
    /process 1 invokes again .* line 1/,
  );
});

test('a completion whose f or key differs from its invoke is rejected', () => {
  rejects(lines(ev(1, 'invoke', 'read', null, 0), ev(1, 'ok', 'write', 1, 1)), 2, /f 'write'.*'read'/);
  rejects(lines(ev(1, 'invoke', 'read', null, 0), ev(1, 'ok', 'read', 1, 1, 'j')), 2, /key 'j'/);
});

test('time going backwards is rejected', () => {
  rejects(lines(ev(1, 'invoke', 'read', null, 5), ev(2, 'invoke', 'read', null, 4)), 2, /earlier/);
});

test('a line longer than the limit is rejected before parsing it', () => {
  const long = JSON.stringify(ev(1, 'invoke', 'write', 'x'.repeat(200), 0));
  assert.throws(
    () => parseHistory(`\n${long}`, { maxLineLength: 100 }),
    /^HistoryError: line 2: .*limit 100/,
  );
  assert.equal(parseHistory(long, { maxLineLength: 1000 }).operations.length, 1);
});

test('in-memory events: errors name the position of the event', () => {
  assert.throws(
    () => historyFromEvents([ev(1, 'invoke', 'read', null, 0), { process: 1 }]),
    /^HistoryError: event 2: /,
  );
  assert.equal(historyFromEvents([ev(1, 'invoke', 'read', null, 0)]).operations.length, 1);
});

test('operations a model does not understand are reported with their line', () => {
  const now = () => 0;
  const badCas = parseHistory(lines(ev(1, 'invoke', 'write', 1, 0), ev(2, 'invoke', 'cas', 3, 1)));
  assert.throws(
    () => checkHistory(badCas, casRegister, { now }),
    /^HistoryError: line 2: a cas value must be/,
  );
  const casInKv = parseHistory(lines(ev(1, 'invoke', 'cas', [1, 2], 0)));
  assert.throws(
    () => checkHistory(casInKv, kv, { now }),
    /^HistoryError: line 1: the kv model has no operation 'cas'/,
  );
  const numberInKv = parseHistory(lines(ev(1, 'invoke', 'append', 7, 0)));
  assert.throws(() => checkHistory(numberInKv, kv, { now }), /line 1: the kv model needs a string/);
});
