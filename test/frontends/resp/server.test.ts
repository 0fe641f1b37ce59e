/**
 * The RESP server on real sockets: protocol errors are answered and the connection closed, as
 * Redis does; HTTP requests are cut off; every limit (clients, idle time, time to send a request,
 * unparsed input, unread output) holds; close() answers what was asked before it closes.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { command, eventually, RawClient, startServer } from './helpers.js';

describe('RESP server', { timeout: 30_000 }, () => {
  test('a protocol error is answered with its Redis message, then the server closes the connection', async (t) => {
    const { port, server } = await startServer(t);
    const client = await RawClient.connect(port);
    client.write('PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n');
    await client.closed();
    assert.equal(client.received.toString(), "+PONG\r\n-ERR Protocol error: expected '$', got 'f'\r\n");
    assert.ok(client.closedByServer);
    assert.equal(server.stats().protocolErrors, 1);
  });

  test('a desynchronised client (no CRLF for 64 KiB) gets a protocol error and is closed', async (t) => {
    const { port } = await startServer(t);
    const client = await RawClient.connect(port);
    client.write(Buffer.concat([Buffer.from('*\x00'), Buffer.alloc(100_000, 'A')]));
    await client.closed();
    assert.equal(client.received.toString(), '-ERR Protocol error: too big mbulk count string\r\n');
  });

  test('an HTTP request on the Redis port is closed without a reply', async (t) => {
    const { port, server, api } = await startServer(t);
    const client = await RawClient.connect(port);
    client.write('POST /v1/kv HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nSET');
    await client.closed();
    assert.equal(client.received.length, 0);
    assert.equal(api.requests.length, 0);
    const other = await RawClient.connect(port);
    other.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await other.closed();
    assert.equal(other.received.length, 0);
    assert.equal(server.stats().crossProtocolRejections, 2);
  });

  test('beyond maxClients a client gets "max number of clients reached" and is closed', async (t) => {
    const { port, server } = await startServer(t, { maxClients: 1 });
    const first = await RawClient.connect(port);
    first.write('PING\r\n');
    await first.replies(1);
    const second = await RawClient.connect(port);
    await second.closed();
    assert.equal(second.received.toString(), '-ERR max number of clients reached\r\n');
    first.close();
    await eventually('the first client is gone', () => server.stats().connectedClients === 0);
    const third = await RawClient.connect(port);
    third.write('PING\r\n');
    assert.deepEqual(await third.replies(1), [{ simple: 'PONG' }]);
    third.close();
    assert.equal(server.stats().rejectedConnections, 1);
  });

  test('an idle client is closed after idleTimeoutMs', async (t) => {
    const { port, server } = await startServer(t, { idleTimeoutMs: 100 });
    const client = await RawClient.connect(port);
    client.write('PING\r\n');
    await client.replies(1);
    await client.closed();
    assert.ok(client.closedByServer);
    assert.equal(server.stats().idleTimeouts, 1);
  });

  test('a client waiting for a reply is not idle', async (t) => {
    const { port, api } = await startServer(t, { idleTimeoutMs: 50 });
    api.hold = () => true;
    const client = await RawClient.connect(port);
    client.write(command('GET', 'slow'));
    await api.heldCount(1);
    await new Promise((r) => setTimeout(r, 200)); // longer than the idle timeout, on purpose
    assert.equal(client.closedByServer, false);
    api.held[0].release();
    assert.deepEqual(await client.replies(1), [null]);
    client.close();
  });

  test('a request that stays incomplete longer than partialRequestTimeoutMs closes the connection', async (t) => {
    const { port, server } = await startServer(t, { partialRequestTimeoutMs: 100 });
    const client = await RawClient.connect(port);
    client.write('PING\r\n*1\r\n$4\r\nPI');
    await client.closed();
    assert.equal(client.received.toString(), '+PONG\r\n');
    assert.equal(server.stats().partialRequestTimeouts, 1);
  });

  test('a client whose unparsed input exceeds maxQueryBufferBytes is closed without a reply', async (t) => {
    const { port, server } = await startServer(t, { maxQueryBufferBytes: 10_000, maxBulkBytes: 1_000_000 });
    const client = await RawClient.connect(port);
    client.write(Buffer.concat([Buffer.from('*2\r\n$4\r\nECHO\r\n$100000\r\n'), Buffer.alloc(20_000, 'x')]));
    await client.closed();
    assert.equal(client.received.length, 0);
    assert.equal(server.stats().queryBufferOverflows, 1);
  });

  test('a client that does not read its replies stops being read; it resumes when it reads', async (t) => {
    const { port, server, api } = await startServer(t, {
      maxOutputBufferBytes: 64 * 1024,
      maxPipelinedCommands: 8,
    });
    const value = Buffer.alloc(256 * 1024, 'v');
    const setter = await RawClient.connect(port);
    setter.write(command('SET', 'big', value));
    await setter.replies(1);
    setter.close();

    const client = await RawClient.connect(port);
    client.socket.pause();
    const n = 400; // 100 MiB of replies
    for (let i = 0; i < n; i++) client.write(command('GET', 'big'));
    await eventually('the server stops reading the client', () => server.stats().readPausedClients === 1);
    const gets = () => api.requests.filter((r) => r.op === 'get').length;
    assert.ok(gets() < n / 4, `${gets()} of ${n} GETs taken while the client reads nothing`);

    client.socket.resume();
    const replyBytes = `$${value.length}\r\n`.length + value.length + 2;
    await client.bytes(n * replyBytes);
    const replies = await client.replies(n);
    assert.equal(replies.length, n);
    assert.ok(replies.every((r) => typeof r === 'string' && r.length === value.length));
    client.close();
  });

  test('a client that shuts down its sending side still gets its replies, then the connection ends', async (t) => {
    const { port, api } = await startServer(t);
    api.hold = () => true;
    const client = await RawClient.connect(port);
    client.socket.end(Buffer.concat([command('SET', 'a', '1'), command('GET', 'a')]));
    await api.heldCount(1);
    api.hold = null;
    api.held[0].release();
    await client.closed();
    assert.equal(client.received.toString(), '+OK\r\n$1\r\n1\r\n');
  });

  test('close() answers the commands already received, then closes every connection', async (t) => {
    const { port, server, api } = await startServer(t);
    api.hold = () => true;
    const client = await RawClient.connect(port);
    client.write(command('GET', 'a'));
    await api.heldCount(1);
    const closing = server.close();
    api.held[0].release();
    await client.closed();
    assert.equal(client.received.toString(), '$-1\r\n');
    await closing;
    await assert.rejects(RawClient.connect(port), /ECONNREFUSED/);
  });
});
