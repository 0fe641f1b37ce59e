/**
 * The TypeScript client of Arpeggio's HTTP API (docs/CLIENT.md).
 *
 * ```ts
 * const db = await connect({ nodes: ['127.0.0.1:7102'] });
 * await db.set('greeting', 'hello');
 * await db.getString('greeting');                 // 'hello'
 * await db.close();
 * ```
 *
 * Routing is ring-aware and one hop: the client reads `/v1/cluster`, builds the same Ring the
 * nodes build (src/core/ring.ts: members and virtual nodes) and sends each request to the key's
 * replicas first, in preference-list order, skipping dead members and nodes whose circuit
 * breaker is open; any other node is the fallback (every node serves every key). The view is
 * refreshed every `refreshIntervalMs` and after a failure.
 *
 * Retries: up to `retries` more attempts, each on the next candidate node, after a full-jitter
 * exponential backoff (src/core/rpc/backoff.ts). A definite, transient error (QUORUM_UNAVAILABLE,
 * NOT_READY, OVERLOADED, UNREACHABLE, …) is always retried. An indefinite one (TIMEOUT, a lost
 * connection) only for operations that are idempotent: get, del, and set without a condition (a
 * second copy writes the same value again). Conditional writes (ifAbsent, ifMatch, cas) are not
 * retried after an indefinite error: the first attempt may have applied, and then the second
 * would fail its condition and report the wrong outcome.
 */
import { createHash } from 'node:crypto';
import { identifierOf } from '../core/id.js';
import type { Consistency } from '../core/replication/messages.js';
import { CONSISTENCY_LEVELS } from '../core/replication/messages.js';
import { Ring } from '../core/ring.js';
import { fullJitterBackoffMs } from '../core/rpc/backoff.js';
import { CircuitBreaker } from '../core/rpc/circuit-breaker.js';
import type { NodeId, Random } from '../core/types.js';
import { ArpeggioError } from './errors.js';

export interface ConnectOptions {
  /** HTTP endpoints ("host:port" or "http://host:port") to start from; more come from /v1/cluster. */
  nodes: readonly string[];
  /** Bearer token, when the nodes run with --http-token. */
  token?: string;
  /** Level of calls that name none. Default quorum. */
  consistency?: Consistency;
  /** Deadline of one attempt, in ms. Default 5000 (above the nodes' own request deadline). */
  timeoutMs?: number;
  /** Attempts after the first, on definite errors (and indefinite ones when idempotent). Default 3. */
  retries?: number;
  /** First backoff ceiling; the n-th retry waits uniform [0, min(backoffMaxMs, base·2^n)). Default 50. */
  backoffBaseMs?: number;
  /** Default 1000. */
  backoffMaxMs?: number;
  /** How often the cluster view is re-read, in ms; 0: only on failures. Default 5000. */
  refreshIntervalMs?: number;
  /**
   * `ring` (default): discover the cluster and route each key to its replicas.
   * `direct`: talk only to `nodes`, in order (what `arpeggio get --at` does).
   */
  routing?: 'ring' | 'direct';
  /** Consecutive failures that open a node's breaker. Default 3. */
  breakerFailureThreshold?: number;
  /** First open period, doubling per reopening up to breakerOpenMsMax. Default 1000 / 30000. */
  breakerOpenMs?: number;
  breakerOpenMsMax?: number;
}

/** Collaborators, replaceable in tests (STYLE.md §4). */
export interface ClientComponents {
  fetch: typeof fetch;
  /** Wall-clock ms (breakers and backoff only; nothing is ordered by it). */
  clock: () => number;
  random: Random;
  sleep: (ms: number) => Promise<void>;
}

export type Value = Uint8Array | string;

export interface GetOptions {
  consistency?: Consistency;
}

export interface SetOptions {
  consistency?: Consistency;
  /** Expire the value this many ms after the node receives the write. */
  ttlMs?: number;
  /** Write only if the key has no value (If-None-Match: *). Returns false otherwise. */
  ifAbsent?: boolean;
  /** Write only if the current value's ETag is this one (compare-and-set). Returns false otherwise. */
  ifMatch?: string;
}

/** A value with its ETag and causal context. */
export interface Entry {
  value: Uint8Array;
  etag: string;
  /** Opaque: the node's X-Arpeggio-Context. */
  context: string | null;
  /** Concurrent values the node keeps for the key (1 unless the keyspace keeps siblings). */
  siblings: number;
}

/** What `listLocal` answers: one page of the keys ONE node stores. */
export interface LocalPage {
  scope: 'local';
  node: string;
  keys: string[];
  cursor: string | null;
}

/**
 * What `list` answers: one page of the cluster's keys, in ring order. A page may be short, even
 * empty, while `cursor` is not null: keep going until it is.
 */
export interface ClusterPage {
  scope: 'cluster';
  /** The node that coordinated the page. */
  node: string;
  keys: string[];
  cursor: string | null;
}

/** A member in /v1/cluster. */
export interface ClusterMember {
  id: string;
  state: string;
  incarnation: number;
  endpoints: Record<string, string>;
  onRing: boolean;
  rangesOwned: number;
  connected: boolean | null;
}

/** The /v1/cluster document (docs/HTTP-API.md, "The cluster view"). */
export interface ClusterView {
  node: string;
  state: string;
  ready: boolean;
  epoch: number;
  endpoints: Record<string, string>;
  members: ClusterMember[];
  ring: { members: string[]; vnodesPerNode: number; pendingJoins: string[]; pendingLeaves: string[] };
  hintsPending: number;
}

/** The ETag a node gives a value: `"` + 27 characters of base64url(SHA-256(value)) + `"`. */
export function etagOf(value: Value): string {
  return `"${createHash('sha256').update(bytes(value)).digest('base64url').slice(0, 27)}"`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function bytes(value: Value): Uint8Array {
  return typeof value === 'string' ? enc.encode(value) : value;
}

/** "host:port" from "host:port", "http://host:port" or "http://host:port/". */
function addressOf(endpoint: string): string {
  return endpoint.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

const wallClockRandom: Random = {
  next: () => Math.random(),
  int: (n) => Math.floor(Math.random() * n),
  pick: (items) => items[Math.floor(Math.random() * items.length)],
  fork: () => wallClockRandom,
};

function defaultComponents(): ClientComponents {
  return {
    fetch: globalThis.fetch,
    clock: Date.now,
    random: wallClockRandom,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}

/** One request the client sends, and whether repeating it is safe after an indefinite error. */
interface Call {
  method: 'GET' | 'PUT' | 'DELETE';
  /** Path and query, e.g. /v1/kv/k?consistency=quorum. */
  path: string;
  /** Routes the call to this key's replicas; null: any node. */
  key: string | null;
  headers: Record<string, string>;
  body?: Uint8Array;
  idempotent: boolean;
}

interface Answer {
  node: string;
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** Connects: reads the cluster view from the first node that answers (throws UNREACHABLE if none). */
export async function connect(
  options: ConnectOptions,
  components?: Partial<ClientComponents>,
): Promise<Client> {
  const client = new Client(options, { ...defaultComponents(), ...components });
  await client.start();
  return client;
}

export class Client {
  private readonly seeds: string[];
  private readonly defaultConsistency: Consistency;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoff: { backoffBaseMs: number; backoffMaxMs: number };
  private readonly breakers = new Map<string, CircuitBreaker>();
  /** The ring the nodes use, and where each member serves HTTP. */
  private ring: Ring | null = null;
  private httpOf = new Map<NodeId, string>();
  private down = new Set<NodeId>();
  private view: ClusterView | null = null;
  private refreshing: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly options: ConnectOptions,
    private readonly components: ClientComponents,
  ) {
    if (options.nodes.length === 0) throw new TypeError('connect: give at least one node in `nodes`');
    this.seeds = options.nodes.map(addressOf);
    this.defaultConsistency = options.consistency ?? 'quorum';
    checkConsistency(this.defaultConsistency);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = options.retries ?? 3;
    this.backoff = { backoffBaseMs: options.backoffBaseMs ?? 50, backoffMaxMs: options.backoffMaxMs ?? 1000 };
  }

  /** @internal Reads the first view and starts the periodic refresh (connect() calls it). */
  async start(): Promise<void> {
    if (this.options.routing === 'direct') return;
    await this.refresh();
    if (this.view === null) {
      throw new ArpeggioError(
        'UNREACHABLE',
        true,
        `cannot reach any of ${this.seeds.join(', ')} — is the cluster running?`,
        this.seeds[0],
      );
    }
    const every = this.options.refreshIntervalMs ?? 5000;
    if (every > 0) {
      this.timer = setInterval(() => void this.refresh(), every);
      this.timer.unref();
    }
  }

  // ---- keys --------------------------------------------------------------------------------

  /** The value at `key`, or null when it has none. */
  async get(key: string, options: GetOptions = {}): Promise<Uint8Array | null> {
    return (await this.getEntry(key, options))?.value ?? null;
  }

  /** The value at `key` as UTF-8 text, or null. */
  async getString(key: string, options: GetOptions = {}): Promise<string | null> {
    const value = await this.get(key, options);
    return value === null ? null : dec.decode(value);
  }

  /** The value with its ETag (for `set(…, { ifMatch })`) and causal context, or null. */
  async getEntry(key: string, options: GetOptions & { context?: string } = {}): Promise<Entry | null> {
    const consistency = options.consistency ?? this.defaultConsistency;
    const answer = await this.send({
      method: 'GET',
      path: keyPath(key, { consistency }),
      key,
      headers: options.context ? { 'x-arpeggio-context': options.context } : {},
      idempotent: true,
    });
    if (answer.status === 404) {
      const e = errorOf(answer);
      if (e.code === 'KEY_NOT_FOUND') return null;
      throw e;
    }
    if (answer.status !== 200) throw errorOf(answer);
    return {
      value: answer.body,
      etag: answer.headers.get('etag') ?? etagOf(answer.body),
      context: answer.headers.get('x-arpeggio-context'),
      siblings: Number(answer.headers.get('x-arpeggio-siblings') ?? 1),
    };
  }

  /**
   * Writes `value` at `key`. Returns true when written; false when `ifAbsent` or `ifMatch` did
   * not hold (nothing was written).
   */
  async set(key: string, value: Value, options: SetOptions = {}): Promise<boolean> {
    return (await this.write(key, value, options)).applied;
  }

  /** Deletes `key` (fine when it has no value). */
  async del(key: string, options: { consistency?: Consistency } = {}): Promise<void> {
    await this.deleteWith(key, options, {});
  }

  /**
   * Compare-and-set: writes `next` only if the value is `expected` (null: the key has no value;
   * `next` null deletes). Runs at `linearizable` on the node. Returns whether it applied.
   */
  async cas(key: string, expected: Value | null, next: Value | null): Promise<boolean> {
    if (expected === null) {
      if (next === null) return (await this.get(key, { consistency: 'linearizable' })) === null;
      return this.set(key, next, { ifAbsent: true, consistency: 'linearizable' });
    }
    if (next === null) return this.deleteWith(key, {}, { 'if-match': etagOf(expected) }, false);
    return this.set(key, next, { ifMatch: etagOf(expected) });
  }

  /** A handle that keeps the causal context per key and reads and writes at `session`. */
  session(): Session {
    return new Session(this);
  }

  /**
   * One page of the cluster's keys (every node's ranges, merged over replicas at `consistency`),
   * from any node (`at`, default the first reachable). Pass the returned cursor to go on.
   */
  async list(
    options: {
      prefix?: string;
      cursor?: string | null;
      limit?: number;
      at?: string;
      consistency?: Consistency;
    } = {},
  ): Promise<ClusterPage> {
    return (await this.listPage(new URLSearchParams(), options)) as ClusterPage;
  }

  /** One page of the keys stored by ONE node (`at`, default the first reachable); not the cluster's. */
  async listLocal(options: { prefix?: string; cursor?: string | null; limit?: number; at?: string } = {}) {
    return (await this.listPage(new URLSearchParams({ scope: 'local' }), options)) as LocalPage;
  }

  private async listPage(
    query: URLSearchParams,
    options: {
      prefix?: string;
      cursor?: string | null;
      limit?: number;
      at?: string;
      consistency?: Consistency;
    },
  ): Promise<ClusterPage | LocalPage> {
    if (options.consistency !== undefined) query.set('consistency', options.consistency);
    if (options.prefix) query.set('prefix', options.prefix);
    if (options.cursor) query.set('cursor', options.cursor);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const q = query.toString();
    const answer = await this.send(
      { method: 'GET', path: `/v1/kv${q ? `?${q}` : ''}`, key: null, headers: {}, idempotent: true },
      options.at === undefined ? undefined : [addressOf(options.at)],
    );
    if (answer.status !== 200) throw errorOf(answer);
    return JSON.parse(dec.decode(answer.body)) as ClusterPage | LocalPage;
  }

  /** The cluster view of a node, read now (and used for routing from now on). */
  async cluster(): Promise<ClusterView> {
    const answer = await this.send({
      method: 'GET',
      path: '/v1/cluster',
      key: null,
      headers: {},
      idempotent: true,
    });
    if (answer.status !== 200) throw errorOf(answer);
    const view = JSON.parse(dec.decode(answer.body)) as ClusterView;
    this.adopt(view);
    return view;
  }

  /** The HTTP endpoints of the replicas of `key` in preference order, as this client routes. */
  routeOf(key: string): string[] {
    return this.candidates(key);
  }

  /** Stops the refresh timer; calls after this fail with CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  // ---- internals shared with Session -------------------------------------------------------

  /** @internal */
  async write(
    key: string,
    value: Value,
    options: SetOptions & { context?: string },
  ): Promise<{ applied: boolean; context: string | null; etag: string | null }> {
    if (options.ifAbsent && options.ifMatch !== undefined) {
      throw new TypeError('set: give ifAbsent or ifMatch, not both');
    }
    const consistency = options.consistency ?? this.defaultConsistency;
    const headers: Record<string, string> = {};
    if (options.ifAbsent) headers['if-none-match'] = '*';
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    if (options.context) headers['x-arpeggio-context'] = options.context;
    const conditional = options.ifAbsent === true || options.ifMatch !== undefined;
    const answer = await this.send({
      method: 'PUT',
      path: keyPath(key, { consistency, ...(options.ttlMs ? { ttl_ms: String(options.ttlMs) } : {}) }),
      key,
      headers,
      body: bytes(value),
      idempotent: !conditional,
    });
    if (answer.status === 412) return { applied: false, context: null, etag: null };
    if (answer.status !== 204 && answer.status !== 200) throw errorOf(answer);
    return {
      applied: true,
      context: answer.headers.get('x-arpeggio-context'),
      etag: answer.headers.get('etag'),
    };
  }

  /** @internal */
  async deleteWith(
    key: string,
    options: { consistency?: Consistency; context?: string },
    headers: Record<string, string>,
    idempotent = true,
    onContext?: (context: string | null) => void,
  ): Promise<boolean> {
    const consistency = options.consistency ?? this.defaultConsistency;
    const answer = await this.send({
      method: 'DELETE',
      path: keyPath(key, { consistency }),
      key,
      headers: { ...headers, ...(options.context ? { 'x-arpeggio-context': options.context } : {}) },
      idempotent,
    });
    if (answer.status === 412) return false;
    if (answer.status !== 204) throw errorOf(answer);
    onContext?.(answer.headers.get('x-arpeggio-context'));
    return true;
  }

  /**
   * Sends `call` to the best node, retrying on the next candidates as the policy allows.
   * Answers any HTTP reply that is not a transient error; throws the last error otherwise.
   */
  private async send(call: Call, only?: string[]): Promise<Answer> {
    let last: ArpeggioError | null = null;
    const tried: string[] = [];
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (this.closed) throw new ArpeggioError('CLOSED', true, 'the client is closed', null);
      if (attempt > 0)
        await this.components.sleep(fullJitterBackoffMs(this.components.random, this.backoff, attempt - 1));
      const candidates = only ?? (call.key === null ? this.anyNodes() : this.candidates(call.key));
      const node = this.pick(candidates, tried);
      if (node === null) {
        last = new ArpeggioError(
          'CIRCUIT_OPEN',
          true,
          `every node's circuit breaker is open (${candidates.join(', ')})`,
          null,
        );
        continue;
      }
      tried.push(node.address);
      try {
        const answer = await this.attempt(node.address, node.probe, call);
        const error = answer.status >= 500 ? errorOf(answer) : null;
        if (error === null || !error.transient) return answer;
        last = error;
      } catch (e) {
        if (!(e instanceof ArpeggioError)) throw e;
        last = e;
      }
      // The view may be stale (a node left, a ring changed): re-read it in the background.
      void this.refresh();
      if (!last.definite && !call.idempotent) break;
    }
    throw last ?? new ArpeggioError('UNREACHABLE', true, 'no node to send to', null);
  }

  /** The first candidate not yet tried in this call (then any) whose breaker admits an attempt. */
  private pick(candidates: string[], tried: string[]): { address: string; probe: number | null } | null {
    const ordered = [
      ...candidates.filter((c) => !tried.includes(c)),
      ...candidates.filter((c) => tried.includes(c)),
    ];
    const now = this.components.clock();
    for (const address of ordered) {
      const admission = this.breakerOf(address).admit(now);
      if (admission.allowed) return { address, probe: admission.probe };
    }
    return null;
  }

  private async attempt(address: string, probe: number | null, call: Call): Promise<Answer> {
    const breaker = this.breakerOf(address);
    const headers: Record<string, string> = { ...call.headers };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (call.body !== undefined) headers['content-type'] = 'application/octet-stream';
    let response: Response;
    try {
      response = await this.components.fetch(`http://${address}${call.path}`, {
        method: call.method,
        headers,
        ...(call.body !== undefined ? { body: call.body } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const error = transportError(e, address, this.timeoutMs);
      breaker.onFailure(this.components.clock(), probe, error.code);
      throw error;
    }
    let body: Uint8Array;
    try {
      body = new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      const error = transportError(e, address, this.timeoutMs, true);
      breaker.onFailure(this.components.clock(), probe, error.code);
      throw error;
    }
    // A node that is not serving counts against its breaker; any other answer shows it is up.
    if (response.status === 503 && readCode(body) === 'NOT_READY') {
      breaker.onFailure(this.components.clock(), probe, 'NOT_READY');
    } else {
      breaker.onSuccess(this.components.clock(), probe);
    }
    return { node: address, status: response.status, headers: response.headers, body };
  }

  private breakerOf(address: string): CircuitBreaker {
    let breaker = this.breakers.get(address);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(
        {
          peer: address,
          failureThreshold: this.options.breakerFailureThreshold ?? 3,
          openMs: this.options.breakerOpenMs ?? 1000,
          openMsMax: Math.max(this.options.breakerOpenMsMax ?? 30_000, this.options.breakerOpenMs ?? 1000),
          halfOpenMaxCalls: 1,
        },
        this.components.clock(),
      );
      this.breakers.set(address, breaker);
    }
    return breaker;
  }

  /** The key's replicas first (ring walk from its identifier), then every other known node. */
  private candidates(key: string): string[] {
    const ring = this.ring;
    if (ring === null || ring.memberCount === 0) return this.anyNodes();
    const out: string[] = [];
    for (const id of ring.preferenceList(identifierOf(key), ring.memberCount)) {
      const http = this.httpOf.get(id);
      if (http !== undefined && !this.down.has(id)) out.push(http);
    }
    for (const address of this.anyNodes()) if (!out.includes(address)) out.push(address);
    return out;
  }

  /** Every node known to serve HTTP and not known dead, then the seeds. */
  private anyNodes(): string[] {
    if (this.options.routing === 'direct') return [...this.seeds];
    const out: string[] = [];
    for (const [id, http] of this.httpOf) if (!this.down.has(id)) out.push(http);
    for (const seed of this.seeds) if (!out.includes(seed)) out.push(seed);
    return out;
  }

  /** Re-reads the cluster view from some node; at most one refresh at a time. Never throws. */
  private refresh(): Promise<void> {
    if (this.options.routing === 'direct' || this.closed) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        const now = this.components.clock();
        for (const address of this.anyNodes()) {
          if (!this.breakerOf(address).admit(now).allowed) continue;
          try {
            const response = await this.components.fetch(`http://${address}/v1/cluster`, {
              headers:
                this.options.token === undefined ? {} : { authorization: `Bearer ${this.options.token}` },
              signal: AbortSignal.timeout(this.timeoutMs),
            });
            if (response.status !== 200) {
              await response.arrayBuffer();
              continue;
            }
            this.adopt((await response.json()) as ClusterView);
            return;
          } catch {
            // Try the next node; routing keeps the old view meanwhile.
          }
        }
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private adopt(view: ClusterView): void {
    if (view.ring.vnodesPerNode < 1 || view.ring.members.length === 0) return; // not joined yet
    this.view = view;
    this.ring = Ring.fromMembers(view.ring.members, view.ring.vnodesPerNode);
    const httpOf = new Map<NodeId, string>();
    const down = new Set<NodeId>();
    for (const m of view.members) {
      if (m.endpoints?.http) httpOf.set(m.id, m.endpoints.http);
      if (m.state === 'dead' || m.state === 'left') down.add(m.id);
    }
    if (view.endpoints?.http) httpOf.set(view.node, view.endpoints.http);
    this.httpOf = httpOf;
    this.down = down;
  }
}

/**
 * Reads and writes at `session` consistency, carrying the causal context per key: a read sees
 * this session's own writes (read-your-writes) and never goes back in time (monotonic reads).
 */
export class Session {
  private readonly contexts = new Map<string, string>();
  constructor(private readonly client: Client) {}

  async get(key: string): Promise<Uint8Array | null> {
    const entry = await this.client.getEntry(key, { consistency: 'session', ...this.contextFor(key) });
    if (entry?.context) this.contexts.set(key, entry.context);
    return entry?.value ?? null;
  }

  async getString(key: string): Promise<string | null> {
    const value = await this.get(key);
    return value === null ? null : dec.decode(value);
  }

  async set(key: string, value: Value, options: Omit<SetOptions, 'consistency'> = {}): Promise<boolean> {
    const result = await this.client.write(key, value, {
      ...options,
      consistency: 'session',
      ...this.contextFor(key),
    });
    if (result.context) this.contexts.set(key, result.context);
    return result.applied;
  }

  async del(key: string): Promise<void> {
    await this.client.deleteWith(key, { consistency: 'session', ...this.contextFor(key) }, {}, true, (c) => {
      if (c) this.contexts.set(key, c);
    });
  }

  /** The causal context this session holds for `key` (opaque), or null. */
  contextOf(key: string): string | null {
    return this.contexts.get(key) ?? null;
  }

  private contextFor(key: string): { context?: string } {
    const context = this.contexts.get(key);
    return context === undefined ? {} : { context };
  }
}

// ---- helpers -----------------------------------------------------------------------------

function checkConsistency(level: string): void {
  if (!(CONSISTENCY_LEVELS as readonly string[]).includes(level)) {
    throw new TypeError(`consistency must be one of ${CONSISTENCY_LEVELS.join(', ')}; got '${level}'`);
  }
}

function keyPath(key: string, query: Record<string, string>): string {
  if (key === '') throw new TypeError('a key is not empty');
  if (query.consistency !== undefined) checkConsistency(query.consistency);
  return `/v1/kv/${encodeURIComponent(key)}?${new URLSearchParams(query).toString()}`;
}

function readCode(body: Uint8Array): string | null {
  try {
    const parsed = JSON.parse(dec.decode(body)) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === 'string' ? parsed.error.code : null;
  } catch {
    return null;
  }
}

/** The error of a non-success answer: the API's JSON error, or BAD_RESPONSE. */
function errorOf(answer: Answer): ArpeggioError {
  try {
    const parsed = JSON.parse(dec.decode(answer.body)) as {
      error?: { code?: unknown; definite?: unknown; message?: unknown };
    };
    const e = parsed.error;
    if (e && typeof e.code === 'string' && typeof e.definite === 'boolean') {
      return new ArpeggioError(
        e.code,
        e.definite,
        `${answer.node}: ${String(e.message)}`,
        answer.node,
        answer.status,
      );
    }
  } catch {
    // Not JSON: fall through.
  }
  return new ArpeggioError(
    'BAD_RESPONSE',
    answer.status < 500,
    `${answer.node} answered ${answer.status} without an Arpeggio error body`,
    answer.node,
    answer.status,
  );
}

/** A fetch failure: refused before sending (definite) or lost or timed out after (indefinite). */
function transportError(e: unknown, address: string, timeoutMs: number, afterHeaders = false): ArpeggioError {
  const err = e as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return new ArpeggioError('CLIENT_TIMEOUT', false, `${address}: no reply within ${timeoutMs} ms`, address);
  }
  const code = err.cause?.code ?? '';
  if (err.cause?.message === 'bad port') {
    // fetch refuses ports browsers block (9, 25, 6000, …) before it sends anything.
    return new ArpeggioError(
      'UNREACHABLE',
      true,
      `cannot reach ${address}: fetch refuses that port`,
      address,
    );
  }
  if (
    !afterHeaders &&
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)
  ) {
    return new ArpeggioError('UNREACHABLE', true, `cannot reach ${address} (${code})`, address);
  }
  return new ArpeggioError(
    'CONNECTION_LOST',
    false,
    `${address}: the connection failed (${code || err.cause?.message || err.message})`,
    address,
  );
}
