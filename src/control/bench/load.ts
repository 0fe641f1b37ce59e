/**
 * The Node load generator: a closed loop of C clients, each with one request in flight, for a
 * fixed time; every latency is kept, so p50, p99 and p99.9 are exact for the run.
 */
import { quantileOfSorted } from './report.js';

export interface LoadResult {
  ops: number;
  errors: number;
  /** The first error's message, if any. */
  firstError: string | null;
  elapsedMs: number;
  opsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
}

/**
 * Runs `op(client, i)` in a loop on every client until `durationMs` has passed; `i` counts the
 * client's own operations. Errors are counted and do not stop the client.
 */
export async function closedLoop<C>(
  clients: readonly C[],
  durationMs: number,
  op: (client: C, i: number) => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t0 = performance.now();
        try {
          await op(client, i);
          latencies.push(performance.now() - t0);
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  const sorted = Float64Array.from(latencies).sort();
  return {
    ops: latencies.length,
    errors,
    firstError,
    elapsedMs,
    opsPerSec: (latencies.length / elapsedMs) * 1000,
    p50Ms: quantileOfSorted(sorted, 0.5),
    p99Ms: quantileOfSorted(sorted, 0.99),
    p999Ms: quantileOfSorted(sorted, 0.999),
  };
}

/** Times `fn` in a tight loop for about `durationMs`; returns calls per second. */
export async function opsPerSecond(
  durationMs: number,
  fn: () => unknown | Promise<unknown>,
): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < durationMs) {
    const r = fn();
    if (r instanceof Promise) await r;
    n++;
  }
  return (n / (performance.now() - start)) * 1000;
}
