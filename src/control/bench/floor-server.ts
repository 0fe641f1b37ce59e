/**
 * The benchmark's reference servers: what one Node.js process can do at most on this machine. A
 * minimal RESP2 server (SET/GET in a `Map`, PING, CONFIG → empty array), nothing else: no
 * replication, no placement, no storage engine. `arpeggio bench` runs it beside Arpeggio and
 * Redis so a reader can tell Arpeggio's overhead from Node's.
 *
 *   node dist/src/control/bench/floor-server.js --port P [--aof FILE]
 *
 * `--port 0` lets the OS choose; the server prints `listening <port>` once it listens (127.0.0.1
 * only). SIGTERM/SIGINT close it and exit 0.
 *
 * `--aof FILE`: the Node.js equivalent of Redis `appendonly yes` + `appendfsync always`. Every SET
 * is appended to FILE as the RESP bytes it arrived as, and its `+OK` leaves only after an
 * fdatasync that covers it. Group commit: the SETs of every connection that arrive while one
 * write + fdatasync is in flight go to the log together in the next one, started in the
 * `setImmediate` after the poll phase that read them (as Redis flushes in `beforeSleep`). A
 * connection's replies keep their order: once one waits for the log, every later reply of that
 * connection waits behind it. A failed write or fdatasync is fatal (stderr, exit 1).
 *
 * Per data event the server parses every complete command and sends all their replies in one
 * `socket.write`. Limits: more than 64 MiB of unparsed input on a connection, a bulk longer than
 * 512 MiB or an array longer than 1M elements gets `-ERR protocol error` and the connection is
 * closed. Inline commands are refused with an error reply (line by line).
 */
import { fdatasync, openSync, realpathSync, write } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

export const MAX_UNPARSED_BYTES = 64 * 1024 * 1024;
export const MAX_BULK_BYTES = 512 * 1024 * 1024;
export const MAX_ARRAY_LENGTH = 1024 * 1024;

const CR = 13;
const LF = 10;

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NIL = Buffer.from('$-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const ERR_UNKNOWN = Buffer.from('-ERR unknown command\r\n');
const ERR_ARGS = Buffer.from('-ERR wrong number of arguments\r\n');
const ERR_SYNTAX = Buffer.from('-ERR syntax error\r\n');
const ERR_INLINE = Buffer.from('-ERR inline commands are not supported\r\n');
const ERR_PROTOCOL = Buffer.from('-ERR protocol error\r\n');

/** The log of `--aof`: SETs appended since the last flush started, and who waits for them. */
interface LogBatch {
  id: number;
  parts: Buffer[];
  bytes: number;
  conns: Conn[];
}

interface Conn {
  socket: Socket;
  /** Input received but not yet parsed (more than one chunk only while a command is incomplete). */
  chunks: Buffer[];
  queued: number;
  /** Parse again only once this many bytes are queued (the incomplete command's known end). */
  need: number;
  /** Replies held until the log batch `heldUntil` is durable (`--aof`), in order. */
  held: Buffer[];
  heldUntil: number;
  closed: boolean;
}

// Reply assembly: parsing is synchronous, so one scratch buffer serves every connection; each data
// event's replies are copied out of it into one Buffer for one socket.write.
let out = Buffer.allocUnsafe(64 * 1024);
let outLen = 0;

function reserve(n: number): void {
  if (outLen + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, outLen + n));
  out.copy(bigger, 0, 0, outLen);
  out = bigger;
}

function put(b: Buffer): void {
  reserve(b.length);
  b.copy(out, outLen);
  outLen += b.length;
}

function putBulk(src: Buffer, start: number, end: number): void {
  const len = end - start;
  reserve(len + 16);
  out[outLen++] = 36; // $
  outLen += out.write(String(len), outLen, 'latin1');
  out[outLen++] = CR;
  out[outLen++] = LF;
  src.copy(out, outLen, start, end);
  outLen += len;
  out[outLen++] = CR;
  out[outLen++] = LF;
}

function takeOut(): Buffer | null {
  if (outLen === 0) return null;
  const b = Buffer.allocUnsafe(outLen);
  out.copy(b, 0, 0, outLen);
  outLen = 0;
  if (out.length > 4 * 1024 * 1024) out = Buffer.allocUnsafe(64 * 1024);
  return b;
}

// Argument offsets of the command being parsed: [start0, end0, start1, end1, …] into its buffer.
let args = new Int32Array(64);

/** Lower-case ASCII compare of buf[start, end) with `word` (lower case). */
function is(buf: Buffer, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if ((buf[start + i] | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * A decimal length at `pos` up to CRLF: [value, index after LF]; [-1, 0] when the line is not
 * complete yet; [-2, 0] when it is not a non-negative number or exceeds `max`.
 */
function readLength(buf: Buffer, pos: number, max: number): [number, number] {
  let n = 0;
  let i = pos;
  const len = buf.length;
  if (i >= len) return [-1, 0];
  for (; i < len; i++) {
    const c = buf[i];
    if (c === CR) break;
    if (c < 48 || c > 57) return [-2, 0];
    n = n * 10 + (c - 48);
    if (n > max) return [-2, 0];
  }
  if (i === pos) return [-2, 0]; // an empty number
  if (i + 1 >= len) return [-1, 0];
  if (buf[i + 1] !== LF) return [-2, 0];
  return [n, i + 2];
}

export interface FloorServerOptions {
  port: number;
  host?: string;
  /** Append every SET here and acknowledge it only after fdatasync (Redis `appendfsync always`). */
  aof?: string;
}

export interface FloorServer {
  server: Server;
  port: number;
  close(): void;
}

/** Starts the server; resolves once it listens. */
export function startFloorServer(options: FloorServerOptions): Promise<FloorServer> {
  const store = new Map<string, Buffer>();
  const conns = new Set<Conn>();
  const fd = options.aof === undefined ? -1 : openSync(options.aof, 'a');
  const aof = fd >= 0;
  let next: LogBatch = { id: 1, parts: [], bytes: 0, conns: [] };
  let flushing = false;
  let flushScheduled = false;

  const fatal = (what: string, e: Error) => {
    process.stderr.write(`floor-server: ${what} of ${options.aof} failed: ${e.message}\n`);
    process.exit(1);
  };

  const send = (c: Conn, b: Buffer) => {
    if (c.closed) return;
    if (!c.socket.write(b) && !c.socket.isPaused()) {
      // A client that does not read its replies: stop reading its requests until it does.
      c.socket.pause();
      c.socket.once('drain', () => c.socket.resume());
    }
  };

  const scheduleFlush = () => {
    if (flushing || flushScheduled || next.parts.length === 0) return;
    flushScheduled = true;
    setImmediate(flush);
  };

  /** One write + fdatasync of everything appended so far; then the replies that waited for it. */
  function flush(): void {
    flushScheduled = false;
    if (flushing || next.parts.length === 0) return;
    flushing = true;
    const batch = next;
    next = { id: batch.id + 1, parts: [], bytes: 0, conns: [] };
    const data = batch.parts.length === 1 ? batch.parts[0] : Buffer.concat(batch.parts, batch.bytes);
    let offset = 0;
    const written = (e: Error | null, n: number) => {
      if (e) return fatal('write', e);
      offset += n;
      if (offset < data.length) return write(fd, data, offset, data.length - offset, null, written);
      fdatasync(fd, (e2) => {
        if (e2) return fatal('fdatasync', e2);
        flushing = false;
        for (const c of batch.conns) {
          if (c.heldUntil !== batch.id) continue; // it waits for a later batch too
          const held = c.held;
          c.held = [];
          c.heldUntil = 0;
          send(c, held.length === 1 ? held[0] : Buffer.concat(held));
        }
        scheduleFlush();
      });
    };
    write(fd, data, 0, data.length, null, written);
  }

  const protocolError = (c: Conn) => {
    // Replies held for the log are dropped with the connection: nothing was acknowledged.
    if (!c.closed) c.socket.end(ERR_PROTOCOL);
    c.closed = true;
    c.chunks = [];
    c.queued = 0;
    c.held = [];
  };

  /**
   * Parses and executes every complete command of `buf`, appending replies to the scratch
   * buffer; returns the offset of the first unparsed byte and whether a SET went to the log, or
   * null on a protocol error.
   */
  function execute(c: Conn, buf: Buffer): { consumed: number; logged: boolean } | null {
    let pos = 0;
    let logged = false;
    const len = buf.length;
    c.need = 0;
    while (pos < len) {
      const start = pos;
      if (buf[pos] !== 42 /* * */) {
        // Inline command: refuse it, line by line.
        const lf = buf.indexOf(LF, pos);
        if (lf < 0) break;
        put(ERR_INLINE);
        pos = lf + 1;
        continue;
      }
      const [argc, afterHeader] = readLength(buf, pos + 1, MAX_ARRAY_LENGTH);
      if (argc === -2) return null;
      if (argc === -1) break;
      if (args.length < argc * 2) args = new Int32Array(argc * 2);
      let p = afterHeader;
      let complete = true;
      for (let i = 0; i < argc; i++) {
        if (p >= len) {
          complete = false;
          break;
        }
        if (buf[p] !== 36 /* $ */) return null;
        const [blen, bodyStart] = readLength(buf, p + 1, MAX_BULK_BYTES);
        if (blen === -2) return null;
        if (blen === -1) {
          complete = false;
          break;
        }
        const bodyEnd = bodyStart + blen;
        if (bodyEnd + 2 > len) {
          c.need = bodyEnd + 2 - start; // relative to what stays unparsed
          complete = false;
          break;
        }
        if (buf[bodyEnd] !== CR || buf[bodyEnd + 1] !== LF) return null;
        args[2 * i] = bodyStart;
        args[2 * i + 1] = bodyEnd;
        p = bodyEnd + 2;
      }
      if (!complete) break;
      pos = p;
      if (argc === 0) continue;
      const s0 = args[0];
      const e0 = args[1];
      if (is(buf, s0, e0, 'get')) {
        if (argc !== 2) put(ERR_ARGS);
        else {
          const v = store.get(buf.toString('latin1', args[2], args[3]));
          if (v === undefined) put(NIL);
          else putBulk(v, 0, v.length);
        }
      } else if (is(buf, s0, e0, 'set')) {
        if (argc < 3) put(ERR_ARGS);
        else if (argc > 3) put(ERR_SYNTAX);
        else {
          const vs = args[4];
          const ve = args[5];
          const v = Buffer.allocUnsafe(ve - vs);
          buf.copy(v, 0, vs, ve);
          store.set(buf.toString('latin1', args[2], args[3]), v);
          if (aof) {
            next.parts.push(buf.subarray(start, pos));
            next.bytes += pos - start;
            logged = true;
          }
          put(OK);
        }
      } else if (is(buf, s0, e0, 'ping')) {
        if (argc === 1) put(PONG);
        else if (argc === 2) putBulk(buf, args[2], args[3]);
        else put(ERR_ARGS);
      } else if (is(buf, s0, e0, 'config')) {
        put(EMPTY_ARRAY);
      } else {
        put(ERR_UNKNOWN);
      }
    }
    return { consumed: pos, logged };
  }

  function onData(c: Conn, chunk: Buffer): void {
    if (c.closed) return;
    let buf: Buffer;
    if (c.queued === 0) buf = chunk;
    else {
      c.chunks.push(chunk);
      c.queued += chunk.length;
      if (c.queued > MAX_UNPARSED_BYTES) {
        protocolError(c);
        return;
      }
      if (c.queued < c.need) return;
      buf = Buffer.concat(c.chunks, c.queued);
    }
    const r = execute(c, buf);
    const replies = takeOut();
    if (r === null) {
      if (replies !== null && c.held.length === 0) send(c, replies);
      protocolError(c);
      return;
    }
    const rest = buf.length - r.consumed;
    if (rest > MAX_UNPARSED_BYTES) {
      if (replies !== null && c.held.length === 0) send(c, replies);
      protocolError(c);
      return;
    }
    if (rest === 0) {
      c.chunks = [];
      c.queued = 0;
    } else {
      // Keep a copy of the tail only: the parsed part (and what the log holds of it) is released.
      const tail = r.consumed === 0 ? buf : Buffer.from(buf.subarray(r.consumed));
      c.chunks = [tail];
      c.queued = tail.length;
    }
    if (replies === null) return;
    if (r.logged) {
      c.held.push(replies);
      if (c.heldUntil !== next.id) {
        c.heldUntil = next.id;
        next.conns.push(c);
      }
      scheduleFlush();
    } else if (c.held.length > 0) {
      c.held.push(replies); // behind this connection's earlier replies that wait for the log
    } else {
      send(c, replies);
    }
  }

  const server = createServer({ noDelay: true }, (socket) => {
    const c: Conn = { socket, chunks: [], queued: 0, need: 0, held: [], heldUntil: 0, closed: false };
    conns.add(c);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => onData(c, chunk));
    socket.on('error', () => {
      // a client that went away; 'close' follows
    });
    socket.on('close', () => {
      c.closed = true;
      c.held = [];
      conns.delete(c);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        close: () => {
          server.close();
          for (const c of conns) c.socket.destroy();
        },
      });
    });
  });
}

function parseArgs(argv: readonly string[]): FloorServerOptions {
  let port: number | undefined;
  let aof: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') port = Number(argv[++i]);
    else if (a === '--aof') aof = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error('usage: floor-server --port P [--aof FILE]');
  if (aof === '') throw new Error('--aof needs a file');
  return { port, aof };
}

async function main(): Promise<void> {
  let options: FloorServerOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  const s = await startFloorServer(options);
  const stop = () => {
    s.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`listening ${s.port}\n`);
}

const isMain = (() => {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
})();

if (isMain) {
  main().catch((e: Error) => {
    process.stderr.write(`floor-server: ${e.message}\n`);
    process.exit(1);
  });
}
