/**
 * The client doors over TLS (certificates from scripts/dev-ca.sh): Redis clients and HTTPS
 * clients that trust the CA are served; a plain-text client on a TLS port gets no reply; a stalled
 * handshake is cut; with a client CA, a client without a certificate is refused. Inside TLS, every
 * limit of the plain door still holds (the same RespConnection and fastify app serve both).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tls from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { HttpApi } from '../../src/frontends/http/app.js';
import { createHttpServer } from '../../src/frontends/http/server.js';
import type { ServerTlsOptions } from '../../src/runtime/tls.js';
import { devCa, type Pki } from '../e2e/pki.js';
import { FakeApi } from './resp/fake-api.js';
import { command, eventually, RawClient, startServer } from './resp/helpers.js';

let pki: Pki;
let serverTls: ServerTlsOptions;
before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-tls-doors-'));
  pki = devCa(dir, ['n1']);
  serverTls = { cert: pki.read('n1.pem'), key: pki.read('n1-key.pem') };
});
after(() => rmSync(pki.dir, { recursive: true, force: true }));

/** A TLS client that trusts the dev CA: write raw bytes, collect what comes back. */
async function tlsClient(port: number, extra: tls.ConnectionOptions = {}) {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.read('ca.pem'), ...extra });
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  const closed = once(socket, 'close');
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  return { socket, closed, received: () => received };
}

function redis(port: number, options: RedisOptions = {}) {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    tls: { ca: pki.read('ca.pem') },
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
    ...options,
  });
  client.on('error', () => {});
  return client;
}

describe('RESP over TLS', { timeout: 20_000 }, () => {
  test('a Redis client that trusts the CA sets and reads; the password is still required', async (t) => {
    const { port } = await startServer(t, { tls: serverTls, password: 'sesame-sesame' });
    const client = redis(port, { password: 'sesame-sesame' });
    t.after(() => client.disconnect());
    await client.connect();
    assert.equal(await client.set('greeting', 'hello over TLS'), 'OK');
    assert.equal(await client.get('greeting'), 'hello over TLS');
    const anonymous = await tlsClient(port);
    t.after(() => anonymous.socket.destroy());
    anonymous.socket.write(command('GET', 'greeting'));
    await eventually('a reply', () => anonymous.received().length > 0);
    assert.equal(
      anonymous.received().toString(),
      '-NOAUTH Authentication required.\r\n',
      'TLS is no substitute for the password',
    );
  });

  test('a plain-TCP client on the TLS port gets no reply and is closed (RESP or HTTP alike)', async (t) => {
    const { port, server, api } = await startServer(t, { tls: serverTls });
    for (const request of ['PING\r\n', command('SET', 'k', 'v'), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n']) {
      const client = await RawClient.connect(port);
      client.write(request);
      await client.closed();
      assert.equal(client.received.length, 0, `no reply to ${JSON.stringify(String(request))}`);
    }
    assert.equal(api.requests.length, 0, 'nothing reached the node');
    await eventually('three failed handshakes are counted', () => server.stats().tlsHandshakeFailures === 3);
    assert.equal(server.stats().connectedClients, 0);
  });

  test("inside TLS the plain door's limits hold: HTTP is cut, pre-auth limits, partial-request timeout", async (t) => {
    const { port, server, api } = await startServer(t, {
      tls: serverTls,
      password: 'sesame-sesame',
      partialRequestTimeoutMs: 100,
    });
    const http = await tlsClient(port);
    http.socket.write('GET /v1/kv/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await http.closed;
    assert.equal(http.received().length, 0, 'an HTTP request inside TLS is closed without a reply');
    assert.equal(server.stats().crossProtocolRejections, 1);

    const big = await tlsClient(port);
    big.socket.write(command('MGET', ...Array.from({ length: 10 }, (_, i) => `k${i}`)));
    await big.closed;
    assert.equal(big.received().toString(), '-ERR Protocol error: unauthenticated multibulk length\r\n');

    const slow = await tlsClient(port);
    slow.socket.write('*2\r\n$4\r\nAUTH\r\n$13\r\nsesame');
    await slow.closed;
    assert.equal(slow.received().length, 0);
    assert.equal(server.stats().partialRequestTimeouts, 1, 'an incomplete request is cut after its deadline');
    assert.equal(api.requests.length, 0);
  });

  test('a stalled TLS handshake is cut after handshakeTimeoutMs; beyond the pending cap a connection is closed at once', async (t) => {
    const { port, server } = await startServer(t, {
      tls: { ...serverTls, handshakeTimeoutMs: 300 },
      maxPendingTlsHandshakes: 1,
    });
    const stalled = await RawClient.connect(port); // TCP only: never sends a ClientHello
    await eventually('the handshake is pending', () => server.stats().tlsHandshakesInProgress === 1);
    const refused = await RawClient.connect(port);
    await refused.closed();
    assert.equal(server.stats().tlsHandshakesRefused, 1, 'the second one was over the cap');
    await stalled.closed();
    await eventually(
      'the stalled handshake counts as failed',
      () => server.stats().tlsHandshakeFailures === 1,
    );
    assert.equal(server.stats().tlsHandshakesInProgress, 0);
    const client = redis(port);
    t.after(() => client.disconnect());
    await client.connect();
    assert.equal(await client.ping(), 'PONG', 'the server serves again once the slot is free');
  });

  test('with a client CA, a client without a certificate is refused; one the CA signed is served', async (t) => {
    const { port } = await startServer(t, {
      tls: { ...serverTls, ca: pki.read('ca.pem'), requireClientCert: true },
    });
    const anonymous = redis(port);
    t.after(() => anonymous.disconnect());
    await assert.rejects(
      anonymous.connect().then(() => anonymous.ping()),
      'a client without a certificate gets no service',
    );
    const rogueDir = mkdtempSync(join(tmpdir(), 'arpeggio-tls-rogue-'));
    t.after(() => rmSync(rogueDir, { recursive: true, force: true }));
    const rogue = devCa(rogueDir, ['r1']);
    const impostor = redis(port, {
      tls: { ca: pki.read('ca.pem'), cert: rogue.read('client.pem'), key: rogue.read('client-key.pem') },
    });
    t.after(() => impostor.disconnect());
    await assert.rejects(
      impostor.connect().then(() => impostor.ping()),
      'a certificate from another CA is refused',
    );
    const member = redis(port, {
      tls: { ca: pki.read('ca.pem'), cert: pki.read('client.pem'), key: pki.read('client-key.pem') },
    });
    t.after(() => member.disconnect());
    await member.connect();
    assert.equal(await member.ping(), 'PONG');
  });
});

/** One HTTPS request trusting the dev CA; resolves with the status and body. */
function httpsRequest(
  port: number,
  path: string,
  options: https.RequestOptions = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, ca: pki.read('ca.pem'), agent: false, ...options },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.method === 'PUT' ? 'stored over HTTPS' : undefined);
  });
}

describe('HTTP over TLS', { timeout: 20_000 }, () => {
  test('HTTPS serves the API to a client that trusts the CA; the token is still required; plain HTTP gets no answer', async (t) => {
    const api = new FakeApi();
    const server = createHttpServer(api as unknown as HttpApi, { tls: serverTls, token: 'let-me-in' });
    const { port } = await server.listen(0);
    t.after(() => server.close());
    const auth = { headers: { authorization: 'Bearer let-me-in' } };
    assert.equal((await httpsRequest(port, '/v1/kv/k', { method: 'PUT', ...auth })).status, 204);
    assert.deepEqual(await httpsRequest(port, '/v1/kv/k', auth), { status: 200, body: 'stored over HTTPS' });
    assert.equal((await httpsRequest(port, '/v1/kv/k')).status, 401, 'TLS is no substitute for the token');
    await assert.rejects(
      httpsRequest(port, '/healthz', { ca: undefined }),
      /self-signed|unable to (get|verify)/,
      'a client that does not trust the CA refuses the server',
    );

    const plain = await RawClient.connect(port);
    plain.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await plain.closed();
    assert.ok(!plain.received.toString('latin1').includes('alive'), 'no API answer over plain HTTP');

    await server.close();
    await assert.rejects(httpsRequest(port, '/healthz'), 'nothing listens after close()');
  });
});
