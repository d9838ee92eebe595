/**
 * A router's first nftables apply at N floating IPs through the router layer (RouterDataplane: the backend's
 * batch, then the floating addresses and conntrack cleanup), with the preparations a full pass makes for after the
 * apply (the reconciler's applied record and its status entries), in a scratch namespace: this tree and, with
 * --baseline-src, another tree's src/ (e.g. `git archive <commit> | tar -x -C DIR` and `npm run build` there, for
 * its element loader), alternating, so both see the same machine. The daemon's converge, less its store read and
 * status write. `flock /work/bench.lock node --import tsx bench/dataplane/first-apply-ab.ts --fips 100000
 * --baseline-src /tmp/base/src --namespace hf-fa` (root; results to stdout only).
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { statusChanges, type ReportedFloatingIp } from '../../src/agent/status-writer.js';
import { NftablesDataplane, RouterDataplane } from '../../src/dataplane/index.js';
import { inScratchNamespace, scratchRouter } from './nft-scratch.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    namespace: { type: 'string', default: 'hf-fa' },
    reps: { type: 'string', default: '4' },
    'baseline-src': { type: 'string' },
  },
});
const ns = values.namespace;
const desired = scratchRouter(ns, Number(values.fips));
const reported: ReportedFloatingIp[] = desired.mappings.map((m, i) => ({
  id: `fip-${String(i).padStart(8, '0')}`,
  routerId: desired.routerId,
  fixedIpAddress: m.fixedIp,
  status: 'DOWN',
  statusReason: '',
}));

interface Tree {
  readonly name: string;
  readonly NftablesDataplane: typeof NftablesDataplane;
  readonly RouterDataplane: typeof RouterDataplane;
  readonly statusChanges: typeof statusChanges;
}
const trees: Tree[] = [{ name: 'this', NftablesDataplane, RouterDataplane, statusChanges }];
if (values['baseline-src']) {
  const src = values['baseline-src'];
  const dataplane = (await import(resolve(src, 'dataplane/index.ts'))) as Tree;
  const writer = (await import(resolve(src, 'agent/status-writer.ts'))) as Tree;
  trees.push({ ...dataplane, statusChanges: writer.statusChanges, name: 'baseline' });
}

await inScratchNamespace(ns, async () => {
  for (let rep = 0; rep < Number(values.reps); rep++) {
    for (const tree of rep % 2 ? [...trees].reverse() : trees) {
      const layer = new tree.RouterDataplane(new tree.NftablesDataplane(), {
        garp: null,
        conntrackCleanup: true,
        warmChannels: true,
      });
      await layer.remove(desired);
      const actual = await layer.read(desired);
      const plan = layer.plan(desired, actual);
      const t0 = performance.now();
      let entries = 0;
      await layer.apply(plan, desired, actual, () => {
        // The reconciler's meanwhile: its applied record by id, and its status entries sorted by id.
        const byId = new Map(desired.mappings.map((m, i) => [reported[i]!.id, m]));
        entries = tree.statusChanges(reported, 'ACTIVE', '').length + byId.size;
      });
      const ms = performance.now() - t0;
      console.log(
        `${tree.name}: first apply of ${plan.added.length} (${entries / 2} entries) ${ms.toFixed(0)} ms, load ${loadavg()[0]!.toFixed(1)}`,
      );
      await layer.remove(desired);
    }
  }
});
process.exit(0);
