/**
 * The same command script against a real redis-server and against Arpeggio's RESP server over a
 * real node (one NodeHost, LMDB in a temp directory): the raw reply bytes must be identical for
 * every step, except the documented differences below (also in docs/REDIS-COMPATIBILITY.md).
 *
 * Each step names how its replies are compared:
 * - `bytes` (default): byte for byte;
 * - `sorted`: the same array elements in any order (KEYS and SCAN list keys in their store's
 *   order: Redis's hash table, Arpeggio's ring);
 * - `kind`: the same reply type (first byte) — for replies that carry ids, versions or times;
 * - `differs`: a documented difference; Arpeggio's reply must be `arpeggio` exactly.
 *
 * Needs /usr/bin/redis-server (Debian's `redis-server` package; CI installs it). Without it the
 * test fails and says what to install: a comparison that did not run must not pass.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createRespServer, type RespServer } from '../../../src/frontends/resp/server.js';
import { NodeHost } from '../../../src/runtime/node-host.js';
import { FAST_KV, freePort, SECRET, tempDir } from '../../runtime/helpers.js';
import { command, decodeReplies, RawClient } from './helpers.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const PASSWORD = 'differential-secret';

interface Step {
  cmd: string[];
  mode?: 'bytes' | 'sorted' | 'kind' | 'differs';
  /** For `differs`: Arpeggio's exact reply, and why it is not Redis's. */
  arpeggio?: string;
  why?: string;
}

const s = (...cmd: string[]): Step => ({ cmd });
const sorted = (...cmd: string[]): Step => ({ cmd, mode: 'sorted' });
const kind = (...cmd: string[]): Step => ({ cmd, mode: 'kind' });

/**
 * The differences that remain, one row each: the command, Arpeggio's reply, and why. The same
 * table is in docs/REDIS-COMPATIBILITY.md.
 */
export const DOCUMENTED_DIFFERENCES: Step[] = [
  {
    cmd: ['SELECT', '1'],
    mode: 'differs',
    arpeggio: '-ERR DB index is out of range\r\n',
    why: 'one keyspace: only database 0 exists',
  },
  {
    cmd: ['INCRBYFLOAT', 'f', '2.0e2'],
    mode: 'differs',
    arpeggio: '$5\r\n205.6\r\n',
    why: 'floats are doubles printed with the shortest exact digits; Redis uses a long double (205.60000000000000001)',
  },
  {
    cmd: ['INCR', 'big'],
    mode: 'differs',
    arpeggio: '-ERR value is not an integer or out of range\r\n',
    why: 'integers are exact JS numbers (±2^53−1), not 64-bit: 9223372036854775807 is out of range',
  },
  {
    cmd: ['CONFIG', 'GET', 'appendonly'],
    mode: 'differs',
    arpeggio: '*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n',
    why: 'every write is persisted before it is acknowledged (LMDB): appendonly is always yes',
  },
  {
    cmd: ['CONSISTENCY'],
    mode: 'differs',
    arpeggio: '+quorum\r\n',
    why: 'CONSISTENCY is Arpeggio’s own command (Redis: unknown command)',
  },
  {
    cmd: ['COMMAND', 'COUNT'],
    mode: 'kind',
    why: 'Arpeggio supports a subset of the commands',
  },
  {
    cmd: ['CLIENT', 'ID'],
    mode: 'kind',
    why: 'client ids count each server’s own connections',
  },
];

/** The script: every supported command, with its error cases. Run on a fresh keyspace. */
const SCRIPT: Step[] = [
  // connection
  s('PING'),
  s('PING', 'hi'),
  s('PING', 'a', 'b'),
  s('ECHO', 'x'),
  s('ECHO'),
  s('SELECT', '0'),
  s('SELECT', 'x'),
  s('FOOBAR', 'a', 'b'),
  s('AUTH', 'pw'),
  s('AUTH', 'default', 'pw'),
  s('AUTH', 'someone', 'pw'),
  s('AUTH', 'a', 'b', 'c'),
  s('HELLO', '4'),
  s('HELLO', 'x'),
  s('HELLO', '2', 'FOO'),
  s('CLIENT', 'SETNAME', 'a b'),
  s('CLIENT', 'SETNAME', 'me'),
  s('CLIENT', 'GETNAME'),
  s('CLIENT', 'FOO'),
  s('CLIENT', 'SETNAME'),
  s('CONFIG', 'GET', 'maxmemory'),
  s('CONFIG', 'GET', 'save'),
  s('CONFIG', 'GET'),
  // SET and its options
  s('SET', 'k', 'v'),
  s('GET', 'k'),
  s('GET', 'missing'),
  s('GET'),
  s('SET', 'k'),
  s('SET', 'k', 'v2', 'NX'),
  s('SET', 'k', 'v2', 'XX'),
  s('SET', 'nokey', 'v', 'XX'),
  s('SET', 'k', 'v3', 'GET'),
  s('SET', 'k', 'v', 'NX', 'XX'),
  s('SET', 'k', 'v', 'EX', '0'),
  s('SET', 'k', 'v', 'PX', '-5'),
  s('SET', 'k', 'v', 'EX', 'x'),
  s('SET', 'k', 'v', 'EX', '99999999999999999'),
  s('SET', 'k', 'v', 'EX', '1', 'PX', '1'),
  s('SET', 'k', 'v', 'KEEPTTL', 'EX', '1'),
  s('SET', 'k', 'v', 'FOO'),
  s('SET', 'k', 'v', 'EX', '100'),
  s('TTL', 'k'),
  s('SET', 'k', 'v', 'KEEPTTL'),
  s('TTL', 'k'),
  s('SET', 'k', 'v', 'XX', 'GET', 'PX', '100000'),
  s('TTL', 'k'),
  s('SET', 'k', 'v', 'EXAT', '99999999999'),
  s('SET', 'gone', 'v', 'PXAT', '1'),
  s('GET', 'gone'),
  // GETSET, GETDEL, GETEX
  s('GETSET', 'gs', 'a'),
  s('GETSET', 'gs', 'b'),
  s('GETSET', 'gs'),
  s('GETDEL', 'gs'),
  s('GETDEL', 'gs'),
  s('SET', 'ge', 'v'),
  s('GETEX', 'ge'),
  s('GETEX', 'ge', 'EX', '100'),
  s('TTL', 'ge'),
  s('GETEX', 'ge', 'PERSIST'),
  s('TTL', 'ge'),
  s('GETEX', 'ge', 'EX', '0'),
  s('GETEX', 'ge', 'EX', '1', 'PX', '1'),
  s('GETEX', 'ge', 'PERSIST', 'EX', '1'),
  s('GETEX', 'ge', 'FOO'),
  s('GETEX', 'nokey', 'EX', '10'),
  s('GETEX', 'ge', 'PXAT', '1'),
  s('GET', 'ge'),
  s('GETEX'),
  // SETNX, SETEX, PSETEX
  s('SETNX', 'sn', 'a'),
  s('SETNX', 'sn', 'b'),
  s('GET', 'sn'),
  s('SETEX', 'se', '100', 'v'),
  s('TTL', 'se'),
  s('SETEX', 'se', '0', 'v'),
  s('SETEX', 'se', 'x', 'v'),
  s('SETEX', 'se', '-1', 'v'),
  s('SETEX', 'se', '1'),
  s('PSETEX', 'pe', '100000', 'v'),
  s('TTL', 'pe'),
  s('PSETEX', 'pe', '0', 'v'),
  // APPEND, STRLEN, GETRANGE, SETRANGE
  s('APPEND', 'ap', 'hello'),
  s('APPEND', 'ap', ' world'),
  s('GET', 'ap'),
  s('STRLEN', 'ap'),
  s('STRLEN', 'nokey'),
  s('GETRANGE', 'ap', '0', '4'),
  s('GETRANGE', 'ap', '-5', '-1'),
  s('GETRANGE', 'ap', '5', '1'),
  s('GETRANGE', 'ap', '0', '100'),
  s('GETRANGE', 'ap', '-1', '-5'),
  s('GETRANGE', 'ap', '-100', '2'),
  s('GETRANGE', 'nokey', '0', '1'),
  s('GETRANGE', 'ap', 'x', '1'),
  s('SUBSTR', 'ap', '0', '2'),
  s('SETRANGE', 'sr', '5', 'hi'),
  s('GET', 'sr'),
  s('SETRANGE', 'sr', '0', 'HE'),
  s('GET', 'sr'),
  s('SETRANGE', 'sr', '-1', 'x'),
  s('SETRANGE', 'sr', 'x', 'x'),
  s('SETRANGE', 'nokey2', '0', ''),
  s('EXISTS', 'nokey2'),
  s('SETRANGE', 'sr', '3', ''),
  s('SETRANGE', 'sr', '536870911', 'xx'),
  // integers and floats
  s('SET', 'i', '10'),
  s('INCR', 'i'),
  s('INCRBY', 'i', '5'),
  s('DECR', 'i'),
  s('DECRBY', 'i', '3'),
  s('INCRBY', 'i', 'x'),
  s('INCRBY', 'i', '1.5'),
  s('INCR', 'ap'),
  s('INCR', 'fresh'),
  s('DECR', 'fresh2'),
  s('SET', 'big', '9223372036854775807'),
  s('INCRBY', 'i', '99999999999999999999'),
  s('SET', 'f', '10.5'),
  s('INCRBYFLOAT', 'f', '0.1'),
  s('INCRBYFLOAT', 'f', '-5'),
  s('INCRBYFLOAT', 'f', 'x'),
  s('INCRBYFLOAT', 'ap', '1'),
  s('INCRBYFLOAT', 'nf', '3'),
  s('INCRBYFLOAT', 'i', '1.5'),
  // several keys
  s('MSET', 'a', '1', 'b', '2'),
  s('MGET', 'a', 'b', 'nokey'),
  s('MSET', 'a'),
  s('MSET', 'a', '1', 'b'),
  s('MSETNX', 'a', '1', 'c', '3'),
  s('MSETNX', 'c', '3', 'd', '4'),
  s('MGET', 'c', 'd'),
  s('MSETNX', 'c'),
  s('EXISTS', 'a', 'a', 'nokey'),
  s('DEL', 'a', 'nokey'),
  s('UNLINK', 'b', 'c', 'd'),
  s('DEL'),
  s('UNLINK'),
  // expiry
  s('SET', 'e', 'v'),
  s('TTL', 'e'),
  s('PTTL', 'e'),
  s('EXPIRE', 'e', '100'),
  s('TTL', 'e'),
  s('EXPIRE', 'e', '100', 'NX'),
  s('EXPIRE', 'e', '200', 'XX'),
  s('EXPIRE', 'e', '50', 'GT'),
  s('EXPIRE', 'e', '500', 'GT'),
  s('EXPIRE', 'e', '10', 'LT'),
  s('TTL', 'e'),
  s('EXPIRE', 'e', '10', 'NX', 'XX'),
  s('EXPIRE', 'e', '10', 'GT', 'LT'),
  s('EXPIRE', 'e', '10', 'FOO'),
  s('EXPIRE', 'e', 'x'),
  s('EXPIRE', 'e'),
  s('EXPIRE', 'nokey', '10'),
  s('EXPIRE', 'e', '99999999999999999'),
  s('PERSIST', 'e'),
  s('PERSIST', 'e'),
  s('PERSIST', 'nokey'),
  s('TTL', 'e'),
  s('EXPIRE', 'e', '10', 'XX'),
  s('EXPIRE', 'e', '10', 'GT'),
  s('EXPIRE', 'e', '10', 'LT'),
  s('PEXPIRE', 'e', '100000'),
  s('TTL', 'e'),
  s('EXPIREAT', 'e', '99999999999'),
  s('PEXPIREAT', 'e', '1'),
  s('EXISTS', 'e'),
  s('TTL', 'nokey'),
  s('PTTL', 'nokey'),
  s('SET', 'e2', 'v'),
  s('EXPIRE', 'e2', '-1'),
  s('GET', 'e2'),
  // types and the keyspace
  s('TYPE', 'k'),
  s('TYPE', 'nokey'),
  s('TYPE'),
  s('DBSIZE'),
  s('DBSIZE', 'x'),
  sorted('KEYS', '*'),
  sorted('KEYS', '?'),
  sorted('KEYS', '[a-f]*'),
  sorted('KEYS', '*[^e]'),
  sorted('KEYS', 's\\r'),
  s('KEYS', 'nothing*'),
  s('KEYS'),
  sorted('SCAN', '0', 'COUNT', '1000'),
  sorted('SCAN', '0', 'MATCH', 's*', 'COUNT', '1000'),
  sorted('SCAN', '0', 'COUNT', '1000', 'TYPE', 'string'),
  s('SCAN', '0', 'COUNT', '1000', 'TYPE', 'hash'),
  s('SCAN', 'x'),
  s('SCAN', '0', 'COUNT', '0'),
  s('SCAN', '0', 'COUNT', 'x'),
  s('SCAN', '0', 'FOO', '1'),
  s('SCAN', '0', 'COUNT'),
  // introspection
  kind('INFO'),
  kind('INFO', 'keyspace'),
  kind('COMMAND', 'INFO', 'get'),
  kind('CLIENT', 'INFO'),
  ...DOCUMENTED_DIFFERENCES,
  s('SELECT', '0'),
  kind('HELLO', '3'),
  // RESP3 from here on
  s('GET', 'nokey'),
  s('MGET', 'k', 'nokey'),
  s('SET', 'nokey', 'v', 'XX', 'GET'),
  s('CONFIG', 'GET', 'maxmemory'),
  kind('TTL', 'k'),
  s('EXISTS', 'k'),
  s('QUIT'),
];

/** Runs `steps` one at a time on a fresh connection; each reply's raw bytes. */
async function run(port: number, steps: Step[]): Promise<Buffer[]> {
  const client = await RawClient.connect(port);
  const out: Buffer[] = [];
  let used = 0;
  try {
    for (const step of steps) {
      client.write(command(...step.cmd));
      for (;;) {
        const bytes = client.received;
        const { replies, used: end } = decodeReplies(bytes);
        if (replies.length > out.length) {
          // decodeReplies reports the end of the last complete reply; one command, one reply.
          out.push(Buffer.from(bytes.subarray(used, end)));
          used = end;
          break;
        }
        await client.bytes(client.receivedBytes + 1);
      }
    }
  } finally {
    client.close();
  }
  return out;
}

/** The elements of an array reply (SCAN: cursor and keys), sorted, for order-free comparison. */
function elements(reply: Buffer): string[] {
  const [decoded] = decodeReplies(reply).replies;
  const flat = (r: unknown): string[] => (Array.isArray(r) ? r.flatMap(flat) : [JSON.stringify(r)]);
  return flat(decoded).sort();
}

const show = (b: Buffer) => JSON.stringify(b.toString('latin1'));

function compare(steps: Step[], redis: Buffer[], arpeggio: Buffer[]): string[] {
  const problems: string[] = [];
  steps.forEach((step, i) => {
    const mode = step.mode ?? 'bytes';
    const r = redis[i];
    const a = arpeggio[i];
    const what = `${i}: ${step.cmd.join(' ')}`;
    if (mode === 'bytes' && !r.equals(a))
      problems.push(`${what}\n  redis    ${show(r)}\n  arpeggio ${show(a)}`);
    if (mode === 'sorted' && JSON.stringify(elements(r)) !== JSON.stringify(elements(a))) {
      problems.push(`${what} (any order)\n  redis    ${show(r)}\n  arpeggio ${show(a)}`);
    }
    if (mode === 'kind' && r[0] !== a[0])
      problems.push(`${what} (reply type)\n  redis    ${show(r)}\n  arpeggio ${show(a)}`);
    if (mode === 'differs' && a.toString('latin1') !== step.arpeggio) {
      problems.push(
        `${what} (documented difference)\n  expected ${JSON.stringify(step.arpeggio)}\n  arpeggio ${show(a)}`,
      );
    }
  });
  return problems;
}

/** Starts redis-server on a free port; resolves once it accepts connections. */
async function startRedis(dir: string, extra: string[] = []): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let log = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${log}`)));
  });
  return { port, child };
}

const haveRedis = existsSync(REDIS_SERVER);

test('the reference redis-server is installed', () => {
  assert.ok(haveRedis, `${REDIS_SERVER} is not installed (apt-get install redis-server)`);
});

describe('differential: the same script against redis-server and Arpeggio', {
  skip: !haveRedis,
  timeout: 60_000,
}, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: NodeHost;
  const redis: ChildProcess[] = [];
  const servers: RespServer[] = [];

  before(async () => {
    dir = await tempDir('arpeggio-differential-');
    host = await NodeHost.start({
      dataDir: dir.path,
      secret: SECRET,
      durability: 'relaxed',
      kvConfig: { ...FAST_KV, replicaCount: 1, readQuorum: 1, writeQuorum: 1 },
      onFatal: (e) => assert.fail(`unexpected fatal error: ${e.message}`),
    });
    await host.whenReady(5000);
  });

  after(async () => {
    for (const server of servers) await server.close();
    for (const child of redis) child.kill();
    await host.close();
    await dir.remove();
  });

  async function pair(
    options: { password?: string } = {},
  ): Promise<{ redisPort: number; arpeggioPort: number }> {
    const r = await startRedis(dir.path, options.password ? ['--requirepass', options.password] : []);
    redis.push(r.child);
    const server = createRespServer(host, { password: options.password });
    servers.push(server);
    const { port } = await server.listen(0);
    return { redisPort: r.port, arpeggioPort: port };
  }

  test('every supported command, its errors included, answers byte for byte as Redis does (documented differences apart)', async () => {
    const { redisPort, arpeggioPort } = await pair();
    const [fromRedis, fromArpeggio] = await Promise.all([run(redisPort, SCRIPT), run(arpeggioPort, SCRIPT)]);
    const problems = compare(SCRIPT, fromRedis, fromArpeggio);
    assert.deepEqual(problems, [], `replies that differ from Redis's:\n${problems.join('\n')}`);
  });

  test('with a password, only AUTH, HELLO and QUIT work before AUTH, as in Redis; PING is the documented exception', async () => {
    const { redisPort, arpeggioPort } = await pair({ password: PASSWORD });
    const steps: Step[] = [
      s('GET', 'k'),
      s('SET', 'k', 'v'),
      s('FOOBAR'),
      s('GET'),
      s('AUTH', 'wrong'),
      s('AUTH', 'default', 'wrong'),
      s('HELLO', '3'),
      s('HELLO', '2', 'AUTH', 'default', 'wrong'),
      {
        cmd: ['PING'],
        mode: 'differs',
        arpeggio: '+PONG\r\n',
        why: 'PING answers before AUTH (health checks)',
      },
      s('AUTH', PASSWORD),
      s('GET', 'nokey'),
      s('AUTH', 'default', PASSWORD),
    ];
    const [fromRedis, fromArpeggio] = await Promise.all([run(redisPort, steps), run(arpeggioPort, steps)]);
    const problems = compare(steps, fromRedis, fromArpeggio);
    assert.deepEqual(problems, [], `replies that differ from Redis's:\n${problems.join('\n')}`);
  });

  test('before AUTH a request of more than 10 arguments or a 16 KiB argument is a protocol error, as in Redis', async () => {
    const { redisPort, arpeggioPort } = await pair({ password: PASSWORD });
    const many = command('MGET', ...Array.from({ length: 10 }, (_, i) => `k${i}`));
    const large = command('AUTH', 'x'.repeat(16385));
    for (const request of [many, large]) {
      const answers: string[] = [];
      for (const port of [redisPort, arpeggioPort]) {
        const client = await RawClient.connect(port);
        client.write(request);
        await client.closed();
        answers.push(client.received.toString('latin1'));
      }
      assert.equal(answers[1], answers[0], 'the same error, then the connection is closed');
    }
  });
});

/** A docs reply decoded from RESP2 (maps are flat arrays) into the shape of its arguments. */
function argumentShape(doc: unknown): unknown {
  const asObject = (flat: unknown): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const items = flat as unknown[];
    for (let i = 0; i + 1 < items.length; i += 2) out[String(items[i])] = items[i + 1];
    return out;
  };
  const arg = (flat: unknown): unknown => {
    const a = asObject(flat);
    const flags = ((a.flags as { simple: string }[] | undefined) ?? [])
      .map((f) => f.simple)
      .filter((f) => f === 'optional' || f === 'multiple');
    const nested = a.arguments as unknown[] | undefined;
    return {
      ...(nested ? {} : { name: a.name }),
      type: a.type,
      ...(a.token ? { token: String(a.token).toUpperCase() } : {}),
      ...(flags.length > 0 ? { flags } : {}),
      ...(nested ? { arguments: nested.map(arg) } : {}),
    };
  };
  return ((asObject(doc).arguments as unknown[] | undefined) ?? []).map(arg);
}

describe('COMMAND DOCS', { skip: !haveRedis }, () => {
  test("describes each supported Redis command's arguments as redis-server does (names of leaves, types, tokens, flags)", async (t) => {
    const dir = await tempDir('arpeggio-docs-');
    const r = await startRedis(dir.path);
    const server = createRespServer({
      nodeId: 'docs',
      status: () => ({}),
      request: async () => ({ ok: true }),
    });
    const { port } = await server.listen(0);
    t.after(async () => {
      r.child.kill();
      await server.close();
      await dir.remove();
    });
    const names = [
      'get',
      'set',
      'getex',
      'getdel',
      'getset',
      'setnx',
      'setex',
      'psetex',
      'append',
      'strlen',
      'getrange',
      'setrange',
      'incr',
      'decr',
      'incrby',
      'decrby',
      'incrbyfloat',
      'mget',
      'mset',
      'msetnx',
      'del',
      'unlink',
      'exists',
      'expire',
      'pexpire',
      'expireat',
      'pexpireat',
      'ttl',
      'pttl',
      'persist',
      'type',
      'scan',
      'keys',
      'dbsize',
      'ping',
      'echo',
      'select',
      'quit',
    ];
    const steps = names.map((n) => s('COMMAND', 'DOCS', n));
    const [fromRedis, fromArpeggio] = await Promise.all([run(r.port, steps), run(port, steps)]);
    const problems: string[] = [];
    names.forEach((name, i) => {
      const [redisDoc] = decodeReplies(fromRedis[i]).replies as unknown[][];
      const [ourDoc] = decodeReplies(fromArpeggio[i]).replies as unknown[][];
      const expected = JSON.stringify(argumentShape(redisDoc[1]));
      const actual = JSON.stringify(argumentShape(ourDoc[1]));
      if (expected !== actual) problems.push(`${name}\n  redis    ${expected}\n  arpeggio ${actual}`);
    });
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
