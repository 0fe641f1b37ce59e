/**
 * The benchmark scenarios: each starts its systems on loopback, drives them with the same load,
 * and stops them. `BenchRun.abort()` stops everything at once (Ctrl-C, an error).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { LocalCluster } from '../local-cluster.js';
import { closedLoop } from './load.js';
import { runMicro } from './micro.js';
import { freePort, ProcessSet, run, sampleProcess, usageBetween, waitForPort, which } from './processes.js';
import {
  type BenchReport,
  type BenchRow,
  computeRatios,
  foldRuns,
  type MachineInfo,
  parseRedisBenchmarkCsv,
  type Scenario,
} from './report.js';

export interface BenchOptions {
  quick: boolean;
  scenarios: readonly Scenario[];
  /** Where servers keep their data and logs (removed at the end unless `keep`). */
  workDir: string;
  command: string;
  log: (line: string) => void;
  keep?: boolean;
  /**
   * Chord lookup cost with `nodes` nodes, from the simulator (the cli passes it in: control may
   * not import sim). Without it the scaling scenario reports no lookup cost.
   */
  chordLookupHops?: (nodes: number) => { meanHops: number; p99Hops: number; expectedHops: number };
}

/** The load of one redis-benchmark invocation. */
interface RedisLoad {
  requests: number;
  keyspace: number;
  valueBytes: number;
  clients: number;
  runs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Arpeggio's rows in single-durable and replicated: acknowledged after fdatasync, and after commit. */
const ARPEGGIO_DURABILITIES = [
  ['arpeggio', 'flush'],
  ['arpeggio-relaxed', 'relaxed'],
] as const;

/** The compiled reference server (floor-server.ts), next to this file in dist/. */
const FLOOR_SERVER = fileURLToPath(new URL('./floor-server.js', import.meta.url));

export class BenchRun {
  private readonly processes = new ProcessSet();
  private readonly clusters = new Set<LocalCluster>();
  private readonly rows: BenchRow[] = [];
  private readonly notes: string[] = [];
  private readonly load: RedisLoad;
  private redisBenchmark: string | null = null;

  constructor(private readonly options: BenchOptions) {
    this.load = options.quick
      ? { requests: 20_000, keyspace: 100_000, valueBytes: 100, clients: 50, runs: 1 }
      : { requests: 200_000, keyspace: 100_000, valueBytes: 100, clients: 50, runs: 3 };
  }

  async run(): Promise<BenchReport> {
    const machine = await machineInfo();
    mkdirSync(this.options.workDir, { recursive: true });
    this.redisBenchmark = await which('redis-benchmark');
    const steps: Record<Scenario, () => Promise<void>> = {
      'single-durable': () => this.singleDurable(),
      replicated: () => this.replicated(),
      linearizable: () => this.linearizable(),
      scaling: () => this.scaling(),
      micro: () => this.micro(),
    };
    try {
      for (const s of this.options.scenarios) {
        this.options.log(`scenario ${s}`);
        try {
          await steps[s]();
        } catch (e) {
          this.note(`${s}: failed: ${(e as Error).message.split('\n')[0]}`);
        } finally {
          await this.stopAll();
        }
      }
    } finally {
      await this.stopAll();
      if (!this.options.keep) rmSync(this.options.workDir, { recursive: true, force: true });
    }
    return {
      machine,
      command: this.options.command,
      rows: this.rows,
      ratios: computeRatios(this.rows),
      notes: this.notes,
    };
  }

  /** Stops every server at once and removes the work directory (for a signal handler: no waiting). */
  abortNow(): void {
    this.processes.killAllNow();
    for (const c of this.clusters) killCluster(c);
    if (!this.options.keep) rmSync(this.options.workDir, { recursive: true, force: true });
  }

  private note(line: string): void {
    this.notes.push(line);
    this.options.log(`note: ${line}`);
  }

  private async stopAll(): Promise<void> {
    for (const c of this.clusters) {
      try {
        await c.down(10_000);
      } catch {
        killCluster(c);
      }
    }
    this.clusters.clear();
    await this.processes.stop();
  }

  // ---- systems --------------------------------------------------------------------------------

  /**
   * A local Arpeggio cluster of `nodes` processes. `durability` `flush` (the default) acknowledges
   * after fdatasync; `relaxed` after the commit, synced within a second (the `arpeggio-relaxed`
   * rows: the like-for-like peer of Redis's `appendfsync everysec`).
   */
  private async arpeggio(
    nodes: number,
    name: string,
    durability: 'flush' | 'relaxed' = 'flush',
  ): Promise<{ ports: number[]; pids: number[] }> {
    let cluster: LocalCluster;
    try {
      ({ cluster } = await LocalCluster.up({
        dir: join(this.options.workDir, name),
        nodes,
        basePort: 0,
        logLevel: 'warn',
        durability,
      }));
    } catch (e) {
      // An OS-picked port can be taken between the pick and the listen on a busy machine: a
      // failed start leaves nothing behind, so try once more in a fresh directory.
      this.note(`arpeggio ${name}: start failed once (${(e as Error).message.split('\n')[0]}); retried`);
      ({ cluster } = await LocalCluster.up({
        dir: join(this.options.workDir, `${name}-retry`),
        nodes,
        basePort: 0,
        logLevel: 'warn',
        durability,
      }));
    }
    this.clusters.add(cluster);
    const members = cluster.members();
    const ports = members.map((n) => Number(n.resp.split(':').pop()));
    const pids = members.map((n) => cluster.pidOf(n)).filter((p): p is number => p !== null);
    return { ports, pids };
  }

  /**
   * One redis-server on a free port in its own directory, without snapshots; `extra` flags after
   * those. `portOffsets`: ports that must be free too, relative to the one chosen (a cluster
   * member's bus port, +10000).
   */
  private async redis(
    name: string,
    extra: readonly string[],
    portOffsets: readonly number[] = [],
  ): Promise<{ port: number; pid: number; dir: string }> {
    const port = await freePort(portOffsets);
    const dir = join(this.options.workDir, name);
    mkdirSync(dir, { recursive: true });
    const pid = this.processes.start(
      name,
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--save',
        '',
        ...extra,
      ],
      this.options.workDir,
    );
    await waitForPort(port);
    return { port, pid, dir };
  }

  /**
   * The reference server (floor-server.ts) as its own Node.js process on a free port: the most one
   * Node process does here with an in-memory Map (`aof` false) or with every SET in an
   * fdatasync'd append-only log before its reply (`aof` true, like Redis `appendfsync always`).
   */
  private async nodeFloor(name: string, aof: boolean): Promise<{ port: number; pid: number }> {
    const port = await freePort();
    const dir = join(this.options.workDir, name);
    mkdirSync(dir, { recursive: true });
    const pid = this.processes.start(
      name,
      process.execPath,
      [FLOOR_SERVER, '--port', String(port), ...(aof ? ['--aof', join(dir, 'appendonly.aof')] : [])],
      this.options.workDir,
    );
    await waitForPort(port);
    return { port, pid };
  }

  private async redisCluster(): Promise<{ ports: number[]; pids: number[] }> {
    const ports: number[] = [];
    const pids: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const name = `redis-cluster-${i}`;
      const member = await this.redis(
        name,
        [
          '--appendonly',
          'yes',
          '--appendfsync',
          'everysec',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(this.options.workDir, name, 'nodes.conf'),
          '--cluster-node-timeout',
          '5000',
        ],
        [10000],
      );
      ports.push(member.port);
      pids.push(member.pid);
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const infos = await Promise.all(
        ports.map((p) => run('redis-cli', ['-p', String(p), 'cluster', 'info']).catch(() => '')),
      );
      if (infos.every((i) => i.includes('cluster_state:ok'))) return { ports, pids };
      await sleep(200);
    }
    throw new Error('Redis Cluster did not reach cluster_state:ok in 30 s');
  }

  private async etcd(): Promise<{ clientPorts: number[]; pids: number[] }> {
    const names = ['e1', 'e2', 'e3'];
    const clientPorts: number[] = [];
    const peerPorts: number[] = [];
    for (const _ of names) {
      clientPorts.push(await freePort());
      peerPorts.push(await freePort());
    }
    const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${peerPorts[i]}`).join(',');
    const pids = names.map((n, i) =>
      this.processes.start(
        `etcd-${n}`,
        'etcd',
        [
          '--name',
          n,
          '--data-dir',
          join(this.options.workDir, `etcd-${n}`),
          '--listen-client-urls',
          `http://127.0.0.1:${clientPorts[i]}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${clientPorts[i]}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${peerPorts[i]}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${peerPorts[i]}`,
          '--initial-cluster',
          initialCluster,
          '--initial-cluster-state',
          'new',
          '--initial-cluster-token',
          `arpeggio-bench-${process.pid}`,
          '--log-level',
          'warn',
        ],
        this.options.workDir,
      ),
    );
    for (const p of clientPorts) await waitForPort(p);
    // Ready once a put succeeds through every member (a leader is elected and reachable).
    const deadline = Date.now() + 30_000;
    const agent = new Agent({ keepAlive: true });
    for (const p of clientPorts) {
      for (;;) {
        try {
          await etcdCall(agent, p, '/v3/kv/put', { key: b64('ready'), value: b64('1') });
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await sleep(200);
        }
      }
    }
    agent.destroy();
    return { clientPorts, pids };
  }

  // ---- redis-benchmark ------------------------------------------------------------------------

  /** One redis-benchmark test (`set` or `get`), `runs` times, against `port`; CPU from `pids`. */
  private async redisBench(
    base: Omit<
      BenchRow,
      | 'op'
      | 'pipeline'
      | 'opsPerSec'
      | 'p50Ms'
      | 'p99Ms'
      | 'p999Ms'
      | 'cpuSecondsPer1kOps'
      | 'peakRssMiB'
      | 'runs'
    >,
    op: 'set' | 'get',
    pipeline: number,
    port: number,
    pids: readonly number[],
    cluster = false,
  ): Promise<BenchRow> {
    if (this.redisBenchmark === null) throw new Error('redis-benchmark is not installed');
    // In --cluster mode redis-benchmark's elapsed time has a 250 ms resolution: at least
    // 100,000 requests keep that error under a few percent even at 100,000 ops/s.
    const l = cluster ? { ...this.load, requests: Math.max(this.load.requests, 100_000) } : this.load;
    const runs: BenchRow[] = [];
    for (let i = 0; i < l.runs; i++) {
      const before = pids.map(sampleProcess);
      const out = await run(this.redisBenchmark, [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-t',
        op,
        '-n',
        String(l.requests),
        '-r',
        String(l.keyspace),
        '-d',
        String(l.valueBytes),
        '-c',
        String(l.clients),
        '-P',
        String(pipeline),
        '--csv',
        ...(cluster ? ['--cluster'] : []),
      ]);
      const usage = usageBetween(before, pids.map(sampleProcess));
      const line = parseRedisBenchmarkCsv(out).find((x) => x.test.toLowerCase() === op);
      if (line === undefined)
        throw new Error(`no ${op} line in redis-benchmark output: ${out.slice(0, 200)}`);
      runs.push({
        ...base,
        op,
        pipeline,
        opsPerSec: line.rps,
        p50Ms: line.p50Ms,
        p99Ms: line.p99Ms,
        p999Ms: null,
        cpuSecondsPer1kOps: (usage.cpuSeconds / l.requests) * 1000,
        peakRssMiB: usage.peakRssMiB,
        runs: 1,
      });
    }
    const row = foldRuns(runs);
    this.options.log(
      `  ${row.scenario} ${row.system} ${op} P${pipeline}: ${Math.round(row.opsPerSec)} ops/s, p99 ${row.p99Ms ?? '–'} ms`,
    );
    this.rows.push(row);
    return row;
  }

  private async setGet(
    base: Omit<
      BenchRow,
      | 'op'
      | 'pipeline'
      | 'opsPerSec'
      | 'p50Ms'
      | 'p99Ms'
      | 'p999Ms'
      | 'cpuSecondsPer1kOps'
      | 'peakRssMiB'
      | 'runs'
    >,
    pipelines: readonly number[],
    port: number,
    pids: readonly number[],
    cluster = false,
  ): Promise<void> {
    for (const p of pipelines) {
      for (const op of ['set', 'get'] as const) {
        try {
          await this.redisBench(base, op, p, port, pids, cluster);
        } catch (e) {
          // One failed row (an error reply under overload, say) must not cost the others.
          const lines = (e as Error).message.split('\n').filter((l) => l.trim() !== '');
          this.note(
            `${base.scenario} ${base.system} ${op} P${p} (${base.nodes} nodes): failed: ${lines.at(-1) ?? ''}`,
          );
        }
      }
    }
  }

  // ---- scenarios ------------------------------------------------------------------------------

  private async singleDurable(): Promise<void> {
    const pipelines = [1, 16];
    for (const [system, durability] of ARPEGGIO_DURABILITIES) {
      const a = await this.arpeggio(1, `${system}-single`, durability);
      await this.setGet({ scenario: 'single-durable', system, nodes: 1 }, pipelines, a.ports[0], a.pids);
      await this.stopAll();
    }
    for (const [system, fsync] of [
      ['redis-always', 'always'],
      ['redis-everysec', 'everysec'],
    ] as const) {
      const r = await this.redis(system, ['--appendonly', 'yes', '--appendfsync', fsync]);
      await this.setGet({ scenario: 'single-durable', system, nodes: 1 }, pipelines, r.port, [r.pid]);
      await this.processes.stop([r.pid]);
    }
    // The ceiling of one Node.js process on this machine, without and with a durable log.
    for (const [system, aof] of [
      ['node-floor', false],
      ['node-aof', true],
    ] as const) {
      const f = await this.nodeFloor(system, aof);
      await this.setGet({ scenario: 'single-durable', system, nodes: 1 }, pipelines, f.port, [f.pid]);
      await this.processes.stop([f.pid]);
    }
  }

  private async replicated(): Promise<void> {
    // Redis Cluster runs with appendfsync everysec: arpeggio-relaxed is its like-for-like peer.
    for (const [system, durability] of ARPEGGIO_DURABILITIES) {
      const a = await this.arpeggio(3, `${system}-replicated`, durability);
      await this.setGet({ scenario: 'replicated', system, nodes: 3 }, [1, 16], a.ports[0], a.pids);
      await this.stopAll();
    }
    const rc = await this.redisCluster();
    await this.setGet(
      { scenario: 'replicated', system: 'redis-cluster', nodes: 6 },
      [1, 16],
      rc.ports[0],
      rc.pids,
      true,
    );
  }

  private async linearizable(): Promise<void> {
    const clients = 50;
    const durationMs = this.options.quick ? 5_000 : 15_000;
    const runs = this.options.quick ? 1 : 3;
    const value = 'x'.repeat(100);
    const keyspace = this.load.keyspace;
    const randomKey = () => `key:${Math.floor(Math.random() * keyspace)}`;

    const a = await this.arpeggio(3, 'arpeggio-linearizable');
    const conns = Array.from(
      { length: clients },
      (_, i) => new Redis({ host: '127.0.0.1', port: a.ports[i % a.ports.length], maxRetriesPerRequest: 0 }),
    );
    try {
      await Promise.all(conns.map((c) => c.call('CONSISTENCY', 'linearizable')));
      const ops: Record<string, (c: Redis) => Promise<unknown>> = {
        set: (c) => c.set(randomKey(), value),
        get: (c) => c.get(randomKey()),
        incr: (c) => c.incr(`counter:${Math.floor(Math.random() * 1000)}`),
      };
      for (const [op, fn] of Object.entries(ops)) {
        await this.nodeLoad(
          { scenario: 'linearizable', system: 'arpeggio', nodes: 3 },
          op,
          a.pids,
          runs,
          () => closedLoop(conns, durationMs, fn),
        );
      }
    } finally {
      for (const c of conns) c.disconnect();
    }
    await this.stopAll();

    if ((await which('etcd')) === null) {
      this.note('linearizable: etcd is not installed; its rows are skipped');
      return;
    }
    const e = await this.etcd();
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const v64 = b64(value);
    try {
      const ports = Array.from({ length: clients }, (_, i) => e.clientPorts[i % e.clientPorts.length]);
      const ops: Record<string, (port: number) => Promise<unknown>> = {
        set: (port) => etcdCall(agent, port, '/v3/kv/put', { key: b64(randomKey()), value: v64 }),
        get: (port) => etcdCall(agent, port, '/v3/kv/range', { key: b64(randomKey()) }),
      };
      for (const [op, fn] of Object.entries(ops)) {
        await this.nodeLoad({ scenario: 'linearizable', system: 'etcd', nodes: 3 }, op, e.pids, runs, () =>
          closedLoop(ports, durationMs, fn),
        );
      }
    } finally {
      agent.destroy();
    }
  }

  private async nodeLoad(
    base: Pick<BenchRow, 'scenario' | 'system' | 'nodes'>,
    op: string,
    pids: readonly number[],
    runs: number,
    drive: () => ReturnType<typeof closedLoop>,
  ): Promise<void> {
    const results: BenchRow[] = [];
    for (let i = 0; i < runs; i++) {
      const before = pids.map(sampleProcess);
      const r = await drive();
      const usage = usageBetween(before, pids.map(sampleProcess));
      if (r.errors > 0)
        this.note(`${base.scenario} ${base.system} ${op}: ${r.errors} errors (first: ${r.firstError})`);
      results.push({
        ...base,
        op,
        pipeline: 1,
        opsPerSec: r.opsPerSec,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        p999Ms: r.p999Ms,
        cpuSecondsPer1kOps: r.ops > 0 ? (usage.cpuSeconds / r.ops) * 1000 : null,
        peakRssMiB: usage.peakRssMiB,
        runs: 1,
      });
    }
    const row = foldRuns(results);
    this.options.log(
      `  ${row.scenario} ${row.system} ${op}: ${Math.round(row.opsPerSec)} ops/s, p99 ${row.p99Ms?.toFixed(2)} ms`,
    );
    this.rows.push(row);
  }

  private async scaling(): Promise<void> {
    for (const n of [1, 3, 5]) {
      const a = await this.arpeggio(n, `arpeggio-scaling-${n}`);
      await this.setGet({ scenario: 'scaling', system: 'arpeggio', nodes: n }, [16], a.ports[0], a.pids);
      await this.stopAll();
    }
    this.note(
      `scaling: every node runs on the same ${cpus().length} cores as redis-benchmark, so more nodes share the same CPU; redis-benchmark talks to node 1, which forwards to the key's replicas`,
    );
    const hops = this.options.chordLookupHops;
    if (hops === undefined) return;
    for (const nodes of this.options.quick ? [16, 256] : [16, 256, 1024]) {
      const r = hops(nodes);
      this.note(
        `scaling: Chord lookup in the simulator, ${nodes} nodes: mean ${r.meanHops.toFixed(2)} hops, p99 ${r.p99Hops} (½·log2 N = ${r.expectedHops.toFixed(2)})`,
      );
    }
  }

  private async micro(): Promise<void> {
    for (const row of await runMicro(this.options.quick ? 1000 : 3000)) this.rows.push(row);
  }
}

function killCluster(c: LocalCluster): void {
  for (const n of c.members()) {
    try {
      c.kill(n.id, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** One call to etcd's JSON gateway; rejects on a non-2xx answer. */
function etcdCall(agent: Agent, port: number, path: string, body: object): Promise<unknown> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`etcd ${path}: ${res.statusCode} ${text}`));
          else resolve(text);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function version(cmd: string, args: string[], re: RegExp): Promise<string | null> {
  if ((await which(cmd)) === null) return null;
  try {
    return re.exec(await run(cmd, args))?.[1] ?? null;
  } catch {
    return null;
  }
}

async function machineInfo(): Promise<MachineInfo> {
  return {
    host: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: loadavg(),
    redisVersion: await version('redis-server', ['--version'], /v=(\S+)/),
    etcdVersion: await version('etcd', ['--version'], /etcd Version: (\S+)/),
    startedAt: new Date().toISOString(),
  };
}
