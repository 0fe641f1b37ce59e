/**
 * A node's Prometheus metrics (prom-client), one registry per node.
 *
 * Two kinds of series:
 * - Request series, counted on the hot path by wrapping a front door's `NodeApi` (`instrument`):
 *   requests, errors and a latency histogram by front door, command and consistency level. Each
 *   (door, command, level) gets its label children once, cached in a map, so a request costs a
 *   map lookup, a counter increment and a histogram observation.
 * - Node series, read from `NodeHost.status()` when Prometheus scrapes (`collect`), so they cost
 *   nothing between scrapes: readiness, members by state, ring members, pending joins and leaves,
 *   connected peers, pending hints, handoff and anti-entropy progress, membership events.
 *
 * Membership events are state changes (and incarnation bumps) between two scrapes: a member that
 * flips and flips back between scrapes is not seen. `arpeggio_breaker_state` is the core's view of
 * each peer it has called (its circuit breaker), `arpeggio_peer_connected` the transport's.
 */
import { performance } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { KvReply, KvRequest } from '../core/replication/messages.js';
import type { NodeApi, NodeHostStatus } from './node-host.js';

/**
 * Latency buckets in seconds: 0.5 ms (a local read) to 10 s (beyond any request timeout), about
 * ×2.5 apart, so p50 and p99 of both local and cross-node requests fall inside the range.
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'] as const;
/** `arpeggio_breaker_state`'s values: how far from passing calls a breaker is. */
const BREAKER_LEVELS = { closed: 0, 'half-open': 1, open: 2 } as const;

interface RequestSeries {
  requests: Counter.Internal;
  latency: Histogram.Internal<'door' | 'command' | 'level'>;
}

export interface NodeMetricsInit {
  /** Also export prom-client's process and Node.js series (CPU, memory, event loop). Default true. */
  processMetrics?: boolean;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'door' | 'command' | 'level'>;
  private readonly errors: Counter<'door' | 'command' | 'level' | 'code' | 'definite'>;
  private readonly latency: Histogram<'door' | 'command' | 'level'>;
  private readonly series = new Map<string, RequestSeries>();
  /** Each member's state and incarnation at the last scrape, to count membership events. */
  private readonly lastSeen = new Map<string, { state: string; incarnation: number }>();
  private forgetSnapshot: () => void = () => {};

  constructor(
    private readonly status: () => NodeHostStatus,
    init: NodeMetricsInit = {},
  ) {
    const registers = [this.registry];
    if (init.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'arpeggio_requests_total',
      help: 'Client requests answered, by front door, command and consistency level',
      labelNames: ['door', 'command', 'level'],
      registers,
    });
    this.errors = new Counter({
      name: 'arpeggio_request_errors_total',
      help: 'Client requests answered with an error, by code and whether it is definite (nothing happened)',
      labelNames: ['door', 'command', 'level', 'code', 'definite'],
      registers,
    });
    this.latency = new Histogram({
      name: 'arpeggio_request_duration_seconds',
      help: 'Time from a request reaching the node to its reply, in seconds',
      labelNames: ['door', 'command', 'level'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.nodeSeries(registers);
  }

  /** A NodeApi that counts and times every request it passes on, under front door `door`. */
  instrument<A extends NodeApi>(api: A, door: string): A {
    const request = async (body: KvRequest): Promise<KvReply> => {
      const startedMs = performance.now();
      const reply = await api.request(body);
      this.observe(door, body, reply, (performance.now() - startedMs) / 1000);
      return reply;
    };
    return new Proxy(api, {
      get(target, property, receiver) {
        if (property === 'request') return request;
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** Counts one answered request. */
  observe(door: string, body: KvRequest, reply: KvReply, seconds: number): void {
    const level = 'consistency' in body ? body.consistency : 'none';
    const key = `${door}\u0000${body.op}\u0000${level}`;
    let s = this.series.get(key);
    if (s === undefined) {
      const labels = { door, command: body.op, level };
      s = { requests: this.requests.labels(labels), latency: this.latency.labels(labels) };
      this.series.set(key, s);
    }
    s.requests.inc();
    s.latency.observe(seconds);
    if (!reply.ok) {
      this.errors.inc({
        door,
        command: body.op,
        level,
        code: reply.error.code,
        definite: String(reply.error.definite),
      });
    }
  }

  /** The Prometheus text exposition of every series, from a fresh status(). */
  text(): Promise<string> {
    this.forgetSnapshot();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private nodeSeries(registers: Registry[]): void {
    // One status() per scrape, shared by every collector of that scrape (text() starts a new
    // one; a caller of registry.metrics() gets one at most 100 ms old).
    let snapshot: NodeHostStatus | null = null;
    let snapshotAtMs = -1;
    this.forgetSnapshot = () => {
      snapshot = null;
    };
    const current = (): NodeHostStatus => {
      const now = performance.now();
      if (snapshot === null || now - snapshotAtMs > 100) {
        snapshot = this.status();
        snapshotAtMs = now;
      }
      return snapshot;
    };
    const gauge = (name: string, help: string, read: (s: NodeHostStatus) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(current()));
        },
      });
    /** A counter whose value the core keeps: set to the core's count at every scrape. */
    const counter = (name: string, help: string, read: (s: NodeHostStatus) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(current()));
        },
      });
    const core = (s: NodeHostStatus) => s.core;
    gauge('arpeggio_node_ready', '1 when the node knows the ring and serves requests', (s) =>
      s.ready ? 1 : 0,
    );
    gauge('arpeggio_inflight_requests', 'Client requests the node is working on', (s) => s.inflightRequests);
    gauge(
      'arpeggio_ring_members',
      'Members on this node’s view of the ring',
      (s) => core(s)?.ringMembers.length ?? 0,
    );
    gauge(
      'arpeggio_pending_joins',
      'Members joining (taking over their ranges)',
      (s) => core(s)?.pendingJoins.length ?? 0,
    );
    gauge(
      'arpeggio_pending_leaves',
      'Members leaving (handing off their ranges)',
      (s) => core(s)?.pendingLeaves.length ?? 0,
    );
    gauge(
      'arpeggio_hints_pending',
      'Hinted writes held here for unreachable replicas',
      (s) => s.storage.hintsPending ?? 0,
    );
    gauge(
      'arpeggio_storage_unreleased_batches',
      'Write batches waiting for a flush',
      (s) => s.storage.unreleasedBatches,
    );
    counter(
      'arpeggio_storage_flushes_total',
      'Flushes (group commits) of the store',
      (s) => s.storage.flushes,
    );
    gauge(
      'arpeggio_handoff_ranges_left',
      'Ranges a join or leave handoff still has to move (0: none running)',
      (s) => core(s)?.handoff?.rangesLeft ?? 0,
    );
    gauge(
      'arpeggio_handoff_ranges_total',
      'Ranges of the running join or leave handoff (0: none running)',
      (s) => core(s)?.handoff?.rangesTotal ?? 0,
    );
    const coreCounters: Array<[string, string, keyof NonNullable<NodeHostStatus['core']>['counters']]> = [
      ['arpeggio_anti_entropy_rounds_total', 'Anti-entropy rounds this node started', 'antiEntropyRounds'],
      [
        'arpeggio_anti_entropy_records_received_total',
        'Records anti-entropy pulled into this node',
        'antiEntropyRecordsReceived',
      ],
      [
        'arpeggio_anti_entropy_records_sent_total',
        'Records anti-entropy pushed from this node',
        'antiEntropyRecordsSent',
      ],
      ['arpeggio_hints_delivered_total', 'Hinted writes delivered to their replica', 'hintsDelivered'],
      [
        'arpeggio_handoff_records_received_total',
        'Records received in join/leave handoffs',
        'handoffRecordsReceived',
      ],
      ['arpeggio_handoff_records_sent_total', 'Records sent in join/leave handoffs', 'handoffRecordsSent'],
      [
        'arpeggio_tombstones_collected_total',
        'Tombstones and expired values collected',
        'tombstonesCollected',
      ],
      [
        'arpeggio_consensus_batches_total',
        'Consensus rounds that ran several queued operations on one key together',
        'consensusBatches',
      ],
      [
        'arpeggio_consensus_batched_ops_total',
        'Operations that ran inside batched consensus rounds',
        'consensusBatchedOps',
      ],
    ];
    for (const [name, help, field] of coreCounters) counter(name, help, (s) => core(s)?.counters[field] ?? 0);
    new Gauge({
      name: 'arpeggio_members',
      help: 'Members this node’s SWIM knows, by state',
      labelNames: ['state'],
      registers,
      collect() {
        const members = current().members;
        for (const state of MEMBER_STATES)
          this.set({ state }, members.filter((m) => m.state === state).length);
      },
    });
    new Gauge({
      name: 'arpeggio_peer_connected',
      help: '1 when the transport holds a connection to the member',
      labelNames: ['peer'],
      registers,
      collect() {
        const s = current();
        const connected = new Set(s.connectedPeers);
        this.reset();
        for (const m of s.members) if (m.id !== s.id) this.set({ peer: m.id }, connected.has(m.id) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'arpeggio_breaker_state',
      help: 'The circuit breaker toward each peer this node has called: 0 closed, 1 half-open, 2 open',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        for (const [peer, state] of Object.entries(current().core?.breakers ?? {}))
          this.set({ peer }, BREAKER_LEVELS[state]);
      },
    });
    const lastSeen = this.lastSeen;
    new Counter({
      name: 'arpeggio_membership_events_total',
      help: 'Members seen joining, changing state or raising their incarnation (sampled at each scrape)',
      labelNames: ['event'],
      registers,
      collect() {
        for (const m of current().members) {
          const before = lastSeen.get(m.id);
          if (before === undefined) this.inc({ event: 'joined' });
          else if (before.state !== m.state) this.inc({ event: m.state });
          else if (before.incarnation !== m.incarnation) this.inc({ event: 'incarnation' });
          lastSeen.set(m.id, { state: m.state, incarnation: m.incarnation });
        }
      },
    });
  }
}
