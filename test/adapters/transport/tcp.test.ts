/**
 * The TCP transport between real sockets on 127.0.0.1: messages arrive in order between
 * proven peers; strangers, garbage and stalls are cut off with a reason while the node keeps
 * serving; connections come back after a restart; a simultaneous dial settles on one
 * connection; a peer that does not read cannot make the sender hold more than its bounds.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { isTransportError } from '../../../src/adapters/transport/errors.js';
import { encodeFrame, FLAG_CONTROL, FRAME_HEADER_BYTES } from '../../../src/adapters/transport/frame.js';
import { type RejectionInfo, TcpTransport } from '../../../src/adapters/transport/tcp.js';
import type { NodeId } from '../../../src/core/types.js';
import {
  CLUSTER,
  Cluster,
  closed,
  connectRaw,
  eventually,
  FAST,
  nextEvent,
  RawPeer,
  recordingLogger,
  SECRET,
} from './helpers.js';

/** Collects what a transport delivers, and resolves `until(n)` once n messages are in. */
function inbox(t: TcpTransport) {
  const got: { from: NodeId; msg: unknown }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  t.onMessage((from, msg) => {
    got.push({ from, msg });
    for (const w of waiters.filter((w) => got.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    got,
    until(n: number, timeoutMs = 10_000): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${got.length} of ${n} messages arrived`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

function rejections(t: TcpTransport): RejectionInfo[] {
  const seen: RejectionInfo[] = [];
  t.on('rejected', (info) => seen.push(info));
  return seen;
}

describe('tcp transport', { timeout: 60_000 }, () => {
  test('two transports exchange thousands of messages in order, both ways at once', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    const b = await cluster.start('b');
    const atA = inbox(a);
    const atB = inbox(b);
    const n = 5000;
    for (let i = 0; i < n; i++) {
      a.send('b', { seq: i, bytes: new Uint8Array(i % 300).fill(i % 256) });
      b.send('a', { seq: i, text: `m${i}` });
    }
    await Promise.all([atA.until(n), atB.until(n)]);
    assert.deepEqual(
      atB.got.map((g) => (g.msg as { seq: number }).seq),
      [...Array(n).keys()],
      'FIFO within a connection',
    );
    assert.ok(
      atB.got.every((g) => g.from === 'a'),
      'the sender is the proven peer id',
    );
    assert.deepEqual(atB.got[299].msg, { seq: 299, bytes: new Uint8Array(299).fill(299 % 256) });
    assert.deepEqual(
      atA.got.map((g) => (g.msg as { text: string }).text),
      [...Array(n).keys()].map((i) => `m${i}`),
    );
    const m = a.metrics();
    assert.deepEqual(m.dropped, { queueFull: 0, tooLarge: 0, unencodable: 0, unreachable: 0, closed: 0 });
    assert.equal(m.messagesDelivered, n);
    assert.equal(m.connections.open, 1, 'one connection per peer pair, used both ways');
  });

  test('a wrong secret is refused with a clear reason on both sides, and nothing is delivered', async (t) => {
    const cluster = new Cluster();
    const logA = recordingLogger();
    const logM = recordingLogger();
    const a = await cluster.start('a', {}, { logger: logA });
    const atA = inbox(a);
    const mallory = new TcpTransport(
      { logger: logM },
      { nodeId: 'mallory', cluster: CLUSTER, secret: 'a-wrong-but-long-enough-secret', ...FAST },
    );
    t.after(async () => {
      await mallory.close();
      await cluster.closeAll();
    });
    const refusedAtA = nextEvent<[RejectionInfo]>(a, 'rejected');
    await assert.rejects(
      mallory.connect(a.address()!),
      (e) => isTransportError(e, 'PEER_REJECTED') && /BAD_PROOF/.test(e.message),
    );
    const [info] = await refusedAtA;
    assert.equal(info.code, 'BAD_PROOF');
    assert.equal(info.peer, 'mallory', 'the log names who claimed to be calling');
    assert.ok(logA.entries.some((e) => e.level === 'warn' && e.obj.code === 'BAD_PROOF'));
    assert.ok(logM.entries.some((e) => e.level === 'warn' && e.obj.code === 'PEER_REJECTED'));

    // A stranger that pipelines a message right behind its bad proof gets nothing through either.
    const socket = await connectRaw(a.address()!);
    const pipelined = nextEvent<[RejectionInfo]>(a, 'rejected');
    socket.write(
      encodeFrame(
        { t: 'hello', v: 1, cluster: CLUSTER, id: 'eve', boot: 'x', nonce: new Uint8Array(32).fill(1) },
        { flags: FLAG_CONTROL },
      ),
    );
    socket.write(encodeFrame({ t: 'proof', mac: new Uint8Array(32) }, { flags: FLAG_CONTROL }));
    socket.write(encodeFrame({ type: 'put', key: 'stolen' }));
    assert.equal((await pipelined)[0].code, 'BAD_PROOF');
    await closed(socket);
    assert.equal(atA.got.length, 0, 'no message from an unproven peer reaches the core');
    assert.equal(a.metrics().messagesDelivered, 0);
  });

  test('a peer from another cluster is refused even with the right secret', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    const other = new Cluster();
    t.after(() => other.closeAll());
    const x = await other.start('x', { cluster: 'another' });
    await assert.rejects(
      x.connect(a.address()!),
      (e) => isTransportError(e, 'PEER_REJECTED') && /CLUSTER_MISMATCH/.test(e.message),
    );
  });

  test('garbage, an HTTP request, silence and a stalled handshake are cut off; the node keeps serving', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a', { handshakeTimeoutMs: 300 });
    const b = await cluster.start('b');
    const atA = inbox(a);
    const refused = rejections(a);
    const strangers: [string, Uint8Array | undefined, string][] = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), 'BAD_MAGIC'],
      ['random bytes', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42]), 'BAD_MAGIC'],
      ['silence', undefined, 'HANDSHAKE_TIMEOUT'],
      [
        'half a handshake frame, then nothing (slow loris)',
        encodeFrame({ t: 'hello', pad: 'x'.repeat(50) }, { flags: FLAG_CONTROL }).subarray(0, 30),
        'HANDSHAKE_TIMEOUT',
      ],
      [
        'a handshake frame claiming 1 MiB',
        Buffer.from([0xa7, 0x9f, 1, FLAG_CONTROL, 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0]),
        'FRAME_TOO_LARGE',
      ],
      ['a message before any handshake', encodeFrame({ type: 'put', key: 'k' }), 'BAD_HANDSHAKE'],
    ];
    const started = Date.now();
    const sockets = await Promise.all(
      strangers.map(async ([, bytes]) => {
        const s = await connectRaw(a.address()!);
        s.on('error', () => {});
        if (bytes) s.write(bytes);
        return s;
      }),
    );
    // While they are being dealt with, a real peer is served as usual.
    b.send('a', 'still serving');
    await atA.until(1);
    await Promise.all(sockets.map(closed));
    assert.ok(Date.now() - started < 3000, 'every stranger is gone within ~the handshake timeout');
    for (const [what, , code] of strangers) {
      assert.ok(
        refused.some((r) => r.code === code),
        `${what} is refused with ${code}; got ${refused.map((r) => r.code)}`,
      );
    }
    assert.deepEqual(
      atA.got,
      [{ from: 'b', msg: 'still serving' }],
      'only the proven peer’s message arrived',
    );
    assert.equal(a.metrics().connections.handshaking, 0);
  });

  test('an authenticated peer that stalls mid-frame or corrupts a frame is cut off; what came before is kept', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a', { frameTimeoutMs: 300, idleTimeoutMs: 10_000 });
    const atA = inbox(a);
    const refused = rejections(a);

    const staller = await RawPeer.dial(a.address()!, 'staller');
    staller.send({ ok: 1 });
    const half = encodeFrame({ big: 'y'.repeat(1000) });
    staller.socket.write(half.subarray(0, FRAME_HEADER_BYTES + 100));
    await closed(staller.socket);
    assert.ok(refused.some((r) => r.code === 'FRAME_TIMEOUT' && r.peer === 'staller'));

    const corrupter = await RawPeer.dial(a.address()!, 'corrupter');
    corrupter.send({ ok: 2 });
    const bad = encodeFrame({ type: 'put', value: 'tampered' });
    bad[bad.length - 2] ^= 0x20;
    corrupter.socket.write(bad);
    await closed(corrupter.socket);
    assert.ok(refused.some((r) => r.code === 'BAD_CHECKSUM' && r.peer === 'corrupter'));

    assert.deepEqual(atA.got, [
      { from: 'staller', msg: { ok: 1 } },
      { from: 'corrupter', msg: { ok: 2 } },
    ]);
  });

  test('keepalives hold a quiet connection open; a silent peer is cut after the idle timeout', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a', { idleTimeoutMs: 300 });
    const b = await cluster.start('b', { idleTimeoutMs: 300 });
    const drops: string[] = [];
    a.on('disconnected', (id) => drops.push(id));
    await a.connect(b.address()!);
    const framesAfterHandshake = b.metrics().framesReceived;
    // Keepalives every 100 ms: ten of them span more than three idle timeouts.
    await eventually('ten keepalives arrived', () => b.metrics().framesReceived >= framesAfterHandshake + 10);
    assert.deepEqual(drops, [], 'a quiet but live peer is never cut');
    assert.deepEqual(a.connectedPeers(), ['b']);

    const refused = nextEvent<[RejectionInfo]>(a, 'rejected', (r) => r.peer === 'mute');
    const mute = await RawPeer.dial(a.address()!, 'mute');
    const started = Date.now();
    assert.equal((await refused)[0].code, 'IDLE_TIMEOUT');
    await closed(mute.socket);
    assert.ok(Date.now() - started < 2000);
  });

  test('after the peer restarts, the connection comes back by itself and queued messages are delivered', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    const b1 = await cluster.start('b');
    const port = Number(b1.address()!.split(':')[1]);
    const atB1 = inbox(b1);
    a.send('b', 'before');
    await atB1.until(1);

    const down = nextEvent<[NodeId, { code: string; reason: string }]>(a, 'disconnected', (id) => id === 'b');
    await b1.close();
    const [, info] = await down;
    assert.equal(info.code, 'PEER_CLOSED', 'a goodbye frame said the peer was shutting down');
    a.send('b', 'while down'); // queued while reconnect attempts fail

    const up = nextEvent(a, 'connected', (id) => id === 'b');
    const b2 = await cluster.start('b', { port });
    const atB2 = inbox(b2);
    await up;
    a.send('b', 'after');
    await atB2.until(2);
    assert.deepEqual(
      atB2.got.map((g) => g.msg),
      ['while down', 'after'],
    );
  });

  test('a simultaneous dial settles on one connection that both sides agree on', async (t) => {
    for (let round = 0; round < 4; round++) {
      const cluster = new Cluster();
      const a = await cluster.start(`a${round}`);
      const b = await cluster.start(`b${round}`);
      const atA = inbox(a);
      const atB = inbox(b);
      // Both dial in the same tick: each sees an outbound and an inbound connection to the other.
      a.send(b.nodeId, 'hi from a');
      b.send(a.nodeId, 'hi from b');
      const settled = () => {
        const [ma, mb] = [a.metrics(), b.metrics()];
        const pa = ma.peers.find((p) => p.id === b.nodeId);
        const pb = mb.peers.find((p) => p.id === a.nodeId);
        return (
          ma.connections.open === 1 &&
          ma.connections.handshaking + ma.connections.closing === 0 &&
          mb.connections.open === 1 &&
          mb.connections.handshaking + mb.connections.closing === 0 &&
          pa?.localPort !== undefined &&
          pa.localPort === pb?.remotePort &&
          pa.remotePort === pb?.localPort
        );
      };
      await eventually('one connection, the same one on both sides', settled);
      assert.equal(a.metrics().connectionsOpened, 2, 'the race really happened: both dialled');
      const pa = a.metrics().peers.find((p) => p.id === b.nodeId)!;
      assert.equal(pa.direction, a.nodeId < b.nodeId ? 'outbound' : 'inbound', 'the smaller id’s dial wins');
      a.send(b.nodeId, 'after');
      b.send(a.nodeId, 'after');
      await eventually(
        'messages flow on the surviving connection',
        () => atA.got.some((g) => g.msg === 'after') && atB.got.some((g) => g.msg === 'after'),
      );
      await cluster.closeAll();
    }
    t.diagnostic('4 rounds of simultaneous dial settled');
  });

  test('a restarted peer’s new connection replaces its stale one, and the runtime hears of it', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    const events: string[] = [];
    a.on('connected', (id) => events.push(`connected ${id}`));
    a.on('disconnected', (id, info) => events.push(`disconnected ${id} ${info.reason}`));
    // The old process never closed its socket (as after a power cut, before TCP notices).
    const old = await RawPeer.dial(a.address()!, 'r', { bootId: 'boot-1' });
    const fresh = await RawPeer.dial(a.address()!, 'r', { bootId: 'boot-2' });
    await closed(old.socket);
    assert.deepEqual(events, [
      'connected r',
      'disconnected r the peer restarted; its new connection replaced the old one',
      'connected r',
    ]);
    a.send('r', 'to the new process');
    await eventually('the message reaches the new connection', () => fresh.messages().length === 1);
    assert.deepEqual(fresh.messages(), ['to the new process']);
  });

  test('a peer that does not read cannot make the sender hold more than its queue and socket bounds', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const maxQueuedBytesPerPeer = 256 * 1024;
    const a = await cluster.start('a', {
      maxQueuedBytesPerPeer,
      maxQueuedFramesPerPeer: 1000,
      idleTimeoutMs: 20_000,
    });
    const slow = await RawPeer.dial(a.address()!, 'slow');
    slow.socket.pause();
    const body = new Uint8Array(1024);
    let attempted = 0;
    // 64 MiB offered in bursts, far beyond what the kernel's socket buffers absorb.
    for (let burst = 0; burst < 64; burst++) {
      for (let i = 0; i < 1024; i++) a.send('slow', { seq: attempted++, body });
      const p = a.metrics().peers.find((x) => x.id === 'slow')!;
      assert.ok(p.queuedBytes <= maxQueuedBytesPerPeer, `queue within its byte bound (${p.queuedBytes})`);
      assert.ok(p.queuedFrames <= 1000);
      assert.ok(
        p.socketBufferedBytes <= 16 * 1024 + 2048,
        `socket buffer within its high-water mark (${p.socketBufferedBytes})`,
      );
      await new Promise((r) => setImmediate(r));
    }
    const m = a.metrics();
    const p = m.peers.find((x) => x.id === 'slow')!;
    assert.ok(m.dropped.queueFull > 0, 'the excess was dropped');
    assert.equal(p.droppedQueueFull, m.dropped.queueFull);
    assert.equal(
      m.messagesSent + p.queuedFrames + m.dropped.queueFull,
      attempted,
      'every message is accounted for',
    );
    t.diagnostic(`sent ${m.messagesSent}, dropped ${m.dropped.queueFull} of ${attempted}`);

    // Once the reader resumes, everything that was not dropped arrives, in order.
    slow.socket.resume();
    await eventually(
      'the queue drains to the reader',
      () =>
        a.metrics().peers.find((x) => x.id === 'slow')!.queuedFrames === 0 &&
        slow.messages().length === a.metrics().messagesSent,
      15_000,
    );
    const seqs = slow.messages().map((msg) => (msg as { seq: number }).seq);
    assert.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]),
      'delivered messages keep their order; drops only leave gaps',
    );
  });

  test('send never throws: unreachable, unencodable, too large and after close are counted drops', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const log = recordingLogger();
    const a = await cluster.start('a', { maxFrameBytes: 1000 }, { logger: log });
    await cluster.start('b');
    a.send('nobody', 'x');
    a.send('a', 'to myself');
    a.send('b', new Map([[1, 2]]));
    a.send('b', 'z'.repeat(2000));
    a.send('b', { fn: () => 1 });
    assert.deepEqual(a.metrics().dropped, {
      queueFull: 0,
      tooLarge: 1,
      unencodable: 2,
      unreachable: 2,
      closed: 0,
    });
    assert.ok(
      log.entries.some((e) => e.level === 'warn' && e.obj.code === 'UNENCODABLE'),
      'a local bug is logged',
    );
    await a.close();
    a.send('b', 'late');
    assert.equal(a.metrics().dropped.closed, 1);
  });

  test('connect reports failures: nobody listening, ourselves, a malformed address', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    const vacant = net.createServer();
    await new Promise<void>((r) => vacant.listen(0, '127.0.0.1', r));
    const port = (vacant.address() as net.AddressInfo).port;
    await new Promise((r) => vacant.close(r));
    await assert.rejects(a.connect(`127.0.0.1:${port}`), (e) => isTransportError(e, 'CONNECT_FAILED'));
    await assert.rejects(
      a.connect(a.address()!),
      (e) => isTransportError(e, 'PEER_REJECTED') && /SELF_CONNECT/.test(e.message),
    );
    await assert.rejects(a.connect('localhost'), TypeError);
  });

  test('connect learns a seed’s id, and that address is used to reach it again', async (t) => {
    const seedCluster = new Cluster();
    const seed = await seedCluster.start('seed');
    const atSeed = inbox(seed);
    // The newcomer's resolver knows nobody: it has only the seed's address.
    const newcomer = new TcpTransport({}, { nodeId: 'new', cluster: CLUSTER, secret: SECRET, ...FAST });
    t.after(async () => {
      await newcomer.close();
      await seedCluster.closeAll();
    });
    assert.equal(await newcomer.connect(seed.address()!), 'seed');
    newcomer.send('seed', 'hello seed');
    await atSeed.until(1);
    assert.deepEqual(atSeed.got, [{ from: 'new', msg: 'hello seed' }]);
  });

  test('close() says goodbye, and the peer sees why', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    const b = await cluster.start('b');
    await a.connect(b.address()!);
    const down = nextEvent<[NodeId, { code: string; reason: string }]>(b, 'disconnected');
    await a.close();
    const [id, info] = await down;
    assert.equal(id, 'a');
    assert.equal(info.code, 'PEER_CLOSED');
    assert.match(info.reason, /TRANSPORT_CLOSED/);
    assert.deepEqual(a.metrics().connections, { handshaking: 0, open: 0, closing: 0 });
  });

  test('forget() closes the connection and stops reconnecting', async (t) => {
    const cluster = new Cluster();
    t.after(() => cluster.closeAll());
    const a = await cluster.start('a');
    // b cannot dial a back: its resolver does not know a.
    const b = new TcpTransport({}, { nodeId: 'b', cluster: CLUSTER, secret: SECRET, ...FAST });
    t.after(() => b.close());
    await b.listen();
    cluster.addresses.set('b', b.address()!);
    await a.connect(b.address()!);
    const down = nextEvent(b, 'disconnected');
    a.forget('b');
    await down;
    assert.deepEqual(a.connectedPeers(), []);
    assert.equal(a.metrics().peers.length, 0, 'no reconnect pending for a forgotten peer');
  });
});
