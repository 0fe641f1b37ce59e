/** What the placement tests share: one configuration and a ring of five. */
import type { PlacementConfig } from '../../src/core/placement.js';

export const config: PlacementConfig = {
  replicaCount: 3,
  vnodesPerNode: 16,
  transitionGraceMs: 2000,
  deadMemberReplacementMs: 600_000,
};

export const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
