/**
 * The fault proxy: it passes a peer stream untouched, names the dialer from its hello, drops the
 * bytes of a blocked direction (one way or both), and closes a damaged connection once the block
 * lifts. Then real nodes in this process, each behind a proxy it advertises (`advertisePeer`):
 * they form a cluster through the proxies, an isolated node is seen failed, and healed, alive.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, describe, test } from 'node:test';
import { encodeFrame, FLAG_CONTROL } from '../../src/adapters/transport/frame.js';
import { parseStartArgs } from '../../src/cli/commands/start.js';
import { FaultNetwork, FaultProxy } from '../../src/control/torture/fault-proxy.js';
import { NodeHost } from '../../src/runtime/node-host.js';
import { eventually, FAST_KV, freePort, SECRET, tempDir } from '../runtime/helpers.js';

/** A node stand-in: records what it receives, answers what the test tells it to. */
async function fakeNode(): Promise<{
  address: string;
  received: () => Buffer;
  sockets: net.Socket[];
  close(): Promise<void>;
}> {
  const chunks: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    received: () => Buffer.concat(chunks),
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const hello = (id: string) => encodeFrame({ t: 'hello', v: 1, cluster: 'c', id }, { flags: FLAG_CONTROL });

async function dial(address: string): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const [host, port] = address.split(':');
  const socket = net.connect({ host, port: Number(port) });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  return { socket, received: () => Buffer.concat(chunks) };
}

async function until(what: string, check: () => boolean): Promise<void> {
  await eventually(what, check, 3000);
}

describe('the fault proxy', () => {
  test('passes both directions untouched while nothing is blocked, and names the dialer', async () => {
    const node = await fakeNode();
    const network = new FaultNetwork();
    const proxy = await FaultProxy.listen({ nodeId: 'a', upstream: () => node.address, network });
    try {
      const d = await dial(proxy.address);
      const first = hello('d');
      d.socket.write(first.subarray(0, 5)); // a hello cut anywhere is still read
      d.socket.write(Buffer.concat([first.subarray(5), Buffer.from('ping')]));
      await until(
        'the node receives the hello and the bytes after it',
        () => node.received().length === first.length + 4,
      );
      assert.deepEqual(node.received(), Buffer.concat([first, Buffer.from('ping')]), 'bytes pass unchanged');
      node.sockets[0].write('pong');
      await until('the dialer receives the answer', () => d.received().toString() === 'pong');
      d.socket.destroy();
    } finally {
      await proxy.close();
      await node.close();
    }
  });

  test('a one-way block drops one direction only; lifting it closes the damaged connection', async () => {
    const node = await fakeNode();
    const network = new FaultNetwork();
    const proxy = await FaultProxy.listen({ nodeId: 'a', upstream: () => node.address, network });
    try {
      const d = await dial(proxy.address);
      d.socket.write(hello('d'));
      await until('the hello arrives', () => node.received().length > 0);
      const before = node.received().length;
      network.blockOneWay(['d'], ['a']);
      d.socket.write('lost');
      node.sockets[0].write('still-flows');
      await until('a→d still flows', () => d.received().toString() === 'still-flows');
      assert.equal(node.received().length, before, 'nothing from d reaches a while d→a is blocked');
      assert.ok(proxy.counters().droppedBytes >= 4, 'the dropped bytes are counted');
      const closed = once(d.socket, 'close');
      network.heal();
      await closed; // the stream lost bytes: it is closed, and the transport would dial anew
      const again = await dial(proxy.address);
      again.socket.write(hello('d'));
      again.socket.write('after');
      await until('a new connection passes again', () => node.received().toString().endsWith('after'));
      again.socket.destroy();
    } finally {
      await proxy.close();
      await node.close();
    }
  });

  test('a partition blocks both directions; other dialers pass', async () => {
    const node = await fakeNode();
    const network = new FaultNetwork();
    const proxy = await FaultProxy.listen({ nodeId: 'a', upstream: () => node.address, network });
    try {
      network.partition(['a'], ['d']);
      assert.deepEqual(network.describe(), ['a→d', 'd→a']);
      const d = await dial(proxy.address);
      d.socket.write(hello('d'));
      const e = await dial(proxy.address);
      e.socket.write(hello('e'));
      await until("e's hello arrives", () => node.received().length === hello('e').length);
      assert.deepEqual(node.received(), hello('e'), 'only the dialer outside the partition got through');
      d.socket.destroy();
      e.socket.destroy();
    } finally {
      await proxy.close();
      await node.close();
    }
  });
});

describe('nodes behind proxies (advertisePeer)', () => {
  const dirs: Array<{ remove(): Promise<void> }> = [];
  after(async () => {
    for (const d of dirs) await d.remove();
  });
  test('arpeggio start --advertise-peer sets the advertised peer address; without it there is none', () => {
    const base = ['--data', '/tmp/x', '--peer-port', '0'];
    assert.equal(
      parseStartArgs([...base, '--advertise-peer', '127.0.0.1:9001']).advertisePeer,
      '127.0.0.1:9001',
    );
    assert.equal(parseStartArgs(base).advertisePeer, undefined, 'by default the bound port is advertised');
  });

  test('a peer address that is not host:port is refused at start (BAD_CONFIG)', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    await assert.rejects(
      NodeHost.start({ dataDir: dir.path, secret: SECRET, advertisePeer: 'no-port-here' }),
      (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /advertised peer address/.test(e.message),
    );
  });

  test('form a cluster through the proxies; an isolated node is seen failed, and alive once healed', async () => {
    const network = new FaultNetwork();
    const ids = ['a', 'b', 'c'];
    const real = new Map<string, string>();
    const proxies = await Promise.all(
      ids.map((id) => FaultProxy.listen({ nodeId: id, upstream: () => real.get(id), network })),
    );
    const hosts: NodeHost[] = [];
    try {
      for (const [i, id] of ids.entries()) {
        const dir = await tempDir();
        dirs.push(dir);
        // The proxy's upstream is the port the node listens on, chosen here.
        const peerPort = await freePort();
        real.set(id, `127.0.0.1:${peerPort}`);
        const host = await NodeHost.start({
          dataDir: dir.path,
          id,
          secret: SECRET,
          kvConfig: FAST_KV,
          peerPort,
          advertisePeer: proxies[i].address,
          join: i === 0 ? [] : [proxies[0].address],
          onFatal: (e) => assert.fail(`unexpected fatal error: ${e.message}`),
        });
        hosts.push(host);
        assert.equal(host.endpoints.peer, proxies[i].address, 'the node advertises its proxy');
      }
      const aliveIn = (h: NodeHost) =>
        new Set(
          h
            .status()
            .members.filter((m) => m.state === 'alive')
            .map((m) => m.id),
        );
      await eventually(
        'every node sees every other alive',
        () => hosts.every((h) => ids.every((id) => aliveIn(h).has(id))),
        10_000,
      );
      // One connection per pair, through the proxy of whichever node was dialled: a-b and a-c
      // through a's (b and c joined through it), b-c through b's or c's.
      assert.ok(proxies[0].counters().forwardedBytes > 0, 'the joins passed through the proxy of a');
      await eventually(
        'b and c talk through the proxy of one of them',
        () => proxies[1].counters().forwardedBytes + proxies[2].counters().forwardedBytes > 0,
      );

      network.partition(['c'], ['a', 'b']);
      await eventually(
        'a and b no longer see c alive',
        () => !aliveIn(hosts[0]).has('c') && !aliveIn(hosts[1]).has('c'),
        10_000,
      );
      network.heal();
      await eventually(
        'healed: every node sees every other alive again',
        () => hosts.every((h) => ids.every((id) => aliveIn(h).has(id))),
        15_000,
      );
    } finally {
      await Promise.all(hosts.map((h) => h.close()));
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});
