/** `import { connect } from 'arpeggio/client'`: the TypeScript client of the HTTP API (docs/CLIENT.md). */

export type { Consistency } from '../core/replication/messages.js';
export {
  Client,
  type ClientComponents,
  type ClusterMember,
  type ClusterPage,
  type ClusterView,
  type ConnectOptions,
  connect,
  type Entry,
  etagOf,
  type GetOptions,
  type LocalPage,
  Session,
  type SetOptions,
  type Value,
} from './client.js';
export { ArpeggioError, type ClientErrorCode } from './errors.js';
