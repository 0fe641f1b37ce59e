/**
 * Error replies: Redis's own texts for what Redis would refuse, and a stable mapping of the
 * cluster's errors (src/core/replication/messages.ts) for what only a distributed store can meet.
 *
 * A cluster error reply reads `-<PREFIX> <CODE> <message> (<definite|indefinite>: …)`:
 *
 * | prefix        | when                                                | what a client may do            |
 * |---------------|-----------------------------------------------------|---------------------------------|
 * | `TRYAGAIN`    | the command definitely did not take effect, or it   | retry freely (after a backoff)  |
 * |               | only reads                                          |                                 |
 * | `INDEFINITE`  | a write that may or may not have taken effect       | retry only if idempotent; read  |
 * |               |                                                     | the key to learn the outcome    |
 *
 * The first word is what Redis clients expose as the error's code (`err.code` / the reply's
 * prefix), so a client decides on it alone; the second word is the cluster's stable code
 * (QUORUM_UNAVAILABLE, TIMEOUT, CONTENTION, NOT_READY, OVERLOADED). `TRYAGAIN` is the prefix Redis
 * Cluster uses for "nothing happened, try again later", which cluster-aware clients already retry.
 * Errors that are the client's own (not an integer, a bad request) keep Redis's `ERR` text.
 */
import { Buffer } from 'node:buffer';
import type { KvError } from '../../core/replication/messages.js';
import { error, type RespValue } from './encoder.js';

export const SYNTAX_ERROR = error('ERR syntax error');
export const NOT_AN_INTEGER = error('ERR value is not an integer or out of range');

export function wrongArity(fullName: string): RespValue {
  return error(`ERR wrong number of arguments for '${fullName}' command`);
}

/**
 * Redis 7's reply to an unknown command, byte for byte: the name cut at 128 bytes, then the
 * arguments quoted one by one while the list is shorter than 128 bytes, each cut to what is
 * left of the 128 (a C string: cut at a NUL byte too), each followed by a space.
 */
export function unknownCommand(args: readonly Uint8Array[]): RespValue {
  const name = cString(args[0], 128);
  let list = '';
  for (let i = 1; i < args.length && list.length < 128; i++) {
    list += `'${cString(args[i], 128 - list.length)}' `;
  }
  return error(`ERR unknown command '${name}', with args beginning with: ${list}`);
}

/** Redis 7: `unknown subcommand 'x'. Try CONFIG HELP.` */
export function unknownSubcommand(command: Uint8Array, subcommand: Uint8Array): RespValue {
  const name = Buffer.from(command).toString('latin1').toUpperCase();
  return error(`ERR unknown subcommand '${cString(subcommand, 128)}'. Try ${name} HELP.`);
}

/** The bytes of a C string (up to the first NUL), at most `max` of them, as latin1 text. */
export function cString(bytes: Uint8Array, max: number): string {
  const nul = bytes.indexOf(0);
  const end = Math.min(nul === -1 ? bytes.length : nul, Math.max(0, max));
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
}

/**
 * The reply for a failed cluster request. `readOnly`: the command only reads, so whatever the
 * cluster says, retrying it cannot apply anything twice.
 */
export function clusterError(err: KvError, readOnly: boolean): RespValue {
  err = { ...err, message: utf8Bytes(err.message) };
  switch (err.code) {
    case 'NOT_INTEGER':
    case 'BAD_REQUEST':
      // The client's own mistake; the core's messages for NOT_INTEGER are Redis's texts.
      return error(`ERR ${err.message}`);
    default:
      if (err.definite || readOnly) {
        const why = err.definite
          ? 'definite: the command did not take effect'
          : 'definite: a read changes nothing';
        return error(`TRYAGAIN ${err.code} ${err.message} (${why})`);
      }
      return error(`INDEFINITE ${err.code} ${err.message} (indefinite: the command may have taken effect)`);
  }
}

/**
 * The reply for a multi-key write (MSET, DEL) whose per-key requests did not all succeed. It is
 * definite only if every request failed definitely: one that succeeded or may have means the
 * command partly took effect.
 */
export function partialWriteError(errors: KvError[], total: number): RespValue {
  const first = { ...errors[0], message: utf8Bytes(errors[0].message) };
  if (errors.length === total && errors.every((e) => e.definite)) return clusterError(first, false);
  return error(
    `INDEFINITE ${first.code} ${errors.length} of ${total} keys failed, first: ${first.message} ` +
      '(indefinite: the command may have taken effect for some keys)',
  );
}

/**
 * Reply text is bytes (one code point per byte, see encoder.ts); a message written as Unicode
 * text (the core's, an exception's) becomes its UTF-8 bytes.
 */
export function utf8Bytes(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test is for anything beyond ASCII
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}
