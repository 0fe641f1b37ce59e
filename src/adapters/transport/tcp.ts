/**
 * The peer transport: messages between node processes over TCP (optionally mutual TLS).
 *
 * It is a message pipe between authenticated peers, hardened against bad input, and nothing
 * more. Request/response correlation, retries with backoff, duplicate suppression and circuit
 * breakers belong to the core's RPC layer; this transport may drop a message (a full queue, a
 * connection that breaks) and says so only in its metrics. Within one connection messages arrive
 * in the order they were sent; across a reconnect, or the brief overlap of two connections
 * while a simultaneous dial is settled, a message may be lost or overtaken.
 *
 *   runtime ──send(to, msg)──▶ per-peer queue ──▶ socket ══frames══▶ peer ──onMessage(from, msg)──▶ runtime
 *
 * One connection per peer pair, used in both directions. A connection carries messages only
 * after the handshake (handshake.ts) has proven the peer holds the cluster secret. Every limit
 * and timeout is a knob of `TcpTransportInit`; docs/TRANSPORT.md lists them with their defaults.
 *
 * Timeouts are deadlines kept on each connection and expired by one housekeeping tick, the way
 * the core expires its deadlines; a test with short timeouts gets a faster tick.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import type { NodeId } from '../../core/types.js';
import { type ConnectionErrorCode, TransportError, type TransportErrorCode } from './errors.js';
import {
  DEFAULT_MAX_FRAME_PAYLOAD_BYTES,
  encodeFrame,
  FLAG_CONTROL,
  type Frame,
  FrameDecoder,
} from './frame.js';
import {
  HANDSHAKE_NONCE_BYTES,
  Handshake,
  type HandshakeMessage,
  type HandshakePeer,
  rejectFor,
  secretBytes,
} from './handshake.js';
import type { PeerTransport } from './types.js';

/** The logging shape the transport needs; a pino logger fits it. */
export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const noopLogger: TransportLogger = { debug() {}, info() {}, warn() {} };

/** Collaborators the transport uses (injected, so tests and the runtime can substitute them). */
export interface TcpTransportComponents {
  /** Where a node listens ("host:port", "[v6]:port"), or undefined when the runtime does not know. */
  addressOf?: (id: NodeId) => string | undefined;
  logger?: TransportLogger;
  /** Monotonic milliseconds. Default: performance.now. */
  clock?: () => number;
  /** Uniform in [0, 1), for backoff jitter. Default: Math.random. */
  random?: () => number;
  /** Cryptographically random bytes, for handshake nonces and the boot id. Default: crypto.randomBytes. */
  randomBytes?: (n: number) => Uint8Array;
}

export interface TcpTlsOptions {
  /** This node's certificate chain (PEM). */
  cert: string | Buffer;
  /** This node's private key (PEM). */
  key: string | Buffer;
  /** The cluster CA(s) that sign every node's certificate (PEM). Both directions verify against it. */
  ca: string | Buffer | (string | Buffer)[];
  /**
   * Also check that the dialled host name is in the peer certificate. Default false: in a cluster
   * the CA admits members and the HMAC handshake names them; nodes are often dialled by IP.
   */
  verifyHostname?: boolean;
}

export interface TcpTransportInit {
  nodeId: NodeId;
  /** Cluster name; peers from another cluster are refused even with the same secret. */
  cluster: string;
  /** Shared cluster secret, at least 16 bytes (MIN_SECRET_BYTES). */
  secret: string | Uint8Array;
  /** Interface to listen on. Default 127.0.0.1: a node is reachable only from this machine unless told otherwise. */
  host?: string;
  /** Port to listen on; 0 lets the OS pick (see `address()`). Default 0. */
  port?: number;
  /** Mutual TLS under the handshake. Default: plain TCP. */
  tls?: TcpTlsOptions;
  /** Largest message payload in bytes. Default 16 MiB. Larger messages are dropped at the sender. */
  maxFrameBytes?: number;
  /** Largest handshake frame payload in bytes; a hello is ~150 bytes. Default 1 KiB. */
  handshakeMaxFrameBytes?: number;
  /** From TCP connect/accept to a proven peer. Default 5000 ms. */
  handshakeTimeoutMs?: number;
  /**
   * A frame, once its first byte has arrived, must be complete within this time.
   * Formula: ≥ maxFrameBytes / slowest peer bandwidth you accept; default 20000 ms
   * (16 MiB at ~0.8 MiB/s).
   */
  frameTimeoutMs?: number;
  /** Close a connection on which nothing arrived for this long. Default 15000 ms. */
  idleTimeoutMs?: number;
  /** Send a keepalive after this long without sending. Default idleTimeoutMs / 3 (three missed keepalives before a cut). */
  keepaliveIntervalMs?: number;
  /** Messages waiting per peer (connecting, or the socket is full). Default 10000. */
  maxQueuedFramesPerPeer?: number;
  /**
   * Bytes waiting per peer, beyond what the socket itself buffers (its high-water mark, 16 KiB,
   * plus at most one frame). Default 32 MiB. Worst-case send memory ≈ peers × (this + 16 KiB +
   * maxFrameBytes).
   */
  maxQueuedBytesPerPeer?: number;
  /** First reconnect delay bound; attempt n waits uniform(0, min(max, base × 2^n)) (full jitter). Default 100 ms. */
  reconnectBaseDelayMs?: number;
  /** Cap of the reconnect delay bound. Default 10000 ms. */
  reconnectMaxDelayMs?: number;
  /** Connections still in their handshake at once; beyond it new sockets are closed at once. Default 128. */
  maxPendingHandshakes?: number;
  /** How long a closing connection may take to flush before it is destroyed. Default 2000 ms. */
  closeTimeoutMs?: number;
}

type Required2<T> = { [K in keyof T]-?: T[K] };
type Limits = Required2<Omit<TcpTransportInit, 'nodeId' | 'cluster' | 'secret' | 'host' | 'port' | 'tls'>>;

export type ConnectionDirection = 'inbound' | 'outbound';

/** Why a message handed to `send` was not queued. */
export type DropReason =
  /** the peer's queue was full (back-pressure); the RPC layer retries */
  | 'queueFull'
  /** larger than maxFrameBytes */
  | 'tooLarge'
  /** not plain data (see checkPlainData) */
  | 'unencodable'
  /** no connection and no known address */
  | 'unreachable'
  /** the transport closed, or the peer was forgotten, with the message still queued */
  | 'closed';

export interface TcpTransportEvents {
  /** A peer became reachable: the first connection to it passed the handshake. */
  connected: [peer: NodeId, info: { direction: ConnectionDirection; remoteAddress: string }];
  /** The last connection to a peer ended. Reconnecting starts if its address is known. */
  disconnected: [peer: NodeId, info: { code: TransportErrorCode; reason: string }];
  /**
   * A dial to a known peer failed (refused, timed out, handshake refused) while no connection
   * to it exists. Messages sent to it wait in its queue for the next attempt. The runtime can
   * tell the RPC layer (`peerUnreachable`) so calls in flight to it retry without waiting.
   */
  unreachable: [peer: NodeId, info: { code: TransportErrorCode; reason: string }];
  /** A connection was refused or cut for a protocol violation (garbage, a wrong secret, a timeout). */
  rejected: [info: RejectionInfo];
}

export interface RejectionInfo {
  code: TransportErrorCode;
  reason: string;
  direction: ConnectionDirection;
  remoteAddress: string;
  /** The claimed (during a handshake) or proven peer id, when known. */
  peer?: NodeId;
}

export interface PeerMetrics {
  id: NodeId;
  connected: boolean;
  direction?: ConnectionDirection;
  localPort?: number;
  remotePort?: number;
  queuedFrames: number;
  queuedBytes: number;
  /** Bytes handed to the socket and not yet flushed to the kernel. */
  socketBufferedBytes: number;
  droppedQueueFull: number;
  reconnectAttempt: number;
}

export interface TransportMetrics {
  /** Frames handed to sockets: messages, handshake and control frames. */
  framesSent: number;
  /** Frames decoded from sockets, handshake and control frames included. */
  framesReceived: number;
  bytesSent: number;
  /** Every byte read, strangers' included. */
  bytesReceived: number;
  /** Messages handed to a socket (they may still be lost if that connection breaks). */
  messagesSent: number;
  /** Messages handed to the onMessage handlers. */
  messagesDelivered: number;
  dropped: Record<DropReason, number>;
  /** Connections refused or cut, by code. */
  rejected: Partial<Record<TransportErrorCode, number>>;
  connectionsOpened: number;
  connectionsClosed: number;
  /** Connections by state right now. */
  connections: { handshaking: number; open: number; closing: number };
  dialFailures: number;
  peers: PeerMetrics[];
}

type ConnectionState = 'connecting' | 'handshake' | 'open' | 'closing' | 'closed';

interface DialWaiter {
  resolve(id: NodeId): void;
  reject(error: Error): void;
}

let connectionSerial = 0;

class Connection {
  readonly serial = ++connectionSerial;
  state: ConnectionState;
  readonly decoder: FrameDecoder;
  handshake: Handshake | undefined;
  peer: HandshakePeer | undefined;
  /** Handshake deadline while connecting/handshaking; drain deadline while closing. */
  deadlineMs: number;
  lastReceiveMs: number;
  lastSendMs: number;
  /** When the first byte of the frame still incomplete arrived; -1 when none is. */
  frameStartMs = -1;
  /** socket.write returned false; waiting for 'drain'. */
  blocked = false;
  corked = false;
  /** It passed the handshake; when closing, frames still in flight are delivered. */
  wasOpen = false;
  /** Why it is closing/closed, once decided. */
  endCode: TransportErrorCode | undefined;
  endReason = '';
  waiters: DialWaiter[] = [];

  constructor(
    readonly socket: net.Socket,
    readonly direction: ConnectionDirection,
    /** the address dialled (outbound only) */
    readonly dialAddress: string | undefined,
    readonly expectedPeerId: NodeId | undefined,
    nowMs: number,
    deadlineMs: number,
    maxHandshakeFrameBytes: number,
  ) {
    this.state = direction === 'outbound' ? 'connecting' : 'handshake';
    this.decoder = new FrameDecoder({ maxPayloadBytes: maxHandshakeFrameBytes });
    this.deadlineMs = deadlineMs;
    this.lastReceiveMs = nowMs;
    this.lastSendMs = nowMs;
  }

  get remoteAddress(): string {
    const a = this.socket.remoteAddress;
    if (a === undefined) return this.dialAddress ?? '?';
    return `${a.includes(':') ? `[${a}]` : a}:${this.socket.remotePort}`;
  }
}

class Peer {
  conn: Connection | undefined;
  /** An outbound connection not yet proven. */
  dialing: Connection | undefined;
  reconnectTimer: NodeJS.Timeout | undefined;
  reconnectAttempt = 0;
  /** Address learned from `connect(address)`, used when the resolver knows none. */
  address: string | undefined;
  /** Frames waiting to be written, oldest first, from index `head`. */
  queue: Buffer[] = [];
  head = 0;
  queuedBytes = 0;
  droppedQueueFull = 0;

  constructor(readonly id: NodeId) {}

  get queuedFrames(): number {
    return this.queue.length - this.head;
  }

  enqueue(frame: Buffer): void {
    this.queue.push(frame);
    this.queuedBytes += frame.length;
  }

  dequeue(): Buffer | undefined {
    if (this.head >= this.queue.length) return undefined;
    const frame = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as Buffer;
    this.queuedBytes -= frame.length;
    // Compact once the consumed prefix dominates, so a long-lived queue does not grow forever.
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return frame;
  }

  clearQueue(): number {
    const n = this.queuedFrames;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    return n;
  }
}

const DEFAULTS: Omit<Limits, 'keepaliveIntervalMs'> = {
  maxFrameBytes: DEFAULT_MAX_FRAME_PAYLOAD_BYTES,
  handshakeMaxFrameBytes: 1024,
  handshakeTimeoutMs: 5000,
  frameTimeoutMs: 20_000,
  idleTimeoutMs: 15_000,
  maxQueuedFramesPerPeer: 10_000,
  maxQueuedBytesPerPeer: 32 * 1024 * 1024,
  reconnectBaseDelayMs: 100,
  reconnectMaxDelayMs: 10_000,
  maxPendingHandshakes: 128,
  closeTimeoutMs: 2000,
};

/** "host:port" or "[v6]:port" → parts; throws TypeError on anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port < 1 || port > 65535) throw new TypeError(`not a host:port address: '${address}'`);
  return { host: m[1] ?? m[2], port };
}

export class TcpTransport extends EventEmitter<TcpTransportEvents> implements PeerTransport {
  readonly nodeId: NodeId;
  readonly #cluster: string;
  readonly #secret: Uint8Array;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: TcpTlsOptions | undefined;
  /** TLS only: raw connections whose handshake has not finished (remote address:port). */
  readonly #tlsHandshaking = new Set<string>();
  readonly #limits: Limits;
  readonly #bootId: string;
  readonly #addressOf: (id: NodeId) => string | undefined;
  readonly #log: TransportLogger;
  readonly #clock: () => number;
  readonly #random: () => number;
  readonly #randomBytes: (n: number) => Uint8Array;

  #server: net.Server | undefined;
  #listening: { host: string; port: number } | undefined;
  #tick: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #connections = new Set<Connection>();
  readonly #peers = new Map<NodeId, Peer>();
  readonly #handlers: ((from: NodeId, msg: unknown) => void)[] = [];
  readonly #closeWaiters = new Map<Connection, () => void>();

  readonly #m = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    dropped: { queueFull: 0, tooLarge: 0, unencodable: 0, unreachable: 0, closed: 0 } as Record<
      DropReason,
      number
    >,
    rejected: {} as Partial<Record<TransportErrorCode, number>>,
    connectionsOpened: 0,
    connectionsClosed: 0,
    dialFailures: 0,
  };

  constructor(components: TcpTransportComponents, init: TcpTransportInit) {
    super();
    if (!init.nodeId) throw new TypeError('nodeId is required');
    this.nodeId = init.nodeId;
    this.#cluster = init.cluster;
    this.#secret = secretBytes(init.secret);
    this.#host = init.host ?? '127.0.0.1';
    this.#port = init.port ?? 0;
    this.#tls = init.tls;
    const idleTimeoutMs = init.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    const limits: Record<string, number> = {
      ...DEFAULTS,
      keepaliveIntervalMs: Math.floor(idleTimeoutMs / 3),
    };
    for (const key of Object.keys(limits)) {
      const given = init[key as keyof Limits];
      if (given !== undefined) limits[key] = given;
    }
    this.#limits = limits as unknown as Limits;
    for (const [k, v] of Object.entries(this.#limits)) {
      if (typeof v !== 'number' || !(v > 0)) throw new TypeError(`${k} must be a positive number, got ${v}`);
    }
    if (this.#limits.keepaliveIntervalMs >= this.#limits.idleTimeoutMs) {
      throw new TypeError('keepaliveIntervalMs must be below idleTimeoutMs, or idle peers would be cut');
    }
    this.#addressOf = components.addressOf ?? (() => undefined);
    this.#log = components.logger ?? noopLogger;
    this.#clock = components.clock ?? (() => performance.now());
    this.#random = components.random ?? Math.random;
    this.#randomBytes = components.randomBytes ?? ((n) => cryptoRandomBytes(n));
    this.#bootId = Buffer.from(this.#randomBytes(8)).toString('hex');
    this.#startTick();
  }

  /** Starts listening; resolves with the bound address (the real port when 0 was asked). */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.#closed) throw new TransportError('TRANSPORT_CLOSED', 'listen() after close()');
    if (this.#listening) return this.#listening;
    const server = this.#tls
      ? tls.createServer({
          cert: this.#tls.cert,
          key: this.#tls.key,
          ca: this.#tls.ca,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
          handshakeTimeout: this.#limits.handshakeTimeoutMs,
        })
      : net.createServer();
    server.on(this.#tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      if (this.#tls) this.#tlsHandshaking.delete(`${socket.remoteAddress}:${socket.remotePort}`);
      this.#accept(socket);
    });
    if (this.#tls) {
      // A connection in its TLS handshake is not a Connection yet: count it here against the
      // same bound, so that many stalled handshakes cannot pile up below the transport's view.
      server.on('connection', (raw: net.Socket) => {
        if (this.#tlsHandshaking.size >= this.#limits.maxPendingHandshakes) {
          this.#countRejected('TOO_MANY_HANDSHAKES');
          return void raw.destroy();
        }
        const key = `${raw.remoteAddress}:${raw.remotePort}`;
        this.#tlsHandshaking.add(key);
        raw.once('close', () => this.#tlsHandshaking.delete(key));
      });
      server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
        // Node reports a failed or timed-out handshake here but leaves the socket open.
        socket.destroy();
        const remote = `${socket.remoteAddress}:${socket.remotePort}`;
        this.#countRejected('TLS_ERROR');
        this.#log.warn({ code: 'TLS_ERROR', remote, err: error.message }, 'refused a connection: TLS failed');
        this.emit('rejected', {
          code: 'TLS_ERROR',
          reason: error.message,
          direction: 'inbound',
          remoteAddress: remote,
        });
      });
    }
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.#log.warn({ err: error.message }, 'listener error'));
    const a = server.address() as net.AddressInfo;
    this.#listening = { host: a.address, port: a.port };
    this.#log.info({ node: this.nodeId, ...this.#listening, tls: !!this.#tls }, 'transport listening');
    return this.#listening;
  }

  /** The bound address once listening: "host:port". */
  address(): string | undefined {
    const l = this.#listening;
    return l ? `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}` : undefined;
  }

  /** Registers the receiver of every message from a proven peer. Returns its removal. */
  onMessage(handler: (from: NodeId, msg: unknown) => void): () => void {
    this.#handlers.push(handler);
    return () => {
      const i = this.#handlers.indexOf(handler);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  /**
   * Queues `msg` for `to` and returns; never throws. The message goes out on the peer's
   * connection, which is dialled (addressOf, or the address `connect` learned) when there is none.
   * It is dropped, and counted in metrics().dropped, when it cannot be sent as plain data, is too
   * large, the peer is unreachable, or its queue is full.
   */
  send(to: NodeId, msg: unknown): void {
    if (this.#closed) {
      this.#drop('closed', to);
      return;
    }
    let peer = this.#peers.get(to);
    if (!peer?.conn && !peer?.dialing && this.#resolve(to, peer) === undefined) {
      this.#drop('unreachable', to);
      return;
    }
    if (peer && peer.queuedFrames >= this.#limits.maxQueuedFramesPerPeer) {
      this.#dropFull(peer);
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(msg, { maxPayloadBytes: this.#limits.maxFrameBytes });
    } catch (e) {
      const error = e as TransportError;
      this.#log.warn({ to, code: error.code, reason: error.detail }, 'dropped an outgoing message');
      this.#drop(error.code === 'FRAME_TOO_LARGE' ? 'tooLarge' : 'unencodable', to);
      return;
    }
    peer ??= this.#peer(to);
    if (peer.conn && peer.queuedFrames === 0 && !peer.conn.blocked) {
      // Fast path: straight to the socket, which buffers up to its high-water mark.
      this.#writeData(peer.conn, frame);
    } else if (peer.queuedBytes + frame.length > this.#limits.maxQueuedBytesPerPeer) {
      this.#dropFull(peer);
    } else {
      peer.enqueue(frame);
      if (peer.conn) this.#flush(peer);
      else if (!peer.dialing && !peer.reconnectTimer) this.#dial(peer);
    }
  }

  /**
   * Dials `address`, runs the handshake with whoever answers, and resolves with its node id
   * (to reach a seed whose id is not known yet). Rejects with a TransportError if the dial or
   * the handshake fails. The address is remembered for reconnecting to that id.
   */
  connect(address: string): Promise<NodeId> {
    if (this.#closed)
      return Promise.reject(new TransportError('TRANSPORT_CLOSED', 'connect() after close()'));
    return new Promise<NodeId>((resolve, reject) => {
      let conn: Connection;
      try {
        conn = this.#open(address, undefined);
      } catch (e) {
        return reject(e);
      }
      conn.waiters.push({ resolve, reject });
    });
  }

  /** Peers with a proven connection right now. */
  connectedPeers(): NodeId[] {
    return [...this.#peers.values()].filter((p) => p.conn).map((p) => p.id);
  }

  /**
   * Closes the connection to `id`, drops its queue and stops reconnecting to it, until the
   * next `send` to it or an inbound connection from it. For a node that left the cluster.
   */
  forget(id: NodeId): void {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#peers.delete(id);
    clearTimeout(peer.reconnectTimer);
    this.#m.dropped.closed += peer.clearQueue();
    for (const conn of [peer.conn, peer.dialing]) {
      if (conn) this.#retire(conn, 'FORGOTTEN', 'peer forgotten');
    }
  }

  metrics(): TransportMetrics {
    const connections = { handshaking: 0, open: 0, closing: 0 };
    for (const c of this.#connections) {
      if (c.state === 'open') connections.open++;
      else if (c.state === 'closing') connections.closing++;
      else if (c.state !== 'closed') connections.handshaking++;
    }
    const peers = [...this.#peers.values()].map(
      (p): PeerMetrics => ({
        id: p.id,
        connected: !!p.conn,
        direction: p.conn?.direction,
        localPort: p.conn?.socket.localPort,
        remotePort: p.conn?.socket.remotePort,
        queuedFrames: p.queuedFrames,
        queuedBytes: p.queuedBytes,
        socketBufferedBytes: p.conn?.socket.writableLength ?? 0,
        droppedQueueFull: p.droppedQueueFull,
        reconnectAttempt: p.reconnectAttempt,
      }),
    );
    const m = this.#m;
    return { ...m, dropped: { ...m.dropped }, rejected: { ...m.rejected }, connections, peers };
  }

  /**
   * Stops listening, says goodbye to every peer, and resolves once every connection has closed
   * (connections that do not finish within closeTimeoutMs are destroyed). Queued messages that
   * were not yet handed to a socket are dropped.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const serverClosed = this.#server
      ? new Promise<void>((resolve) => this.#server!.close(() => resolve()))
      : Promise.resolve();
    for (const peer of this.#peers.values()) {
      clearTimeout(peer.reconnectTimer);
      peer.reconnectTimer = undefined;
      this.#m.dropped.closed += peer.clearQueue();
    }
    const closing = [...this.#connections].map(
      (conn) =>
        new Promise<void>((resolve) => {
          this.#closeWaiters.set(conn, resolve);
          this.#retire(conn, 'TRANSPORT_CLOSED', 'transport closing');
        }),
    );
    await Promise.all(closing);
    clearInterval(this.#tick);
    await serverClosed;
    this.#log.info({ node: this.nodeId }, 'transport closed');
  }

  // ── connections ────────────────────────────────────────────────────────────────────────────

  #accept(socket: net.Socket): void {
    if (this.#closed) return void socket.destroy();
    let pending = 0;
    for (const c of this.#connections) if (c.state === 'handshake' || c.state === 'connecting') pending++;
    if (pending >= this.#limits.maxPendingHandshakes) {
      this.#countRejected('TOO_MANY_HANDSHAKES');
      this.#log.warn(
        { remote: `${socket.remoteAddress}:${socket.remotePort}` },
        'too many pending handshakes; refused',
      );
      return void socket.destroy();
    }
    const now = this.#clock();
    const conn = new Connection(
      socket,
      'inbound',
      undefined,
      undefined,
      now,
      now + this.#limits.handshakeTimeoutMs,
      this.#limits.handshakeMaxFrameBytes,
    );
    this.#track(conn);
    this.#startHandshake(conn);
  }

  /** Opens an outbound connection to `address`; `expected` is the node meant to be there. */
  #open(address: string, expected: NodeId | undefined): Connection {
    const { host, port } = parseAddress(address);
    const now = this.#clock();
    const socket = this.#tls
      ? tls.connect({
          host,
          port,
          cert: this.#tls.cert,
          key: this.#tls.key,
          ca: this.#tls.ca,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
          servername: net.isIP(host) ? undefined : host,
          checkServerIdentity: this.#tls.verifyHostname ? tls.checkServerIdentity : () => undefined,
        })
      : net.connect({ host, port });
    const conn = new Connection(
      socket,
      'outbound',
      address,
      expected,
      now,
      now + this.#limits.handshakeTimeoutMs,
      this.#limits.handshakeMaxFrameBytes,
    );
    this.#track(conn);
    socket.once(this.#tls ? 'secureConnect' : 'connect', () => {
      if (conn.state !== 'connecting') return;
      conn.state = 'handshake';
      this.#startHandshake(conn);
    });
    return conn;
  }

  #track(conn: Connection): void {
    this.#connections.add(conn);
    this.#m.connectionsOpened++;
    const { socket } = conn;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(conn, chunk));
    socket.on('drain', () => {
      conn.blocked = false;
      const peer = conn.peer && this.#peers.get(conn.peer.id);
      if (peer && peer.conn === conn) this.#flush(peer);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (conn.endCode) return;
      const tlsFailure = !!this.#tls && /^ERR_SSL|CERT|SELF_SIGNED|UNABLE_TO_/.test(error.code ?? '');
      const code: ConnectionErrorCode = tlsFailure
        ? 'TLS_ERROR'
        : conn.state === 'connecting'
          ? 'CONNECT_FAILED'
          : 'SOCKET_ERROR';
      conn.endCode = code;
      conn.endReason = error.message;
    });
    socket.on('close', () => this.#onClose(conn));
  }

  #startHandshake(conn: Connection): void {
    conn.handshake = new Handshake({
      role: conn.direction === 'outbound' ? 'dialer' : 'acceptor',
      ownId: this.nodeId,
      cluster: this.#cluster,
      secret: this.#secret,
      bootId: this.#bootId,
      nonce: this.#randomBytes(HANDSHAKE_NONCE_BYTES),
      expectedPeerId: conn.expectedPeerId,
    });
    for (const m of conn.handshake.start()) this.#writeControl(conn, m);
  }

  #onData(conn: Connection, chunk: Buffer): void {
    const now = this.#clock();
    this.#m.bytesReceived += chunk.length;
    conn.lastReceiveMs = now;
    const before = conn.decoder.framesDecoded;
    try {
      conn.decoder.push(chunk);
      while (
        conn.state === 'handshake' ||
        conn.state === 'open' ||
        (conn.state === 'closing' && conn.wasOpen)
      ) {
        const frame = conn.decoder.next();
        if (!frame) break;
        this.#m.framesReceived++;
        this.#onFrame(conn, frame);
      }
    } catch (e) {
      this.#fail(conn, e);
      return;
    }
    if (conn.decoder.bufferedBytes === 0) conn.frameStartMs = -1;
    else if (conn.frameStartMs < 0 || conn.decoder.framesDecoded !== before) conn.frameStartMs = now;
  }

  #onFrame(conn: Connection, frame: Frame): void {
    if (conn.state === 'handshake') {
      if (!frame.control)
        throw new TransportError('BAD_HANDSHAKE', 'a message before the handshake finished');
      const step = conn.handshake!.receive(frame.value);
      for (const m of step.send) this.#writeControl(conn, m);
      if (step.established) this.#onEstablished(conn, step.established);
      return;
    }
    if (frame.control) {
      this.#onControl(conn, frame.value);
      return;
    }
    // Open, or closing after having been open (a tie-break loser still delivers what was in flight).
    if (!conn.peer) return;
    this.#m.messagesDelivered++;
    for (const handler of this.#handlers) {
      try {
        handler(conn.peer.id, frame.value);
      } catch (e) {
        this.#log.warn({ from: conn.peer.id, err: (e as Error).message }, 'message handler threw');
      }
    }
  }

  #onControl(conn: Connection, value: unknown): void {
    const m = value as { t?: unknown; code?: unknown; reason?: unknown } | null;
    const t = typeof m === 'object' && m !== null ? m.t : undefined;
    if (t === 'ping') return; // its arrival alone proves liveness
    if (t === 'bye') {
      const code = typeof m!.code === 'string' ? m!.code.slice(0, 64) : '?';
      const reason = typeof m!.reason === 'string' ? m!.reason.slice(0, 256) : '';
      this.#log.info({ peer: conn.peer?.id, code, reason }, 'peer is closing the connection');
      if (conn.state === 'open') this.#retire(conn, 'PEER_CLOSED', `peer said goodbye (${code}: ${reason})`);
      return;
    }
    // A control type from a newer build: ignored, so control messages can be added compatibly.
    this.#log.debug({ peer: conn.peer?.id, t: String(t).slice(0, 32) }, 'ignored an unknown control frame');
  }

  #onEstablished(conn: Connection, proven: HandshakePeer): void {
    conn.state = 'open';
    conn.wasOpen = true;
    conn.peer = proven;
    conn.decoder.maxPayloadBytes = this.#limits.maxFrameBytes;
    const peer = this.#peer(proven.id);
    if (peer.dialing === conn) peer.dialing = undefined;
    if (conn.dialAddress && !conn.expectedPeerId) peer.address = conn.dialAddress;
    for (const w of conn.waiters.splice(0)) w.resolve(proven.id);
    this.#log.debug(
      { peer: proven.id, direction: conn.direction, remote: conn.remoteAddress },
      'handshake done',
    );
    const current = peer.conn;
    if (current && current !== conn) {
      const winner = this.#tieBreak(current, conn);
      const loser = winner === conn ? current : conn;
      this.#log.debug(
        { peer: proven.id, kept: winner.direction, closed: loser.direction },
        'two connections to one peer',
      );
      const restarted = current.peer!.boot !== proven.boot;
      if (winner === conn) peer.conn = conn;
      this.#retire(
        loser,
        'DUPLICATE_CONNECTION',
        restarted ? 'the peer restarted' : 'another connection to this peer won the tie-break',
      );
      if (restarted) {
        // The old connection was stale and whatever was in flight on it is lost: say so, as
        // if the peer had disconnected and connected again.
        const reason = 'the peer restarted; its new connection replaced the old one';
        this.#log.info({ peer: proven.id, reason }, 'peer restarted');
        this.emit('disconnected', proven.id, { code: 'PEER_CLOSED', reason });
        this.emit('connected', proven.id, { direction: conn.direction, remoteAddress: conn.remoteAddress });
      }
      this.#flush(peer);
      return;
    }
    peer.conn = conn;
    clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = undefined;
    peer.reconnectAttempt = 0;
    this.#log.info(
      { peer: proven.id, direction: conn.direction, remote: conn.remoteAddress },
      'peer connected',
    );
    this.emit('connected', proven.id, { direction: conn.direction, remoteAddress: conn.remoteAddress });
    this.#flush(peer);
  }

  /**
   * Which of two proven connections to one peer survives. Both ends must pick the same one
   * without talking, so the rule uses only what both know:
   * - the peer restarted (its boot ids differ): the newer connection; the older is stale;
   * - both dialled by the same side: the newer (the dialler gave up on the older);
   * - a simultaneous dial: the connection dialled by the node with the smaller id.
   */
  #tieBreak(a: Connection, b: Connection): Connection {
    const newer = a.serial > b.serial ? a : b;
    if (a.peer!.boot !== b.peer!.boot || a.direction === b.direction) return newer;
    const iDialLower = this.nodeId < a.peer!.id;
    const outbound = a.direction === 'outbound' ? a : b;
    const inbound = outbound === a ? b : a;
    return iDialLower ? outbound : inbound;
  }

  /**
   * Ends a connection politely: a goodbye (if it was open), then FIN once the socket has
   * flushed. Frames still arriving are delivered until the peer closes or closeTimeoutMs passes.
   */
  #retire(conn: Connection, code: TransportErrorCode, reason: string): void {
    if (conn.state === 'closed') return;
    if (conn.state === 'closing') return;
    if (!conn.endCode) {
      conn.endCode = code;
      conn.endReason = reason;
    }
    const wasOpen = conn.state === 'open';
    conn.state = 'closing';
    conn.deadlineMs = this.#clock() + this.#limits.closeTimeoutMs;
    this.#detach(conn);
    // No goodbye in answer to a goodbye: the peer already knows.
    if (wasOpen && code !== 'PEER_CLOSED') this.#writeControl(conn, { t: 'bye', code, reason });
    if (conn.socket.connecting) conn.socket.destroy();
    else conn.socket.end();
  }

  /** Ends a connection at once for a protocol violation or timeout, telling a handshaking peer why. */
  #fail(conn: Connection, e: unknown): void {
    if (conn.state === 'closed') return;
    const error =
      e instanceof TransportError
        ? e
        : new TransportError('BAD_PAYLOAD', `unexpected failure: ${(e as Error)?.message ?? e}`);
    const duringHandshake = conn.state !== 'open' && conn.state !== 'closing';
    conn.endCode = error.code;
    conn.endReason = error.detail;
    conn.wasOpen = false; // nothing more from a peer that broke the protocol reaches the core
    this.#countRejected(error.code);
    const info: RejectionInfo = {
      code: error.code,
      reason: error.detail,
      direction: conn.direction,
      remoteAddress: conn.remoteAddress,
      peer: conn.peer?.id ?? conn.handshake?.peer?.id,
    };
    this.#log.warn(
      {
        code: error.code,
        reason: error.detail,
        direction: conn.direction,
        remote: info.remoteAddress,
        peer: info.peer,
      },
      duringHandshake ? 'refused a connection' : 'cut a connection',
    );
    for (const w of conn.waiters.splice(0)) w.reject(error);
    this.emit('rejected', info);
    const reject = duringHandshake && conn.state === 'handshake' ? rejectFor(error) : undefined;
    conn.state = 'closing';
    conn.deadlineMs = this.#clock() + this.#limits.closeTimeoutMs;
    this.#detach(conn);
    if (reject && !conn.decoder.failed) {
      // Tell a peer that speaks our protocol why it was refused, then close once that is sent.
      this.#writeControl(conn, reject);
      conn.socket.end();
    } else {
      conn.socket.destroy();
    }
  }

  /** Unhooks a connection that is ending from its peer; starts reconnecting if that was the peer's link. */
  #detach(conn: Connection): void {
    const id = conn.peer?.id ?? conn.expectedPeerId;
    const peer = id !== undefined ? this.#peers.get(id) : undefined;
    if (!peer) return;
    if (peer.dialing === conn) {
      peer.dialing = undefined;
      if (!peer.conn) {
        this.#m.dialFailures++;
        const code = conn.endCode ?? 'CONNECT_FAILED';
        this.#log.debug({ peer: peer.id, code, reason: conn.endReason }, 'dial failed');
        this.emit('unreachable', peer.id, { code, reason: conn.endReason });
        this.#scheduleReconnect(peer);
      }
    }
    if (peer.conn === conn) {
      peer.conn = undefined;
      const code = conn.endCode ?? 'PEER_CLOSED';
      this.#log.info({ peer: peer.id, code, reason: conn.endReason }, 'peer disconnected');
      this.emit('disconnected', peer.id, { code, reason: conn.endReason });
      this.#scheduleReconnect(peer);
    }
  }

  #onClose(conn: Connection): void {
    if (conn.state === 'closed') return;
    if (conn.state !== 'closing') {
      // The peer (or the network) ended it.
      conn.endCode ??= conn.state === 'connecting' ? 'CONNECT_FAILED' : 'PEER_CLOSED';
      if (!conn.endReason) {
        conn.endReason =
          conn.state === 'open' || conn.state === 'connecting'
            ? 'connection closed by the peer'
            : this.#tls
              ? 'closed by the peer during the handshake; over TLS, perhaps it refused our certificate'
              : 'closed by the peer during the handshake';
      }
      if (conn.state === 'handshake' && conn.direction === 'inbound') {
        // A stranger who left before proving anything: worth a line, not an alarm.
        this.#log.debug(
          { remote: conn.remoteAddress, code: conn.endCode },
          'connection closed during the handshake',
        );
      }
      conn.state = 'closing';
      this.#detach(conn);
    }
    conn.state = 'closed';
    this.#connections.delete(conn);
    this.#m.connectionsClosed++;
    const error = new TransportError(conn.endCode ?? 'PEER_CLOSED', conn.endReason || 'connection closed');
    for (const w of conn.waiters.splice(0)) w.reject(error);
    const waiter = this.#closeWaiters.get(conn);
    if (waiter) {
      this.#closeWaiters.delete(conn);
      waiter();
    }
  }

  // ── dialling ───────────────────────────────────────────────────────────────────────────────

  #peer(id: NodeId): Peer {
    let peer = this.#peers.get(id);
    if (!peer) {
      peer = new Peer(id);
      this.#peers.set(id, peer);
    }
    return peer;
  }

  #resolve(id: NodeId, peer: Peer | undefined): string | undefined {
    if (id === this.nodeId) return undefined;
    return this.#addressOf(id) ?? peer?.address;
  }

  #dial(peer: Peer): void {
    if (this.#closed || peer.conn || peer.dialing) return;
    const address = this.#resolve(peer.id, peer);
    if (address === undefined) {
      this.#m.dropped.unreachable += peer.clearQueue();
      return;
    }
    try {
      peer.dialing = this.#open(address, peer.id);
    } catch (e) {
      this.#log.warn({ peer: peer.id, address, err: (e as Error).message }, 'cannot dial');
      this.#m.dropped.unreachable += peer.clearQueue();
    }
  }

  /** Full-jitter exponential backoff: attempt n waits uniform(0, min(max, base × 2^n)). */
  #scheduleReconnect(peer: Peer): void {
    if (this.#closed || peer.conn || peer.dialing || peer.reconnectTimer) return;
    if (this.#peers.get(peer.id) !== peer) return; // forgotten
    if (this.#resolve(peer.id, peer) === undefined) {
      this.#m.dropped.unreachable += peer.clearQueue();
      return;
    }
    const { reconnectBaseDelayMs: base, reconnectMaxDelayMs: max } = this.#limits;
    const boundMs = Math.min(max, base * 2 ** Math.min(peer.reconnectAttempt, 30));
    const delayMs = this.#random() * boundMs;
    peer.reconnectAttempt++;
    this.#log.debug(
      { peer: peer.id, attempt: peer.reconnectAttempt, delayMs: Math.round(delayMs) },
      'reconnect scheduled',
    );
    peer.reconnectTimer = setTimeout(() => {
      peer.reconnectTimer = undefined;
      this.#dial(peer);
    }, delayMs);
    peer.reconnectTimer.unref();
  }

  // ── writing ────────────────────────────────────────────────────────────────────────────────

  #flush(peer: Peer): void {
    const conn = peer.conn;
    if (conn?.state !== 'open') return;
    while (!conn.blocked) {
      const frame = peer.dequeue();
      if (!frame) break;
      this.#writeData(conn, frame);
    }
  }

  #writeData(conn: Connection, frame: Buffer): void {
    this.#m.messagesSent++;
    if (!this.#write(conn, frame)) conn.blocked = true;
  }

  #writeControl(
    conn: Connection,
    message: HandshakeMessage | { t: 'ping' } | { t: 'bye'; code: string; reason: string },
  ): void {
    if (conn.socket.destroyed || conn.socket.writableEnded) return;
    this.#write(conn, encodeFrame(message, { flags: FLAG_CONTROL }));
  }

  /** Writes one frame; false when the socket is above its high-water mark (wait for 'drain'). */
  #write(conn: Connection, frame: Buffer): boolean {
    const { socket } = conn;
    if (!conn.corked) {
      // Everything written in this turn of the event loop leaves in one writev: the messages of
      // every request read from the sockets in one poll phase (a burst from 50 clients) cost one
      // system call per peer, not one per message. setImmediate runs right after the poll phase,
      // so this adds no wait beyond the turn that made the messages.
      conn.corked = true;
      socket.cork();
      setImmediate(() => {
        conn.corked = false;
        socket.uncork();
      });
    }
    this.#m.framesSent++;
    this.#m.bytesSent += frame.length;
    conn.lastSendMs = this.#clock();
    return socket.write(frame);
  }

  // ── timeouts ───────────────────────────────────────────────────────────────────────────────

  #startTick(): void {
    const l = this.#limits;
    // A quarter of the shortest timeout, so each fires within 25% of its value; 5 ms to 1 s.
    const shortest = Math.min(
      l.handshakeTimeoutMs,
      l.frameTimeoutMs,
      l.idleTimeoutMs,
      l.keepaliveIntervalMs,
      l.closeTimeoutMs,
    );
    const intervalMs = Math.max(5, Math.min(1000, Math.floor(shortest / 4)));
    this.#tick = setInterval(() => this.tick(this.#clock()), intervalMs);
    this.#tick.unref();
  }

  /** Expires deadlines and sends keepalives. Runs on an interval; public so a host with its own clock can drive it. */
  tick(nowMs: number): void {
    const l = this.#limits;
    for (const conn of [...this.#connections]) {
      switch (conn.state) {
        case 'connecting':
        case 'handshake':
          if (nowMs >= conn.deadlineMs) {
            this.#fail(
              conn,
              new TransportError('HANDSHAKE_TIMEOUT', `no proven peer after ${l.handshakeTimeoutMs} ms`),
            );
          }
          break;
        case 'open':
          if (conn.frameStartMs >= 0 && nowMs - conn.frameStartMs >= l.frameTimeoutMs) {
            this.#fail(
              conn,
              new TransportError('FRAME_TIMEOUT', `a frame stayed incomplete for ${l.frameTimeoutMs} ms`),
            );
          } else if (nowMs - conn.lastReceiveMs >= l.idleTimeoutMs) {
            this.#fail(
              conn,
              new TransportError('IDLE_TIMEOUT', `nothing received for ${l.idleTimeoutMs} ms`),
            );
          } else if (nowMs - conn.lastSendMs >= l.keepaliveIntervalMs && !conn.blocked) {
            this.#writeControl(conn, { t: 'ping' });
          }
          break;
        case 'closing':
          if (nowMs >= conn.deadlineMs) conn.socket.destroy();
          break;
      }
    }
  }

  // ── bookkeeping ────────────────────────────────────────────────────────────────────────────

  #drop(reason: DropReason, to: NodeId): void {
    this.#m.dropped[reason]++;
    this.#log.debug({ to, reason }, 'dropped an outgoing message');
  }

  #dropFull(peer: Peer): void {
    peer.droppedQueueFull++;
    this.#m.dropped.queueFull++;
  }

  #countRejected(code: TransportErrorCode): void {
    this.#m.rejected[code] = (this.#m.rejected[code] ?? 0) + 1;
  }
}
