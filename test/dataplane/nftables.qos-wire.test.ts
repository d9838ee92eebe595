import { tableName } from '../../src/dataplane/nftables/render.js';
import { runQosWire } from './qos-wire.js';

runQosWire({
  backend: 'nftables',
  prefix: `sfq${process.pid % 10000}`,
  bandwidthBucketExtraSeconds: 1,
  // The limit is an element of the qos_in_bw set: deleting it is what an operator's `nft delete element` does.
  removeIngressLimitByHand: async (f, floatingIp) => {
    const table = tableName(f.router('r1').routerId);
    await f.inRouter('r1', 'nft', ['delete', 'element', 'ip', table, 'qos_in_bw', `{ ${floatingIp} }`]);
  },
});
