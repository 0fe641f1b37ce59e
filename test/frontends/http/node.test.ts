/**
 * The HTTP API in front of a real node (one replica, LMDB in a temp directory), through inject():
 * values round-trip as bytes, conditions and compare-and-set hold, the causal context comes back,
 * TTLs expire, listing pages through the node's store, and the cluster, health, metrics and
 * OpenAPI routes say what they should.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildHttpApp, decodeContext, etagOf } from '../../../src/frontends/http/app.js';
import { NodeMetrics } from '../../../src/runtime/metrics.js';
import type { NodeHost } from '../../../src/runtime/node-host.js';
import { singleNode } from './helpers.js';

describe('HTTP API on a real node', { timeout: 30_000 }, () => {
  let node: { host: NodeHost; stop(): Promise<void> };
  let app: FastifyInstance;
  let metrics: NodeMetrics;

  before(async () => {
    node = await singleNode();
    metrics = new NodeMetrics(() => node.host.status(), { processMetrics: false });
    app = buildHttpApp(metrics.instrument(node.host, 'http'), { metrics });
  });
  after(async () => {
    await app.close();
    await node.stop();
  });

  test('a PUT value comes back from GET byte for byte, as octet-stream, with its ETag', async () => {
    const value = Buffer.from([0, 255, 10, 13, 0x80, 65]);
    const put = await app.inject({ method: 'PUT', url: '/v1/kv/bytes', payload: value });
    assert.equal(put.statusCode, 204);
    assert.equal(put.headers.etag, etagOf(value));
    const get = await app.inject({ url: '/v1/kv/bytes' });
    assert.equal(get.statusCode, 200);
    assert.equal(get.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(get.rawPayload, value);
    assert.equal(get.headers.etag, etagOf(value));
  });

  test('a key is the decoded rest of the path: slashes and escapes included', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/users/42/na%C3%AFve%20name', payload: 'x' });
    assert.deepEqual(node.host.replicasOf(new TextEncoder().encode('users/42/naïve name')).length, 1);
    const get = await app.inject({ url: '/v1/kv/users%2F42/na%C3%AFve name' });
    assert.equal(get.statusCode, 200, 'an escaped slash names the same key');
    assert.equal(get.payload, 'x');
  });

  test('GET of a missing key is 404 KEY_NOT_FOUND, definite', async () => {
    const res = await app.inject({ url: '/v1/kv/never-written' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'KEY_NOT_FOUND');
    assert.equal(res.json().error.definite, true);
  });

  test('DELETE removes the value and is idempotent', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/gone', payload: 'v' });
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/kv/gone' })).statusCode, 204);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/kv/gone' })).statusCode, 204);
    assert.equal((await app.inject({ url: '/v1/kv/gone' })).statusCode, 404);
  });

  test('every consistency level serves a write and a read', async () => {
    for (const level of ['one', 'quorum', 'all', 'session', 'linearizable']) {
      const put = await app.inject({
        method: 'PUT',
        url: `/v1/kv/lvl-${level}?consistency=${level}`,
        payload: level,
      });
      assert.equal(put.statusCode, 204, level);
      const get = await app.inject({ url: `/v1/kv/lvl-${level}?consistency=${level}` });
      assert.equal(get.payload, level);
    }
  });

  test('the causal context comes back as X-Arpeggio-Context and a session read accepts it', async () => {
    const put = await app.inject({ method: 'PUT', url: '/v1/kv/sess?consistency=session', payload: 'mine' });
    const context = String(put.headers['x-arpeggio-context']);
    assert.ok(Object.keys(decodeContext(context).vv).length > 0, 'the write is in the context');
    const get = await app.inject({
      url: '/v1/kv/sess?consistency=session',
      headers: { 'x-arpeggio-context': context },
    });
    assert.equal(get.payload, 'mine', 'read your writes');
    assert.ok(get.headers['x-arpeggio-context'], 'the read passes the context on');
  });

  test('If-None-Match: * writes only an absent key; If-Match: * only a present one (412 otherwise)', async () => {
    const first = await app.inject({
      method: 'PUT',
      url: '/v1/kv/once',
      headers: { 'if-none-match': '*' },
      payload: 'a',
    });
    assert.equal(first.statusCode, 204);
    const second = await app.inject({
      method: 'PUT',
      url: '/v1/kv/once',
      headers: { 'if-none-match': '*' },
      payload: 'b',
    });
    assert.equal(second.statusCode, 412);
    assert.deepEqual(second.json().error.code, 'PRECONDITION_FAILED');
    const absent = await app.inject({
      method: 'PUT',
      url: '/v1/kv/nobody',
      headers: { 'if-match': '*' },
      payload: 'c',
    });
    assert.equal(absent.statusCode, 412);
    assert.equal((await app.inject({ url: '/v1/kv/once' })).payload, 'a');
    assert.equal((await app.inject({ url: '/v1/kv/nobody' })).statusCode, 404);
  });

  test('If-Match with the ETag is a compare-and-set: the current ETag wins, a stale one gets 412', async () => {
    const put = await app.inject({ method: 'PUT', url: '/v1/kv/cas', payload: 'v1' });
    const etag = String(put.headers.etag);
    const swap = await app.inject({
      method: 'PUT',
      url: '/v1/kv/cas',
      headers: { 'if-match': etag },
      payload: 'v2',
    });
    assert.equal(swap.statusCode, 204);
    const stale = await app.inject({
      method: 'PUT',
      url: '/v1/kv/cas',
      headers: { 'if-match': etag },
      payload: 'v3',
    });
    assert.equal(stale.statusCode, 412, 'v1 is no longer the value');
    assert.equal((await app.inject({ url: '/v1/kv/cas' })).payload, 'v2');
    const staleDelete = await app.inject({
      method: 'DELETE',
      url: '/v1/kv/cas',
      headers: { 'if-match': etag },
    });
    assert.equal(staleDelete.statusCode, 412);
    const del = await app.inject({
      method: 'DELETE',
      url: '/v1/kv/cas',
      headers: { 'if-match': String(swap.headers.etag) },
    });
    assert.equal(del.statusCode, 204);
    assert.equal((await app.inject({ url: '/v1/kv/cas' })).statusCode, 404);
  });

  test('ttl_ms sets an expiry: a value whose TTL has passed is gone', async () => {
    // An app whose clock runs a minute behind writes expiries that have already passed.
    const behind = buildHttpApp(node.host, { clock: () => Date.now() - 60_000 });
    await behind.inject({ method: 'PUT', url: '/v1/kv/short?ttl_ms=1000', payload: 'x' });
    assert.equal((await app.inject({ url: '/v1/kv/short' })).statusCode, 404);
    await app.inject({ method: 'PUT', url: '/v1/kv/long?ttl_ms=600000', payload: 'y' });
    assert.equal((await app.inject({ url: '/v1/kv/long' })).payload, 'y');
    await behind.close();
  });

  test('GET /v1/kv lists the keys with a prefix, page by page, each once', async () => {
    for (const k of ['p/a', 'p/b', 'p/c', 'q/a'])
      await app.inject({ method: 'PUT', url: `/v1/kv/${k}`, payload: k });
    await app.inject({ method: 'DELETE', url: '/v1/kv/p/c' });
    const all = await app.inject({ url: '/v1/kv?prefix=p/' });
    assert.deepEqual(all.json().keys.sort(), ['p/a', 'p/b'], 'deleted and other-prefix keys are left out');
    assert.equal(all.json().scope, 'cluster', 'the listing is cluster-wide by default');
    const seen: string[] = [];
    let cursor: string | null = '';
    for (let pages = 0; cursor !== null; pages++) {
      assert.ok(pages < 10, 'the cursor ends');
      const res: LightMyRequestResponse = await app.inject({
        url: `/v1/kv?prefix=p/&limit=1&cursor=${cursor}`,
      });
      assert.equal(res.statusCode, 200);
      seen.push(...res.json().keys);
      cursor = res.json().cursor;
    }
    assert.deepEqual(seen.sort(), ['p/a', 'p/b']);
  });

  test('scanLocal examines a bounded number of records per call and hands back a cursor to go on', async () => {
    for (const k of ['s/1', 's/2', 's/3'])
      await app.inject({ method: 'PUT', url: `/v1/kv/${k}`, payload: k });
    const enc = new TextEncoder();
    const seen: string[] = [];
    let cursor: Uint8Array | null = null;
    let calls = 0;
    do {
      const page = node.host.scanLocal({ prefix: enc.encode('s/'), cursor, limit: 10, maxExamined: 1 });
      assert.ok(page.keys.length <= 1, 'one record examined, at most one key');
      seen.push(...page.keys.map((k) => new TextDecoder().decode(k)));
      cursor = page.cursor;
      calls++;
    } while (cursor !== null && calls < 1000);
    assert.deepEqual(seen.sort(), ['s/1', 's/2', 's/3']);
  });

  test('GET /v1/cluster shows the member, its endpoints, incarnation and ranges, and the ring', async () => {
    const res = await app.inject({ url: '/v1/cluster' });
    assert.equal(res.statusCode, 200);
    const view = res.json();
    assert.equal(view.node, node.host.nodeId);
    assert.equal(view.ready, true);
    assert.deepEqual(view.ring.members, [node.host.nodeId]);
    const self = view.members.find((m: { id: string }) => m.id === node.host.nodeId);
    assert.equal(self.state, 'alive');
    assert.ok(self.incarnation >= 0);
    assert.equal(self.endpoints.peer, node.host.endpoints.peer);
    assert.equal(self.rangesOwned, view.ring.vnodesPerNode);
  });

  test('/healthz and /readyz answer 200 on a node that has joined', async () => {
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/readyz' })).json().status, 'ready');
  });

  test('/metrics has request, error and latency series by command and level, and the node series', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/m?consistency=one', payload: 'v' });
    await app.inject({ url: '/v1/kv/m?consistency=one' });
    await app.inject({ url: '/v1/kv/m-missing' });
    const res = await app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.payload;
    assert.match(text, /arpeggio_requests_total\{door="http",command="set",level="one"\} [1-9]/);
    assert.match(text, /arpeggio_requests_total\{door="http",command="get",level="one"\} [1-9]/);
    assert.match(
      text,
      /arpeggio_request_duration_seconds_bucket\{le="0.0005",door="http",command="get",level="one"\}/,
    );
    assert.match(
      text,
      /arpeggio_request_duration_seconds_count\{door="http",command="set",level="one"\} [1-9]/,
    );
    assert.match(text, /arpeggio_node_ready 1/);
    assert.match(text, /arpeggio_ring_members 1/);
    assert.match(text, /arpeggio_members\{state="alive"\} 1/);
    assert.match(text, /arpeggio_hints_pending 0/);
    assert.match(text, /arpeggio_anti_entropy_rounds_total \d+/);
    assert.match(text, /arpeggio_membership_events_total\{event="joined"\} 1/);
    // A missing key is a successful read, not an error.
    assert.doesNotMatch(text, /arpeggio_request_errors_total\{[^}]*command="get"/);
  });

  test('the OpenAPI document validates and describes every route the app serves', async () => {
    const doc = (await app.inject({ url: '/v1/openapi.json' })).json();
    assert.equal(doc.openapi, '3.1.0');
    await SwaggerParser.validate(structuredClone(doc));
    for (const path of [
      '/v1/kv/{key}',
      '/v1/kv',
      '/v1/cluster',
      '/healthz',
      '/readyz',
      '/metrics',
      '/v1/openapi.json',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.deepEqual(Object.keys(doc.paths['/v1/kv/{key}']).sort(), ['delete', 'get', 'parameters', 'put']);
  });
});
