/**
 * The manager's rules that need no running cluster: the port scheme; a directory without a
 * cluster; a cluster that runs already is not started twice; changes that need every member
 * running refuse while one is stopped; settings of an existing cluster cannot change; and a new
 * cluster that cannot start (a port in use) says why and leaves nothing behind.
 *
 * "Running" nodes here are lock files naming this test process, which is alive: the manager
 * reads liveness from lock files only.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import {
  CLUSTER_FILE,
  type ClusterFile,
  LocalCluster,
  LocalClusterError,
  nodePorts,
} from '../../src/control/local-cluster.js';
import { startTicksOf } from '../../src/control/node-probe.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-control-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A cluster.json of `ids`, those in `running` with a lock file naming this (live) process. */
function fakeCluster(dir: string, ids: string[], running: string[]): void {
  const file: ClusterFile = {
    version: 1,
    createdAt: '',
    host: '127.0.0.1',
    basePort: 7100,
    replicas: 3,
    vnodes: 16,
    nodes: ids.map((id, i) => ({
      id,
      index: i + 1,
      data: id,
      peer: `127.0.0.1:${nodePorts(7100, i + 1).peer}`,
      resp: `127.0.0.1:${nodePorts(7100, i + 1).resp}`,
      pid: null,
      state: 'running',
    })),
  };
  writeFileSync(join(dir, CLUSTER_FILE), JSON.stringify(file));
  for (const id of running) {
    mkdirSync(join(dir, id), { recursive: true });
    const holder = { pid: process.pid, host: 'h', startTicks: startTicksOf(process.pid), takenAt: '' };
    writeFileSync(join(dir, id, 'LOCK'), JSON.stringify(holder));
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LocalClusterError, String(e));
    assert.equal(e.code, code);
    assert.match(e.detail, message);
    return true;
  });
}

describe('the local cluster manager', () => {
  test('ports: node nI uses base + 10·(I−1) for peers, the next for Redis clients, the one after for HTTP; base 0 lets the OS pick', () => {
    assert.deepEqual(nodePorts(7100, 1), { peer: 7100, resp: 7101, http: 7102 });
    assert.deepEqual(nodePorts(7100, 3), { peer: 7120, resp: 7121, http: 7122 });
    assert.deepEqual(nodePorts(0, 5), { peer: 0, resp: 0, http: 0 });
  });

  test('a directory without a cluster is NOT_A_CLUSTER', (t) => {
    assert.throws(
      () => LocalCluster.open({ dir: tempDir(t) }),
      (e: unknown) => e instanceof LocalClusterError && e.code === 'NOT_A_CLUSTER',
    );
  });

  test('up on a cluster whose nodes all run starts nothing and names them', async (t) => {
    const dir = tempDir(t);
    fakeCluster(dir, ['n1', 'n2'], ['n1', 'n2']);
    await rejectsWith(
      LocalCluster.up({ dir }),
      'ALREADY_RUNNING',
      new RegExp(`running already \\(n1 pid ${process.pid}, n2 pid ${process.pid}\\)`),
    );
  });

  test('add and remove need the members running; a stopped member is still on the ring', async (t) => {
    const dir = tempDir(t);
    fakeCluster(dir, ['n1', 'n2', 'n3'], ['n1', 'n3']);
    const cluster = LocalCluster.open({ dir });
    await rejectsWith(cluster.add(), 'NOT_RUNNING', /n2 is stopped but still on the ring/);
    await rejectsWith(cluster.remove('n2'), 'NOT_RUNNING', /n2 is not running/);
    await rejectsWith(cluster.remove('n9'), 'NO_SUCH_NODE', /no node 'n9'.*nodes: n1, n2, n3/);
  });

  test('the last node cannot be removed: nobody would hold its keys', async (t) => {
    const dir = tempDir(t);
    fakeCluster(dir, ['n1'], []);
    await rejectsWith(LocalCluster.open({ dir }).remove('n1'), 'LAST_NODE', /n1 is the last node/);
  });

  test('--replicas or --vnodes other than the cluster was made with are refused', async (t) => {
    const dir = tempDir(t);
    fakeCluster(dir, ['n1'], []);
    await rejectsWith(LocalCluster.up({ dir, replicas: 2 }), 'SETTINGS_MISMATCH', /keeps 3 copies/);
    await rejectsWith(LocalCluster.up({ dir, vnodes: 64 }), 'SETTINGS_MISMATCH', /16 virtual nodes/);
  });

  test('a new cluster whose port is taken fails with the node’s reason and leaves nothing behind', async (t) => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    t.after(() => taken.close());
    const port = (taken.address() as { port: number }).port;
    const dir = join(tempDir(t), 'cluster');
    await rejectsWith(
      LocalCluster.up({ dir, nodes: 1, basePort: port, logLevel: 'silent' }),
      'NODE_FAILED',
      new RegExp(`n1 could not start: PORT_IN_USE: the peer port 127\\.0\\.0\\.1:${port} is in use`),
    );
    assert.equal(existsSync(dir), false, 'the directory this attempt made is gone');
  });

  test('cluster.json keeps what another shell changed when one node is recorded', (t) => {
    const dir = tempDir(t);
    fakeCluster(dir, ['n1'], []);
    const cluster = LocalCluster.open({ dir });
    // Another shell adds n2 meanwhile.
    const onDisk = JSON.parse(readFileSync(join(dir, CLUSTER_FILE), 'utf8')) as ClusterFile;
    onDisk.nodes.push({ ...onDisk.nodes[0], id: 'n2', index: 2, data: 'n2' });
    writeFileSync(join(dir, CLUSTER_FILE), JSON.stringify(onDisk));
    return cluster.stop('n1').then(() => {
      const after = JSON.parse(readFileSync(join(dir, CLUSTER_FILE), 'utf8')) as ClusterFile;
      assert.deepEqual(
        after.nodes.map((n) => [n.id, n.state]),
        [
          ['n1', 'stopped'],
          ['n2', 'running'],
        ],
      );
    });
  });
});
