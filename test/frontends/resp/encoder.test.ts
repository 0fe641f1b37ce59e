/**
 * The encoder writes every reply type byte for byte as Redis does, in RESP2 and RESP3.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  array,
  bulk,
  encode,
  error,
  integer,
  map,
  NULL,
  NULL_ARRAY,
  OK,
  type RespValue,
  RespWriter,
  simple,
} from '../../../src/frontends/resp/encoder.js';

const bytes = (v: RespValue, protocol: 2 | 3 = 2) => encode(v, protocol).toString('latin1');

describe('RESP encoder', () => {
  test('RESP2 replies are byte-exact', () => {
    assert.equal(bytes(OK), '+OK\r\n');
    assert.equal(bytes(simple('PONG')), '+PONG\r\n');
    assert.equal(bytes(error('ERR syntax error')), '-ERR syntax error\r\n');
    assert.equal(bytes(integer(0)), ':0\r\n');
    assert.equal(bytes(integer(-42)), ':-42\r\n');
    assert.equal(bytes(integer(Number.MAX_SAFE_INTEGER)), `:${Number.MAX_SAFE_INTEGER}\r\n`);
    assert.equal(bytes(bulk('hello')), '$5\r\nhello\r\n');
    assert.equal(bytes(bulk('')), '$0\r\n\r\n');
    assert.equal(bytes(bulk(Buffer.from([0, 13, 10]))), '$3\r\n\x00\r\n\r\n');
    assert.equal(bytes(NULL), '$-1\r\n');
    assert.equal(bytes(NULL_ARRAY), '*-1\r\n');
    assert.equal(bytes(array([])), '*0\r\n');
    assert.equal(
      bytes(array([bulk('a'), NULL, integer(1), array([OK])])),
      '*4\r\n$1\r\na\r\n$-1\r\n:1\r\n*1\r\n+OK\r\n',
    );
    assert.equal(bytes(map([[bulk('save'), bulk('')]])), '*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
  });

  test('RESP3 has its own null and map', () => {
    assert.equal(bytes(NULL, 3), '_\r\n');
    assert.equal(bytes(NULL_ARRAY, 3), '_\r\n');
    assert.equal(bytes(map([[bulk('proto'), integer(3)]]), 3), '%1\r\n$5\r\nproto\r\n:3\r\n');
    assert.equal(bytes(OK, 3), '+OK\r\n');
  });

  test('an error cannot break the framing: CR and LF become spaces, as Redis does', () => {
    assert.equal(bytes(error('ERR bad\r\nthing')), '-ERR bad  thing\r\n');
    assert.throws(() => encode(simple('a\r\nb')), /cannot contain CR or LF/);
  });

  test("error and simple-string text is bytes: a client's binary argument is echoed exactly", () => {
    const text = Buffer.from([0xff, 0x80, 0x41]).toString('latin1');
    assert.deepEqual(
      [...encode(error(`ERR '${text}'`))],
      [...Buffer.from("-ERR '"), 0xff, 0x80, 0x41, ...Buffer.from("'\r\n")],
    );
  });

  test('a writer packs many replies and large values into few buffers, with the same bytes (property)', () => {
    const value: fc.Arbitrary<RespValue> = fc.letrec<{ v: RespValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom(OK, NULL, NULL_ARRAY, error('ERR x')),
        fc.integer().map(integer),
        fc
          .oneof(
            fc.uint8Array({ maxLength: 50 }),
            fc.integer({ min: 0, max: 100_000 }).map((n) => new Uint8Array(n).fill(7)),
          )
          .map(bulk),
        fc.array(tie('v'), { maxLength: 4 }).map(array),
      ),
    })).v;
    fc.assert(
      fc.property(
        fc.array(value, { maxLength: 30 }),
        fc.constantFrom(2 as const, 3 as const),
        (values, protocol) => {
          const writer = new RespWriter(protocol);
          for (const v of values) writer.write(v);
          const size = writer.size;
          const written = Buffer.concat(writer.take());
          assert.equal(written.length, size);
          assert.ok(written.equals(Buffer.concat(values.map((v) => encode(v, protocol)))));
          assert.equal(writer.take().length, 0, 'taken once');
        },
      ),
      { numRuns: 100 },
    );
  });

  test('buffers taken earlier are never overwritten by later replies', () => {
    const writer = new RespWriter();
    writer.write(bulk('first'));
    const first = writer.take();
    const copy = Buffer.concat(first);
    for (let i = 0; i < 5000; i++) writer.write(bulk('second'));
    writer.take();
    assert.ok(Buffer.concat(first).equals(copy));
  });
});
