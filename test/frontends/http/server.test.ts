/** The HTTP API on a real socket: 127.0.0.1, an OS-assigned port, fetch, and a clean close. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHttpServer } from '../../../src/frontends/http/server.js';
import { singleNode } from './helpers.js';

test('createHttpServer listens on 127.0.0.1 and serves fetch; close() stops it', {
  timeout: 30_000,
}, async () => {
  const node = await singleNode();
  const server = createHttpServer(node.host);
  try {
    const { port } = await server.listen(0);
    const base = `http://127.0.0.1:${port}`;
    const put = await fetch(`${base}/v1/kv/over-the-wire`, {
      method: 'PUT',
      body: new Uint8Array([1, 2, 3]),
    });
    assert.equal(put.status, 204);
    const get = await fetch(`${base}/v1/kv/over-the-wire`);
    assert.equal(get.status, 200);
    assert.deepEqual(new Uint8Array(await get.arrayBuffer()), new Uint8Array([1, 2, 3]));
    const missing = await fetch(`${base}/v1/kv/not-there`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'KEY_NOT_FOUND');
    await server.close();
    await assert.rejects(fetch(`${base}/healthz`), 'nothing listens after close()');
  } finally {
    await server.close();
    await node.stop();
  }
});
