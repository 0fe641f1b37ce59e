/**
 * The HTTP door's error contract, against a scripted node: every cluster error keeps its code and
 * whether it is definite, and the status tells "nothing happened" (4xx, 503) from "may have
 * happened" (504); bearer tokens guard every route but /healthz.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ErrorCode, kvError } from '../../../src/core/replication/messages.js';
import { buildHttpApp } from '../../../src/frontends/http/app.js';
import { restingStatus, ScriptedApi } from './helpers.js';

describe('HTTP errors', () => {
  const cases: Array<[ErrorCode, boolean, number]> = [
    ['QUORUM_UNAVAILABLE', true, 503],
    ['NOT_READY', true, 503],
    ['OVERLOADED', true, 503],
    ['CONTENTION', true, 503],
    ['BAD_REQUEST', true, 400],
    ['TIMEOUT', false, 504],
    ['CONTENTION', false, 504],
  ];
  for (const [code, definite, status] of cases) {
    test(`${code} (${definite ? 'definite' : 'indefinite'}) answers ${status} with the code and the flag`, async () => {
      const api = new ScriptedApi(() => kvError(code, definite, 'scripted'));
      const app = buildHttpApp(api);
      const res = await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' });
      assert.equal(res.statusCode, status);
      assert.deepEqual(res.json(), { error: { code, definite, message: 'scripted' } });
      if (status === 503)
        assert.equal(res.headers['retry-after'], '1', 'a definite refusal says when to retry');
    });
  }

  test('the request carries the level, TTL and conditions the client asked for', async () => {
    const api = new ScriptedApi(() => ({ ok: true, applied: true }));
    const app = buildHttpApp(api, { clock: () => 1_000_000 });
    await app.inject({
      method: 'PUT',
      url: '/v1/kv/a%20b/c?consistency=all&ttl_ms=5000',
      headers: { 'if-none-match': '*', 'content-type': 'application/json' },
      payload: '{"raw": true}',
    });
    const req = api.requests[0];
    assert.ok(req.op === 'set');
    assert.equal(new TextDecoder().decode(req.key), 'a b/c', 'the key is the decoded rest of the path');
    assert.equal(
      new TextDecoder().decode(req.value),
      '{"raw": true}',
      'JSON bodies are stored as bytes, not parsed',
    );
    assert.equal(req.consistency, 'all');
    assert.equal(req.expiresAtMs, 1_005_000);
    assert.equal(req.condition, 'if-absent');
  });

  test('malformed parameters are refused 400 BAD_REQUEST before the node is asked', async () => {
    const api = new ScriptedApi(() => ({ ok: true }));
    const app = buildHttpApp(api);
    for (const url of [
      '/v1/kv/k?consistency=strong',
      '/v1/kv/k?ttl_ms=-5',
      '/v1/kv/k?ttl_ms=1.5',
      '/v1/kv?limit=0',
      '/v1/kv?cursor=%24%24',
    ]) {
      const res = await app.inject({ method: url.includes('ttl') ? 'PUT' : 'GET', url });
      assert.equal(res.statusCode, 400, url);
      assert.equal(res.json().error.code, 'BAD_REQUEST', url);
    }
    const badContext = await app.inject({
      url: '/v1/kv/k',
      headers: { 'x-arpeggio-context': 'bm90IGpzb24' },
    });
    assert.equal(badContext.json().error.code, 'BAD_REQUEST');
    assert.equal(api.requests.length, 0);
  });

  test('a value over the limit is 413 VALUE_TOO_LARGE, a key over it 414 KEY_TOO_LARGE', async () => {
    const api = new ScriptedApi(() => ({ ok: true, applied: true }));
    const app = buildHttpApp(api, { maxValueBytes: 10, maxKeyBytes: 4 });
    const big = await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: Buffer.alloc(11) });
    assert.equal(big.statusCode, 413);
    assert.deepEqual(big.json().error.code, 'VALUE_TOO_LARGE');
    const longKey = await app.inject({ method: 'GET', url: '/v1/kv/abcde' });
    assert.equal(longKey.statusCode, 414);
    assert.equal(longKey.json().error.code, 'KEY_TOO_LARGE');
    assert.equal(api.requests.length, 0);
  });

  test('an unknown route is a JSON 404 ROUTE_NOT_FOUND', async () => {
    const res = await buildHttpApp(new ScriptedApi(() => ({ ok: true }))).inject({ url: '/v2/nothing' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'ROUTE_NOT_FOUND');
  });

  test('a failure inside the door is 500 INTERNAL, indefinite (a write may have happened)', async () => {
    const api = new ScriptedApi(() => {
      throw new Error('boom');
    });
    const res = await buildHttpApp(api).inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' });
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.json().error, {
      code: 'INTERNAL',
      definite: false,
      message: 'internal error: boom',
    });
  });

  test('/readyz is 503 NOT_READY until the node has joined, /healthz 200 throughout', async () => {
    const api = new ScriptedApi(() => ({ ok: true }));
    api.statusNow = restingStatus({ ready: false, state: 'starting' });
    const app = buildHttpApp(api);
    const notYet = await app.inject({ url: '/readyz' });
    assert.equal(notYet.statusCode, 503);
    assert.equal(notYet.json().error.code, 'NOT_READY');
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    api.statusNow = restingStatus();
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  });

  test('with a token, every route but /healthz needs "Authorization: Bearer <token>" (401 otherwise)', async () => {
    const api = new ScriptedApi(() => ({ ok: true, value: null }));
    const app = buildHttpApp(api, { token: 's3cret-token' });
    for (const url of ['/v1/kv/k', '/v1/kv', '/v1/cluster', '/readyz', '/metrics', '/v1/openapi.json']) {
      const none = await app.inject({ url });
      assert.equal(none.statusCode, 401, url);
      assert.equal(none.json().error.code, 'UNAUTHORIZED');
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      const wrong = await app.inject({ url, headers: { authorization: 'Bearer s3cret-tokeN' } });
      assert.equal(wrong.statusCode, 401, `${url}: a token differing in one byte is refused`);
    }
    assert.equal(api.requests.length, 0, 'nothing reached the node');
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'liveness probes need no token');
    const ok = await app.inject({ url: '/readyz', headers: { authorization: 'Bearer s3cret-token' } });
    assert.equal(ok.statusCode, 200);
  });
});
