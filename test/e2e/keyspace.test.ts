/**
 * The keyspace across real node processes: SCAN, KEYS and DBSIZE through one node see the keys
 * written through another, in a 3-node cluster that keeps 2 copies of each key (so no node holds
 * them all, and a listing of one node's own store would miss about a third); and `arpeggio
 * cluster status` shows each member's keys, ranges, load and breakers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { LocalCluster } from '../../src/control/local-cluster.js';
import { memberRows } from '../../src/control/ring-health.js';
import { clusterDir, keyName, redisAt, writeKeys } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/arpeggio.js');
const run = promisify(execFile);

describe('the keyspace of a real 3-node cluster', { timeout: 120_000 }, () => {
  test('SCAN, KEYS and DBSIZE through another node list every key written through n1; cluster status shows each member', async (t) => {
    const dir = await clusterDir(t);
    const { cluster } = await LocalCluster.up({
      dir,
      nodes: 3,
      basePort: 0,
      replicas: 2,
      settleTimeoutMs: 30_000,
    });
    const clients = new Map(cluster.members().map((n) => [n.id, redisAt(t, n.resp)]));
    const n1 = clients.get('n1') as Redis;
    const keys = Array.from({ length: 300 }, (_, i) => keyName('ks:', i));
    await writeKeys([n1], keys);

    // List through the other node that stores the fewest of them. (Writes made within the grace
    // period of the last join also reach the replicas of the ring before it, n1 and n2.)
    const views = await cluster.observe();
    const storedOn = (id: string) => views.find((v) => v.node.id === id)?.status?.core?.storedRecords ?? 0;
    const lister = storedOn('n2') <= storedOn('n3') ? 'n2' : 'n3';
    const other = clients.get(lister) as Redis;
    assert.ok(
      storedOn(lister) < keys.length,
      `${lister} holds ${storedOn(lister)} of the ${keys.length} keys: its own store is not the listing`,
    );

    const scanned = new Set<string>();
    let cursor = '0';
    let steps = 0;
    do {
      const [next, batch] = await other.scan(cursor, 'MATCH', 'ks:*', 'COUNT', 40);
      for (const key of batch) scanned.add(key);
      cursor = next;
      steps++;
    } while (cursor !== '0');
    assert.deepEqual([...scanned].sort(), keys, `a full SCAN through ${lister} returns every key`);
    assert.ok(steps > 1, 'COUNT 40 over 300 keys takes several steps');
    assert.deepEqual((await other.keys('ks:*')).sort(), keys, `KEYS through ${lister}`);
    assert.equal(await other.dbsize(), keys.length, `DBSIZE through ${lister}`);
    await other.set('extra', 'x');
    assert.equal(
      await n1.dbsize(),
      keys.length + 1,
      `DBSIZE through n1 counts the key written through ${lister}`,
    );

    const rows = memberRows(views.map((v) => ({ id: v.node.id, status: v.status, process: 'running' })));
    const copies = rows.reduce((sum, r) => sum + (r.keys ?? 0), 0);
    // Two copies of each key, plus (right after the joins) copies on the replicas of the rings
    // before them, which writes also reach until the transition's grace period ends.
    assert.ok(
      copies >= 2 * keys.length && copies <= 3 * keys.length,
      `the members store ${copies} records between them: two copies of each key and at most one more`,
    );
    const share = rows.reduce((sum, r) => sum + r.ringShare, 0);
    assert.ok(Math.abs(share - 1) < 1e-9, 'the members own the whole ring between them');
    for (const r of rows) {
      assert.equal(r.state, 'normal');
      assert.deepEqual(r.breakers, {}, `${r.member}: every breaker closed`);
      assert.ok(r.requestsPerSecond !== null && r.inflight !== null, `${r.member} reports its load`);
    }
    const text = await run(process.execPath, [bin, 'cluster', 'status', '--dir', dir]);
    assert.match(text.stdout, /member +state +keys +ranges +load +breakers/);
    assert.match(text.stdout, /n1 +normal +\d+ +16 \(\d+\.\d%\) +[\d.]+\/s, \d+ in flight +all closed/);
    await cluster.down();
  });
});
