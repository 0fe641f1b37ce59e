import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/cli/args.js';
import { checkLinearizableCommand } from '../../src/cli/commands/check-linearizable.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/histories/', import.meta.url));

const commandModule = new URL('../../src/cli/commands/check-linearizable.js', import.meta.url).href;

/**
 * Runs the command in a child process, as the CLI would (stdout cannot be captured in this
 * process: the test runner reports through it). The command module is imported directly so
 * that this test depends on nothing else of the CLI.
 */
function run(...argv: string[]): { code: number; stdout: string; stderr: string } {
  const script = `import { checkLinearizableCommand } from ${JSON.stringify(commandModule)};
process.exitCode = await checkLinearizableCommand.run(process.argv.slice(1));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...argv], {
    encoding: 'utf8',
  });
  return { code: child.status ?? -1, stdout: child.stdout, stderr: child.stderr };
}

test('--json prints exactly one JSON object; exit 0 when linearizable', () => {
  const { code, stdout } = run(join(fixtures, 'c50-ok.jsonl'), '--json');
  assert.equal(code, 0);
  assert.equal(stdout.trim().split('\n').length, 1);
  const result = JSON.parse(stdout);
  assert.equal(result.valid, true);
  assert.equal(result.keys, 10);
  assert.equal(result.model, 'kv');
  assert.equal(typeof result.ops, 'number');
  assert.equal(typeof result.elapsedMs, 'number');
});

test('exit 1 and a counterexample when not linearizable', () => {
  const json = run(join(fixtures, 'etcd_000.jsonl'), '--json');
  assert.equal(json.code, 1);
  const result = JSON.parse(json.stdout);
  assert.equal(result.valid, false);
  assert.equal(result.model, 'cas-register');
  assert.equal(result.failingKey, 'r');
  assert.ok(result.counterexample.linearized.length > 0);

  const text = run(join(fixtures, 'c50-bad.jsonl'));
  assert.equal(text.code, 1);
  assert.match(text.stdout, /NOT linearizable: key/);
  assert.match(text.stdout, /Longest linearizable prefix found/);
});

test('exit 2 with "unknown" when the time limit is reached', () => {
  const { code, stdout } = run(join(fixtures, 'c50-ok.jsonl'), '--timeout-s', '0', '--json');
  assert.equal(code, 2);
  assert.equal(JSON.parse(stdout).valid, 'unknown');
});

test('exit 2 and the line number on bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-check-'));
  const file = join(dir, 'bad.jsonl');
  writeFileSync(file, '{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time":0}\n{oops\n');
  const { code, stdout, stderr } = run(file, '--json');
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.match(stderr, /line 2: bad JSON/);
});

test('exit 2 when the file cannot be read', () => {
  const { code, stderr } = run(join(fixtures, 'missing.jsonl'));
  assert.equal(code, 2);
  assert.match(stderr, /cannot read .*missing\.jsonl: ENOENT/);
});

test('usage mistakes are UsageErrors', async () => {
  const run = (...argv: string[]) => checkLinearizableCommand.run(argv);
  await assert.rejects(run(), UsageError);
  await assert.rejects(run(join(fixtures, 'c01-ok.jsonl'), '--model', 'queue'), /--model must be one of/);
  await assert.rejects(
    run(join(fixtures, 'c01-ok.jsonl'), '--timeout-s', 'soon'),
    /--timeout-s must be a number/,
  );
  assert.match(checkLinearizableCommand.usage, /Example:\n {2}arpeggio check linearizable /);
});
