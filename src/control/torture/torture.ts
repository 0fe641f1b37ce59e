/**
 * `arpeggio torture`: real node processes, real faults, judged.
 *
 *   1. a local cluster (LocalCluster) in a temp directory, each node behind a fault proxy
 *      (fault-proxy.ts) that it advertises as its peer address;
 *   2. clients over RESP (workload.ts) at a paced rate, while faults follow a seeded schedule
 *      (schedule.ts): SIGKILL and restart, SIGSTOP/SIGCONT, partitions through the proxies,
 *      a join then a leave;
 *   3. heal, restart what is down, wait until the ring has settled;
 *   4. read every acknowledged key back from every node, read every register from every node,
 *      and judge: lost acknowledged writes, the register history (by the checker the caller
 *      passes in: control does not import check), availability and latency under faults.
 *
 * Every node process is stopped by pid at the end, also after an error, an abort (Ctrl-C) or
 * the overall deadline.
 *
 * How a node gets its proxy without a change to LocalCluster: the run writes a small launcher
 * (`launch-node.mjs`) into its directory and gives it to LocalCluster as the node binary. It
 * replaces the node's `--peer-port` with the port reserved for it and adds `--advertise-peer`
 * with its proxy's address (routes.json), then runs the arpeggio CLI of this build. The start
 * line names the proxy address, so cluster.json, `--join` and gossip all use proxies.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { SeededRandom } from '../../core/random.js';
import type { Random } from '../../core/types.js';
import { LocalCluster, LocalClusterError, type LocalClusterOptions } from '../local-cluster.js';
import { isSameProcess, runningPid, startTicksOf } from '../node-probe.js';
import { reservablePort } from '../ports.js';
import { FaultNetwork, FaultProxy } from './fault-proxy.js';
import { type FaultKind, type PartitionShape, type PlannedFault, planFaults } from './schedule.js';
import { type Level, type RegisterEvent, type RequestRecord, Workload } from './workload.js';

export interface HistoryVerdict {
  valid: boolean | 'unknown';
  ops?: number;
  reason?: string;
  failingKey?: string;
  [more: string]: unknown;
}

export interface TortureOptions {
  nodes: number;
  durationMs: number;
  faults: FaultKind[];
  consistency: Level;
  /** Operations per second, all clients together (default 200). */
  rate?: number;
  clients?: number;
  seed?: number;
  /** The chance that a fault starts while the one before it holds (planFaults; default 0). */
  overlap?: number;
  /** Registers of the linearizable workload (default 5). */
  registerKeys?: number;
  /** Judges the register history (the CLI passes the linearizability checker). */
  checkHistory?: (events: RegisterEvent[]) => HistoryVerdict;
  /** Keep the cluster directory (default: removed after the run). */
  keepDir?: boolean;
  /** Progress lines (what happens now). */
  onProgress?: (line: string) => void;
  /** Aborts the run (Ctrl-C): faults stop, everything is healed and stopped, a report is made. */
  signal?: AbortSignal;
  /** The whole run, cluster start and checks included, is abandoned after this (default duration + 180 s). */
  deadlineMs?: number;
}

export interface LatencySummary {
  requests: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface FaultRecord {
  kind: FaultKind;
  shape?: PartitionShape;
  nodes: string[];
  startMs: number;
  endMs: number;
  error?: string;
  /** The first restart failed with this; the second was tried. */
  retried?: string;
  /** It started while the fault before it still held. */
  overlapped?: boolean;
}

export interface TortureReport {
  ok: boolean;
  seed: number;
  nodes: number;
  consistency: Level;
  durationMs: number;
  dir: string | null;
  ops: number;
  okCount: number;
  failCount: number;
  infoCount: number;
  opsPerSecond: number;
  acknowledgedWrites: number;
  indefiniteWrites: number;
  lostAcknowledgedWrites: number;
  lostExamples: string[];
  staleReads: number;
  history: { events: number; verdict: HistoryVerdict | null };
  /** Fraction (0–1) of requests sent during a fault that succeeded. */
  availability: number | null;
  availabilityCalm: number | null;
  latencyFaults: LatencySummary;
  latencyCalm: LatencySummary;
  faults: FaultRecord[];
  settleMs: number | null;
  /** Every node process the run had (each stopped by pid before the report is made). */
  pids: number[];
  /** Peer traffic through the fault proxies: connections, bytes passed and dropped. */
  proxies: { connections: number; forwardedBytes: number; droppedBytes: number };
  error?: string;
  totalMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SETTLE_TIMEOUT_MS = 90_000;
const REQUEST_TIMEOUT_MS = 2000;

export async function runTorture(options: TortureOptions): Promise<TortureReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = new SeededRandom(seed);
  const began = performance.now();
  const progress = options.onProgress ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-torture-'));
  const network = new FaultNetwork();
  const plan = planFaults(random.fork(), {
    durationMs: options.durationMs,
    faults: options.faults,
    overlap: options.overlap ?? 0,
  });
  const churns = plan.filter((f) => f.kind === 'churn').length;
  const ids = Array.from({ length: options.nodes + churns }, (_, i) => `n${i + 1}`);
  const routes: Record<string, { listenPort: number; advertise: string }> = {};
  const proxies: FaultProxy[] = [];
  const state = new RunState(dir);
  const deadline = began + (options.deadlineMs ?? options.durationMs + 180_000);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  options.signal?.addEventListener('abort', onAbort);
  const timer = setTimeout(onAbort, Math.max(0, deadline - performance.now()));
  const report: TortureReport = emptyReport(seed, options);
  // If this process exits before the end (an uncaught error, process.exit), its nodes die with it.
  const killOnExit = () => {
    for (const pid of state.live()) signal(pid, 'SIGKILL');
  };
  process.on('exit', killOnExit);
  let workload: Workload | null = null;
  try {
    for (const id of ids) {
      const listenPort = await reservablePort();
      const proxy = await FaultProxy.listen({
        nodeId: id,
        upstream: () => `127.0.0.1:${listenPort}`,
        network,
      });
      proxies.push(proxy);
      routes[id] = { listenPort, advertise: proxy.address };
    }
    writeFileSync(join(dir, 'routes.json'), JSON.stringify(routes));
    writeFileSync(join(dir, 'launch-node.mjs'), launcherSource(join(dir, 'routes.json')));
    const clusterOptions: LocalClusterOptions = {
      dir: join(dir, 'cluster'),
      bin: join(dir, 'launch-node.mjs'),
      logLevel: 'warn',
      settleTimeoutMs: SETTLE_TIMEOUT_MS,
    };
    state.clusterDir = clusterOptions.dir;
    progress(`starting ${options.nodes} nodes in ${clusterOptions.dir}`);
    state.cluster = await withStartRetries(() =>
      LocalCluster.up({ ...clusterOptions, nodes: options.nodes, basePort: 0 }),
    );
    state.remember();
    checkAbort(abort.signal);

    const startedAt = performance.now();
    workload = new Workload({
      level: options.consistency,
      clients: options.clients ?? 8,
      rate: options.rate ?? 200,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      registerKeys: options.registerKeys ?? 5,
      targets: () => state.targets(),
      random: random.fork(),
      startedAt,
    });
    workload.start();
    progress(
      `workload: ${options.clients ?? 8} clients, ${options.rate ?? 200} ops/s at ${options.consistency}`,
    );
    const faultRandom = random.fork();
    // Faults in progress: one, or two when the schedule overlaps them (see planFaults).
    let holding: Promise<void>[] = [];
    for (const planned of plan) {
      if (!planned.overlaps) {
        await Promise.all(holding);
        report.faults.sort((a, b) => a.startMs - b.startMs);
        holding = [];
      }
      const wait = startedAt + planned.atMs - performance.now();
      if (wait > 0) await sleepUnlessAborted(wait, abort.signal);
      checkAbort(abort.signal);
      // A restart or a join takes longer than planned: no fault starts after the workload's end.
      if (performance.now() - startedAt > options.durationMs - 1000) break;
      const w = workload;
      holding.push(
        runFault(planned, state, network, faultRandom, clusterOptions, w, abort.signal, progress).then(
          (record) => {
            if (planned.overlaps) record.overlapped = true;
            report.faults.push(record);
          },
        ),
      );
    }
    await Promise.all(holding);
    report.faults.sort((a, b) => a.startMs - b.startMs);
    const rest = startedAt + options.durationMs - performance.now();
    if (rest > 0) await sleepUnlessAborted(rest, abort.signal);
    await workload.stop();

    progress('healing: every link restored, every node running, waiting for the ring to settle');
    const settleStart = performance.now();
    await heal(state, network, clusterOptions);
    const cluster = state.cluster as LocalCluster;
    await cluster.waitSettled(
      cluster.members().map((n) => n.id),
      SETTLE_TIMEOUT_MS,
    );
    report.settleMs = Math.round(performance.now() - settleStart);

    progress(`reading back ${workload.acked.size} acknowledged keys from every node`);
    const lost = await readBack(state, workload, options.consistency);
    report.lostAcknowledgedWrites = lost.length;
    report.lostExamples = lost.slice(0, 5);
    if (options.consistency === 'linearizable') {
      await finalRegisterReads(state, workload, options.registerKeys ?? 5);
      report.history.events = workload.events.length;
      report.history.verdict = options.checkHistory ? options.checkHistory(workload.events) : null;
    }
  } catch (e) {
    report.error = (e as Error).message;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (workload !== null) {
      await workload.stop();
      summarize(report, workload.requests, report.faults);
      report.opsPerSecond = Math.round(workload.requests.length / Math.max(1, workload.now() / 1000));
      report.acknowledgedWrites = workload.acked.size;
      report.indefiniteWrites = workload.indefinite.size;
      report.staleReads = workload.staleReads;
    }
    network.heal();
    for (const p of proxies) {
      const c = p.counters();
      report.proxies.connections += c.connections;
      report.proxies.forwardedBytes += c.forwardedBytes;
      report.proxies.droppedBytes += c.droppedBytes;
    }
    await state.stopAll();
    report.pids = [...state.pids.keys()];
    process.off('exit', killOnExit);
    await Promise.all(proxies.map((p) => p.close()));
    // A run that failed keeps its directory (the nodes' logs) for a look.
    const failed =
      report.error !== undefined ||
      report.lostAcknowledgedWrites > 0 ||
      (report.history.verdict !== null && report.history.verdict.valid !== true);
    if (options.keepDir || failed) report.dir = dir;
    else rmSync(dir, { recursive: true, force: true });
    report.totalMs = Math.round(performance.now() - began);
  }
  const verdict = report.history.verdict;
  report.ok =
    report.error === undefined &&
    report.lostAcknowledgedWrites === 0 &&
    (verdict === null || verdict.valid === true);
  return report;
}

/** What the run knows of its processes, for faults and for the final stop. */
class RunState {
  cluster: LocalCluster | null = null;
  clusterDir = '';
  /** Every pid a node of this run had: stopped by pid at the end whatever happens. */
  readonly pids = new Map<number, string | undefined>();
  readonly paused = new Set<number>();
  readonly killed = new Set<string>();

  constructor(readonly dir: string) {}

  remember(): void {
    for (const n of this.cluster?.members() ?? []) {
      const pid = runningPid(join(this.clusterDir, n.data));
      if (pid !== null && !this.pids.has(pid)) this.pids.set(pid, startTicksOf(pid));
    }
  }

  running(): string[] {
    return (this.cluster?.members() ?? []).filter((n) => !this.killed.has(n.id)).map((n) => n.id);
  }

  targets(): string[] {
    return (this.cluster?.members() ?? []).filter((n) => !this.killed.has(n.id)).map((n) => n.resp);
  }

  pidOf(id: string): number | null {
    const node = this.cluster?.members().find((n) => n.id === id);
    return node === undefined ? null : runningPid(join(this.clusterDir, node.data));
  }

  async stopAll(): Promise<void> {
    this.remember();
    for (const pid of this.live()) signal(pid, 'SIGCONT');
    this.paused.clear();
    if (this.cluster !== null) {
      try {
        await this.cluster.down(10_000);
      } catch {
        // whatever did not stop is killed below
      }
    }
    for (const pid of this.live()) signal(pid, 'SIGKILL');
    // A killed child is reaped by the event loop: wait until every node process is gone.
    const deadline = performance.now() + 5000;
    while (this.live().length > 0 && performance.now() < deadline) await sleep(50);
  }

  /**
   * The node processes of this run still alive: a pid counts only with the start time it had
   * when it was recorded, so a pid the system has since given to another process is never signalled.
   */
  live(): number[] {
    return [...this.pids].filter(([pid, ticks]) => isSameProcess(pid, ticks)).map(([pid]) => pid);
  }
}

async function runFault(
  planned: PlannedFault,
  state: RunState,
  network: FaultNetwork,
  random: Random,
  clusterOptions: LocalClusterOptions,
  workload: Workload,
  abortSignal: AbortSignal,
  progress: (line: string) => void,
): Promise<FaultRecord> {
  const startMs = workload.now();
  const running = state.running();
  const record: FaultRecord = { kind: planned.kind, nodes: [], startMs: Math.round(startMs), endMs: 0 };
  const hold = () => sleepUnlessAborted(planned.holdMs, abortSignal);
  try {
    switch (planned.kind) {
      case 'kill':
      case 'kill-two': {
        // kill-two: with N = 3, the keys the two share lose two of their three replicas; writes
        // to them fail until the restart, and nothing acknowledged before may be missing after it.
        const ids =
          planned.kind === 'kill'
            ? [random.pick(running)]
            : [...running].sort(() => random.next() - 0.5).slice(0, 2);
        record.nodes = ids;
        progress(
          `fault: SIGKILL ${ids.join(' and ')}${ids.length > 1 ? ' together' : ''} for ${planned.holdMs} ms`,
        );
        for (const id of ids) {
          state.killed.add(id);
          state.cluster?.kill(id, 'SIGKILL');
        }
        await hold();
        state.cluster = await restart(clusterOptions, record);
        for (const id of ids) state.killed.delete(id);
        state.remember();
        break;
      }
      case 'pause': {
        const id = random.pick(running);
        const pid = state.pidOf(id);
        record.nodes = [id];
        if (pid === null) throw new Error(`${id} is not running`);
        progress(`fault: SIGSTOP ${id} (pid ${pid}) for ${planned.holdMs} ms`);
        state.paused.add(pid);
        signal(pid, 'SIGSTOP');
        try {
          await hold();
        } finally {
          signal(pid, 'SIGCONT');
          state.paused.delete(pid);
        }
        break;
      }
      case 'partition': {
        const shape = planned.shape ?? 'isolate-one';
        record.shape = shape;
        const shuffled = [...running].sort(() => random.next() - 0.5);
        record.nodes = applyPartition(network, shape, shuffled);
        progress(`fault: partition (${shape}) ${network.describe().join(' ')} for ${planned.holdMs} ms`);
        try {
          await hold();
        } finally {
          network.heal();
        }
        break;
      }
      case 'churn': {
        const cluster = state.cluster as LocalCluster;
        progress('fault: churn, a node joins');
        const added = await cluster.add();
        record.nodes = [added.id];
        state.remember();
        await hold();
        checkAbort(abortSignal);
        progress(`fault: churn, ${added.id} leaves`);
        await cluster.remove(added.id, 60_000);
        break;
      }
    }
  } catch (e) {
    record.error = (e as Error).message;
    progress(`fault ${planned.kind} failed: ${record.error}`);
  }
  record.endMs = Math.round(workload.now());
  return record;
}

/**
 * Cuts the links of `shape` among `nodes` (already in random order); returns the nodes the
 * report names: the cut-off side, the bridge, or the ring's order. A bridge needs three nodes and
 * a ring four (with three, every pair is adjacent): with fewer, one node is isolated instead.
 */
export function applyPartition(
  network: FaultNetwork,
  shape: PartitionShape,
  nodes: readonly string[],
): string[] {
  const n = nodes.length;
  if ((shape === 'bridge' && n < 3) || (shape === 'ring' && n < 4))
    return applyPartition(network, 'isolate-one', nodes);
  switch (shape) {
    case 'bridge': {
      // nodes[0] reaches both halves of the rest; the halves do not reach each other.
      const rest = nodes.slice(1);
      const half = Math.ceil(rest.length / 2);
      network.partition(rest.slice(0, half), rest.slice(half));
      return [nodes[0]];
    }
    case 'ring': {
      // Each node keeps its two neighbours in the cycle nodes[0] → nodes[1] → … → nodes[0].
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const adjacent = j - i === 1 || (i === 0 && j === n - 1);
          if (!adjacent) network.partition([nodes[i]], [nodes[j]]);
        }
      }
      return [...nodes];
    }
    default: {
      const minority = shape === 'minority' ? Math.max(1, Math.floor((n - 1) / 2)) : 1;
      const side = nodes.slice(0, minority);
      const rest = nodes.slice(minority);
      if (shape === 'one-way-out') network.blockOneWay(side, rest);
      else network.partition(side, rest);
      return side;
    }
  }
}

/** Lifts every fault: links restored, paused nodes continued, stopped members started again. */
async function heal(
  state: RunState,
  network: FaultNetwork,
  clusterOptions: LocalClusterOptions,
): Promise<void> {
  network.heal();
  for (const pid of state.paused) signal(pid, 'SIGCONT');
  state.paused.clear();
  const cluster = state.cluster as LocalCluster;
  if (cluster.members().some((n) => state.pidOf(n.id) === null)) {
    state.cluster = await restart(clusterOptions, null);
    state.remember();
  }
  state.killed.clear();
}

/** Starts the stopped members again through the manager (retried: withStartRetries). */
async function restart(
  clusterOptions: LocalClusterOptions,
  record: FaultRecord | null,
): Promise<LocalCluster> {
  return withStartRetries(
    () => LocalCluster.up(clusterOptions),
    (e) => {
      if (record !== null) record.retried = e.message.split('\n')[0];
    },
  );
}

/**
 * Runs a start (`LocalCluster.up`) again when a node failed to start, up to 3 times. The one
 * failure seen so far: a node process that could not load its modules because another build was
 * rewriting dist/ at that moment (several engineers build in this tree). A new cluster that
 * fails leaves nothing behind, so a retry starts afresh; an existing one restarts its stopped
 * members.
 */
async function withStartRetries(
  start: () => Promise<{ cluster: LocalCluster }>,
  onRetry: (e: Error) => void = () => {},
): Promise<LocalCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await start()).cluster;
    } catch (e) {
      const failed = e instanceof LocalClusterError && e.code === 'NODE_FAILED';
      if (!failed || attempt >= 3) throw e;
      onRetry(e as Error);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Every acknowledged key, read from every node; returns the keys some node did not return. */
async function readBack(state: RunState, workload: Workload, level: Level): Promise<string[]> {
  const keys = [...workload.acked.keys()];
  const lost = new Set<string>();
  for (const address of state.targets()) {
    const conn = await connectFor(address, level);
    try {
      for (let i = 0; i < keys.length; i += 200) {
        const chunk = keys.slice(i, i + 200);
        const values = await withRetries(() => conn.mget(...chunk));
        chunk.forEach((k, j) => {
          if (values[j] !== workload.acked.get(k)) lost.add(k);
        });
      }
    } finally {
      conn.disconnect();
    }
  }
  return [...lost];
}

/** A last read of each register from every node, added to the history. */
async function finalRegisterReads(state: RunState, workload: Workload, registerKeys: number): Promise<void> {
  let process = 1_000_000;
  for (const address of state.targets()) {
    const conn = await connectFor(address, 'linearizable');
    try {
      for (let k = 0; k < registerKeys; k++) {
        const key = `r${k}`;
        const p = process++;
        workload.events.push({
          process: p,
          type: 'invoke',
          f: 'read',
          key,
          value: null,
          time: workload.now(),
        });
        const value = await withRetries(() => conn.get(key));
        workload.events.push({ process: p, type: 'ok', f: 'read', key, value, time: workload.now() });
      }
    } finally {
      conn.disconnect();
    }
  }
}

async function connectFor(address: string, level: Level): Promise<Redis> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 10_000 });
  r.on('error', () => {});
  await r.connect();
  await r.call('CONSISTENCY', level);
  return r;
}

async function withRetries<T>(call: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (e) {
      if (i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 200 * i));
    }
  }
}

function summarize(report: TortureReport, requests: RequestRecord[], faults: FaultRecord[]): void {
  const inFault = (r: RequestRecord) => faults.some((f) => r.atMs >= f.startMs && r.atMs <= f.endMs);
  const during = requests.filter(inFault);
  const calm = requests.filter((r) => !inFault(r));
  report.ops = requests.length;
  report.okCount = requests.filter((r) => r.outcome === 'ok').length;
  report.failCount = requests.filter((r) => r.outcome === 'fail').length;
  report.infoCount = requests.filter((r) => r.outcome === 'info').length;
  const fraction = (rs: RequestRecord[]) =>
    rs.length === 0 ? null : round4(rs.filter((r) => r.succeeded).length / rs.length);
  report.availability = fraction(during);
  report.availabilityCalm = fraction(calm);
  report.latencyFaults = latency(during.filter((r) => r.succeeded));
  report.latencyCalm = latency(calm.filter((r) => r.succeeded));
}

function latency(rs: RequestRecord[]): LatencySummary {
  const sorted = rs.map((r) => r.latencyMs).sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0
      ? null
      : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
  return { requests: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

function emptyReport(seed: number, options: TortureOptions): TortureReport {
  return {
    ok: false,
    seed,
    nodes: options.nodes,
    consistency: options.consistency,
    durationMs: options.durationMs,
    dir: null,
    ops: 0,
    okCount: 0,
    failCount: 0,
    infoCount: 0,
    opsPerSecond: 0,
    acknowledgedWrites: 0,
    indefiniteWrites: 0,
    lostAcknowledgedWrites: 0,
    lostExamples: [],
    staleReads: 0,
    history: { events: 0, verdict: null },
    availability: null,
    availabilityCalm: null,
    latencyFaults: { requests: 0, p50Ms: null, p99Ms: null },
    latencyCalm: { requests: 0, p50Ms: null, p99Ms: null },
    faults: [],
    settleMs: null,
    proxies: { connections: 0, forwardedBytes: 0, droppedBytes: 0 },
    pids: [],
    totalMs: 0,
  };
}

/** The node binary LocalCluster runs: the arpeggio CLI with this node's port and proxy. */
function launcherSource(routesPath: string): string {
  const mainUrl = new URL('../../cli/main.js', import.meta.url).href;
  return `// Written by arpeggio torture: runs a node with its reserved peer port, advertising its proxy.
import { readFileSync } from 'node:fs';
import { main } from ${JSON.stringify(mainUrl)};
const routes = JSON.parse(readFileSync(${JSON.stringify(routesPath)}, 'utf8'));
const argv = process.argv.slice(2);
const route = routes[argv[argv.indexOf('--id') + 1]];
if (route) {
  const i = argv.indexOf('--peer-port');
  if (i >= 0) argv[i + 1] = String(route.listenPort);
  argv.push('--advertise-peer', route.advertise);
}
main(argv).then((code) => { process.exitCode = code; }, (err) => {
  process.stderr.write('arpeggio: ' + (err?.stack ?? err) + '\\n');
  process.exitCode = 1;
});
`;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

function checkAbort(s: AbortSignal): void {
  if (s.aborted) throw new Error('ABORTED: the run was interrupted (Ctrl-C or its deadline)');
}

function sleepUnlessAborted(ms: number, s: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (s.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      s.removeEventListener('abort', done);
      resolve();
    }
    s.addEventListener('abort', done);
  });
}
