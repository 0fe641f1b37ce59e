/**
 * The command table: what each supported Redis command means in terms of cluster requests.
 *
 * A command is a row (name, arity, flags, key positions, handler), as in Redis's own command
 * table, so arity checks, key positions (for per-key ordering and length checks) and the COMMAND
 * introspection replies all come from one place. Handlers translate arguments into `KvRequest`s
 * for the node they are connected to and the node's `KvReply`s into RESP values; they hold no
 * cluster logic. Arity follows Redis: n > 0 means exactly n arguments (the name included),
 * n < 0 means at least -n.
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import process from 'node:process';
import { RING_SIZE } from '../../core/id.js';
import {
  type CausalContext,
  CONSISTENCY_LEVELS,
  type Consistency,
  type ExpireCondition,
  type KvError,
  type KvReply,
  type KvRequest,
} from '../../core/replication/messages.js';
import { MAX_STRING_BYTES, parseFloatText } from '../../core/replication/transitions.js';
import { MAX_STORAGE_KEY_BYTES } from '../../core/storage-table.js';
import { commandDoc } from './docs.js';
import {
  array,
  bulk,
  bulkOrNull,
  error,
  integer,
  map,
  NULL,
  NULL_ARRAY,
  OK,
  type RespProtocol,
  type RespValue,
  simple,
} from './encoder.js';
import {
  clusterError,
  NOT_AN_INTEGER,
  partialWriteError,
  SYNTAX_ERROR,
  unknownCommand,
  unknownSubcommand,
  wrongArity,
} from './errors.js';

/** What the front door needs of a node: submit a request, describe itself. */
export interface RespApi {
  request(body: KvRequest): Promise<KvReply>;
  status(): unknown;
  nodeId: string;
}

/**
 * The longest user key: the storage layer's key limit (LMDB's 1978 bytes) minus the 6-byte ring
 * position prefixed to every stored key (src/core/record.ts, dataKey).
 */
export const MAX_KEY_BYTES = MAX_STORAGE_KEY_BYTES - 6;

/** The version Arpeggio reports as `redis_version`: the Redis release whose commands it follows. */
export const REDIS_COMPATIBLE_VERSION = '7.2.0';

/** What the server around a connection tells its commands (INFO, CONFIG GET, HELLO). */
export interface ServerFacts {
  connectedClients(): number;
  /** The password clients must AUTH with (Redis's requirepass), or null for none. */
  password(): string | null;
  /** Parameters for CONFIG GET, by lower-case name. */
  config(): Record<string, string>;
  /** The TCP port the server listens on (INFO). */
  port(): number;
}

/** The connection a command runs on, as far as commands may see and change it. */
export interface Session {
  readonly id: number;
  consistency: Consistency;
  protocol: RespProtocol;
  name: Buffer | null;
  /** Set by QUIT: the connection closes once this command's reply is written. */
  closeAfterReply: boolean;
  /** Whether the client may run commands beyond AUTH, HELLO, PING and QUIT (see ServerFacts.password). */
  authenticated: boolean;
  /** `ip:port` of the client and of the server side, for CLIENT INFO ('' when unknown). */
  readonly addr?: string;
  readonly laddr?: string;
  /** Wall-clock ms when the connection was made. */
  readonly createdAtMs?: number;
  /** The causal context last seen for a key (session level). */
  contextFor(key: Uint8Array): CausalContext | undefined;
  remember(key: Uint8Array, context: CausalContext): void;
}

/** Everything a handler may use. `consistency` is the session's level when the command arrived. */
export interface CommandContext {
  readonly api: RespApi;
  readonly session: Session;
  readonly server: ServerFacts;
  readonly consistency: Consistency;
  /** Wall-clock milliseconds (absolute expiry times). */
  nowMs(): number;
}

export type CommandResult = RespValue | Promise<RespValue>;

export interface CommandSpec {
  /** Lower case; `parent|sub` for subcommands (Redis 7's full names). */
  name: string;
  arity: number;
  /** Redis command flags, as COMMAND reports them. */
  flags: string[];
  /** Key positions: first, last (negative: from the end), step. All 0: no keys. */
  keys: [number, number, number];
  /** Containers (CONFIG, COMMAND, CLIENT) dispatch on their first argument. */
  subcommands?: Record<string, CommandSpec>;
  /** Runs the command; absent for containers that need a subcommand. */
  run?: (ctx: CommandContext, args: Buffer[]) => CommandResult;
}

/** The command a request names, or the error reply Redis gives instead. */
export function lookup(args: Buffer[]): { spec: CommandSpec } | { reply: RespValue } {
  const spec = COMMANDS[lower(args[0])];
  if (spec === undefined) return { reply: unknownCommand(args) };
  if (spec.subcommands && args.length >= 2) {
    const sub = spec.subcommands[lower(args[1])];
    if (sub === undefined) return { reply: unknownSubcommand(args[0], args[1]) };
    if (!arityOk(sub, args.length)) return { reply: wrongArity(sub.name) };
    return { spec: sub };
  }
  if (!arityOk(spec, args.length) || spec.run === undefined) return { reply: wrongArity(spec.name) };
  return { spec };
}

function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity > 0 ? argc === spec.arity : argc >= -spec.arity;
}

/** The key arguments of a request, by the command's key positions. */
export function keysOf(spec: CommandSpec, args: Buffer[]): Buffer[] {
  const [first, last, step] = spec.keys;
  if (first === 0) return [];
  const end = last < 0 ? args.length + last : last;
  const keys: Buffer[] = [];
  for (let i = first; i <= end && i < args.length; i += step) keys.push(args[i]);
  return keys;
}

export function keyTooLong(key: Uint8Array): RespValue {
  return error(`ERR key too long: ${key.length} bytes, Arpeggio keys are at most ${MAX_KEY_BYTES} bytes`);
}

const lower = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1').toLowerCase();

// ---- cluster requests ----------------------------------------------------------------------

/**
 * Sends a request at the command's level. At `session` level it carries the causal context the
 * connection last saw for the key and remembers the one that comes back (read-your-writes,
 * monotonic reads). Only at `session` level: the bookkeeping (an LRU update per command) cost
 * about 5% of a GET's CPU at other levels, where nothing reads it.
 */
async function send(ctx: CommandContext, req: KvRequest): Promise<KvReply> {
  const session = ctx.consistency === 'session';
  if (session && (req.op === 'get' || req.op === 'set' || req.op === 'del')) {
    const context = ctx.session.contextFor(req.key);
    if (context !== undefined) req.context = context;
  }
  const reply = await ctx.api.request(req);
  if (session && reply.ok && reply.context !== undefined && 'key' in req) {
    ctx.session.remember(req.key, reply.context);
  }
  return reply;
}

/** Unique keys, in order of first appearance (two requests for one key would race). */
function unique(keys: Buffer[]): Buffer[] {
  const seen = new Set<string>();
  return keys.filter((k) => {
    const id = k.toString('latin1');
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Live values of `keys` (unique), or the first error. */
async function readAll(
  ctx: CommandContext,
  keys: Buffer[],
): Promise<Map<string, Uint8Array | null> | KvError> {
  const replies = await Promise.all(
    keys.map((key) => send(ctx, { op: 'get', key, consistency: ctx.consistency })),
  );
  const values = new Map<string, Uint8Array | null>();
  for (let i = 0; i < keys.length; i++) {
    const reply = replies[i];
    if (!reply.ok) return reply.error;
    values.set(keys[i].toString('latin1'), reply.value ?? null);
  }
  return values;
}

// ---- integers and options ------------------------------------------------------------------

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** Redis's string2ll: a decimal 64-bit integer, no spaces, no plus sign, no leading zeros. */
export function parseInt64(b: Uint8Array): bigint | null {
  if (b.length === 0 || b.length > 20) return null;
  const text = Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return null;
  const n = BigInt(text);
  return n > INT64_MAX || n < INT64_MIN ? null : n;
}

/** A 64-bit integer that is also exact in a JS number (the cluster's integers are). */
function parseSafeInteger(b: Uint8Array): number | null {
  const n = parseInt64(b);
  if (n === null || n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) return null;
  return Number(n);
}

interface SetOptions {
  condition: 'always' | 'if-absent' | 'if-present';
  returnPrevious: boolean;
  expiresAtMs: number;
  keepTtl: boolean;
}

/**
 * SET's options, with Redis 7's rules (t_string.c, parseExtendedStringArgumentsOrReply): NX and
 * XX exclude each other, EX, PX, EXAT, PXAT and KEEPTTL exclude each other, an option may repeat
 * (the last value counts), anything else is a syntax error; then the expire time must be a
 * positive integer whose absolute time fits.
 */
function parseSetOptions(args: Buffer[], nowMs: number): SetOptions | RespValue {
  let nx = false;
  let xx = false;
  let get = false;
  let keepTtl = false;
  let unit: 'ex' | 'px' | 'exat' | 'pxat' | null = null;
  let expire: Buffer | null = null;
  for (let j = 3; j < args.length; j++) {
    const opt = lower(args[j]);
    const next = j + 1 < args.length ? args[j + 1] : null;
    if (opt === 'nx' && !xx) nx = true;
    else if (opt === 'xx' && !nx) xx = true;
    else if (opt === 'get') get = true;
    else if (opt === 'keepttl' && unit === null) keepTtl = true;
    else if (
      (opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') &&
      !keepTtl &&
      next !== null
    ) {
      if (unit !== null && unit !== opt) return SYNTAX_ERROR;
      unit = opt;
      expire = next;
      j++;
    } else return SYNTAX_ERROR;
  }
  let expiresAtMs = 0;
  if (unit !== null) {
    const absolute = expireArgument(expire as Buffer, unit, nowMs, 'set');
    if (typeof absolute !== 'number') return absolute;
    expiresAtMs = absolute;
  }
  return {
    condition: nx ? 'if-absent' : xx ? 'if-present' : 'always',
    returnPrevious: get,
    expiresAtMs,
    keepTtl,
  };
}

type ExpireUnit = 'ex' | 'px' | 'exat' | 'pxat';

/**
 * An expire argument of SET, SETEX, PSETEX or GETEX as absolute wall-clock ms: a positive integer
 * (Redis: "invalid expire time in '<command>' command" otherwise) whose absolute time fits.
 */
function expireArgument(arg: Buffer, unit: ExpireUnit, nowMs: number, name: string): number | RespValue {
  const n = parseInt64(arg);
  if (n === null) return NOT_AN_INTEGER;
  const invalid = error(`ERR invalid expire time in '${name}' command`);
  if (n <= 0n) return invalid;
  const ms = unit === 'ex' || unit === 'exat' ? n * 1000n : n;
  const absolute = unit === 'ex' || unit === 'px' ? ms + BigInt(nowMs) : ms;
  // Redis's bound is a 64-bit overflow; ours is what a JS number holds exactly.
  if (absolute > BigInt(Number.MAX_SAFE_INTEGER)) return invalid;
  return Number(absolute);
}

// ---- the string commands -------------------------------------------------------------------

async function get(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const reply = await send(ctx, { op: 'get', key: args[1], consistency: ctx.consistency });
  return reply.ok ? bulkOrNull(reply.value) : clusterError(reply.error, true);
}

function set(ctx: CommandContext, args: Buffer[]): CommandResult {
  const options = parseSetOptions(args, ctx.nowMs());
  if ('type' in options) return options;
  return send(ctx, {
    op: 'set',
    key: args[1],
    value: args[2],
    consistency: ctx.consistency,
    expiresAtMs: options.expiresAtMs,
    condition: options.condition,
    returnPrevious: options.returnPrevious,
    ...(options.keepTtl ? { keepTtl: true } : {}),
  }).then((reply) => {
    if (!reply.ok) return clusterError(reply.error, false);
    if (options.returnPrevious) return bulkOrNull(reply.value);
    return reply.applied === false ? NULL : OK;
  });
}

/**
 * DEL answers how many of the keys existed. Under `linearizable` the delete runs through
 * consensus and says so itself (`applied`). At the other levels a delete is a blind quorum write
 * that cannot tell, so DEL reads the keys first at the same level and counts what it saw; the
 * count is then as fresh as a read at that level (a concurrent writer can make it stale).
 */
async function del(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const keys = unique(args.slice(1));
  let existed = 0;
  if (ctx.consistency !== 'linearizable') {
    const seen = await readAll(ctx, keys);
    if (!('size' in seen)) return clusterError(seen, false);
    for (const value of seen.values()) if (value !== null) existed++;
  }
  const replies = await Promise.all(
    keys.map((key) => send(ctx, { op: 'del', key, consistency: ctx.consistency })),
  );
  const failed: KvError[] = [];
  for (const reply of replies) {
    if (!reply.ok) failed.push(reply.error);
    else if (ctx.consistency === 'linearizable' && reply.applied) existed++;
  }
  if (failed.length > 0) return partialWriteError(failed, keys.length);
  return integer(existed);
}

/** EXISTS counts every argument, so a key named twice counts twice (as in Redis). */
async function exists(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const seen = await readAll(ctx, unique(args.slice(1)));
  if (!('size' in seen)) return clusterError(seen, true);
  let count = 0;
  for (const key of args.slice(1)) if ((seen.get(key.toString('latin1')) ?? null) !== null) count++;
  return integer(count);
}

async function mget(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const seen = await readAll(ctx, unique(args.slice(1)));
  if (!('size' in seen)) return clusterError(seen, true);
  return array(args.slice(1).map((key) => bulkOrNull(seen.get(key.toString('latin1')))));
}

/**
 * MSET sets every key, concurrently and not atomically: a failure can leave some keys set
 * (reported as INDEFINITE). A key named twice gets its last value, as in Redis.
 */
function mset(ctx: CommandContext, args: Buffer[]): CommandResult {
  if (args.length % 2 === 0) return wrongArity('mset');
  const values = new Map<string, [Buffer, Buffer]>();
  for (let i = 1; i < args.length; i += 2) values.set(args[i].toString('latin1'), [args[i], args[i + 1]]);
  const pairs = [...values.values()];
  return Promise.all(
    pairs.map(([key, value]) =>
      send(ctx, {
        op: 'set',
        key,
        value,
        consistency: ctx.consistency,
        expiresAtMs: 0,
        condition: 'always',
      }),
    ),
  ).then((replies) => {
    const failed = replies.flatMap((r) => (r.ok ? [] : [r.error]));
    return failed.length > 0 ? partialWriteError(failed, pairs.length) : OK;
  });
}

function incrBy(ctx: CommandContext, key: Buffer, by: number): Promise<RespValue> {
  return send(ctx, { op: 'incr', key, by, consistency: ctx.consistency }).then((reply) => {
    if (!reply.ok) return clusterError(reply.error, false);
    return integer(reply.number as number);
  });
}

function incrByArg(ctx: CommandContext, args: Buffer[], sign: 1 | -1): CommandResult {
  const by = parseSafeInteger(args[2]);
  if (by === null) return NOT_AN_INTEGER;
  return incrBy(ctx, args[1], sign * by);
}

// ---- more string commands ------------------------------------------------------------------

/** Sends a request and turns a failure into its reply; `readOnly` as for clusterError. */
async function ask(
  ctx: CommandContext,
  req: KvRequest,
  readOnly: boolean,
): Promise<Extract<KvReply, { ok: true }> | RespValue> {
  const reply = await send(ctx, req);
  return reply.ok ? reply : clusterError(reply.error, readOnly);
}

const failed = (r: Extract<KvReply, { ok: true }> | RespValue): r is RespValue => !('ok' in r);

function getset(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const req: KvRequest = {
    op: 'set',
    key: args[1],
    value: args[2],
    consistency: ctx.consistency,
    expiresAtMs: 0,
    condition: 'always',
    returnPrevious: true,
  };
  return ask(ctx, req, false).then((r) => (failed(r) ? r : bulkOrNull(r.value)));
}

function setnx(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const req: KvRequest = {
    op: 'set',
    key: args[1],
    value: args[2],
    consistency: ctx.consistency,
    expiresAtMs: 0,
    condition: 'if-absent',
  };
  return ask(ctx, req, false).then((r) => (failed(r) ? r : integer(r.applied ? 1 : 0)));
}

/** SETEX key seconds value, PSETEX key milliseconds value. */
function setex(ctx: CommandContext, args: Buffer[], unit: 'ex' | 'px', name: string): CommandResult {
  const expiresAtMs = expireArgument(args[2], unit, ctx.nowMs(), name);
  if (typeof expiresAtMs !== 'number') return expiresAtMs;
  const req: KvRequest = {
    op: 'set',
    key: args[1],
    value: args[3],
    consistency: ctx.consistency,
    expiresAtMs,
    condition: 'always',
  };
  return ask(ctx, req, false).then((r) => (failed(r) ? r : OK));
}

function getdel(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  return ask(ctx, { op: 'getdel', key: args[1], consistency: ctx.consistency }, false).then((r) =>
    failed(r) ? r : bulkOrNull(r.value),
  );
}

/** GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST], parsed as Redis 7 does. */
function getex(ctx: CommandContext, args: Buffer[]): CommandResult {
  let unit: ExpireUnit | null = null;
  let persist = false;
  let expire: Buffer | null = null;
  for (let j = 2; j < args.length; j++) {
    const opt = lower(args[j]);
    const next = j + 1 < args.length ? args[j + 1] : null;
    if ((opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') && !persist && next !== null) {
      if (unit !== null && unit !== opt) return SYNTAX_ERROR;
      unit = opt;
      expire = next;
      j++;
    } else if (opt === 'persist' && unit === null) persist = true;
    else return SYNTAX_ERROR;
  }
  let expiresAtMs: number | null = persist ? 0 : null;
  if (unit !== null) {
    const absolute = expireArgument(expire as Buffer, unit, ctx.nowMs(), 'getex');
    if (typeof absolute !== 'number') return absolute;
    expiresAtMs = absolute;
  }
  if (expiresAtMs === null) return get(ctx, args);
  return ask(ctx, { op: 'getex', key: args[1], expiresAtMs, consistency: ctx.consistency }, false).then(
    (r) => (failed(r) ? r : bulkOrNull(r.value)),
  );
}

async function strlen(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const reply = await send(ctx, { op: 'get', key: args[1], consistency: ctx.consistency });
  return reply.ok ? integer(reply.value?.length ?? 0) : clusterError(reply.error, true);
}

/** GETRANGE key start end: Redis 7's clamping, inclusive ends, negative from the end. */
function getrange(ctx: CommandContext, args: Buffer[]): CommandResult {
  const start = parseInt64(args[2]);
  const end = parseInt64(args[3]);
  if (start === null || end === null) return NOT_AN_INTEGER;
  return send(ctx, { op: 'get', key: args[1], consistency: ctx.consistency }).then((reply) => {
    if (!reply.ok) return clusterError(reply.error, true);
    const value = reply.value ?? new Uint8Array(0);
    const length = BigInt(value.length);
    if (start < 0n && end < 0n && start > end) return bulk('');
    let from = start < 0n ? length + start : start;
    let to = end < 0n ? length + end : end;
    if (from < 0n) from = 0n;
    if (to < 0n) to = 0n;
    if (to >= length) to = length - 1n;
    if (from > to || length === 0n) return bulk('');
    return bulk(value.subarray(Number(from), Number(to) + 1));
  });
}

/**
 * The longest string APPEND and SETRANGE may build: the server's proto-max-bulk-len (the value
 * limit, maxBulkBytes), as Redis's checkStringLength uses proto-max-bulk-len.
 */
function maxStringBytes(ctx: CommandContext): number {
  const configured = Number(ctx.server.config()['proto-max-bulk-len']);
  return Number.isSafeInteger(configured) && configured > 0 ? configured : MAX_STRING_BYTES;
}

function append(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const req: KvRequest = {
    op: 'append',
    key: args[1],
    value: args[2],
    maxBytes: maxStringBytes(ctx),
    consistency: ctx.consistency,
  };
  return ask(ctx, req, false).then((r) => (failed(r) ? r : integer(r.number as number)));
}

function setrange(ctx: CommandContext, args: Buffer[]): CommandResult {
  const offset = parseInt64(args[2]);
  if (offset === null) return NOT_AN_INTEGER;
  if (offset < 0n) return error('ERR offset is out of range');
  const maxBytes = maxStringBytes(ctx);
  if (args[3].length > 0 && offset + BigInt(args[3].length) > BigInt(maxBytes)) {
    return error('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
  }
  const req: KvRequest = {
    op: 'setrange',
    key: args[1],
    offset: Number(offset),
    value: args[3],
    maxBytes,
    consistency: ctx.consistency,
  };
  return ask(ctx, req, false).then((r) => (failed(r) ? r : integer(r.number as number)));
}

function incrbyfloat(ctx: CommandContext, args: Buffer[]): CommandResult {
  const by = args[2].toString('latin1');
  if (parseFloatText(by) === null) return error('ERR value is not a valid float');
  return ask(ctx, { op: 'incrbyfloat', key: args[1], by, consistency: ctx.consistency }, false).then((r) =>
    failed(r) ? r : bulkOrNull(r.value),
  );
}

/**
 * MSETNX sets the keys only if none exists. Not atomic across keys here: it reads them all, and
 * if none exists sets each one with NX; a key created meanwhile by someone else is not
 * overwritten, and the reply is then 0 although the other keys were set (documented).
 */
async function msetnx(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  if (args.length % 2 === 0) return wrongArity('msetnx');
  const values = new Map<string, [Buffer, Buffer]>();
  for (let i = 1; i < args.length; i += 2) values.set(args[i].toString('latin1'), [args[i], args[i + 1]]);
  const seen = await readAll(
    ctx,
    [...values.values()].map(([key]) => key),
  );
  if (!('size' in seen)) return clusterError(seen, true);
  for (const value of seen.values()) if (value !== null) return integer(0);
  const replies = await Promise.all(
    [...values.values()].map(([key, value]) =>
      send(ctx, {
        op: 'set',
        key,
        value,
        consistency: ctx.consistency,
        expiresAtMs: 0,
        condition: 'if-absent',
      }),
    ),
  );
  const errors = replies.flatMap((r) => (r.ok ? [] : [r.error]));
  if (errors.length > 0) return partialWriteError(errors, values.size);
  return integer(replies.every((r) => r.ok && r.applied) ? 1 : 0);
}

/**
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX | XX | GT | LT]: Redis 7's order (options,
 * then the integer, then overflow); a time already past deletes the key.
 */
function expire(ctx: CommandContext, args: Buffer[], unit: ExpireUnit, name: string): CommandResult {
  const conditions = new Set<ExpireCondition>();
  for (const arg of args.slice(3)) {
    const opt = lower(arg);
    if (opt !== 'nx' && opt !== 'xx' && opt !== 'gt' && opt !== 'lt') {
      return error(`ERR Unsupported option ${arg.toString('latin1')}`);
    }
    conditions.add(opt);
  }
  if (conditions.has('nx') && (conditions.has('xx') || conditions.has('gt') || conditions.has('lt'))) {
    return error('ERR NX and XX, GT or LT options at the same time are not compatible');
  }
  if (conditions.has('gt') && conditions.has('lt')) {
    return error('ERR GT and LT options at the same time are not compatible');
  }
  const n = parseInt64(args[2]);
  if (n === null) return NOT_AN_INTEGER;
  const ms = unit === 'ex' || unit === 'exat' ? n * 1000n : n;
  const absolute = unit === 'ex' || unit === 'px' ? ms + BigInt(ctx.nowMs()) : ms;
  if (absolute > BigInt(Number.MAX_SAFE_INTEGER) || absolute < BigInt(Number.MIN_SAFE_INTEGER)) {
    return error(`ERR invalid expire time in '${name}' command`);
  }
  const req: KvRequest = {
    op: 'expire',
    key: args[1],
    expiresAtMs: Number(absolute),
    conditions: [...conditions],
    consistency: ctx.consistency,
  };
  return ask(ctx, req, false).then((r) => (failed(r) ? r : integer(r.applied ? 1 : 0)));
}

/** TTL (seconds, rounded as Redis does) and PTTL: -2 no key, -1 no expiry. */
function ttl(ctx: CommandContext, args: Buffer[], inMs: boolean): Promise<RespValue> {
  return ask(ctx, { op: 'ttl', key: args[1], consistency: ctx.consistency }, true).then((r) => {
    if (failed(r)) return r;
    if (!r.applied) return integer(-2);
    if (!r.expiresAtMs) return integer(-1);
    const left = Math.max(0, r.expiresAtMs - ctx.nowMs());
    return integer(inMs ? left : Math.floor((left + 500) / 1000));
  });
}

function persist(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  return ask(ctx, { op: 'persist', key: args[1], consistency: ctx.consistency }, false).then((r) =>
    failed(r) ? r : integer(r.applied ? 1 : 0),
  );
}

async function type(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const reply = await send(ctx, { op: 'get', key: args[1], consistency: ctx.consistency });
  if (!reply.ok) return clusterError(reply.error, true);
  return simple(reply.value === null || reply.value === undefined ? 'none' : 'string');
}

// ---- the keyspace: SCAN, KEYS, DBSIZE ------------------------------------------------------

/** Most keys KEYS answers with; past it KEYS fails and points to SCAN. */
export const MAX_KEYS_REPLY = 100_000;
/** Stored entries one step of KEYS reads. */
const KEYSPACE_PAGE = 1000;

/**
 * One page of the cluster's keys (the core's cluster-wide scan: replication/scan.ts). A SCAN
 * cursor is 0 (start) or a ring position + 1, so it is an unsigned integer as clients expect, any
 * node accepts any cursor, and the returned cursor 0 means done.
 */
async function scanPage(
  ctx: CommandContext,
  cursor: number,
  count: number,
): Promise<{ keys: Uint8Array[]; cursor: number } | RespValue> {
  const reply = await ctx.api.request({
    op: 'scan',
    fromId: cursor === 0 ? 0 : cursor - 1,
    count,
    consistency: ctx.consistency,
  });
  if (!reply.ok) return clusterError(reply.error, true);
  const nextId = reply.nextId ?? null;
  return { keys: reply.keys ?? [], cursor: nextId === null ? 0 : nextId + 1 };
}

/** Every key, page by page, passed to `visit`; false from visit stops. */
async function eachKey(ctx: CommandContext, visit: (key: Uint8Array) => boolean): Promise<RespValue | null> {
  let cursor = 0;
  do {
    const page = await scanPage(ctx, cursor, KEYSPACE_PAGE);
    if (!('keys' in page)) return page;
    for (const key of page.keys) if (!visit(key)) return null;
    cursor = page.cursor;
  } while (cursor !== 0);
  return null;
}

/** SCAN cursor [MATCH pattern] [COUNT n] [TYPE type], Redis 7's argument rules. */
function scan(ctx: CommandContext, args: Buffer[]): CommandResult {
  const text = args[1].toString('latin1');
  if (!/^[0-9]+$/.test(text) || BigInt(text) > 18446744073709551615n) return error('ERR invalid cursor');
  let count = 10;
  let pattern: Buffer | null = null;
  let typeName: string | null = null;
  for (let i = 2; i < args.length; i += 2) {
    const opt = lower(args[i]);
    if (i + 1 >= args.length) return SYNTAX_ERROR;
    if (opt === 'count') {
      const n = parseInt64(args[i + 1]);
      if (n === null) return NOT_AN_INTEGER;
      if (n < 1n) return SYNTAX_ERROR;
      count = Number(n > 1_000_000n ? 1_000_000n : n);
    } else if (opt === 'match') pattern = args[i + 1];
    else if (opt === 'type') typeName = lower(args[i + 1]);
    else return SYNTAX_ERROR;
  }
  const cursor = BigInt(text) > BigInt(RING_SIZE) ? -1 : Number(text);
  if (cursor === -1) return array([bulk('0'), array([])]);
  return scanPage(ctx, cursor, count).then((page) => {
    if (!('keys' in page)) return page;
    const keys = page.keys.filter(
      (k) =>
        (typeName === null || typeName === 'string') &&
        (pattern === null || globMatchBytes(pattern, k, false)),
    );
    return array([bulk(String(page.cursor)), array(keys.map((k) => bulk(k)))]);
  });
}

async function keys(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const found: Uint8Array[] = [];
  let tooMany = false;
  const failure = await eachKey(ctx, (key) => {
    if (!globMatchBytes(args[1], key, false)) return true;
    if (found.length >= MAX_KEYS_REPLY) {
      tooMany = true;
      return false;
    }
    found.push(key);
    return true;
  });
  if (failure) return failure;
  if (tooMany) return error(`ERR KEYS would return more than ${MAX_KEYS_REPLY} keys; use SCAN`);
  return array(found.map((k) => bulk(k)));
}

/**
 * DBSIZE: the cluster's live keys, counted on one replica per range (an estimate while replicas
 * disagree; see docs/REDIS-COMPATIBILITY.md). A node that answers with keys instead of a count is
 * paged through and its keys counted.
 */
async function countKeys(ctx: CommandContext): Promise<number | RespValue> {
  let n = 0;
  let fromId: number | null = 0;
  while (fromId !== null) {
    const reply = await ctx.api.request({
      op: 'scan',
      fromId,
      count: KEYSPACE_PAGE,
      countOnly: true,
      consistency: ctx.consistency,
    });
    if (!reply.ok) return clusterError(reply.error, true);
    n += reply.number ?? reply.keys?.length ?? 0;
    fromId = reply.nextId ?? null;
  }
  return n;
}

async function dbsize(ctx: CommandContext): Promise<RespValue> {
  const n = await countKeys(ctx);
  return typeof n === 'number' ? integer(n) : n;
}

// ---- connection and server commands --------------------------------------------------------

function consistency(ctx: CommandContext, args: Buffer[]): RespValue {
  if (args.length === 1) return simple(ctx.session.consistency);
  const level = lower(args[1]);
  if (!(CONSISTENCY_LEVELS as readonly string[]).includes(level)) {
    const given = args[1].toString('latin1');
    return error(`ERR unknown consistency level '${given}' (${CONSISTENCY_LEVELS.join(', ')})`);
  }
  ctx.session.consistency = level as Consistency;
  return OK;
}

function select(_ctx: CommandContext, args: Buffer[]): RespValue {
  const n = parseInt64(args[1]);
  if (n === null || n > 2147483647n || n < -2147483648n) return NOT_AN_INTEGER;
  return n === 0n ? OK : error('ERR DB index is out of range');
}

function hello(ctx: CommandContext, args: Buffer[]): RespValue {
  let protocol = ctx.session.protocol;
  if (args.length >= 2) {
    const version = parseInt64(args[1]);
    if (version === null) return error('ERR Protocol version is not an integer or out of range');
    if (version !== 2n && version !== 3n) return error('NOPROTO unsupported protocol version');
    protocol = Number(version) as RespProtocol;
  }
  let name: Buffer | null | undefined;
  for (let j = 2; j < args.length; j++) {
    const opt = lower(args[j]);
    const left = args.length - j - 1;
    if (opt === 'auth' && left >= 2) {
      const refused = authenticate(ctx, args[j + 1], args[j + 2]);
      if (refused) return refused;
      j += 2;
    } else if (opt === 'setname' && left >= 1) {
      name = args[j + 1];
      j += 1;
    } else {
      return error(`ERR Syntax error in HELLO option '${args[j].toString('latin1')}'`);
    }
  }
  if (!ctx.session.authenticated) {
    return error(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the ' +
        'HELLO AUTH <user> <pass> option can be used to authenticate the client and ' +
        'select the RESP protocol version at the same time',
    );
  }
  ctx.session.protocol = protocol;
  if (name !== undefined) ctx.session.name = name;
  return map([
    [bulk('server'), bulk('redis')],
    [bulk('version'), bulk(REDIS_COMPATIBLE_VERSION)],
    [bulk('proto'), integer(protocol)],
    [bulk('id'), integer(ctx.session.id)],
    [bulk('mode'), bulk('standalone')],
    [bulk('role'), bulk('master')],
    [bulk('modules'), array([])],
  ]);
}

/**
 * AUTH [user] password. Without a configured password every connection is the `default` user
 * without a password, which Redis accepts with any password; with one (requirepass), the
 * `default` user must give it. Passwords are compared in constant time.
 */
function authenticate(ctx: CommandContext, user: Buffer, password: Buffer): RespValue | null {
  const required = ctx.server.password();
  const wrong = error('WRONGPASS invalid username-password pair or user is disabled.');
  if (user.toString('latin1') !== 'default') return wrong;
  if (required === null) return null;
  const expected = Buffer.from(required, 'utf8');
  const sameLength = expected.length === password.length;
  if (!timingSafeEqual(sameLength ? password : expected, expected) || !sameLength) return wrong;
  ctx.session.authenticated = true;
  return null;
}

function auth(ctx: CommandContext, args: Buffer[]): RespValue {
  if (args.length === 2) {
    if (ctx.server.password() === null) {
      return error(
        'ERR AUTH <password> called without any password configured for the default user. ' +
          'Are you sure your configuration is correct?',
      );
    }
    return authenticate(ctx, Buffer.from('default'), args[1]) ?? OK;
  }
  if (args.length !== 3) return SYNTAX_ERROR;
  return authenticate(ctx, args[1], args[2]) ?? OK;
}

/** The commands a client may send before it has authenticated (Redis: no-auth commands). */
export const PRE_AUTH_COMMANDS: ReadonlySet<string> = new Set(['auth', 'hello', 'ping', 'quit']);

type InfoSection = [string, string | number][];

/** The parts of NodeHostStatus INFO reads; anything absent is left out. */
interface StatusView {
  ready?: boolean;
  state?: string;
  uptimeMs?: number;
  members?: { id: string; state: string }[];
  connectedPeers?: string[];
  storage?: { hintsPending?: number; unreleasedBatches?: number };
  core?: {
    ringMembers?: string[];
    pendingJoins?: string[];
    pendingLeaves?: string[];
    handoff?: { purpose: string; rangesLeft: number; rangesTotal: number } | null;
    vnodesPerNode?: number;
    status?: string;
  } | null;
}

/**
 * INFO [section …]: Redis's sections where they mean something here (server, clients, memory,
 * stats, persistence, keyspace) and Arpeggio's own (ring, members, replication, hints), from
 * `api.status()`. `keyspace` counts the node's keys (DBSIZE).
 */
async function info(ctx: CommandContext, args: Buffer[]): Promise<RespValue> {
  const status = (ctx.api.status() ?? {}) as StatusView;
  const core = status.core ?? null;
  const memory = process.memoryUsage();
  const wanted = args.slice(1).map(lower);
  const all = wanted.length === 0 || wanted.some((w) => w === 'all' || w === 'everything' || w === 'default');
  // `INFO arpeggio` gives all of Arpeggio's sections: ring, members, hints and its own.
  const arpeggioSections = ['ring', 'members', 'hints', 'arpeggio'];
  const want = (name: string) =>
    all || wanted.includes(name) || (wanted.includes('arpeggio') && arpeggioSections.includes(name));
  let keyCount = 0;
  // Counting keys reads the node's whole store (DBSIZE), so a plain INFO — which ioredis sends on
  // every connect for its ready check — leaves the count out; INFO keyspace / all includes it.
  const countKeysToo = wanted.some((w) => w === 'keyspace' || w === 'all' || w === 'everything');
  if (countKeysToo) {
    const n = await countKeys(ctx);
    if (typeof n !== 'number') return n;
    keyCount = n;
  }
  const members = status.members ?? [];
  const sections: Record<string, InfoSection> = {
    server: [
      ['redis_version', REDIS_COMPATIBLE_VERSION],
      ['redis_mode', 'standalone'],
      ['os', `${process.platform} ${process.arch}`],
      ['arch_bits', 64],
      ['process_id', process.pid],
      ['tcp_port', ctx.server.port()],
      ['uptime_in_seconds', Math.floor((status.uptimeMs ?? 0) / 1000)],
      ['arpeggio_node_id', ctx.api.nodeId],
    ],
    clients: [
      ['connected_clients', ctx.server.connectedClients()],
      ['maxclients', ctx.server.config().maxclients ?? '0'],
    ],
    memory: [
      ['used_memory', memory.heapUsed],
      ['used_memory_rss', memory.rss],
      ['used_memory_external', memory.external],
      ['maxmemory', 0],
    ],
    persistence: [['loading', 0]],
    stats: [['inflight_requests', (status as { inflightRequests?: number }).inflightRequests ?? 0]],
    replication: [
      ['role', 'master'],
      ['connected_slaves', 0],
      ['arpeggio_connected_peers', (status.connectedPeers ?? []).length],
    ],
    keyspace: countKeysToo && keyCount > 0 ? [['db0', `keys=${keyCount},expires=0,avg_ttl=0`]] : [],
    ring: [
      ['ring_members', (core?.ringMembers ?? []).join(',')],
      ['ring_size', (core?.ringMembers ?? []).length],
      ['pending_joins', (core?.pendingJoins ?? []).join(',')],
      ['pending_leaves', (core?.pendingLeaves ?? []).join(',')],
      ['vnodes_per_node', core?.vnodesPerNode ?? 0],
      [
        'handoff',
        core?.handoff
          ? `${core.handoff.purpose}:${core.handoff.rangesLeft}/${core.handoff.rangesTotal}`
          : 'none',
      ],
    ],
    members: [
      ['members', members.length],
      ['members_alive', members.filter((m) => m.state === 'alive').length],
      ...members.map((m, i): [string, string] => [`member${i}`, `id=${m.id},state=${m.state}`]),
    ],
    hints: [['hints_pending', status.storage?.hintsPending ?? 0]],
    arpeggio: [
      ['node_id', ctx.api.nodeId],
      ['ready', typeof status.ready === 'boolean' ? (status.ready ? 1 : 0) : 1],
      ['state', status.state ?? core?.status ?? 'running'],
      ['consistency', ctx.session.consistency],
    ],
  };
  const names = Object.keys(sections).filter(want);
  const text = names
    .map((s) => {
      const title = s[0].toUpperCase() + s.slice(1);
      return `# ${title}\r\n${sections[s].map(([k, v]) => `${k}:${v}\r\n`).join('')}`;
    })
    .join('\r\n');
  return bulk(text);
}

/**
 * ARPEGGIO.STATUS: the node's whole status (`NodeHostStatus`: members, ring view, membership
 * status, handoff progress, counters) as one JSON bulk string, for tools that manage a cluster
 * (`arpeggio cluster status`). INFO stays Redis-shaped; this is Arpeggio's machine-readable view.
 */
function arpeggioStatus(ctx: CommandContext): RespValue {
  let text: string;
  try {
    text = JSON.stringify(ctx.api.status() ?? null);
  } catch (e) {
    return error(`ERR the node status cannot be written as JSON: ${(e as Error).message}`);
  }
  return bulk(text);
}

function configGet(ctx: CommandContext, args: Buffer[]): RespValue {
  const params = ctx.server.config();
  const found: [RespValue, RespValue][] = [];
  const names = Object.keys(params).sort();
  const added = new Set<string>();
  for (const pattern of args.slice(2)) {
    const glob = pattern.toString('latin1');
    for (const name of names) {
      if (!added.has(name) && globMatch(glob, name, true)) {
        added.add(name);
        found.push([bulk(name), bulk(params[name])]);
      }
    }
  }
  return map(found);
}

/** Redis's stringmatchlen over text (CONFIG GET's parameter names): see globMatchBytes. */
export function globMatch(pattern: string, text: string, noCase: boolean): boolean {
  return globMatchBytes(Buffer.from(pattern, 'latin1'), Buffer.from(text, 'latin1'), noCase);
}

const lowerByte = (c: number): number => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/**
 * Redis's glob (util.c, stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]`, `\x`, with its rules for
 * ranges and unterminated classes. Iterative: on a mismatch it returns to the last `*` and lets
 * it take one more byte, which is correct because every other token matches exactly one byte,
 * so any pattern runs in O(pattern × text) steps (Redis's recursion needs a nesting limit).
 */
export function globMatchBytes(pattern: Uint8Array, text: Uint8Array, noCase: boolean): boolean {
  const m = pattern.length;
  const same = (a: number, b: number) => a === b || (noCase && lowerByte(a) === lowerByte(b));
  /** Matches the token at p against text byte c: the index after the token, or -1. */
  const token = (p: number, c: number): number => {
    const t = pattern[p];
    if (t === 0x3f) return p + 1; // ?
    if (t === 0x5c && p + 1 < m) return same(pattern[p + 1], c) ? p + 2 : -1; // \x
    if (t !== 0x5b) return same(t, c) ? p + 1 : -1; // literal
    let q = p + 1;
    const not = pattern[q] === 0x5e; // ^
    if (not) q++;
    let hit = false;
    for (;;) {
      if (q >= m) break; // unterminated: the class runs to the end of the pattern
      if (pattern[q] === 0x5c && m - q >= 2) {
        q++;
        if (same(pattern[q], c)) hit = true;
      } else if (pattern[q] === 0x5d)
        break; // ]
      else if (m - q >= 3 && pattern[q + 1] === 0x2d) {
        let lo = pattern[q];
        let hi = pattern[q + 2];
        if (lo > hi) [lo, hi] = [hi, lo];
        const x = noCase ? lowerByte(c) : c;
        if (noCase) [lo, hi] = [lowerByte(lo), lowerByte(hi)];
        if (x >= lo && x <= hi) hit = true;
        q += 2;
      } else if (same(pattern[q], c)) hit = true;
      q++;
    }
    return hit !== not ? Math.min(q + 1, m) : -1;
  };
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    if (p < m && pattern[p] === 0x2a) {
      while (p < m && pattern[p] === 0x2a) p++;
      if (p === m) return true;
      starP = p;
      starT = t;
      continue;
    }
    const after = p < m ? token(p, text[t]) : -1;
    if (after >= 0) {
      p = after;
      t++;
    } else if (starP >= 0) {
      starT++;
      t = starT;
      p = starP;
    } else return false;
  }
  while (p < m && pattern[p] === 0x2a) p++;
  return p === m;
}

/** COMMAND's description of a command (Redis 7's ten fields). */
function describe(spec: CommandSpec): RespValue {
  const subs = Object.values(spec.subcommands ?? {});
  return array([
    bulk(spec.name),
    integer(spec.arity),
    array(spec.flags.map(simple)),
    integer(spec.keys[0]),
    integer(spec.keys[1]),
    integer(spec.keys[2]),
    array([]),
    array([]),
    array([]),
    array(subs.map(describe)),
  ]);
}

/** COMMAND DOCS [name …]: name/docs pairs (docs.ts); unknown names are left out, as in Redis. */
function commandDocs(_ctx: CommandContext, args: Buffer[]): RespValue {
  const names = args.length > 2 ? args.slice(2).map(lower) : Object.keys(COMMANDS);
  const entries: [RespValue, RespValue][] = [];
  for (const name of names) {
    const spec = COMMANDS[name];
    if (spec === undefined) continue;
    const reply = commandDoc(
      name,
      Object.values(spec.subcommands ?? {}).map((sub) => sub.name),
    );
    if (reply) entries.push([bulk(name), reply]);
  }
  return map(entries);
}

function commandInfo(_ctx: CommandContext, args: Buffer[]): RespValue {
  const wanted = args.length > 2 ? args.slice(2).map(lower) : Object.keys(COMMANDS);
  return array(wanted.map((name) => (COMMANDS[name] ? describe(COMMANDS[name]) : NULL_ARRAY)));
}

function client(ctx: CommandContext, args: Buffer[], sub: string): RespValue {
  switch (sub) {
    case 'id':
      return integer(ctx.session.id);
    case 'getname':
      return bulkOrNull(ctx.session.name);
    case 'info':
      // Redis 7 answers with a verbatim string in RESP3; a bulk string reads the same to clients.
      return bulk(clientInfoLine(ctx));
    case 'setname': {
      const name = args[2];
      if (name.some((b) => b <= 0x20 || b > 0x7e)) {
        return error('ERR Client names cannot contain spaces, newlines or special characters.');
      }
      ctx.session.name = name.length === 0 ? null : name;
      return OK;
    }
    case 'setinfo': {
      const attr = lower(args[2]);
      if (attr !== 'lib-name' && attr !== 'lib-ver') {
        return error(`ERR Unrecognized option '${args[2].toString('latin1')}'`);
      }
      return OK;
    }
    default:
      return unknownSubcommand(args[0], args[1]);
  }
}

/** CLIENT INFO's line, with Redis's field names; fields Arpeggio does not track read 0. */
function clientInfoLine(ctx: CommandContext): string {
  const s = ctx.session;
  const ageS = s.createdAtMs === undefined ? 0 : Math.floor((ctx.nowMs() - s.createdAtMs) / 1000);
  const name = s.name ? s.name.toString('latin1') : '';
  return (
    `id=${s.id} addr=${s.addr ?? ''} laddr=${s.laddr ?? ''} fd=-1 name=${name} age=${ageS} idle=0 ` +
    `flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 ` +
    `rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|info user=default redir=-1 ` +
    `resp=${s.protocol} lib-name= lib-ver=\n`
  );
}

// ---- the table -----------------------------------------------------------------------------

const NO_KEYS: [number, number, number] = [0, 0, 0];

function command(
  name: string,
  arity: number,
  flags: string[],
  keys: [number, number, number],
  run?: CommandSpec['run'],
  subcommands?: CommandSpec[],
): CommandSpec {
  const spec: CommandSpec = { name, arity, flags, keys };
  if (run) spec.run = run;
  if (subcommands) {
    spec.subcommands = {};
    for (const sub of subcommands) spec.subcommands[sub.name.split('|')[1]] = sub;
  }
  return spec;
}

const TABLE: CommandSpec[] = [
  command('get', 2, ['readonly', 'fast'], [1, 1, 1], get),
  command('set', -3, ['write', 'denyoom'], [1, 1, 1], set),
  command('del', -2, ['write'], [1, -1, 1], del),
  command('exists', -2, ['readonly', 'fast'], [1, -1, 1], exists),
  command('mget', -2, ['readonly', 'fast'], [1, -1, 1], mget),
  command('mset', -3, ['write', 'denyoom'], [1, -1, 2], mset),
  command('getset', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], getset),
  command('getdel', 2, ['write', 'fast'], [1, 1, 1], getdel),
  command('getex', -2, ['write', 'fast'], [1, 1, 1], getex),
  command('setnx', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], setnx),
  command('setex', 4, ['write', 'denyoom'], [1, 1, 1], (ctx, args) => setex(ctx, args, 'ex', 'setex')),
  command('psetex', 4, ['write', 'denyoom'], [1, 1, 1], (ctx, args) => setex(ctx, args, 'px', 'psetex')),
  command('append', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], append),
  command('strlen', 2, ['readonly', 'fast'], [1, 1, 1], strlen),
  command('getrange', 4, ['readonly'], [1, 1, 1], getrange),
  command('substr', 4, ['readonly'], [1, 1, 1], getrange),
  command('setrange', 4, ['write', 'denyoom'], [1, 1, 1], setrange),
  command('incrbyfloat', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], incrbyfloat),
  command('msetnx', -3, ['write', 'denyoom'], [1, -1, 2], msetnx),
  command('unlink', -2, ['write', 'fast'], [1, -1, 1], del),
  command('expire', -3, ['write', 'fast'], [1, 1, 1], (ctx, args) => expire(ctx, args, 'ex', 'expire')),
  command('pexpire', -3, ['write', 'fast'], [1, 1, 1], (ctx, args) => expire(ctx, args, 'px', 'pexpire')),
  command('expireat', -3, ['write', 'fast'], [1, 1, 1], (ctx, args) => expire(ctx, args, 'exat', 'expireat')),
  command('pexpireat', -3, ['write', 'fast'], [1, 1, 1], (ctx, args) =>
    expire(ctx, args, 'pxat', 'pexpireat'),
  ),
  command('ttl', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, args) => ttl(ctx, args, false)),
  command('pttl', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, args) => ttl(ctx, args, true)),
  command('persist', 2, ['write', 'fast'], [1, 1, 1], persist),
  command('type', 2, ['readonly', 'fast'], [1, 1, 1], type),
  command('scan', -2, ['readonly'], NO_KEYS, scan),
  command('keys', 2, ['readonly'], NO_KEYS, keys),
  command('dbsize', 1, ['readonly', 'fast'], NO_KEYS, dbsize),
  command('incr', 2, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, args) => incrBy(ctx, args[1], 1)),
  command('decr', 2, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, args) => incrBy(ctx, args[1], -1)),
  command('incrby', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, args) => incrByArg(ctx, args, 1)),
  command('decrby', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, args) => incrByArg(ctx, args, -1)),
  command('ping', -1, ['fast'], NO_KEYS, (_ctx, args) => {
    if (args.length > 2) return wrongArity('ping');
    return args.length === 2 ? bulk(args[1]) : simple('PONG');
  }),
  command('echo', 2, ['fast'], NO_KEYS, (_ctx, args) => bulk(args[1])),
  command('quit', -1, ['fast'], NO_KEYS, (ctx) => {
    ctx.session.closeAfterReply = true;
    return OK;
  }),
  command('select', 2, ['loading', 'stale', 'fast'], NO_KEYS, select),
  command('consistency', -1, ['fast'], NO_KEYS, (ctx, args) =>
    args.length > 2 ? wrongArity('consistency') : consistency(ctx, args),
  ),
  command('hello', -1, ['noscript', 'loading', 'stale', 'fast'], NO_KEYS, hello),
  command('auth', -2, ['noscript', 'loading', 'stale', 'fast'], NO_KEYS, auth),
  command('info', -1, ['loading', 'stale'], NO_KEYS, info),
  command('arpeggio.status', 1, ['loading', 'stale'], NO_KEYS, arpeggioStatus),
  command('config', -2, [], NO_KEYS, undefined, [
    command('config|get', -3, ['admin', 'noscript', 'loading', 'stale'], NO_KEYS, configGet),
    command('config|set', -4, ['admin', 'noscript', 'loading', 'stale'], NO_KEYS, () =>
      error('ERR CONFIG SET is not supported: Arpeggio is configured at startup'),
    ),
    command('config|resetstat', 2, ['admin', 'noscript', 'loading', 'stale'], NO_KEYS, () => OK),
  ]),
  command('command', -1, ['loading', 'stale'], NO_KEYS, (ctx, args) => commandInfo(ctx, args.slice(0, 1)), [
    command('command|count', 2, ['loading', 'stale'], NO_KEYS, () => integer(TABLE.length)),
    command('command|docs', -2, ['loading', 'stale'], NO_KEYS, commandDocs),
    command('command|info', -2, ['loading', 'stale'], NO_KEYS, commandInfo),
    command('command|list', -2, ['loading', 'stale'], NO_KEYS, () => array(TABLE.map((c) => bulk(c.name)))),
  ]),
  command(
    'client',
    -2,
    [],
    NO_KEYS,
    undefined,
    [
      ['id', 2],
      ['getname', 2],
      ['info', 2],
      ['setname', 3],
      ['setinfo', 4],
    ].map(([sub, arity]) =>
      command(`client|${sub}`, arity as number, ['noscript', 'loading', 'stale'], NO_KEYS, (ctx, args) =>
        client(ctx, args, sub as string),
      ),
    ),
  ),
];

export const COMMANDS: Record<string, CommandSpec> = Object.fromEntries(TABLE.map((c) => [c.name, c]));
