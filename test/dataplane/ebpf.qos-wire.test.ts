import { run } from '../../src/exec/run.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { openPinnedMap, readValue } from '../../src/dataplane/ebpf/maps.js';
import { qosDrops } from '../../src/dataplane/ebpf/qos.js';
import { listGenerations } from '../../src/dataplane/ebpf/read.js';
import { addressBytes } from '../../src/dataplane/ebpf/values.js';
import type { DataplaneFixture } from '../support/dataplane-fixture.js';
import { runQosWire } from './qos-wire.js';

/** The router's pinned qos map (its one generation). */
async function qosMapPath(f: DataplaneFixture): Promise<string> {
  const routerDir = `${PIN_ROOT}/${f.router('r1').routerId}`;
  const [generation, ...more] = await listGenerations(routerDir);
  if (!generation || more.length > 0) throw new Error(`expected one generation in ${routerDir}`);
  return `${routerDir}/${generation}/qos`;
}

runQosWire({
  backend: 'ebpf',
  prefix: `sfqb${process.pid % 10000}`,
  // An operator's `bpftool map delete`: the floating IP's four buckets go.
  removeIngressLimitByHand: async (f, floatingIp) => {
    const key = [...addressBytes(floatingIp)].map(String);
    await run('bpftool', ['map', 'delete', 'pinned', await qosMapPath(f), 'key', ...key]);
  },
  drops: async (f, floatingIp) => {
    const map = openPinnedMap(await qosMapPath(f));
    if (!map) throw new Error('no qos map');
    try {
      const value = readValue(map, addressBytes(floatingIp));
      const drops = value ? qosDrops(value) : { inbound: 0n, outbound: 0n };
      return { inbound: Number(drops.inbound), outbound: Number(drops.outbound) };
    } finally {
      map.close();
    }
  },
});
