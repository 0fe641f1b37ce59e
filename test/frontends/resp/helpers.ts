/**
 * Helpers for the RESP front-door tests: a reply decoder (what a client does with our bytes), a
 * connection driven without a socket, and raw TCP clients.
 */
import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import type { ServerFacts } from '../../../src/frontends/resp/commands.js';
import {
  createRespServer,
  type RespServer,
  type RespServerOptions,
} from '../../../src/frontends/resp/server.js';
import {
  type ConnectionInit,
  type ConnectionSink,
  RespConnection,
} from '../../../src/frontends/resp/session.js';
import { FakeApi } from './fake-api.js';

/** A decoded reply: errors as `{ error }`, simple strings as `{ simple }`, bulk strings as text. */
export type Reply =
  | string
  | number
  | null
  | { simple: string }
  | { error: string }
  | Reply[]
  | { map: [Reply, Reply][] };

/** Decodes complete replies from `bytes`; returns them and how many bytes they used. */
export function decodeReplies(bytes: Buffer): { replies: Reply[]; used: number } {
  const replies: Reply[] = [];
  let pos = 0;
  const line = (): string | null => {
    const end = bytes.indexOf('\r\n', pos);
    if (end === -1) return null;
    const text = bytes.subarray(pos, end).toString('latin1');
    pos = end + 2;
    return text;
  };
  const one = (): Reply | undefined => {
    if (pos >= bytes.length) return undefined;
    const type = String.fromCharCode(bytes[pos++]);
    const text = line();
    if (text === null) return undefined;
    switch (type) {
      case '+':
        return { simple: text };
      case '-':
        return { error: text };
      case ':':
        return Number(text);
      case '_':
        return null;
      case '$': {
        const n = Number(text);
        if (n < 0) return null;
        if (bytes.length < pos + n + 2) return undefined;
        const value = bytes.subarray(pos, pos + n).toString('utf8');
        pos += n + 2;
        return value;
      }
      case '*':
      case '%': {
        const n = Number(text);
        if (n < 0) return null;
        const items: Reply[] = [];
        for (let i = 0; i < (type === '%' ? 2 * n : n); i++) {
          const item = one();
          if (item === undefined) return undefined;
          items.push(item);
        }
        if (type === '*') return items;
        const entries: [Reply, Reply][] = [];
        for (let i = 0; i < items.length; i += 2) entries.push([items[i], items[i + 1]]);
        return { map: entries };
      }
      default:
        throw new Error(`not a RESP reply type: ${JSON.stringify(type)} at ${pos - 1}`);
    }
  };
  let used = 0;
  for (;;) {
    const reply = one();
    if (reply === undefined) break;
    replies.push(reply);
    used = pos;
  }
  return { replies, used };
}

/** Encodes a command as a multibulk request. */
export function command(...args: (string | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : Buffer.from(arg);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export const facts: ServerFacts = {
  connectedClients: () => 1,
  port: () => 6379,
  password: () => null,
  config: () => ({ save: '', appendonly: 'yes', maxclients: '10000', timeout: '0' }),
};

/**
 * A connection without a socket: feed it bytes, await its replies. `events` records what it
 * asked of the socket (pause, resume, end, abort).
 */
export class DrivenConnection {
  readonly api: FakeApi;
  readonly connection: RespConnection;
  output: Buffer = Buffer.alloc(0);
  readonly events: string[] = [];
  ended = false;
  aborted = false;
  private waiters: { n: number; resolve: () => void }[] = [];
  private endWaiters: (() => void)[] = [];

  constructor(
    init: Partial<ConnectionInit> = {},
    api = new FakeApi(),
    clock?: () => number,
    server: ServerFacts = facts,
  ) {
    this.api = api;
    const sink: ConnectionSink = {
      write: (parts) => {
        this.output = Buffer.concat([this.output, ...parts]);
        this.wake();
      },
      end: () => {
        this.events.push('end');
        this.ended = true;
        this.wake();
      },
      abort: (reason) => {
        this.events.push(`abort:${reason}`);
        this.aborted = true;
        this.wake();
      },
      pauseInput: () => this.events.push('pause'),
      resumeInput: () => this.events.push('resume'),
    };
    this.connection = new RespConnection({ api, server, clock }, { id: 7, ...init }, sink);
  }

  send(bytes: string | Buffer): void {
    this.connection.receive(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** All replies written so far. */
  replies(): Reply[] {
    return decodeReplies(this.output).replies;
  }

  /** Resolves with the first `n` replies once they are written. */
  async replyCount(n: number): Promise<Reply[]> {
    while (this.replies().length < n) {
      if (this.ended || this.aborted)
        throw new Error(`the connection closed after ${this.replies().length} replies`);
      await new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
    }
    return this.replies().slice(0, n);
  }

  /** Sends commands and resolves with their replies (and only theirs). */
  async call(...commands: (string | Uint8Array)[][]): Promise<Reply[]> {
    const before = this.replies().length;
    for (const c of commands) this.send(command(...c));
    const all = await this.replyCount(before + commands.length);
    return all.slice(before);
  }

  async one(...args: (string | Uint8Array)[]): Promise<Reply> {
    return (await this.call(args))[0];
  }

  /** Resolves when the connection ends or aborts. */
  closed(): Promise<void> {
    if (this.ended || this.aborted) return Promise.resolve();
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w.resolve();
    if (this.ended || this.aborted) for (const w of this.endWaiters.splice(0)) w();
  }
}

/** Starts a server on 127.0.0.1 port 0 for a test and closes it when the test ends. */
export async function startServer(
  t: { after(fn: () => Promise<void> | void): void },
  options: RespServerOptions = {},
  api = new FakeApi(),
): Promise<{ server: RespServer; port: number; api: FakeApi }> {
  const server = createRespServer(api, options);
  const { port } = await server.listen(0);
  t.after(() => server.close());
  return { server, port, api };
}

/** A raw TCP client: write bytes, collect everything received, know when the server hung up. */
export class RawClient {
  closedByServer = false;
  /** Bytes received, as chunks (concatenated on demand: a test may receive 100 MiB). */
  private chunks: Buffer[] = [];
  receivedBytes = 0;
  private readonly done: Promise<void>;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.receivedBytes += chunk.length;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.done = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('end', () => {
      this.closedByServer = true;
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Everything received so far. */
  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Resolves once at least `n` bytes arrived. */
  async bytes(n: number): Promise<Buffer> {
    while (this.receivedBytes < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.received;
  }

  async replies(n: number): Promise<Reply[]> {
    for (;;) {
      const { replies } = decodeReplies(this.received);
      if (replies.length >= n) return replies;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves when the connection is closed (by either side). */
  closed(): Promise<void> {
    return this.done;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Polls `condition` until true (for states that no event announces). */
export async function eventually(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
