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
import {
  type CausalContext,
  CONSISTENCY_LEVELS,
  type Consistency,
  type KvError,
  type KvReply,
  type KvRequest,
} from '../../core/replication/messages.js';
import { MAX_STORAGE_KEY_BYTES } from '../../core/storage-table.js';
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
 * monotonic reads); the contexts are remembered at every level, so a connection that switches to
 * `session` starts from what it has already seen.
 */
async function send(ctx: CommandContext, req: KvRequest): Promise<KvReply> {
  if (ctx.consistency === 'session' && req.op !== 'incr' && req.op !== 'cas') {
    const context = ctx.session.contextFor(req.key);
    if (context !== undefined) req.context = context;
  }
  const reply = await ctx.api.request(req);
  if (reply.ok && reply.context !== undefined) ctx.session.remember(req.key, reply.context);
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
  if (keepTtl) return error('ERR SET KEEPTTL is not supported by Arpeggio yet');
  let expiresAtMs = 0;
  if (unit !== null) {
    const n = parseInt64(expire as Buffer);
    if (n === null) return NOT_AN_INTEGER;
    const invalid = error("ERR invalid expire time in 'set' command");
    if (n <= 0n) return invalid;
    const ms = unit === 'ex' || unit === 'exat' ? n * 1000n : n;
    const absolute = unit === 'ex' || unit === 'px' ? ms + BigInt(nowMs) : ms;
    // Redis's bound is a 64-bit overflow; ours is what a JS number holds exactly.
    if (absolute > BigInt(Number.MAX_SAFE_INTEGER)) return invalid;
    expiresAtMs = Number(absolute);
  }
  return { condition: nx ? 'if-absent' : xx ? 'if-present' : 'always', returnPrevious: get, expiresAtMs };
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
      const refused = authenticate(args[j + 1], args[j + 2]);
      if (refused) return refused;
      j += 2;
    } else if (opt === 'setname' && left >= 1) {
      name = args[j + 1];
      j += 1;
    } else {
      return error(`ERR Syntax error in HELLO option '${args[j].toString('latin1')}'`);
    }
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
 * There are no passwords yet: every connection is the `default` user without a password, which
 * Redis accepts with any password, and a password alone is refused with Redis's text.
 */
function authenticate(user: Buffer, _password: Buffer): RespValue | null {
  if (user.toString('latin1') === 'default') return null;
  return error('WRONGPASS invalid username-password pair or user is disabled.');
}

function auth(_ctx: CommandContext, args: Buffer[]): RespValue {
  if (args.length === 2) {
    return error(
      'ERR AUTH <password> called without any password configured for the default user. ' +
        'Are you sure your configuration is correct?',
    );
  }
  if (args.length !== 3) return SYNTAX_ERROR;
  return authenticate(args[1], args[2]) ?? OK;
}

function info(ctx: CommandContext, args: Buffer[]): RespValue {
  const status = ctx.api.status() as { ready?: unknown } | null;
  const sections: Record<string, [string, string | number][]> = {
    server: [
      ['redis_version', REDIS_COMPATIBLE_VERSION],
      ['redis_mode', 'standalone'],
      ['arpeggio_node_id', ctx.api.nodeId],
      ['tcp_port', ctx.server.port()],
    ],
    clients: [
      ['connected_clients', ctx.server.connectedClients()],
      ['maxclients', ctx.server.config().maxclients ?? '0'],
    ],
    persistence: [['loading', 0]],
    arpeggio: [
      ['node_id', ctx.api.nodeId],
      ['ready', typeof status?.ready === 'boolean' ? (status.ready ? 1 : 0) : 1],
      ['consistency', ctx.session.consistency],
    ],
  };
  const wanted = args.slice(1).map(lower);
  const all = wanted.length === 0 || wanted.some((w) => w === 'all' || w === 'everything' || w === 'default');
  const names = Object.keys(sections).filter((s) => all || wanted.includes(s));
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

/** Redis's stringmatchlen: `*`, `?`, `[abc]`, `[^a-z]`, `\x`. */
export function globMatch(pattern: string, text: string, noCase: boolean): boolean {
  if (noCase) {
    pattern = pattern.toLowerCase();
    text = text.toLowerCase();
  }
  const match = (p: number, t: number): boolean => {
    while (p < pattern.length) {
      const c = pattern[p];
      if (c === '*') {
        while (pattern[p + 1] === '*') p++;
        if (p + 1 === pattern.length) return true;
        for (let i = t; i <= text.length; i++) if (match(p + 1, i)) return true;
        return false;
      }
      if (t >= text.length) return false;
      if (c === '?') {
        p++;
        t++;
        continue;
      }
      if (c === '[') {
        let q = p + 1;
        const not = pattern[q] === '^';
        if (not) q++;
        let hit = false;
        while (q < pattern.length && pattern[q] !== ']') {
          if (pattern[q] === '\\' && q + 1 < pattern.length) {
            q++;
            if (pattern[q] === text[t]) hit = true;
          } else if (pattern[q + 1] === '-' && q + 2 < pattern.length && pattern[q + 2] !== ']') {
            let lo = pattern[q];
            let hi = pattern[q + 2];
            if (lo > hi) [lo, hi] = [hi, lo];
            if (text[t] >= lo && text[t] <= hi) hit = true;
            q += 2;
          } else if (pattern[q] === text[t]) hit = true;
          q++;
        }
        if (hit === not) return false;
        p = q + 1;
        t++;
        continue;
      }
      const literal = c === '\\' && p + 1 < pattern.length ? pattern[++p] : c;
      if (literal !== text[t]) return false;
      p++;
      t++;
    }
    return t === text.length;
  };
  return match(0, 0);
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
    // Documentation is not served; an empty reply is what redis-cli copes with.
    command('command|docs', -2, ['loading', 'stale'], NO_KEYS, () => map([])),
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
