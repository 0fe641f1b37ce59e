/**
 * The clients of a torture run: several RESP connections (ioredis) that issue operations at a
 * paced rate and record every one, with its outcome and latency.
 *
 * - **set** workload: `SET` of keys written once each (`s<client>-<n>`, value `v<client>-<n>`),
 *   and `GET` of keys this client had acknowledged. After the run every acknowledged key must
 *   read back with its value from every node (`lostAcknowledgedWrites` counts those that do not).
 * - **register** workload (linearizable): a few keys, each a register, read (`GET`), written
 *   (`SET`), reset (`DEL`, a write of null) and compare-and-set from null (`SET NX`, the cas
 *   [null, v]); recorded as a Jepsen history for the cas-register model.
 *
 * Outcomes: a reply is `ok`; `TRYAGAIN …` (definite) or any failed read is `fail`; `INDEFINITE …`,
 * a timeout or a broken connection on a write is `info` (it may have happened), and the process
 * that issued it never invokes again (a fresh process number takes over, as Jepsen does).
 *
 * A connection sets its level with `CONSISTENCY` before its first command. After any error the
 * client drops its connection and moves to the next running node (failover, as a cluster-aware
 * client does); a reconnect never reuses a connection, which would start at the default level.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Random } from '../../core/types.js';
import { splitAddress } from './fault-proxy.js';

export type Level = 'quorum' | 'linearizable';
export type Outcome = 'ok' | 'fail' | 'info';

/** One event of the register history (check/history.ts's shape). */
export interface RegisterEvent {
  process: number;
  type: 'invoke' | Outcome;
  f: 'read' | 'write' | 'cas';
  key: string;
  value: string | null | [string | null, string];
  time: number;
}

/** Every request, for availability and latency. */
export interface RequestRecord {
  /** Milliseconds since the run began, when it was sent. */
  atMs: number;
  latencyMs: number;
  outcome: Outcome;
  /** The request succeeded (a reply, including a cas that did not apply). */
  succeeded: boolean;
  /** The RESP address it was sent to. */
  target: string;
}

export interface WorkloadOptions {
  level: Level;
  clients: number;
  /** Operations per second, all clients together. */
  rate: number;
  /** A request not answered in this long is abandoned (a write: info). */
  requestTimeoutMs: number;
  registerKeys: number;
  /** The RESP addresses to use now (running members); read before every (re)connect. */
  targets: () => string[];
  random: Random;
  /** performance.now() at the start of the run. */
  startedAt: number;
}

export class Workload {
  readonly events: RegisterEvent[] = [];
  readonly requests: RequestRecord[] = [];
  /** Acknowledged set-workload writes: key → value. */
  readonly acked = new Map<string, string>();
  /** Set-workload writes whose outcome is unknown (they may or may not be there). */
  readonly indefinite = new Set<string>();
  /** GETs of an acknowledged key that did not return its value (allowed at quorum under faults). */
  staleReads = 0;
  private running = false;
  private nextProcess = 0;
  private readonly loops: Promise<void>[] = [];
  private readonly connections = new Set<Redis>();

  constructor(private readonly options: WorkloadOptions) {}

  now(): number {
    return performance.now() - this.options.startedAt;
  }

  start(): void {
    this.running = true;
    const { clients, level } = this.options;
    this.nextProcess = clients;
    for (let c = 0; c < clients; c++) {
      // At linearizable, half the clients work on the registers, half on the set.
      const kind = level === 'linearizable' && c % 2 === 0 ? 'register' : 'set';
      this.loops.push(this.loop(c, kind));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const r of this.connections) r.disconnect();
    this.connections.clear();
  }

  private async loop(client: number, kind: 'set' | 'register'): Promise<void> {
    const intervalMs = (this.options.clients * 1000) / this.options.rate;
    let conn: Redis | null = null;
    let attempt = client;
    let process = client;
    let n = 0;
    const mine: string[] = [];
    let next = performance.now() + this.options.random.next() * intervalMs;
    while (this.running) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + intervalMs, performance.now() - intervalMs);
      if (!this.running) break;
      if (conn === null) {
        const targets = this.options.targets();
        if (targets.length === 0) continue;
        const address = targets[attempt++ % targets.length];
        conn = await this.connect(address);
        if (conn === null) continue;
      }
      n++;
      let broken = false;
      if (kind === 'set') {
        broken = await this.setOp(conn, client, n, mine);
      } else {
        const r = await this.registerOp(conn, process, client, n);
        broken = r.broken;
        if (r.outcome === 'info') process = this.nextProcess++;
      }
      if (broken) {
        this.connections.delete(conn);
        conn.disconnect();
        conn = null;
      }
    }
    if (conn !== null) {
      this.connections.delete(conn);
      conn.disconnect();
    }
  }

  /** One set-workload operation; true when the connection should be dropped. */
  private async setOp(conn: Redis, client: number, n: number, mine: string[]): Promise<boolean> {
    const random = this.options.random;
    if (mine.length > 0 && random.next() < 0.3) {
      const key = mine[random.int(mine.length)];
      const r = await this.timed(conn, () => conn.get(key), false);
      if (r.outcome === 'ok' && r.value !== this.acked.get(key)) this.staleReads++;
      return r.broken;
    }
    const key = `s${client}-${n}`;
    const value = `v${client}-${n}`;
    const r = await this.timed(conn, () => conn.set(key, value), true);
    if (r.outcome === 'ok') {
      this.acked.set(key, value);
      mine.push(key);
    } else if (r.outcome === 'info') this.indefinite.add(key);
    return r.broken;
  }

  private async registerOp(
    conn: Redis,
    process: number,
    client: number,
    n: number,
  ): Promise<{ outcome: Outcome; broken: boolean }> {
    const random = this.options.random;
    const key = `r${random.int(this.options.registerKeys)}`;
    const value = `${client}:${n}`;
    const roll = random.next();
    const push = (type: RegisterEvent['type'], f: RegisterEvent['f'], v: RegisterEvent['value']) =>
      this.events.push({ process, type, f, key, value: v, time: this.now() });
    if (roll < 0.4) {
      push('invoke', 'read', null);
      const r = await this.timed(conn, () => conn.get(key), false);
      push(r.outcome, 'read', r.outcome === 'ok' ? (r.value ?? null) : null);
      return r;
    }
    if (roll < 0.7) {
      push('invoke', 'write', value);
      const r = await this.timed(conn, () => conn.set(key, value), true);
      push(r.outcome, 'write', value);
      return r;
    }
    if (roll < 0.8) {
      // DEL through consensus: the register goes back to null.
      push('invoke', 'write', null);
      const r = await this.timed(conn, () => conn.del(key), true);
      push(r.outcome, 'write', null);
      return r;
    }
    push('invoke', 'cas', [null, value]);
    const r = await this.timed(conn, () => conn.set(key, value, 'NX'), true);
    // A nil reply: the key held a value, the cas did not apply (a definite non-event).
    const applied = r.outcome === 'ok' ? r.value === 'OK' : false;
    push(r.outcome === 'ok' && !applied ? 'fail' : r.outcome, 'cas', [null, value]);
    return r;
  }

  /** Runs one request and records it. */
  private async timed(
    conn: Redis,
    call: () => Promise<string | number | null>,
    isWrite: boolean,
  ): Promise<{ outcome: Outcome; value: string | null; broken: boolean }> {
    const atMs = this.now();
    const began = performance.now();
    let outcome: Outcome;
    let value: string | null = null;
    let broken = false;
    try {
      const reply = await call();
      outcome = 'ok';
      value = reply === null ? null : String(reply);
    } catch (e) {
      const message = (e as Error).message ?? '';
      // After any error the client moves to the next node, as a client with failover would.
      broken = true;
      if (message.startsWith('TRYAGAIN')) outcome = 'fail';
      else outcome = isWrite ? 'info' : 'fail';
    }
    const latencyMs = performance.now() - began;
    const target = `${conn.options.host}:${conn.options.port}`;
    this.requests.push({ atMs, latencyMs, outcome, succeeded: outcome === 'ok', target });
    return { outcome, value, broken };
  }

  private async connect(address: string): Promise<Redis | null> {
    const { host, port } = splitAddress(address);
    const r = new Redis({
      host,
      port,
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1000,
      commandTimeout: this.options.requestTimeoutMs,
    });
    r.on('error', () => {
      // outcomes are taken from the commands
    });
    try {
      await r.connect();
      await r.call('CONSISTENCY', this.options.level);
      this.connections.add(r);
      return r;
    } catch {
      r.disconnect();
      await sleep(50);
      return null;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
