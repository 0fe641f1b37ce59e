/**
 * Frames: how messages travel between node processes over a byte stream.
 *
 * ```
 *  byte  0      1      2        3       4       5       6       7       8       9      10      11
 *      +------+------+--------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
 *      | 0xA7 | 0x9F | version| flags |  payload length (u32, big-endian) | CRC-32C of payload (u32 BE)|
 *      +------+------+--------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
 *      | payload: `length` bytes of msgpack                                                          …
 *      +------------------------------------------------------------------------------------------- …
 * ```
 *
 * The magic starts with a byte that is not ASCII, so an HTTP request, a Redis command or a TLS
 * ClientHello (0x16) is refused on its first byte. The length is checked against the limit as
 * soon as the header is complete, before any payload is buffered. The checksum covers the
 * payload; TCP's own 16-bit checksum lets roughly one corrupted segment in 65,536 through, and
 * a frame that decodes to a wrong message is worse than a frame that is refused.
 *
 * Payloads are plain data only (see `checkPlainData`): what a node sends is exactly what its
 * peer receives, and a peer cannot make us build Dates, Sets, Errors, RegExps or class instances.
 */
import { Buffer } from 'node:buffer';
import { Packr } from 'msgpackr';
import { crc32c } from './crc32c.js';
import { TransportError } from './errors.js';

export const FRAME_MAGIC_0 = 0xa7;
export const FRAME_MAGIC_1 = 0x9f;
/** Version of the frame layout above. A change to the header or the payload codec bumps it. */
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 12;

/** Flag bit: a transport control frame (handshake, keepalive, goodbye), never handed to the core. */
export const FLAG_CONTROL = 0x01;
const KNOWN_FLAGS = FLAG_CONTROL;

/**
 * Default largest payload of one frame: 16 MiB. Big enough for a range of records moved during
 * rebalancing in one message; the sender splits anything larger. A node buffers at most this
 * much (plus one header and one socket read) per connection while a frame arrives.
 */
export const DEFAULT_MAX_FRAME_PAYLOAD_BYTES = 16 * 1024 * 1024;

/**
 * Deepest nesting of arrays and objects a payload may have. Protocol messages nest a handful of
 * levels; the limit keeps a hostile payload from exhausting the stack of whoever walks it later.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * The msgpack codec, configured for untrusted input and no shared state: no records or
 * structures (they would make a frame's meaning depend on earlier frames), no structured-clone
 * references, binary data copied out of the receive buffer (so a decoded message never pins a
 * socket chunk), 64-bit integers as bigint (no silent precision loss).
 */
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  copyBuffers: true,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  bundleStrings: false,
});

/**
 * Throws UNENCODABLE unless `value` is plain data: null, undefined, booleans, numbers, bigints
 * (64-bit), strings, Uint8Arrays (Buffers included), arrays and plain objects of these, nested at
 * most MAX_NESTING_DEPTH deep. Everything else would not survive the trip unchanged (a Map
 * arrives as an object, a Set as an array, a class instance loses its prototype), so it is
 * refused where the mistake is made, at the sender.
 */
export function checkPlainData(value: unknown, depth = 0): void {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return;
    case 'object': {
      if (value === null) return;
      if (value instanceof Uint8Array) {
        if (value.constructor === Uint8Array || Buffer.isBuffer(value)) return;
        break;
      }
      if (depth >= MAX_NESTING_DEPTH) {
        throw new TransportError('UNENCODABLE', `nested deeper than ${MAX_NESTING_DEPTH} levels`);
      }
      if (Array.isArray(value)) {
        for (const item of value) checkPlainData(item, depth + 1);
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) break;
      if (Object.hasOwn(value, '__proto__')) {
        throw new TransportError('UNENCODABLE', 'an own "__proto__" key does not survive decoding');
      }
      for (const key in value) checkPlainData((value as Record<string, unknown>)[key], depth + 1);
      return;
    }
  }
  const kind = typeof value === 'object' ? (value?.constructor?.name ?? 'object') : typeof value;
  throw new TransportError('UNENCODABLE', `${kind} is not plain data`);
}

/**
 * Checks a freshly decoded value the way `checkPlainData` checks an outgoing one, and turns
 * Buffers into plain Uint8Array views (same bytes, no copy), so a message compares equal to the
 * one that was sent. Throws BAD_PAYLOAD: a peer that sends anything else is broken or hostile.
 */
function plainDecoded(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'function' || typeof value === 'symbol') {
      throw new TransportError('BAD_PAYLOAD', `decoded a ${typeof value}`);
    }
    return value;
  }
  if (value instanceof Uint8Array) {
    if (value.constructor === Uint8Array) return value;
    if (Buffer.isBuffer(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  } else if (depth >= MAX_NESTING_DEPTH) {
    throw new TransportError('BAD_PAYLOAD', `nested deeper than ${MAX_NESTING_DEPTH} levels`);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = plainDecoded(value[i], depth + 1);
    return value;
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    for (const key in record) record[key] = plainDecoded(record[key], depth + 1);
    return value;
  }
  throw new TransportError('BAD_PAYLOAD', `decoded a ${value.constructor?.name ?? 'non-plain object'}`);
}

/** msgpack bytes of a plain-data value (throws UNENCODABLE otherwise). */
export function encodePayload(value: unknown): Uint8Array {
  checkPlainData(value);
  try {
    return packr.pack(value);
  } catch (e) {
    // e.g. a bigint outside the 64-bit range
    throw new TransportError('UNENCODABLE', (e as Error).message);
  }
}

/** The plain-data value in msgpack `bytes`; throws BAD_PAYLOAD for anything else. */
export function decodePayload(bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    // A plain Uint8Array view, so msgpackr copies binary values out as Uint8Arrays, not Buffers.
    value = packr.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    // Also catches the RangeError of a stack overflow on absurdly nested input.
    throw new TransportError('BAD_PAYLOAD', `undecodable msgpack: ${(e as Error).message}`);
  }
  return plainDecoded(value, 0);
}

export interface EncodeFrameOptions {
  /** FLAG_CONTROL for transport control frames; 0 (the default) for messages to the core. */
  flags?: number;
  /** Refuse payloads above this size (FRAME_TOO_LARGE). Default DEFAULT_MAX_FRAME_PAYLOAD_BYTES. */
  maxPayloadBytes?: number;
}

/** One frame carrying `value`: header and payload in one buffer, ready for `socket.write`. */
export function encodeFrame(value: unknown, options: EncodeFrameOptions = {}): Buffer {
  const flags = options.flags ?? 0;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_FRAME_PAYLOAD_BYTES;
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw new TransportError('BAD_FLAGS', `unknown flags 0x${flags.toString(16)}`);
  const payload = encodePayload(value);
  if (payload.length > maxPayloadBytes) {
    throw new TransportError(
      'FRAME_TOO_LARGE',
      `payload of ${payload.length} bytes exceeds ${maxPayloadBytes}`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame[0] = FRAME_MAGIC_0;
  frame[1] = FRAME_MAGIC_1;
  frame[2] = FRAME_VERSION;
  frame[3] = flags;
  frame.writeUInt32BE(payload.length, 4);
  frame.writeUInt32BE(crc32c(payload), 8);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** A decoded frame. */
export interface Frame {
  flags: number;
  /** FLAG_CONTROL is set: a transport frame, not a message for the core. */
  control: boolean;
  value: unknown;
  /** Size on the wire, header included. */
  frameBytes: number;
}

export interface FrameDecoderInit {
  /** Largest accepted payload; may be changed between frames (`maxPayloadBytes` setter). */
  maxPayloadBytes?: number;
}

/**
 * Turns a byte stream, cut into chunks anywhere, back into frames.
 *
 * Use: `push(chunk)`, then call `next()` until it returns undefined. Pulling one frame at a time
 * lets the caller change the size limit between frames (the transport raises it once the
 * handshake succeeds, and the frame after the last handshake frame may arrive in the same chunk).
 *
 * Memory: after `next()` returns undefined, fewer than FRAME_HEADER_BYTES + maxPayloadBytes bytes
 * are buffered: either an incomplete header, or a header whose length passed the limit and part
 * of its payload. Bytes are kept as the chunks they came in, so a slow peer costs only what it
 * actually sent. Header fields are checked as soon as their byte arrives: garbage is refused on
 * its first byte and an oversized length as soon as the header is complete.
 *
 * Any error is final: the decoder keeps throwing it and releases its buffer, because after a bad
 * frame the stream has no trustworthy frame boundary left.
 */
export class FrameDecoder {
  #maxPayloadBytes: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** Whether #chunks[0] is a view trimmed from a larger chunk (worth compacting). */
  #headTrimmed = false;
  /** Payload length of the frame whose header has been read and checked, or -1. */
  #payloadLength = -1;
  #error: TransportError | undefined;
  #framesDecoded = 0;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);

  constructor(init: FrameDecoderInit = {}) {
    this.#maxPayloadBytes = init.maxPayloadBytes ?? DEFAULT_MAX_FRAME_PAYLOAD_BYTES;
  }

  get maxPayloadBytes(): number {
    return this.#maxPayloadBytes;
  }

  /** Applies from the next header on; a frame whose header was already accepted keeps its size. */
  set maxPayloadBytes(bytes: number) {
    this.#maxPayloadBytes = bytes;
  }

  /** Bytes held: an incomplete frame, or frames received but not yet taken with `next()`. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Frames returned by `next()` so far. */
  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  get failed(): TransportError | undefined {
    return this.#error;
  }

  push(chunk: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** The next complete frame, or undefined when more bytes are needed. Throws TransportError. */
  next(): Frame | undefined {
    if (this.#error) throw this.#error;
    try {
      return this.#next();
    } catch (e) {
      this.#error =
        e instanceof TransportError ? e : new TransportError('BAD_PAYLOAD', `decoder failed: ${String(e)}`);
      this.#chunks = [];
      this.#buffered = 0;
      throw this.#error;
    }
  }

  #next(): Frame | undefined {
    if (this.#payloadLength < 0) {
      if (!this.#readHeader()) return this.#waitForMore();
    }
    const frameBytes = FRAME_HEADER_BYTES + this.#payloadLength;
    if (this.#buffered < frameBytes) return this.#waitForMore();
    const bytes = this.#take(frameBytes);
    const flags = bytes[3];
    const payload = bytes.subarray(FRAME_HEADER_BYTES);
    const expected = ((bytes[8] << 24) | (bytes[9] << 16) | (bytes[10] << 8) | bytes[11]) >>> 0;
    this.#payloadLength = -1;
    const actual = crc32c(payload);
    if (actual !== expected) {
      throw new TransportError(
        'BAD_CHECKSUM',
        `payload CRC-32C 0x${actual.toString(16)} ≠ header 0x${expected.toString(16)}`,
      );
    }
    const value = decodePayload(payload);
    this.#framesDecoded++;
    return { flags, control: (flags & FLAG_CONTROL) !== 0, value, frameBytes };
  }

  /** Checks as much of the header as has arrived; true once all of it is in and accepted. */
  #readHeader(): boolean {
    const have = Math.min(this.#buffered, FRAME_HEADER_BYTES);
    if (have === 0) return false;
    const h = this.#peek(have);
    if (h[0] !== FRAME_MAGIC_0 || (have > 1 && h[1] !== FRAME_MAGIC_1)) {
      throw new TransportError(
        'BAD_MAGIC',
        `stream starts with ${hexPrefix(h, have)}, not an Arpeggio frame`,
      );
    }
    if (have > 2 && h[2] !== FRAME_VERSION) {
      throw new TransportError('BAD_VERSION', `frame version ${h[2]}, this node speaks ${FRAME_VERSION}`);
    }
    if (have > 3 && (h[3] & ~KNOWN_FLAGS) !== 0) {
      throw new TransportError('BAD_FLAGS', `unknown flags 0x${h[3].toString(16)}`);
    }
    if (have < FRAME_HEADER_BYTES) return false;
    const length = ((h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7]) >>> 0;
    if (length > this.#maxPayloadBytes) {
      throw new TransportError(
        'FRAME_TOO_LARGE',
        `header announces ${length} bytes, limit ${this.#maxPayloadBytes}`,
      );
    }
    this.#payloadLength = length;
    return true;
  }

  #waitForMore(): undefined {
    // A trimmed first chunk still pins the whole chunk it was cut from; copy what is left so the
    // memory held matches the bytes counted. At most one copy per drain, of fewer bytes than
    // one frame.
    if (this.#headTrimmed) {
      this.#chunks[0] = this.#chunks[0].slice();
      this.#headTrimmed = false;
    }
    const limit = FRAME_HEADER_BYTES + Math.max(this.#payloadLength, 0);
    if (this.#buffered >= limit) {
      throw new Error(
        `invariant violated: decoder waits with ${this.#buffered} bytes buffered, frame needs ${limit}`,
      );
    }
    return undefined;
  }

  /** The first n buffered bytes (n ≤ FRAME_HEADER_BYTES), without consuming them. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length >= n) return first;
    let filled = 0;
    for (const c of this.#chunks) {
      const k = Math.min(c.length, n - filled);
      this.#header.set(c.subarray(0, k), filled);
      filled += k;
      if (filled === n) break;
    }
    return this.#header;
  }

  /** Removes and returns the first n buffered bytes (n ≤ bufferedBytes) as one array. */
  #take(n: number): Uint8Array {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      this.#headTrimmed = false;
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      this.#headTrimmed = true;
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - filled);
      out.set(k === c.length ? c : c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) {
        this.#chunks.shift();
        this.#headTrimmed = false;
      } else {
        this.#chunks[0] = c.subarray(k);
        this.#headTrimmed = true;
      }
    }
    return out;
  }
}

function hexPrefix(bytes: Uint8Array, n: number): string {
  return Array.from(bytes.subarray(0, Math.min(n, 8)), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
