/**
 * Who this node is, and which start of it this is, kept on disk in the `meta` table:
 *
 * - `node-id`: the node's name in the cluster, chosen at the first start (`--id`, or `n-` and 8
 *   random hex digits) and never changed: the ring, other nodes' hints and version vectors all
 *   name the node by it. A later `--id` that differs is refused (`DATA_DIR_MISMATCH`): the
 *   directory holds another node's data.
 * - `epoch`: 1 at the first start, +1 at every start. The RPC layer stamps call ids with it so
 *   that no id repeats across restarts (src/core/rpc/endpoint.ts), so the new value must be on
 *   disk before the first message of this start leaves: otherwise a crash right after sending
 *   could let the next start reuse the epoch, and with it call ids peers have cached answers for.
 */
import { randomBytes } from 'node:crypto';
import type { NodeStore } from '../adapters/storage/types.js';
import type { NodeId } from '../core/types.js';
import { messageOf, RuntimeError } from './errors.js';

export const NODE_ID_KEY = new TextEncoder().encode('node-id');
export const EPOCH_KEY = new TextEncoder().encode('epoch');

/** Node names: letters, digits, `.`, `_`, `-`; at most 64 characters. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface Identity {
  nodeId: NodeId;
  epoch: number;
  /** The store held no identity: this node never ran before. */
  firstStart: boolean;
}

export function generateNodeId(): NodeId {
  return `n-${randomBytes(4).toString('hex')}`;
}

/** Reads (or creates) the node id, raises the epoch, and waits until both are durable. */
export async function establishIdentity(
  store: Pick<NodeStore, 'get' | 'apply' | 'flushed'>,
  requestedId: NodeId | undefined,
): Promise<Identity> {
  const storedId = store.get<NodeId>('meta', NODE_ID_KEY);
  if (storedId !== undefined && requestedId !== undefined && storedId !== requestedId) {
    throw new RuntimeError(
      'DATA_DIR_MISMATCH',
      `this data directory belongs to node '${storedId}', not '${requestedId}': start it without --id ` +
        `(or with --id ${storedId}), or give '${requestedId}' its own --data directory`,
    );
  }
  const nodeId = storedId ?? requestedId ?? generateNodeId();
  const previousEpoch = store.get<number>('meta', EPOCH_KEY) ?? 0;
  const epoch = previousEpoch + 1;
  try {
    store.apply([
      { table: 'meta', key: NODE_ID_KEY, value: nodeId },
      { table: 'meta', key: EPOCH_KEY, value: epoch },
    ]);
    await store.flushed();
  } catch (e) {
    throw new RuntimeError('STORAGE_WRITE_FAILED', `cannot record this start's epoch: ${messageOf(e)}`, {
      cause: e,
    });
  }
  return { nodeId, epoch, firstStart: storedId === undefined };
}
