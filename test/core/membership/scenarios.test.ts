/**
 * Golden membership scenarios (test/core/membership/scenarios/*.txt): each block's commands run
 * in order against one simulated cluster and must print what the file says. Set
 * ARPEGGIO_REWRITE=1 to rewrite the files from the current output, then review the diff.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatScript, parseScript, ScenarioRunner } from './scenario.js';

// Compiled to dist/test/core/membership/; the scripts stay in the source tree.
const dir = fileURLToPath(new URL('../../../../test/core/membership/scenarios/', import.meta.url));
const rewrite = process.env.ARPEGGIO_REWRITE === '1';

describe('membership scenarios', () => {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()) {
    test(file.replace(/\.txt$/, ''), () => {
      const text = readFileSync(`${dir}${file}`, 'utf8');
      const lines = text.split('\n');
      const firstCommand = lines.findIndex((line) => !line.startsWith('#'));
      const header = lines.slice(0, firstCommand);
      const blocks = parseScript(text);
      const runner = new ScenarioRunner();
      const actual = blocks.map((b) => ({ commands: b.commands, expected: runner.exec(b.commands) }));
      if (rewrite) {
        writeFileSync(`${dir}${file}`, formatScript(actual, header));
        return;
      }
      for (const [i, b] of blocks.entries()) {
        assert.deepEqual(actual[i].expected, b.expected, `${file}, block ${i + 1}: ${b.commands.join('; ')}`);
      }
    });
  }
});
