/** SWIM membership and failure detection: see swim.ts for the map from the paper to the code. */
export * from './config.js';
export { isTombstone, STATE_RANK, supersedes } from './precedence.js';
export { Swim, type SwimComponents, type SwimCounters, type SwimInit } from './swim.js';
export type * from './types.js';
