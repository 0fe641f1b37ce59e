import type { CommandGroup } from '../command.js';
import { simChordCommand } from './sim-chord.js';
import { simKvCommand } from './sim-kv.js';
import { simMembershipCommand } from './sim-membership.js';

export const simGroup: CommandGroup = {
  name: 'sim',
  summary: 'run protocols in the deterministic simulator (seeded, virtual time, faulty network)',
  commands: [simChordCommand, simKvCommand, simMembershipCommand],
};
