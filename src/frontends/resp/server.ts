/**
 * The RESP server: `RespConnection`s (session.ts) bound to TCP sockets, with the limits that keep
 * one client from taking a node down.
 *
 * ```ts
 * const resp = createRespServer(api, { maxClients: 1000 });
 * const { port } = await resp.listen(6379);          // 127.0.0.1 unless told otherwise
 * …
 * await resp.close();                                 // answers what was asked, then closes
 * ```
 *
 * Every limit is an option; docs/REDIS-COMPATIBILITY.md lists them with their defaults. The
 * socket-level ones live here: how many clients, how long a client may stay idle or take to send
 * one request, how much unparsed input and unsent output one client may hold. Timeouts are
 * deadlines checked by one housekeeping tick, the way the core expires its deadlines.
 *
 * With `tls` the same server speaks RESP inside TLS (`redis-cli --tls`, ioredis `tls: { ca }`):
 * a connection becomes a client once its handshake is done, and from there every limit above
 * applies unchanged. Before that, handshakes in progress are capped and timed out (a client that
 * sends plain RESP or HTTP to the TLS port fails the handshake and is cut without a reply).
 */
import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import type { Consistency } from '../../core/replication/messages.js';
import { type ServerTlsOptions, serverTlsOptions } from '../../runtime/tls.js';
import type { RespApi, ServerFacts } from './commands.js';
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from './parser.js';
import { type ConnectionSink, noopLogger, RespConnection, type RespLogger } from './session.js';

export interface RespServerOptions extends Partial<ParserLimits> {
  /** The consistency level a connection starts with (CONSISTENCY changes it). Default `quorum`. */
  defaultConsistency?: Consistency;
  /**
   * Connected clients beyond which a new one gets `-ERR max number of clients reached` and is
   * closed, as in Redis. Default 10000 (Redis's maxclients).
   */
  maxClients?: number;
  /** Close a client that sent nothing and awaits nothing for this long; 0: never (Redis's `timeout 0`). Default 0. */
  idleTimeoutMs?: number;
  /**
   * A request, once it has started arriving, must be complete within this time, or the client is
   * closed (slow-loris defence; Redis has none). Formula: ≥ largest request / slowest client
   * bandwidth you serve. Default 60000 ms (16 MiB at ~270 KiB/s). 0: no limit.
   */
  partialRequestTimeoutMs?: number;
  /**
   * Unparsed bytes one client may hold (Redis's client-query-buffer-limit, 1 GiB there). Past it
   * the client is closed without a reply, as Redis does. Default 16 × maxBulkBytes = 256 MiB: an
   * MSET of 16 values of the largest size still fits.
   */
  maxQueryBufferBytes?: number;
  /**
   * Reply bytes waiting for a client that is not reading them, beyond which the server takes no
   * more commands from it (and so reads no more of its input) until the socket drains. Default
   * 4 MiB. Worst case per client ≈ this + the replies of `maxPipelinedCommands` commands.
   */
  maxOutputBufferBytes?: number;
  /** Commands one client may have in progress (see ConnectionInit). Default 128. */
  maxPipelinedCommands?: number;
  /** Keys per connection whose causal context is remembered for `session` level. Default 1024. */
  contextCacheEntries?: number;
  /**
   * How long a closing connection may take to flush its replies and see the client hang up before
   * it is destroyed; also the grace period of `close()`. Default 2000 ms.
   */
  closeTimeoutMs?: number;
  /**
   * The password clients must give with AUTH (or HELLO … AUTH default <password>) before any
   * command but AUTH, HELLO, PING and QUIT (Redis's requirepass). Default none.
   */
  password?: string;
  /** Serve RESP over TLS (certificate, key, optional client CA). Default: plain TCP. */
  tls?: ServerTlsOptions;
  /**
   * TLS handshakes in progress at once; beyond it a new connection is closed at once, before any
   * TLS work. Formula: ≥ connection arrival rate × handshake time (1–2 RTT). Default 128.
   */
  maxPendingTlsHandshakes?: number;
  logger?: RespLogger;
  /** Wall-clock milliseconds, for expiry times. Default Date.now. */
  clock?: () => number;
}

export interface RespServerStats {
  connectedClients: number;
  totalConnections: number;
  /** Refused because maxClients were connected. */
  rejectedConnections: number;
  protocolErrors: number;
  /** Closed because they sent an HTTP request. */
  crossProtocolRejections: number;
  queryBufferOverflows: number;
  /** Clients not being read right now: their commands wait for replies or for output to drain. */
  readPausedClients: number;
  partialRequestTimeouts: number;
  idleTimeouts: number;
  /** TLS only: connections whose handshake failed or timed out (plain-text clients among them). */
  tlsHandshakeFailures: number;
  /** TLS only: connections closed at once because maxPendingTlsHandshakes were in progress. */
  tlsHandshakesRefused: number;
  /** TLS only: connections accepted whose handshake has not finished yet. */
  tlsHandshakesInProgress: number;
}

export interface RespServer {
  /** Listens on `host` (default 127.0.0.1: this machine only) and resolves with the port. */
  listen(port: number, host?: string): Promise<{ port: number }>;
  /** Stops accepting, answers the commands already received, closes every client. */
  close(): Promise<void>;
  stats(): RespServerStats;
}

interface Client {
  socket: net.Socket;
  connection: RespConnection;
  lastActivityMs: number;
  /** Since when the client has been in the middle of a request without completing one. */
  partialSinceMs: number | undefined;
  commandsAtPartialStart: number;
  /** Set once the connection ended: destroy the socket at this time if the client has not hung up. */
  destroyAtMs: number | undefined;
  readPaused: boolean;
  outputBlocked: boolean;
}

export function createRespServer(api: RespApi, options: RespServerOptions = {}): RespServer {
  const parserLimits: ParserLimits = {
    maxArgs: options.maxArgs ?? DEFAULT_PARSER_LIMITS.maxArgs,
    maxBulkBytes: options.maxBulkBytes ?? DEFAULT_PARSER_LIMITS.maxBulkBytes,
    maxInlineBytes: options.maxInlineBytes ?? DEFAULT_PARSER_LIMITS.maxInlineBytes,
  };
  const maxClients = options.maxClients ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 0;
  const partialRequestTimeoutMs = options.partialRequestTimeoutMs ?? 60_000;
  const maxQueryBufferBytes = options.maxQueryBufferBytes ?? 16 * parserLimits.maxBulkBytes;
  const maxOutputBufferBytes = options.maxOutputBufferBytes ?? 4 * 1024 * 1024;
  const closeTimeoutMs = options.closeTimeoutMs ?? 2000;
  const logger = options.logger ?? noopLogger;
  const now = () => performance.now();

  const clients = new Set<Client>();
  /** Sockets refused at maxClients, closing. */
  const refused = new Set<net.Socket>();
  let nextClientId = 1;
  let listeningPort = 0;
  let closing = false;
  const stats: RespServerStats = {
    connectedClients: 0,
    totalConnections: 0,
    rejectedConnections: 0,
    protocolErrors: 0,
    crossProtocolRejections: 0,
    queryBufferOverflows: 0,
    readPausedClients: 0,
    partialRequestTimeouts: 0,
    idleTimeouts: 0,
    tlsHandshakeFailures: 0,
    tlsHandshakesRefused: 0,
    tlsHandshakesInProgress: 0,
  };
  /** TLS only: connections whose handshake is in progress, by remote "address:port". */
  const handshaking = new Map<string, { secured: boolean }>();

  const facts: ServerFacts = {
    connectedClients: () => clients.size,
    port: () => listeningPort,
    password: () => options.password ?? null,
    config: () => ({
      // What redis-benchmark and tools ask for. Arpeggio persists every write before it
      // acknowledges it (LMDB, fsync), which is Redis's `appendonly yes` + `appendfsync always`.
      save: '',
      appendonly: 'yes',
      appendfsync: 'always',
      databases: '1',
      maxmemory: '0',
      maxclients: String(maxClients),
      timeout: String(Math.floor(idleTimeoutMs / 1000)),
      'proto-max-bulk-len': String(parserLimits.maxBulkBytes),
      'client-query-buffer-limit': String(maxQueryBufferBytes),
      'arpeggio-default-consistency': options.defaultConsistency ?? 'quorum',
    }),
  };

  // allowHalfOpen: a client that sends its commands and then shuts down its side (`nc -q`,
  // scripts) still gets its replies; the connection ends once they are written.
  const socketOptions = { noDelay: true, allowHalfOpen: true };
  const server = options.tls
    ? tlsServer(options.tls, options.maxPendingTlsHandshakes ?? 128)
    : net.createServer(socketOptions, (socket) => accept(socket));
  server.on('error', (err) => logger.warn({ err }, 'resp server error'));

  /**
   * A TLS listener whose handshaken sockets go to `accept`. A raw connection is known by its
   * remote address and port until its TLS socket (which has the same ones) is secured; one that
   * closes before that failed its handshake (a plain-text client, a timeout, a refused certificate).
   */
  function tlsServer(tlsOptions: ServerTlsOptions, maxPending: number): tls.Server {
    const s = tls.createServer({ ...serverTlsOptions(tlsOptions), ...socketOptions });
    const remote = (socket: net.Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
    s.on('connection', (raw: net.Socket) => {
      if (handshaking.size >= maxPending || closing) {
        stats.tlsHandshakesRefused++;
        raw.destroy();
        return;
      }
      const key = remote(raw);
      const entry = { secured: false };
      handshaking.set(key, entry);
      raw.once('close', () => {
        if (handshaking.get(key) === entry) handshaking.delete(key);
        if (!entry.secured) stats.tlsHandshakeFailures++;
      });
    });
    s.on('secureConnection', (socket: tls.TLSSocket) => {
      const key = remote(socket);
      const entry = handshaking.get(key);
      if (entry) entry.secured = true;
      handshaking.delete(key);
      accept(socket);
    });
    s.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      logger.debug({ remote: remote(socket), err: err.message }, 'closing connection: TLS handshake failed');
      // node reports a failed or timed-out handshake here but leaves the socket open.
      socket.destroy();
    });
    return s;
  }

  function accept(socket: net.Socket): void {
    stats.totalConnections++;
    if (closing || clients.size >= maxClients) {
      stats.rejectedConnections++;
      refused.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => refused.delete(socket));
      socket.end(Buffer.from('-ERR max number of clients reached\r\n'));
      socket.resume(); // discard whatever it sends so that our FIN is not turned into a reset
      setTimeout(() => socket.destroy(), closeTimeoutMs).unref();
      return;
    }
    // The sink and the connection refer to each other; the sink is only called after both exist.
    let connection: RespConnection;
    const sink: ConnectionSink = {
      write(parts) {
        writeParts(socket, parts);
        client.lastActivityMs = now();
        if (!client.outputBlocked && socket.writableLength > maxOutputBufferBytes) {
          client.outputBlocked = true;
          connection.setOutputBlocked(true);
          socket.once('drain', () => {
            client.outputBlocked = false;
            connection.setOutputBlocked(false);
          });
        }
      },
      end() {
        client.readPaused = false;
        socket.end();
        // Keep reading (and discarding) until the client hangs up: closing a socket with unread
        // input makes the kernel send a reset, which can destroy the reply before it is read.
        socket.resume();
        client.destroyAtMs = now() + closeTimeoutMs;
      },
      abort(reason) {
        if (reason === 'http') stats.crossProtocolRejections++;
        socket.destroy();
      },
      pauseInput() {
        client.readPaused = true;
        socket.pause();
      },
      resumeInput() {
        client.readPaused = false;
        socket.resume();
      },
    };
    connection = new RespConnection(
      {
        api,
        server: facts,
        clock: options.clock,
        logger,
        onProtocolError: () => stats.protocolErrors++,
      },
      {
        id: nextClientId++,
        defaultConsistency: options.defaultConsistency,
        parserLimits,
        maxPipelinedCommands: options.maxPipelinedCommands,
        contextCacheEntries: options.contextCacheEntries,
        addr: `${socket.remoteAddress}:${socket.remotePort}`,
        laddr: `${socket.localAddress}:${socket.localPort}`,
      },
      sink,
    );
    const client: Client = {
      socket,
      connection,
      lastActivityMs: now(),
      partialSinceMs: undefined,
      commandsAtPartialStart: 0,
      destroyAtMs: undefined,
      readPaused: false,
      outputBlocked: false,
    };
    clients.add(client);
    stats.connectedClients = clients.size;
    socket.on('data', (chunk: Buffer) => {
      if (connection.isEnded) return;
      client.lastActivityMs = now();
      connection.receive(chunk);
      if (!connection.isEnded && connection.bufferedBytes > maxQueryBufferBytes) {
        stats.queryBufferOverflows++;
        logger.warn(
          { client: connection.id, bufferedBytes: connection.bufferedBytes },
          'closing client that reached max query buffer length',
        );
        connection.detach();
        socket.destroy();
      }
    });
    socket.on('end', () => connection.shutdown());
    socket.on('error', (err) => logger.debug({ client: connection.id, err }, 'client socket error'));
    socket.on('close', () => {
      connection.detach();
      clients.delete(client);
      stats.connectedClients = clients.size;
    });
    ensureTicking();
  }

  // ---- deadlines ---------------------------------------------------------------------------

  const timeouts = [idleTimeoutMs, partialRequestTimeoutMs, closeTimeoutMs].filter((t) => t > 0);
  const tickMs = Math.min(1000, Math.max(10, Math.min(...timeouts) / 4));
  let ticker: NodeJS.Timeout | undefined;

  function ensureTicking(): void {
    if (ticker !== undefined) return;
    ticker = setInterval(tick, tickMs);
    ticker.unref();
  }

  function tick(): void {
    const t = now();
    for (const client of clients) {
      const { connection, socket } = client;
      if (client.destroyAtMs !== undefined) {
        if (t >= client.destroyAtMs) socket.destroy();
        continue;
      }
      if (partialRequestTimeoutMs > 0 && connection.awaitingRestOfRequest) {
        if (
          client.partialSinceMs === undefined ||
          connection.commandsReceived !== client.commandsAtPartialStart
        ) {
          client.partialSinceMs = t;
          client.commandsAtPartialStart = connection.commandsReceived;
        } else if (t - client.partialSinceMs > partialRequestTimeoutMs) {
          stats.partialRequestTimeouts++;
          logger.debug({ client: connection.id }, 'closing client: request incomplete for too long');
          connection.detach();
          socket.destroy();
          continue;
        }
      } else {
        client.partialSinceMs = undefined;
      }
      if (
        idleTimeoutMs > 0 &&
        connection.pendingReplies === 0 &&
        !connection.awaitingRestOfRequest &&
        t - client.lastActivityMs > idleTimeoutMs
      ) {
        stats.idleTimeouts++;
        logger.debug({ client: connection.id }, 'closing idle client');
        connection.shutdown();
      }
    }
    if (clients.size === 0 && ticker !== undefined) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }

  return {
    listen(port: number, host = '127.0.0.1'): Promise<{ port: number }> {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          listeningPort = (server.address() as net.AddressInfo).port;
          logger.info({ host, port: listeningPort }, 'resp server listening');
          resolve({ port: listeningPort });
        });
      });
    },

    close(): Promise<void> {
      closing = true;
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        else server.close(() => resolve());
      });
      for (const client of clients) client.connection.shutdown();
      const deadline = setTimeout(() => {
        for (const client of clients) client.socket.destroy();
        for (const socket of refused) socket.destroy();
      }, closeTimeoutMs);
      deadline.unref();
      return closed.then(() => {
        clearTimeout(deadline);
        if (ticker !== undefined) clearInterval(ticker);
        ticker = undefined;
      });
    },

    stats: () => {
      let readPaused = 0;
      for (const client of clients) if (client.readPaused && client.destroyAtMs === undefined) readPaused++;
      return {
        ...stats,
        connectedClients: clients.size,
        readPausedClients: readPaused,
        tlsHandshakesInProgress: handshaking.size,
      };
    },
  };
}

/**
 * Replies up to this size are copied into one buffer and written with one `socket.write`: a
 * stream write costs more than copying a few KiB, and a pipeline's replies are dozens of small
 * parts (`$100\r\n`, the value, `\r\n`, …). Larger ones go out as they are, in one writev.
 */
const COALESCE_BYTES = 64 * 1024;

function writeParts(socket: net.Socket, parts: readonly Uint8Array[]): void {
  if (parts.length === 1) {
    socket.write(parts[0]);
    return;
  }
  let total = 0;
  for (const part of parts) total += part.length;
  if (total <= COALESCE_BYTES) {
    socket.write(Buffer.concat(parts, total));
    return;
  }
  socket.cork();
  for (const part of parts) socket.write(part);
  socket.uncork();
}
