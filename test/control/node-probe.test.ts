/**
 * How a manager sees a node from outside: a node runs when its lock file names a live process
 * (the same process: a reused pid does not count), and it describes itself over RESP with
 * ARPEGGIO.STATUS.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { fetchStatus, respCommand, runningPid, startTicksOf } from '../../src/control/node-probe.js';
import { startServer } from '../frontends/resp/helpers.js';

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-probe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lock = (dir: string, holder: object) => writeFileSync(join(dir, 'LOCK'), `${JSON.stringify(holder)}\n`);

/** A TCP server that answers every connection with `reply` (in two pieces), or never. */
async function fakeServer(t: TestContext, reply: string | null): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => {
      if (reply === null) return;
      socket.write(reply.slice(0, 3));
      setImmediate(() => socket.write(reply.slice(3)));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('runningPid: is a node running on this directory', () => {
  test('no lock file: not running', (t) => {
    assert.equal(runningPid(dataDir(t)), null);
  });

  test('a lock naming a live process (same start time) is that process', (t) => {
    const dir = dataDir(t);
    lock(dir, { pid: process.pid, host: 'h', startTicks: startTicksOf(process.pid), takenAt: '' });
    assert.equal(runningPid(dir), process.pid);
  });

  test('a lock left by a killed process names a dead pid: not running', async (t) => {
    const dir = dataDir(t);
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const pid = child.pid as number;
    await once(child, 'exit');
    lock(dir, { pid, host: 'h', takenAt: '' });
    assert.equal(runningPid(dir), null);
  });

  test('a live pid that started at another time is a reused pid, not the node', (t) => {
    const dir = dataDir(t);
    lock(dir, { pid: process.pid, host: 'h', startTicks: '1', takenAt: '' });
    assert.equal(runningPid(dir), null);
  });
});

describe('respCommand and fetchStatus', () => {
  test('a bulk string arriving in pieces is read whole; an error reply rejects with its text', async (t) => {
    assert.equal(
      await respCommand(await fakeServer(t, '$11\r\nhello world\r\n'), ['ECHO', 'x'], 1000),
      'hello world',
    );
    assert.equal(await respCommand(await fakeServer(t, '+PONG\r\n'), ['PING'], 1000), 'PONG');
    await assert.rejects(respCommand(await fakeServer(t, '-ERR nope\r\n'), ['X'], 1000), /^Error: ERR nope$/);
  });

  test('no reply in time, or nobody listening, rejects', async (t) => {
    await assert.rejects(
      respCommand(await fakeServer(t, null), ['PING'], 100),
      /no reply from .* within 100 ms/,
    );
    const free = createServer().listen(0, '127.0.0.1');
    await once(free, 'listening');
    const port = (free.address() as { port: number }).port;
    free.close();
    await once(free, 'close');
    await assert.rejects(respCommand(`127.0.0.1:${port}`, ['PING'], 1000), /ECONNREFUSED/);
  });

  test('fetchStatus reads ARPEGGIO.STATUS from a RESP server', async (t) => {
    const { port } = await startServer(t);
    assert.deepEqual(await fetchStatus(`127.0.0.1:${port}`), { id: 'fake-node', ready: true });
  });
});
