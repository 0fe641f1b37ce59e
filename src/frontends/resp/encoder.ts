/**
 * RESP replies: the values a command answers with, and their bytes on the wire.
 *
 * Commands build `RespValue`s; the encoder writes them in the protocol the connection chose with
 * HELLO (RESP2 by default, RESP3 after `HELLO 3`). The two differ only where RESP3 has a richer
 * type: a null is `_\r\n` in RESP3 and `$-1\r\n` (bulk) or `*-1\r\n` (array) in RESP2; a map is
 * `%N` in RESP3 and a flat array of 2N elements in RESP2.
 *
 *   +OK\r\n   -ERR syntax error\r\n   :42\r\n   $5\r\nhello\r\n   $-1\r\n   *2\r\n…   *-1\r\n
 *
 * Simple strings and errors are byte strings in the protocol; here they are JS strings whose
 * code points are bytes (latin1), so an error that quotes a client's binary argument echoes the
 * exact bytes, as Redis does. CR and LF cannot appear in them: errors have them replaced by
 * spaces (Redis does the same), a simple string with one is a programming error.
 */
import { Buffer } from 'node:buffer';

export type RespValue =
  | { type: 'simple'; text: string }
  /** `text` starts with the error code: `ERR syntax error`, `TRYAGAIN …`. */
  | { type: 'error'; text: string }
  | { type: 'integer'; value: number }
  | { type: 'bulk'; value: Uint8Array }
  /** A null bulk string (`$-1` in RESP2). */
  | { type: 'null' }
  /** A null array (`*-1` in RESP2). */
  | { type: 'null-array' }
  | { type: 'array'; items: RespValue[] }
  /** A map in RESP3, a flat key, value, key, value … array in RESP2. */
  | { type: 'map'; entries: [RespValue, RespValue][] };

export type RespProtocol = 2 | 3;

export const simple = (text: string): RespValue => ({ type: 'simple', text });
export const error = (text: string): RespValue => ({ type: 'error', text });
export const integer = (value: number): RespValue => ({ type: 'integer', value });
export const bulk = (value: Uint8Array | string): RespValue => ({
  type: 'bulk',
  value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
});
export const array = (items: RespValue[]): RespValue => ({ type: 'array', items });
export const map = (entries: [RespValue, RespValue][]): RespValue => ({ type: 'map', entries });
export const NULL: RespValue = { type: 'null' };
export const NULL_ARRAY: RespValue = { type: 'null-array' };
export const OK: RespValue = simple('OK');

/** A bulk string or a null bulk string. */
export const bulkOrNull = (value: Uint8Array | null | undefined): RespValue =>
  value === null || value === undefined ? NULL : bulk(value);

const CRLF = Buffer.from('\r\n');
/** Values at least this large are handed to the socket as they are, not copied into a chunk. */
const LARGE_VALUE_BYTES = 16 * 1024;
const CHUNK_BYTES = 64 * 1024;

/**
 * Accumulates encoded replies as a few buffers: small pieces are packed into shared chunks (one
 * socket write for a whole pipeline of replies), large values are referenced, not copied.
 */
export class RespWriter {
  private parts: Uint8Array[] = [];
  /** Bytes are packed into `chunk`; [sealed, used) is written but not yet taken. */
  private chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private sealed = 0;
  private used = 0;
  private total = 0;

  constructor(public protocol: RespProtocol = 2) {}

  /** Bytes written since the last `take`. */
  get size(): number {
    return this.total;
  }

  write(value: RespValue): void {
    switch (value.type) {
      case 'simple':
        if (value.text.includes('\r') || value.text.includes('\n')) {
          throw new Error('a simple string cannot contain CR or LF');
        }
        this.ascii(`+${value.text}\r\n`);
        return;
      case 'error':
        this.ascii(`-${value.text.replace(/[\r\n]/g, ' ')}\r\n`);
        return;
      case 'integer':
        if (!Number.isSafeInteger(value.value)) throw new Error(`not an integer reply: ${value.value}`);
        this.ascii(`:${value.value}\r\n`);
        return;
      case 'bulk':
        this.ascii(`$${value.value.length}\r\n`);
        this.bytes(value.value);
        this.bytes(CRLF);
        return;
      case 'null':
        this.ascii(this.protocol === 3 ? '_\r\n' : '$-1\r\n');
        return;
      case 'null-array':
        this.ascii(this.protocol === 3 ? '_\r\n' : '*-1\r\n');
        return;
      case 'array':
        this.ascii(`*${value.items.length}\r\n`);
        for (const item of value.items) this.write(item);
        return;
      case 'map':
        this.ascii(this.protocol === 3 ? `%${value.entries.length}\r\n` : `*${value.entries.length * 2}\r\n`);
        for (const [k, v] of value.entries) {
          this.write(k);
          this.write(v);
        }
        return;
    }
  }

  /** The encoded bytes since the last call, as buffers to write in order. */
  take(): Uint8Array[] {
    this.seal();
    const out = this.parts;
    this.parts = [];
    this.total = 0;
    return out;
  }

  /** Latin1 text: every code point is one byte. */
  private ascii(text: string): void {
    if (text.length > CHUNK_BYTES - this.used) {
      if (text.length >= LARGE_VALUE_BYTES) {
        this.bytes(Buffer.from(text, 'latin1'));
        return;
      }
      this.renew();
    }
    this.used += this.chunk.write(text, this.used, 'latin1');
    this.total += text.length;
  }

  private bytes(value: Uint8Array): void {
    if (value.length >= LARGE_VALUE_BYTES) {
      this.seal();
      this.parts.push(value);
    } else {
      if (value.length > CHUNK_BYTES - this.used) this.renew();
      this.chunk.set(value, this.used);
      this.used += value.length;
    }
    this.total += value.length;
  }

  /** Seals what is written and starts a fresh chunk (the next piece does not fit). */
  private renew(): void {
    this.seal();
    if (this.used === 0) return;
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.sealed = 0;
    this.used = 0;
  }

  /**
   * Ends the current piece. Taken pieces are views of `chunk`; later writes go after them, so
   * the chunk is shared until it is full, then replaced (never overwritten).
   */
  private seal(): void {
    if (this.used > this.sealed) this.parts.push(this.chunk.subarray(this.sealed, this.used));
    this.sealed = this.used;
    if (CHUNK_BYTES - this.used < 1024) {
      this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      this.sealed = 0;
      this.used = 0;
    }
  }
}

/** One value's bytes (tests, and replies sent outside a connection's writer). */
export function encode(value: RespValue, protocol: RespProtocol = 2): Buffer {
  const writer = new RespWriter(protocol);
  writer.write(value);
  return Buffer.concat(writer.take());
}
