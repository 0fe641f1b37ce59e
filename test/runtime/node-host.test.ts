/**
 * Real nodes in one test process: real TCP on 127.0.0.1 (port 0), real LMDB in temp directories.
 * They form a cluster, serve a quorum write through one node and a read through another, come
 * back from a restart with their id and data, refuse to share a data directory, and refuse a
 * node without the cluster secret.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isRuntimeError } from '../../src/runtime/errors.js';
import { LOCK_FILE } from '../../src/runtime/lock.js';
import { NodeHost, type NodeHostOptions } from '../../src/runtime/node-host.js';
import {
  capturedLogger,
  eventually,
  FAST_KV,
  freePort,
  getReq,
  SECRET,
  setReq,
  tempDir,
  valueText,
} from './helpers.js';

const dirs: Array<{ remove(): Promise<void> }> = [];
after(async () => {
  for (const d of dirs) await d.remove();
});

async function dir(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d.path;
}

function start(options: Partial<NodeHostOptions> & { dataDir: string }): Promise<NodeHost> {
  return NodeHost.start({
    secret: SECRET,
    kvConfig: FAST_KV,
    onFatal: (e) => assert.fail(`unexpected fatal error: ${e.message}`),
    ...options,
  });
}

/** Every host sees every other one alive. */
function converged(hosts: NodeHost[]): boolean {
  return hosts.every((h) => {
    const alive = new Set(
      h
        .status()
        .members.filter((m) => m.state === 'alive')
        .map((m) => m.id),
    );
    return hosts.every((o) => alive.has(o.nodeId));
  });
}

describe('a cluster of real nodes', () => {
  test('three nodes form a cluster; a quorum write through one is read through another', async () => {
    const a = await start({ dataDir: await dir(), id: 'a' });
    const b = await start({ dataDir: await dir(), id: 'b', join: [a.endpoints.peer] });
    const c = await start({ dataDir: await dir(), id: 'c', join: [a.endpoints.peer] });
    const hosts = [a, b, c];
    try {
      await Promise.all(hosts.map((h) => h.whenReady(5000)));
      await eventually('membership converges', () => converged(hosts));
      const written = await a.request(setReq('greeting', 'hello'));
      assert.ok(written.ok, `the write is acknowledged: ${JSON.stringify(written)}`);
      assert.equal(
        valueText(await b.request(getReq('greeting'))),
        'hello',
        'a quorum read meets the quorum write',
      );
      assert.equal(valueText(await c.request(getReq('greeting', 'all'))), 'hello');

      const status = b.status();
      assert.equal(status.id, 'b');
      assert.equal(status.state, 'running');
      assert.ok(status.core?.ringMembers.includes('a'), 'the first node is on the ring');
      const peerOfA = status.members.find((m) => m.id === 'a')?.meta.peer;
      assert.equal(peerOfA, a.endpoints.peer, 'members advertise their peer address');
    } finally {
      await Promise.all(hosts.map((h) => h.close()));
    }
  });

  test('a node that leaves hands off its ranges: the others drop it from the ring and keep its keys', async () => {
    const kvConfig = { ...FAST_KV, transitionGraceMs: 300 };
    const a = await start({ dataDir: await dir(), id: 'a', kvConfig });
    const b = await start({ dataDir: await dir(), id: 'b', kvConfig, join: [a.endpoints.peer] });
    const c = await start({ dataDir: await dir(), id: 'c', kvConfig, join: [a.endpoints.peer] });
    try {
      await eventually('all three are on every ring', () =>
        [a, b, c].every((h) => h.status().core?.ringMembers.join() === 'a,b,c'),
      );
      const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
      for (const k of keys) assert.ok((await a.request(setReq(k, `v-${k}`))).ok);
      await c.leave(10_000);
      assert.equal(c.status().state, 'closed', 'a node that left is stopped');
      await eventually('the others drop it from their rings', () =>
        [a, b].every((h) => h.status().core?.ringMembers.join() === 'a,b'),
      );
      for (const k of keys) {
        assert.equal(valueText(await b.request(getReq(k, 'all'))), `v-${k}`, `${k} survived the leave`);
      }
    } finally {
      await Promise.all([a, b, c].map((h) => h.close()));
    }
  });

  test('a node closed and reopened on its data directory gets its id, a new epoch and its data back', async () => {
    const dataDir = await dir();
    const single = { replicaCount: 1, readQuorum: 1, writeQuorum: 1 };
    const first = await start({ dataDir, kvConfig: { ...FAST_KV, ...single } });
    const id = first.nodeId;
    assert.match(id, /^n-[0-9a-f]{8}$/, 'a generated id');
    assert.equal(first.epoch, 1);
    assert.ok((await first.request(setReq('k', 'v1'))).ok);
    await first.close();

    const second = await start({ dataDir, kvConfig: { ...FAST_KV, ...single } });
    try {
      assert.equal(second.nodeId, id, 'the node id is read back from the store');
      assert.equal(second.epoch, 2, 'every start has a fresh epoch');
      await second.whenReady(5000);
      assert.equal(valueText(await second.request(getReq('k'))), 'v1');
    } finally {
      await second.close();
    }
    await assert.rejects(
      start({ dataDir, id: 'someone-else' }),
      (e) => isRuntimeError(e, 'DATA_DIR_MISMATCH') && e.message.includes(id),
      'a data directory belongs to one node id',
    );
  });

  test('beyond maxInflightRequests the host answers OVERLOADED (definite) without asking the core', async () => {
    const host = await start({
      dataDir: await dir(),
      kvConfig: { ...FAST_KV, replicaCount: 1, readQuorum: 1, writeQuorum: 1 },
      maxInflightRequests: 1,
    });
    try {
      const first = host.request(setReq('k', 'v'));
      const second = await host.request(setReq('k', 'w'));
      assert.ok(!second.ok && second.error.code === 'OVERLOADED' && second.error.definite);
      assert.ok((await first).ok, 'the request in flight is unaffected');
    } finally {
      await host.close();
    }
  });

  test('requests after close() began are refused NOT_READY, a definite error', async () => {
    const host = await start({
      dataDir: await dir(),
      kvConfig: { ...FAST_KV, replicaCount: 1, readQuorum: 1, writeQuorum: 1 },
    });
    const closing = host.close();
    const reply = await host.request(getReq('k'));
    assert.ok(!reply.ok && reply.error.code === 'NOT_READY' && reply.error.definite);
    await closing;
  });
});

describe('one node per data directory', () => {
  test('a second node cannot open a directory in use; it can once the first is closed', async () => {
    const dataDir = await dir();
    const first = await start({ dataDir });
    await assert.rejects(start({ dataDir }), (e) => isRuntimeError(e, 'DATA_DIR_LOCKED'));
    await first.close();
    const again = await start({ dataDir });
    assert.equal(again.nodeId, first.nodeId);
    await again.close();
  });

  test('the stale lock of a process that died is taken over, with a warning', async () => {
    const dataDir = await dir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number; // exited: its pid names no process
    writeFileSync(
      join(dataDir, LOCK_FILE),
      `${JSON.stringify({ pid: dead, host: hostname(), takenAt: '2020-01-01T00:00:00.000Z' })}\n`,
    );
    const { logger, lines } = capturedLogger();
    const host = await start({ dataDir, logger });
    await host.close();
    assert.ok(
      lines.some((l) => l.msg.includes('did not stop cleanly') && l.previousPid === dead),
      'the takeover is logged',
    );
  });

  test('a data directory that cannot be created fails the start with DATA_DIR_NOT_WRITABLE', async () => {
    const file = join(await dir(), 'a-file');
    writeFileSync(file, 'not a directory');
    await assert.rejects(
      start({ dataDir: join(file, 'node') }),
      (e) => isRuntimeError(e, 'DATA_DIR_NOT_WRITABLE') && e.message.includes('ENOTDIR'),
    );
  });

  test('a lock held from another host is never taken over', async () => {
    const dataDir = await dir();
    writeFileSync(
      join(dataDir, LOCK_FILE),
      `${JSON.stringify({ pid: 1, host: 'elsewhere', takenAt: 'x' })}\n`,
    );
    await assert.rejects(
      start({ dataDir }),
      (e) => isRuntimeError(e, 'DATA_DIR_LOCKED') && e.message.includes('elsewhere'),
    );
  });
});

describe('joining', () => {
  test('a node without the cluster secret cannot join, and both sides say why', async () => {
    const seedLog = capturedLogger();
    const seed = await start({ dataDir: await dir(), id: 'seed', logger: seedLog.logger });
    const intruderLog = capturedLogger();
    try {
      await assert.rejects(
        start({
          dataDir: await dir(),
          id: 'intruder',
          join: [seed.endpoints.peer],
          secret: 'not-the-cluster-secret-at-all!!',
          logger: intruderLog.logger,
          joinTimeoutMs: 5000,
        }),
        (e) => isRuntimeError(e, 'JOIN_REFUSED') && /secret/.test(e.message),
      );
      assert.ok(
        intruderLog.lines.some((l) => l.msg.includes('seed refused this node')),
        'the intruder logs that it was refused',
      );
      await eventually('the seed logs the refusal', () =>
        seedLog.lines.some((l) => l.code === 'BAD_PROOF' && /cluster secret/.test(l.msg)),
      );
      assert.deepEqual(
        seed.status().members.map((m) => m.id),
        ['seed'],
        'the intruder never became a member',
      );
    } finally {
      await seed.close();
    }
  });

  test('a seed that never answers fails the start with JOIN_FAILED at the deadline', async () => {
    const port = await freePort();
    await assert.rejects(
      start({ dataDir: await dir(), join: [`127.0.0.1:${port}`], joinTimeoutMs: 300 }),
      (e) => isRuntimeError(e, 'JOIN_FAILED') && e.message.includes(`127.0.0.1:${port}`),
    );
  });

  test('a peer port in use fails the start with PORT_IN_USE, and releases the directory', async () => {
    const taken = await start({ dataDir: await dir() });
    const port = Number(taken.endpoints.peer.split(':')[1]);
    const dataDir = await dir();
    try {
      await assert.rejects(start({ dataDir, peerPort: port }), (e) => isRuntimeError(e, 'PORT_IN_USE'));
      const ok = await start({ dataDir });
      await ok.close();
    } finally {
      await taken.close();
    }
  });

  test('its own address in the join list is skipped, so every node can be given the same list', async () => {
    const port = await freePort();
    const host = await start({ dataDir: await dir(), peerPort: port, join: [`127.0.0.1:${port}`] });
    try {
      await host.whenReady(2000);
    } finally {
      await host.close();
    }
  });
});
