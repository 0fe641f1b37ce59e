/**
 * The RESP request parser: bytes from a client in, commands (arrays of binary-safe arguments) out.
 *
 * Clients send two request forms, told apart by the first byte of a request:
 *
 * ```
 *  multibulk (every client library):   *3\r\n $3\r\n SET\r\n $1\r\n k\r\n $5\r\n hello\r\n
 *  inline (telnet, redis-benchmark's PING_INLINE):   SET k "hello world"\r\n
 * ```
 *
 * The parser is a pure streaming state machine: `feed(chunk)` appends bytes, `next()` returns
 * the next complete command, `incomplete` when it needs more bytes, or a protocol error after
 * which it accepts nothing more (the connection replies with the error and closes, as Redis does).
 * Chunks may split a request anywhere and carry many pipelined requests.
 *
 * Memory is bounded by what the client has actually sent, never by what it declares: a header
 * announcing a 16 MiB argument allocates nothing until the 16 MiB have arrived (Redis fixed the
 * opposite behaviour as CVE-2021-32675). Received chunks are kept as a list and copied once, into
 * the argument, when it is complete, so a large argument that arrives in many small chunks costs
 * one copy, not one per chunk. Arguments never share memory with socket chunks: a small key does
 * not pin a 64 KiB chunk for as long as the cluster holds on to it.
 *
 * Error messages are Redis's own (src/networking.c), so clients and scripts that match on them
 * keep working. Two deliberate differences, both stricter: the CRLF after a header and after a
 * bulk argument is checked (Redis skips two bytes unseen, which lets a client with a wrong length
 * desynchronise silently), and a length line longer than the inline limit fails at once.
 */
import { Buffer } from 'node:buffer';

export interface ParserLimits {
  /**
   * Most arguments in one multibulk request. Default 1,048,576 (Redis's historical limit;
   * Redis 7 allows INT_MAX). Larger counts fail with "invalid multibulk length".
   */
  maxArgs: number;
  /**
   * Largest bulk argument in bytes. Default 16 MiB, the value limit: an argument is a key, a
   * value or an option, so nothing larger is useful, and a per-argument bound is what keeps one
   * frame from holding unbounded memory. Redis's proto-max-bulk-len is 512 MiB.
   */
  maxBulkBytes: number;
  /**
   * Longest inline request, and longest `*N` / `$N` header line, in bytes. Default 64 KiB
   * (Redis's PROTO_INLINE_MAX_SIZE).
   */
  maxInlineBytes: number;
}

export const DEFAULT_PARSER_LIMITS: ParserLimits = {
  maxArgs: 1024 * 1024,
  maxBulkBytes: 16 * 1024 * 1024,
  maxInlineBytes: 64 * 1024,
};

export type ParseResult =
  /** A complete request. `inline`: it came in the inline form (telnet style). */
  | { kind: 'command'; args: Buffer[]; inline: boolean }
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  /** A protocol error; `message` is the error text without the `ERR ` prefix. Final. */
  | { kind: 'error'; message: string };

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;

const INCOMPLETE: ParseResult = { kind: 'incomplete' };

/** Redis's limits for a client that has not authenticated (networking.c): arguments per request. */
export const UNAUTHENTICATED_MAX_ARGS = 10;
/** … and bytes per argument. */
export const UNAUTHENTICATED_MAX_BULK_BYTES = 16384;

export class RespParser {
  private readonly limits: ParserLimits;
  /** Unread bytes: `chunks[0]` from `offset` on, then the other chunks whole. */
  private chunks: Buffer[] = [];
  private offset = 0;
  private unread = 0;
  /** The multibulk request being assembled, or null between requests. */
  private args: Buffer[] | null = null;
  private argsBytes = 0;
  /** Arguments still expected by the current multibulk request. */
  private remaining = 0;
  /** Length of the bulk argument whose `$N` header has been read; -1 when the header is next. */
  private bulkLength = -1;
  private failure: ParseResult | null = null;
  /** Whether the client has not authenticated yet: Redis's tighter unauthenticated limits apply. */
  private unauthenticated = false;

  constructor(limits: Partial<ParserLimits> = {}) {
    this.limits = { ...DEFAULT_PARSER_LIMITS, ...limits };
  }

  /**
   * Before authentication a request may have at most UNAUTHENTICATED_MAX_ARGS arguments of at
   * most UNAUTHENTICATED_MAX_BULK_BYTES each (Redis's limits and error texts), so a client
   * without the password cannot make the server hold large frames.
   */
  setUnauthenticated(on: boolean): void {
    this.unauthenticated = on;
  }

  /** Appends received bytes. The parser keeps a reference to `chunk`: do not reuse its memory. */
  feed(chunk: Uint8Array): void {
    if (this.failure !== null || chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.chunks.push(buf);
    this.unread += buf.length;
  }

  /**
   * Bytes the parser holds: received but not yet returned as commands, including the arguments
   * of a request still being assembled. This is the client's query buffer in Redis's terms.
   */
  get bufferedBytes(): number {
    return this.unread + this.argsBytes;
  }

  /** Whether part of a request has arrived but not all of it. */
  get inRequest(): boolean {
    return this.args !== null || this.unread > 0;
  }

  /** Whether the parser has stopped at a protocol error. */
  get failed(): boolean {
    return this.failure !== null;
  }

  next(): ParseResult {
    if (this.failure !== null) return this.failure;
    for (;;) {
      if (this.args === null) {
        if (this.unread === 0) return INCOMPLETE;
        if (this.byteAt(0) !== STAR) {
          const inline = this.nextInline();
          if (inline === 'empty') continue;
          return inline;
        }
        const header = this.headerLine('too big mbulk count string', 'invalid multibulk length');
        if (header === null) return INCOMPLETE;
        if (typeof header === 'string') return this.fail(header);
        const count = parseLength(header, 1);
        if (count === null || count > this.limits.maxArgs) return this.fail('invalid multibulk length');
        if (this.unauthenticated && count > UNAUTHENTICATED_MAX_ARGS) {
          return this.fail('unauthenticated multibulk length');
        }
        // Redis treats `*0` and negative counts as an empty request and ignores it.
        if (count <= 0) continue;
        this.args = [];
        this.argsBytes = 0;
        this.remaining = count;
        this.bulkLength = -1;
      }
      while (this.remaining > 0) {
        if (this.bulkLength === -1) {
          const header = this.headerLine('too big bulk count string', 'invalid bulk length');
          if (header === null) return INCOMPLETE;
          if (typeof header === 'string') return this.fail(header);
          if (header[0] !== DOLLAR) return this.fail(`expected '$', got '${String.fromCharCode(header[0])}'`);
          const length = parseLength(header, 1);
          if (length === null || length < 0 || length > this.limits.maxBulkBytes) {
            return this.fail('invalid bulk length');
          }
          if (this.unauthenticated && length > UNAUTHENTICATED_MAX_BULK_BYTES) {
            return this.fail('unauthenticated bulk length');
          }
          this.bulkLength = length;
        }
        if (this.unread < this.bulkLength + 2) return INCOMPLETE;
        const arg = this.take(this.bulkLength);
        if (this.byteAt(0) !== CR || this.byteAt(1) !== LF)
          return this.fail("expected '\\r\\n' after bulk data");
        this.skip(2);
        (this.args as Buffer[]).push(arg);
        this.argsBytes += arg.length;
        this.remaining--;
        this.bulkLength = -1;
      }
      const args = this.args as Buffer[];
      this.args = null;
      this.argsBytes = 0;
      return { kind: 'command', args, inline: false };
    }
  }

  /** An inline request, 'empty' for a blank line (ignored, as Redis does), or incomplete. */
  private nextInline(): ParseResult | 'empty' {
    const newline = this.indexOf(LF, this.limits.maxInlineBytes + 1);
    if (newline === -1) {
      return this.unread > this.limits.maxInlineBytes ? this.fail('too big inline request') : INCOMPLETE;
    }
    let line = this.take(newline);
    this.skip(1);
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    const args = splitInlineArgs(line);
    if (args === null) return this.fail('unbalanced quotes in request');
    if (args.length === 0) return 'empty';
    return { kind: 'command', args, inline: true };
  }

  /**
   * The next header line (`*N` or `$N`) without its CRLF; null when it has not fully arrived;
   * an error message when it is too long or not terminated by CRLF.
   */
  private headerLine(tooLong: string, malformed: string): Buffer | string | null {
    const cr = this.indexOf(CR, this.limits.maxInlineBytes + 1);
    if (cr === -1) return this.unread > this.limits.maxInlineBytes ? tooLong : null;
    if (this.unread < cr + 2) return null;
    if (this.byteAt(cr + 1) !== LF) return malformed;
    const line = this.take(cr);
    this.skip(2);
    return line;
  }

  private fail(message: string): ParseResult {
    this.failure = { kind: 'error', message: `Protocol error: ${message}` };
    // Nothing more will be parsed: let the memory go.
    this.chunks = [];
    this.offset = 0;
    this.unread = 0;
    this.args = null;
    this.argsBytes = 0;
    return this.failure;
  }

  private byteAt(i: number): number {
    let at = this.offset + i;
    for (const chunk of this.chunks) {
      if (at < chunk.length) return chunk[at];
      at -= chunk.length;
    }
    return -1;
  }

  /** Position of the first `byte` among the first `within` unread bytes, or -1. */
  private indexOf(byte: number, within: number): number {
    let base = 0;
    let start = this.offset;
    for (const chunk of this.chunks) {
      const end = Math.min(chunk.length, start + (within - base));
      const found = chunk.subarray(start, end).indexOf(byte);
      if (found !== -1) return base + found;
      base += end - start;
      if (base >= within) return -1;
      start = 0;
    }
    return -1;
  }

  /** Removes and returns the next `n` unread bytes (n ≤ unread) as a fresh buffer. */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const count = Math.min(n - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + count);
      filled += count;
      this.advance(count);
    }
    return out;
  }

  private skip(n: number): void {
    while (n > 0) {
      const count = Math.min(n, this.chunks[0].length - this.offset);
      this.advance(count);
      n -= count;
    }
  }

  private advance(count: number): void {
    this.offset += count;
    this.unread -= count;
    if (this.offset === this.chunks[0].length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

/**
 * Redis's string2ll over `line[from..]`: an optional minus sign and decimal digits, no plus sign,
 * no spaces, no leading zeros ("0" itself is fine, "-0" is not). Lengths beyond 2^53 are refused
 * as well; every limit is far below.
 */
function parseLength(line: Buffer, from: number): number | null {
  let i = from;
  let negative = false;
  if (line[i] === 0x2d) {
    negative = true;
    i++;
  }
  const digits = line.length - i;
  if (digits <= 0 || digits > 15) return null;
  if (line[i] === 0x30) return digits === 1 && !negative ? 0 : null;
  let n = 0;
  for (; i < line.length; i++) {
    const d = line[i] - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

const isHexDigit = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const hexValue = (b: number) => (b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10);
/** C's isspace: space, \t, \n, \v, \f, \r. */
const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/**
 * Splits an inline request into arguments like Redis's sdssplitargs: blanks separate arguments;
 * "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' take \' only; a
 * closing quote must be followed by a blank or the end. Returns null for unbalanced quotes.
 * Like Redis (which works on a C string) it stops at a NUL byte.
 */
export function splitInlineArgs(line: Uint8Array): Buffer[] | null {
  const nul = line.indexOf(0);
  const end = nul === -1 ? line.length : nul;
  const at = (i: number) => (i < end ? line[i] : 0);
  const args: Buffer[] = [];
  let p = 0;
  for (;;) {
    while (p < end && isSpace(line[p])) p++;
    if (p >= end) return args;
    const current: number[] = [];
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        if (c === 0x5c && at(p + 1) === 0x78 && isHexDigit(at(p + 2)) && isHexDigit(at(p + 3))) {
          current.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === 0x5c && at(p + 1) !== 0) {
          p++;
          const e = at(p);
          current.push(
            e === 0x6e
              ? 0x0a
              : e === 0x72
                ? 0x0d
                : e === 0x74
                  ? 0x09
                  : e === 0x62
                    ? 0x08
                    : e === 0x61
                      ? 0x07
                      : e,
          );
        } else if (c === 0x22) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          current.push(c);
        }
      } else if (inSingle) {
        if (c === 0x5c && at(p + 1) === 0x27) {
          p++;
          current.push(0x27);
        } else if (c === 0x27) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          current.push(c);
        }
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0) {
        done = true;
      } else if (c === 0x22) {
        inDouble = true;
      } else if (c === 0x27) {
        inSingle = true;
      } else {
        current.push(c);
      }
      if (p < end) p++;
    }
    args.push(Buffer.from(current));
  }
}
