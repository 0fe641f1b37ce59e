/**
 * Every way the transport refuses bytes, a peer or a connection has a stable code. Logs, the
 * `rejected` and `disconnected` events and the metrics all carry the code, so an operator can
 * count and grep them, and tests can assert on them without matching message text.
 */

/** A frame could not be encoded or decoded. The connection that produced it is closed. */
export type FrameErrorCode =
  /** the header announces a payload above the limit; rejected before any payload is buffered */
  | 'FRAME_TOO_LARGE'
  /** the first bytes are not the frame magic: not an Arpeggio peer (an HTTP client, a scanner) */
  | 'BAD_MAGIC'
  /** a frame format version this build does not speak */
  | 'BAD_VERSION'
  /** flag bits this build does not know */
  | 'BAD_FLAGS'
  /** the payload's CRC-32C does not match the header: corrupted in transit or forged */
  | 'BAD_CHECKSUM'
  /** the payload is not valid msgpack, or decodes to something other than plain data */
  | 'BAD_PAYLOAD'
  /** a local message cannot be sent: not plain data, or nested too deeply (nothing was sent) */
  | 'UNENCODABLE';

/** The handshake failed: the peer is not (or could not be proven to be) a cluster member. */
export type HandshakeErrorCode =
  /** the peer did not finish the handshake in time (silence, a slow-loris, a stalled dial) */
  | 'HANDSHAKE_TIMEOUT'
  /** a malformed or out-of-order handshake message */
  | 'BAD_HANDSHAKE'
  /** the peer's HMAC proof is wrong: it does not hold the cluster secret */
  | 'BAD_PROOF'
  /** the peer belongs to another cluster */
  | 'CLUSTER_MISMATCH'
  /** the peer speaks another handshake protocol version */
  | 'VERSION_MISMATCH'
  /** a dial reached a node other than the one it was meant for (stale address) */
  | 'UNEXPECTED_PEER'
  /** the peer claims our own node id: a dial to ourselves, or a reflected handshake */
  | 'SELF_CONNECT'
  /** the peer refused us and said why (the reason is in the message) */
  | 'PEER_REJECTED';

/** Why an established or half-open connection ended. */
export type ConnectionErrorCode =
  /** a peer started a frame and did not finish it in time */
  | 'FRAME_TIMEOUT'
  /** nothing at all arrived from the peer for too long (keepalives included) */
  | 'IDLE_TIMEOUT'
  /** TCP connect failed (refused, unreachable, reset) */
  | 'CONNECT_FAILED'
  /** the socket failed or was reset after it connected */
  | 'SOCKET_ERROR'
  /** the peer closed the connection */
  | 'PEER_CLOSED'
  /** two connections to one peer; this one lost the tie-break and was closed */
  | 'DUPLICATE_CONNECTION'
  /** TLS negotiation failed (no client certificate, unknown CA, …) */
  | 'TLS_ERROR'
  /** the peer was forgotten (`forget(id)`) */
  | 'FORGOTTEN'
  /** too many connections were still in their handshake; this one was closed on arrival */
  | 'TOO_MANY_HANDSHAKES'
  /** this transport is closing */
  | 'TRANSPORT_CLOSED';

export type TransportErrorCode = FrameErrorCode | HandshakeErrorCode | ConnectionErrorCode;

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly code: TransportErrorCode,
    /** What happened, without the code (the message is `CODE: detail`). */
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** Whether `e` is a TransportError, optionally with the given code. */
export function isTransportError(e: unknown, code?: TransportErrorCode): e is TransportError {
  return e instanceof TransportError && (code === undefined || e.code === code);
}
