/**
 * The RESP parser: requests come out whole and unchanged however the bytes are split; protocol
 * errors carry Redis's messages; no input, however hostile, makes it throw, loop or hold more
 * memory than the client has sent and the limits allow.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type ParseResult,
  type ParserLimits,
  RespParser,
  splitInlineArgs,
} from '../../../src/frontends/resp/parser.js';
import { command } from './helpers.js';

type Outcome = { commands: string[][]; error: string | null };

/** Feeds `chunks` one after another, draining the parser after each; what came out. */
function parseChunks(chunks: Uint8Array[], limits: Partial<ParserLimits> = {}): Outcome {
  const parser = new RespParser(limits);
  const commands: string[][] = [];
  let error: string | null = null;
  for (const chunk of chunks) {
    parser.feed(chunk);
    for (;;) {
      const r: ParseResult = parser.next();
      if (r.kind === 'incomplete') break;
      if (r.kind === 'error') {
        error = r.message;
        break;
      }
      commands.push(r.args.map((a) => a.toString('latin1')));
    }
    if (error !== null) break;
  }
  return { commands, error };
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

const binaryArg = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const requestArb = fc.array(binaryArg, { minLength: 1, maxLength: 6 });

describe('RESP parser', () => {
  test('a multibulk request comes out as its arguments, binary-safe', () => {
    const value = Buffer.from([0, 13, 10, 255, 36, 42]);
    const out = parseChunks([command('SET', 'k', value)]);
    assert.equal(out.error, null);
    assert.deepEqual(out.commands, [['SET', 'k', value.toString('latin1')]]);
  });

  test('inline requests are split like redis-cli and telnet users expect', () => {
    const out = parseChunks([Buffer.from("PING\r\nset  key \"a b\\x41\\n\"\tc\nECHO 'it\\'s'\r\n")]);
    assert.equal(out.error, null);
    assert.deepEqual(out.commands, [['PING'], ['set', 'key', 'a bA\n', 'c'], ['ECHO', "it's"]]);
  });

  test('empty lines, *0 and negative counts are ignored, as in Redis', () => {
    const out = parseChunks([Buffer.from('\r\n   \r\n*0\r\n*-10\r\nPING\r\n')]);
    assert.deepEqual(out, { commands: [['PING']], error: null });
  });

  test('pipelined requests in one chunk all come out, in order', () => {
    const stream = Buffer.concat([command('GET', 'a'), Buffer.from('PING\r\n'), command('SET', 'b', '1')]);
    assert.deepEqual(parseChunks([stream]).commands, [['GET', 'a'], ['PING'], ['SET', 'b', '1']]);
  });

  test('a pipeline split at every single offset parses the same', () => {
    const stream = Buffer.concat([
      command('SET', 'key', Buffer.from([13, 10, 0])),
      Buffer.from('PING "x y"\r\n'),
      command('MGET', 'a', '', 'c'),
      Buffer.from('\n*-1\r\n'),
      command('ECHO', 'x'.repeat(300)),
    ]);
    const whole = parseChunks([stream]);
    assert.equal(whole.commands.length, 4);
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(parseChunks([stream.subarray(0, i), stream.subarray(i)]), whole, `split at ${i}`);
    }
    const byteByByte = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(parseChunks(byteByByte), whole, 'fed one byte at a time');
  });

  test('any requests, split anywhere, come out exactly as sent (property)', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (requests, cuts) => {
          const stream = Buffer.concat(requests.map((r) => command(...r)));
          const out = parseChunks(splitAt(stream, cuts));
          assert.equal(out.error, null);
          assert.deepEqual(
            out.commands,
            requests.map((r) => r.map((a) => a.toString('latin1'))),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  describe("protocol errors carry Redis's messages (tests/unit/protocol.tcl)", () => {
    const cases: [string, string | Buffer, string][] = [
      ['out of range multibulk length', '*20000000\r\n', 'Protocol error: invalid multibulk length'],
      ['non-number multibulk length', '*x\r\n', 'Protocol error: invalid multibulk length'],
      [
        'wrong multibulk payload header',
        '*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n',
        "Protocol error: expected '$', got 'f'",
      ],
      [
        'negative bulk length',
        '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n',
        'Protocol error: invalid bulk length',
      ],
      [
        'out of range bulk length',
        '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n',
        'Protocol error: invalid bulk length',
      ],
      [
        'non-number bulk length',
        '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n',
        'Protocol error: invalid bulk length',
      ],
      ['multibulk not followed by bulk arguments', '*1\r\nfoo\r\n', "Protocol error: expected '$', got 'f'"],
      ['unbalanced quotes', 'SET "a\r\n', 'Protocol error: unbalanced quotes in request'],
      ['closing quote followed by a letter', 'SET "a"b\r\n', 'Protocol error: unbalanced quotes in request'],
      [
        'desync: NUL then no newline',
        Buffer.concat([Buffer.from([0]), Buffer.alloc(70_000, 'A')]),
        'Protocol error: too big inline request',
      ],
      [
        'desync: * then NUL',
        Buffer.concat([Buffer.from('*\x00'), Buffer.alloc(70_000, 'A')]),
        'Protocol error: too big mbulk count string',
      ],
      [
        'desync: bulk header never ends',
        Buffer.concat([Buffer.from('*1\r\n$'), Buffer.alloc(70_000, '1')]),
        'Protocol error: too big bulk count string',
      ],
      [
        'bulk data longer than announced',
        '*1\r\n$1\r\nab\r\n',
        "Protocol error: expected '\\r\\n' after bulk data",
      ],
    ];
    for (const [name, input, message] of cases) {
      test(`${name}: "${message}", however the bytes arrive`, () => {
        const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
        assert.equal(parseChunks([bytes]).error, message);
        if (bytes.length < 100) {
          assert.equal(parseChunks([...bytes].map((b) => Buffer.from([b]))).error, message, 'byte by byte');
        }
      });
    }

    test('requests before the error still come out, then the error, and nothing after', () => {
      const out = parseChunks([Buffer.from('PING\r\n*1\r\n$4\r\nECHO\r\n*1\r\nx\r\nPING\r\n')]);
      assert.deepEqual(out, {
        commands: [['PING'], ['ECHO']],
        error: "Protocol error: expected '$', got 'x'",
      });
    });

    test('after an error the parser stays failed and holds no memory', () => {
      const parser = new RespParser();
      parser.feed(Buffer.from('*x\r\n'));
      assert.equal(parser.next().kind, 'error');
      parser.feed(Buffer.from('PING\r\n'));
      assert.equal(parser.next().kind, 'error');
      assert.equal(parser.bufferedBytes, 0);
    });
  });

  describe('limits', () => {
    test('the argument count and bulk length limits are configurable', () => {
      const limits = { maxArgs: 3, maxBulkBytes: 5 };
      assert.equal(parseChunks([command('a', 'b', 'c')], limits).error, null);
      assert.equal(
        parseChunks([command('a', 'b', 'c', 'd')], limits).error,
        'Protocol error: invalid multibulk length',
      );
      assert.equal(parseChunks([command('a', '12345')], limits).error, null);
      assert.equal(
        parseChunks([command('a', '123456')], limits).error,
        'Protocol error: invalid bulk length',
      );
    });

    test('an inline request may be as long as the limit, not longer', () => {
      const limits = { maxInlineBytes: 100 };
      assert.equal(parseChunks([Buffer.from(`ECHO ${'x'.repeat(95)}\n`)], limits).error, null);
      assert.equal(
        parseChunks([Buffer.from(`ECHO ${'x'.repeat(200)}`)], limits).error,
        'Protocol error: too big inline request',
      );
    });

    test('a declared 16 MiB argument holds only the bytes that have arrived', () => {
      const parser = new RespParser();
      parser.feed(Buffer.from(`*2\r\n$3\r\nSET\r\n$${16 * 1024 * 1024}\r\n`));
      assert.equal(parser.next().kind, 'incomplete');
      parser.feed(Buffer.alloc(1000, 'v'));
      assert.equal(parser.next().kind, 'incomplete');
      assert.ok(parser.bufferedBytes <= 1003, `holds ${parser.bufferedBytes} bytes for 1003 received`);
    });

    test('a large argument arriving in many small chunks is assembled intact', () => {
      const value = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
      const stream = command('SET', 'big', value);
      const parser = new RespParser();
      let result: ParseResult = { kind: 'incomplete' };
      for (let i = 0; i < stream.length; i += 1500) {
        parser.feed(stream.subarray(i, i + 1500));
        result = parser.next();
        if (result.kind !== 'incomplete') break;
      }
      assert.equal(result.kind, 'command');
      assert.ok(result.kind === 'command' && result.args[2].equals(value));
    });

    test('random and adversarial bytes never throw or loop, and memory stays within the limits (property)', () => {
      const limits: ParserLimits = { maxArgs: 4, maxBulkBytes: 50, maxInlineBytes: 64 };
      // After the parser has taken what it can, it holds at most one incomplete request.
      const bound =
        (limits.maxArgs - 1) * limits.maxBulkBytes +
        Math.max(limits.maxBulkBytes + 2, limits.maxInlineBytes + 1);
      const token = fc.oneof(
        fc.uint8Array({ maxLength: 30 }),
        fc
          .constantFrom(
            '*',
            '$',
            '\r\n',
            '\r',
            '\n',
            '"',
            "'",
            '\\x',
            '*3\r\n',
            '$5\r\n',
            '$-1\r\n',
            '*-1\r\n',
            '*99999\r\n',
            'PING\r\n',
            '\0',
          )
          .map((s) => Buffer.from(s, 'latin1')),
        requestArb.map((r) => command(...r)),
      );
      fc.assert(
        fc.property(
          fc.array(token, { maxLength: 40 }),
          fc.array(fc.nat(), { maxLength: 10 }),
          (tokens, cuts) => {
            const stream = Buffer.concat(tokens.map((t) => Buffer.from(t)));
            const parser = new RespParser(limits);
            let steps = 0;
            for (const chunk of splitAt(stream, cuts)) {
              parser.feed(chunk);
              for (;;) {
                assert.ok(++steps <= stream.length + 10, 'every step consumes input');
                const r = parser.next();
                if (r.kind !== 'command') break;
                assert.ok(r.args.length >= 1 && r.args.length <= Math.max(limits.maxArgs, stream.length));
              }
              assert.ok(parser.bufferedBytes <= bound, `holds ${parser.bufferedBytes} > ${bound} bytes`);
            }
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  test('sdssplitargs rules: quotes may start mid-argument; escapes only in double quotes', () => {
    const split = (s: string) =>
      splitInlineArgs(Buffer.from(s, 'latin1'))?.map((a) => a.toString('latin1')) ?? null;
    assert.deepEqual(split('a"b c"d'), null, 'a closing quote must be followed by a blank');
    assert.deepEqual(split('a"b c" d'), ['ab c', 'd']);
    assert.deepEqual(split("'a\\nb'"), ['a\\nb']);
    assert.deepEqual(split('"\\x4g"'), ['x4g'], 'not a hex escape: the backslash escapes the x');
    assert.deepEqual(split('""'), ['']);
    assert.deepEqual(split('a\0b c'), ['a'], 'a NUL ends the line, as for a C string');
    assert.deepEqual(split('   '), []);
  });
});
