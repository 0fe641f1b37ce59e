/**
 * The HTTP API of a node as a fastify application, apart from any socket (STYLE.md §9): tests
 * drive it with `app.inject()`, `server.ts` binds it to a port.
 *
 * ```ts
 * const app = buildHttpApp(api, { token: process.env.ARPEGGIO_HTTP_TOKEN, metrics });
 * const res = await app.inject({ method: 'PUT', url: '/v1/kv/greeting', payload: 'hello' });
 * ```
 *
 * Every route, header and error is described in docs/HTTP-API.md and in the OpenAPI document the
 * node serves at /v1/openapi.json (openapi.ts). In short:
 * - values are raw bytes (any content type, stored as sent; GET answers application/octet-stream);
 * - the key is the rest of the path after /v1/kv/, percent-decoded, as UTF-8 bytes;
 * - `?consistency=` picks the level per request (default quorum), `?ttl_ms=` an expiry on PUT;
 * - `ETag` is a hash of the value; `If-Match: "<etag>"` makes a PUT or DELETE a compare-and-set
 *   through consensus, `If-Match: *` / `If-None-Match: *` make it conditional on presence;
 * - `X-Arpeggio-Context` carries the causal context (base64url JSON of a version vector): the
 *   node sends it with every reply that has one, and a `session` client sends it back.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import { identifierOf, RING_SIZE } from '../../core/id.js';
import { ringBound, splitDataKey } from '../../core/record.js';
import {
  type CausalContext,
  CONSISTENCY_LEVELS,
  type Consistency,
  type KvReply,
  type KvRequest,
} from '../../core/replication/messages.js';
import type { NodeHostStatus } from '../../runtime/node-host.js';
import { errorBody, fromKvError, type HttpError, httpError } from './errors.js';
import { openApiDocument } from './openapi.js';

/** What the HTTP door needs of a node: NodeApi, and (for `scope=local` listing) a scan of its own store. */
export interface HttpApi {
  readonly nodeId: string;
  request(body: KvRequest): Promise<KvReply>;
  status(): NodeHostStatus;
  scanLocal?(options: { prefix: Uint8Array; cursor: Uint8Array | null; limit: number }): {
    keys: Uint8Array[];
    cursor: Uint8Array | null;
  };
}

/** Where /metrics gets its text (src/runtime/metrics.ts's NodeMetrics fits). */
export interface MetricsText {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface HttpAppOptions {
  /** When set, every route but /healthz requires `Authorization: Bearer <token>`. */
  token?: string;
  /** The /metrics source; without one /metrics answers NOT_SUPPORTED (501). */
  metrics?: MetricsText;
  /** Largest value a PUT may carry, in bytes. Default 1 MiB (fastify's default body limit). */
  maxValueBytes?: number;
  /** Longest key, in bytes after percent-decoding. Default 8 KiB (what proxies pass in a URL). */
  maxKeyBytes?: number;
  /** Largest `limit` of a listing page. Default 1000. */
  maxListLimit?: number;
  /** Level of requests without `?consistency=`. Default quorum. */
  defaultConsistency?: Consistency;
  /** Logs (fastify logs each request at info level; give a logger at warn to keep errors only). Default none. */
  logger?: Logger;
  /** Wall-clock ms, for TTLs. Default Date.now. */
  clock?: () => number;
}

export const CONTEXT_HEADER = 'x-arpeggio-context';
export const SIBLINGS_HEADER = 'x-arpeggio-siblings';
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_KEY_BYTES = 8 * 1024;
const DEFAULT_LIST_LIMIT = 100;
/** TTLs beyond ten years are surely mistakes (seconds given as ms is the usual one the other way). */
const MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

const enc = new TextEncoder();
const dec = new TextDecoder();
/** A cursor starts with a ring position of this many bytes (record.ts's dataKey prefix). */
const RING_POSITION_BYTES = 6;

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** The ETag of a value: a quoted, 160-bit, base64url SHA-256 prefix of its bytes. */
export function etagOf(value: Uint8Array): string {
  return `"${createHash('sha256').update(value).digest('base64url').slice(0, 27)}"`;
}

export function encodeContext(context: CausalContext): string {
  return Buffer.from(JSON.stringify(context.vv)).toString('base64url');
}

/** Parses a context header; throws an HttpError (400) when it is not one this node made. */
export function decodeContext(header: string): CausalContext {
  let vv: unknown;
  try {
    vv = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw httpError('BAD_REQUEST', `${CONTEXT_HEADER} is not base64url JSON`);
  }
  const ok =
    typeof vv === 'object' &&
    vv !== null &&
    !Array.isArray(vv) &&
    Object.values(vv).every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
  if (!ok) throw httpError('BAD_REQUEST', `${CONTEXT_HEADER} must be a version vector {"node": count, …}`);
  return { vv: vv as Record<string, number> };
}

class Refusal extends Error {
  constructor(readonly http: HttpError) {
    super(http.message);
  }
}

function refuse(e: HttpError): never {
  throw new Refusal(e);
}

export function buildHttpApp(api: HttpApi, options: HttpAppOptions = {}): FastifyInstance {
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const maxKeyBytes = options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
  const maxListLimit = options.maxListLimit ?? 1000;
  const defaultConsistency = options.defaultConsistency ?? 'quorum';
  const clock = options.clock ?? Date.now;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: maxValueBytes,
    // A key may hold any byte, percent-encoded; the default 100-character limit is too short.
    routerOptions: { maxParamLength: maxKeyBytes * 3 },
  });

  // Values are bytes, whatever the client calls them: no JSON or form parsing, ever.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxValueBytes }, (_req, body, done) =>
    done(null, body),
  );

  const tokenDigest = options.token === undefined ? null : sha256(options.token);
  app.addHook('onRequest', async (req, reply) => {
    if (tokenDigest === null || req.url.split('?')[0] === '/healthz') return;
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : null;
    // Compare digests, which have the same length whatever was sent, in constant time.
    if (given === null || !timingSafeEqual(sha256(given), tokenDigest)) {
      reply.header('www-authenticate', 'Bearer realm="arpeggio"');
      return send(
        reply,
        httpError('UNAUTHORIZED', 'send Authorization: Bearer <token> (the node’s --http-token)'),
      );
    }
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    if (err instanceof Refusal) return send(reply, err.http);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return send(reply, httpError('VALUE_TOO_LARGE', `the value exceeds ${maxValueBytes} bytes`));
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return send(reply, { ...httpError('BAD_REQUEST', err.message), status: err.statusCode });
    }
    app.log.error({ err }, 'HTTP handler failed');
    return send(reply, httpError('INTERNAL', `internal error: ${err.message}`, false));
  });
  app.setNotFoundHandler((req, reply) =>
    send(reply, httpError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`)),
  );

  // ---- keys --------------------------------------------------------------------------------

  app.get('/v1/kv/*', async (req, reply) => {
    const key = keyOf(req, maxKeyBytes);
    const consistency = consistencyOf(req, defaultConsistency);
    const context = contextOf(req);
    const result = await ask(api, { op: 'get', key, consistency, ...(context ? { context } : {}) });
    if (result.context) reply.header(CONTEXT_HEADER, encodeContext(result.context));
    if (result.value === null || result.value === undefined) {
      return send(reply, httpError('KEY_NOT_FOUND', `no value at key '${dec.decode(key)}'`));
    }
    if (result.siblings && result.siblings.length > 1)
      reply.header(SIBLINGS_HEADER, String(result.siblings.length));
    reply.header('etag', etagOf(result.value));
    reply.type('application/octet-stream');
    return reply.send(Buffer.from(result.value.buffer, result.value.byteOffset, result.value.byteLength));
  });

  app.put('/v1/kv/*', async (req, reply) => {
    const key = keyOf(req, maxKeyBytes);
    const consistency = consistencyOf(req, defaultConsistency);
    const body = req.body;
    const value: Uint8Array = body instanceof Uint8Array ? body : new Uint8Array(0);
    const ttlMs = ttlOf(req);
    const ifMatch = header(req, 'if-match');
    const ifNoneMatch = header(req, 'if-none-match');
    if (ifMatch !== undefined && ifNoneMatch !== undefined) {
      refuse(httpError('BAD_REQUEST', 'send If-Match or If-None-Match, not both'));
    }
    if (ifNoneMatch !== undefined && ifNoneMatch !== '*') {
      refuse(httpError('BAD_REQUEST', 'If-None-Match takes only * (write if absent)'));
    }
    if (ifMatch !== undefined && ifMatch !== '*') {
      if (ttlMs !== 0)
        refuse(httpError('BAD_REQUEST', 'a compare-and-set (If-Match with an ETag) takes no ttl_ms'));
      await compareAndSet(api, key, ifMatch, value);
      reply.header('etag', etagOf(value));
      return reply.code(204).send();
    }
    const context = contextOf(req);
    const result = await ask(api, {
      op: 'set',
      key,
      value,
      consistency,
      expiresAtMs: ttlMs === 0 ? 0 : clock() + ttlMs,
      condition: ifMatch === '*' ? 'if-present' : ifNoneMatch === '*' ? 'if-absent' : 'always',
      ...(context ? { context } : {}),
    });
    if (result.applied === false) {
      refuse(
        httpError(
          'PRECONDITION_FAILED',
          ifMatch === '*'
            ? 'If-Match: * but the key has no value'
            : 'If-None-Match: * but the key has a value',
        ),
      );
    }
    if (result.context) reply.header(CONTEXT_HEADER, encodeContext(result.context));
    reply.header('etag', etagOf(value));
    return reply.code(204).send();
  });

  app.delete('/v1/kv/*', async (req, reply) => {
    const key = keyOf(req, maxKeyBytes);
    const consistency = consistencyOf(req, defaultConsistency);
    const ifMatch = header(req, 'if-match');
    if (ifMatch !== undefined && ifMatch !== '*') {
      await compareAndSet(api, key, ifMatch, null);
      return reply.code(204).send();
    }
    if (ifMatch === '*') {
      // Delete only if present: a compare-and-set on the value read, so it is one atomic step.
      const current = await ask(api, { op: 'get', key, consistency: 'linearizable' });
      if (current.value === null || current.value === undefined) {
        refuse(httpError('PRECONDITION_FAILED', 'If-Match: * but the key has no value'));
      }
      await compareAndSet(api, key, etagOf(current.value), null);
      return reply.code(204).send();
    }
    const context = contextOf(req);
    const result = await ask(api, { op: 'del', key, consistency, ...(context ? { context } : {}) });
    if (result.context) reply.header(CONTEXT_HEADER, encodeContext(result.context));
    return reply.code(204).send();
  });

  // Listing: the cluster's keys by default (the core's cluster-wide scan, replication/scan.ts);
  // `scope=local` pages through this node's own store instead. A cursor is opaque to clients:
  // base64url of a 6-byte ring position (cluster) or of a stored key (local), whose first 6 bytes
  // are also a ring position, so either scope resumes from the other's cursor.
  app.get('/v1/kv', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const limit = q.limit === undefined ? DEFAULT_LIST_LIMIT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxListLimit) {
      refuse(httpError('BAD_REQUEST', `limit must be an integer from 1 to ${maxListLimit}`));
    }
    const scope = q.scope ?? 'cluster';
    if (scope !== 'cluster' && scope !== 'local')
      refuse(httpError('BAD_REQUEST', 'scope must be cluster or local'));
    let cursor: Uint8Array | null = null;
    if (q.cursor !== undefined && q.cursor !== '') {
      cursor = Buffer.from(q.cursor, 'base64url');
      if (!/^[A-Za-z0-9_-]+$/.test(q.cursor) || cursor.length < RING_POSITION_BYTES)
        refuse(httpError('BAD_REQUEST', 'cursor is not one this API returned'));
    }
    const prefix = enc.encode(q.prefix ?? '');
    if (scope === 'cluster') {
      const page = await clusterPage(api, {
        fromId: cursor === null ? 0 : splitDataKey(cursor).id,
        prefix,
        limit,
        consistency: consistencyOf(req, defaultConsistency),
      });
      return reply.send({
        scope: 'cluster',
        node: api.nodeId,
        keys: page.keys.map((k) => dec.decode(k)),
        cursor: page.nextId === null ? null : Buffer.from(ringBound(page.nextId)).toString('base64url'),
      });
    }
    if (api.scanLocal === undefined) {
      refuse(httpError('NOT_SUPPORTED', 'this node offers no local listing'));
    }
    if (!api.status().ready) refuse(httpError('NOT_READY', 'the node is not serving yet'));
    const page = api.scanLocal({ prefix, cursor, limit });
    return reply.send({
      scope: 'local',
      node: api.nodeId,
      keys: page.keys.map((k) => dec.decode(k)),
      cursor: page.cursor === null ? null : Buffer.from(page.cursor).toString('base64url'),
    });
  });

  // ---- the node and the cluster -----------------------------------------------------------------

  app.get('/v1/cluster', async (_req, reply) => reply.send(clusterView(api.status())));

  app.get('/healthz', async (_req, reply) => reply.send({ status: 'alive', node: api.nodeId }));

  app.get('/readyz', async (_req, reply) => {
    const s = api.status();
    if (!s.ready || s.state !== 'running') {
      return send(
        reply,
        httpError('NOT_READY', `the node is ${s.state}${s.ready ? '' : ' and has not joined the ring'}`),
      );
    }
    return reply.send({ status: 'ready', node: api.nodeId });
  });

  app.get('/metrics', async (_req, reply) => {
    if (options.metrics === undefined) refuse(httpError('NOT_SUPPORTED', 'this node exports no metrics'));
    const text = await options.metrics.text();
    return reply.type(options.metrics.contentType).send(text);
  });

  const document = openApiDocument({ maxValueBytes, maxKeyBytes, maxListLimit, defaultConsistency });
  app.get('/v1/openapi.json', async (_req, reply) => reply.send(document));

  return app;
}

// ---- helpers ---------------------------------------------------------------------------------

function send(reply: FastifyReply, e: HttpError): FastifyReply {
  if (e.status === 503) reply.header('retry-after', '1');
  return reply.code(e.status).type('application/json; charset=utf-8').send(errorBody(e));
}

/** Records one listing call reads at most (over several scan steps), like `scope=local`'s bound. */
const LIST_EXAMINE_BUDGET = 10_000;
const LIST_SCAN_STEP = 1000;

/**
 * Up to `limit` keys with `prefix` from ring position `fromId` on, through the core's cluster-wide
 * scan, step after step until enough match or the budget is spent. Keys are cut at a ring
 * position, so `nextId` resumes exactly after the last key given (keys sharing a position — a
 * 48-bit collision — stay together, so a page may exceed `limit` by those).
 */
async function clusterPage(
  api: HttpApi,
  q: { fromId: number; prefix: Uint8Array; limit: number; consistency: Consistency },
): Promise<{ keys: Uint8Array[]; nextId: number | null }> {
  const found: Array<{ key: Uint8Array; id: number }> = [];
  let fromId: number | null = q.fromId;
  for (let read = 0; fromId !== null && read < LIST_EXAMINE_BUDGET; read += LIST_SCAN_STEP) {
    const page = await ask(api, { op: 'scan', fromId, count: LIST_SCAN_STEP, consistency: q.consistency });
    for (const key of page.keys ?? [])
      if (startsWith(key, q.prefix)) found.push({ key, id: identifierOf(key) });
    fromId = page.nextId ?? null;
    if (found.length > q.limit) {
      found.sort((a, b) => a.id - b.id);
      const cutId = found[q.limit].id;
      const kept = found.filter((f) => f.id < cutId);
      const page = kept.length > 0 ? kept : found.filter((f) => f.id === cutId);
      const nextId = kept.length > 0 ? cutId : cutId + 1 < RING_SIZE ? cutId + 1 : null;
      return { keys: page.map((f) => f.key), nextId };
    }
  }
  return { keys: found.map((f) => f.key), nextId: fromId };
}

/** Runs a request; a cluster error becomes a Refusal with its HTTP form. */
async function ask(api: HttpApi, body: KvRequest): Promise<Extract<KvReply, { ok: true }>> {
  const reply = await api.request(body);
  if (!reply.ok) refuse(fromKvError(reply.error));
  return reply;
}

/**
 * If-Match with an ETag: read the current value by consensus, check its ETag, and write through
 * a compare-and-set on that very value, so a write that raced in between fails the CAS (412).
 * The check is on values: a key changed and changed back still matches (there are no revisions).
 */
async function compareAndSet(api: HttpApi, key: Uint8Array, ifMatch: string, value: Uint8Array | null) {
  const current = await ask(api, { op: 'get', key, consistency: 'linearizable' });
  const currentValue = current.value ?? null;
  const wanted = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (currentValue === null || !wanted.includes(etagOf(currentValue))) {
    refuse(
      httpError(
        'PRECONDITION_FAILED',
        currentValue === null ? 'the key has no value' : 'the value has changed',
      ),
    );
  }
  const result = await ask(api, {
    op: 'cas',
    key,
    expected: currentValue,
    value,
    consistency: 'linearizable',
  });
  if (result.applied === false)
    refuse(httpError('PRECONDITION_FAILED', 'the value changed during the compare-and-set'));
}

function keyOf(req: FastifyRequest, maxKeyBytes: number): Uint8Array {
  const raw = (req.params as Record<string, string>)['*'] ?? '';
  if (raw === '') refuse(httpError('BAD_REQUEST', 'the key is empty: /v1/kv/{key}'));
  const key = enc.encode(raw);
  if (key.length > maxKeyBytes) refuse(httpError('KEY_TOO_LARGE', `the key exceeds ${maxKeyBytes} bytes`));
  return key;
}

function consistencyOf(req: FastifyRequest, fallback: Consistency): Consistency {
  const level = (req.query as Record<string, string | undefined>).consistency;
  if (level === undefined) return fallback;
  if (!(CONSISTENCY_LEVELS as readonly string[]).includes(level)) {
    refuse(httpError('BAD_REQUEST', `consistency must be one of ${CONSISTENCY_LEVELS.join(', ')}`));
  }
  return level as Consistency;
}

function ttlOf(req: FastifyRequest): number {
  const raw = (req.query as Record<string, string | undefined>).ttl_ms;
  if (raw === undefined) return 0;
  const ttl = Number(raw);
  if (!/^[0-9]+$/.test(raw) || ttl < 1 || ttl > MAX_TTL_MS) {
    refuse(httpError('BAD_REQUEST', `ttl_ms must be an integer from 1 to ${MAX_TTL_MS} (ten years)`));
  }
  return ttl;
}

function contextOf(req: FastifyRequest): CausalContext | undefined {
  const value = header(req, CONTEXT_HEADER);
  if (value === undefined) return undefined;
  try {
    return decodeContext(value);
  } catch (e) {
    refuse(e as HttpError);
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** /v1/cluster: this node's view of the members and the ring. */
export function clusterView(s: NodeHostStatus) {
  const core = s.core;
  const onRing = new Set(core?.ringMembers ?? []);
  return {
    node: s.id,
    state: s.state,
    ready: s.ready,
    epoch: s.epoch,
    endpoints: s.endpoints,
    members: s.members.map((m) => ({
      id: m.id,
      state: m.state,
      incarnation: m.incarnation,
      endpoints: m.meta,
      onRing: onRing.has(m.id),
      // Each virtual node owns the range that ends at its position.
      rangesOwned: onRing.has(m.id) ? (core?.vnodesPerNode ?? 0) : 0,
      connected: m.id === s.id ? null : s.connectedPeers.includes(m.id),
    })),
    ring: {
      members: core?.ringMembers ?? [],
      vnodesPerNode: core?.vnodesPerNode ?? 0,
      pendingJoins: core?.pendingJoins ?? [],
      pendingLeaves: core?.pendingLeaves ?? [],
      handoff: core?.handoff ?? null,
    },
    hintsPending: s.storage.hintsPending ?? 0,
  };
}
