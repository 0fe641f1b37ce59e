/**
 * `arpeggio start` as a real OS process (bin/arpeggio.js on the built tree): it prints its start
 * line once it serves, survives SIGKILL with every acknowledged write (it acknowledges only after
 * fdatasync), stops cleanly on SIGTERM, and fails to start with a stable code when it must.
 *
 * The client in these tests is a NodeHost in the test process that joins the child's cluster:
 * with one copy per key (replicas 1), a write to a key the child owns is acknowledged only after
 * the child made it durable, and a read of it can only be answered from the child's disk. After
 * the restart a Redis client (ioredis) reads the same values through the child's RESP port.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { NodeHost } from '../../src/runtime/node-host.js';
import { eventually, FAST_KV, freePort, getReq, SECRET, setReq, tempDir, valueText } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/arpeggio.js');
const SINGLE_COPY = ['--replicas', '1', '--read-quorum', '1', '--write-quorum', '1'];

async function configFile(content: unknown): Promise<{ dir: string; path: string }> {
  const d = await tempDir('arpeggio-config-');
  dirs.push(d);
  const path = join(d.path, 'node.json');
  writeFileSync(path, JSON.stringify(content));
  return { dir: d.path, path };
}

interface StartLine {
  event: 'ready' | 'failed';
  id: string;
  pid: number;
  epoch: number;
  peer: string;
  resp: string | null;
  data: string;
  code?: string;
  message?: string;
}

interface Child {
  process: ChildProcess;
  /** Resolves with the first JSON line on stdout (the start line, or the failure). */
  line: Promise<StartLine>;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every complete stdout line; all of them once `closed` resolved (the pipes are drained). */
  lines: string[];
  closed: Promise<unknown>;
}

const children: ChildProcess[] = [];
const dirs: Array<{ remove(): Promise<void> }> = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) await d.remove();
});

function startChild(args: string[]): Child {
  const child = spawn(process.execPath, [bin, 'start', '--json', '--log-level', 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ARPEGGIO_SECRET: SECRET },
  });
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const lines: string[] = [];
  const closed = once(child, 'close');
  const line = new Promise<StartLine>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const parts = out.split('\n');
      out = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.length > 0) resolve(JSON.parse(lines[0]) as StartLine);
    });
    void exit.then(({ code, signal }) =>
      reject(new Error(`exited (${code ?? signal}) before its start line:\n${stderr}`)),
    );
  });
  line.catch(() => {}); // a test that expects no start line reads `exit` instead
  return { process: child, line, stderr: () => stderr, exit, lines, closed };
}

describe('arpeggio start, a real node process', () => {
  test('SIGKILLed and restarted on its directory, it serves every write it acknowledged', async () => {
    const data = await tempDir();
    dirs.push(data);
    const peerPort = await freePort();
    const args = [
      '--data',
      data.path,
      '--peer-port',
      String(peerPort),
      '--resp-port',
      '0',
      '--id',
      'child',
      ...SINGLE_COPY,
    ];
    const first = startChild(args);
    const up = await first.line;
    assert.equal(up.event, 'ready');
    assert.equal(up.id, 'child');
    assert.equal(up.epoch, 1);
    assert.equal(up.peer, `127.0.0.1:${peerPort}`);

    const clientDir = await tempDir();
    dirs.push(clientDir);
    const client = await NodeHost.start({
      dataDir: clientDir.path,
      id: 'client',
      join: [up.peer],
      secret: SECRET,
      kvConfig: { ...FAST_KV, replicaCount: 1, readQuorum: 1, writeQuorum: 1 },
      onFatal: (e) => assert.fail(e.message),
    });
    try {
      await client.whenReady(5000);
      await eventually('the client sees the child alive', () =>
        client.status().members.some((m) => m.id === 'child' && m.state === 'alive'),
      );
      // Keys whose only copy is on the child.
      const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`)
        .filter((k) => client.replicasOf(new TextEncoder().encode(k)).join() === 'child')
        .slice(0, 20);
      assert.ok(keys.length >= 5, `the child owns some keys (${keys.length})`);
      const acknowledged: string[] = [];
      for (const k of keys) {
        const reply = await client.request(setReq(k, `value of ${k}`, 'one'));
        if (reply.ok) acknowledged.push(k);
      }
      assert.ok(acknowledged.length > 0, 'writes were acknowledged');

      first.process.kill('SIGKILL');
      assert.equal((await first.exit).signal, 'SIGKILL');

      const second = startChild(args);
      const again = await second.line;
      assert.equal(again.event, 'ready', 'a stale lock of a killed process does not stop a restart');
      assert.equal(again.id, 'child');
      assert.equal(again.epoch, 2, 'the restart is a new epoch');
      for (const k of acknowledged) {
        await eventually(
          `the restarted child serves ${k}`,
          async () => {
            const reply = await client.request(getReq(k, 'one'));
            return reply.ok && valueText(reply) === `value of ${k}`;
          },
          10_000,
        );
      }

      // And through its own front door: a Redis client reads the same values from the child.
      assert.ok(again.resp, 'the start line names the RESP endpoint');
      const redis = new Redis({
        host: '127.0.0.1',
        port: Number(again.resp.split(':')[1]),
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      await redis.connect();
      try {
        for (const k of acknowledged) assert.equal(await redis.get(k), `value of ${k}`);
      } finally {
        redis.disconnect();
      }

      second.process.kill('SIGTERM');
      const stopped = await second.exit;
      assert.equal(stopped.code, 0, `a graceful stop exits 0:\n${second.stderr()}`);
      assert.match(second.stderr(), /"msg":"node closed"/);
    } finally {
      await client.close();
    }
  });

  test('SIGUSR2: the node hands its ranges to the others, says "left" and exits 0', async () => {
    const { dir: configDir, path: config } = await configFile({ kv: { transitionGraceMs: 300 } });
    const child = startChild([
      '--config',
      config,
      '--data',
      join(configDir, 'leaver'),
      '--peer-port',
      '0',
      '--id',
      'leaver',
      '--replicas',
      '2',
      '--read-quorum',
      '1',
      '--write-quorum',
      '2',
    ]);
    const up = await child.line;
    const stayDir = await tempDir();
    dirs.push(stayDir);
    const stays = await NodeHost.start({
      dataDir: stayDir.path,
      id: 'stays',
      join: [up.peer],
      secret: SECRET,
      kvConfig: { ...FAST_KV, transitionGraceMs: 300, replicaCount: 2, readQuorum: 1, writeQuorum: 2 },
      onFatal: (e) => assert.fail(e.message),
    });
    try {
      await eventually(
        'both are on the ring',
        () => stays.status().core?.ringMembers.join() === 'leaver,stays',
      );
      for (let i = 0; i < 10; i++) assert.ok((await stays.request(setReq(`k${i}`, `v${i}`, 'all'))).ok);
      child.process.kill('SIGUSR2');
      assert.equal((await child.exit).code, 0, child.stderr());
      await child.closed;
      assert.deepEqual(JSON.parse(child.lines[1]), { event: 'left', id: 'leaver' });
      await eventually(
        'the node that stays drops it from its ring',
        () => stays.status().core?.ringMembers.join() === 'stays',
      );
      for (let i = 0; i < 10; i++)
        assert.equal(valueText(await stays.request(getReq(`k${i}`, 'one'))), `v${i}`);
    } finally {
      await stays.close();
    }
  });

  test('a --join address that never answers: exit 1 with JOIN_FAILED', async () => {
    const data = await tempDir();
    dirs.push(data);
    const dead = await freePort();
    const child = startChild([
      '--data',
      data.path,
      '--peer-port',
      '0',
      '--join',
      `127.0.0.1:${dead}`,
      '--join-timeout-ms',
      '300',
    ]);
    const { code } = await child.exit;
    assert.equal(code, 1);
    assert.match(child.stderr(), /JOIN_FAILED: no seed answered within 300 ms: 127\.0\.0\.1:\d+/);
  });

  test('a second process on a data directory in use: exit 1 with DATA_DIR_LOCKED', async () => {
    const data = await tempDir();
    dirs.push(data);
    const owner = startChild(['--data', data.path, '--peer-port', '0']);
    const up = await owner.line;
    const intruder = startChild(['--data', data.path, '--peer-port', '0']);
    const { code } = await intruder.exit;
    assert.equal(code, 1);
    assert.match(intruder.stderr(), new RegExp(`DATA_DIR_LOCKED: .* in use by pid ${up.pid}`));
    owner.process.kill('SIGTERM');
    assert.equal((await owner.exit).code, 0);
  });

  test('bad flags: exit 2 with the reason and the usage', async () => {
    const child = startChild(['--data', '/tmp/x', '--peer-port', 'seventy']);
    const { code } = await child.exit;
    assert.equal(code, 2);
    assert.match(child.stderr(), /--peer-port must be an integer, got 'seventy'/);
    assert.match(child.stderr(), /Usage: arpeggio start/);
  });
});
