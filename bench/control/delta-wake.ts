/**
 * The agent's wake-up for one association, without HTTP or a kernel: on the fake dataplane, the time from a store
 * update's commit (its promise resolving) to the router's delta reaching the dataplane, for `--samples` changes
 * (associate, then disassociate, in turn) each after a quiet spell of `--gap-ms`, as an operator's associations
 * come. Prints p50/p90/max and the load average. Compare two trees by running each one's copy of this file.
 *   node --import tsx bench/control/delta-wake.ts [--samples 400] [--gap-ms 20]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createFloatingIp, updateFloatingIp } from '../../src/model/index.js';
import { smallCloud } from '../../test/support/model-fixture.js';
import { startedFakeAgent } from '../../test/support/fake-agent.js';
import { quantile } from '../stats.js';

const { values } = parseArgs({
  options: { samples: { type: 'string', default: '400' }, 'gap-ms': { type: 'string', default: '20' } },
});
const c = await smallCloud();
const { agent, dp } = await startedFakeAgent(c.store);
const fip = await c.store.update((tx) =>
  createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
);
await agent.sync();
const waits: number[] = [];
for (let k = 0; k < Number(values.samples); k++) {
  await new Promise((r) => setTimeout(r, Number(values['gap-ms'])));
  const applies = dp.applied.length;
  await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: k % 2 === 0 ? null : c.vm1 }));
  const committed = performance.now();
  while (dp.applied.length === applies) await new Promise((r) => setImmediate(r));
  waits.push(performance.now() - committed);
}
waits.sort((a, b) => a - b);
const ms = (q: number) => quantile(waits, q).toFixed(2);
console.log(
  `commit → delta applied over ${waits.length}: p50 ${ms(0.5)} ms, p90 ${ms(0.9)} ms, max ${waits.at(-1)!.toFixed(2)} ms; load ${loadavg()[0]!.toFixed(2)}`,
);
await agent.stop();
await c.store.close();
