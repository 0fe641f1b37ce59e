/** The TCP transport against the peer-transport contract. */
import { Cluster } from './helpers.js';
import { describeTransportContract } from './transport.contract.js';

describeTransportContract('tcp', () => {
  const cluster = new Cluster();
  return { add: (id) => cluster.start(id), dispose: () => cluster.closeAll() };
});
