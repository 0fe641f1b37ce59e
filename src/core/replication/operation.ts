/**
 * The coordinator's side of one client request: a small state machine that sends requests to
 * replicas, gathers their answers, and replies to the client once it has enough. Each kind of
 * request (quorum read, quorum write, consensus) is one class implementing `Operation`.
 */
import type { CallId } from '../rpc/messages.js';
import type { NodeId, Random } from '../types.js';
import type { KvReply, ReplicaRequest, ReplicaResponse } from './messages.js';

/** How a call to a replica ended: its answer, or an error that says whether it was applied. */
export type CallResult =
  | { ok: true; response: ReplicaResponse }
  | { ok: false; error: { code: string; definite: boolean; message?: string } };

/** What an operation may do: call replicas, cancel calls, reply to its client once. */
export interface OperationIo {
  readonly nowMs: number;
  readonly random: Random;
  /** Sends `req` to `to` (retried by the RPC layer); the result arrives through `onResult`. */
  call(to: NodeId, req: ReplicaRequest, options?: { maxAttempts?: number }): CallId;
  /** The answer to this call is no longer needed: stop retrying it. */
  cancel(callId: CallId): void;
  /** Sends the client its reply. An operation replies exactly once. */
  reply(body: KvReply): void;
}

export interface Operation {
  /** The operation is over: nothing it sent still matters, it can be forgotten. */
  readonly finished: boolean;
  start(io: OperationIo): void;
  onResult(callId: CallId, from: NodeId, result: CallResult, io: OperationIo): void;
  /** Called on every tick: expire the deadline, run scheduled retries. */
  onTick(io: OperationIo): void;
}
