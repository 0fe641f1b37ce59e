/**
 * Why a node process could not start, or had to stop. Every failure has a stable code (logs carry
 * it as `code`, the CLI prints it), and the message says what to do about it.
 */

export type RuntimeErrorCode =
  /** Another live process holds the data directory's lock file. */
  | 'DATA_DIR_LOCKED'
  /** The data directory cannot be created or written (permissions, read-only file system). */
  | 'DATA_DIR_NOT_WRITABLE'
  /** The data directory belongs to another node id than the one asked for with `--id`. */
  | 'DATA_DIR_MISMATCH'
  /** A port the node must listen on is taken. */
  | 'PORT_IN_USE'
  /** A listener could not be opened for another reason (address not available, permission). */
  | 'LISTEN_FAILED'
  /** No seed address answered before the join deadline. */
  | 'JOIN_FAILED'
  /** Every seed that answered refused us (wrong cluster secret, another cluster or version). */
  | 'JOIN_REFUSED'
  /** The node did not become ready (join the ring) before the deadline. */
  | 'NOT_READY_IN_TIME'
  /** The operation needs a running node, and this one is starting, closing or stopped. */
  | 'NOT_RUNNING'
  /** A graceful leave did not finish handing off this node's ranges before its deadline. */
  | 'LEAVE_TIMEOUT'
  /** The options do not make a working node (quorums, addresses, secret). */
  | 'BAD_CONFIG'
  /** The store could not be opened (a damaged environment, an unsupported file system). */
  | 'STORAGE_OPEN_FAILED'
  /** The store could not commit or flush: the node stops (fail-stop), it cannot tell what is durable. */
  | 'STORAGE_WRITE_FAILED'
  /** The protocol core threw: a broken invariant. The node stops rather than run in an unknown state. */
  | 'CORE_FAILED';

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    /** What happened and what to do, without the code (the message is `CODE: detail`). */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options);
  }
}

export function isRuntimeError(e: unknown, code?: RuntimeErrorCode): e is RuntimeError {
  return e instanceof RuntimeError && (code === undefined || e.code === code);
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
