/**
 * Version vectors: for each node that coordinated a write of a key, how many of its writes a
 * version has seen. Version a descends from b when it has seen everything b has; two versions
 * neither of which descends from the other are concurrent: a conflict the resolver must settle.
 *
 * Kept as a plain object so it encodes directly with msgpack. Entries with count 0 are omitted.
 */
export type VersionVector = Record<string, number>;

export type Ordering = 'equal' | 'before' | 'after' | 'concurrent';

/** How `a` relates to `b`: before means a happened-before b (b descends from a). */
export function compareVectors(a: VersionVector, b: VersionVector): Ordering {
  let aAhead = false;
  let bAhead = false;
  for (const node in a) {
    const av = a[node];
    const bv = b[node] ?? 0;
    if (av > bv) aAhead = true;
    else if (av < bv) bAhead = true;
  }
  for (const node in b) {
    if (!(node in a) && b[node] > 0) bAhead = true;
  }
  if (aAhead && bAhead) return 'concurrent';
  if (aAhead) return 'after';
  if (bAhead) return 'before';
  return 'equal';
}

/** The least vector that descends from both. */
export function mergeVectors(a: VersionVector, b: VersionVector): VersionVector {
  const out: VersionVector = { ...a };
  for (const node in b) {
    if ((out[node] ?? 0) < b[node]) out[node] = b[node];
  }
  return out;
}

/** `vv` with one more event of `node`. */
export function incrementVector(vv: VersionVector, node: string): VersionVector {
  return { ...vv, [node]: (vv[node] ?? 0) + 1 };
}

/** Whether a has seen everything b has (a ≥ b component-wise). */
export function descends(a: VersionVector, b: VersionVector): boolean {
  const o = compareVectors(a, b);
  return o === 'after' || o === 'equal';
}
