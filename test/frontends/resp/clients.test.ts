/**
 * Real Redis clients against the RESP server (with an in-memory node behind it): ioredis, which
 * speaks RESP2 and checks readiness with INFO, and node-redis, which starts with HELLO 3 and
 * speaks RESP3. Every supported command goes through each; pipelines come back in order however
 * the cluster orders its answers; CONSISTENCY works through both; cluster errors reach the
 * application with their prefix.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient, RESP_TYPES } from 'redis';
import type { KvError } from '../../../src/core/replication/messages.js';
import { startServer } from './helpers.js';

type TestContext = { after(fn: () => Promise<void> | void): void };

/**
 * A server with an in-memory node, and clients of it. Clients disconnect before the server
 * closes (a client that sees the server hang up first waits for its own close timers).
 */
async function setup(t: TestContext) {
  const closers: (() => void)[] = [];
  const { server, port, api } = await startServer({ after() {} });
  t.after(async () => {
    for (const close of closers) close();
    await server.close();
  });
  return {
    port,
    api,
    async ioredis(options: Record<string, unknown> = {}): Promise<Redis> {
      const redis = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        ...options,
      });
      redis.on('error', () => {});
      await redis.connect();
      closers.push(() => redis.disconnect());
      return redis;
    },
    async nodeRedis(resp: 2 | 3 = 3) {
      const client = createClient({
        socket: { host: '127.0.0.1', port, reconnectStrategy: false },
        RESP: resp,
      });
      client.on('error', () => {});
      await client.connect();
      closers.push(() => client.destroy());
      return client;
    },
  };
}

const timeout: KvError = {
  code: 'TIMEOUT',
  definite: false,
  message: '1 of 2 acknowledgements before the deadline',
};

describe('Redis clients against the RESP server', { timeout: 30_000 }, () => {
  describe('ioredis', () => {
    test('connects (INFO ready check, CLIENT SETINFO) and runs every supported command', async (t) => {
      const { ioredis } = await setup(t);
      const redis = await ioredis();
      assert.equal(await redis.ping(), 'PONG');
      assert.equal(await redis.ping('hello'), 'hello');
      assert.equal(await redis.echo('echo'), 'echo');
      assert.equal(await redis.select(0), 'OK');

      const binary = Buffer.from([0, 255, 13, 10, 36]);
      assert.equal(await redis.set('bin', binary), 'OK');
      assert.deepEqual(await redis.getBuffer('bin'), binary);
      assert.equal(await redis.get('missing'), null);
      assert.equal(await redis.set('k', 'v1', 'EX', 100), 'OK');
      assert.equal(await redis.set('k', 'v2', 'PX', 100_000, 'XX'), 'OK');
      assert.equal(await redis.set('k', 'v3', 'NX'), null);
      assert.equal(await redis.set('k', 'v4', 'GET'), 'v2');
      assert.equal(await redis.get('k'), 'v4');

      assert.equal(await redis.mset('a', '1', 'b', '2'), 'OK');
      assert.deepEqual(await redis.mget('a', 'b', 'nope'), ['1', '2', null]);
      assert.equal(await redis.exists('a', 'b', 'nope'), 2);
      assert.equal(await redis.del('a', 'nope'), 1);
      assert.equal(await redis.exists('a'), 0);

      assert.equal(await redis.incr('n'), 1);
      assert.equal(await redis.incrby('n', 41), 42);
      assert.equal(await redis.decr('n'), 41);
      assert.equal(await redis.decrby('n', 40), 1);
      await assert.rejects(redis.incr('k'), { message: 'ERR value is not an integer or out of range' });

      assert.deepEqual(await redis.config('GET', 'save'), ['save', '']);
      assert.deepEqual(await redis.config('GET', 'appendonly'), ['appendonly', 'yes']);
      assert.equal(typeof (await redis.call('COMMAND', 'COUNT')), 'number');
      const docs = (await redis.call('COMMAND', 'DOCS', 'get')) as unknown[];
      assert.equal(docs[0], 'get', 'COMMAND DOCS documents GET');
      assert.match(await redis.info(), /redis_version:7\.2\.0/);
      await assert.rejects(redis.call('FLUSHALL'), {
        message: "ERR unknown command 'FLUSHALL', with args beginning with: ",
      });
      assert.equal(await redis.quit(), 'OK');
    });

    test('CONSISTENCY through call(): show, set, refuse', async (t) => {
      const { api, ioredis } = await setup(t);
      const redis = await ioredis();
      assert.equal(await redis.call('CONSISTENCY'), 'quorum');
      assert.equal(await redis.call('CONSISTENCY', 'linearizable'), 'OK');
      await redis.set('x', '1');
      assert.equal(api.requests.at(-1)?.consistency, 'linearizable');
      await assert.rejects(redis.call('CONSISTENCY', 'eventual'), {
        message: "ERR unknown consistency level 'eventual' (one, quorum, all, linearizable, session)",
      });
    });

    test('a pipeline comes back in command order while the cluster answers in reverse', async (t) => {
      const { api, ioredis } = await setup(t);
      const redis = await ioredis();
      api.hold = () => true;
      const pipeline = redis.pipeline();
      const n = 100;
      for (let i = 0; i < n; i++) {
        if (i % 3 === 0) pipeline.set(`k${i % 10}`, String(i));
        else if (i % 3 === 1) pipeline.get(`k${i % 10}`);
        else pipeline.incr(`n${i % 7}`);
      }
      const results = pipeline.exec();
      // Release in reverse whatever is held, until everything has been answered.
      let done = false;
      results.finally(() => {
        done = true;
      });
      while (!done) {
        await new Promise((r) => setImmediate(r));
        for (const h of api.held.splice(0).reverse()) h.release();
      }
      // Replay the same commands one at a time against a fresh server: the reference answers.
      const reference = await setup(t);
      const sequential = await reference.ioredis();
      const expected: unknown[] = [];
      for (let i = 0; i < n; i++) {
        if (i % 3 === 0) expected.push(await sequential.set(`k${i % 10}`, String(i)));
        else if (i % 3 === 1) expected.push(await sequential.get(`k${i % 10}`));
        else expected.push(await sequential.incr(`n${i % 7}`));
      }
      assert.deepEqual(
        (await results)?.map(([err, value]) => err ?? value),
        expected,
      );
    });

    test('auto-pipelining: many concurrent commands, each gets its own answer', async (t) => {
      const { ioredis } = await setup(t);
      const redis = await ioredis({ enableAutoPipelining: true });
      await Promise.all(Array.from({ length: 200 }, (_, i) => redis.set(`auto${i}`, String(i * i))));
      const values = await Promise.all(Array.from({ length: 200 }, (_, i) => redis.get(`auto${i}`)));
      assert.deepEqual(
        values,
        Array.from({ length: 200 }, (_, i) => String(i * i)),
      );
    });

    test('cluster errors reach the application with their prefix', async (t) => {
      const { api, ioredis } = await setup(t);
      const redis = await ioredis();
      api.failWith = () => timeout;
      await assert.rejects(redis.set('a', '1'), (err: Error) => {
        assert.equal(
          err.message,
          'INDEFINITE TIMEOUT 1 of 2 acknowledgements before the deadline (indefinite: the command may have taken effect)',
        );
        return true;
      });
      await assert.rejects(redis.get('a'), /^ReplyError: TRYAGAIN TIMEOUT/);
    });
  });

  describe('node-redis', () => {
    for (const resp of [3, 2] as const) {
      test(`RESP${resp}: connects and runs every supported command`, async (t) => {
        const { nodeRedis } = await setup(t);
        const client = await nodeRedis(resp);
        assert.equal(await client.ping(), 'PONG');
        assert.equal(await client.echo('echo'), 'echo');
        await client.select(0); // node-redis resolves SELECT with nothing
        assert.equal(await client.sendCommand(['SELECT', '0']), 'OK');

        assert.equal(await client.set('k', 'v1', { expiration: { type: 'EX', value: 100 } }), 'OK');
        assert.equal(
          await client.set('k', 'v2', { expiration: { type: 'PX', value: 100_000 }, condition: 'XX' }),
          'OK',
        );
        assert.equal(await client.set('k', 'v3', { condition: 'NX' }), null);
        assert.equal(await client.set('k', 'v4', { GET: true }), 'v2');
        assert.equal(await client.get('k'), 'v4');
        assert.equal(await client.get('missing'), null);

        assert.equal(await client.mSet({ a: '1', b: '2' }), 'OK');
        assert.deepEqual(await client.mGet(['a', 'b', 'nope']), ['1', '2', null]);
        assert.equal(await client.exists(['a', 'b', 'nope']), 2);
        assert.equal(await client.del(['a', 'nope']), 1);

        assert.equal(await client.incr('n'), 1);
        assert.equal(await client.incrBy('n', 41), 42);
        assert.equal(await client.decr('n'), 41);
        assert.equal(await client.decrBy('n', 40), 1);
        await assert.rejects(client.incr('k'), { message: 'ERR value is not an integer or out of range' });

        assert.deepEqual({ ...(await client.configGet('save')) }, { save: '' });
        assert.equal(typeof (await client.commandCount()), 'number');
        assert.match(await client.info(), /redis_version:7\.2\.0/);
        assert.equal(await client.sendCommand(['CONSISTENCY']), 'quorum');
        assert.equal(await client.sendCommand(['CONSISTENCY', 'session']), 'OK');
        assert.equal(await client.sendCommand(['CONSISTENCY']), 'session');
      });
    }

    test('binary values round-trip', async (t) => {
      const { nodeRedis } = await setup(t);
      const client = await nodeRedis();
      const binary = Buffer.from([0, 255, 13, 10, 95]);
      await client.set('bin', binary);
      const raw = await client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get('bin');
      assert.deepEqual(raw, binary);
    });

    test('a multi-command pipeline (multi().execAsPipeline) comes back in order', async (t) => {
      const { api, nodeRedis } = await setup(t);
      const client = await nodeRedis();
      api.hold = (req) => req.op === 'set';
      const pipeline = client.multi().set('p1', 'a').get('p1').set('p2', 'b').get('p2').incr('pn');
      const replies = pipeline.execAsPipeline();
      await api.heldCount(2);
      for (const h of api.held.splice(0).reverse()) h.release();
      assert.deepEqual(await replies, ['OK', 'a', 'OK', 'b', 1]);
    });

    test('cluster errors reach the application with their prefix', async (t) => {
      const { api, nodeRedis } = await setup(t);
      const client = await nodeRedis();
      api.failWith = () => timeout;
      await assert.rejects(client.set('a', '1'), /^\[?.*INDEFINITE TIMEOUT/);
    });
  });
});
