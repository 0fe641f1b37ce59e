/**
 * What the runtime needs from any peer transport (TCP now; an in-process one could follow),
 * and what the transport contract suite (test/adapters/transport/transport.contract.ts) checks.
 */
import type { NodeId } from '../../core/types.js';

export interface PeerTransport {
  readonly nodeId: NodeId;
  /**
   * Hands `msg` (plain data) to the transport for `to` and returns at once; never throws.
   * Delivery is best effort: a message may be dropped (and counted), never duplicated or
   * altered; messages to one peer arrive in the order sent while a connection lasts.
   */
  send(to: NodeId, msg: unknown): void;
  /** Registers the receiver of messages from proven peers; returns its removal. */
  onMessage(handler: (from: NodeId, msg: unknown) => void): () => void;
  /** Stops sending and receiving; resolves once every connection is closed. */
  close(): Promise<void>;
}
