#!/usr/bin/env node
// `npm run sim:soak -- --minutes M [--consistency L] [--first-seed S] [--ops N]`: runs simulation
// campaigns with every fault, seed after seed, until the time is up; prints a progress line and a
// summary, and the replay command of every failing seed. Exit 1 if any seed failed.
import { parseArgs } from 'node:util';
import { FAULT_KINDS, replayCommand, runKv } from '../dist/src/sim/kv-campaign.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    consistency: { type: 'string', default: 'all-levels' },
    'first-seed': { type: 'string', default: String(Date.now() % 1_000_000) },
    ops: { type: 'string', default: '2000' },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0 && minutes <= 24 * 60)) {
  console.error(`--minutes must be between 0 and 1440, got ${values.minutes}`);
  process.exit(2);
}
const levels =
  values.consistency === 'all-levels' ? ['linearizable', 'quorum', 'one', 'session'] : [values.consistency];
const ops = Number(values.ops);
const endAt = Date.now() + minutes * 60_000;
let seed = Number(values['first-seed']);
const totals = { seeds: 0, ops: 0, failures: [] };
const tty = process.stderr.isTTY;
while (Date.now() < endAt) {
  const consistency = levels[totals.seeds % levels.length];
  const options = { seed, nodes: 5, clients: 10, ops, consistency, faults: [...FAULT_KINDS] };
  const r = runKv(options);
  totals.seeds++;
  totals.ops += r.ops;
  if (r.violation !== null) {
    totals.failures.push({ seed, consistency, violation: r.violation, replay: replayCommand(options) });
    process.stderr.write(
      `${tty ? '\n' : ''}seed ${seed} (${consistency}): ${r.violation}\n  replay: ${replayCommand(options)}\n`,
    );
  }
  if (tty) {
    const left = Math.max(0, Math.round((endAt - Date.now()) / 1000));
    process.stderr.write(
      `\rsoak: ${totals.seeds} seeds, ${totals.ops} ops, ${totals.failures.length} failed, ${left} s left   `,
    );
  }
  seed++;
}
if (tty) process.stderr.write('\n');
console.log(
  JSON.stringify({ minutes, firstSeed: Number(values['first-seed']), lastSeed: seed - 1, ...totals }),
);
process.exit(totals.failures.length === 0 ? 0 : 1);
