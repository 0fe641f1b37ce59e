/**
 * `arpeggio get|set|del|scan`: one key operation against one node's HTTP API, through the
 * TypeScript client (src/client/) in `direct` routing: `--at` says which node is asked, and that
 * node coordinates the request over the key's replicas.
 */
import { join } from 'node:path';
import { ArpeggioError, type Client, connect } from '../../client/index.js';
import { readClusterFile } from '../../control/local-cluster.js';
import { CONSISTENCY_LEVELS, type Consistency } from '../../core/replication/messages.js';
import { boolFlag, choiceFlag, intFlag, type Parsed, parseFlags, UsageError } from '../args.js';
import type { Command } from '../command.js';

const DEFAULT_AT = '127.0.0.1:7102';
const CLUSTER_DIR = '.arpeggio';

const COMMON = `  --at HOST:PORT      the node's HTTP endpoint (default: the first running node in
                      ./${CLUSTER_DIR}/cluster.json, else ${DEFAULT_AT}, the local cluster's n1)
  --consistency L     ${CONSISTENCY_LEVELS.join(', ')} (default quorum; docs/REPLICATION.md)
  --json              print one JSON object instead of text
  Token: ARPEGGIO_HTTP_TOKEN, when the nodes run with --http-token.`;

const getUsage = `arpeggio get — read the value at a key

Usage: arpeggio get KEY [--consistency L] [--at HOST:PORT] [--json]

Prints the value (as text, with a newline) and exits 0; exits 1 when the key has no value.
With --json: {"key","found","value","etag"} (value as UTF-8 text).

Flags:
${COMMON}

Examples:
  arpeggio get greeting
  arpeggio get greeting --consistency linearizable --at 127.0.0.1:7112 --json`;

const setUsage = `arpeggio set — write a value at a key

Usage: arpeggio set KEY VALUE [--ttl-ms N] [--nx] [--consistency L] [--at HOST:PORT] [--json]

Prints OK. With --nx the write happens only if the key has no value; otherwise it prints
"not set: the key has a value" and exits 1.

Flags:
  --ttl-ms N          the value expires N ms after the node receives it
  --nx                write only if the key has no value
${COMMON}

Examples:
  arpeggio set greeting hello
  arpeggio set session/alice token-123 --ttl-ms 60000 --nx`;

const delUsage = `arpeggio del — delete keys (a key without a value is fine)

Usage: arpeggio del KEY [KEY …] [--consistency L] [--at HOST:PORT] [--json]

Flags:
${COMMON}

Example:
  arpeggio del greeting session/alice`;

const scanUsage = `arpeggio scan — list the cluster's keys

Usage: arpeggio scan [--prefix P] [--limit N] [--consistency L] [--local] [--at HOST:PORT] [--json]

Lists the keys of the whole cluster in ring order, through one node (--at), which walks the
ring's ranges and merges what each range's replicas hold (docs/REPLICATION.md, "Listing the
keyspace"): a key written through any node is listed, a deleted or expired one is not. At
'one' a range is read from one replica; at 'quorum' (default) from a majority of its replicas.
With --local, only the keys the node asked stores itself (a replica of about N/M of the keys).
Keys are printed one per line.

Flags:
  --prefix P          only keys that start with P
  --limit N           at most N keys (default 100, at most 100000)
  --consistency L     one, quorum or all: replicas merged per range (default quorum)
  --local             list only what the node asked stores (no merging, no other nodes)
  --at HOST:PORT      the node (default as for get)
  --json              print {"scope":"cluster"|"local","node","keys","cursor"}

Examples:
  arpeggio scan --prefix user/ --limit 20
  arpeggio scan --local --at 127.0.0.1:7112 --json`;

const FLAGS = {
  at: { type: 'string' },
  consistency: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** --at, else the first running node's HTTP endpoint in ./.arpeggio/cluster.json, else n1's default. */
function endpointOf(p: Parsed): string {
  const at = p.values.at;
  if (typeof at === 'string') {
    if (!/^[^\s/]+:\d+$/.test(at.replace(/^https?:\/\//, '')))
      throw new UsageError(`--at must be HOST:PORT, got '${at}'`);
    return at;
  }
  try {
    const file = readClusterFile(join(process.cwd(), CLUSTER_DIR));
    const node = file?.nodes.find((n) => n.state === 'running' && n.http) ?? file?.nodes.find((n) => n.http);
    if (node?.http) return node.http;
  } catch {
    // A broken cluster file: fall back to the default port.
  }
  return DEFAULT_AT;
}

function consistencyOf(p: Parsed): Consistency {
  return choiceFlag(p, 'consistency', 'quorum', CONSISTENCY_LEVELS);
}

function exactly(p: Parsed, names: string[]): string[] {
  if (p.positionals.length < names.length)
    throw new UsageError(`missing ${names.slice(p.positionals.length).join(' ')}`);
  if (p.positionals.length > names.length)
    throw new UsageError(`unexpected argument '${p.positionals[names.length]}'`);
  return p.positionals;
}

/** Runs `body` with a client on `at`; turns the client's errors into a message that says what to do. */
async function withClient(
  label: string,
  at: string,
  json: boolean,
  body: (db: Client) => Promise<number>,
): Promise<number> {
  const token = process.env.ARPEGGIO_HTTP_TOKEN;
  const db = await connect({
    nodes: [at],
    routing: 'direct',
    retries: 2,
    ...(token ? { token } : {}),
  });
  try {
    return await body(db);
  } catch (e) {
    if (!(e instanceof ArpeggioError)) throw e;
    const advice = adviceFor(e);
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: e.code, definite: e.definite, message: e.message, node: e.node } })}\n`,
      );
    }
    process.stderr.write(`${label}: ${e.message}${advice ? ` — ${advice}` : ''}\n`);
    return 1;
  } finally {
    await db.close();
  }
}

function adviceFor(e: ArpeggioError): string {
  switch (e.code) {
    case 'UNREACHABLE':
    case 'CIRCUIT_OPEN':
      return 'is a cluster running? try `npm start` (or `arpeggio cluster up`), or give --at HOST:PORT';
    case 'UNAUTHORIZED':
      return 'set ARPEGGIO_HTTP_TOKEN to the nodes’ --http-token';
    case 'QUORUM_UNAVAILABLE':
      return 'too few replicas are up for this level: try --consistency one, or start the stopped nodes';
    case 'NOT_READY':
      return 'the node is joining or shutting down: try again shortly, or another node with --at';
    case 'CLIENT_TIMEOUT':
    case 'TIMEOUT':
    case 'CONNECTION_LOST':
      return e.definite ? 'try again' : 'a write may or may not have happened: read the key to see';
    default:
      return '';
  }
}

const print = (text: string) => process.stdout.write(`${text}\n`);

export const getCommand: Command = {
  name: 'get',
  summary: 'read a key over the HTTP API',
  usage: getUsage,
  async run(argv) {
    const p = parseFlags(argv, FLAGS);
    const [key] = exactly(p, ['KEY']);
    const consistency = consistencyOf(p);
    const json = boolFlag(p, 'json');
    return withClient('arpeggio get', endpointOf(p), json, async (db) => {
      const entry = await db.getEntry(key, { consistency });
      const text = entry === null ? null : new TextDecoder().decode(entry.value);
      if (json) print(JSON.stringify({ key, found: entry !== null, value: text, etag: entry?.etag ?? null }));
      else if (text !== null) print(text);
      else process.stderr.write(`(nil): no value at key '${key}'\n`);
      return entry === null ? 1 : 0;
    });
  },
};

export const setCommand: Command = {
  name: 'set',
  summary: 'write a key over the HTTP API',
  usage: setUsage,
  async run(argv) {
    const p = parseFlags(argv, { ...FLAGS, 'ttl-ms': { type: 'string' }, nx: { type: 'boolean' } });
    const [key, value] = exactly(p, ['KEY', 'VALUE']);
    const consistency = consistencyOf(p);
    const ttlMs = intFlag(p, 'ttl-ms', 0, { min: 1, max: 10 * 365 * 24 * 3600 * 1000 });
    const nx = boolFlag(p, 'nx');
    const json = boolFlag(p, 'json');
    return withClient('arpeggio set', endpointOf(p), json, async (db) => {
      const applied = await db.set(key, value, { consistency, ...(ttlMs ? { ttlMs } : {}), ifAbsent: nx });
      if (json) print(JSON.stringify({ key, applied }));
      else if (applied) print('OK');
      else process.stderr.write(`not set: the key '${key}' has a value (--nx)\n`);
      return applied ? 0 : 1;
    });
  },
};

export const delCommand: Command = {
  name: 'del',
  summary: 'delete keys over the HTTP API',
  usage: delUsage,
  async run(argv) {
    const p = parseFlags(argv, FLAGS);
    if (p.positionals.length === 0) throw new UsageError('missing KEY');
    const consistency = consistencyOf(p);
    const json = boolFlag(p, 'json');
    return withClient('arpeggio del', endpointOf(p), json, async (db) => {
      for (const key of p.positionals) await db.del(key, { consistency });
      if (json) print(JSON.stringify({ deleted: p.positionals }));
      else print('OK');
      return 0;
    });
  },
};

export const scanCommand: Command = {
  name: 'scan',
  summary: "list the cluster's keys (or, with --local, one node's)",
  usage: scanUsage,
  async run(argv) {
    const p = parseFlags(argv, {
      at: FLAGS.at,
      json: FLAGS.json,
      consistency: FLAGS.consistency,
      prefix: { type: 'string' },
      limit: { type: 'string' },
      local: { type: 'boolean' },
    });
    exactly(p, []);
    const limit = intFlag(p, 'limit', 100, { min: 1, max: 100_000 });
    const prefix = typeof p.values.prefix === 'string' ? p.values.prefix : '';
    const json = boolFlag(p, 'json');
    const local = boolFlag(p, 'local');
    const consistency = choiceFlag(p, 'consistency', 'quorum', ['one', 'quorum', 'all'] as const);
    return withClient('arpeggio scan', endpointOf(p), json, async (db) => {
      const keys: string[] = [];
      let cursor: string | null = null;
      let node = '';
      // A page may be short (even empty) with a cursor: keep going until the cursor is null.
      do {
        const want = Math.min(1000, limit - keys.length);
        const page: { node: string; keys: string[]; cursor: string | null } = local
          ? await db.listLocal({ prefix, cursor, limit: want })
          : await db.list({ prefix, cursor, limit: want, consistency });
        node = page.node;
        keys.push(...page.keys.slice(0, limit - keys.length));
        cursor = page.cursor;
      } while (cursor !== null && keys.length < limit);
      const scope = local ? 'local' : 'cluster';
      if (json) print(JSON.stringify({ scope, node, keys, cursor }));
      else {
        for (const key of keys) print(key);
        const count = `${keys.length} key${keys.length === 1 ? '' : 's'}`;
        const more = cursor !== null ? '; more remain, raise --limit' : '';
        process.stderr.write(
          local
            ? `(${count} stored on node ${node} only: the listing is local to the node${more})\n`
            : `(${count} in the cluster, listed through node ${node}${more})\n`,
        );
      }
      return 0;
    });
  },
};

export const kvCommands: Command[] = [getCommand, setCommand, delCommand, scanCommand];
