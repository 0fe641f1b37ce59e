/**
 * One client connection, without the socket: bytes in, replies out, in order.
 *
 * ```
 *  receive(chunk) ─▶ parser ─▶ dispatch ─▶ command (maybe async: a cluster request)
 *                                │                        │ completes in any order
 *                                ▼                        ▼
 *                          reply slots, in command order: [done][done][waiting][done] ─▶ sink.write
 * ```
 *
 * Commands of one connection run concurrently, up to `maxPipelinedCommands` whose replies are
 * not yet written, and their replies leave in the order the commands arrived (an ordered reply
 * queue), which is what pipelining clients (`redis-benchmark -P 16`, ioredis pipelines) count on.
 * Commands that name the same key still take effect in the order sent: a command waits for the
 * earlier commands of its connection on any of its keys. Commands on different keys may take
 * effect in any order, which the cluster's per-key consistency allows (docs/REDIS-COMPATIBILITY.md).
 *
 * Back-pressure: the connection stops taking commands from the parser while the slots are full or
 * the socket's output is over its bound (`setOutputBlocked`), and asks the sink to stop reading
 * (`pauseInput`) until it can take more, so a client that pipelines faster than the cluster
 * answers, or does not read its replies, holds at most one socket read of unparsed bytes.
 *
 * The socket binding (server.ts) provides the sink; tests drive a connection directly.
 */
import { Buffer } from 'node:buffer';
import type { CausalContext, Consistency } from '../../core/replication/messages.js';
import {
  type CommandContext,
  type CommandResult,
  type CommandSpec,
  keysOf,
  keyTooLong,
  lookup,
  MAX_KEY_BYTES,
  PRE_AUTH_COMMANDS,
  type RespApi,
  type ServerFacts,
  type Session,
} from './commands.js';
import { error, type RespProtocol, type RespValue, RespWriter } from './encoder.js';
import { utf8Bytes } from './errors.js';
import { type ParserLimits, RespParser } from './parser.js';

/** Redis's reply to a command before authentication. */
const NOAUTH = error('NOAUTH Authentication required.');

/** Where a connection's output goes; server.ts binds it to a socket. */
export interface ConnectionSink {
  /** Writes reply bytes, in order. */
  write(parts: Uint8Array[]): void;
  /** Closes once everything written is sent (QUIT, a protocol error, a graceful shutdown). */
  end(): void;
  /** Closes at once, nothing more is sent (an HTTP request: a cross-protocol attack). */
  abort(reason: string): void;
  /** Stop delivering received bytes (back-pressure) until `resumeInput`. */
  pauseInput(): void;
  resumeInput(): void;
}

/** The logging shape the front door needs; a pino logger fits it. */
export interface RespLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const noopLogger: RespLogger = { debug() {}, info() {}, warn() {} };

export interface ConnectionComponents {
  api: RespApi;
  server: ServerFacts;
  /** Wall-clock milliseconds, for expiry times (SET EX). Default Date.now. */
  clock?: () => number;
  logger?: RespLogger;
  /** Told of each protocol error (metrics). */
  onProtocolError?: (message: string) => void;
}

export interface ConnectionInit {
  /** Client id (CLIENT ID, HELLO). */
  id: number;
  /** The level new connections start with. Default `quorum`. */
  defaultConsistency?: Consistency;
  parserLimits?: Partial<ParserLimits>;
  /**
   * Commands whose replies are not yet written, beyond which the connection reads no more.
   * Default 128: more than the deepest pipelines of redis-benchmark (-P 16 … 64) and ioredis's
   * auto-pipelining per tick; the node's own in-flight limit (OVERLOADED) bounds the total.
   */
  maxPipelinedCommands?: number;
  /** Keys whose causal context the connection remembers (LRU), for `session` level. Default 1024. */
  contextCacheEntries?: number;
  /** The client's and the server's `ip:port` (CLIENT INFO). */
  addr?: string;
  laddr?: string;
}

interface ReplySlot {
  value: RespValue | null;
  /** The protocol at the time of the command (HELLO switches it for later replies). */
  protocol: RespProtocol;
  /** Close the connection once this reply is written. */
  last: boolean;
}

/** Why the last `pump` stopped taking commands. */
type PumpStop = 'needs-input' | 'slots-full' | 'output-blocked' | 'no-more-commands';

export class RespConnection implements Session {
  readonly id: number;
  consistency: Consistency;
  protocol: RespProtocol = 2;
  name: Buffer | null = null;
  closeAfterReply = false;
  readonly addr: string;
  readonly laddr: string;
  readonly createdAtMs: number;
  private authenticatedNow = true;
  /** Commands parsed so far (progress, for the partial-request timeout). */
  commandsReceived = 0;

  private readonly api: RespApi;
  private readonly server: ServerFacts;
  private readonly clock: () => number;
  private readonly logger: RespLogger;
  private readonly onProtocolError: (message: string) => void;
  private readonly sink: ConnectionSink;
  private readonly parser: RespParser;
  private readonly maxPipelinedCommands: number;
  private readonly contextCacheEntries: number;
  private readonly contexts = new Map<string, CausalContext>();
  /** Per key, the completion of the last command of this connection that names it. */
  private readonly keyTails = new Map<string, Promise<void>>();
  private readonly writer = new RespWriter();
  private slots: ReplySlot[] = [];
  private stop: PumpStop = 'needs-input';
  private outputBlocked = false;
  /** No more commands are taken (QUIT, protocol error, shutdown). */
  private finishing = false;
  private ended = false;
  private inputPaused = false;
  private servicing = false;
  private flushQueued = false;

  constructor(components: ConnectionComponents, init: ConnectionInit, sink: ConnectionSink) {
    this.api = components.api;
    this.server = components.server;
    this.clock = components.clock ?? Date.now;
    this.logger = components.logger ?? noopLogger;
    this.onProtocolError = components.onProtocolError ?? (() => {});
    this.sink = sink;
    this.id = init.id;
    this.consistency = init.defaultConsistency ?? 'quorum';
    this.parser = new RespParser(init.parserLimits);
    this.maxPipelinedCommands = init.maxPipelinedCommands ?? 128;
    this.contextCacheEntries = init.contextCacheEntries ?? 1024;
    this.addr = init.addr ?? '';
    this.laddr = init.laddr ?? '';
    this.createdAtMs = this.clock();
    this.authenticated = this.server.password() === null;
  }

  /** False until AUTH (or HELLO AUTH) gives the password, when the server requires one. */
  get authenticated(): boolean {
    return this.authenticatedNow;
  }

  set authenticated(value: boolean) {
    this.authenticatedNow = value;
    this.parser.setUnauthenticated(!value);
  }

  /** Bytes received and not yet turned into commands (Redis's query buffer). */
  get bufferedBytes(): number {
    return this.parser.bufferedBytes;
  }

  /** Part of a request has arrived and the connection is waiting for the rest from the client. */
  get awaitingRestOfRequest(): boolean {
    return this.stop === 'needs-input' && !this.finishing && this.parser.inRequest;
  }

  /** Commands taken whose replies are not yet written. */
  get pendingReplies(): number {
    return this.slots.length;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  receive(chunk: Uint8Array): void {
    if (this.finishing || this.ended) return;
    this.parser.feed(chunk);
    this.service();
  }

  /** The socket's output is over (or back under) its bound. */
  setOutputBlocked(blocked: boolean): void {
    if (this.outputBlocked === blocked) return;
    this.outputBlocked = blocked;
    if (!blocked) this.service();
  }

  /** Graceful close: take no more commands, answer those taken, then end. */
  shutdown(): void {
    if (this.ended) return;
    this.finishing = true;
    this.service();
  }

  /** The socket is gone: drop everything; late cluster replies are ignored. */
  detach(): void {
    this.ended = true;
    this.finishing = true;
    this.slots = [];
  }

  // ---- Session (what commands see) ---------------------------------------------------------

  contextFor(key: Uint8Array): CausalContext | undefined {
    const id = latin1(key);
    const context = this.contexts.get(id);
    if (context !== undefined) {
      // Most recently used last: the first entry is the one to evict.
      this.contexts.delete(id);
      this.contexts.set(id, context);
    }
    return context;
  }

  remember(key: Uint8Array, context: CausalContext): void {
    const id = latin1(key);
    this.contexts.delete(id);
    this.contexts.set(id, context);
    if (this.contexts.size > this.contextCacheEntries) {
      this.contexts.delete(this.contexts.keys().next().value as string);
    }
  }

  // ---- the loop ----------------------------------------------------------------------------

  /** Takes commands while it can, writes the replies that are ready, adjusts the input flow. */
  private service(): void {
    if (this.servicing || this.ended) return;
    this.servicing = true;
    try {
      do {
        this.pump();
        this.flush();
      } while (this.stop === 'slots-full' && this.slots.length < this.maxPipelinedCommands && !this.ended);
    } finally {
      this.servicing = false;
    }
    if (this.ended) return;
    const wantInput = this.stop === 'needs-input' && !this.finishing;
    if (wantInput && this.inputPaused) {
      this.inputPaused = false;
      this.sink.resumeInput();
    } else if (!wantInput && !this.inputPaused) {
      this.inputPaused = true;
      this.sink.pauseInput();
    }
  }

  private pump(): void {
    for (;;) {
      if (this.finishing) {
        this.stop = 'no-more-commands';
        return;
      }
      if (this.slots.length >= this.maxPipelinedCommands) {
        this.stop = 'slots-full';
        return;
      }
      if (this.outputBlocked) {
        this.stop = 'output-blocked';
        return;
      }
      const next = this.parser.next();
      if (next.kind === 'incomplete') {
        this.stop = 'needs-input';
        return;
      }
      if (next.kind === 'error') {
        this.logger.debug({ client: this.id, error: next.message }, 'protocol error');
        this.onProtocolError(next.message);
        this.slots.push({ value: error(`ERR ${next.message}`), protocol: this.protocol, last: true });
        this.finishing = true;
        continue;
      }
      this.commandsReceived++;
      this.dispatch(next.args, next.inline);
    }
  }

  private dispatch(args: Buffer[], inline: boolean): void {
    if (isCrossProtocolAttack(args, inline)) {
      // Redis: "Possible SECURITY ATTACK detected … Connection aborted." No reply: the sender is
      // a browser or a proxy tricked into talking to us, and nothing it reads helps it.
      this.logger.warn(
        { client: this.id },
        'possible security attack: an HTTP request on the Redis port (cross-protocol scripting); connection closed',
      );
      this.finishing = true;
      this.ended = true;
      this.slots = [];
      this.sink.abort('http');
      return;
    }
    const slot: ReplySlot = { value: null, protocol: this.protocol, last: false };
    this.slots.push(slot);
    const found = lookup(args);
    let result: CommandResult;
    try {
      // Redis's order: an unknown command or a wrong arity is refused first, then NOAUTH.
      if ('reply' in found) result = found.reply;
      else if (!this.authenticated && !PRE_AUTH_COMMANDS.has(latin1(args[0]).toLowerCase())) result = NOAUTH;
      else result = this.execute(found.spec, args);
    } catch (err) {
      result = Promise.reject(err);
    }
    // Read after running: HELLO 3 answers in RESP3 already, QUIT's reply is the last.
    slot.protocol = this.protocol;
    if (this.closeAfterReply) {
      slot.last = true;
      this.finishing = true;
    }
    if (!(result instanceof Promise)) {
      slot.value = result;
      return;
    }
    result.then(
      (value) => this.complete(slot, value),
      (err: unknown) => {
        this.logger.warn({ client: this.id, err }, 'command failed');
        const message = err instanceof Error ? err.message : String(err);
        this.complete(slot, error(`ERR internal error: ${utf8Bytes(message)}`));
      },
    );
  }

  /** Runs a command after the connection's earlier commands on the same keys. */
  private execute(spec: CommandSpec, args: Buffer[]): CommandResult {
    const keys = keysOf(spec, args);
    for (const key of keys) if (key.length > MAX_KEY_BYTES) return keyTooLong(key);
    const ctx: CommandContext = {
      api: this.api,
      session: this,
      server: this.server,
      consistency: this.consistency,
      nowMs: this.clock,
    };
    const run = spec.run as NonNullable<CommandSpec['run']>;
    if (keys.length === 0) return run(ctx, args);
    const ids = [...new Set(keys.map(latin1))];
    const earlier: Promise<void>[] = [];
    for (const id of ids) {
      const tail = this.keyTails.get(id);
      if (tail !== undefined) earlier.push(tail);
    }
    const result: CommandResult =
      earlier.length === 0 ? run(ctx, args) : Promise.all(earlier).then(() => run(ctx, args));
    if (!(result instanceof Promise)) return result;
    const done = result.then(
      () => {},
      () => {},
    );
    for (const id of ids) this.keyTails.set(id, done);
    done.then(() => {
      for (const id of ids) if (this.keyTails.get(id) === done) this.keyTails.delete(id);
    });
    return result;
  }

  private complete(slot: ReplySlot, value: RespValue): void {
    if (this.ended) return;
    slot.value = value;
    // Replies that complete in the same turn of the event loop are written together, in one
    // write: setImmediate runs after every promise settled in this turn (a microtask would run
    // before the replies whose promise chains are longer).
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.service();
    });
  }

  /** Writes the replies at the head of the queue that are ready; ends after the last one. */
  private flush(): void {
    if (this.ended) return;
    let last = false;
    while (this.slots.length > 0 && this.slots[0].value !== null) {
      const slot = this.slots.shift() as ReplySlot;
      this.writer.protocol = slot.protocol;
      this.writer.write(slot.value as RespValue);
      if (slot.last) {
        last = true;
        break;
      }
    }
    const parts = this.writer.take();
    if (parts.length > 0) this.sink.write(parts);
    if (last || (this.finishing && this.slots.length === 0)) {
      this.ended = true;
      this.slots = [];
      this.sink.end();
    }
  }
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

/**
 * An HTTP request sent to the Redis port: a request line (`GET / HTTP/1.1`) in the inline form,
 * or the `POST` and `Host:` commands Redis itself treats as an attack wherever they appear.
 */
function isCrossProtocolAttack(args: Buffer[], inline: boolean): boolean {
  const name = latin1(args[0]).toLowerCase();
  if (name === 'post' || name === 'host:') return true;
  return inline && args.length === 3 && /^HTTP\/\d/.test(latin1(args[2]));
}
