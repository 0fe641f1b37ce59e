/**
 * The replicated store as real processes: local clusters made by the manager
 * (src/control/local-cluster.ts), each node an `arpeggio start` process with its LMDB directory,
 * clients speaking RESP (ioredis) on 127.0.0.1. The claims of the issue:
 *
 * - a write acknowledged at `quorum` survives the SIGKILL of a node (it is readable through the
 *   others) and a stop and restart of the whole cluster (it is readable again);
 * - a node joining a cluster of K keys receives at most 1.15 × its fair share (K·N/4 key copies
 *   with N = 3 and 4 nodes), nodes whose ranges do not grow receive nothing, and reads and
 *   writes issued during the move all succeed;
 * - a node removed with `cluster remove` (a graceful leave) leaves every key readable.
 *
 * Every node is killed by pid after each test, whatever its outcome (helpers.ts).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LmdbStore } from '../../src/adapters/storage/lmdb.js';
import { LocalCluster, type NodeView } from '../../src/control/local-cluster.js';
import { runningPid } from '../../src/control/node-probe.js';
import { identifierOf } from '../../src/core/id.js';
import { splitDataKey } from '../../src/core/record.js';
import { Ring } from '../../src/core/ring.js';
import { STORE_DIR } from '../../src/runtime/node-host.js';
import { clusterDir, expectedValue, keyName, missingKeys, redisAt, writeKeys } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/arpeggio.js');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Records moved so far, per node: `pulled` are those it asked for and got (handoff and
 * anti-entropy answers), `pushed` those it sent to others unasked (it found them missing there).
 * What a node received is what it pulled plus what others pushed to it.
 */
function flows(views: NodeView[]): Record<string, { pulled: number; pushed: number; handedOff: number }> {
  const out: Record<string, { pulled: number; pushed: number; handedOff: number }> = {};
  for (const v of views) {
    const c = v.status?.core?.counters;
    if (c) {
      out[v.node.id] = {
        pulled: c.handoffRecordsReceived + c.antiEntropyRecordsReceived,
        pushed: c.handoffRecordsSent + c.antiEntropyRecordsSent,
        /** Received by the node's own range copying (a join or a rejoin), not by repair. */
        handedOff: c.handoffRecordsReceived,
      };
    }
  }
  return out;
}

/** Resolves once the process running on the node's directory is gone. */
async function gone(cluster: LocalCluster, id: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (cluster.pidOf(cluster.node(id)) !== null) {
    assert.ok(Date.now() < deadline, `${id} still runs 10 s after SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the time it took once every node of `observers` sees `id` as not alive. */
async function noticed(cluster: LocalCluster, id: string, observers: string[]): Promise<number> {
  const startedMs = Date.now();
  for (;;) {
    const views = await cluster.observe();
    const seen = views.filter(
      (v) => observers.includes(v.node.id) && v.status?.members.find((m) => m.id === id)?.state !== 'alive',
    );
    if (seen.length === observers.length) return Date.now() - startedMs;
    assert.ok(Date.now() - startedMs < 10_000, `${observers.join(', ')} still see ${id} alive after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The live user keys with `prefix` in a stopped node's store. */
function storedKeys(dataDir: string, prefix: string): Set<string> {
  const store = LmdbStore.open({ path: join(dataDir, STORE_DIR), durability: 'flush' });
  try {
    const keys = new Set<string>();
    for (const { key, value } of store.scan<{ value: unknown }>('data', { limit: 1_000_000 })) {
      const user = dec.decode(splitDataKey(key).userKey);
      if (user.startsWith(prefix) && value.value !== null) keys.add(user);
    }
    return keys;
  } finally {
    void store.close();
  }
}

describe('a local cluster of real node processes', { timeout: 120_000 }, () => {
  test('every key written at quorum is readable after a node is SIGKILLed, and again after down and up', async (t) => {
    const dir = await clusterDir(t);
    const { cluster } = await LocalCluster.up({ dir, nodes: 3, basePort: 0, settleTimeoutMs: 30_000 });
    const keys = range(2000).map((i) => keyName('k:', i));
    const clients = cluster.members().map((n) => redisAt(t, n.resp));
    const startedMs = Date.now();
    await writeKeys(clients, keys);
    t.diagnostic(`2,000 quorum writes through 3 nodes in ${Date.now() - startedMs} ms`);

    assert.notEqual(cluster.kill('n2', 'SIGKILL'), null, 'n2 was running');
    await gone(cluster, 'n2');
    // Reads wait for R = 2 replies. One that started before the survivors noticed the crash may
    // have counted on n2 and fails TRYAGAIN (definite); from then on n2 is skipped.
    const detectedMs = await noticed(cluster, 'n2', ['n1', 'n3']);
    t.diagnostic(`n1 and n3 noticed n2's crash within ${detectedMs} ms`);
    for (const [i, id] of [
      [0, 'n1'],
      [2, 'n3'],
    ] as const) {
      assert.deepEqual(
        await missingKeys(clients[i], keys),
        [],
        `every acknowledged write is readable at quorum through ${id} with n2 dead (2 of 3 replicas answer)`,
      );
    }

    const stops = await cluster.down();
    assert.deepEqual(
      stops.map((r) => [r.id, r.stopped]),
      [
        ['n1', true],
        ['n2', false],
        ['n3', true],
      ],
      'down stops the running nodes; the killed one was not running',
    );
    for (const c of clients) c.disconnect();

    const again = await LocalCluster.up({ dir, settleTimeoutMs: 30_000 });
    assert.equal(again.created, false);
    assert.deepEqual(again.started, ['n1', 'n2', 'n3'], 'the same three nodes, n2 over its stale lock');
    assert.deepEqual(
      again.cluster.members().map((n) => n.resp),
      cluster.members().map((n) => n.resp),
      'each node back on its ports',
    );
    for (const n of again.cluster.members()) {
      assert.deepEqual(
        await missingKeys(redisAt(t, n.resp), keys),
        [],
        `every key is back, read through ${n.id}`,
      );
    }
    await again.cluster.down();
  });

  test('a fourth node receives at most 1.15 × its fair share and the others pull nothing, while reads and writes go on; a removed node leaves every key readable', async (t) => {
    const dir = await clusterDir(t);
    const K = 3000;
    const N = 3;
    const { cluster } = await LocalCluster.up({
      dir,
      nodes: 3,
      basePort: 0,
      replicas: N,
      settleTimeoutMs: 30_000,
    });
    const keys = range(K).map((i) => keyName('k:', i));
    const clients = cluster.members().map((n) => redisAt(t, n.resp));
    await writeKeys(clients, keys);
    const before = flows(await cluster.observe());

    // Reads of the K keys and writes of new ones, one at a time per client, while n4 joins.
    let moving = true;
    const failures: string[] = [];
    const written: string[] = [];
    let reads = 0;
    const workload = Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; moving; i++) {
          const key = keys[(c * 1009 + i * 7919) % K];
          try {
            const v = await client.get(key);
            reads++;
            if (v !== expectedValue(key)) failures.push(`GET ${key} answered ${v}`);
          } catch (e) {
            failures.push(`GET ${key}: ${(e as Error).message}`);
          }
          const fresh = keyName(`m${c}:`, i);
          try {
            const r = await client.set(fresh, expectedValue(fresh));
            if (r === 'OK') written.push(fresh);
            else failures.push(`SET ${fresh} answered ${r}`);
          } catch (e) {
            failures.push(`SET ${fresh}: ${(e as Error).message}`);
          }
        }
      }),
    );
    const joinStartedMs = Date.now();
    const n4 = await cluster.add().finally(() => {
      moving = false;
    });
    const joinMs = Date.now() - joinStartedMs;
    await workload;
    assert.deepEqual(failures, [], 'every read and write issued during the move succeeded');
    assert.ok(reads > 0 && written.length > 0, 'the workload ran during the move');

    const after = flows(await cluster.observe());
    const fairShare = (K * N) / 4;
    const old = ['n1', 'n2', 'n3'];
    const pulledByOld = Object.fromEntries(old.map((id) => [id, after[id].pulled - before[id].pulled]));
    const pushedByOld = old.reduce((sum, id) => sum + after[id].pushed - before[id].pushed, 0);
    t.diagnostic(
      `join of n4 took ${joinMs} ms; n4 pulled ${after.n4.pulled} records (fair share ${fairShare} of the ${K} keys, ` +
        `plus new keys written meanwhile) and pushed ${after.n4.pushed}; n1..n3 pulled ${JSON.stringify(pulledByOld)} ` +
        `and pushed ${pushedByOld}; ${reads} reads and ${written.length} writes during the move`,
    );
    // From 3 nodes to 4 with N = 3 every old node only loses ranges: it pulls nothing. Allowed: a
    // few of the keys written during the move, which one replica can see a moment later than
    // another. What n4 pushes back while it copies is the records of the slices that differed,
    // which it has just pulled from that very node: an echo of what the node holds already, never
    // more than n4 pulled (measured and documented in docs/CLUSTER.md; the core could skip it).
    // What old nodes push goes to n4 in anti-entropy rounds, or to each other for late keys.
    //
    // A node starved of CPU (CI runs two test files at once) can miss some of the writes made
    // during the move: their coordinators stop at W acknowledgements, and anti-entropy repairs
    // them afterwards. Repair of keys written during the move is allowed; copying ranges is not,
    // and neither is repairing more than was written.
    const slack = written.length * 0.05 + 5;
    for (const id of old) {
      const copied = after[id].handedOff - before[id].handedOff;
      assert.ok(copied <= slack, `${id}'s ranges did not grow, yet it copied ${copied} records of ranges`);
      assert.ok(
        pulledByOld[id] <= written.length + 5,
        `${id} pulled ${pulledByOld[id]} records, more than the ${written.length} written during the move`,
      );
    }
    assert.ok(
      after.n4.pushed <= after.n4.pulled + slack,
      `n4 pushed ${after.n4.pushed} records to nodes whose ranges did not grow, more than it pulled from them`,
    );
    const n4Client = redisAt(t, n4.resp);
    assert.deepEqual(
      await missingKeys(n4Client, [...keys, ...written]),
      [],
      'every key is readable through n4',
    );

    // What n4 holds of the K keys, read from its store once it is stopped.
    await cluster.down();
    n4Client.disconnect();
    const held = storedKeys(cluster.dataDirOf(n4), 'k:');
    const ring = Ring.fromMembers(['n1', 'n2', 'n3', 'n4'], cluster.settings.vnodes);
    const its = keys.filter((k) => ring.preferenceList(identifierOf(enc.encode(k)), N).includes('n4'));
    t.diagnostic(
      `n4 holds ${held.size} of the ${K} keys; its ranges hold ${its.length}; fair share ${fairShare}`,
    );
    assert.ok(held.size <= 1.15 * fairShare, `n4 holds ${held.size} keys, more than 1.15 × ${fairShare}`);
    assert.deepEqual(
      its.filter((k) => !held.has(k)),
      [],
      'n4 holds every key of its ranges',
    );
    assert.deepEqual(
      [...held].filter((k) => !its.includes(k)),
      [],
      'n4 holds only keys of its ranges',
    );

    // Back up, then n1 (the first node, everyone's seed) leaves for good.
    const again = await LocalCluster.up({ dir, settleTimeoutMs: 30_000 });
    assert.deepEqual(again.started, ['n1', 'n2', 'n3', 'n4']);
    const removed = await again.cluster.remove('n1');
    t.diagnostic(`n1 left in ${removed.ms} ms`);
    assert.deepEqual(
      again.cluster.members().map((n) => n.id),
      ['n2', 'n3', 'n4'],
      'n1 is marked left in cluster.json',
    );
    assert.equal(again.cluster.pidOf(again.cluster.node('n1')), null, 'n1 has exited');
    for (const n of again.cluster.members()) {
      assert.deepEqual(
        await missingKeys(redisAt(t, n.resp), [...keys, ...written]),
        [],
        `every key is readable through ${n.id} after n1 left`,
      );
    }
    await again.cluster.down();
  });

  test('the CLI: up in the foreground until Ctrl-C, status from another shell, up --detach, a second up refused, down', async (t) => {
    const dir = await clusterDir(t);
    const cli = (args: string[]) => run([bin, 'cluster', ...args]);

    const fg = spawn(
      process.execPath,
      [bin, 'cluster', 'up', '--nodes', '2', '--dir', dir, '--base-port', '0', '--json'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => fg.kill('SIGKILL'));
    const lines = jsonLines(fg);
    const upLine = await lines.next();
    assert.equal(upLine.event, 'up', JSON.stringify(upLine));
    const nodes = upLine.nodes as Array<{ id: string; pid: number; resp: string }>;
    assert.deepEqual(
      nodes.map((n) => n.id),
      ['n1', 'n2'],
    );
    await redisAt(t, nodes[0].resp).set('greeting', 'hello');

    const status = await cli(['status', '--dir', dir, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const seen = JSON.parse(status.stdout);
    assert.equal(seen.settled, true, seen.reason);
    assert.deepEqual(
      seen.nodes.map((n: { id: string; pid: number; status: { core: { status: string } } }) => [
        n.id,
        n.pid,
        n.status.core.status,
      ]),
      nodes.map((n) => [n.id, n.pid, 'normal']),
    );

    fg.kill('SIGINT');
    const [code] = await once(fg, 'exit');
    assert.equal(code, 0, 'Ctrl-C: every node stopped gracefully, exit 0');
    const downLine = await lines.next();
    assert.deepEqual(
      (downLine.nodes as Array<{ id: string; stopped: boolean }>).map((r) => [r.id, r.stopped]),
      [
        ['n1', true],
        ['n2', true],
      ],
    );
    for (const n of nodes)
      assert.equal(runningPid(join(dir, n.id)), null, `${n.id} (pid ${n.pid}) has exited`);

    const detached = await cli(['up', '--dir', dir, '--detach', '--json']);
    assert.equal(detached.code, 0, detached.stderr);
    const restarted = JSON.parse(detached.stdout).nodes as Array<{ id: string; pid: number; resp: string }>;
    assert.deepEqual(
      restarted.map((n) => n.resp),
      nodes.map((n) => n.resp),
      'the same ports again',
    );
    assert.equal(await redisAt(t, restarted[1].resp).get('greeting'), 'hello', 'the data is back');

    const twice = await cli(['up', '--dir', dir]);
    assert.equal(twice.code, 1);
    assert.match(
      twice.stderr,
      /ALREADY_RUNNING: the cluster in .* is running already \(n1 pid \d+, n2 pid \d+\)/,
    );

    const down = await cli(['down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /stopped 2 nodes/);
    for (const n of restarted)
      assert.equal(runningPid(join(dir, n.id)), null, `${n.id} (pid ${n.pid}) has exited`);
  });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
  });
}

/** The JSON lines a process prints on stdout, one at a time. */
function jsonLines(child: ChildProcess): { next(): Promise<Record<string, unknown>> } {
  const queue: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    for (let i = partial.indexOf('\n'); i >= 0; i = partial.indexOf('\n')) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else queue.push(line);
    }
  });
  return {
    next: () =>
      new Promise((resolve) => {
        const line = queue.shift();
        if (line !== undefined) resolve(JSON.parse(line));
        else waiters.push((l) => resolve(JSON.parse(l)));
      }),
  };
}
