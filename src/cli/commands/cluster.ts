/**
 * `arpeggio cluster up|down|status|add|remove`: a local cluster of real node processes in one
 * directory. Composition and printing only; the manager is src/control/local-cluster.ts.
 */
import { relative } from 'node:path';
import {
  DEFAULT_BASE_PORT,
  DEFAULT_NODE_COUNT,
  LocalCluster,
  LocalClusterError,
  type LocalNode,
  NODE_LOG_FILE,
  type NodeView,
  PORT_STRIDE,
  type StopReport,
} from '../../control/local-cluster.js';
import { memberRows, renderMemberTable, ringVerdict } from '../../control/ring-health.js';
import { boolFlag, intFlag, parseFlags, UsageError } from '../args.js';
import { type CommandGroup, Progress } from '../command.js';

const DEFAULT_DIR = '.arpeggio';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

// ---- printing ------------------------------------------------------------------------------

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const shown = (path: string) => relative(process.cwd(), path) || '.';
const portOf = (address: string) => address.slice(address.lastIndexOf(':') + 1);

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c])).join('   ')}`.trimEnd());
}

function endpointRows(cluster: LocalCluster, nodes: LocalNode[]): string[] {
  return table([
    ['node', 'pid', 'peer', 'resp (redis)', 'http', 'data'],
    ...nodes.map((n) => [
      n.id,
      String(n.pid ?? '-'),
      n.peer,
      n.resp,
      n.http ?? '-',
      shown(cluster.dataDirOf(n)),
    ]),
  ]);
}

function nodeJson(cluster: LocalCluster, n: LocalNode) {
  return {
    id: n.id,
    pid: n.pid,
    peer: n.peer,
    resp: n.resp,
    http: n.http ?? null,
    data: cluster.dataDirOf(n),
    log: `${cluster.dataDirOf(n)}/${NODE_LOG_FILE}`,
  };
}

/** Runs a command body; a LocalClusterError is printed with its code (and as JSON), exit 1. */
async function guarded(label: string, json: boolean, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (!(e instanceof LocalClusterError)) throw e;
    err(`${label}: ${e.code}: ${e.detail}`);
    if (e.code === 'NODE_FAILED' && e.detail.includes('PORT_IN_USE')) {
      err(
        '  another program listens on that port: choose other ports with --base-port (npm start -- --base-port 7200)',
      );
    }
    if (json) out(JSON.stringify({ event: 'failed', code: e.code, message: e.detail }));
    return 1;
  }
}

function dirFlag(values: Record<string, unknown>): string {
  const dir = values.dir;
  if (dir === undefined) return DEFAULT_DIR;
  if (typeof dir !== 'string' || dir === '') throw new UsageError('--dir must be a directory path');
  return dir;
}

function logLevelFlag(values: Record<string, unknown>): string | undefined {
  const level = values['log-level'];
  if (level === undefined) return undefined;
  if (!LOG_LEVELS.includes(String(level))) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  }
  return String(level);
}

// ---- up ------------------------------------------------------------------------------------

const upUsage = `arpeggio cluster up — start a local cluster of real node processes

Usage: arpeggio cluster up [--nodes ${DEFAULT_NODE_COUNT}] [--dir ${DEFAULT_DIR}] [--base-port ${DEFAULT_BASE_PORT}] [--detach] [--json]
                           [--replicas N] [--vnodes V] [--timeout-ms MS] [--log-level info]

Starts one \`arpeggio start\` process per node (n1 first, the others joining it), waits until the
ring has settled (every node ready and normal, every node alive in every other's view, one ring
view everywhere), then prints every endpoint. On a directory that holds a cluster already it
restarts that cluster's members on their directories and ports: their data comes back.

Flags:
  --nodes N          nodes of a new cluster (default ${DEFAULT_NODE_COUNT}); an existing cluster restarts with its members
  --dir DIR          the cluster's directory (default ${DEFAULT_DIR}): cluster.json, node.json, n1/, n2/, …
  --base-port P      node nI listens on P + ${PORT_STRIDE}·(I−1) for peers and on the next port for Redis
                     clients (default ${DEFAULT_BASE_PORT}: n1 7100/7101, n2 7110/7111, …); 0 lets the OS pick
  --detach           start the nodes and return; stop them with \`arpeggio cluster down\`
  --json             print {"event":"up","dir","nodes":[{"id","pid","peer","resp","http","data","log"}]}
  --replicas N       copies of each key (default min(3, nodes)); a new cluster only
  --vnodes V         virtual nodes per node (default 16); a new cluster only
  --timeout-ms MS    how long to wait for the ring to settle (default 60000)
  --log-level LEVEL  the nodes' log level (${LOG_LEVELS.join(', ')}; default info); logs go to DIR/nI/${NODE_LOG_FILE}

Without --detach the command stays in the foreground: Ctrl-C (or SIGTERM) stops every node
gracefully (SIGTERM to each, waiting until each has flushed and exited; no acknowledged write is
lost) and exits 0; a second Ctrl-C kills them at once. The nodes stay members: \`cluster up\` again
brings the cluster back. If the cluster runs already, it says so and starts nothing twice.

Examples:
  arpeggio cluster up
  arpeggio cluster up --nodes 5 --dir /tmp/demo --base-port 7200 --detach
  redis-cli -p 7101`;

const UP_FLAGS = {
  nodes: { type: 'string' },
  dir: { type: 'string' },
  'base-port': { type: 'string' },
  detach: { type: 'boolean' },
  json: { type: 'boolean' },
  replicas: { type: 'string' },
  vnodes: { type: 'string' },
  'timeout-ms': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

async function up(argv: string[]): Promise<number> {
  const p = parseFlags(argv, UP_FLAGS);
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const dir = dirFlag(p.values);
  const json = boolFlag(p, 'json');
  const detach = boolFlag(p, 'detach');
  const optional = (name: string, min: number, max: number) =>
    p.values[name] === undefined ? undefined : intFlag(p, name, 0, { min, max });
  const nodes = optional('nodes', 1, 64);
  const basePort = optional('base-port', 0, 65535 - 64 * PORT_STRIDE);
  const replicas = optional('replicas', 1, 64);
  const vnodes = optional('vnodes', 1, 4096);
  if (replicas !== undefined && replicas > (nodes ?? DEFAULT_NODE_COUNT)) {
    throw new UsageError(`--replicas ${replicas} needs at least ${replicas} nodes (--nodes)`);
  }
  const settleTimeoutMs = intFlag(p, 'timeout-ms', 60_000, { min: 1 });
  const logLevel = logLevelFlag(p.values);
  const progress = new Progress();
  return guarded('arpeggio cluster up', json, async () => {
    const startedMs = Date.now();
    const result = await LocalCluster.up({
      dir,
      ...(nodes === undefined ? {} : { nodes }),
      ...(basePort === undefined ? {} : { basePort }),
      ...(replicas === undefined ? {} : { replicas }),
      ...(vnodes === undefined ? {} : { vnodes }),
      ...(logLevel === undefined ? {} : { logLevel }),
      settleTimeoutMs,
      onProgress: (text) => progress.update(`cluster up: ${text}`),
    }).finally(() => progress.done());
    const { cluster } = result;
    const members = cluster.members();
    for (const note of result.notes) err(`note: ${note}`);
    if (result.alreadyRunning.length > 0) {
      err(
        `note: ${result.alreadyRunning.map((r) => `${r.id} (pid ${r.pid})`).join(', ')} ${result.alreadyRunning.length === 1 ? 'was' : 'were'} running already; started ${result.started.join(', ')}`,
      );
    }
    const seconds = ((Date.now() - startedMs) / 1000).toFixed(1);
    if (json) {
      out(
        JSON.stringify({
          event: 'up',
          dir: cluster.dir,
          created: result.created,
          started: result.started,
          settledMs: Date.now() - startedMs,
          nodes: members.map((n) => nodeJson(cluster, n)),
        }),
      );
    } else {
      const what = result.created ? 'started' : 'restarted';
      out(
        `arpeggio cluster: ${members.length} node${members.length === 1 ? '' : 's'} ${what} in ${shown(cluster.dir)} (${seconds} s; ${result.verdict.reason})`,
      );
      out();
      for (const line of endpointRows(cluster, members)) out(line);
      out();
      out(`Try:    redis-cli -p ${portOf(members[0].resp)} SET greeting hello`);
      out(
        `        redis-cli -p ${portOf(members[members.length - 1].resp)} GET greeting   (any node serves any key)`,
      );
      if (members[0].http) out(`        curl -s http://${members[0].http}/v1/kv/greeting`);
      out(`Status: arpeggio cluster status --dir ${dir}`);
      out(`Logs:   ${shown(cluster.dir)}/nI/${NODE_LOG_FILE} (JSON lines)`);
      out(
        detach
          ? `Stop:   arpeggio cluster down --dir ${dir}`
          : 'Ctrl-C stops every node gracefully; `arpeggio cluster up` brings them back with their data.',
      );
    }
    if (detach) {
      cluster.detach();
      return 0;
    }
    return foreground(cluster, json);
  });
}

/**
 * Holds the terminal until Ctrl-C (SIGINT), SIGTERM or SIGHUP, then stops every node gracefully
 * and resolves 0; or until every node has stopped by other means (`cluster down` from another
 * shell). A second signal kills the nodes at once (exit 130): safe for data, since every
 * acknowledged write is on disk, but not graceful.
 */
function foreground(cluster: LocalCluster, json: boolean): Promise<number> {
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  return new Promise<number>((resolve) => {
    let stoppingSinceMs = 0;
    let watch: NodeJS.Timeout | undefined;
    const finish = (code: number) => {
      clearInterval(watch);
      for (const s of SIGNALS) process.removeListener(s, onSignal);
      resolve(code);
    };
    const onSignal = () => {
      if (stoppingSinceMs === 0) {
        stoppingSinceMs = Date.now();
        err('\nstopping every node gracefully (Ctrl-C again to kill them at once)…');
        cluster.down().then(
          (reports) => {
            report(reports, json);
            finish(0);
          },
          (e: unknown) => {
            err(`arpeggio cluster up: ${(e as Error).message}`);
            finish(1);
          },
        );
        return;
      }
      // One Ctrl-C can arrive twice (from the terminal and from a wrapper that forwards it).
      if (Date.now() - stoppingSinceMs < 500) return;
      err('killing every node (SIGKILL); every acknowledged write is on disk already');
      for (const n of cluster.members()) cluster.kill(n.id, 'SIGKILL');
      finish(130);
    };
    for (const s of SIGNALS) process.on(s, onSignal);
    cluster.onNodeExit((id, code, signal) => {
      if (stoppingSinceMs !== 0) return;
      const n = cluster.node(id);
      err(
        `node ${id} exited (${code === null ? signal : `code ${code}`}); its log: ${shown(cluster.dataDirOf(n))}/${NODE_LOG_FILE}`,
      );
    });
    // Also the end when the nodes were stopped from elsewhere (`cluster down` in another shell).
    watch = setInterval(() => {
      if (stoppingSinceMs !== 0) return;
      cluster.refresh();
      if (cluster.members().every((n) => cluster.pidOf(n) === null)) {
        err('every node has stopped');
        finish(0);
      }
    }, 1000);
  });
}

function report(reports: StopReport[], json: boolean): void {
  if (json) {
    out(JSON.stringify({ event: 'down', nodes: reports }));
    return;
  }
  for (const r of reports) {
    out(r.stopped ? `  ${r.id} (pid ${r.pid}) stopped in ${r.ms} ms` : `  ${r.id} was not running`);
  }
}

// ---- down ----------------------------------------------------------------------------------

const downUsage = `arpeggio cluster down — stop every node of a local cluster gracefully

Usage: arpeggio cluster down [--dir ${DEFAULT_DIR}] [--json] [--timeout-ms 30000]

Sends SIGTERM to every running node (found by the lock file in its directory, so it works from any
shell) and waits until each has exited: requests in flight finish, every write is flushed. The
nodes stay members of the cluster; \`arpeggio cluster up\` brings them back with their data.

Example:
  arpeggio cluster down --dir /tmp/demo`;

async function down(argv: string[]): Promise<number> {
  const p = parseFlags(argv, {
    dir: { type: 'string' },
    json: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
  });
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const json = boolFlag(p, 'json');
  const timeoutMs = intFlag(p, 'timeout-ms', 30_000, { min: 1 });
  return guarded('arpeggio cluster down', json, async () => {
    const cluster = LocalCluster.open({ dir: dirFlag(p.values) });
    const reports = await cluster.down(timeoutMs);
    if (!json) {
      const stopped = reports.filter((r) => r.stopped).length;
      out(
        stopped === 0
          ? `arpeggio cluster: no node of ${shown(cluster.dir)} was running`
          : `arpeggio cluster: stopped ${stopped} node${stopped === 1 ? '' : 's'} of ${shown(cluster.dir)}`,
      );
    }
    report(reports, json);
    return 0;
  });
}

// ---- status --------------------------------------------------------------------------------

const statusUsage = `arpeggio cluster status — what every node of a local cluster says

Usage: arpeggio cluster status [--dir ${DEFAULT_DIR}] [--json]

First one line per member, from what it reports over its Redis port (ARPEGGIO.STATUS):
  member    the node's name
  state     its membership status (normal, joining, leaving), or stopped, left, not ready, no answer
  keys      records it stores: the keys it holds a replica of (each key is on N members, so the
            column sums to about N × DBSIZE), deleted keys not yet collected included
  ranges    ranges it owns as primary (one per virtual node) and their share of the ring
  load      client requests it started per second (last ten seconds), and requests in flight
  breakers  its circuit breakers toward peers that are open or half-open (\`all closed\` otherwise)
Then its process (from the lock file), how many members its ring has, how it sees the others
(alive, suspect, dead), handoff progress, and the records it has moved by handoff and
anti-entropy: pulled (asked for and received) and pushed (sent to others). Last, whether the ring
has settled, or what it still waits for.
--json prints {"dir","settled","reason","nodes":[{"id","pid","running","state","peer","resp","data","status","row"}]}
with each node's full status as ARPEGGIO.STATUS returns it and its table row (\`row\`: member,
state, keys, rangesOwned, ringShare, requestsPerSecond, inflight, breakers).

Example:
  arpeggio cluster status --dir /tmp/demo`;

async function status(argv: string[]): Promise<number> {
  const p = parseFlags(argv, { dir: { type: 'string' }, json: { type: 'boolean' } });
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const json = boolFlag(p, 'json');
  return guarded('arpeggio cluster status', json, async () => {
    const cluster = LocalCluster.open({ dir: dirFlag(p.values) });
    const views = await cluster.observe();
    const verdict = ringVerdict(
      cluster.members().map((n) => n.id),
      views.map((v) => ({ id: v.node.id, status: v.status, ...(v.error ? { error: v.error } : {}) })),
    );
    const rows = memberRows(
      views.map((v) => ({
        id: v.node.id,
        status: v.status,
        process: processOf(v),
        ...(v.error ? { error: v.error } : {}),
      })),
    );
    if (json) {
      out(
        JSON.stringify({
          dir: cluster.dir,
          settled: verdict.settled,
          reason: verdict.reason,
          nodes: views.map((v, i) => ({
            id: v.node.id,
            pid: v.pid,
            running: v.pid !== null,
            state: v.node.state === 'left' ? 'left' : v.pid === null ? 'stopped' : 'running',
            peer: v.node.peer,
            resp: v.node.resp,
            data: cluster.dataDirOf(v.node),
            status: v.status,
            ...(v.error && v.node.state !== 'left' && v.pid !== null ? { error: v.error } : {}),
            row: rows[i],
          })),
        }),
      );
      return 0;
    }
    out(`arpeggio cluster in ${shown(cluster.dir)}`);
    out();
    for (const line of renderMemberTable(rows)) out(line);
    out();
    for (const line of table([
      ['node', 'pid', 'process', 'member', 'ring', 'sees', 'handoff', 'pulled', 'pushed', 'resp (redis)'],
      ...views.map(statusRow),
    ])) {
      out(line);
    }
    out();
    const running = views.filter((v) => v.pid !== null).length;
    out(
      verdict.settled
        ? `ring: settled (${verdict.reason})`
        : running === 0
          ? `ring: stopped (no node runs; \`arpeggio cluster up --dir ${dirFlag(p.values)}\` starts them again)`
          : `ring: not settled: ${verdict.reason}`,
    );
    return 0;
  });
}

function processOf(v: NodeView): string {
  return v.node.state === 'left' ? 'left' : v.pid === null ? 'stopped' : 'running';
}

function statusRow(v: NodeView): string[] {
  const process = processOf(v);
  const core = v.status?.core ?? null;
  if (v.status === null || core === null) {
    const why = v.pid !== null && v.error ? `(${v.error})` : '-';
    return [v.node.id, String(v.pid ?? '-'), process, why, '-', '-', '-', '-', '-', v.node.resp];
  }
  const states = new Map<string, number>();
  for (const m of v.status.members) {
    if (m.id === v.node.id) continue;
    states.set(m.state, (states.get(m.state) ?? 0) + 1);
  }
  const sees =
    [...states]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'nobody';
  const h = core.handoff;
  const handoff = h ? `${h.purpose} ${h.rangesTotal - h.rangesLeft}/${h.rangesTotal}` : '-';
  // Records moved by handoff and anti-entropy: pulled (asked for and received), pushed (sent).
  const pulled = core.counters.handoffRecordsReceived + core.counters.antiEntropyRecordsReceived;
  const pushed = core.counters.handoffRecordsSent + core.counters.antiEntropyRecordsSent;
  return [
    v.node.id,
    String(v.pid),
    process,
    core.status,
    `${core.ringMembers.length} node${core.ringMembers.length === 1 ? '' : 's'}`,
    sees,
    handoff,
    String(pulled),
    String(pushed),
    v.node.resp,
  ];
}

// ---- add and remove ------------------------------------------------------------------------

const addUsage = `arpeggio cluster add — start one more node that joins the local cluster

Usage: arpeggio cluster add [--dir ${DEFAULT_DIR}] [--json] [--timeout-ms 60000] [--log-level info]

Starts node n(K+1) on the next ports of the scheme, joining through every running node, and waits
until it has copied its ranges (status normal) and the ring has settled. The node runs detached;
\`cluster down\` stops it with the others.

Example:
  arpeggio cluster add --dir /tmp/demo`;

async function add(argv: string[]): Promise<number> {
  const p = parseFlags(argv, {
    dir: { type: 'string' },
    json: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const json = boolFlag(p, 'json');
  const settleTimeoutMs = intFlag(p, 'timeout-ms', 60_000, { min: 1 });
  const logLevel = logLevelFlag(p.values);
  const progress = new Progress();
  return guarded('arpeggio cluster add', json, async () => {
    const cluster = LocalCluster.open({
      dir: dirFlag(p.values),
      settleTimeoutMs,
      ...(logLevel === undefined ? {} : { logLevel }),
      onProgress: (text) => progress.update(`cluster add: ${text}`),
    });
    const startedMs = Date.now();
    const node = await cluster.add().finally(() => progress.done());
    cluster.detach();
    if (json)
      out(JSON.stringify({ event: 'added', node: nodeJson(cluster, node), ms: Date.now() - startedMs }));
    else {
      out(`arpeggio cluster: ${node.id} joined in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
      out();
      for (const line of endpointRows(cluster, [node])) out(line);
    }
    return 0;
  });
}

const removeUsage = `arpeggio cluster remove — make one node leave the local cluster for good

Usage: arpeggio cluster remove --node ID [--dir ${DEFAULT_DIR}] [--json] [--timeout-ms 130000]

Sends the node SIGUSR2: it hands every range it holds to the nodes that hold it next, announces
that it left, and exits. Waits for that and for the others' ring to settle without it, then marks
it left in cluster.json (its directory stays; it is never started again). Every key stays readable.

Example:
  arpeggio cluster remove --dir /tmp/demo --node n2`;

async function remove(argv: string[]): Promise<number> {
  const p = parseFlags(argv, {
    dir: { type: 'string' },
    node: { type: 'string' },
    json: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
  });
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const id = p.values.node;
  if (typeof id !== 'string' || id === '')
    throw new UsageError('--node ID is required (see `arpeggio cluster status`)');
  const json = boolFlag(p, 'json');
  const timeoutMs = intFlag(p, 'timeout-ms', 130_000, { min: 1 });
  const progress = new Progress();
  return guarded('arpeggio cluster remove', json, async () => {
    const cluster = LocalCluster.open({
      dir: dirFlag(p.values),
      settleTimeoutMs: timeoutMs,
      onProgress: (text) => progress.update(`cluster remove: ${text}`),
    });
    progress.update(`cluster remove: ${id} is handing its ranges over`);
    const r = await cluster.remove(id, timeoutMs).finally(() => progress.done());
    if (json) out(JSON.stringify({ event: 'removed', id, ms: r.ms }));
    else
      out(
        `arpeggio cluster: ${id} left the cluster in ${(r.ms / 1000).toFixed(1)} s; every range it held was handed over`,
      );
    return 0;
  });
}

// ---- the group -----------------------------------------------------------------------------

export const clusterGroup: CommandGroup = {
  name: 'cluster',
  summary: 'a local cluster of real node processes in one directory',
  commands: [
    {
      name: 'up',
      summary: 'start (or restart) a local cluster and print its endpoints',
      usage: upUsage,
      run: up,
    },
    { name: 'down', summary: 'stop every node of a local cluster gracefully', usage: downUsage, run: down },
    {
      name: 'status',
      summary: 'what every node of a local cluster reports',
      usage: statusUsage,
      run: status,
    },
    { name: 'add', summary: 'start one more node that joins the local cluster', usage: addUsage, run: add },
    {
      name: 'remove',
      summary: 'make one node leave the local cluster for good',
      usage: removeUsage,
      run: remove,
    },
  ],
};
