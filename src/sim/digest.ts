/**
 * A running 64-bit digest of the simulator's trace: two FNV-1a lanes with different offsets
 * over the same text. Equal seeds must give equal digests; a digest that differs shows where
 * determinism broke (record the trace lines to find the first difference).
 */
export class TraceDigest {
  private h1 = 0x811c9dc5;
  private h2 = 0x050c5d1f;
  private count = 0;

  add(line: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h2 >>> 15);
    }
    // Separate records so that "ab"+"c" and "a"+"bc" differ.
    this.h1 = Math.imul(h1 ^ 0x0a, 0x01000193);
    this.h2 = Math.imul(h2 ^ 0x0a, 0x01000193);
    this.count++;
  }

  /** Number of records folded in so far. */
  get records(): number {
    return this.count;
  }

  /** 16 hex digits. */
  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}
