/**
 * Converge and restart of one lab router holding N floating IPs, with the daemon's CPU profile: where a full pass
 * spends its time. `node --import tsx bench/control/converge-profile.ts --fips 100000 --backend nftables
 * --prof-dir DIR` (after `npm run build`). Prints converge and restart times and RSS; the profiles
 * (converge.cpuprofile, restart.cpuprofile) land in DIR.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendName } from '../../src/model/index.js';
import { benchTopology, buildTopology, destroyTopology } from '../topology.js';
import { populateStore } from './populate.js';
import { ServerProcess } from './processes.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    backend: { type: 'string', default: 'nftables' },
    'prof-dir': { type: 'string' },
    port: { type: 'string', default: '29700' },
  },
});
const fips = Number(values.fips);
const port = Number(values.port);
const t = benchTopology('cvp', ['cp']);
const r = t.routers[0]!;
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-converge-'));
const url = `http://127.0.0.1:${port}`;
const profile = (name: string) =>
  values['prof-dir']
    ? ['--cpu-prof', `--cpu-prof-dir=${values['prof-dir']}`, `--cpu-prof-name=${name}.cpuprofile`]
    : [];
try {
  await buildTopology(t);
  const p0 = performance.now();
  await populateStore(stateDir, t, r.namespace, values.backend as BackendName, fips, 0);
  console.log(`populated ${fips} in ${(performance.now() - p0).toFixed(0)} ms`);
  let server = new ServerProcess(stateDir, port, profile('converge'));
  const converge = await server.whenReady(url, 600_000);
  const m1 = server.memory();
  console.log(
    `converge ${converge.toFixed(0)} ms, RSS ${m1.rssMiB.toFixed(0)} MiB (peak ${m1.peakMiB.toFixed(0)})`,
  );
  await server.stop();
  server = new ServerProcess(stateDir, port, profile('restart'));
  const restart = await server.whenReady(url, 600_000);
  const m2 = server.memory();
  console.log(
    `restart ${restart.toFixed(0)} ms, RSS ${m2.rssMiB.toFixed(0)} MiB (peak ${m2.peakMiB.toFixed(0)})`,
  );
  await server.stop();
} finally {
  await destroyTopology(t);
  rmSync(stateDir, { recursive: true, force: true });
}
