/**
 * A local cluster: N real `arpeggio start` processes on this machine, all under one directory.
 *
 *   DIR/cluster.json      what the manager knows: nodes (id, ports, data dir, last pid, left or not)
 *   DIR/node.json         the config file every node starts with (`arpeggio start --config`):
 *                         replicas, vnodes, the cluster's secret, local knobs (mode 0600)
 *   DIR/nI/               node nI's data directory (LOCK, store/) and its output:
 *   DIR/nI/node.log       its logs (pino JSON lines, its stderr)
 *   DIR/nI/stdout.log     its start lines ({"event":"ready"…}, {"event":"left"…})
 *
 * Everything a manager needs is on disk or asked of the nodes, so `down`, `status`, `add` and
 * `remove` work from any shell: a node runs if the lock file of its directory names a live process
 * (node-probe.ts), and says how it is doing through `ARPEGGIO.STATUS` on its RESP port.
 *
 * Ports: node nI listens on base + PORT_STRIDE·(I−1) for peers and one more for Redis clients
 * (n1: 7100/7101, n2: 7110/7111, …); base 0 lets the OS pick at the first start, and the ports a
 * node got are kept for its restarts.
 *
 * Nodes are spawned detached (their own process group, output to files): Ctrl-C in a terminal
 * reaches the manager only, which then stops every node gracefully (SIGTERM), and a detached
 * cluster outlives the shell that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KvConfig } from '../core/kv-node.js';
import type { NodeHostStatus } from '../runtime/node-host.js';
import { fetchStatus, isSameProcess, runningPid, startTicksOf } from './node-probe.js';
import { type NodeObservation, type RingVerdict, ringVerdict } from './ring-health.js';

export const CLUSTER_FILE = 'cluster.json';
export const NODE_CONFIG_FILE = 'node.json';
/** In each node's directory: its logs (stderr) and its start lines (stdout). */
export const NODE_LOG_FILE = 'node.log';
export const NODE_OUTPUT_FILE = 'stdout.log';
/** Ports per node: node nI uses base + PORT_STRIDE·(I−1) + offset; offset 2 is kept for HTTP. */
export const PORT_STRIDE = 10;
export const PEER_PORT_OFFSET = 0;
export const RESP_PORT_OFFSET = 1;
export const HTTP_PORT_OFFSET = 2;
export const DEFAULT_BASE_PORT = 7100;
export const DEFAULT_NODE_COUNT = 3;

/**
 * Knobs for nodes that share one machine. Loopback round trips are well under a millisecond, but
 * the nodes share a few cores and each write waits for an fdatasync, so under load a node can
 * take a few hundred milliseconds to answer: timeouts must tolerate that, or healthy nodes are
 * taken for failed ones (suspected by SWIM, their circuit breakers opened) and writes refused.
 * - SWIM probes twice a second with a 250 ms probe timeout (the network default: once a second,
 *   200 ms); a crashed node is suspected within about a second.
 * - RPC attempts time out after 1 s (the `lan` preset; the `local` preset's 250 ms suits the
 *   simulator, where nothing is ever slow).
 * - A membership change waits 2.5 s (5 probe periods) for gossip to reach every node before
 *   ranges move; the rule is "longer than gossip takes to reach everyone", about log(N) periods.
 *   (The default, 10 s, is for networks.)
 */
export const LOCAL_KV_CONFIG: Partial<KvConfig> = {
  transitionGraceMs: 2500,
  swim: { probeIntervalMs: 500, probeTimeoutMs: 250, pushPullIntervalMs: 2000 },
  rpc: { requestTimeoutMs: 1000 },
};

/** How long a leaving node may take to hand its ranges over (its --leave-timeout-ms). */
export const LOCAL_LEAVE_TIMEOUT_MS = 120_000;

export type LocalClusterErrorCode =
  /** Every node of the directory runs already: nothing to start. */
  | 'ALREADY_RUNNING'
  /** The directory holds no cluster (no cluster.json, no node directories). */
  | 'NOT_A_CLUSTER'
  /** The operation needs running nodes (add), or the named node is not running (remove). */
  | 'NOT_RUNNING'
  /** No node of that name in the cluster. */
  | 'NO_SUCH_NODE'
  /** A node process failed to start or exited early; the message has its code and log tail. */
  | 'NODE_FAILED'
  /** The nodes run, but the ring did not settle in time (the message says what it waited for). */
  | 'NOT_SETTLED_IN_TIME'
  /** A node did not exit in time after SIGTERM. */
  | 'STOP_TIMEOUT'
  /** A leaving node did not hand its ranges over (or did not exit) in time. */
  | 'LEAVE_FAILED'
  /** The last member cannot leave: nobody would hold its keys. */
  | 'LAST_NODE'
  /** --replicas or --vnodes differ from those the cluster was made with. */
  | 'SETTINGS_MISMATCH';

export class LocalClusterError extends Error {
  override readonly name = 'LocalClusterError';
  constructor(
    readonly code: LocalClusterErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** One node of the cluster as cluster.json records it. */
export interface LocalNode {
  /** `n1`, `n2`, … in order of creation; a number is never reused (a node that left keeps it). */
  id: string;
  index: number;
  /** Data directory, relative to the cluster directory. */
  data: string;
  /** "host:port" for peers and for Redis clients; port 0 until the first start when the OS picks. */
  peer: string;
  resp: string;
  /** "host:port" of the HTTP API (absent in cluster files written before it existed). */
  http?: string;
  /** The process of its latest start (null once stopped by the manager). */
  pid: number | null;
  /** What the manager last did with it. Whether it runs now is read from its lock file. */
  state: 'running' | 'stopped' | 'left';
}

export interface ClusterFile {
  version: 1;
  createdAt: string;
  host: string;
  /** 0: the OS picked every port at the node's first start. */
  basePort: number;
  replicas: number;
  vnodes: number;
  nodes: LocalNode[];
}

export interface LocalClusterOptions {
  /** The cluster's directory. */
  dir: string;
  /** Path of bin/arpeggio.js (default: the one of this build). */
  bin?: string;
  /** The nodes' --log-level (default info). */
  logLevel?: string;
  /** Called with what the manager waits for (for a progress line). */
  onProgress?: (text: string) => void;
  /** How long to wait for the ring to settle after a start, join or leave (default 60 s). */
  settleTimeoutMs?: number;
  /** Added to the nodes' environment. */
  env?: Record<string, string>;
}

export interface UpOptions extends LocalClusterOptions {
  /** Nodes of a new cluster (default 3). An existing cluster restarts with its members. */
  nodes?: number;
  /** Default 7100; 0 lets the OS pick (the ports are kept for restarts). */
  basePort?: number;
  /** Default 127.0.0.1: this machine only. */
  host?: string;
  /** Copies of each key, for a new cluster (default min(3, nodes)); must match for an existing one. */
  replicas?: number;
  vnodes?: number;
  /** Core knobs over LOCAL_KV_CONFIG, written into node.json of a new cluster. */
  kv?: Partial<KvConfig>;
  /**
   * The nodes' --durability for a new cluster (written into node.json): `flush` (default) or
   * `relaxed` (acknowledged once committed, synced within a second; see docs/STORAGE.md).
   */
  durability?: 'flush' | 'relaxed';
}

export interface UpResult {
  cluster: LocalCluster;
  created: boolean;
  /** Nodes started now; the others (if any) were running already. */
  started: string[];
  alreadyRunning: Array<{ id: string; pid: number }>;
  verdict: RingVerdict;
  notes: string[];
}

/** What `observe` finds about one node. */
export interface NodeView {
  node: LocalNode;
  /** Its running process, or null. */
  pid: number | null;
  status: NodeHostStatus | null;
  error?: string;
}

export interface StopReport {
  id: string;
  pid: number | null;
  /** false: it was not running. */
  stopped: boolean;
  ms: number;
}

interface StartLine {
  event: 'ready' | 'failed' | 'left';
  id?: string;
  pid?: number;
  peer?: string;
  resp?: string | null;
  http?: string | null;
  code?: string;
  message?: string;
}

const DEFAULT_SETTLE_TIMEOUT_MS = 60_000;
/** A node's own --join-timeout-ms is 30 s; its start line comes by then or never. */
const START_LINE_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 50;

const defaultBin = (): string => fileURLToPath(new URL('../../../bin/arpeggio.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LocalCluster {
  readonly dir: string;
  private file: ClusterFile;
  private readonly options: LocalClusterOptions;
  /** Nodes this process started and that have not exited. */
  private readonly children = new Map<string, ChildProcess>();
  private readonly exitListeners: Array<(id: string, code: number | null, signal: string | null) => void> =
    [];

  private constructor(options: LocalClusterOptions, file: ClusterFile) {
    this.options = options;
    this.dir = resolve(options.dir);
    this.file = file;
  }

  /** The cluster in `options.dir`; NOT_A_CLUSTER if there is none. */
  static open(options: LocalClusterOptions): LocalCluster {
    const file = readClusterFile(resolve(options.dir));
    if (file === null) {
      throw new LocalClusterError(
        'NOT_A_CLUSTER',
        `${options.dir} holds no cluster (no ${CLUSTER_FILE}): start one with \`arpeggio cluster up --dir ${options.dir}\``,
      );
    }
    return new LocalCluster(options, file);
  }

  /**
   * Starts the cluster of `options.dir`: a new one of `nodes` nodes (the first, then the others
   * joining it), or the members of an existing one (all at once; each finds the others through
   * --join and what it remembers), skipping those that run already. Resolves once the ring has
   * settled (ring-health.ts). A new cluster that fails to start leaves nothing behind.
   */
  static async up(options: UpOptions): Promise<UpResult> {
    const dir = resolve(options.dir);
    const existing = readClusterFile(dir) ?? clusterFromDataDirs(dir, options);
    if (existing === null) return LocalCluster.create(options);
    const cluster = new LocalCluster(options, existing);
    const notes: string[] = [];
    if (options.replicas !== undefined && options.replicas !== existing.replicas) {
      throw new LocalClusterError(
        'SETTINGS_MISMATCH',
        `this cluster keeps ${existing.replicas} copies of each key; --replicas ${options.replicas} applies to a new cluster only`,
      );
    }
    if (options.vnodes !== undefined && options.vnodes !== existing.vnodes) {
      throw new LocalClusterError(
        'SETTINGS_MISMATCH',
        `this cluster has ${existing.vnodes} virtual nodes per node; --vnodes ${options.vnodes} applies to a new cluster only`,
      );
    }
    const members = existing.nodes.filter((n) => n.state !== 'left');
    if (options.nodes !== undefined && options.nodes !== members.length) {
      notes.push(
        `--nodes ${options.nodes} applies to a new cluster; this one has ${members.length} members (use \`arpeggio cluster add\` or \`remove\`)`,
      );
    }
    const alreadyRunning = members.flatMap((n) => {
      const pid = cluster.pidOf(n);
      return pid === null ? [] : [{ id: n.id, pid }];
    });
    if (alreadyRunning.length === members.length) {
      throw new LocalClusterError(
        'ALREADY_RUNNING',
        `the cluster in ${options.dir} is running already (${alreadyRunning.map((r) => `${r.id} pid ${r.pid}`).join(', ')}); ` +
          `see \`arpeggio cluster status --dir ${options.dir}\`, stop it with \`arpeggio cluster down --dir ${options.dir}\``,
      );
    }
    const toStart = members.filter((n) => !alreadyRunning.some((r) => r.id === n.id));
    cluster.ensureNodeConfig();
    try {
      // All at once: each finds the others through --join (retrying until one answers) and
      // through the members it remembers.
      await Promise.all(toStart.map((n) => cluster.launch(n, cluster.seedsFor(n))));
      cluster.saveNodes(toStart);
    } catch (e) {
      await cluster.stopStarted(toStart);
      throw e;
    }
    const verdict = await cluster.waitSettled(members.map((n) => n.id));
    return { cluster, created: false, started: toStart.map((n) => n.id), alreadyRunning, verdict, notes };
  }

  private static async create(options: UpOptions): Promise<UpResult> {
    const dir = resolve(options.dir);
    const count = options.nodes ?? DEFAULT_NODE_COUNT;
    const basePort = options.basePort ?? DEFAULT_BASE_PORT;
    const host = options.host ?? '127.0.0.1';
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`a cluster needs at least one node, got ${count}`);
    const madeDir = !existsSync(dir);
    mkdirSync(dir, { recursive: true });
    const file: ClusterFile = {
      version: 1,
      createdAt: new Date().toISOString(),
      host,
      basePort,
      replicas: options.replicas ?? Math.min(3, count),
      vnodes: options.vnodes ?? 16,
      nodes: [],
    };
    for (let i = 1; i <= count; i++) file.nodes.push(newNode(file, i));
    const cluster = new LocalCluster(options, file);
    writeNodeConfig(dir, file, { ...LOCAL_KV_CONFIG, ...options.kv }, options.durability);
    const [firstNode, ...others] = file.nodes;
    try {
      await cluster.launch(firstNode, []);
      await Promise.all(others.map((n) => cluster.launch(n, [firstNode.peer])));
      cluster.save();
      const verdict = await cluster.waitSettled(file.nodes.map((n) => n.id));
      return {
        cluster,
        created: true,
        started: file.nodes.map((n) => n.id),
        alreadyRunning: [],
        verdict,
        notes: [],
      };
    } catch (e) {
      // Nothing acknowledged lives here yet: remove what this attempt made, so that a corrected
      // retry (another --base-port, say) starts afresh.
      await cluster.stopStarted(file.nodes);
      if (madeDir) rmSync(dir, { recursive: true, force: true });
      else {
        for (const n of file.nodes) rmSync(cluster.dataDirOf(n), { recursive: true, force: true });
        rmSync(join(dir, NODE_CONFIG_FILE), { force: true });
        rmSync(join(dir, CLUSTER_FILE), { force: true });
      }
      throw e;
    }
  }

  // ---- looking -------------------------------------------------------------------------------

  /** Every node cluster.json records, those that left included. */
  get nodes(): LocalNode[] {
    return this.file.nodes.map((n) => ({ ...n }));
  }

  get settings(): Omit<ClusterFile, 'nodes'> {
    const { nodes: _nodes, ...rest } = this.file;
    return { ...rest };
  }

  node(id: string): LocalNode {
    const n = this.file.nodes.find((x) => x.id === id);
    if (n === undefined) {
      throw new LocalClusterError(
        'NO_SUCH_NODE',
        `no node '${id}' in ${this.dir} (nodes: ${this.file.nodes.map((x) => x.id).join(', ')})`,
      );
    }
    return { ...n };
  }

  /** The members: every node that has not left. */
  members(): LocalNode[] {
    return this.nodes.filter((n) => n.state !== 'left');
  }

  dataDirOf(node: LocalNode): string {
    return join(this.dir, node.data);
  }

  /** The node's running process, from its lock file; null when it does not run. */
  pidOf(node: LocalNode): number | null {
    return runningPid(this.dataDirOf(node));
  }

  /** Re-reads cluster.json (another shell may have added or removed nodes). */
  refresh(): void {
    const file = readClusterFile(this.dir);
    if (file !== null) this.file = file;
  }

  /** Each member's process and status (asked over RESP, in parallel). */
  async observe(timeoutMs = 1000): Promise<NodeView[]> {
    return Promise.all(
      this.file.nodes.map(async (node): Promise<NodeView> => {
        const copy = { ...node };
        if (node.state === 'left') return { node: copy, pid: null, status: null, error: 'left the cluster' };
        const pid = this.pidOf(node);
        if (pid === null) return { node: copy, pid, status: null, error: 'not running' };
        try {
          return { node: copy, pid, status: await fetchStatus(node.resp, timeoutMs) };
        } catch (e) {
          return { node: copy, pid, status: null, error: (e as Error).message };
        }
      }),
    );
  }

  /** Whether the members' ring has settled now. */
  async verdict(): Promise<RingVerdict> {
    const views = await this.observe();
    return ringVerdict(
      this.members().map((n) => n.id),
      views.map(toObservation),
    );
  }

  /**
   * Polls the nodes until the ring of `expected` has settled (ring-health.ts), reporting what it
   * waits for. Fails fast when a node this process started exits, and NOT_SETTLED_IN_TIME at the
   * deadline with the last thing it waited for.
   */
  async waitSettled(expected: string[], timeoutMs = this.options.settleTimeoutMs): Promise<RingVerdict> {
    const deadline = Date.now() + (timeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS);
    const exited: string[] = [];
    const onExit = (id: string) => exited.push(id);
    this.exitListeners.push(onExit);
    try {
      for (;;) {
        const views = (await this.observe()).filter((v) => expected.includes(v.node.id));
        const verdict = ringVerdict(expected, views.map(toObservation));
        if (verdict.settled) return verdict;
        const gone = exited.find((id) => expected.includes(id));
        if (gone !== undefined) {
          throw new LocalClusterError(
            'NODE_FAILED',
            `${gone} exited while the cluster was settling${this.logTail(this.node(gone))}`,
          );
        }
        this.options.onProgress?.(`waiting for the ring to settle: ${verdict.reason}`);
        if (Date.now() > deadline) {
          throw new LocalClusterError(
            'NOT_SETTLED_IN_TIME',
            `the ring did not settle within ${timeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS} ms: ${verdict.reason}`,
          );
        }
        await sleep(100);
      }
    } finally {
      this.exitListeners.splice(this.exitListeners.indexOf(onExit), 1);
    }
  }

  /** Called when a node this process started exits (foreground managers report it). */
  onNodeExit(listener: (id: string, code: number | null, signal: string | null) => void): void {
    this.exitListeners.push(listener);
  }

  /** Lets this process exit while the nodes it started keep running (a detached cluster). */
  detach(): void {
    for (const child of this.children.values()) child.unref();
  }

  // ---- changing ------------------------------------------------------------------------------

  /**
   * Starts one more node, joining through every running member, and waits until it is `normal`
   * (its ranges copied) and the ring has settled. The members must all run: a stopped member is
   * still on the ring, and the ring cannot settle without it.
   */
  async add(): Promise<LocalNode> {
    this.refresh();
    const members = this.members();
    const stopped = members.filter((n) => this.pidOf(n) === null);
    if (members.length === 0 || stopped.length === members.length) {
      throw new LocalClusterError(
        'NOT_RUNNING',
        `no node of ${this.dir} runs: start the cluster first (cluster up)`,
      );
    }
    if (stopped.length > 0) {
      throw new LocalClusterError(
        'NOT_RUNNING',
        `${stopped.map((n) => n.id).join(', ')} ${stopped.length === 1 ? 'is' : 'are'} stopped but still on the ring: ` +
          `start ${stopped.length === 1 ? 'it' : 'them'} first (\`arpeggio cluster up --dir ${this.dir}\`)`,
      );
    }
    const index = Math.max(0, ...this.file.nodes.map((n) => n.index)) + 1;
    const node = newNode(this.file, index);
    this.ensureNodeConfig();
    this.file.nodes.push(node);
    try {
      await this.launch(
        node,
        members.map((n) => n.peer),
      );
    } catch (e) {
      this.file.nodes = this.file.nodes.filter((n) => n.id !== node.id);
      rmSync(this.dataDirOf(node), { recursive: true, force: true });
      throw e;
    }
    this.saveNodes([node]);
    await this.waitSettled([...members.map((n) => n.id), node.id]);
    return this.node(node.id);
  }

  /**
   * Makes a node leave for good (SIGUSR2: it hands every range over, says `left`, exits 0), waits
   * for it to exit and for the others' ring to settle without it. Its directory stays, marked
   * left in cluster.json; it is never started again.
   */
  async remove(id: string, timeoutMs = LOCAL_LEAVE_TIMEOUT_MS + 10_000): Promise<{ id: string; ms: number }> {
    this.refresh();
    const node = this.node(id);
    if (node.state === 'left')
      throw new LocalClusterError('NOT_RUNNING', `${id} has left the cluster already`);
    if (this.members().length === 1) {
      throw new LocalClusterError(
        'LAST_NODE',
        `${id} is the last node: there is nobody to hand its ranges to (stop the cluster with \`cluster down\`)`,
      );
    }
    const pid = this.pidOf(node);
    if (pid === null) {
      throw new LocalClusterError(
        'NOT_RUNNING',
        `${id} is not running: a node hands its ranges over only while it runs (start it with \`cluster up\`)`,
      );
    }
    const started = Date.now();
    const output = join(this.dataDirOf(node), NODE_OUTPUT_FILE);
    const offset = fileSize(output);
    const ticks = startTicksOf(pid);
    process.kill(pid, 'SIGUSR2');
    if (!(await waitGone(pid, ticks, timeoutMs))) {
      throw new LocalClusterError(
        'LEAVE_FAILED',
        `${id} (pid ${pid}) was still handing its ranges over after ${timeoutMs} ms; it keeps trying until its --leave-timeout-ms`,
      );
    }
    const lines = readLines(output, offset);
    const failed = lines.find((l) => l.event === 'failed');
    if (!lines.some((l) => l.event === 'left')) {
      throw new LocalClusterError(
        'LEAVE_FAILED',
        `${id} exited without leaving${failed ? ` (${failed.code}: ${failed.message})` : ''}; it is still a member${this.logTail(node)}`,
      );
    }
    this.saveNodes([{ ...node, pid: null, state: 'left' }]);
    await this.waitSettled(this.members().map((n) => n.id));
    return { id, ms: Date.now() - started };
  }

  /** Stops every running member gracefully (SIGTERM; they stay members), all at once. */
  async down(timeoutMs = STOP_TIMEOUT_MS): Promise<StopReport[]> {
    this.refresh();
    const reports = await Promise.all(this.members().map((n) => this.stop(n.id, timeoutMs)));
    const failed = reports.filter((r) => r.stopped && r.ms < 0);
    if (failed.length > 0) {
      throw new LocalClusterError(
        'STOP_TIMEOUT',
        `${failed.map((r) => `${r.id} (pid ${r.pid})`).join(', ')} did not exit within ${timeoutMs} ms of SIGTERM`,
      );
    }
    return reports;
  }

  /**
   * Stops one node gracefully: SIGTERM, then wait until the process is gone. `ms` is how long it
   * took, −1 if it had not exited by the deadline.
   */
  async stop(id: string, timeoutMs = STOP_TIMEOUT_MS): Promise<StopReport> {
    const node = this.node(id);
    const pid = this.pidOf(node);
    if (pid === null) {
      if (node.state === 'running') this.saveNodes([{ ...node, pid: null, state: 'stopped' }]);
      return { id, pid: null, stopped: false, ms: 0 };
    }
    const started = Date.now();
    const ticks = startTicksOf(pid);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // exited meanwhile
    }
    const child = this.children.get(id);
    const reaped = child === undefined ? Promise.resolve() : once(child, 'exit');
    const gone = await waitGone(pid, ticks, timeoutMs);
    // A child of this process is gone for good once reaped: no zombie is left when we exit.
    if (gone) await reaped;
    if (gone) this.saveNodes([{ ...node, pid: null, state: 'stopped' }]);
    return { id, pid, stopped: true, ms: gone ? Date.now() - started : -1 };
  }

  /**
   * Sends `signal` to a node's process (tests: SIGKILL to crash it). Returns its pid, or null if
   * it was not running.
   */
  kill(id: string, signal: NodeJS.Signals): number | null {
    const pid = this.pidOf(this.node(id));
    if (pid !== null) process.kill(pid, signal);
    return pid;
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Where a (re)starting node looks for the cluster: every other member. */
  private seedsFor(node: LocalNode): string[] {
    return this.members()
      .filter((n) => n.id !== node.id && portOf(n.peer) !== 0)
      .map((n) => n.peer);
  }

  /**
   * Spawns `arpeggio start` for the node and waits for its start line. Updates the node's pid and
   * ports (those the OS picked) in memory; callers save.
   */
  private async launch(node: LocalNode, seeds: string[]): Promise<void> {
    const dataDir = this.dataDirOf(node);
    mkdirSync(dataDir, { recursive: true });
    const outputPath = join(dataDir, NODE_OUTPUT_FILE);
    const out = openSync(outputPath, 'a');
    const err = openSync(join(dataDir, NODE_LOG_FILE), 'a');
    const offset = fstatSync(out).size;
    const peer = portOf(node.peer);
    const resp = portOf(node.resp);
    const http = node.http === undefined ? nodePorts(this.file.basePort, node.index).http : portOf(node.http);
    const args = [
      this.options.bin ?? defaultBin(),
      'start',
      '--json',
      '--config',
      join(this.dir, NODE_CONFIG_FILE),
      '--data',
      dataDir,
      '--id',
      node.id,
      '--host',
      this.file.host,
      '--peer-port',
      String(peer),
      '--resp-port',
      String(resp),
      '--http-port',
      String(http),
      '--log-level',
      this.options.logLevel ?? 'info',
      ...(seeds.length > 0 ? ['--join', seeds.join(',')] : []),
    ];
    // The secret is in node.json; one from the manager's environment would override it.
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.options.env };
    delete env.ARPEGGIO_SECRET;
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, err], env });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    let exit: { code: number | null; signal: string | null } | null = null;
    this.children.set(node.id, child);
    child.on('error', () => {
      // spawn failures surface as an exit without a start line
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      if (this.children.get(node.id) === child) this.children.delete(node.id);
      for (const listener of [...this.exitListeners]) listener(node.id, code, signal);
    });
    const deadline = Date.now() + START_LINE_TIMEOUT_MS;
    for (;;) {
      const line = readLines(outputPath, offset).find((l) => l.event === 'ready' || l.event === 'failed');
      if (line?.event === 'ready') {
        const record = this.file.nodes.find((n) => n.id === node.id) ?? node;
        record.pid = line.pid ?? child.pid ?? null;
        record.peer = line.peer ?? record.peer;
        record.resp = line.resp ?? record.resp;
        record.http = line.http ?? record.http;
        record.state = 'running';
        Object.assign(node, record);
        return;
      }
      if (line?.event === 'failed') {
        throw new LocalClusterError(
          'NODE_FAILED',
          `${node.id} could not start: ${line.code}: ${line.message}`,
        );
      }
      const ended = exit as { code: number | null; signal: string | null } | null;
      if (ended !== null) {
        // Its last words may have landed after the exit event was queued: one more read.
        const last = readLines(outputPath, offset).find((l) => l.event === 'failed');
        const why = last ? `${last.code}: ${last.message}` : `exit ${ended.code ?? ended.signal}`;
        throw new LocalClusterError('NODE_FAILED', `${node.id} could not start: ${why}${this.logTail(node)}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new LocalClusterError(
          'NODE_FAILED',
          `${node.id} printed no start line within ${START_LINE_TIMEOUT_MS} ms${this.logTail(node)}`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** After a failed start: stops (SIGTERM) whichever of `nodes` this process started and that runs. */
  private async stopStarted(nodes: LocalNode[]): Promise<void> {
    await Promise.all(
      nodes
        .filter((n) => this.children.has(n.id))
        .map(async (n) => {
          const child = this.children.get(n.id) as ChildProcess;
          const pid = child.pid;
          if (pid === undefined) return;
          const ticks = startTicksOf(pid);
          child.kill('SIGTERM');
          if (!(await waitGone(pid, ticks, STOP_TIMEOUT_MS))) child.kill('SIGKILL');
        }),
    );
  }

  /** The last lines of a node's log, for an error message. */
  private logTail(node: LocalNode, lines = 5): string {
    const path = join(this.dataDirOf(node), NODE_LOG_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return '';
    }
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n  ');
    return tail === '' ? '' : `; last lines of ${path}:\n  ${tail}`;
  }

  private ensureNodeConfig(): void {
    if (!existsSync(join(this.dir, NODE_CONFIG_FILE))) writeNodeConfig(this.dir, this.file, LOCAL_KV_CONFIG);
  }

  /** Writes the whole file (a new cluster). */
  private save(): void {
    writeAtomically(join(this.dir, CLUSTER_FILE), `${JSON.stringify(this.file, null, 2)}\n`);
  }

  /**
   * Records changes to some nodes: re-reads cluster.json first, so that nodes another shell added
   * meanwhile are kept.
   */
  private saveNodes(changed: LocalNode[]): void {
    const onDisk = readClusterFile(this.dir) ?? this.file;
    for (const c of changed) {
      const i = onDisk.nodes.findIndex((n) => n.id === c.id);
      if (i >= 0) onDisk.nodes[i] = { ...c };
      else onDisk.nodes.push({ ...c });
    }
    onDisk.nodes.sort((a, b) => a.index - b.index);
    this.file = onDisk;
    this.save();
  }
}

// ---- files ---------------------------------------------------------------------------------

/** The port scheme: node nI's ports from the base port (all 0, "the OS picks", for base 0). */
export function nodePorts(basePort: number, index: number): { peer: number; resp: number; http: number } {
  const port = (offset: number) => (basePort === 0 ? 0 : basePort + PORT_STRIDE * (index - 1) + offset);
  return { peer: port(PEER_PORT_OFFSET), resp: port(RESP_PORT_OFFSET), http: port(HTTP_PORT_OFFSET) };
}

function newNode(file: ClusterFile, index: number): LocalNode {
  const ports = nodePorts(file.basePort, index);
  const address = (p: number) => `${file.host.includes(':') ? `[${file.host}]` : file.host}:${p}`;
  return {
    id: `n${index}`,
    index,
    data: `n${index}`,
    peer: address(ports.peer),
    resp: address(ports.resp),
    http: address(ports.http),
    pid: null,
    state: 'stopped',
  };
}

/** cluster.json, or null when absent. A file that does not parse is an error worth seeing. */
export function readClusterFile(dir: string): ClusterFile | null {
  const path = join(dir, CLUSTER_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const file = JSON.parse(text) as ClusterFile;
  if (file.version !== 1 || !Array.isArray(file.nodes))
    throw new Error(`${path}: not a cluster file of this version`);
  return file;
}

/**
 * Without cluster.json (deleted by hand), the node directories `n1`, `n2`, … that hold a store
 * still make a cluster: each keeps its id, and its ports follow the port scheme.
 */
function clusterFromDataDirs(dir: string, options: UpOptions): ClusterFile | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  const indexes = names
    .map((name) => /^n(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(dir, m[0], 'store')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (indexes.length === 0) return null;
  let config: { replicas?: number; vnodes?: number } = {};
  try {
    config = JSON.parse(readFileSync(join(dir, NODE_CONFIG_FILE), 'utf8'));
  } catch {
    // no node.json either: the defaults
  }
  const file: ClusterFile = {
    version: 1,
    createdAt: new Date().toISOString(),
    host: options.host ?? '127.0.0.1',
    basePort: options.basePort ?? DEFAULT_BASE_PORT,
    replicas: config.replicas ?? options.replicas ?? Math.min(3, indexes.length),
    vnodes: config.vnodes ?? options.vnodes ?? 16,
    nodes: [],
  };
  file.nodes = indexes.map((i) => newNode(file, i));
  writeAtomically(join(dir, CLUSTER_FILE), `${JSON.stringify(file, null, 2)}\n`);
  return file;
}

/**
 * node.json: the settings every node of the cluster shares, read by `arpeggio start --config`.
 * The secret is made here, random per cluster, so that other users of the machine cannot join
 * (the file is readable by its owner only).
 */
function writeNodeConfig(
  dir: string,
  file: ClusterFile,
  kv: Partial<KvConfig>,
  durability?: 'flush' | 'relaxed',
): void {
  const config = {
    replicas: file.replicas,
    vnodes: file.vnodes,
    secret: randomBytes(32).toString('hex'),
    'leave-timeout-ms': LOCAL_LEAVE_TIMEOUT_MS,
    ...(durability === undefined ? {} : { durability }),
    kv,
  };
  writeAtomically(join(dir, NODE_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`, 0o600);
}

function writeAtomically(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

function fileSize(path: string): number {
  try {
    const fd = openSync(path, 'r');
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch {
    return 0;
  }
}

/** The complete JSON lines of a node's output from byte `offset` on. */
function readLines(path: string, offset: number): StartLine[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return [];
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const text = buf.toString('utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    return complete
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as StartLine];
        } catch {
          return [];
        }
      });
  } finally {
    closeSync(fd);
  }
}

/** Resolves true once the process is gone (exited, or its pid reused), false at the deadline. */
async function waitGone(pid: number, startTicks: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcess(pid, startTicks)) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** The port of "host:port" ("[v6]:port"); 0 means the OS picks it at the node's first start. */
function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)?.[1] ?? Number.NaN);
}

function toObservation(v: NodeView): NodeObservation {
  return { id: v.node.id, status: v.status, ...(v.error === undefined ? {} : { error: v.error }) };
}
