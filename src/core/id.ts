/**
 * Chord's identifier circle. Identifiers are integers in [0, 2^ID_BITS); 48 bits keep every
 * identifier and every sum of two identifiers an exact JavaScript number (below 2^53), so ring
 * arithmetic needs no BigInt, and leave collisions improbable until about 2^24 ring members.
 */
import { murmur3x86_128 } from './hash.js';

export const ID_BITS = 48;
export const RING_SIZE = 2 ** ID_BITS;

const encoder = new TextEncoder();

/** The identifier of a key or a name: the top 48 bits of its 128-bit MurmurHash3. */
export function identifierOf(input: string | Uint8Array): number {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input;
  const [h1, h2] = murmur3x86_128(bytes, 0);
  // h1 gives the top 32 bits and the high half of h2 the low 16.
  return h1 * 65536 + (h2 >>> 16);
}

/** The ring identifier of virtual node `index` of physical node `nodeId`. */
export function vnodeIdentifier(nodeId: string, index: number): number {
  return identifierOf(`${nodeId}#${index}`);
}

/** (a + b) mod 2^ID_BITS for identifiers a, b. */
export function addId(a: number, b: number): number {
  const s = a + b;
  return s >= RING_SIZE ? s - RING_SIZE : s;
}

/** Clockwise distance from a to b: how far one walks from a to reach b. */
export function distance(a: number, b: number): number {
  return b >= a ? b - a : b + RING_SIZE - a;
}

/** x ∈ (a, b) on the circle. When a = b the interval is the whole circle except a. */
export function inOpen(x: number, a: number, b: number): boolean {
  if (a < b) return a < x && x < b;
  return x > a || x < b ? a !== b || x !== a : false;
}

/** x ∈ (a, b] on the circle. When a = b the interval is the whole circle. */
export function inHalfOpen(x: number, a: number, b: number): boolean {
  if (a < b) return a < x && x <= b;
  return x > a || x <= b;
}

/** Short printable form of an identifier (12 hex digits). */
export function formatId(id: number): string {
  return id.toString(16).padStart(12, '0');
}
