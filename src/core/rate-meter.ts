/**
 * Events per second over a sliding window, for an operator's view of a node's load: one counter
 * per whole second of the window, advanced by the `nowMs` the caller passes (pure: no clock).
 */
export class RateMeter {
  private readonly counts: number[];
  /** The second (nowMs / 1000, floored) that `counts[head]` counts. */
  private headSecond = Number.NEGATIVE_INFINITY;
  private head = 0;

  /** @param windowSeconds how many whole seconds the rate averages over (≥ 1) */
  constructor(windowSeconds = 10) {
    this.counts = new Array(Math.max(1, windowSeconds)).fill(0);
  }

  note(nowMs: number, n = 1): void {
    this.advance(nowMs);
    this.counts[this.head] += n;
  }

  /** Events per second over the window's complete seconds before `nowMs`. */
  perSecond(nowMs: number): number {
    this.advance(nowMs);
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) if (i !== this.head) sum += this.counts[i];
    return this.counts.length === 1 ? this.counts[0] : sum / (this.counts.length - 1);
  }

  private advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (second <= this.headSecond) return;
    const steps = Math.min(this.counts.length, second - this.headSecond);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % this.counts.length;
      this.counts[this.head] = 0;
    }
    this.headSecond = second;
  }
}
