/**
 * A hand-driven network of RPC endpoints for unit tests: time advances only when the test says,
 * and the test decides which message is delivered, dropped or delivered twice.
 */
import { SeededRandom } from '../../../src/core/random.js';
import type { RpcConfig } from '../../../src/core/rpc/config.js';
import {
  RpcEndpoint,
  type RpcEndpointInit,
  type RpcEvent,
  type RpcHandler,
  type RpcReady,
} from '../../../src/core/rpc/endpoint.js';
import type { RpcCompletion, RpcMessage } from '../../../src/core/rpc/messages.js';
import type { NodeId } from '../../../src/core/types.js';

export type Req = string;
export type Res = string;
export type Msg = RpcMessage<Req, Res>;

export interface InFlight {
  from: NodeId;
  to: NodeId;
  msg: Msg;
}

/** Knobs small enough to reason about by hand. */
export const testConfig: RpcConfig = {
  requestTimeoutMs: 100,
  maxAttempts: 3,
  backoffBaseMs: 10,
  backoffMaxMs: 40,
  breakerFailureThreshold: 1_000,
  breakerOpenMs: 1_000,
  breakerOpenMsMax: 4_000,
  breakerHalfOpenMaxCalls: 1,
  dedupWindowMs: 1_000,
  dedupMaxEntries: 1_000,
  maxOutstandingCallsPerPeer: 100,
};

export class Net {
  nowMs = 0;
  readonly endpoints = new Map<NodeId, RpcEndpoint<Req, Res>>();
  readonly handlers = new Map<NodeId, RpcHandler<Req, Res>>();
  /** Handler invocations per node and payload. */
  readonly applied = new Map<string, number>();
  inFlight: InFlight[] = [];
  readonly completions: RpcCompletion<Res>[] = [];
  readonly events: RpcEvent[] = [];

  constructor(private readonly config: Partial<RpcConfig> = testConfig) {}

  /** Starts (or restarts, with a new epoch) an endpoint whose handler answers `ok:<payload>`. */
  start(id: NodeId, init: Partial<RpcEndpointInit> = {}, seed = 1): RpcEndpoint<Req, Res> {
    const endpoint = new RpcEndpoint<Req, Res>(
      { random: new SeededRandom(seed) },
      { self: id, epoch: 1, nowMs: this.nowMs, config: this.config, ...init },
    );
    this.endpoints.set(id, endpoint);
    this.handlers.set(id, (_from, payload) => {
      const key = `${id}:${payload}`;
      this.applied.set(key, (this.applied.get(key) ?? 0) + 1);
      return `ok:${payload}`;
    });
    return endpoint;
  }

  ep(id: NodeId): RpcEndpoint<Req, Res> {
    const endpoint = this.endpoints.get(id);
    if (!endpoint) throw new Error(`no endpoint ${id}`);
    return endpoint;
  }

  appliedCount(node: NodeId, payload: string): number {
    return this.applied.get(`${node}:${payload}`) ?? 0;
  }

  call(from: NodeId, to: NodeId, payload: Req, options = {}): string {
    const started = this.ep(from).call(to, payload, this.nowMs, options);
    this.take(from, { outbox: started.outbox, completions: [], events: started.events });
    return started.callId;
  }

  /** Delivers one in-flight message (by default the oldest). */
  deliver(index = 0): void {
    const [m] = this.inFlight.splice(index, 1);
    const to = this.ep(m.to);
    this.take(m.to, to.receive(m.from, m.msg, this.nowMs, this.handlers.get(m.to) as RpcHandler<Req, Res>));
  }

  /** Delivers everything in flight, including what the deliveries produce, unless `drop` says otherwise. */
  deliverAll(drop: (m: InFlight) => boolean = () => false): void {
    while (this.inFlight.length > 0) {
      if (drop(this.inFlight[0])) this.inFlight.shift();
      else this.deliver();
    }
  }

  dropAll(): void {
    this.inFlight = [];
  }

  /** Advances time and ticks every endpoint. */
  advance(ms: number): void {
    this.nowMs += ms;
    for (const [id, endpoint] of this.endpoints) this.take(id, endpoint.tick(this.nowMs));
  }

  /** Ticks in 1 ms steps for `ms` milliseconds. */
  advanceFinely(ms: number): void {
    for (let i = 0; i < ms; i++) this.advance(1);
  }

  take(from: NodeId, ready: RpcReady<Req, Res>): void {
    for (const env of ready.outbox) this.inFlight.push({ from, to: env.to, msg: env.msg });
    for (const c of ready.completions) this.completions.push(c);
    for (const e of ready.events) this.events.push(e);
  }

  completionOf(callId: string): RpcCompletion<Res>[] {
    return this.completions.filter((c) => c.callId === callId);
  }
}
