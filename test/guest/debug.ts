import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import { deviceRebuildReasons, netfilterStructureMatches, planSteps } from '../../src/dataplane/tc/plan.js';
import { buildLab, destroyLab } from '../../src/lab/namespaces.js';
import { desiredFor, guestLab, mapping, reconcile } from './guest-lab.js';
import { run } from '../../src/exec/run.js';

const spec = guestLab('tqd');
await destroyLab(spec);
await buildLab(spec);
const dp = new TcDataplane();
const desired = desiredFor(spec, [
  mapping('203.0.113.11', '10.0.0.11'),
  mapping('203.0.113.12', '10.0.0.12'),
]);
const t0 = Date.now();
const plan = await reconcile(dp, desired);
console.log('first apply ms', Date.now() - t0);
console.log(plan.batch);
const actual = await dp.read(desired, desired);
console.log('structureMatches', actual.structureMatches, 'internal', actual.internalDevices);
for (const d of actual.devices)
  console.log(
    d.device,
    d.role,
    d.layout,
    d.foreign,
    deviceRebuildReasons(d, desired, dp.settings),
    d.trees.map((t) => [t.kind, t.problems, t.leaves.length]),
  );
console.log(
  'netfilter ok',
  netfilterStructureMatches(desired, actual.netfilter),
  [...actual.netfilter.chains],
  [...actual.netfilter.jumps],
);
console.log(JSON.stringify(planSteps(desired, actual, dp.settings).steps, null, 1));
console.log((await run('iptables-save', [], { netns: 'tqd-r1' })).stdout);
await destroyLab(spec);
