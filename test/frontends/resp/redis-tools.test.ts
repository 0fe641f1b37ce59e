/**
 * Redis's own tools against the RESP server: redis-cli (one-shot commands, commands from stdin,
 * `--pipe` mass insertion) and redis-benchmark (which asks CONFIG GET save/appendonly first, then
 * runs PING_INLINE, PING_MBULK, SET, GET, INCR, MSET). The tools come from the redis-tools
 * package (`apt-get install redis-tools`); CI installs it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { startServer } from './helpers.js';

const haveTools =
  spawnSync('redis-cli', ['--version']).status === 0 &&
  spawnSync('redis-benchmark', ['--version']).status === 0;

/** Runs a tool without blocking the event loop (the server under test runs in this process). */
function run(
  tool: string,
  args: string[],
  stdin = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('redis-cli and redis-benchmark against the RESP server', { timeout: 60_000 }, () => {
  test('the tools are installed', () => {
    assert.ok(haveTools, 'redis-cli and redis-benchmark run these tests: apt-get install redis-tools');
  });
  if (!haveTools) return;

  test('redis-cli runs one-shot commands and shows errors', async (t) => {
    const { port } = await startServer(t);
    const cli = (...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);
    assert.equal((await cli('SET', 'greeting', 'hello world')).stdout, 'OK\n');
    assert.equal((await cli('GET', 'greeting')).stdout, 'hello world\n');
    assert.equal((await cli('CONSISTENCY')).stdout, 'quorum\n');
    assert.equal((await cli('INCRBY', 'n', '5')).stdout, '5\n');
    assert.match((await cli('GET')).stdout, /ERR wrong number of arguments for 'get' command/);
  });

  test('redis-cli reads commands from stdin, one per line, on one connection', async (t) => {
    const { port } = await startServer(t);
    const out = await run(
      'redis-cli',
      ['-p', String(port)],
      'CONSISTENCY linearizable\nSET a 1\nINCR a\nCONSISTENCY\nMGET a b\n',
    );
    assert.equal(out.stdout, 'OK\nOK\n2\nlinearizable\n2\n\n');
  });

  test('redis-cli --pipe mass-inserts a stream of commands and counts the replies', async (t) => {
    const { port, api } = await startServer(t);
    const n = 2000;
    let input = '';
    for (let i = 0; i < n; i++) {
      const key = `key:${i}`;
      const value = `value ${i}`;
      input += `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`;
    }
    const out = await run('redis-cli', ['-p', String(port), '--pipe'], input);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`errors: 0, replies: ${n}`));
    assert.equal(api.get('key:1999'), 'value 1999');
  });

  test('redis-benchmark runs its standard tests, pipelined or not, without errors', async (t) => {
    const { port } = await startServer(t);
    for (const pipeline of ['1', '16']) {
      const out = await run('redis-benchmark', [
        '-p',
        String(port),
        '-t',
        'ping,set,get,incr,mset',
        '-n',
        '2000',
        '-c',
        '4',
        '-P',
        pipeline,
        '-q',
      ]);
      assert.equal(out.code, 0, out.stderr);
      const results = out.stdout.split(/[\r\n]+/).filter((line) => /requests per second/.test(line));
      assert.deepEqual(
        results.map((line) => line.split(':')[0].trim()),
        ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'MSET (10 keys)'],
        out.stdout + out.stderr,
      );
      assert.doesNotMatch(out.stdout + out.stderr, /ERR|error/i);
    }
  });
});
