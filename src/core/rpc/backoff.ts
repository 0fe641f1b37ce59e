/**
 * Exponential backoff with full jitter (Marc Brooker, "Exponential Backoff And Jitter", AWS
 * Architecture Blog, 2015): sleep = random_between(0, min(cap, base · 2^n)).
 *
 * Plain exponential backoff makes every caller that failed together retry together, so the
 * retries arrive as the same spike that caused the failure. Full jitter spreads them uniformly
 * over the whole window; of the variants in that post it does the least total work.
 */
import type { Random } from '../types.js';
import { backoffCeilingMs, type RpcConfig } from './config.js';

/** The wait before retry `retryIndex` (0 for the first retry): uniform in [0, ceiling). */
export function fullJitterBackoffMs(
  random: Random,
  config: Pick<RpcConfig, 'backoffBaseMs' | 'backoffMaxMs'>,
  retryIndex: number,
): number {
  return random.next() * backoffCeilingMs(config, retryIndex);
}
