/**
 * `arpeggio get|set|del|scan` as child processes against a real in-process cluster: the output
 * a user sees, the exit codes, --json, and an error that says what to do.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir } from '../runtime/helpers.js';
import { startCluster, type TestCluster } from './helpers.js';

const bin = fileURLToPath(new URL('../../../bin/arpeggio.js', import.meta.url));

describe('the key commands of the CLI', { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let at: string;
  let cwd: { path: string; remove(): Promise<void> };

  /** Runs the CLI (asynchronously: the cluster lives in this process) in a directory without a cluster file. */
  function arpeggio(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [bin, ...args],
        { cwd: cwd.path, timeout: 20_000 },
        (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  }

  before(async () => {
    cwd = await tempDir('arpeggio-cli-');
    cluster = await startCluster();
    at = cluster.http.get('a') as string;
  });
  after(async () => {
    await cluster?.close();
    await cwd?.remove();
  });

  test('set prints OK and get prints the value', async () => {
    const set = await arpeggio('set', 'greeting', 'hello world', '--at', at);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'OK\n');
    const get = await arpeggio(
      'get',
      'greeting',
      '--at',
      cluster.http.get('b') as string,
      '--consistency',
      'all',
    );
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'hello world\n');
  });

  test('get of a missing key exits 1; --json says found: false', async () => {
    const get = await arpeggio('get', 'nobody', '--at', at);
    assert.equal(get.code, 1);
    assert.match(get.stderr, /no value at key 'nobody'/);
    const json = await arpeggio('get', 'nobody', '--at', at, '--json');
    assert.deepEqual(JSON.parse(json.stdout), { key: 'nobody', found: false, value: null, etag: null });
  });

  test('set --nx refuses an existing key with exit 1; del deletes', async () => {
    assert.equal((await arpeggio('set', 'nx-key', 'a', '--nx', '--at', at)).code, 0);
    const again = await arpeggio('set', 'nx-key', 'b', '--nx', '--at', at, '--json');
    assert.equal(again.code, 1);
    assert.deepEqual(JSON.parse(again.stdout), { key: 'nx-key', applied: false });
    const del = await arpeggio('del', 'nx-key', 'greeting', '--at', at);
    assert.equal(del.stdout, 'OK\n');
    assert.equal((await arpeggio('get', 'nx-key', '--at', at)).code, 1);
  });

  test("scan lists the cluster's keys through any node; --local lists what one node stores", async () => {
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) => arpeggio('set', `scan/${i}`, 'v', '--at', at, '--consistency', 'all')),
    );
    const all = await arpeggio('scan', '--prefix', 'scan/', '--at', at, '--json');
    assert.equal(all.code, 0, all.stderr);
    const clusterPage = JSON.parse(all.stdout) as { scope: string; keys: string[]; cursor: string | null };
    assert.equal(clusterPage.scope, 'cluster');
    assert.deepEqual(
      [...clusterPage.keys].sort(),
      [0, 1, 2, 3, 4].map((i) => `scan/${i}`),
      'every key, whichever nodes store it',
    );
    assert.equal(clusterPage.cursor, null, 'the listing went round the whole ring');
    const two = await arpeggio('scan', '--prefix', 'scan/', '--limit', '2', '--at', at);
    assert.equal(two.stdout.trim().split('\n').length, 2, '--limit bounds the keys printed');
    assert.match(two.stderr, /2 keys in the cluster, listed through node a; more remain/);

    const scan = await arpeggio('scan', '--local', '--prefix', 'scan/', '--at', at, '--json');
    assert.equal(scan.code, 0, scan.stderr);
    const page = JSON.parse(scan.stdout) as { scope: string; node: string; keys: string[] };
    assert.equal(page.scope, 'local');
    assert.equal(page.node, 'a');
    const expected = [0, 1, 2, 3, 4]
      .map((i) => `scan/${i}`)
      .filter((k) => cluster.hosts[0].replicasOf(new TextEncoder().encode(k)).includes('a'));
    assert.deepEqual([...page.keys].sort(), expected, 'exactly the keys node a holds a replica of');
    const text = await arpeggio('scan', '--local', '--prefix', 'scan/', '--at', at);
    assert.match(text.stderr, /stored on node a only: the listing is local to the node/);
  });

  test('an unreachable node: the error says what went wrong and what to do', async () => {
    const port = await freePort();
    const res = await arpeggio('get', 'k', '--at', `127.0.0.1:${port}`);
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}`));
    assert.match(res.stderr, /is a cluster running\? try `npm start`/);
  });

  test('--help shows an example; a bad flag is a usage error (exit 2)', async () => {
    const help = await arpeggio('set', '--help');
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Examples:\n {2}arpeggio set greeting hello/);
    const bad = await arpeggio('get', 'k', '--consistency', 'strong');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--consistency must be one of one, quorum, all, linearizable, session/);
  });
});
