/**
 * The value codec of every store on the host side: standard MessagePack through msgpackr.
 *
 * - Plain maps, no msgpackr "records": the bytes on disk are ordinary MessagePack that any tool
 *   reads, and a value does not depend on a shared-structure table stored elsewhere.
 * - `Uint8Array` (and `Buffer`) values are MessagePack `bin` and always come back as plain
 *   `Uint8Array`, never `Buffer`: decoding reads from a plain `Uint8Array` view, so msgpackr's
 *   copies take that type, and `assert.deepStrictEqual` holds between what was written and
 *   what is read. `copyBuffers` makes every decoded byte array its own copy, never a view into
 *   LMDB's reused read buffer.
 * - Numbers: integers up to 2^53 in magnitude and every finite double round-trip exactly; `-0`
 *   reads back as `0`.
 *
 * The in-memory store encodes with the same codec, so a value that would not survive LMDB does
 * not survive it either, and a caller never shares an object with the store.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, copyBuffers: true });

/** Encodes a value; the result is a fresh, compact `Uint8Array` the caller owns. */
export function encodeValue(value: unknown): Uint8Array {
  // msgpackr returns a view into its shared output slab; copy so a stored value does not keep
  // the whole slab alive.
  return new Uint8Array(packr.pack(value));
}

/**
 * Decodes bytes written by `encodeValue`, from any `Uint8Array` (`Buffer` included). The view
 * spans `bytes.length`, not `byteLength`: lmdb-js's reused read buffer reports the value's size
 * in `length` only.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)) as unknown;
}
