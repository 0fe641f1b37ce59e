/**
 * Simulation runs of the replicated store: a cluster of real `KvNode`s, clients that record a
 * history, a fault plan chosen per seed from the enabled menu ("swarm testing"), then a liveness
 * phase without faults in which every operation must succeed, and checkers that judge the run:
 *   - linearizable: the history must be linearizable (Wing–Gong–Lowe checker, cas-register model);
 *   - quorum / all / one / session: no acknowledged write may be lost (a "set" of unique keys);
 *   - every level: after heal, the replicas of every key hold the same version (convergence).
 * A run is a pure function of its options: the same seed replays it exactly.
 */
import { checkEvents } from '../check/linearizability.js';
import { casRegister } from '../check/models.js';
import type { BugName, KvConfig } from '../core/kv-node.js';
import type { SeededRandom } from '../core/random.js';
import type { Consistency, KvReply, KvRequest } from '../core/replication/messages.js';
import type { NodeId } from '../core/types.js';
import { KvCluster, nodeName } from './kv-cluster.js';

export const FAULT_KINDS = [
  'partition',
  'crash',
  'loss',
  'duplicate',
  'reorder',
  'pause',
  'skew',
  'churn',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Bugs the host implements rather than the node. */
export type HostBug = 'ack-before-durable';
export type CampaignBug = BugName | HostBug;

export interface KvRunOptions {
  seed: number;
  nodes: number;
  clients: number;
  ops: number;
  consistency: Consistency;
  faults: readonly FaultKind[];
  bugs?: readonly CampaignBug[];
  /** Keys the register workload spreads its operations over. */
  keys?: number;
  config?: Partial<KvConfig>;
  /** Called with the cluster after the run, before judging (debugging aid). */
  debugHook?: (cluster: KvCluster, history: readonly object[]) => void;
}

export interface KvRunResult {
  seed: number;
  ops: number;
  okOps: number;
  failedOps: number;
  indefiniteOps: number;
  /** Errors of the fault phase by code (`no-reply`: the client gave up waiting). */
  errors: Record<string, number>;
  /** The faults this seed's plan used (a subset of the enabled ones). */
  faultsUsed: FaultKind[];
  /** linearizable runs: the checker's verdict. */
  linearizable?: true | false | 'unknown';
  counterexample?: unknown;
  lostAcknowledgedWrites: number;
  lostExamples: string[];
  /** Reads that missed the acknowledged write just before them, with every node healthy. */
  staleReads: number;
  /** Writes acknowledged while fewer than W nodes held them durably (the reply came too early). */
  underReplicatedAcks: number;
  /** Operations of the liveness phase that did not succeed (there must be none). */
  livenessFailures: number;
  /** Why they failed: error code (or `no-reply`, `not-stable`) → count. */
  livenessErrors: Record<string, number>;
  converged: boolean;
  divergentKeys: number;
  virtualMs: number;
  traceDigest: string;
  /** Why the run failed, or null when every check passed. */
  violation: string | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? decoder.decode(b) : null);

interface HistoryEvent {
  process: number;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: 'read' | 'write' | 'cas';
  key: string;
  value: unknown;
  time: number;
}

/** Runs one seed. */
export function runKv(options: KvRunOptions): KvRunResult {
  const bugs = options.bugs ?? [];
  const nodeBugs = bugs.filter((b): b is BugName => b !== 'ack-before-durable');
  const cluster = new KvCluster({
    seed: options.seed,
    nodes: options.nodes,
    // Simulated links take 1–3 ms, so attempts may time out much sooner than on a real LAN.
    config: {
      requestTimeoutMs: 1000,
      rpc: { requestTimeoutMs: 25, maxAttempts: 4, backoffBaseMs: 5, backoffMaxMs: 50 },
      antiEntropyIntervalMs: 100,
      transitionGraceMs: 2000,
      swim: { pushPullIntervalMs: 2000 },
      ...options.config,
    },
    bugs: nodeBugs,
    releaseBeforeFlush: bugs.includes('ack-before-durable'),
    fsyncLatencyMs: 5,
  });
  const sim = cluster.sim;
  const random = sim.random.fork() as SeededRandom;

  const linearizable = options.consistency === 'linearizable';
  const events: HistoryEvent[] = [];
  /** Per register: the last 3 values a read or write completed with (what a CAS expects). */
  const recentValues = new Map<string, (string | null)[]>();
  const noteRecent = (key: string, value: string | null) => {
    const list = recentValues.get(key) ?? [];
    list.push(value);
    if (list.length > 3) list.shift();
    recentValues.set(key, list);
  };
  const acked = new Map<string, string>(); // set workload: key → value
  const attempted: string[] = []; // set workload: every key written, acknowledged or not
  let okOps = 0;
  let failedOps = 0;
  let indefiniteOps = 0;
  let issued = 0;
  let underReplicated = 0;
  const underReplicatedExamples: string[] = [];
  const n = options.config?.replicaCount ?? 3;
  const writeQuorum =
    options.consistency === 'one'
      ? 1
      : options.consistency === 'all'
        ? n
        : (options.config?.writeQuorum ?? 2);
  const errors: Record<string, number> = {};
  const countError = (reply: KvReply | null): void => {
    const code = errorCode(reply);
    if (code !== null) errors[code] = (errors[code] ?? 0) + 1;
  };
  let nextProcess = options.clients;
  const keyCount = options.keys ?? 5;
  const clientTimeoutMs = (options.config?.requestTimeoutMs ?? 1000) + 500;

  // ---- the fault plan: a random subset of the enabled faults, each with random parameters ----
  const faultsUsed = options.faults.filter(() => random.next() < 0.7);
  if (faultsUsed.length === 0 && options.faults.length > 0) faultsUsed.push(random.pick(options.faults));
  const net = {
    packetLossProbability: faultsUsed.includes('loss') ? random.next() * 0.3 : 0,
    duplicateProbability: faultsUsed.includes('duplicate') ? random.next() * 0.5 : 0,
    reorderProbability: faultsUsed.includes('reorder') ? random.next() * 0.3 : 0,
    reorderDelayMaxMs: 30,
  };
  // Skewed clocks are skewed from the start: a clock that jumps is a different fault.
  const skews = new Map<NodeId, number>();
  if (faultsUsed.includes('skew')) {
    for (const id of cluster.ids) skews.set(id, Math.round((random.next() * 2 - 1) * 300_000));
  }
  if (!cluster.boot(30_000, skews)) {
    return failed(options, cluster, 'membership did not converge at boot');
  }
  sim.setNetwork(net);
  let safetyPhase = true;
  const disruptive = faultsUsed.filter((f) => f === 'partition' || f === 'crash' || f === 'pause');
  // Churn: during the fault phase one node joins and one leaves gracefully.
  if (faultsUsed.includes('churn')) {
    sim.after(200 + random.next() * 1000, () => cluster.addNode(nodeName(cluster.ids.length)));
    sim.after(200 + random.next() * 1000, () => {
      const normal = cluster.ids.filter(
        (id) => sim.status(id) === 'up' && cluster.node(id)?.status().status === 'normal',
      );
      if (normal.length > 3) cluster.leave(random.pick(normal));
    });
  }
  // A new disruptive fault every 0.1–1 s, each lasting 0.1–1 s, at most two at a time.
  let activeFaults = 0;
  const scheduleFault = (): void => {
    if (!safetyPhase || disruptive.length === 0) return;
    sim.after(100 + random.next() * 900, () => {
      if (!safetyPhase) return;
      if (activeFaults < 2) {
        activeFaults++;
        injectFault(random.pick(disruptive), cluster, random, () => activeFaults--);
      }
      scheduleFault();
    });
  };
  scheduleFault();

  // ---- clients -------------------------------------------------------------------------------
  const live = () => sim.liveNodeIds().filter((id) => !cluster.hasLeft(id));
  const runClient = (process: number): void => {
    if (issued >= options.ops) return;
    issued++;
    const target = random.pick(live().length > 0 ? live() : cluster.ids);
    const invokeAt = sim.now();
    if (linearizable) {
      const key = `k${random.int(keyCount)}`;
      const roll = random.next();
      const value = `${process}:${issued}`;
      let req: KvRequest;
      let f: HistoryEvent['f'];
      let invokeValue: unknown;
      if (roll < 0.4) {
        f = 'read';
        invokeValue = null;
        req = { op: 'get', key: bytes(key), consistency: 'linearizable' };
      } else if (roll < 0.75) {
        f = 'write';
        invokeValue = value;
        req = plainSet(key, value, 'linearizable');
      } else {
        f = 'cas';
        // Expect one of the recent values of the key so that some CAS operations succeed.
        const recent = recentValues.get(key) ?? [];
        const expected = recent.length > 0 && random.next() < 0.8 ? random.pick(recent) : null;
        invokeValue = [expected, value];
        req = {
          op: 'cas',
          key: bytes(key),
          expected: expected === null ? null : bytes(expected),
          value: bytes(value),
          consistency: 'linearizable',
        };
      }
      events.push({ process, type: 'invoke', f, key, value: invokeValue, time: invokeAt });
      cluster.send(target, req, clientTimeoutMs, (reply, at) => {
        countError(reply);
        const outcome = classify(reply);
        if (outcome === 'ok' && f === 'cas' && reply?.ok && reply.applied === false) {
          events.push({ process, type: 'fail', f, key, value: invokeValue, time: at });
          okOps++;
        } else if (outcome === 'ok') {
          const readValue = f === 'read' && reply?.ok ? text(reply.value) : invokeValue;
          events.push({ process, type: 'ok', f, key, value: readValue, time: at });
          if (f !== 'cas') noteRecent(key, readValue as string | null);
          okOps++;
        } else if (outcome === 'fail') {
          events.push({ process, type: 'fail', f, key, value: invokeValue, time: at });
          failedOps++;
        } else {
          events.push({ process, type: 'info', f, key, value: invokeValue, time: at });
          indefiniteOps++;
          process = nextProcess++; // a process with an unknown outcome never invokes again
        }
        sim.after(random.next() * 5, () => runClient(process));
      });
      return;
    }
    // The set workload: every write has its own key, so nothing may overwrite an acknowledged one.
    const key = `s${process}-${issued}`;
    const value = `v${issued}`;
    attempted.push(key);
    const req = plainSet(key, value, options.consistency);
    cluster.send(target, req, clientTimeoutMs, (reply) => {
      countError(reply);
      const outcome = classify(reply);
      if (outcome === 'ok') {
        acked.set(key, value);
        okOps++;
        // Acknowledged means durable on W nodes (substitutes holding hints count).
        if (cluster.durableCopies(bytes(key), bytes(value)) < writeQuorum) {
          underReplicated++;
          if (underReplicatedExamples.length < 3) underReplicatedExamples.push(key);
        }
      } else if (outcome === 'fail') failedOps++;
      else indefiniteOps++;
      sim.after(random.next() * 5, () => runClient(process));
    });
  };
  for (let c = 0; c < options.clients; c++) sim.after(random.next() * 10, () => runClient(c));

  // ---- safety phase: run until every operation was issued and answered ----------------------
  const answered = () => okOps + failedOps + indefiniteOps >= options.ops;
  sim.runUntil(answered, 600_000, 50);

  // ---- liveness phase: no faults; every operation must now succeed --------------------------
  safetyPhase = false;
  sim.heal();
  sim.setNetwork({ packetLossProbability: 0, duplicateProbability: 0, reorderProbability: 0 });
  for (const id of cluster.ids) {
    if (sim.status(id) === 'paused') sim.resume(id);
    if (sim.status(id) === 'crashed' && !cluster.hasLeft(id)) sim.restart(id);
  }
  // Stable means: every node sees every other alive, and hinted handoff has handed everything
  // back (until it has, a quorum of natural replicas may legitimately miss a write that a sloppy
  // quorum acknowledged) — and both stay so for a while.
  let stableSinceMs = -1;
  const healed = sim.runUntil(
    () => {
      if (!cluster.membershipConverged() || cluster.pendingHints() > 0) stableSinceMs = -1;
      else if (stableSinceMs < 0) stableSinceMs = sim.now();
      return stableSinceMs >= 0 && sim.now() - stableSinceMs >= 2000;
    },
    120_000,
    50,
  );
  const livenessFailuresAtHeal = 0;
  const livenessErrors: Record<string, number> = {};
  const noteFailure = (reply: KvReply | null): void => {
    const code =
      reply === null ? 'no-reply' : reply.ok ? 'ok' : `${reply.error.code}: ${reply.error.message}`;
    livenessErrors[code] = (livenessErrors[code] ?? 0) + 1;
  };
  if (!healed) livenessErrors['not-stable'] = 1;
  // ---- convergence: every key's replicas hold the same version -----------------------------
  // Merkle anti-entropy must bring every replica up to date on its own (reads would repair what
  // they touch and hide the difference), so convergence is awaited before the final reads. At
  // `one`, a write acknowledged by a single replica reaches the others only this way.
  const keys = linearizable ? Array.from({ length: keyCount }, (_, k) => `k${k}`) : attempted;
  const divergentKeys = (): number => {
    let divergent = 0;
    const anyNode = cluster.node(sim.liveNodeIds()[0]);
    for (const key of keys) {
      const replicas = anyNode ? anyNode.replicasOf(bytes(key)) : [];
      const stored = cluster.storedRecords(bytes(key));
      const versions = new Set(
        replicas.map((r) => {
          const rec = stored.get(r);
          return rec ? `${rec.hlc}/${rec.writer}` : 'none';
        }),
      );
      if (versions.size > 1) divergent++;
    }
    return divergent;
  };
  sim.runUntil(() => divergentKeys() === 0 && cluster.orphans() === 0, 60_000, 250);
  // Records that stay on nodes that do not replicate them are out of reach of reads.
  const orphansLeft = cluster.orphans();
  let livenessFailures = (healed ? 0 : 1) + livenessFailuresAtHeal;
  let lost = 0;
  const lostExamples: string[] = [];
  let pending = 0;
  // The final reads go out like the clients' requests did: a bounded number at a time.
  const queued: Array<() => void> = [];
  let inFlight = 0;
  const pump = (): void => {
    while (inFlight < options.clients && queued.length > 0) {
      inFlight++;
      (queued.shift() as () => void)();
    }
  };
  const finalRead = (key: string, level: Consistency, done: (reply: KvReply | null) => void): void => {
    pending++;
    queued.push(() =>
      cluster.send(
        random.pick(live()),
        { op: 'get', key: bytes(key), consistency: level },
        clientTimeoutMs,
        (reply) => {
          pending--;
          inFlight--;
          done(reply);
          pump();
        },
      ),
    );
    pump();
  };
  if (linearizable) {
    for (let k = 0; k < keyCount; k++) {
      const key = `k${k}`;
      const process = nextProcess++;
      events.push({ process, type: 'invoke', f: 'read', key, value: null, time: sim.now() });
      finalRead(key, 'linearizable', (reply) => {
        if (reply?.ok)
          events.push({ process, type: 'ok', f: 'read', key, value: text(reply.value), time: sim.now() });
        else {
          livenessFailures++;
          noteFailure(reply);
          events.push({ process, type: 'info', f: 'read', key, value: null, time: sim.now() });
        }
      });
    }
  } else {
    for (const [key, value] of acked) {
      finalRead(key, 'quorum', (reply) => {
        if (!reply?.ok) {
          livenessFailures++;
          noteFailure(reply);
        } else if (text(reply.value) !== value) {
          lost++;
          if (lostExamples.length < 5)
            lostExamples.push(`${key}: acknowledged '${value}', read '${text(reply.value)}'`);
        }
      });
    }
  }
  sim.runUntil(() => pending === 0, 120_000, 10);
  livenessFailures += pending;

  // ---- read-your-writes when nothing is failing ---------------------------------------------
  // With every node healthy the quorums are strict, so at quorum and all (R + W > N) and at
  // session level (the write's context travels with the read) a read right after an
  // acknowledged write, through another node, must see it.
  let staleReads = 0;
  const staleExamples: string[] = [];
  const promisesReadYourWrites = ['quorum', 'all', 'session'].includes(options.consistency);
  if (promisesReadYourWrites) {
    let probesLeft = 100;
    let probing = 0;
    const probe = (i: number): void => {
      const key = `ryw-${i}`;
      const value = `w${i}`;
      const [writer, reader] = random.shuffle(live());
      probing++;
      const write = plainSet(key, value, options.consistency);
      cluster.send(writer, write, clientTimeoutMs, (reply) => {
        if (!reply?.ok) {
          probing--;
          livenessFailures++;
          noteFailure(reply);
          return;
        }
        const read: KvRequest = {
          op: 'get',
          key: bytes(key),
          consistency: options.consistency,
          context: reply.context,
        };
        cluster.send(reader, read, clientTimeoutMs, (got) => {
          probing--;
          if (!got?.ok) {
            livenessFailures++;
            noteFailure(got);
          } else if (text(got.value) !== value) {
            staleReads++;
            if (staleExamples.length < 5)
              staleExamples.push(
                `${key}: wrote '${value}' via ${writer}, read '${text(got.value)}' via ${reader}`,
              );
          }
          if (probesLeft-- > 0) probe(1000 - probesLeft);
        });
      });
    };
    for (let c = 0; c < Math.min(options.clients, 10); c++) probe(c);
    sim.runUntil(() => probing === 0, 120_000, 10);
  }

  // The final reads wrote some records back; let anti-entropy settle them again.
  sim.runUntil(() => divergentKeys() === 0, 60_000, 250);
  const divergent = divergentKeys();

  options.debugHook?.(cluster, events);
  let verdict: true | false | 'unknown' | undefined;
  let counterexample: unknown;
  if (linearizable) {
    const result = checkEvents(events, casRegister, { now: () => 0, maxCacheEntries: 2_000_000 });
    verdict = result.valid;
    counterexample = result.counterexample;
  }

  const violation =
    verdict === false
      ? 'history is not linearizable'
      : verdict === 'unknown'
        ? 'linearizability checker could not decide'
        : lost > 0
          ? `${lost} acknowledged writes lost`
          : underReplicated > 0
            ? `${underReplicated} writes acknowledged before ${writeQuorum} nodes held them durably (${underReplicatedExamples.join(', ')})`
            : staleReads > 0
              ? `${staleReads} reads after an acknowledged write missed it (${staleExamples[0]})`
              : livenessFailures > 0
                ? `${livenessFailures} operations failed after heal`
                : divergent > 0
                  ? `${divergent} keys did not converge`
                  : orphansLeft > 0
                    ? `${orphansLeft} records stayed on nodes that do not replicate them`
                    : null;
  return {
    seed: options.seed,
    ops: okOps + failedOps + indefiniteOps,
    okOps,
    failedOps,
    indefiniteOps,
    errors,
    faultsUsed,
    linearizable: verdict,
    counterexample,
    lostAcknowledgedWrites: lost,
    lostExamples,
    staleReads,
    underReplicatedAcks: underReplicated,
    livenessFailures,
    livenessErrors,
    converged: divergent === 0,
    divergentKeys: divergent,
    virtualMs: sim.now(),
    traceDigest: sim.traceDigest(),
    violation,
  };
}

/** SET key value at a level: no expiry, no condition. */
function plainSet(key: string, value: string, consistency: Consistency): KvRequest {
  return {
    op: 'set',
    key: bytes(key),
    value: bytes(value),
    consistency,
    expiresAtMs: 0,
    condition: 'always',
  };
}

function errorCode(reply: KvReply | null): string | null {
  if (reply === null) return 'no-reply';
  return reply.ok ? null : reply.error.code;
}

function classify(reply: KvReply | null): 'ok' | 'fail' | 'info' {
  if (reply === null) return 'info';
  if (reply.ok) return 'ok';
  return reply.error.definite ? 'fail' : 'info';
}

/** Applies one disruptive fault now and schedules its end. */
function injectFault(kind: FaultKind, cluster: KvCluster, random: SeededRandom, ended: () => void): void {
  const sim = cluster.sim;
  const ids = cluster.ids;
  const durationMs = 100 + random.next() * 900;
  sim.after(durationMs, ended);
  switch (kind) {
    case 'crash': {
      const up = ids.filter((id) => sim.status(id) === 'up');
      if (up.length <= 1) return;
      // Mostly one node; sometimes a majority at once, as a power cut would: only durable
      // writes may survive that, which is what acknowledging after fsync promises.
      const count = random.next() < 0.7 ? 1 : Math.min(up.length, Math.floor(ids.length / 2) + 1);
      const victims = random.shuffle([...up]).slice(0, count);
      for (const v of victims) sim.crash(v);
      sim.after(durationMs, () => {
        for (const v of victims) sim.restart(v);
      });
      return;
    }
    case 'pause': {
      const up = ids.filter((id) => sim.status(id) === 'up');
      if (up.length <= 1) return;
      const victim = random.pick(up);
      sim.pause(victim);
      sim.after(durationMs, () => sim.resume(victim));
      return;
    }
    case 'partition': {
      const shuffled = random.shuffle([...ids]);
      const shape = random.int(4);
      if (shape === 0) {
        // isolate one node
        sim.partition([[shuffled[0]], shuffled.slice(1)]);
      } else if (shape === 1) {
        // majority / minority
        const cut = Math.floor(ids.length / 2);
        sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      } else if (shape === 2) {
        // one-way: a node cannot send to the others but hears them
        for (const other of shuffled.slice(1)) sim.blockLink(shuffled[0], other);
      } else {
        // bridge: two halves that both reach one bridge node
        const bridge = shuffled[0];
        const rest = shuffled.slice(1);
        const half = Math.floor(rest.length / 2);
        const a = rest.slice(0, half);
        const b = rest.slice(half);
        for (const x of a)
          for (const y of b) {
            sim.blockLink(x, y);
            sim.blockLink(y, x);
          }
        void bridge;
      }
      sim.after(durationMs, () => sim.heal());
      return;
    }
    default:
      return;
  }
}

function failed(options: KvRunOptions, cluster: KvCluster, why: string): KvRunResult {
  return {
    seed: options.seed,
    ops: 0,
    okOps: 0,
    failedOps: 0,
    indefiniteOps: 0,
    errors: {},
    faultsUsed: [],
    lostAcknowledgedWrites: 0,
    lostExamples: [],
    staleReads: 0,
    underReplicatedAcks: 0,
    livenessFailures: 1,
    livenessErrors: { boot: 1 },
    converged: false,
    divergentKeys: 0,
    virtualMs: cluster.sim.now(),
    traceDigest: cluster.sim.traceDigest(),
    violation: why,
  };
}

/** The command that replays one seed. */
export function replayCommand(options: KvRunOptions): string {
  const parts = [
    'arpeggio sim kv',
    `--nodes ${options.nodes}`,
    `--clients ${options.clients}`,
    `--ops ${options.ops}`,
    `--consistency ${options.consistency}`,
    `--seed ${options.seed}`,
  ];
  if (options.faults.length > 0) parts.push(`--faults ${options.faults.join(',')}`);
  if (options.bugs && options.bugs.length > 0) parts.push(`--bug ${options.bugs.join(',')}`);
  return parts.join(' ');
}

export type { NodeId };
