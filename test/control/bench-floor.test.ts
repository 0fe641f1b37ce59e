/**
 * The benchmark's reference server (src/control/bench/floor-server.ts) as the benchmark runs it:
 * a real process on an OS-chosen port, driven by ioredis, a raw socket and redis-benchmark; with
 * `--aof`, a SET's reply arrives only once its bytes are in the log file. Also: its rows get
 * ratios and colours in the report like any peer's.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import {
  type BenchReport,
  type BenchRow,
  computeRatios,
  renderSvgChart,
} from '../../src/control/bench/report.js';

const SERVER = fileURLToPath(new URL('../../src/control/bench/floor-server.js', import.meta.url));

/** Servers still running: SIGKILLed by pid if the test process ends first. */
const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
});

interface Running {
  child: ChildProcess;
  pid: number;
  port: number;
  stderr: () => string;
  /** SIGTERM by pid; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** The compiled server as its own process on port 0; resolves with the port of its `listening` line. */
async function startServer(extra: readonly string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [SERVER, '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  assert.ok(pid !== undefined, 'the server process started');
  live.add(pid);
  let errText = '';
  child.stderr?.on('data', (b: Buffer) => {
    errText += b.toString();
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => String(l)),
    exited.then(([code]) => {
      throw new Error(`floor server exited (${code}) before listening: ${errText}`);
    }),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no listening line in 10 s')), 10_000).unref(),
    ),
  ]);
  const m = /^listening (\d+)$/.exec(first);
  assert.ok(m, `first line is "listening <port>": ${first}`);
  return {
    child,
    pid,
    port: Number(m[1]),
    stderr: () => errText,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGTERM');
      const [code] = await exited;
      live.delete(pid);
      return code;
    },
  };
}

/** An ioredis client speaking RESP2 without HELLO or CLIENT SETINFO (the server knows neither). */
function client(port: number): Redis {
  const c = new Redis({
    host: '127.0.0.1',
    port,
    protocol: 2,
    disableClientInfo: true,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
  });
  c.on('error', () => {
    // reported through the commands that fail
  });
  return c;
}

/** Sends raw bytes; resolves with everything received until the server closes the connection. */
function rawUntilClose(port: number, payload: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connection still open after ${timeoutMs} ms; received ${JSON.stringify(got)}`));
    }, timeoutMs);
    s.on('data', (b: Buffer) => {
      got += b.toString('latin1');
    });
    s.on('error', () => {
      // a reset after the reply counts as closed
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.write(payload);
  });
}

/** Sends raw bytes; resolves with what has arrived once it is `expectedLength` long. */
function rawExchange(port: number, payload: Buffer, expectedLength: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      if (got.length >= expectedLength) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(payload);
  });
}

const resp = (...args: string[]): string =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`;

describe('floor server without a log', () => {
  let server: Running;
  let redis: Redis;
  before(async () => {
    server = await startServer();
    redis = client(server.port);
  });
  after(async () => {
    redis?.disconnect();
    if (server) assert.equal(await server.stop(), 0, 'SIGTERM: exit 0');
  });

  test('SET then GET returns the value; a missing key is nil', async () => {
    assert.equal(await redis.set('greeting', 'hello'), 'OK');
    assert.equal(await redis.get('greeting'), 'hello');
    assert.equal(await redis.get('nobody'), null);
    const binary = Buffer.from([0, 255, 13, 10, 36, 42]);
    await redis.set('bin', binary);
    assert.deepEqual(await redis.getBuffer('bin'), binary, 'values are bytes, CRLF inside included');
  });

  test('pipelined SETs and GETs are answered in order', async () => {
    const p = redis.pipeline();
    for (let i = 0; i < 500; i++) {
      p.set(`k${i}`, `v${i}`);
      p.get(`k${i}`);
      p.get(`k${i - 1}`);
    }
    const results = await p.exec();
    assert.ok(results);
    for (let i = 0; i < 500; i++) {
      assert.deepEqual(results[3 * i], [null, 'OK']);
      assert.deepEqual(results[3 * i + 1], [null, `v${i}`]);
      assert.deepEqual(results[3 * i + 2], [null, i === 0 ? null : `v${i - 1}`]);
    }
  });

  test('CONFIG GET save is an empty array; PING is PONG; other commands are errors', async () => {
    assert.deepEqual(await redis.config('GET', 'save'), []);
    assert.equal(await redis.ping(), 'PONG');
    await assert.rejects(redis.call('DEL', 'greeting'), /unknown command/);
    assert.equal(await redis.get('greeting'), 'hello', 'the connection still works');
  });

  test('a split command waits for its last byte', async () => {
    const s = connect(server.port, '127.0.0.1');
    await once(s, 'connect');
    const bytes = resp('SET', 'split', 'x'.repeat(10_000)) + resp('GET', 'split');
    let got = '';
    s.on('data', (b: Buffer) => {
      got += b.toString('latin1');
    });
    for (let i = 0; i < bytes.length; i += 997) {
      s.write(bytes.slice(i, i + 997));
      await new Promise((r) => setImmediate(r));
    }
    const expected = `+OK\r\n$10000\r\n${'x'.repeat(10_000)}\r\n`;
    const deadline = Date.now() + 5000;
    while (got.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    s.destroy();
    assert.equal(got, expected);
  });

  test('an oversized bulk header gets a protocol error and the connection is closed', async () => {
    const got = await rawUntilClose(server.port, '*3\r\n$3\r\nSET\r\n$999999999999\r\n');
    assert.equal(got, '-ERR protocol error\r\n');
    const array = await rawUntilClose(server.port, '*99999999\r\n');
    assert.equal(array, '-ERR protocol error\r\n', 'an array longer than 1M elements too');
    assert.equal(await redis.ping(), 'PONG', 'other connections are unaffected');
  });

  test('inline commands are refused with an error reply', async () => {
    const got = await rawExchange(server.port, Buffer.from(`PING\r\n${resp('PING')}`), 45);
    assert.match(got, /^-ERR [^\r]*inline[^\r]*\r\n\+PONG\r\n$/);
  });

  test('redis-benchmark runs against it (SET and GET at non-zero rates)', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'redis-benchmark',
        ['-h', '127.0.0.1', '-p', String(server.port), '-t', 'set,get', '-n', '2000', '-c', '10', '-q'],
        { timeout: 60_000 },
        (error, stdout, stderr) => {
          if (error)
            reject(
              new Error(`redis-benchmark (installed by .ci/run, redis-tools): ${error.message}\n${stderr}`),
            );
          else resolve(stdout);
        },
      ),
    );
    for (const op of ['SET', 'GET']) {
      const m = new RegExp(`${op}: ([\\d.]+) requests per second`).exec(out);
      assert.ok(m, `a ${op} result line in ${JSON.stringify(out.slice(-300))}`);
      assert.ok(Number(m[1]) > 0, `${op} rps > 0`);
    }
  });
});

describe('floor server with --aof', () => {
  let dir: string;
  let file: string;
  let server: Running;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arpeggio-floor-'));
    file = join(dir, 'appendonly.aof');
    server = await startServer(['--aof', file]);
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0, `SIGTERM: exit 0 (${server.stderr()})`);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("a SET's reply arrives once its bytes are in the log", async () => {
    const set = resp('SET', 'durable', 'value-1');
    assert.equal(await rawExchange(server.port, Buffer.from(set), 5), '+OK\r\n');
    assert.ok((await readFile(file, 'latin1')).includes(set), 'the RESP command bytes are in the file');
  });

  test('many connections: every acknowledged SET is in the log, replies keep their order', async () => {
    const clients = Array.from({ length: 8 }, () => client(server.port));
    try {
      await Promise.all(
        clients.map(async (c, n) => {
          for (let round = 0; round < 5; round++) {
            const p = c.pipeline();
            for (let i = 0; i < 20; i++) {
              p.set(`c${n}:${round}:${i}`, `v${i}`);
              p.get(`c${n}:${round}:${i}`);
            }
            p.get('durable');
            const results = await p.exec();
            assert.ok(results);
            for (let i = 0; i < 20; i++) {
              assert.deepEqual(results[2 * i], [null, 'OK']);
              assert.deepEqual(results[2 * i + 1], [null, `v${i}`]);
            }
            assert.deepEqual(results[40], [null, 'value-1']);
            const log = await readFile(file, 'latin1');
            for (let i = 0; i < 20; i++) {
              const key = `c${n}:${round}:${i}`;
              assert.ok(log.includes(`$${key.length}\r\n${key}\r\n`), `${key} is logged once acknowledged`);
            }
          }
        }),
      );
      const log = await readFile(file, 'latin1');
      assert.equal(
        log.match(/\r\nset\r\n|\r\nSET\r\n/gi)?.length,
        1 + 8 * 5 * 20,
        'each SET once, nothing else',
      );
      assert.ok(!/\r\nget\r\n/i.test(log), 'GETs are not logged');
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});

describe('reference systems in the report', () => {
  const row = (system: string, opsPerSec: number): BenchRow => ({
    scenario: 'single-durable',
    system,
    op: 'set',
    pipeline: 16,
    nodes: 1,
    opsPerSec,
    p50Ms: 1,
    p99Ms: 4,
    p999Ms: null,
    cpuSecondsPer1kOps: 0.01,
    peakRssMiB: [50],
    runs: 1,
  });

  test('Arpeggio ÷ node-floor and ÷ node-aof are ratios like any peer, and each has its colour', () => {
    const rows = [row('arpeggio', 10_000), row('node-floor', 200_000), row('node-aof', 100_000)];
    const ratios = computeRatios(rows);
    assert.deepEqual(
      ratios.map((r) => [r.peer, r.throughput]),
      [
        ['node-floor', 0.05],
        ['node-aof', 0.1],
      ],
    );
    const report = { machine: { cpus: 2 }, rows, ratios } as unknown as BenchReport;
    const fills = [...renderSvgChart(report).matchAll(/fill="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(fills.length, 3);
    assert.equal(new Set(fills).size, 3, 'three systems, three colours (none falls back to grey)');
    assert.ok(!fills.includes('#888'));
  });
});
