/**
 * An in-memory stand-in for a node behind the RESP front door: a Map with the semantics of
 * `KvRequest` (conditions, expiry, returnPrevious, increments with the core's own integer rule),
 * causal contexts that count writes per key, and hooks to hold, fail or inspect requests.
 *
 * It is a test double for the cluster, so the front door's translation can be tested alone; the
 * real cluster behind the same front door is tested elsewhere.
 */
import { Buffer } from 'node:buffer';
import type { CausalContext, KvError, KvReply, KvRequest } from '../../../src/core/replication/messages.js';
import { parseInteger, transitionFor } from '../../../src/core/replication/transitions.js';
import type { RespApi } from '../../../src/frontends/resp/commands.js';

interface Entry {
  value: Uint8Array;
  expiresAtMs: number;
}

/** A request held by `hold`: the test decides when (and how) it completes. */
export interface HeldRequest {
  req: KvRequest;
  release(): void;
  fail(error: KvError): void;
}

export class FakeApi implements RespApi {
  readonly nodeId = 'fake-node';
  readonly data = new Map<string, Entry>();
  /** Every request, in the order received. */
  readonly requests: KvRequest[] = [];
  /** Writes per key: the fake's version vector entry, so contexts are observable. */
  private readonly versions = new Map<string, number>();
  /** When set, requests for which it returns true are held until the test releases them. */
  hold: ((req: KvRequest) => boolean) | null = null;
  readonly held: HeldRequest[] = [];
  private heldWaiters: { n: number; resolve: () => void }[] = [];
  /** When set, requests for which it returns an error fail with it. */
  failWith: ((req: KvRequest) => KvError | null) | null = null;
  ready = true;

  constructor(private readonly clock: () => number = Date.now) {}

  status(): unknown {
    return { id: this.nodeId, ready: this.ready };
  }

  request(req: KvRequest): Promise<KvReply> {
    this.requests.push(req);
    const failure = this.failWith?.(req) ?? null;
    if (this.hold?.(req)) {
      return new Promise((resolve) => {
        this.held.push({
          req,
          release: () => resolve(failure ? { ok: false, error: failure } : this.apply(req)),
          fail: (error) => resolve({ ok: false, error }),
        });
        for (const w of this.heldWaiters.filter((w) => this.held.length >= w.n)) {
          this.heldWaiters.splice(this.heldWaiters.indexOf(w), 1);
          w.resolve();
        }
      });
    }
    return Promise.resolve(failure ? { ok: false, error: failure } : this.apply(req));
  }

  /** Resolves once `n` requests are held. */
  heldCount(n: number): Promise<void> {
    if (this.held.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.heldWaiters.push({ n, resolve }));
  }

  get(key: string): string | null {
    const entry = this.live(key);
    return entry ? Buffer.from(entry.value).toString() : null;
  }

  private live(id: string): Entry | undefined {
    const entry = this.data.get(id);
    if (entry && entry.expiresAtMs !== 0 && entry.expiresAtMs <= this.clock()) {
      this.data.delete(id);
      return undefined;
    }
    return entry;
  }

  private context(id: string): CausalContext {
    return { vv: { [this.nodeId]: this.versions.get(id) ?? 0 } };
  }

  private wrote(id: string): CausalContext {
    this.versions.set(id, (this.versions.get(id) ?? 0) + 1);
    return this.context(id);
  }

  private apply(req: KvRequest): KvReply {
    if (req.op === 'scan') {
      const keys = [...this.data.keys()].filter((k) => this.live(k)).map((k) => Buffer.from(k, 'latin1'));
      return { ok: true, keys, nextId: null };
    }
    const id = Buffer.from(req.key).toString('latin1');
    const current = this.live(id);
    switch (req.op) {
      case 'get':
        return { ok: true, value: current ? current.value : null, context: this.context(id) };
      case 'set': {
        const blocked =
          (req.condition === 'if-absent' && current !== undefined) ||
          (req.condition === 'if-present' && current === undefined);
        const previous = req.returnPrevious ? { value: current ? current.value : null } : {};
        if (blocked) return { ok: true, applied: false, ...previous };
        const expiresAtMs = req.keepTtl ? (current?.expiresAtMs ?? 0) : req.expiresAtMs;
        this.data.set(id, { value: Buffer.from(req.value), expiresAtMs });
        return { ok: true, applied: true, ...previous, context: this.wrote(id) };
      }
      case 'del': {
        const existed = current !== undefined;
        this.data.delete(id);
        // Like the core: only consensus knows whether a live value was deleted.
        const applied = req.consistency === 'linearizable' ? existed : true;
        return { ok: true, applied, context: this.wrote(id) };
      }
      case 'incr': {
        const n = current ? parseInteger(current.value) : 0;
        if (n === null) {
          return {
            ok: false,
            error: {
              code: 'NOT_INTEGER',
              definite: true,
              message: 'value is not an integer or out of range',
            },
          };
        }
        const sum = n + req.by;
        if (!Number.isSafeInteger(sum)) {
          return {
            ok: false,
            error: { code: 'NOT_INTEGER', definite: true, message: 'increment or decrement would overflow' },
          };
        }
        this.data.set(id, { value: Buffer.from(String(sum)), expiresAtMs: current?.expiresAtMs ?? 0 });
        this.wrote(id);
        return { ok: true, applied: true, number: sum };
      }
      case 'cas':
        throw new Error('the RESP front door sends no cas yet');
      default: {
        // The other operations: the core's own transition functions over the map.
        const record = current
          ? { value: current.value, expiresAtMs: current.expiresAtMs, hlc: 1, writer: 'fake', vv: {} }
          : null;
        const { next, reply } = transitionFor(req, this.clock())(record);
        if (next !== 'unchanged') {
          if (next.value === null) this.data.delete(id);
          else this.data.set(id, { value: Buffer.from(next.value), expiresAtMs: next.expiresAtMs });
          this.wrote(id);
        }
        return reply;
      }
    }
  }
}
