/**
 * ioredis and node-redis against the RESP server over a real node (one NodeHost, LMDB in a temp
 * directory), with a password: both clients authenticate (ioredis with AUTH, node-redis with
 * HELLO 3 AUTH) and drive every supported command, the ones that run through consensus
 * (GETEX, APPEND, SETRANGE, INCRBYFLOAT, EXPIRE …, TTL) and the keyspace ones (SCAN, KEYS, DBSIZE)
 * included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { createRespServer, type RespServer } from '../../../src/frontends/resp/server.js';
import { NodeHost } from '../../../src/runtime/node-host.js';
import { FAST_KV, SECRET, tempDir } from '../../runtime/helpers.js';

const PASSWORD = 'real-node-password';

describe('Redis clients against a real node', { timeout: 30_000 }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: NodeHost;
  let server: RespServer;
  let port: number;
  const closers: (() => void)[] = [];

  before(async () => {
    dir = await tempDir('arpeggio-resp-clients-');
    host = await NodeHost.start({
      dataDir: dir.path,
      secret: SECRET,
      durability: 'relaxed',
      kvConfig: { ...FAST_KV, replicaCount: 1, readQuorum: 1, writeQuorum: 1 },
      onFatal: (e) => assert.fail(`unexpected fatal error: ${e.message}`),
    });
    await host.whenReady(5000);
    server = createRespServer(host, { password: PASSWORD });
    ({ port } = await server.listen(0));
  });

  after(async () => {
    for (const close of closers) close();
    await server.close();
    await host.close();
    await dir.remove();
  });

  async function ioredis(password: string | undefined = PASSWORD): Promise<Redis> {
    const redis = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      password,
    });
    redis.on('error', () => {});
    closers.push(() => redis.disconnect());
    await redis.connect();
    return redis;
  }

  async function nodeRedis(resp: 2 | 3) {
    const client = createClient({
      socket: { host: '127.0.0.1', port, reconnectStrategy: false },
      RESP: resp,
      password: PASSWORD,
    });
    client.on('error', () => {});
    await client.connect();
    closers.push(() => client.destroy());
    return client;
  }

  test('a client without the password is refused with NOAUTH, one with a wrong one with WRONGPASS', async () => {
    const refused = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    refused.on('error', () => {});
    closers.push(() => refused.disconnect());
    await refused.connect().catch(() => {});
    // ioredis 6 opens with HELLO 3, which Redis (and Arpeggio) refuse with NOAUTH before AUTH.
    await assert.rejects(refused.get('x'), /NOAUTH/);
    const wrong = createClient({
      socket: { host: '127.0.0.1', port, reconnectStrategy: false },
      password: 'not-the-password',
    });
    wrong.on('error', () => {});
    await assert.rejects(wrong.connect(), /WRONGPASS invalid username-password pair/);
    const redis = await ioredis();
    assert.equal(await redis.ping(), 'PONG');
  });

  test('ioredis runs every supported command against the node', async () => {
    const redis = await ioredis();
    const p = 'io:';
    assert.equal(await redis.set(`${p}k`, 'v', 'EX', 100), 'OK');
    assert.equal(await redis.set(`${p}k`, 'w', 'KEEPTTL'), 'OK');
    assert.equal(await redis.ttl(`${p}k`), 100, 'KEEPTTL kept the expiry');
    assert.equal(await redis.set(`${p}k`, 'x', 'NX'), null);
    assert.equal(await redis.set(`${p}k`, 'y', 'XX', 'GET'), 'w');
    assert.equal(await redis.getset(`${p}k`, 'z'), 'y');
    assert.equal(await redis.getex(`${p}k`, 'PX', 50_000), 'z');
    assert.ok((await redis.pttl(`${p}k`)) > 49_000);
    assert.equal(await redis.getex(`${p}k`, 'PERSIST'), 'z');
    assert.equal(await redis.ttl(`${p}k`), -1);
    assert.equal(await redis.getdel(`${p}k`), 'z');
    assert.equal(await redis.exists(`${p}k`), 0);
    assert.equal(await redis.setnx(`${p}nx`, '1'), 1);
    assert.equal(await redis.setnx(`${p}nx`, '2'), 0);
    assert.equal(await redis.setex(`${p}ex`, 100, 'v'), 'OK');
    assert.equal(await redis.psetex(`${p}px`, 100_000, 'v'), 'OK');
    assert.equal(await redis.ttl(`${p}ex`), 100);
    assert.equal(await redis.append(`${p}s`, 'hello'), 5);
    assert.equal(await redis.append(`${p}s`, ' world'), 11);
    assert.equal(await redis.strlen(`${p}s`), 11);
    assert.equal(await redis.getrange(`${p}s`, -5, -1), 'world');
    assert.equal(await redis.setrange(`${p}s`, 6, 'WORLD'), 11);
    assert.equal(await redis.get(`${p}s`), 'hello WORLD');
    assert.equal(await redis.incrbyfloat(`${p}f`, '10.5'), '10.5');
    assert.equal(await redis.incrbyfloat(`${p}f`, '0.1'), '10.6');
    assert.equal(await redis.incr(`${p}n`), 1);
    assert.equal(await redis.incrby(`${p}n`, 9), 10);
    assert.equal(await redis.decrby(`${p}n`, 4), 6);
    assert.equal(await redis.decr(`${p}n`), 5);
    assert.equal(await redis.msetnx(`${p}a`, '1', `${p}b`, '2'), 1);
    assert.equal(await redis.msetnx(`${p}b`, '3', `${p}c`, '4'), 0);
    assert.deepEqual(await redis.mget(`${p}a`, `${p}b`, `${p}c`), ['1', '2', null]);
    assert.equal(await redis.mset(`${p}c`, '5', `${p}d`, '6'), 'OK');
    assert.equal(await redis.expire(`${p}a`, 100), 1);
    assert.equal(await redis.expire(`${p}a`, 200, 'NX'), 0);
    assert.equal(await redis.expire(`${p}a`, 200, 'GT'), 1);
    assert.equal(await redis.pexpire(`${p}b`, 100_000), 1);
    assert.equal(await redis.expireat(`${p}c`, Math.floor(Date.now() / 1000) + 100), 1);
    assert.equal(await redis.pexpireat(`${p}d`, 1), 1, 'a time already past deletes the key');
    assert.equal(await redis.exists(`${p}d`), 0);
    assert.equal(await redis.persist(`${p}a`), 1);
    assert.equal(await redis.type(`${p}a`), 'string');
    assert.equal(await redis.type(`${p}none`), 'none');
    assert.equal(await redis.unlink(`${p}a`, `${p}none`), 1);
    assert.equal(await redis.del(`${p}b`), 1);

    const keys = (await redis.keys(`${p}*`)).sort();
    assert.deepEqual(keys, [`${p}c`, `${p}ex`, `${p}f`, `${p}n`, `${p}nx`, `${p}px`, `${p}s`]);
    const scanned = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 2);
      for (const key of batch) scanned.add(key);
      cursor = next;
    } while (cursor !== '0');
    assert.deepEqual([...scanned].sort(), keys, 'SCAN with COUNT 2 visits every key');
    assert.ok((await redis.dbsize()) >= keys.length);

    assert.equal(await redis.client('SETNAME', 'io-client'), 'OK');
    assert.equal(await redis.client('GETNAME'), 'io-client');
    assert.equal(typeof (await redis.client('ID')), 'number');
    assert.match((await redis.client('INFO')) as string, /name=io-client .*resp=[23]/);
    const arpeggio = await redis.info('arpeggio');
    assert.match(arpeggio, /# Arpeggio\r\nnode_id:/);
    assert.match(arpeggio, /# Ring\r\nring_members:[^\r]+\r\nring_size:1\r\n/, 'the ring: this node');
    assert.match(arpeggio, /# Members\r\nmembers:1\r\nmembers_alive:1\r\n/);
    assert.match(arpeggio, /# Hints\r\nhints_pending:0\r\n/);
    assert.match(await redis.info('keyspace'), /db0:keys=\d+/);
    assert.deepEqual(await redis.config('GET', 'maxmemory'), ['maxmemory', '0']);
    assert.equal(await redis.select(0), 'OK');
    assert.equal(await redis.echo('e'), 'e');
    assert.equal(await redis.call('CONSISTENCY', 'linearizable'), 'OK');
    assert.equal(await redis.incrbyfloat(`${p}f`, '1'), '11.6', 'consensus at linearizable too');
    assert.equal(await redis.quit(), 'OK');
  });

  for (const resp of [3, 2] as const) {
    test(`node-redis (RESP${resp}, HELLO … AUTH) runs every supported command against the node`, async () => {
      const client = await nodeRedis(resp);
      const p = `nr${resp}:`;
      assert.equal(await client.ping(), 'PONG');
      assert.equal(await client.set(`${p}k`, 'v', { expiration: { type: 'EX', value: 100 } }), 'OK');
      assert.equal(await client.sendCommand(['SET', `${p}k`, 'w', 'KEEPTTL']), 'OK');
      assert.equal(await client.ttl(`${p}k`), 100);
      assert.equal(await client.getSet(`${p}k`, 'z'), 'w');
      assert.equal(await client.getEx(`${p}k`, { type: 'PX', value: 50_000 }), 'z');
      assert.ok((await client.pTTL(`${p}k`)) > 49_000);
      assert.equal(await client.getEx(`${p}k`, { type: 'PERSIST' }), 'z');
      assert.equal(await client.getDel(`${p}k`), 'z');
      assert.equal(await client.setNX(`${p}nx`, '1'), 1);
      assert.equal(await client.setEx(`${p}ex`, 100, 'v'), 'OK');
      assert.equal(await client.pSetEx(`${p}px`, 100_000, 'v'), 'OK');
      assert.equal(await client.append(`${p}s`, 'hello'), 5);
      assert.equal(await client.strLen(`${p}s`), 5);
      assert.equal(await client.getRange(`${p}s`, 1, 3), 'ell');
      assert.equal(await client.setRange(`${p}s`, 0, 'J'), 5);
      assert.equal(await client.get(`${p}s`), 'Jello');
      assert.equal(String(await client.incrByFloat(`${p}f`, 2.5)), '2.5');
      assert.equal(await client.mSetNX({ [`${p}a`]: '1', [`${p}b`]: '2' }), 1);
      assert.equal(await client.expire(`${p}a`, 100), 1);
      assert.equal(await client.expire(`${p}a`, 100, 'NX'), 0);
      assert.equal(await client.pExpire(`${p}b`, 100_000), 1);
      assert.equal(await client.expireAt(`${p}b`, Math.floor(Date.now() / 1000) + 100), 1);
      assert.equal(await client.pExpireAt(`${p}b`, Date.now() + 100_000), 1);
      assert.equal(await client.persist(`${p}a`), 1);
      assert.equal(await client.type(`${p}a`), 'string');
      assert.equal(await client.unlink(`${p}a`), 1);
      const keys = [...(await client.keys(`${p}*`))].sort();
      assert.deepEqual(keys, [`${p}b`, `${p}ex`, `${p}f`, `${p}nx`, `${p}px`, `${p}s`]);
      const scanned: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${p}*`, COUNT: 3 })) scanned.push(...batch);
      assert.deepEqual(scanned.sort(), keys);
      assert.ok((await client.dbSize()) >= keys.length);
      assert.equal(await client.clientSetName(`nr${resp}`), 'OK');
      assert.equal(await client.clientGetName(), `nr${resp}`);
      assert.equal(typeof (await client.clientId()), 'number');
      assert.match(String(await client.clientInfo().then((i) => i.name)), new RegExp(`nr${resp}`));
      assert.match(await client.info('hints'), /hints_pending:\d+/);
      assert.equal(typeof (await client.commandCount()), 'number');
      assert.equal(await client.echo('e'), 'e');
      assert.equal(await client.sendCommand(['SELECT', '0']), 'OK');
      assert.equal(await client.mSet({ [`${p}m1`]: '1', [`${p}m2`]: '2' }), 'OK');
      assert.deepEqual(await client.mGet([`${p}m1`, `${p}m2`, `${p}none`]), ['1', '2', null]);
      assert.equal(await client.exists([`${p}m1`, `${p}m2`, `${p}none`]), 2);
      assert.equal(await client.del([`${p}m1`, `${p}none`]), 1);
      assert.equal(await client.incr(`${p}n`), 1);
      assert.equal(await client.incrBy(`${p}n`, 9), 10);
      assert.equal(await client.decr(`${p}n`), 9);
      assert.equal(await client.decrBy(`${p}n`, 4), 5);
      assert.equal(await client.setNX(`${p}nx`, '2'), 0);
      assert.equal(await client.ttl(`${p}none`), -2);
      assert.deepEqual({ ...(await client.configGet('maxmemory')) }, { maxmemory: '0' });
      assert.equal(await client.sendCommand(['CONSISTENCY', 'linearizable']), 'OK');
      assert.equal(await client.append(`${p}s`, '!'), 6, 'APPEND through consensus at linearizable');
      assert.equal(await client.sendCommand(['QUIT']), 'OK');
    });
  }
});
