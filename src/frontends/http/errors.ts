/**
 * JSON errors of the HTTP API: `{ "error": { "code", "definite", "message" } }`.
 *
 * `definite: true` means the operation did not happen (retry freely); `false` means it may have
 * happened (retry only an idempotent operation, or read the key to learn the outcome). The code is
 * stable; the message is for people. The status follows from the code, and an indefinite cluster
 * error is always 504, whatever its code, so that a client that looks only at the status still
 * tells "nothing happened" (4xx, 503) from "may have happened" (504, and 500 INTERNAL: a bug).
 */
import type { ErrorCode, KvError } from '../../core/replication/messages.js';

/** The cluster's codes (messages.ts) and the ones only the HTTP door gives. */
export type HttpErrorCode =
  | ErrorCode
  /** No route for this method and path. Definite. */
  | 'ROUTE_NOT_FOUND'
  /** GET of a key that has no live value. Definite (a read). */
  | 'KEY_NOT_FOUND'
  /** The If-Match / If-None-Match condition did not hold; nothing was written. Definite. */
  | 'PRECONDITION_FAILED'
  /** The body is larger than the value limit. Definite. */
  | 'VALUE_TOO_LARGE'
  /** The key is longer than the key limit. Definite. */
  | 'KEY_TOO_LARGE'
  /** A bearer token is required and was missing or wrong. Definite. */
  | 'UNAUTHORIZED'
  /** The node holds no scan for listing (an API without scanLocal). Definite. */
  | 'NOT_SUPPORTED'
  /** A bug in the door; for a write, it may have happened. Indefinite. */
  | 'INTERNAL';

export interface HttpError {
  status: number;
  code: HttpErrorCode;
  definite: boolean;
  message: string;
}

const STATUS_OF: Record<HttpErrorCode, number> = {
  QUORUM_UNAVAILABLE: 503,
  TIMEOUT: 504,
  CONTENTION: 503,
  NOT_INTEGER: 400,
  BAD_REQUEST: 400,
  NOT_READY: 503,
  OVERLOADED: 503,
  ROUTE_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  PRECONDITION_FAILED: 412,
  VALUE_TOO_LARGE: 413,
  KEY_TOO_LARGE: 414,
  UNAUTHORIZED: 401,
  NOT_SUPPORTED: 501,
  INTERNAL: 500,
};

/** Every code with its status, for the documentation and the OpenAPI document. */
export const ERROR_STATUSES: Readonly<Record<HttpErrorCode, number>> = STATUS_OF;

export function httpError(code: HttpErrorCode, message: string, definite = true): HttpError {
  return { status: STATUS_OF[code], code, definite, message };
}

/** The HTTP form of a cluster error: an indefinite one is 504 whatever its code. */
export function fromKvError(e: KvError): HttpError {
  const out = httpError(e.code, e.message, e.definite);
  return e.definite ? out : { ...out, status: 504 };
}

export function errorBody(e: HttpError): {
  error: { code: HttpErrorCode; definite: boolean; message: string };
} {
  return { error: { code: e.code, definite: e.definite, message: e.message } };
}
