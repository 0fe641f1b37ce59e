/**
 * One node of the store as one OS process: the pure `KvNode` driven by the wall clock, TCP and
 * LMDB. The host owns every piece of I/O the core leaves out:
 *
 *   clock ── tick every tickIntervalMs ─┐
 *   transport ── message from a peer ───┼──▶ KvNode.step / tick / request / peerUnreachable
 *   front doors ── client request ──────┘                    │
 *                                                             ▼ Ready { writes, outbox, replies }
 *                        ReleaseQueue: apply writes now ─▶ flush (group commit) ─▶ release in order
 *                                                             │
 *                 outbox ─▶ transport.send (to self: back into step, next turn); replies ─▶ callers
 *
 * Start-up order matters (see docs/RUNTIME.md): lock the data directory, open the store, make
 * this start's epoch durable, listen for peers, start the front doors (so the node can advertise
 * their addresses), find the seeds' ids, then build the node and start ticking.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { LmdbStore } from '../adapters/storage/lmdb.js';
import type { Durability, NodeStore } from '../adapters/storage/types.js';
import { parseAddress, type TcpTlsOptions, TcpTransport } from '../adapters/transport/tcp.js';
import {
  defaultKvConfig,
  type KvConfig,
  KvNode,
  type PeerMessage,
  validateKvConfig,
} from '../core/kv-node.js';
import type { Member } from '../core/membership/types.js';
import { SeededRandom } from '../core/random.js';
import { isAbsent, type KvRecord, splitDataKey } from '../core/record.js';
import { type KvReply, type KvRequest, kvError } from '../core/replication/messages.js';
import type { StorageWrite } from '../core/storage.js';
import type { NodeId, Ready } from '../core/types.js';
import { AddressBook } from './address-book.js';
import { messageOf, RuntimeError } from './errors.js';
import { establishIdentity, NODE_ID_PATTERN } from './identity.js';
import { DataDirLock } from './lock.js';
import { ReleaseQueue } from './release-queue.js';
import { findSeeds } from './seeds.js';

/**
 * Used when no secret is configured, so that a first try on a laptop works. Anyone who reads this
 * file can join such a cluster; the host logs a warning at every start that uses it.
 */
export const DEVELOPMENT_SECRET = 'arpeggio-development-secret-not-for-production';

/** The store's directory inside the data directory (the lock file sits beside it). */
export const STORE_DIR = 'store';

/** What a front door (RESP, HTTP) needs of the node: ask, and look. */
export interface NodeApi {
  readonly nodeId: NodeId;
  /** Runs a client request; always resolves, errors are replies with a code. */
  request(body: KvRequest): Promise<KvReply>;
  status(): NodeHostStatus;
}

/** A started front door: the address clients use (advertised to the cluster), and its stop. */
export interface FrontDoor {
  /** "host:port" as clients should dial it. */
  address: string;
  /** Stops accepting connections and closes the open ones. */
  close(): Promise<void>;
}

/**
 * Starts a front door on the node. Called before the node joins, so that its address can be
 * advertised; requests that arrive before the node is ready are answered NOT_READY (definite).
 */
export type FrontDoorStarter = (api: NodeApi) => Promise<FrontDoor>;

export interface NodeHostOptions {
  /** The node's directory: the LMDB store and the lock file. Created if absent. */
  dataDir: string;
  /** Interface the peer transport listens on. Default 127.0.0.1. */
  peerHost?: string;
  /** Port for peers; 0 lets the OS pick (see `endpoints.peer`). Default 0. */
  peerPort?: number;
  /** The host name or address peers dial; required when peerHost is a wildcard. Default peerHost. */
  advertiseHost?: string;
  /**
   * The whole peer address peers dial ("host:port"), when it is not this node's listening port:
   * a proxy or a NAT in front of it (`arpeggio torture` puts a fault-injecting proxy there).
   * Default: advertiseHost and the bound port.
   */
  advertisePeer?: string;
  /** Seed addresses ("host:port") of nodes already in the cluster; none for the first node. */
  join?: readonly string[];
  /** This node's name at its first start (default `n-` + 8 hex digits); must match afterwards. */
  id?: NodeId;
  /** The cluster secret (≥ 16 bytes). Default: DEVELOPMENT_SECRET, with a warning. */
  secret?: string;
  /** The cluster name; nodes of other clusters are refused even with the same secret. */
  cluster?: string;
  /** Mutual TLS between nodes. Default: plain TCP with the HMAC handshake. */
  tls?: TcpTlsOptions;
  kvConfig?: Partial<KvConfig>;
  /** `flush` (default): replies wait for fdatasync. `relaxed`: they wait for the commit only. */
  durability?: Durability;
  /** How often the core's tick runs. Default 10 ms. */
  tickIntervalMs?: number;
  /** How long to look for seeds before giving up. Default 30 s. */
  joinTimeoutMs?: number;
  /** How long `close()` lets requests in flight finish. Default 5 s. */
  drainTimeoutMs?: number;
  /** Client requests in flight beyond this are refused OVERLOADED. Default kvConfig.maxInflightRequests. */
  maxInflightRequests?: number;
  /** Front doors to start, by name; each one's address is advertised under that name. */
  frontDoors?: Readonly<Record<string, FrontDoorStarter>>;
  /** Structured logs (pino). Default: silent. */
  logger?: Logger;
  /**
   * The node hit a failure it cannot recover from in place (storage, a core invariant): it has
   * stopped handling anything. Default: exit the process with status 1 (fail-stop). Tests pass
   * their own.
   */
  onFatal?: (error: RuntimeError) => void;
}

export type HostState = 'starting' | 'running' | 'closing' | 'closed' | 'failed';

export interface NodeHostStatus {
  id: NodeId;
  pid: number;
  /** The host's life cycle: starting → running → closing → closed, or failed (fail-stop). */
  state: HostState;
  /** The node knows the ring and serves requests (what the start line waits for). */
  ready: boolean;
  epoch: number;
  /** Peer and client endpoints: `{ peer: "host:port", resp: "host:port", … }`. */
  endpoints: Record<string, string>;
  dataDir: string;
  durability: Durability;
  startedAt: string;
  uptimeMs: number;
  /** Every member this node's SWIM knows, with what each advertises (`meta.peer`, `meta.resp`, …). */
  members: Array<{ id: NodeId; state: Member['state']; incarnation: number; meta: Member['meta'] }>;
  /** Client requests the host is waiting on. */
  inflightRequests: number;
  /**
   * The release queue (batches waiting for a flush, flushes so far, best grouping) and the hinted
   * writes this node holds for unreachable replicas.
   */
  storage: { unreleasedBatches: number; flushes: number; maxBatchesPerFlush: number; hintsPending?: number };
  connectedPeers: NodeId[];
  /** The core's own snapshot (ring members, membership status, handoffs, counters), once running. */
  core: Omit<ReturnType<KvNode['status']>, 'members'> | null;
}

/** A reply the core owes is this late (beyond its own request timeout): the host answers for it. */
const REPLY_GRACE_MS = 1000;
/** How often the members' addresses are folded into the persisted address book. */
const ADDRESS_BOOK_INTERVAL_MS = 1000;

interface PendingRequest {
  resolve: (reply: KvReply) => void;
  /** The host's backstop: the core answers every request by its timeout, this is for bugs. */
  deadlineMs: number;
}

export class NodeHost implements NodeApi {
  readonly nodeId: NodeId;
  readonly epoch: number;
  readonly dataDir: string;
  readonly durability: Durability;
  /** Advertised endpoints: `peer` and one per front door. */
  readonly endpoints: Record<string, string>;
  private readonly log: Logger;
  private readonly store: NodeStore;
  private readonly transport: TcpTransport;
  private readonly lock: DataDirLock;
  private readonly book: AddressBook;
  private readonly queue: ReleaseQueue<PeerMessage, KvReply, StorageWrite>;
  private readonly options: NodeHostOptions;
  private readonly startedAtMs = Date.now();
  private readonly frontDoors: FrontDoor[] = [];
  private node: KvNode | null = null;
  private state: HostState = 'starting';
  private tickTimer: NodeJS.Timeout | undefined;
  private lastNowMs = 0;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly maxInflight: number;
  private nextBookUpdateMs = 0;
  private readyWaiters: (() => void)[] = [];
  private leftWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;
  private failure: RuntimeError | null = null;

  /**
   * Starts a node: resolves once it is listening, its front doors are up and its core runs.
   * A node that joins may not be ready yet: `whenReady()` waits for that. Throws a RuntimeError
   * with a stable code (and releases whatever it had taken) when the node cannot start.
   */
  static async start(options: NodeHostOptions): Promise<NodeHost> {
    const log = options.logger ?? pino({ level: 'silent' });
    const config = checkOptions(options);
    const lock = DataDirLock.acquire(options.dataDir);
    const undo: Array<() => unknown> = [() => lock.release()];
    const rollback = async () => {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (e) {
          log.warn({ err: messageOf(e) }, 'cleanup after a failed start');
        }
      }
    };
    try {
      if (lock.replacedStale) {
        log.warn(
          { previousPid: lock.replacedStale.pid, since: lock.replacedStale.takenAt },
          'the previous process on this data directory did not stop cleanly; took over its stale lock',
        );
      }
      const durability = options.durability ?? 'flush';
      let store: LmdbStore;
      try {
        store = LmdbStore.open({ path: join(lock.dir, STORE_DIR), durability });
      } catch (e) {
        throw new RuntimeError('STORAGE_OPEN_FAILED', messageOf(e), { cause: e });
      }
      undo.push(() => store.close());
      const identity = await establishIdentity(store, options.id);
      const nodeLog = log.child({ node: identity.nodeId });
      if (durability === 'relaxed') {
        nodeLog.warn(
          { durability },
          'relaxed durability: replies wait for the commit, not for fdatasync; a power loss may ' +
            'undo about the last second of acknowledged writes',
        );
      }
      if (options.secret === undefined) {
        nodeLog.warn(
          { code: 'DEVELOPMENT_SECRET' },
          'NO CLUSTER SECRET CONFIGURED: using the public development secret; anyone who can reach ' +
            'the peer port can join. Set --secret, ARPEGGIO_SECRET or "secret" in the config file',
        );
      }
      const book = new AddressBook(store, identity.nodeId);
      const transport = new TcpTransport(
        // The transport names the node in its own log lines.
        { addressOf: (id) => book.addressOf(id), logger: log.child({ component: 'transport' }) },
        {
          nodeId: identity.nodeId,
          cluster: options.cluster ?? 'arpeggio',
          secret: options.secret ?? DEVELOPMENT_SECRET,
          host: options.peerHost ?? '127.0.0.1',
          port: options.peerPort ?? 0,
          ...(options.tls ? { tls: options.tls } : {}),
        },
      );
      undo.push(() => transport.close());
      let bound: { host: string; port: number };
      try {
        bound = await transport.listen();
      } catch (e) {
        throw listenError('peer', options.peerHost ?? '127.0.0.1', options.peerPort ?? 0, e);
      }
      const advertise = options.advertiseHost ?? options.peerHost ?? '127.0.0.1';
      const host = new NodeHost(options, {
        log: nodeLog,
        store,
        transport,
        lock,
        book,
        nodeId: identity.nodeId,
        epoch: identity.epoch,
        durability,
        peerAddress: options.advertisePeer ?? formatAddress(advertise, bound.port),
        maxInflight: options.maxInflightRequests ?? config.maxInflightRequests,
      });
      undo.push(() => host.closeFrontDoors());
      await host.startFrontDoors();
      const seeds = await host.findSeeds();
      host.run(seeds, config);
      nodeLog.info(
        { epoch: identity.epoch, firstStart: identity.firstStart, endpoints: host.endpoints, seeds },
        'node started',
      );
      return host;
    } catch (e) {
      await rollback();
      throw e;
    }
  }

  private constructor(
    options: NodeHostOptions,
    parts: {
      log: Logger;
      store: NodeStore;
      transport: TcpTransport;
      lock: DataDirLock;
      book: AddressBook;
      nodeId: NodeId;
      epoch: number;
      durability: Durability;
      peerAddress: string;
      maxInflight: number;
    },
  ) {
    this.options = options;
    this.log = parts.log;
    this.store = parts.store;
    this.transport = parts.transport;
    this.lock = parts.lock;
    this.book = parts.book;
    this.nodeId = parts.nodeId;
    this.epoch = parts.epoch;
    this.durability = parts.durability;
    this.dataDir = parts.lock.dir;
    this.endpoints = { peer: parts.peerAddress };
    this.maxInflight = parts.maxInflight;
    this.queue = new ReleaseQueue<PeerMessage, KvReply, StorageWrite>({
      store: this.store,
      release: (ready) => this.release(ready),
      onFatal: (error) =>
        this.fatal(
          new RuntimeError('STORAGE_WRITE_FAILED', `the store failed: ${messageOf(error)}`, { cause: error }),
        ),
    });
  }

  // ---- start-up --------------------------------------------------------------------------

  private async startFrontDoors(): Promise<void> {
    for (const [name, start] of Object.entries(this.options.frontDoors ?? {})) {
      let door: FrontDoor;
      try {
        door = await start(this);
      } catch (e) {
        throw listenError(name, '', undefined, e);
      }
      this.frontDoors.push(door);
      this.endpoints[name] = door.address;
    }
  }

  private async closeFrontDoors(): Promise<void> {
    for (const door of this.frontDoors.splice(0).reverse()) {
      try {
        await door.close();
      } catch (e) {
        this.log.warn({ err: messageOf(e) }, 'a front door failed to close');
      }
    }
  }

  private async findSeeds(): Promise<NodeId[]> {
    const addresses = (this.options.join ?? []).filter((a) => a !== this.endpoints.peer);
    if (addresses.length === 0) return [];
    try {
      const { seeds } = await findSeeds(
        {
          connect: (address) => this.transport.connect(address),
          now: () => Date.now(),
          random: Math.random,
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          log: this.log,
        },
        { self: this.nodeId, addresses, timeoutMs: this.options.joinTimeoutMs ?? 30_000 },
      );
      for (const s of seeds) this.book.learn(s.id, s.address);
      return seeds.map((s) => s.id);
    } catch (e) {
      // A node that was in a cluster before can rejoin through the members it remembers, whose
      // addresses the book kept: its seeds being down is no reason not to start.
      const remembered = this.store.get<NodeId[]>('meta', new TextEncoder().encode('ring-members')) ?? [];
      const known = remembered.filter((id) => id !== this.nodeId && this.book.addressOf(id) !== undefined);
      if (e instanceof RuntimeError && e.code === 'JOIN_FAILED' && known.length > 0) {
        this.log.warn(
          { code: e.code, reason: e.detail, remembered: known },
          'no seed answered; rejoining through the members this node remembers',
        );
        return [];
      }
      throw e;
    }
  }

  private run(seeds: NodeId[], config: KvConfig): void {
    const meta: Record<string, string> = { ...this.endpoints };
    this.node = new KvNode(
      { random: new SeededRandom(randomInt(0, 2 ** 32)), storage: this.store },
      { id: this.nodeId, seeds, meta, epoch: this.epoch, config },
    );
    const node = this.node;
    this.book.attach((id) => node.members().find((m) => m.id === id));
    this.transport.onMessage((from, msg) =>
      this.drive('step', (now) => this.nodeOrThrow().step(from, msg as PeerMessage, now)),
    );
    const lost = (peer: NodeId) =>
      this.drive('peerUnreachable', (now) => this.nodeOrThrow().peerUnreachable(peer, now));
    this.transport.on('disconnected', lost);
    this.transport.on('unreachable', lost);
    this.transport.on('rejected', (info) => {
      if (info.code === 'BAD_PROOF' || info.code === 'CLUSTER_MISMATCH') {
        this.log.warn(
          { code: info.code, remote: info.remoteAddress, reason: info.reason },
          'refused a node that does not hold the cluster secret (or belongs to another cluster)',
        );
      }
    });
    this.state = 'running';
    this.tickTimer = setInterval(() => this.onTick(), this.options.tickIntervalMs ?? 10);
    this.onTick(); // start joining now rather than one interval later
  }

  // ---- the public API --------------------------------------------------------------------

  request(body: KvRequest): Promise<KvReply> {
    if (this.state !== 'running' || this.node === null) {
      const why = this.state === 'starting' ? 'this node is starting' : 'this node is shutting down';
      return Promise.resolve(kvError('NOT_READY', true, why));
    }
    if (this.pending.size >= this.maxInflight) {
      return Promise.resolve(kvError('OVERLOADED', true, `${this.pending.size} requests in flight`));
    }
    const requestId = this.nextRequestId++;
    const node = this.node;
    return new Promise<KvReply>((resolve) => {
      const deadlineMs = this.now() + node.config.requestTimeoutMs + REPLY_GRACE_MS;
      this.pending.set(requestId, { resolve, deadlineMs });
      this.drive('request', (now) => node.request({ requestId, body }, now));
    });
  }

  /** Resolves once the node knows the ring and serves requests; rejects NOT_READY_IN_TIME. */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.node?.isReady()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(
          new RuntimeError(
            'NOT_READY_IN_TIME',
            `the node did not join the cluster within ${timeoutMs} ms (no member answered its join)`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(done);
    });
  }

  isReady(): boolean {
    return this.node?.isReady() ?? false;
  }

  /**
   * Live user keys this node's store holds (its own replicas, in ring-position order, not key
   * order), starting after `cursor`, at most `limit` of them, whose bytes start with `prefix`.
   * Reads at most `maxExamined` records per call, so a sparse prefix costs a bounded amount of
   * work per page: a page may hold fewer than `limit` keys (even none) with a cursor to go on.
   * `cursor` is null once the store is exhausted. Local only: not a cluster-wide listing.
   */
  scanLocal(options: {
    prefix: Uint8Array;
    cursor: Uint8Array | null;
    limit: number;
    maxExamined?: number;
  }): { keys: Uint8Array[]; cursor: Uint8Array | null } {
    if (this.state !== 'running' && this.state !== 'closing') return { keys: [], cursor: null };
    const { prefix, limit } = options;
    const budget = Math.max(1, options.maxExamined ?? 10_000);
    const nowMs = Date.now();
    const keys: Uint8Array[] = [];
    let after = options.cursor;
    let examined = 0;
    while (keys.length < limit && examined < budget) {
      // The smallest key greater than `after` is `after` followed by a zero byte.
      const start = after === null ? undefined : Uint8Array.from([...after, 0]);
      const page = this.store.scan<KvRecord>('data', { start, limit: Math.min(1000, budget - examined) });
      if (page.length === 0) return { keys, cursor: null };
      for (const entry of page) {
        examined++;
        after = entry.key;
        const { userKey } = splitDataKey(entry.key);
        if (startsWith(userKey, prefix) && !isAbsent(entry.value, nowMs)) {
          keys.push(Uint8Array.from(userKey));
          if (keys.length === limit) break;
        }
      }
    }
    return { keys, cursor: after };
  }

  /** The N natural replicas of a key by this node's ring (operators, tests). */
  replicasOf(key: Uint8Array): NodeId[] {
    return this.node?.replicasOf(key) ?? [];
  }

  status(): NodeHostStatus {
    const core = this.node?.status();
    const members = (core?.members ?? []).map((m) => ({
      id: m.id,
      state: m.state,
      incarnation: m.incarnation,
      meta: m.meta,
    }));
    let rest: NodeHostStatus['core'] = null;
    if (core !== undefined) {
      const { members: _members, ...others } = core;
      rest = { ...others, counters: { ...others.counters } };
    }
    return {
      id: this.nodeId,
      pid: process.pid,
      state: this.state,
      ready: core?.ready ?? false,
      epoch: this.epoch,
      endpoints: { ...this.endpoints },
      dataDir: this.dataDir,
      durability: this.durability,
      startedAt: new Date(this.startedAtMs).toISOString(),
      uptimeMs: Date.now() - this.startedAtMs,
      members,
      inflightRequests: this.pending.size,
      storage: {
        unreleasedBatches: this.queue.unreleased,
        flushes: this.queue.stats.flushes,
        maxBatchesPerFlush: this.queue.stats.maxBatchesPerFlush,
        hintsPending: this.state === 'closed' ? 0 : this.store.count('hints'),
      },
      connectedPeers: this.state === 'closed' ? [] : this.transport.connectedPeers().sort(),
      core: rest,
    };
  }

  /**
   * Decommissions the node: it hands every range it holds to the nodes that hold it once it is
   * gone (the core's leave: a grace period so that everyone hears it is leaving, then one
   * exchange per range until equal), announces its departure, and then closes. A node that has
   * left is off the ring for good; its data directory should not be started again. Rejects
   * LEAVE_TIMEOUT (and still closes) if the handoff does not finish in `timeoutMs`.
   */
  async leave(timeoutMs: number): Promise<void> {
    const node = this.node;
    if (node === null || this.state !== 'running') {
      throw new RuntimeError('NOT_RUNNING', `cannot leave: the node is ${this.state}`);
    }
    this.log.info({ timeoutMs }, 'leaving the cluster: handing off every range');
    const left = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.leftWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    this.drive('leave', (now) => node.leave(now));
    const done = await left;
    if (done) this.log.info({}, 'left the cluster: every range handed off');
    await this.close();
    if (!done) {
      throw new RuntimeError(
        'LEAVE_TIMEOUT',
        `the handoff did not finish within ${timeoutMs} ms; the node stopped while still a member ` +
          '(the others treat it as failed and re-replicate its ranges)',
      );
    }
  }

  /**
   * Graceful stop: refuse new requests (NOT_READY), let those in flight finish (up to
   * drainTimeoutMs), stop the front doors and the core, wait until every applied write is durable
   * and what waited for it is sent, then close the transport and the store and release the lock.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    if (this.state === 'running') this.state = 'closing';
    this.log.info(
      { inflight: this.pending.size },
      'closing: refusing new requests, finishing those in flight',
    );
    await this.drained(this.options.drainTimeoutMs ?? 5000);
    await this.closeFrontDoors();
    clearInterval(this.tickTimer);
    if (this.state !== 'failed') this.state = 'closed';
    this.answerAll('TIMEOUT', false, 'the node shut down before the request finished; it may have happened');
    await this.queue.idle();
    await this.transport.close();
    try {
      await this.store.close();
    } catch (e) {
      this.log.error({ err: messageOf(e) }, 'the store failed while closing');
    }
    this.lock.release();
    this.log.info({}, 'node closed');
  }

  // ---- driving the core ------------------------------------------------------------------

  private now(): number {
    // The core wants time that never goes back (deadlines, HLC); the wall clock may step back.
    const t = Date.now();
    if (t > this.lastNowMs) this.lastNowMs = t;
    return this.lastNowMs;
  }

  private nodeOrThrow(): KvNode {
    return this.node as KvNode;
  }

  /** Runs one call into the core and hands its Ready batch to the release queue. */
  private drive(what: string, call: (nowMs: number) => Ready<PeerMessage, KvReply, StorageWrite>): void {
    if (this.node === null || (this.state !== 'running' && this.state !== 'closing')) return;
    let ready: Ready<PeerMessage, KvReply, StorageWrite>;
    try {
      ready = call(this.now());
    } catch (e) {
      this.fatal(new RuntimeError('CORE_FAILED', `${what} threw: ${messageOf(e)}`, { cause: e }));
      return;
    }
    this.queue.push(ready);
    if (this.readyWaiters.length > 0 && this.node.isReady()) {
      for (const done of this.readyWaiters.splice(0)) done();
    }
    if (this.leftWaiters.length > 0 && this.node.hasLeft) {
      for (const done of this.leftWaiters.splice(0)) done();
    }
  }

  private onTick(): void {
    const node = this.node;
    if (node === null) return;
    this.drive('tick', (now) => node.tick(now));
    const now = this.now();
    this.expireStuckRequests(now);
    if (now >= this.nextBookUpdateMs && this.state === 'running' && !this.queue.hasFailed) {
      this.nextBookUpdateMs = now + ADDRESS_BOOK_INTERVAL_MS;
      try {
        this.book.update(node.members());
      } catch (e) {
        this.log.warn({ err: messageOf(e) }, 'could not persist the address book');
      }
    }
  }

  /** Sends a released batch's messages and delivers its replies. */
  private release(ready: Ready<PeerMessage, KvReply, StorageWrite>): void {
    for (const env of ready.outbox) {
      if (env.to === this.nodeId) {
        // The transport drops messages to ourselves; deliver them on a later turn, as a network
        // would, so that a step never re-enters the core.
        const msg = env.msg;
        setImmediate(() => this.drive('step', (now) => this.nodeOrThrow().step(this.nodeId, msg, now)));
      } else {
        this.transport.send(env.to, env.msg);
      }
    }
    for (const reply of ready.replies) {
      const p = this.pending.get(reply.requestId);
      if (p === undefined) continue; // answered already by the backstop
      this.pending.delete(reply.requestId);
      p.resolve(reply.body);
    }
    if (this.pending.size === 0 && this.drainWaiters.length > 0) {
      for (const done of this.drainWaiters.splice(0)) done();
    }
  }

  /** The backstop: requests the core never answered (a bug) get an indefinite TIMEOUT. */
  private expireStuckRequests(now: number): void {
    // Deadlines are the request's arrival plus a constant, on a clock that never goes back:
    // insertion order is deadline order, so the expired ones are at the front.
    for (const [requestId, p] of this.pending) {
      if (p.deadlineMs > now) break;
      this.pending.delete(requestId);
      this.log.warn({ requestId }, 'the core did not answer a request by its deadline; answering TIMEOUT');
      p.resolve(kvError('TIMEOUT', false, 'no answer by the deadline; the operation may have happened'));
    }
  }

  private drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ inflight: this.pending.size }, 'requests still in flight at the drain deadline');
        resolve();
      }, timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private answerAll(code: 'TIMEOUT', definite: boolean, message: string): void {
    for (const p of this.pending.values()) p.resolve(kvError(code, definite, message));
    this.pending.clear();
    for (const done of this.drainWaiters.splice(0)) done();
  }

  /** Fail-stop: handle nothing more, answer what is open as indefinite, and tell the owner. */
  private fatal(error: RuntimeError): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.state = 'failed';
    clearInterval(this.tickTimer);
    this.log.fatal({ code: error.code, err: error.detail }, 'stopping the node: it cannot go on safely');
    this.answerAll('TIMEOUT', false, `the node stopped (${error.code}); the operation may have happened`);
    const onFatal =
      this.options.onFatal ??
      (() => {
        process.exit(1);
      });
    onFatal(error);
  }
}

// ---- helpers -------------------------------------------------------------------------------

/** Checks what can be checked before touching the disk; returns the full core configuration. */
function checkOptions(options: NodeHostOptions): KvConfig {
  const bad = (why: string): never => {
    throw new RuntimeError('BAD_CONFIG', why);
  };
  const config: KvConfig = { ...defaultKvConfig, ...options.kvConfig };
  try {
    validateKvConfig(config);
  } catch (e) {
    bad(messageOf(e));
  }
  if (options.id !== undefined && !NODE_ID_PATTERN.test(options.id)) {
    bad(
      `node id '${options.id}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  if (options.secret !== undefined && Buffer.byteLength(options.secret) < 16) {
    bad('the cluster secret must be at least 16 bytes (try: openssl rand -hex 32)');
  }
  const advertise = options.advertiseHost ?? options.peerHost ?? '127.0.0.1';
  if (advertise === '0.0.0.0' || advertise === '::' || advertise === '') {
    bad(
      `peers cannot dial '${advertise}': give the address they should use (advertiseHost, --advertise-host)`,
    );
  }
  if (options.advertisePeer !== undefined) {
    try {
      parseAddress(options.advertisePeer);
    } catch {
      bad(`advertised peer address '${options.advertisePeer}' is not host:port`);
    }
  }
  for (const address of options.join ?? []) {
    try {
      parseAddress(address);
    } catch {
      bad(`seed address '${address}' is not host:port`);
    }
  }
  const tick = options.tickIntervalMs ?? 10;
  if (!(Number.isFinite(tick) && tick >= 1)) bad(`tickIntervalMs must be ≥ 1, got ${tick}`);
  return config;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function listenError(what: string, host: string, port: number | undefined, e: unknown): RuntimeError {
  const code = (e as NodeJS.ErrnoException).code;
  const where = port === undefined ? '' : ` ${host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new RuntimeError(
      'PORT_IN_USE',
      `the ${what} port${where} is in use (another node or program listens there): choose another port`,
      { cause: e },
    );
  }
  if (e instanceof RuntimeError) return e;
  return new RuntimeError('LISTEN_FAILED', `cannot listen for ${what}${where}: ${messageOf(e)}`, {
    cause: e,
  });
}
