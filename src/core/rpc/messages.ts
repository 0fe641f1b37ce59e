/**
 * What the RPC layer puts on the wire, and the errors a call can end with.
 *
 * Messages are plain objects of strings, numbers and booleans around the caller's payload, so
 * they marshal with msgpack (runtime) and pass by reference (simulator) alike.
 */
import type { NodeId } from '../types.js';

/**
 * A call's id: `<caller epoch>.<caller sequence number>`, e.g. `"3.17"`. Unique per caller across
 * restarts because the epoch changes at every start; opaque to everyone but its caller.
 */
export type CallId = string;

/** A request. Every attempt of one call carries the same `id`, which is how the callee spots a retry. */
export interface RpcRequestMessage<Req> {
  type: 'rpc-req';
  id: CallId;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  /** The callee may run the handler again for a copy instead of replaying the first answer. */
  idempotent: boolean;
  /**
   * The callee's epoch as the caller knew it when the first attempt left (0: unknown). A callee
   * that restarted recently refuses a retry not addressed to its own epoch, since an earlier
   * attempt may have reached its predecessor, whose memory of answers is gone.
   */
  toEpoch: number;
  payload: Req;
}

/** The answer to a request. */
export interface RpcResponseMessage<Res> {
  type: 'rpc-res';
  id: CallId;
  /** The attempt this copy answers (a replayed answer echoes the retry's number). */
  attempt: number;
  /** The responder's epoch, which callers pin later calls to. */
  epoch: number;
  payload: Res;
}

/** A refusal: the handler's typed error, or the RPC layer's own (see `RpcErrorCode`). */
export interface RpcErrorMessage {
  type: 'rpc-err';
  id: CallId;
  attempt: number;
  epoch: number;
  error: RpcError;
}

export type RpcMessage<Req, Res> = RpcRequestMessage<Req> | RpcResponseMessage<Res> | RpcErrorMessage;

/** True for messages the RPC layer owns; a node routes those to `RpcEndpoint.receive`. */
export function isRpcMessage(msg: unknown): msg is RpcMessage<unknown, unknown> {
  if (msg === null || typeof msg !== 'object' || !('type' in msg)) return false;
  const type = (msg as { type: unknown }).type;
  return type === 'rpc-req' || type === 'rpc-res' || type === 'rpc-err';
}

/**
 * Codes the RPC layer itself produces. Handlers add their own (e.g. `NOT_OWNER`); those pass
 * through to the caller unchanged, with `fromPeer: true`.
 *
 * | code             | definite?                  | meaning |
 * |------------------|----------------------------|---------|
 * | `TIMEOUT`        | no                         | no answer after every attempt; the peer may have applied it |
 * | `CIRCUIT_OPEN`   | yes if nothing was sent    | the peer's breaker is open; failed fast |
 * | `OVERLOADED`     | yes                        | too many calls in progress to the peer (or the peer said so) |
 * | `CANCELLED`      | yes if nothing was sent    | the caller cancelled the call |
 * | `PEER_RESTARTED` | no                         | the callee restarted and cannot tell whether this retry was applied |
 * | `DEDUP_OVERFLOW` | no                         | the callee evicted answers early and cannot tell whether this retry was applied |
 */
export type RpcErrorCode =
  | 'TIMEOUT'
  | 'CIRCUIT_OPEN'
  | 'OVERLOADED'
  | 'CANCELLED'
  | 'PEER_RESTARTED'
  | 'DEDUP_OVERFLOW'
  // Handler codes: any other string. `string & {}` keeps the literal names visible in editors.
  | (string & {});

export interface RpcError {
  code: RpcErrorCode;
  /** true: the request was certainly not applied, so retrying is always safe. false: it may have been. */
  definite: boolean;
  message: string;
  /** true when the callee sent this error; false when the caller's own endpoint decided it. */
  fromPeer?: boolean;
}

/** How a call ended. Every call started by `call` ends exactly once. */
export type RpcCompletion<Res> =
  | { callId: CallId; to: NodeId; ok: true; response: Res; attempts: number; latencyMs: number }
  | { callId: CallId; to: NodeId; ok: false; error: RpcError; attempts: number; latencyMs: number };

/**
 * A handler's refusal: returned instead of a response, sent as `rpc-err`. `definite` says
 * whether the handler guarantees it changed nothing.
 */
export class RpcRefusal {
  constructor(
    readonly code: string,
    readonly definite: boolean,
    readonly message: string,
  ) {}
}

export function refuse(code: string, definite: boolean, message: string): RpcRefusal {
  return new RpcRefusal(code, definite, message);
}

/**
 * Returned by a handler that will answer later with `RpcEndpoint.reply` (e.g. after calling
 * another node). Copies that arrive meanwhile are dropped, not handled again.
 */
export const DEFER: unique symbol = Symbol('rpc.defer');
export type Deferred = typeof DEFER;
