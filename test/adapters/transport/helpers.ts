/**
 * Helpers for the transport tests: transports on 127.0.0.1 port 0, waiting on events with a
 * deadline, a logger that records, and a hand-driven peer that speaks the handshake over a raw
 * socket and then misbehaves on purpose.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import * as net from 'node:net';
import {
  encodeFrame,
  FLAG_CONTROL,
  type Frame,
  FrameDecoder,
} from '../../../src/adapters/transport/frame.js';
import {
  HANDSHAKE_NONCE_BYTES,
  Handshake,
  type HandshakePeer,
} from '../../../src/adapters/transport/handshake.js';
import {
  TcpTransport,
  type TcpTransportComponents,
  type TcpTransportInit,
  type TransportLogger,
} from '../../../src/adapters/transport/tcp.js';
import type { NodeId } from '../../../src/core/types.js';

export const SECRET = 'test-cluster-secret-0123456789abcdef';
export const CLUSTER = 'test';

/** Timeouts short enough for tests, long enough for a loaded 2-core machine. */
export const FAST: Partial<TcpTransportInit> = {
  handshakeTimeoutMs: 1000,
  frameTimeoutMs: 1000,
  idleTimeoutMs: 3000,
  reconnectBaseDelayMs: 10,
  reconnectMaxDelayMs: 200,
  closeTimeoutMs: 500,
};

export interface LogEntry {
  level: 'debug' | 'info' | 'warn';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export function recordingLogger(): TransportLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn') };
}

/**
 * A set of transports that find each other through one address book (the runtime's resolver)
 * and are all closed by `closeAll()`.
 */
export class Cluster {
  readonly addresses = new Map<NodeId, string>();
  readonly transports: TcpTransport[] = [];

  async start(
    nodeId: NodeId,
    init: Partial<TcpTransportInit> = {},
    components: Partial<TcpTransportComponents> = {},
  ): Promise<TcpTransport> {
    const t = new TcpTransport(
      { addressOf: (id) => this.addresses.get(id), ...components },
      { nodeId, cluster: CLUSTER, secret: SECRET, ...FAST, ...init },
    );
    this.transports.push(t);
    await t.listen();
    this.addresses.set(nodeId, t.address()!);
    return t;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()));
  }
}

/** The arguments of the next `event` that satisfies `accept`; rejects after `timeoutMs`. */
export function nextEvent<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  accept: (...args: A) => boolean = () => true,
  timeoutMs = 5000,
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: unknown[]) => {
      if (!accept(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as A);
    };
    emitter.on(event, listener);
  });
}

/**
 * Polls `condition` until it holds; for states that no event announces. Fails after `timeoutMs`
 * with `what`, so a hang reads as a claim that did not come true.
 */
export async function eventually(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves when `socket` closes (the other side hung up or we did). */
export function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed && socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

export function connectRaw(address: string): Promise<net.Socket> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => {
      // Read (and discard) like a real client would, so the socket notices when it is closed.
      socket.resume();
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * A peer driven by hand over a raw socket: it runs the real handshake as a dialer, then lets the
 * test write whatever bytes it likes. Frames it receives are collected in `frames`.
 */
export class RawPeer {
  readonly frames: Frame[] = [];
  readonly decoder = new FrameDecoder();
  peer: HandshakePeer | undefined;
  #onFrame: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (let f = this.decoder.next(); f; f = this.decoder.next()) this.frames.push(f);
      this.#onFrame?.();
    });
    socket.on('error', () => {});
  }

  static async dial(
    address: string,
    ownId: NodeId,
    options: { secret?: string; cluster?: string; bootId?: string } = {},
  ): Promise<RawPeer> {
    const raw = new RawPeer(await connectRaw(address));
    const handshake = new Handshake({
      role: 'dialer',
      ownId,
      cluster: options.cluster ?? CLUSTER,
      secret: Buffer.from(options.secret ?? SECRET),
      bootId: options.bootId ?? 'raw',
      nonce: randomBytes(HANDSHAKE_NONCE_BYTES),
    });
    for (const m of handshake.start()) raw.writeControl(m);
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      raw.#onFrame = () => {
        try {
          while (seen < raw.frames.length) {
            const step = handshake.receive(raw.frames[seen++].value);
            for (const m of step.send) raw.writeControl(m);
            if (step.established) {
              raw.peer = step.established;
              resolve();
              return; // what follows is data, not handshake
            }
          }
        } catch (e) {
          reject(e);
        }
      };
      raw.socket.once('close', () => reject(new Error('closed during the handshake')));
    });
    raw.#onFrame = undefined;
    raw.frames.splice(0, seen);
    return raw;
  }

  writeControl(value: unknown): void {
    this.socket.write(encodeFrame(value, { flags: FLAG_CONTROL }));
  }

  send(value: unknown): void {
    this.socket.write(encodeFrame(value));
  }

  /** Data frames (not keepalives) received after the handshake. */
  messages(): unknown[] {
    return this.frames.filter((f) => !f.control).map((f) => f.value);
  }
}
