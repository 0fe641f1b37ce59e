/**
 * The client's typed error: the server's stable code (docs/HTTP-API.md) or one of the client's
 * own, whether the operation definitely did not happen, and which node said so.
 *
 * ```ts
 * try { await db.set('k', 'v'); }
 * catch (e) { if (e instanceof ArpeggioError && !e.definite) { … read the key to learn … } }
 * ```
 */

/** Codes only the client gives (the server's are in docs/HTTP-API.md). */
export type ClientErrorCode =
  /** No connection could be opened to any node tried: nothing was sent. Definite. */
  | 'UNREACHABLE'
  /** The connection broke after the request was sent. Indefinite. */
  | 'CONNECTION_LOST'
  /** No reply within `timeoutMs` (the client's own deadline). Indefinite. */
  | 'CLIENT_TIMEOUT'
  /** Every candidate node's circuit breaker is open: nothing was sent. Definite. */
  | 'CIRCUIT_OPEN'
  /** The node answered something that is not the API's JSON error. Indefinite. */
  | 'BAD_RESPONSE'
  /** The client was closed. Definite. */
  | 'CLOSED';

/** The server's codes that say "try again, maybe elsewhere": transient and definite. */
const TRANSIENT = new Set([
  'QUORUM_UNAVAILABLE',
  'NOT_READY',
  'OVERLOADED',
  'CONTENTION',
  'TIMEOUT',
  'UNREACHABLE',
  'CONNECTION_LOST',
  'CLIENT_TIMEOUT',
  'CIRCUIT_OPEN',
  'BAD_RESPONSE',
  'INTERNAL',
]);

export class ArpeggioError extends Error {
  override name = 'ArpeggioError';
  constructor(
    /** Stable: a server code (KEY_NOT_FOUND, QUORUM_UNAVAILABLE, …) or a ClientErrorCode. */
    readonly code: string,
    /** true: the operation did not happen. false: it may have happened. */
    readonly definite: boolean,
    message: string,
    /** The node ("host:port") that answered or could not be reached; null when none was tried. */
    readonly node: string | null,
    /** The HTTP status, when a node answered. */
    readonly status: number | null = null,
  ) {
    super(message);
  }

  /** Whether trying again (maybe on another node) can give another outcome. */
  get transient(): boolean {
    return TRANSIENT.has(this.code);
  }
}
