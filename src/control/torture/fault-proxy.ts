/**
 * A fault-injecting TCP proxy for the peer traffic of a local cluster: partitions between sets
 * of nodes, both ways or one way, switched on and off while the nodes run. (This machine has no
 * netem and may have no iptables; a proxy needs neither.)
 *
 * One proxy listens in front of each node's peer port, and the node advertises the proxy's
 * address as its `meta.peer` (`arpeggio start --advertise-peer`), so every peer connection to it
 * passes through its proxy. The transport keeps one connection per pair of nodes, used both
 * ways, and its first frame is the dialer's handshake `hello`, which names the dialer. The proxy
 * reads that frame (without changing a byte) and so knows, for every connection, which node is
 * at each end and which direction each byte travels:
 *
 *   dialer D ──▶ proxy of A ──▶ A        bytes D→A pass iff the network does not block D→A
 *            ◀──            ◀──          bytes A→D pass iff it does not block A→D
 *
 * A blocked direction **drops** its bytes (the connection stays open and silent, as in a real
 * partition: requests time out, SWIM suspects). A connection that dropped bytes has lost its
 * frame boundaries, so when the block is lifted the proxy closes it and the transport dials
 * anew. Bytes that arrive before the dialer is known are held, not forwarded.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { FrameDecoder } from '../../adapters/transport/frame.js';

/** Which directed links are cut: `blocks(from, to)`. Shared by every proxy of a cluster. */
export class FaultNetwork extends EventEmitter {
  /** "from→to" of every blocked direction. */
  private readonly blocked = new Set<string>();

  blocks(from: string, to: string): boolean {
    return this.blocked.has(`${from}→${to}`);
  }

  /** Cuts every direction from a node of `from` to a node of `to` (one way). */
  blockOneWay(from: readonly string[], to: readonly string[]): void {
    for (const f of from) for (const t of to) if (f !== t) this.blocked.add(`${f}→${t}`);
    this.emit('change');
  }

  /** Cuts both ways between the two sets: a partition. */
  partition(a: readonly string[], b: readonly string[]): void {
    this.blockOneWay(a, b);
    this.blockOneWay(b, a);
  }

  /** Lifts every block. */
  heal(): void {
    this.blocked.clear();
    this.emit('change');
  }

  /** The blocked directions, "from→to", sorted (for reports). */
  describe(): string[] {
    return [...this.blocked].sort();
  }
}

export interface FaultProxyInit {
  /** The node behind this proxy. */
  nodeId: string;
  /** Its real peer address ("host:port") at the time of a connection; undefined: refuse. */
  upstream: () => string | undefined;
  network: FaultNetwork;
  /** Where the proxy listens; default 127.0.0.1, port 0 (the OS picks). */
  host?: string;
  port?: number;
}

interface ProxiedConnection {
  client: net.Socket;
  server: net.Socket;
  /** The dialer, once its hello has been read. */
  dialer: string | null;
  /** Bytes from the dialer held until the dialer is known. */
  held: Buffer[];
  /** Some bytes were dropped: the stream is broken once the block lifts. */
  damaged: boolean;
}

export interface FaultProxyStats {
  connections: number;
  open: number;
  droppedBytes: number;
  forwardedBytes: number;
}

/** The proxy in front of one node's peer port. */
export class FaultProxy {
  readonly nodeId: string;
  private readonly server: net.Server;
  private readonly init: FaultProxyInit;
  private readonly open = new Set<ProxiedConnection>();
  private readonly stats: FaultProxyStats = { connections: 0, open: 0, droppedBytes: 0, forwardedBytes: 0 };
  private readonly onChange = () => this.reconsider();
  private boundPort = 0;

  private constructor(init: FaultProxyInit) {
    this.init = init;
    this.nodeId = init.nodeId;
    this.server = net.createServer((socket) => this.accept(socket));
  }

  static async listen(init: FaultProxyInit): Promise<FaultProxy> {
    const proxy = new FaultProxy(init);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(init.port ?? 0, init.host ?? '127.0.0.1', () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
    proxy.boundPort = (proxy.server.address() as net.AddressInfo).port;
    init.network.on('change', proxy.onChange);
    return proxy;
  }

  /** "host:port" the node advertises to its peers. */
  get address(): string {
    return `${this.init.host ?? '127.0.0.1'}:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  counters(): FaultProxyStats {
    return { ...this.stats, open: this.open.size };
  }

  /** Closes every proxied connection (both sides), as a crash of the link would. */
  resetConnections(): void {
    for (const c of [...this.open]) this.drop(c);
  }

  async close(): Promise<void> {
    this.init.network.off('change', this.onChange);
    this.resetConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const target = this.init.upstream();
    if (target === undefined) {
      client.destroy();
      return;
    }
    const { host, port } = splitAddress(target);
    const server = net.connect({ host, port });
    const conn: ProxiedConnection = { client, server, dialer: null, held: [], damaged: false };
    this.open.add(conn);
    this.stats.connections++;
    client.setNoDelay(true);
    server.setNoDelay(true);
    const decoder = new FrameDecoder();
    client.on('data', (chunk: Buffer) => {
      if (conn.dialer === null) {
        conn.held.push(chunk);
        try {
          decoder.push(chunk);
          const frame = decoder.next();
          if (frame === undefined) return;
          const hello = frame.value as { t?: unknown; id?: unknown };
          conn.dialer = hello.t === 'hello' && typeof hello.id === 'string' ? hello.id : '?';
        } catch {
          conn.dialer = '?'; // not our protocol: pass it on, the node refuses it
        }
        const held = Buffer.concat(conn.held);
        conn.held = [];
        this.pass(conn, held, conn.dialer, this.nodeId, server);
        return;
      }
      this.pass(conn, chunk, conn.dialer, this.nodeId, server);
    });
    server.on('data', (chunk: Buffer) => {
      // Before the dialer is known the acceptor has nothing to say (it waits for the hello).
      this.pass(conn, chunk, this.nodeId, conn.dialer ?? '?', client);
    });
    const end = () => this.drop(conn);
    client.on('error', end);
    server.on('error', end);
    client.on('close', end);
    server.on('close', end);
  }

  /** Forwards `chunk` from `from` to `to` unless the network blocks that direction. */
  private pass(conn: ProxiedConnection, chunk: Buffer, from: string, to: string, out: net.Socket): void {
    if (this.init.network.blocks(from, to)) {
      conn.damaged = true;
      this.stats.droppedBytes += chunk.length;
      return;
    }
    this.stats.forwardedBytes += chunk.length;
    if (!out.destroyed) out.write(chunk);
  }

  /** After a change of blocks: a damaged connection whose ends can talk again is closed. */
  private reconsider(): void {
    for (const c of [...this.open]) {
      if (!c.damaged || c.dialer === null) continue;
      const cut =
        this.init.network.blocks(c.dialer, this.nodeId) || this.init.network.blocks(this.nodeId, c.dialer);
      if (!cut) this.drop(c);
    }
  }

  private drop(c: ProxiedConnection): void {
    if (!this.open.delete(c)) return;
    c.client.destroy();
    c.server.destroy();
  }
}

/** "host:port" or "[v6]:port". */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (m === null) throw new Error(`'${address}' is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}
