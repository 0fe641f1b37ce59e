/**
 * Frames: what goes in comes out, however the stream is cut, and nothing a peer sends can crash
 * the decoder, hang it, or make it hold more than one frame's worth of memory.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { crc32c, crc32cBitwise } from '../../../src/adapters/transport/crc32c.js';
import { isTransportError, TransportError } from '../../../src/adapters/transport/errors.js';
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  FLAG_CONTROL,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC_0,
  FRAME_MAGIC_1,
  FRAME_VERSION,
  type Frame,
  FrameDecoder,
  MAX_NESTING_DEPTH,
} from '../../../src/adapters/transport/frame.js';

const FRAME_CODES = new Set([
  'FRAME_TOO_LARGE',
  'BAD_MAGIC',
  'BAD_VERSION',
  'BAD_FLAGS',
  'BAD_CHECKSUM',
  'BAD_PAYLOAD',
]);

/** Every msgpack-able plain value: what core messages are made of. */
const plainValue = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer(),
    // msgpack has no negative zero for integers; -0 arrives as 0 (documented)
    fc.double().map((x) => (Object.is(x, -0) ? 0 : x)),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.uint8Array({ maxLength: 64 }),
  ),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 6 }),
  object: fc.dictionary(
    fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'),
    tie('value'),
    { maxKeys: 6, noNullPrototype: true },
  ),
})).value;

/** Feeds `chunks` and drains; returns the frames, and checks the memory bound after every drain. */
function feed(decoder: FrameDecoder, chunks: Uint8Array[]): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let f = decoder.next(); f; f = decoder.next()) out.push(f);
    assert.ok(
      decoder.bufferedBytes < FRAME_HEADER_BYTES + decoder.maxPayloadBytes,
      `between frames the decoder holds less than one maximal frame (holds ${decoder.bufferedBytes})`,
    );
  }
  return out;
}

/** The TransportError `fn` throws (fails the test when it throws anything else or nothing). */
function transportErrorOf(fn: () => unknown): TransportError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TransportError, `expected a TransportError, got ${e}`);
    return e;
  }
  assert.fail('expected an error');
}

function header(length: number, overrides: Partial<Record<0 | 1 | 2 | 3, number>> = {}, crc = 0): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h[0] = overrides[0] ?? FRAME_MAGIC_0;
  h[1] = overrides[1] ?? FRAME_MAGIC_1;
  h[2] = overrides[2] ?? FRAME_VERSION;
  h[3] = overrides[3] ?? 0;
  h.writeUInt32BE(length, 4);
  h.writeUInt32BE(crc, 8);
  return h;
}

/** A frame whose header is valid and whose checksum matches, around arbitrary payload bytes. */
function rawFrame(payload: Uint8Array, flags = 0): Buffer {
  return Buffer.concat([header(payload.length, { 3: flags }, crc32c(payload)), payload]);
}

describe('CRC-32C', () => {
  test('matches the published check values', () => {
    // RFC 3720 (iSCSI) appendix B.4 and the catalogue check value for "123456789".
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  test('the table-driven version equals the bit-by-bit definition, and can be continued', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const k = Math.min(cut, bytes.length);
        assert.equal(crc32c(bytes), crc32cBitwise(bytes));
        assert.equal(crc32c(bytes.subarray(k), crc32c(bytes.subarray(0, k))), crc32c(bytes));
      }),
      { numRuns: 500 },
    );
  });
});

describe('frame encode/decode', () => {
  test('any plain value survives a frame unchanged', () => {
    fc.assert(
      fc.property(plainValue, fc.boolean(), (value, control) => {
        const frame = encodeFrame(value, { flags: control ? FLAG_CONTROL : 0 });
        const [decoded, ...rest] = feed(new FrameDecoder(), [frame]);
        assert.equal(rest.length, 0);
        assert.deepEqual(decoded.value, value);
        assert.equal(decoded.control, control);
        assert.equal(decoded.frameBytes, frame.length);
      }),
      { numRuns: 400 },
    );
  });

  test('binary values arrive as plain Uint8Arrays that own their bytes', () => {
    const sent = { key: Buffer.from('k'), empty: new Uint8Array(0), v: Uint8Array.from([1, 2, 3]) };
    const frame = encodeFrame(sent);
    const [got] = feed(new FrameDecoder(), [frame]);
    const value = got.value as Record<string, Uint8Array>;
    for (const k of ['key', 'empty', 'v']) {
      assert.equal(
        value[k].constructor,
        Uint8Array,
        `${k} is a Uint8Array, not a Buffer, so deepEqual holds`,
      );
    }
    frame.fill(0);
    assert.deepEqual(
      [...value.v],
      [1, 2, 3],
      'decoded bytes are a copy: reusing the receive buffer cannot change them',
    );
  });

  test('big strings and byte arrays (1 MiB each) round-trip', () => {
    const value = { s: 'ü'.repeat(512 * 1024), b: Uint8Array.from({ length: 1 << 20 }, (_, i) => i * 31) };
    const [got] = feed(new FrameDecoder(), [encodeFrame(value)]);
    assert.deepEqual(got.value, value);
  });

  test('values that would not survive the trip are refused at the sender (UNENCODABLE)', () => {
    class Point {
      x = 1;
    }
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_NESTING_DEPTH; i++) deep = [deep];
    const refused: [string, unknown][] = [
      ['Map', new Map([[1, 2]])],
      ['Set', new Set([1])],
      ['Date', new Date(0)],
      ['class instance', new Point()],
      ['function', { f: () => 1 }],
      ['symbol', Symbol('s')],
      ['Int16Array', new Int16Array(2)],
      ['bigint beyond 64 bits', 2n ** 70n],
      ['nesting deeper than the limit', deep],
      ['own __proto__ key', JSON.parse('{"__proto__": 1}')],
    ];
    for (const [what, value] of refused) {
      const e = transportErrorOf(() => encodeFrame(value));
      assert.equal(e.code, 'UNENCODABLE', `${what} is refused`);
    }
  });

  test('a payload above the limit is refused at the sender (FRAME_TOO_LARGE)', () => {
    const e = transportErrorOf(() => encodeFrame(new Uint8Array(2000), { maxPayloadBytes: 1000 }));
    assert.equal(e.code, 'FRAME_TOO_LARGE');
  });
});

describe('streaming decoder', () => {
  const values = [
    { type: 'ping', seq: 1 },
    'x',
    { big: 'y'.repeat(5000), bytes: new Uint8Array(300).fill(7) },
    [1, 2, [3, { four: 4n }]],
    null,
  ];
  const stream = Buffer.concat(values.map((v, i) => encodeFrame(v, { flags: i === 1 ? FLAG_CONTROL : 0 })));

  test('frames split at every offset decode to the same values', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const frames = feed(new FrameDecoder(), [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(
        frames.map((f) => f.value),
        values,
        `cut at byte ${cut}`,
      );
    }
  });

  test('byte-by-byte and random multi-way splits decode to the same values', () => {
    const bytewise = feed(
      new FrameDecoder(),
      Array.from(stream, (b) => Uint8Array.of(b)),
    );
    assert.deepEqual(
      bytewise.map((f) => f.value),
      values,
    );
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(stream.length), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const chunks = points.slice(1).map((end, i) => stream.subarray(points[i], end));
        assert.deepEqual(
          feed(new FrameDecoder(), chunks).map((f) => f.value),
          values,
        );
      }),
      { numRuns: 300 },
    );
  });

  test('an oversized length is refused as soon as the header is complete, before any payload is buffered', () => {
    const decoder = new FrameDecoder({ maxPayloadBytes: 1024 });
    decoder.push(header(0xffffffff).subarray(0, FRAME_HEADER_BYTES - 1));
    assert.equal(decoder.next(), undefined, 'an incomplete header waits');
    decoder.push(header(0xffffffff).subarray(FRAME_HEADER_BYTES - 1));
    assert.equal(transportErrorOf(() => decoder.next()).code, 'FRAME_TOO_LARGE');
    assert.equal(decoder.bufferedBytes, 0, 'a failed decoder lets go of its buffer');
    assert.equal(
      transportErrorOf(() => decoder.push(new Uint8Array(1))).code,
      'FRAME_TOO_LARGE',
      'errors are final',
    );

    const atLimit = new FrameDecoder({ maxPayloadBytes: 1024 });
    atLimit.push(header(1024));
    assert.equal(atLimit.next(), undefined, 'exactly the limit is accepted and waits for its payload');
  });

  test('the limit can be raised between frames, even within one chunk', () => {
    const small = encodeFrame('hello');
    const large = encodeFrame('z'.repeat(4000));
    const decoder = new FrameDecoder({ maxPayloadBytes: 100 });
    decoder.push(Buffer.concat([small, large]));
    assert.equal(decoder.next()?.value, 'hello');
    decoder.maxPayloadBytes = 10_000;
    assert.equal(decoder.next()?.value, 'z'.repeat(4000));
  });

  test('garbage is refused on its first byte; a bad version, flag or checksum by its own code', () => {
    const cases: [string, Uint8Array, string][] = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'BAD_MAGIC'],
      ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), 'BAD_MAGIC'],
      ['half a magic', Buffer.from([FRAME_MAGIC_0, 0x00]), 'BAD_MAGIC'],
      ['another frame version', header(1, { 2: FRAME_VERSION + 1 }).subarray(0, 3), 'BAD_VERSION'],
      ['unknown flags', header(1, { 3: 0x80 }).subarray(0, 4), 'BAD_FLAGS'],
    ];
    for (const [what, bytes, code] of cases) {
      const decoder = new FrameDecoder();
      decoder.push(bytes.subarray(0, code === 'BAD_MAGIC' && bytes[0] !== FRAME_MAGIC_0 ? 1 : bytes.length));
      assert.equal(transportErrorOf(() => decoder.next()).code, code, what);
    }
    const frame = encodeFrame({ hello: 'world' });
    frame[frame.length - 1] ^= 0x01;
    assert.equal(transportErrorOf(() => feed(new FrameDecoder(), [frame])).code, 'BAD_CHECKSUM');
  });

  test('a valid frame around bytes that are not plain msgpack data is BAD_PAYLOAD', () => {
    const cases: [string, number[]][] = [
      ['reserved byte 0xc1', [0xc1]],
      ['a truncated string', [0xa5, 0x61]],
      ['trailing bytes after the value', [0x01, 0x02]],
      ['a msgpack timestamp (Date)', [0xd6, 0xff, 0, 0, 0, 0]],
      ['a structured-clone pointer', [0xd6, 0x70, 0, 0, 0, 1]],
      ['an array claiming 2^32-1 items', [0xdd, 0xff, 0xff, 0xff, 0xff]],
      ['nesting far below the stack', new Array(200_000).fill(0x91)],
    ];
    for (const [what, bytes] of cases) {
      const e = transportErrorOf(() => feed(new FrameDecoder(), [rawFrame(Uint8Array.from(bytes))]));
      assert.equal(e.code, 'BAD_PAYLOAD', what);
    }
    const nested = (levels: number) => Uint8Array.from([...new Array(levels).fill(0x91), 0x00]);
    assert.doesNotThrow(
      () => decodePayload(nested(MAX_NESTING_DEPTH)),
      'nesting up to the limit is accepted',
    );
    assert.equal(transportErrorOf(() => decodePayload(nested(MAX_NESTING_DEPTH + 1))).code, 'BAD_PAYLOAD');
  });

  test('random bytes never crash or hang the decoder, and memory stays within one frame', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }),
        fc.boolean(),
        (chunks, startWithMagic) => {
          if (startWithMagic) chunks.unshift(Uint8Array.of(FRAME_MAGIC_0, FRAME_MAGIC_1, FRAME_VERSION));
          const decoder = new FrameDecoder({ maxPayloadBytes: 256 });
          try {
            feed(decoder, chunks);
          } catch (e) {
            assert.ok(isTransportError(e) && FRAME_CODES.has(e.code), `a typed frame error, got ${e}`);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('random payloads in well-formed frames decode to plain data or fail with BAD_PAYLOAD', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 120 }), (payload) => {
        try {
          const [frame] = feed(new FrameDecoder(), [rawFrame(payload)]);
          assert.doesNotThrow(() => encodePayload(frame.value), 'whatever decodes is plain data again');
        } catch (e) {
          assert.ok(isTransportError(e, 'BAD_PAYLOAD'), `BAD_PAYLOAD, got ${e}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('a corrupted stream fails with a frame error code, never another exception', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(stream.length - 1), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(stream.length),
        (flips, cut) => {
          const bytes = Buffer.from(stream);
          for (const [at, mask] of flips) bytes[at] ^= mask;
          try {
            feed(new FrameDecoder({ maxPayloadBytes: 8192 }), [bytes.subarray(0, cut), bytes.subarray(cut)]);
          } catch (e) {
            assert.ok(isTransportError(e) && FRAME_CODES.has(e.code), `a typed frame error, got ${e}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
