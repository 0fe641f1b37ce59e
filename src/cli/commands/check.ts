import type { CommandGroup } from '../command.js';
import { checkLinearizableCommand } from './check-linearizable.js';

export const checkGroup: CommandGroup = {
  name: 'check',
  summary: 'judge recorded histories (any system’s, Jepsen-shaped JSON Lines)',
  commands: [checkLinearizableCommand],
};
