/**
 * `arpeggio start`: runs one node of a cluster in this process until SIGTERM or SIGINT.
 * Composition only: flags and the config file become NodeHostOptions; the front doors are wired
 * in `frontDoorsFor`; everything else lives in src/runtime/.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Logger, pino } from 'pino';
import type { TcpTlsOptions } from '../../adapters/transport/tcp.js';
import type { KvConfig } from '../../core/kv-node.js';
import { createHttpServer } from '../../frontends/http/server.js';
import { createRespServer } from '../../frontends/resp/server.js';
import { isRuntimeError, messageOf } from '../../runtime/errors.js';
import { NodeMetrics } from '../../runtime/metrics.js';
import {
  type FrontDoorStarter,
  type NodeApi,
  NodeHost,
  type NodeHostOptions,
} from '../../runtime/node-host.js';
import {
  isTlsConfigError,
  loadClientTls,
  loadPeerTls,
  type ServerTlsOptions,
  type TlsFiles,
} from '../../runtime/tls.js';
import { parseFlags, UsageError } from '../args.js';
import type { Command } from '../command.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DEFAULT_JOIN_TIMEOUT_MS = 30_000;
const DEFAULT_LEAVE_TIMEOUT_MS = 300_000;

const usage = `arpeggio start — run one node of a cluster (until SIGTERM or Ctrl-C)

Usage: arpeggio start --data DIR --peer-port P [--resp-port R] [flags]

Flags:
  --data DIR              the node's directory (LMDB store + lock file); created if absent. One
                          node per directory: a second process on it is refused
  --peer-port P           port for other nodes (0: the OS picks; the start line says which)
  --resp-port R           port for Redis clients (RESP); 0: the OS picks. Without it the node
                          serves its peers only (clients use the other nodes)
  --http-port H           port for the HTTP API and /metrics (docs/HTTP-API.md); 0: the OS picks
  --password P            RESP clients must AUTH P first (like requirepass); prefer ARPEGGIO_PASSWORD
                          or "password" in the config file (flags show in ps)
  --http-token T          require "Authorization: Bearer T" on every HTTP route but /healthz.
                          Prefer ARPEGGIO_HTTP_TOKEN or the config file (flags show in ps)
  --join HOST:PORT[,…]    peer addresses of nodes already in the cluster; none for the first node.
                          The node's own address may be in the list (give every node the same one)
  --id NAME               the node's name at its first start (default: n- and 8 hex digits); kept
                          in the data directory, and a later --id must match it
  --host HOST             interface to listen on (default 127.0.0.1: this machine only)
  --advertise-host HOST   the address other nodes and clients should dial (default --host; needed
                          when --host is 0.0.0.0)
  --advertise-peer HOST:PORT  the whole peer address others dial, when it is not --peer-port:
                          a proxy in front of the node (arpeggio torture's fault proxy)
  --cluster NAME          cluster name; nodes of other clusters are refused (default arpeggio)
  --secret S              the cluster secret, ≥ 16 bytes (openssl rand -hex 32). Prefer the
                          ARPEGGIO_SECRET environment variable or the config file: a flag is
                          visible to every user of the machine in the process list. Without one,
                          a public development secret is used, with a warning
  --tls-cert FILE         mutual TLS between nodes: this node's certificate (PEM), signed by the
  --tls-key FILE          cluster CA, its private key, and the CA every node's certificate must
  --tls-ca FILE           chain to. The three go together; every node of the cluster needs them
                          (a node without TLS, or with another CA's certificate, is refused).
                          The secret is still checked inside TLS
  --client-tls-cert FILE  TLS on the client ports (RESP and HTTP): the certificate clients see
  --client-tls-key FILE   and its key (may be the --tls-cert/--tls-key pair). Plain TCP without
  --client-tls-ca FILE    them. With --client-tls-ca, clients must also present a certificate
                          that CA signed (mutual TLS); without it, any client may connect and
                          --password/--http-token decide
  --vnodes V              virtual nodes per node on the ring (default 16)
  --replicas N            copies of each key (default 3)
  --read-quorum R         replies a quorum read waits for (default: a majority of N)
  --write-quorum W        acknowledgements a quorum write waits for (default: a majority of N);
                          R + W must exceed N
  --durability MODE       flush (default): a write is acknowledged once on disk (fdatasync);
                          relaxed: once committed, synced within a second (a power loss may undo
                          the last second of acknowledged writes)
  --join-timeout-ms MS    how long to look for --join nodes and to wait to join (default ${DEFAULT_JOIN_TIMEOUT_MS})
  --leave-timeout-ms MS   how long a leave (SIGUSR2) may take to hand off the node's ranges
                          (default ${DEFAULT_LEAVE_TIMEOUT_MS})
  --config FILE           JSON with any of these keys without "--" ({"peer-port": 7001,
                          "join": ["127.0.0.1:7000"], …}) and "kv" for core knobs; flags win;
                          a relative "data" is taken from the file's directory
  --log-level LEVEL       ${LOG_LEVELS.join(', ')} (default info);
                          logs are JSON lines on stderr
  --json                  print the start line as one JSON object

Certificates come from PEM files only; scripts/dev-ca.sh DIR n1 n2 n3 makes a development CA and
node certificates (docs/SECURITY.md). A missing or unreadable file stops the start with
TLS_FILE_UNREADABLE, a key that does not match its certificate (or a certificate the CA did not
sign, or an expired one) with TLS_FILE_INVALID. Relative paths in the config file are taken
from the file's directory.

Once the node serves requests it prints one line on stdout (with --json:
{"event":"ready","id","pid","epoch","peer","resp","http","data","cluster","durability","tls"}).
A failure to start prints the reason with a stable code and exits 1 (with --json also
{"event":"failed","code","message"} on stdout). SIGTERM or SIGINT: requests in flight finish,
everything is flushed, exit 0; the node stays a member and may be started again. SIGUSR2: leave
the cluster for good (hand every range to the remaining nodes), print a "left" line
({"event":"left","id"}), exit 0; exit 1 if the handoff did not finish in --leave-timeout-ms.
A storage failure while running stops the node at once (exit 1).

Examples:
  arpeggio start --data ./.arpeggio/n1 --peer-port 7001 --resp-port 6381
  arpeggio start --data ./.arpeggio/n2 --peer-port 7002 --resp-port 6382 --join 127.0.0.1:7001
  ARPEGGIO_SECRET=$(cat secret) arpeggio start --config node.json --json
  scripts/dev-ca.sh ./pki n1 && arpeggio start --data ./.arpeggio/n1 --peer-port 7001 \\
    --resp-port 6381 --tls-cert pki/n1.pem --tls-key pki/n1-key.pem --tls-ca pki/ca.pem \\
    --client-tls-cert pki/n1.pem --client-tls-key pki/n1-key.pem
  redis-cli --tls --cacert pki/ca.pem -p 6381 PING`;

const FLAGS = {
  data: { type: 'string' },
  'peer-port': { type: 'string' },
  'resp-port': { type: 'string' },
  'http-port': { type: 'string' },
  'http-token': { type: 'string' },
  password: { type: 'string' },
  join: { type: 'string' },
  id: { type: 'string' },
  host: { type: 'string' },
  'advertise-host': { type: 'string' },
  'advertise-peer': { type: 'string' },
  cluster: { type: 'string' },
  secret: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'client-tls-cert': { type: 'string' },
  'client-tls-key': { type: 'string' },
  'client-tls-ca': { type: 'string' },
  vnodes: { type: 'string' },
  replicas: { type: 'string' },
  'read-quorum': { type: 'string' },
  'write-quorum': { type: 'string' },
  durability: { type: 'string' },
  'join-timeout-ms': { type: 'string' },
  'leave-timeout-ms': { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Key = Exclude<keyof typeof FLAGS, 'config' | 'json'>;
/** Every setting as text (flags) or JSON values (the config file), before checking. */
type Raw = Partial<Record<Key, unknown>> & { kv?: unknown };

export interface StartSettings {
  dataDir: string;
  peerPort: number;
  respPort: number | undefined;
  httpPort: number | undefined;
  /** Bearer token the HTTP API requires (flag, ARPEGGIO_HTTP_TOKEN, config file); none: open. */
  httpToken: string | undefined;
  /** Password RESP clients must AUTH with (flag, ARPEGGIO_PASSWORD, config file); none: open. */
  password: string | undefined;
  host: string;
  advertiseHost: string;
  /** The peer address advertised instead of advertiseHost:peer-port (a proxy in front). */
  advertisePeer: string | undefined;
  join: string[];
  id: string | undefined;
  cluster: string;
  secret: string | undefined;
  secretSource: 'flag' | 'environment' | 'config file' | 'none';
  /** Mutual TLS between nodes (absolute paths); none: plain TCP with the HMAC handshake. */
  peerTls: (TlsFiles & { ca: string }) | undefined;
  /** TLS on the RESP and HTTP ports (absolute paths); a CA makes client certificates required. */
  clientTls: TlsFiles | undefined;
  kvConfig: Partial<KvConfig>;
  durability: 'flush' | 'relaxed';
  joinTimeoutMs: number;
  leaveTimeoutMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  json: boolean;
}

/** Flags over the config file over the environment over defaults; throws UsageError. */
export function parseStartArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): StartSettings {
  const p = parseFlags(argv, FLAGS);
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
  const fromFlags: Raw = {};
  for (const key of Object.keys(FLAGS) as (keyof typeof FLAGS)[]) {
    if (key === 'config' || key === 'json') continue;
    if (p.values[key] !== undefined) fromFlags[key] = p.values[key];
  }
  const configPath = p.values.config as string | undefined;
  const fromFile = configPath === undefined ? {} : readConfigFile(configPath);
  const raw: Raw = { ...fromFile, ...fromFlags };
  const dataRaw = raw.data;
  if (dataRaw === undefined) throw new UsageError('--data DIR is required (the node keeps its store there)');
  const dataBase =
    fromFlags.data === undefined && configPath !== undefined ? dirname(resolve(configPath)) : '.';
  const host = text(raw, 'host') ?? '127.0.0.1';
  const replicas = int(raw, 'replicas', 1, 64);
  const majority = replicas === undefined ? undefined : Math.floor(replicas / 2) + 1;
  const kvConfig: Partial<KvConfig> = { ...(isObject(raw.kv) ? (raw.kv as Partial<KvConfig>) : {}) };
  if (raw.kv !== undefined && !isObject(raw.kv)) throw new UsageError('config file: "kv" must be an object');
  const setKnob = <K extends keyof KvConfig>(k: K, v: KvConfig[K] | undefined) => {
    if (v !== undefined) kvConfig[k] = v;
  };
  setKnob('vnodesPerNode', int(raw, 'vnodes', 1, 4096));
  setKnob('replicaCount', replicas);
  setKnob(
    'readQuorum',
    int(raw, 'read-quorum', 1, 64) ?? (kvConfig.readQuorum === undefined ? majority : undefined),
  );
  setKnob(
    'writeQuorum',
    int(raw, 'write-quorum', 1, 64) ?? (kvConfig.writeQuorum === undefined ? majority : undefined),
  );
  const peerPort = int(raw, 'peer-port', 0, 65535);
  if (peerPort === undefined) throw new UsageError('--peer-port P is required (0 lets the OS pick)');
  const respPort = int(raw, 'resp-port', 0, 65535);
  const durability = text(raw, 'durability') ?? 'flush';
  if (durability !== 'flush' && durability !== 'relaxed') {
    throw new UsageError(`--durability must be flush or relaxed, got '${durability}'`);
  }
  const logLevel = text(raw, 'log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  }
  const secretFlag = typeof fromFlags.secret === 'string' ? fromFlags.secret : undefined;
  const secretEnv =
    env.ARPEGGIO_SECRET !== undefined && env.ARPEGGIO_SECRET !== '' ? env.ARPEGGIO_SECRET : undefined;
  const secretFile = typeof fromFile.secret === 'string' ? fromFile.secret : undefined;
  const secret = secretFlag ?? secretEnv ?? secretFile;
  if (secret !== undefined && Buffer.byteLength(secret) < 16) {
    throw new UsageError('the cluster secret must be at least 16 bytes (try: openssl rand -hex 32)');
  }
  // A relative path is relative to where it was written: the config file's directory, or here.
  const path = (key: Key): string | undefined => {
    const v = text(raw, key);
    if (v === undefined) return undefined;
    const base =
      fromFlags[key] === undefined && configPath !== undefined ? dirname(resolve(configPath)) : '.';
    return resolve(base, v);
  };
  return {
    dataDir: resolve(dataBase, String(dataRaw)),
    peerPort,
    respPort,
    httpPort: int(raw, 'http-port', 0, 65535),
    httpToken:
      text(fromFlags, 'http-token') ??
      (env.ARPEGGIO_HTTP_TOKEN !== undefined && env.ARPEGGIO_HTTP_TOKEN !== ''
        ? env.ARPEGGIO_HTTP_TOKEN
        : undefined) ??
      text(fromFile, 'http-token'),
    password:
      text(fromFlags, 'password') ??
      (env.ARPEGGIO_PASSWORD !== undefined && env.ARPEGGIO_PASSWORD !== ''
        ? env.ARPEGGIO_PASSWORD
        : undefined) ??
      text(fromFile, 'password'),
    host,
    advertiseHost: text(raw, 'advertise-host') ?? host,
    advertisePeer: text(raw, 'advertise-peer'),
    join: list(raw.join),
    id: text(raw, 'id'),
    cluster: text(raw, 'cluster') ?? 'arpeggio',
    secret,
    secretSource:
      secretFlag !== undefined
        ? 'flag'
        : secretEnv !== undefined
          ? 'environment'
          : secretFile !== undefined
            ? 'config file'
            : 'none',
    peerTls: peerTlsFiles(path('tls-cert'), path('tls-key'), path('tls-ca')),
    clientTls: clientTlsFiles(path('client-tls-cert'), path('client-tls-key'), path('client-tls-ca')),
    kvConfig,
    durability,
    joinTimeoutMs: int(raw, 'join-timeout-ms', 1, 3_600_000) ?? DEFAULT_JOIN_TIMEOUT_MS,
    leaveTimeoutMs: int(raw, 'leave-timeout-ms', 1, 86_400_000) ?? DEFAULT_LEAVE_TIMEOUT_MS,
    logLevel: logLevel as StartSettings['logLevel'],
    json: p.values.json === true,
  };
}

function peerTlsFiles(
  cert: string | undefined,
  key: string | undefined,
  ca: string | undefined,
): (TlsFiles & { ca: string }) | undefined {
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined || ca === undefined) {
    const missing = [cert ?? '--tls-cert', key ?? '--tls-key', ca ?? '--tls-ca'].filter((f) =>
      f.startsWith('--'),
    );
    throw new UsageError(
      `${missing.join(' and ')} missing: mutual TLS between nodes needs --tls-cert, --tls-key and ` +
        '--tls-ca together (this node’s certificate, its key, the cluster CA)',
    );
  }
  return { cert, key, ca, labels: { cert: '--tls-cert', key: '--tls-key', ca: '--tls-ca' } };
}

function clientTlsFiles(
  cert: string | undefined,
  key: string | undefined,
  ca: string | undefined,
): TlsFiles | undefined {
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    const missing = cert === undefined ? '--client-tls-cert' : '--client-tls-key';
    throw new UsageError(
      `${missing} missing: TLS on the client ports needs --client-tls-cert and --client-tls-key ` +
        '(--client-tls-ca alone is not enough: it only says which client certificates to accept)',
    );
  }
  const labels = { cert: '--client-tls-cert', key: '--client-tls-key', ca: '--client-tls-ca' };
  return { cert, key, ...(ca !== undefined ? { ca } : {}), labels };
}

/**
 * Reads and checks the TLS files of the settings. Throws TlsConfigError (TLS_FILE_UNREADABLE,
 * TLS_FILE_INVALID) naming the flag and the file.
 */
export function loadStartTls(
  s: Pick<StartSettings, 'peerTls' | 'clientTls'>,
  nowMs = Date.now(),
): { peer: TcpTlsOptions | undefined; client: ServerTlsOptions | undefined } {
  return {
    peer: s.peerTls === undefined ? undefined : loadPeerTls(s.peerTls, nowMs),
    client: s.clientTls === undefined ? undefined : loadClientTls(s.clientTls, nowMs),
  };
}

/**
 * The client-facing servers this node runs, by the name under which each address is advertised
 * (members' `meta.resp`, `meta.http`). The one place where front doors are wired in.
 */
function frontDoorsFor(
  s: StartSettings,
  logger: Logger,
  tls: ServerTlsOptions | undefined,
): Record<string, FrontDoorStarter> {
  const doors: Record<string, FrontDoorStarter> = {};
  // One registry per node, served by the HTTP door; every door counts its requests into it.
  let metrics: NodeMetrics | undefined;
  const counted = <A extends NodeApi>(api: A, door: string): A => {
    if (s.httpPort === undefined) return api; // nothing serves the metrics
    metrics ??= new NodeMetrics(() => api.status());
    return metrics.instrument(api, door);
  };
  if (s.respPort !== undefined) doors.resp = respFrontDoor(s, logger, tls, counted);
  if (s.httpPort !== undefined) {
    doors.http = httpFrontDoor(s, logger, tls, (api) => {
      const host = counted(api as NodeApi & Partial<Pick<NodeHost, 'scanLocal'>>, 'http');
      return { api: host, metrics: metrics as NodeMetrics };
    });
  }
  return doors;
}

/** The Redis-protocol server on --resp-port, advertised as `resp`. */
function respFrontDoor(
  s: StartSettings,
  logger: Logger,
  tls: ServerTlsOptions | undefined,
  counted: (api: NodeApi, door: string) => NodeApi,
): FrontDoorStarter {
  return async (api) => {
    const server = createRespServer(counted(api, 'resp'), {
      logger: logger.child({ component: 'resp' }),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(tls !== undefined ? { tls } : {}),
    });
    const { port } = await server.listen(s.respPort ?? 0, s.host);
    return { address: formatAddress(s.advertiseHost, port), close: () => server.close() };
  };
}

/** The HTTP API and /metrics on --http-port, advertised as `http`. */
function httpFrontDoor(
  s: StartSettings,
  logger: Logger,
  tls: ServerTlsOptions | undefined,
  wrap: (api: NodeApi) => { api: NodeApi & Partial<Pick<NodeHost, 'scanLocal'>>; metrics: NodeMetrics },
): FrontDoorStarter {
  return async (nodeApi) => {
    const { api, metrics } = wrap(nodeApi);
    // Fastify logs every request at info level, which would drown the node's own lines.
    const httpLogger = logger.child({ component: 'http' });
    if (httpLogger.levelVal < httpLogger.levels.values.warn) httpLogger.level = 'warn';
    const server = createHttpServer(api, {
      metrics,
      ...(s.httpToken !== undefined ? { token: s.httpToken } : {}),
      ...(tls !== undefined ? { tls } : {}),
      logger: httpLogger,
    });
    const { port } = await server.listen(s.httpPort ?? 0, s.host);
    return { address: formatAddress(s.advertiseHost, port), close: () => server.close() };
  };
}

function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function run(argv: string[]): Promise<number> {
  const s = parseStartArgs(argv);
  const logger = pino(
    { level: s.logLevel, base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: true }),
  );
  if (s.secretSource === 'none') {
    process.stderr.write(
      'arpeggio start: WARNING: no cluster secret (--secret, ARPEGGIO_SECRET or the config file); ' +
        'using the public development secret: anyone who reaches the peer port can join\n',
    );
  }
  let tls: ReturnType<typeof loadStartTls>;
  try {
    tls = loadStartTls(s);
  } catch (e) {
    if (!isTlsConfigError(e)) throw e;
    logger.error({ code: e.code, err: e.detail }, 'the node could not start');
    process.stderr.write(`arpeggio start: ${e.message}\n`);
    if (s.json)
      process.stdout.write(`${JSON.stringify({ event: 'failed', code: e.code, message: e.detail })}\n`);
    return 1;
  }
  const options: NodeHostOptions = {
    dataDir: s.dataDir,
    peerHost: s.host,
    peerPort: s.peerPort,
    advertiseHost: s.advertiseHost,
    ...(s.advertisePeer !== undefined ? { advertisePeer: s.advertisePeer } : {}),
    join: s.join,
    id: s.id,
    cluster: s.cluster,
    secret: s.secret,
    ...(tls.peer !== undefined ? { tls: tls.peer } : {}),
    kvConfig: s.kvConfig,
    durability: s.durability,
    joinTimeoutMs: s.joinTimeoutMs,
    frontDoors: frontDoorsFor(s, logger, tls.client),
    logger,
    onFatal: (error) => {
      process.stderr.write(`arpeggio start: ${error.message}\n`);
      if (s.json)
        process.stdout.write(
          `${JSON.stringify({ event: 'failed', code: error.code, message: error.detail })}\n`,
        );
      process.exit(1);
    },
  };
  let host: NodeHost | undefined;
  try {
    host = await NodeHost.start(options);
    await host.whenReady(s.joinTimeoutMs);
  } catch (e) {
    const code = isRuntimeError(e) ? e.code : 'START_FAILED';
    const message = isRuntimeError(e) ? e.detail : messageOf(e);
    logger.error({ code, err: message }, 'the node could not start');
    process.stderr.write(`arpeggio start: ${code}: ${message}\n`);
    if (s.json) process.stdout.write(`${JSON.stringify({ event: 'failed', code, message })}\n`);
    // A host that started but never became ready still holds the directory and ports.
    await host?.close();
    return 1;
  }
  const stopped = waitForSignal(host, s, logger);
  process.stdout.write(`${startLine(host, s)}\n`);
  return stopped;
}

/** The readiness signal: printed once the node serves requests. */
function startLine(host: NodeHost, s: StartSettings): string {
  const e = host.endpoints;
  if (s.json) {
    return JSON.stringify({
      event: 'ready',
      id: host.nodeId,
      pid: process.pid,
      epoch: host.epoch,
      peer: e.peer,
      resp: e.resp ?? null,
      http: e.http ?? null,
      data: host.dataDir,
      cluster: s.cluster,
      durability: host.durability,
      tls: { peer: s.peerTls !== undefined, client: s.clientTls !== undefined },
    });
  }
  const peerTls = s.peerTls !== undefined ? ' (TLS)' : '';
  const clientTls = s.clientTls !== undefined ? ' (TLS)' : '';
  const clients = Object.entries(e)
    .filter(([name]) => name !== 'peer')
    .map(([name, address]) => `, ${name} ${address}${clientTls}`)
    .join('');
  return `arpeggio node ${host.nodeId} ready: pid ${process.pid}, peer ${e.peer}${peerTls}${clients}, data ${host.dataDir} (start ${host.epoch})`;
}

/**
 * Resolves with the exit code once a signal has stopped the node: SIGTERM/SIGINT close it
 * (it stays a member), SIGUSR2 makes it leave the cluster first.
 */
function waitForSignal(host: NodeHost, s: StartSettings, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const second = (signal: NodeJS.Signals): boolean => {
      if (!stopping) {
        stopping = true;
        return false;
      }
      logger.warn({ signal }, 'second signal: exiting without finishing the graceful stop');
      process.exit(130);
    };
    const onStop = (signal: NodeJS.Signals) => {
      if (second(signal)) return;
      logger.info({ signal }, 'stopping gracefully');
      host.close().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error({ err: messageOf(e) }, 'the graceful stop failed');
          resolve(1);
        },
      );
    };
    const onLeave = (signal: NodeJS.Signals) => {
      if (second(signal)) return;
      logger.info({ signal }, 'leaving the cluster');
      host.leave(s.leaveTimeoutMs).then(
        () => {
          const line = s.json
            ? JSON.stringify({ event: 'left', id: host.nodeId })
            : `arpeggio node ${host.nodeId} left the cluster`;
          process.stdout.write(`${line}\n`);
          resolve(0);
        },
        (e: unknown) => {
          const code = isRuntimeError(e) ? e.code : 'LEAVE_FAILED';
          process.stderr.write(`arpeggio start: ${isRuntimeError(e) ? e.message : messageOf(e)}\n`);
          if (s.json)
            process.stdout.write(`${JSON.stringify({ event: 'failed', code, message: messageOf(e) })}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGUSR2', onLeave);
  });
}

// ---- settings helpers ----------------------------------------------------------------------

function readConfigFile(path: string): Raw {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--config ${path}: ${messageOf(e)}`);
  }
  if (!isObject(parsed)) throw new UsageError(`--config ${path}: expected a JSON object`);
  const allowed = new Set<string>([...Object.keys(FLAGS), 'kv']);
  for (const key of Object.keys(parsed)) {
    if (!allowed.has(key) || key === 'config' || key === 'json') {
      throw new UsageError(
        `--config ${path}: unknown key '${key}' (keys are the flag names without --, and "kv")`,
      );
    }
  }
  return parsed as Raw;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(raw: Raw, key: Key): string | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${key} must be a non-empty string`);
  return v;
}

function int(raw: Raw, key: Key, min: number, max: number): number | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  const t = String(v);
  if (!/^\d+$/.test(t)) throw new UsageError(`--${key} must be an integer, got '${t}'`);
  const n = Number(t);
  if (n < min || n > max) throw new UsageError(`--${key} must be between ${min} and ${max}, got ${t}`);
  return n;
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v.map(String) : String(v).split(',');
  return items.map((a) => a.trim()).filter((a) => a !== '');
}

export const startCommand: Command = {
  name: 'start',
  summary: 'run one node of a cluster (LMDB store, peer port, RESP port)',
  usage,
  run,
};
