/**
 * A connection without a socket, in front of an in-memory node: commands mean what they mean in
 * Redis, replies leave in command order however the cluster's answers are ordered, commands on
 * one key take effect in the order sent, the consistency level and causal contexts travel with
 * the requests, and cluster errors say whether the command may have taken effect.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import type { KvError, KvRequest } from '../../../src/core/replication/messages.js';
import { MAX_KEY_BYTES } from '../../../src/frontends/resp/commands.js';
import { FakeApi } from './fake-api.js';
import { command, DrivenConnection, facts } from './helpers.js';

const OK = { simple: 'OK' };
const err = (text: string) => ({ error: text });
const keyOf = (req: KvRequest) => ('key' in req ? Buffer.from(req.key).toString() : '');

describe('RESP commands (connection without a socket)', () => {
  test('PING, ECHO and SELECT answer like Redis', async () => {
    const c = new DrivenConnection();
    assert.deepEqual(
      await c.call(['PING'], ['ping', 'hi'], ['PING', 'a', 'b'], ['ECHO', 'x'], ['SELECT', '0']),
      [{ simple: 'PONG' }, 'hi', err("ERR wrong number of arguments for 'ping' command"), 'x', OK],
    );
    assert.deepEqual(await c.call(['SELECT', '1'], ['SELECT', 'x']), [
      err('ERR DB index is out of range'),
      err('ERR value is not an integer or out of range'),
    ]);
  });

  test('GET and SET store binary values; a missing key is a null bulk', async () => {
    const c = new DrivenConnection();
    const value = Buffer.from([0, 1, 2, 255, 13, 10]);
    await c.call(['SET', 'bin', value]);
    assert.deepEqual(await c.call(['GET', 'missing']), [null]);
    c.send(command('GET', 'bin'));
    await c.replyCount(3);
    assert.ok(
      c.output
        .subarray(c.output.length - 12)
        .equals(Buffer.concat([Buffer.from('$6\r\n'), value, Buffer.from('\r\n')])),
    );
  });

  test('SET NX, XX and GET: conditions and the previous value', async () => {
    const c = new DrivenConnection();
    assert.deepEqual(
      await c.call(
        ['SET', 'k', '1', 'XX'],
        ['SET', 'k', '1', 'NX'],
        ['SET', 'k', '2', 'NX'],
        ['SET', 'k', '3', 'XX', 'GET'],
        ['SET', 'k', '4', 'nx', 'get'],
        ['GET', 'k'],
        ['SET', 'new', 'v', 'GET'],
      ),
      [null, OK, null, '1', '3', '3', null],
    );
  });

  test("SET EX/PX/EXAT/PXAT: absolute expiry from the front door's wall clock", async () => {
    let now = 1_000_000;
    const api = new FakeApi(() => now);
    const c = new DrivenConnection({}, api, () => now);
    await c.call(
      ['SET', 'a', 'v', 'EX', '10'],
      ['SET', 'b', 'v', 'PX', '250'],
      ['SET', 'c', 'v', 'EXAT', '2000'],
      ['SET', 'd', 'v', 'PXAT', '1500000'],
    );
    assert.deepEqual(
      api.requests.map((r) => (r.op === 'set' ? r.expiresAtMs : -1)),
      [1_010_000, 1_000_250, 2_000_000, 1_500_000],
    );
    now += 300;
    assert.deepEqual(await c.call(['GET', 'a'], ['GET', 'b']), ['v', null]);
  });

  test("SET's option errors are Redis's", async () => {
    const c = new DrivenConnection();
    assert.deepEqual(
      await c.call(
        ['SET', 'k', 'v', 'NX', 'XX'],
        ['SET', 'k', 'v', 'EX', '1', 'PX', '1'],
        ['SET', 'k', 'v', 'EX'],
        ['SET', 'k', 'v', 'FOO'],
        ['SET', 'k', 'v', 'EX', '0'],
        ['SET', 'k', 'v', 'PX', '-5'],
        ['SET', 'k', 'v', 'EX', 'ten'],
        ['SET', 'k', 'v', 'EX', '99999999999999999'],
        ['SET', 'k', 'v', 'KEEPTTL', 'EX', '1'],
        ['SET', 'k'],
      ),
      [
        err('ERR syntax error'),
        err('ERR syntax error'),
        err('ERR syntax error'),
        err('ERR syntax error'),
        err("ERR invalid expire time in 'set' command"),
        err("ERR invalid expire time in 'set' command"),
        err('ERR value is not an integer or out of range'),
        err("ERR invalid expire time in 'set' command"),
        err('ERR syntax error'),
        err("ERR wrong number of arguments for 'set' command"),
      ],
    );
    assert.equal(c.api.requests.length, 0, 'nothing reached the cluster');
  });

  test('INCR, INCRBY, DECR, DECRBY and their integer errors', async () => {
    const c = new DrivenConnection();
    assert.deepEqual(
      await c.call(
        ['INCR', 'n'],
        ['INCRBY', 'n', '10'],
        ['DECR', 'n'],
        ['DECRBY', 'n', '20'],
        ['INCRBY', 'n', 'x'],
        ['INCRBY', 'n', '1.5'],
        ['INCRBY', 'n', '9223372036854775807'],
        ['SET', 's', 'abc'],
        ['INCR', 's'],
        ['SET', 'big', String(Number.MAX_SAFE_INTEGER)],
        ['INCR', 'big'],
      ),
      [
        1,
        11,
        10,
        -10,
        err('ERR value is not an integer or out of range'),
        err('ERR value is not an integer or out of range'),
        err('ERR value is not an integer or out of range'),
        OK,
        err('ERR value is not an integer or out of range'),
        OK,
        err('ERR increment or decrement would overflow'),
      ],
    );
  });

  test('DEL counts the keys that existed (read first below linearizable, applied under it)', async () => {
    const c = new DrivenConnection();
    await c.call(['MSET', 'a', '1', 'b', '2']);
    assert.deepEqual(await c.call(['DEL', 'a', 'missing', 'a']), [1]);
    const ops = c.api.requests.slice(2).map((r) => `${r.op} ${keyOf(r)}`);
    assert.deepEqual(
      ops,
      ['get a', 'get missing', 'del a', 'del missing'],
      'a key named twice is deleted once',
    );
    await c.call(['CONSISTENCY', 'linearizable']);
    const before = c.api.requests.length;
    assert.deepEqual(await c.call(['DEL', 'b', 'a']), [1]);
    assert.deepEqual(
      c.api.requests.slice(before).map((r) => r.op),
      ['del', 'del'],
      'consensus says itself whether a value was deleted',
    );
  });

  test('EXISTS counts each argument; MGET answers in argument order; MSET keeps the last of duplicates', async () => {
    const c = new DrivenConnection();
    assert.deepEqual(
      await c.call(
        ['MSET', 'a', '1', 'b', '2', 'a', '3'],
        ['EXISTS', 'a', 'x', 'a', 'b'],
        ['MGET', 'b', 'x', 'a', 'b'],
        ['MSET', 'a'],
      ),
      [OK, 3, ['2', null, '3', '2'], err("ERR wrong number of arguments for 'mset' command")],
    );
    assert.equal(c.api.requests.filter((r) => r.op === 'set').length, 2, 'one write per distinct key');
  });

  test("unknown commands and wrong arity are refused with Redis 7's exact text", async () => {
    const c = new DrivenConnection();
    const long = 'x'.repeat(200);
    assert.deepEqual(
      await c.call(
        ['FOO', 'a', 'b'],
        ['foo'],
        ['BAR', long, 'next'],
        ['GET'],
        ['GET', 'a', 'b'],
        ['CONFIG'],
        ['CONFIG', 'GET'],
        ['CONFIG', 'nope'],
      ),
      [
        err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
        err("ERR unknown command 'foo', with args beginning with: "),
        err(`ERR unknown command 'BAR', with args beginning with: '${'x'.repeat(128)}' `),
        err("ERR wrong number of arguments for 'get' command"),
        err("ERR wrong number of arguments for 'get' command"),
        err("ERR wrong number of arguments for 'config' command"),
        err("ERR wrong number of arguments for 'config|get' command"),
        err("ERR unknown subcommand 'nope'. Try CONFIG HELP."),
      ],
    );
  });

  test('keys longer than the storage layer holds are refused before reaching the cluster', async () => {
    const c = new DrivenConnection();
    const longest = 'k'.repeat(MAX_KEY_BYTES);
    const tooLong = 'k'.repeat(MAX_KEY_BYTES + 1);
    const replies = await c.call(['SET', longest, 'v'], ['SET', tooLong, 'v'], ['MGET', 'a', tooLong]);
    assert.deepEqual(replies[0], OK);
    assert.deepEqual(replies[1], err(`ERR key too long: 1973 bytes, Arpeggio keys are at most 1972 bytes`));
    assert.deepEqual(replies[2], replies[1]);
    assert.equal(c.api.requests.length, 1);
  });

  describe('CONSISTENCY', () => {
    test('shows the level, sets it, refuses unknown levels; requests carry it', async () => {
      const c = new DrivenConnection();
      assert.deepEqual(
        await c.call(
          ['CONSISTENCY'],
          ['GET', 'a'],
          ['CONSISTENCY', 'ONE'],
          ['CONSISTENCY'],
          ['GET', 'a'],
          ['CONSISTENCY', 'strong'],
          ['CONSISTENCY', 'all', 'x'],
          ['CONSISTENCY'],
        ),
        [
          { simple: 'quorum' },
          null,
          OK,
          { simple: 'one' },
          null,
          err("ERR unknown consistency level 'strong' (one, quorum, all, linearizable, session)"),
          err("ERR wrong number of arguments for 'consistency' command"),
          { simple: 'one' },
        ],
      );
      assert.deepEqual(
        c.api.requests.map((r) => r.consistency),
        ['quorum', 'one'],
      );
    });

    test('the default level is configurable', async () => {
      const c = new DrivenConnection({ defaultConsistency: 'linearizable' });
      assert.deepEqual(await c.one('CONSISTENCY'), { simple: 'linearizable' });
    });

    test('a pipelined CONSISTENCY applies to the commands after it and not before', async () => {
      const c = new DrivenConnection();
      await c.call(
        ['GET', 'a'],
        ['CONSISTENCY', 'all'],
        ['GET', 'b'],
        ['CONSISTENCY', 'one'],
        ['SET', 'c', '1'],
      );
      assert.deepEqual(
        c.api.requests.map((r) => `${r.op} ${keyOf(r)} ${r.consistency}`),
        ['get a quorum', 'get b all', 'set c one'],
      );
    });

    test('session level carries the causal context seen for each key into the next request on it', async () => {
      const c = new DrivenConnection({ contextCacheEntries: 2 });
      await c.call(
        ['CONSISTENCY', 'session'],
        ['SET', 'a', '1'],
        ['GET', 'a'],
        ['SET', 'a', '2'],
        ['GET', 'a'],
        ['GET', 'fresh'],
      );
      const contexts = (key: string) =>
        c.api.requests
          .filter((r) => keyOf(r) === key)
          .map((r) => ('context' in r ? r.context?.vv['fake-node'] : undefined));
      assert.deepEqual(
        contexts('a'),
        [undefined, 1, 1, 2],
        'each request on a carries the version last seen',
      );
      assert.deepEqual(contexts('fresh'), [undefined]);
      // The cache is bounded (LRU): touching b and c evicts a.
      await c.call(['GET', 'b']);
      await c.call(['GET', 'c']);
      await c.call(['GET', 'a']);
      const last = c.api.requests[c.api.requests.length - 1];
      assert.equal(last.op === 'get' && last.context, undefined, 'a was evicted');
    });

    test('other levels do not send contexts', async () => {
      const c = new DrivenConnection();
      await c.call(['SET', 'a', '1'], ['GET', 'a']);
      assert.ok(c.api.requests.every((r) => !('context' in r) || r.context === undefined));
    });
  });

  describe('pipelining', () => {
    test('replies leave in command order even when the cluster answers in reverse', async () => {
      const c = new DrivenConnection();
      c.api.hold = () => true;
      const n = 20;
      for (let i = 0; i < n; i++) c.send(command('SET', `k${i}`, String(i)));
      await c.api.heldCount(n);
      assert.equal(c.replies().length, 0);
      for (const held of [...c.api.held].reverse()) held.release();
      assert.deepEqual(await c.replyCount(n), Array(n).fill(OK));
      c.api.hold = null;
      assert.deepEqual(
        await c.call(...Array.from({ length: n }, (_, i) => ['GET', `k${i}`])),
        Array.from({ length: n }, (_, i) => String(i)),
      );
    });

    test('commands on different keys run concurrently; on the same key, in the order sent', async () => {
      const c = new DrivenConnection();
      c.api.hold = () => true;
      c.send(
        Buffer.concat([
          command('SET', 'a', '1'),
          command('SET', 'b', '1'),
          command('GET', 'a'),
          command('MGET', 'b', 'c'),
        ]),
      );
      await c.api.heldCount(2);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        c.api.held.map((h) => `${h.req.op} ${keyOf(h.req)}`),
        ['set a', 'set b'],
        'GET a waits for SET a; MGET b c waits for SET b',
      );
      c.api.held[0].release();
      await c.api.heldCount(3);
      assert.equal(`${c.api.held[2].req.op} ${keyOf(c.api.held[2].req)}`, 'get a');
      c.api.hold = null;
      c.api.held[1].release();
      c.api.held[2].release();
      assert.deepEqual(await c.replyCount(4), [OK, OK, '1', ['1', null]]);
    });

    test('at most maxPipelinedCommands are in progress; input pauses and resumes', async () => {
      const c = new DrivenConnection({ maxPipelinedCommands: 3 });
      c.api.hold = () => true;
      for (let i = 0; i < 10; i++) c.send(command('GET', `k${i}`));
      await c.api.heldCount(3);
      assert.equal(c.api.requests.length, 3);
      assert.deepEqual(c.events, ['pause']);
      assert.ok(c.connection.bufferedBytes > 0, 'the rest waits, unparsed');
      c.api.hold = null;
      for (const h of c.api.held) h.release();
      assert.equal((await c.replyCount(10)).length, 10);
      assert.deepEqual(c.events, ['pause', 'resume']);
    });

    test('a blocked output stops the connection from taking commands until it drains', async () => {
      const c = new DrivenConnection();
      c.connection.setOutputBlocked(true);
      c.send(Buffer.concat([command('PING'), command('PING')]));
      assert.equal(c.replies().length, 0);
      assert.deepEqual(c.events, ['pause']);
      c.connection.setOutputBlocked(false);
      assert.deepEqual(await c.replyCount(2), [{ simple: 'PONG' }, { simple: 'PONG' }]);
    });
  });

  describe('closing', () => {
    test('a protocol error is answered after the replies before it, then the connection ends', async () => {
      const c = new DrivenConnection();
      c.api.hold = () => true;
      c.send('*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n*1\r\nx\r\nPING\r\n');
      await c.api.heldCount(1);
      assert.equal(c.ended, false, 'waits for the GET');
      c.api.held[0].release();
      await c.closed();
      assert.deepEqual(c.replies(), [
        null,
        { simple: 'PONG' },
        err("ERR Protocol error: expected '$', got 'x'"),
      ]);
      assert.deepEqual(c.events, ['pause', 'end'], 'reads nothing more, ends after the error');
    });

    test('QUIT answers OK and ends; commands pipelined after it are not run', async () => {
      const c = new DrivenConnection();
      c.send(Buffer.concat([command('SET', 'a', '1'), command('QUIT'), command('SET', 'b', '1')]));
      await c.closed();
      assert.deepEqual(c.replies(), [OK, OK]);
      assert.deepEqual(c.api.requests.map(keyOf), ['a']);
    });

    for (const request of [
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /x HTTP/1.0\r\n',
      'Host: example.com\r\n',
    ]) {
      test(`an HTTP request is a cross-protocol attack: closed without a reply (${JSON.stringify(request.slice(0, 14))})`, async () => {
        const c = new DrivenConnection();
        c.send(request);
        await c.closed();
        assert.equal(c.output.length, 0);
        assert.deepEqual(c.events, ['abort:http']);
        assert.equal(c.api.requests.length, 0);
      });
    }

    test('shutdown answers the commands already taken, then ends', async () => {
      const c = new DrivenConnection();
      c.api.hold = () => true;
      c.send(command('GET', 'a'));
      await c.api.heldCount(1);
      c.connection.shutdown();
      c.send(command('PING'));
      c.api.held[0].release();
      await c.closed();
      assert.deepEqual(c.replies(), [null]);
    });
  });

  describe('cluster errors', () => {
    const definite: KvError = {
      code: 'QUORUM_UNAVAILABLE',
      definite: true,
      message: '1 of 2 replicas alive',
    };
    const indefinite: KvError = {
      code: 'TIMEOUT',
      definite: false,
      message: '1 of 2 acknowledgements before the deadline',
    };

    test('definite errors are TRYAGAIN: the command did not take effect', async () => {
      const c = new DrivenConnection();
      c.api.failWith = () => definite;
      assert.deepEqual(
        await c.one('SET', 'a', '1'),
        err('TRYAGAIN QUORUM_UNAVAILABLE 1 of 2 replicas alive (definite: the command did not take effect)'),
      );
    });

    test('indefinite write errors are INDEFINITE: the command may have taken effect', async () => {
      const c = new DrivenConnection();
      c.api.failWith = () => indefinite;
      assert.deepEqual(
        await c.call(['SET', 'a', '1'], ['INCR', 'n']),
        Array(2).fill(
          err(
            'INDEFINITE TIMEOUT 1 of 2 acknowledgements before the deadline (indefinite: the command may have taken effect)',
          ),
        ),
      );
    });

    test('a read that times out is safe to retry: TRYAGAIN', async () => {
      const c = new DrivenConnection();
      c.api.failWith = () => indefinite;
      assert.deepEqual(
        await c.one('GET', 'a'),
        err(
          'TRYAGAIN TIMEOUT 1 of 2 acknowledgements before the deadline (definite: a read changes nothing)',
        ),
      );
    });

    test('an MSET that partly failed is INDEFINITE; one that wholly failed definitely is TRYAGAIN', async () => {
      const c = new DrivenConnection();
      c.api.failWith = (req) => (keyOf(req) === 'b' ? definite : null);
      assert.deepEqual(
        await c.one('MSET', 'a', '1', 'b', '2'),
        err(
          'INDEFINITE QUORUM_UNAVAILABLE 1 of 2 keys failed, first: 1 of 2 replicas alive (indefinite: the command may have taken effect for some keys)',
        ),
      );
      c.api.failWith = () => definite;
      assert.deepEqual(
        await c.one('MSET', 'a', '1', 'b', '2'),
        err('TRYAGAIN QUORUM_UNAVAILABLE 1 of 2 replicas alive (definite: the command did not take effect)'),
      );
    });

    test('a message with non-ASCII text reaches the client as UTF-8', async () => {
      const c = new DrivenConnection();
      const message = 'no reachable replica has seen this session’s writes yet';
      c.api.failWith = () => ({ code: 'QUORUM_UNAVAILABLE', definite: true, message });
      const reply = (await c.one('GET', 'a')) as { error: string };
      assert.ok(Buffer.from(reply.error, 'latin1').toString('utf8').includes(message));
    });

    test('a node that throws is an internal error, and the connection carries on', async () => {
      const api = new FakeApi();
      api.request = () => Promise.reject(new Error('boom'));
      const c = new DrivenConnection({}, api);
      assert.deepEqual(await c.call(['GET', 'a'], ['PING']), [
        err('ERR internal error: boom'),
        { simple: 'PONG' },
      ]);
    });
  });

  describe('what clients and tools ask on connect', () => {
    test('HELLO switches to RESP3 (its own reply included) and back; HELLO 4 is NOPROTO', async () => {
      const c = new DrivenConnection();
      const [hello3, get3] = await c.call(['HELLO', '3'], ['GET', 'none']);
      assert.deepEqual(hello3, {
        map: [
          ['server', 'redis'],
          ['version', '7.2.0'],
          ['proto', 3],
          ['id', 7],
          ['mode', 'standalone'],
          ['role', 'master'],
          ['modules', []],
        ],
      });
      assert.equal(get3, null);
      assert.ok(c.output.toString('latin1').endsWith('_\r\n'), 'RESP3 null');
      const [hello2] = await c.call(['HELLO', '2']);
      assert.ok(Array.isArray(hello2) && hello2.length === 14, 'RESP2: a flat array');
      const [noproto, notInteger, withOptions, name, bogus] = await c.call(
        ['HELLO', '4'],
        ['HELLO', 'x'],
        ['HELLO', '3', 'AUTH', 'default', 'pw', 'SETNAME', 'me'],
        ['CLIENT', 'GETNAME'],
        ['HELLO', '3', 'BOGUS'],
      );
      assert.deepEqual(noproto, err('NOPROTO unsupported protocol version'));
      assert.deepEqual(notInteger, err('ERR Protocol version is not an integer or out of range'));
      assert.ok(withOptions !== null && typeof withOptions === 'object' && 'map' in withOptions);
      assert.equal(name, 'me');
      assert.deepEqual(bogus, err("ERR Syntax error in HELLO option 'BOGUS'"));
    });

    test('CLIENT SETINFO / SETNAME / GETNAME / ID, and AUTH without passwords', async () => {
      const c = new DrivenConnection();
      assert.deepEqual(
        await c.call(
          ['CLIENT', 'SETINFO', 'LIB-NAME', 'ioredis'],
          ['CLIENT', 'SETINFO', 'lib-ver', '5'],
          ['CLIENT', 'SETNAME', 'worker'],
          ['CLIENT', 'GETNAME'],
          ['CLIENT', 'ID'],
          ['CLIENT', 'SETNAME', 'a b'],
          ['CLIENT', 'MAINT_NOTIFICATIONS', 'ON'],
          ['AUTH', 'secret'],
          ['AUTH', 'default', 'anything'],
          ['AUTH', 'alice', 'pw'],
        ),
        [
          OK,
          OK,
          OK,
          'worker',
          7,
          err('ERR Client names cannot contain spaces, newlines or special characters.'),
          err("ERR unknown subcommand 'MAINT_NOTIFICATIONS'. Try CLIENT HELP."),
          err(
            'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
          ),
          OK,
          err('WRONGPASS invalid username-password pair or user is disabled.'),
        ],
      );
    });

    test('CONFIG GET answers name/value pairs and matches globs (redis-benchmark asks for save and appendonly)', async () => {
      const c = new DrivenConnection();
      assert.deepEqual(
        await c.call(
          ['CONFIG', 'GET', 'save'],
          ['CONFIG', 'GET', 'appendonly'],
          ['CONFIG', 'get', 'max*'],
          ['CONFIG', 'GET', 'nothing'],
          ['CONFIG', 'GET', 'SAVE', 's?ve'],
        ),
        [['save', ''], ['appendonly', 'yes'], ['maxclients', '10000'], [], ['save', '']],
      );
    });

    test('COMMAND, COMMAND COUNT / DOCS / INFO / LIST describe the supported commands', async () => {
      const c = new DrivenConnection();
      const [all, count, docs, info, list, bad] = await c.call(
        ['COMMAND'],
        ['COMMAND', 'COUNT'],
        ['COMMAND', 'DOCS'],
        ['COMMAND', 'INFO', 'get', 'nope'],
        ['COMMAND', 'LIST'],
        ['COMMAND', 'FOO'],
      );
      assert.ok(Array.isArray(all) && all.length === count);
      assert.ok(
        Array.isArray(docs) && docs.length === 2 * (count as number),
        'COMMAND DOCS documents every command (name, docs pairs in RESP2)',
      );
      assert.deepEqual(info, [
        ['get', 2, [{ simple: 'readonly' }, { simple: 'fast' }], 1, 1, 1, [], [], [], []],
        null,
      ]);
      assert.ok(Array.isArray(list) && list.includes('consistency') && list.length === count);
      assert.deepEqual(bad, err("ERR unknown subcommand 'FOO'. Try COMMAND HELP."));
    });

    test('INFO reports a Redis version, loading:0 and the node', async () => {
      const c = new DrivenConnection();
      const [all, server] = (await c.call(['INFO'], ['INFO', 'server'])) as string[];
      assert.match(all, /^# Server\r\nredis_version:7\.2\.0\r\n/);
      assert.match(all, /\r\nloading:0\r\n/);
      assert.match(all, /\r\nnode_id:fake-node\r\n/);
      for (const section of [
        'Server',
        'Clients',
        'Memory',
        'Stats',
        'Keyspace',
        'Ring',
        'Members',
        'Hints',
        'Arpeggio',
      ]) {
        assert.ok(all.includes(`# ${section}\r\n`), `INFO has a ${section} section`);
      }
      assert.ok(!server.includes('# Clients'));
    });

    test('ARPEGGIO.STATUS returns the node status as one JSON bulk string, even before the node is ready', async () => {
      const api = new FakeApi();
      api.ready = false;
      const c = new DrivenConnection({}, api);
      const [status, extra] = (await c.call(['arpeggio.status'], ['ARPEGGIO.STATUS', 'x'])) as [
        string,
        unknown,
      ];
      assert.deepEqual(JSON.parse(status), { id: 'fake-node', ready: false }, 'what api.status() returned');
      assert.deepEqual(extra, err("ERR wrong number of arguments for 'arpeggio.status' command"));
    });
  });

  describe('passwords (AUTH)', () => {
    const locked = () =>
      new DrivenConnection({}, new FakeApi(), undefined, { ...facts, password: () => 'sesame' });

    test('before AUTH only AUTH, HELLO, PING and QUIT run; the rest is NOAUTH and reaches no node', async () => {
      const c = locked();
      assert.deepEqual(await c.call(['GET', 'k'], ['SET', 'k', 'v'], ['PING'], ['NOPE'], ['GET']), [
        err('NOAUTH Authentication required.'),
        err('NOAUTH Authentication required.'),
        { simple: 'PONG' },
        err("ERR unknown command 'NOPE', with args beginning with: "),
        err("ERR wrong number of arguments for 'get' command"),
      ]);
      assert.equal(c.api.requests.length, 0, 'nothing reached the node');
    });

    test('a wrong password is WRONGPASS; the right one (AUTH or HELLO AUTH) opens the connection', async () => {
      const c = locked();
      assert.deepEqual(
        await c.call(['AUTH', 'nope'], ['AUTH', 'other', 'sesame'], ['AUTH', 'sesame'], ['GET', 'k']),
        [
          err('WRONGPASS invalid username-password pair or user is disabled.'),
          err('WRONGPASS invalid username-password pair or user is disabled.'),
          OK,
          null,
        ],
      );
      const h = locked();
      const [hello] = await h.call(['HELLO', '2', 'AUTH', 'default', 'sesame']);
      assert.ok(Array.isArray(hello), 'HELLO with the password answers the handshake');
      assert.deepEqual(await h.call(['GET', 'k']), [null]);
    });

    test('before AUTH, more than 10 arguments is a protocol error that closes the connection', async () => {
      const c = locked();
      c.send(command('MGET', ...Array.from({ length: 10 }, (_, i) => `k${i}`)));
      await c.closed();
      assert.deepEqual(c.replies(), [err('ERR Protocol error: unauthenticated multibulk length')]);
    });
  });
});
