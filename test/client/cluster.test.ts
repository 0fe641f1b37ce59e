/**
 * The client against a real three-node cluster: requests go straight to the owner of their key,
 * a session reads its own writes, cas holds, errors are typed, and reads keep working when a node
 * stops (the refused attempts are retried on another replica).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ArpeggioError, type Client, connect } from '../../src/client/index.js';
import { startCluster, type TestCluster } from './helpers.js';

const enc = new TextEncoder();

describe('the client on a real cluster', { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let db: Client;
  /** Every request the client sent: the node it went to and the path. */
  const sent: Array<{ host: string; path: string }> = [];

  before(async () => {
    cluster = await startCluster();
    const spy = ((input: string | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      sent.push({ host: url.host, path: decodeURIComponent(url.pathname) });
      return fetch(input, init);
    }) as typeof fetch;
    // Only n a's endpoint is given: the others come from /v1/cluster.
    db = await connect(
      { nodes: [cluster.http.get('a') as string], retries: 4, backoffBaseMs: 5 },
      { fetch: spy },
    );
  });
  after(async () => {
    await db?.close();
    await cluster?.close();
  });

  const nodeAt = (host: string) => [...cluster.http].find(([, h]) => h === host)?.[0];

  test('each request goes in one hop to a replica of its key, and the keys spread over every node', async () => {
    const chosen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const key = `route/${i}`;
      sent.length = 0;
      await db.set(key, `v${i}`);
      assert.equal(sent.length, 1, 'one request, no redirect');
      const node = nodeAt(sent[0].host);
      assert.ok(node, `the request went to a node of the cluster (${sent[0].host})`);
      const replicas = cluster.hosts[0].replicasOf(enc.encode(key));
      assert.ok(replicas.includes(node), `${key} went to ${node}, a replica (${replicas.join(', ')})`);
      assert.equal(node, replicas[0], 'the first choice is the key’s owner, as the nodes place it');
      chosen.add(node);
    }
    assert.equal(chosen.size, 3, 'keys are owned all over the ring, and the client follows');
  });

  test('the node that coordinated the request counts it in its own metrics', async () => {
    sent.length = 0;
    await db.get('route/0');
    const node = nodeAt(sent[0].host) as string;
    const text = await cluster.metrics.get(node)?.text();
    assert.match(text ?? '', /arpeggio_requests_total\{door="http",command="get"/);
  });

  test('a missing key reads as null; getString and bytes round-trip', async () => {
    assert.equal(await db.get('never/written'), null);
    const bytes = new Uint8Array([0, 255, 10, 128]);
    await db.set('bytes', bytes);
    assert.deepEqual(await db.get('bytes'), bytes);
    await db.set('text', 'naïve ✓');
    assert.equal(await db.getString('text', { consistency: 'all' }), 'naïve ✓');
  });

  test('set ifAbsent writes once; del deletes; ttlMs expires', async () => {
    assert.equal(await db.set('once', 'first', { ifAbsent: true }), true);
    assert.equal(await db.set('once', 'second', { ifAbsent: true }), false, 'the key has a value');
    assert.equal(await db.getString('once'), 'first');
    await db.del('once');
    assert.equal(await db.get('once'), null);
    await db.set('brief', 'x', { ttlMs: 1 });
    const deadline = Date.now() + 5000;
    while ((await db.get('brief')) !== null) assert.ok(Date.now() < deadline, 'a 1 ms TTL expires');
  });

  test('cas replaces only the expected value, and deletes with next = null', async () => {
    await db.set('config', 'v1');
    assert.equal(await db.cas('config', 'v1', 'v2'), true);
    assert.equal(await db.cas('config', 'v1', 'v3'), false, 'v1 is no longer the value');
    assert.equal(await db.getString('config', { consistency: 'linearizable' }), 'v2');
    assert.equal(await db.cas('fresh', null, 'born'), true, 'null expects no value');
    assert.equal(await db.cas('fresh', null, 'again'), false);
    assert.equal(await db.cas('config', 'v2', null), true);
    assert.equal(await db.get('config', { consistency: 'linearizable' }), null);
  });

  test('a session reads its own writes, and carries the context per key', async () => {
    const session = db.session();
    for (let i = 0; i < 10; i++) {
      await session.set('mine', `write ${i}`);
      assert.equal(await session.getString('mine'), `write ${i}`, 'read your writes');
    }
    assert.ok(session.contextOf('mine'), 'the session holds the key’s causal context');
    assert.equal(session.contextOf('other'), null, 'contexts are per key');
    await session.del('mine');
    assert.equal(await session.get('mine'), null);
  });

  test('errors are typed: a bad request says its code, that it is definite, and which node', async () => {
    await assert.rejects(db.set('config', 'x', { ttlMs: 1000, ifMatch: '"abc"' }), (e: unknown) => {
      assert.ok(e instanceof ArpeggioError);
      assert.equal(e.code, 'BAD_REQUEST');
      assert.equal(e.definite, true);
      assert.equal(e.status, 400);
      assert.ok(e.node && nodeAt(e.node), 'the error names the node that answered');
      return true;
    });
  });

  test('cluster() answers the view with every member’s HTTP endpoint', async () => {
    const view = await db.cluster();
    assert.deepEqual([...view.ring.members].sort(), ['a', 'b', 'c']);
    for (const m of view.members) assert.equal(m.endpoints.http, cluster.http.get(m.id));
  });

  test('with a node stopped, every key still reads: refused attempts are retried on another replica', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `survive/${i}`);
    for (const key of keys) await db.set(key, key, { consistency: 'all' });
    await cluster.stop('c');
    const cHost = cluster.http.get('c') as string;
    sent.length = 0;
    for (const key of keys) assert.equal(await db.getString(key), key);
    const toC = sent.filter((s) => s.host === cHost && s.path.startsWith('/v1/kv/')).length;
    assert.ok(toC >= 1, 'some key’s first choice was the stopped node, and the read went on elsewhere');
    assert.ok(toC <= 3, `the breaker (threshold 3) keeps calls off the stopped node (${toC} sent)`);
  });
});
