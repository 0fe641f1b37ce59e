/**
 * The `arpeggio` command line: dispatch only. Each command lives in `commands/` and composes
 * the layers below it.
 */
import { UsageError } from './args.js';
import type { Command, CommandGroup } from './command.js';
import { benchCommand } from './commands/bench.js';
import { checkGroup } from './commands/check.js';
import { clusterGroup } from './commands/cluster.js';
import { kvCommands } from './commands/kv.js';
import { simGroup } from './commands/sim.js';
import { startCommand } from './commands/start.js';
import { tortureCommand } from './commands/torture.js';

const groups: CommandGroup[] = [clusterGroup, simGroup, checkGroup];
/** Commands that stand alone (`arpeggio start`), not under a group word. */
const topCommands: Command[] = [startCommand, ...kvCommands, tortureCommand, benchCommand];

const topUsage = (): string =>
  [
    'arpeggio — a distributed key-value platform on a Chord ring',
    '',
    'Usage: arpeggio <command> [flags]      (arpeggio <command> --help for details)',
    '',
    ...topCommands.map((c) => `  ${c.name.padEnd(24)} ${c.summary}`),
    ...groups.flatMap((g) => g.commands.map((c) => `  ${`${g.name} ${c.name}`.padEnd(24)} ${c.summary}`)),
    '',
    'Example:',
    '  arpeggio sim chord --nodes 1024 --seed 1 --json',
  ].join('\n');

function groupUsage(g: CommandGroup): string {
  return [
    `arpeggio ${g.name} — ${g.summary}`,
    '',
    ...g.commands.map((c) => `  arpeggio ${g.name} ${c.name.padEnd(14)} ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [first, second, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${topUsage()}\n`);
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write('arpeggio 0.1.0\n');
    return 0;
  }
  const top = topCommands.find((c) => c.name === first);
  if (top)
    return runCommand(
      `arpeggio ${top.name}`,
      top,
      [second, ...rest].filter((a) => a !== undefined),
    );
  const group = groups.find((g) => g.name === first);
  if (!group) {
    process.stderr.write(`arpeggio: unknown command '${first}'\n\n${topUsage()}\n`);
    return 2;
  }
  if (second === undefined || second === '--help' || second === '-h') {
    process.stdout.write(`${groupUsage(group)}\n`);
    return second === undefined ? 2 : 0;
  }
  const command: Command | undefined = group.commands.find((c) => c.name === second);
  if (!command) {
    process.stderr.write(`arpeggio ${first}: unknown command '${second}'\n\n${groupUsage(group)}\n`);
    return 2;
  }
  return runCommand(`arpeggio ${group.name} ${command.name}`, command, rest);
}

async function runCommand(label: string, command: Command, args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${label}: ${err.message}\n\n${command.usage}\n`);
      return 2;
    }
    throw err;
  }
}
