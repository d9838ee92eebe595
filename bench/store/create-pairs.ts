/**
 * What creating a port and a floating IP on it costs the SQLite store and the model, without HTTP or the agent:
 * on a copy of a populated store, N pairs created as the API creates them (the port in one update, then the
 * floating IP in another, ids from the API's generator), `--group` pairs at a time so that their updates share
 * group commits as concurrent clients' do. Prints the process CPU per pair (user and system).
 *
 *   node --import tsx bench/store/create-pairs.ts --template DIR [--pairs 2000] [--group 16] [--dist DIR]
 *
 * DIR is a store populated by bench/control/fill-profile.ts --template DIR (its sfip.db and ids.json). --dist: the
 * build to measure (default this checkout's dist/), e.g. another commit's, for before and after. Not a test: the
 * figures depend on the machine and its load.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Model from '../../src/model/index.js';
import type * as ResourceId from '../../src/api/resource-id.js';
import type * as Sqlite from '../../src/store/sqlite/sqlite-store.js';
import type { ScalePopulatedIds } from '../control/populate-scale.js';

const { values } = parseArgs({
  options: {
    template: { type: 'string' },
    pairs: { type: 'string', default: '2000' },
    group: { type: 'string', default: '16' },
    dist: { type: 'string', default: join(import.meta.dirname, '../../dist') },
  },
});
if (!values.template)
  throw new Error('--template DIR: a populated store (see bench/control/fill-profile.ts)');
const pairs = Number(values.pairs);
const group = Number(values.group);
const load = <T>(path: string) => import(pathToFileURL(join(resolve(values.dist), path)).href) as Promise<T>;
const model = await load<typeof Model>('model/index.js');
const { newResourceId } = await load<typeof ResourceId>('api/resource-id.js');
const { SqliteStore } = await load<typeof Sqlite>('store/sqlite/sqlite-store.js');

const dir = mkdtempSync(join(tmpdir(), 'sfip-create-pairs-'));
try {
  cpSync(join(values.template, 'sfip.db'), join(dir, 'sfip.db'));
  const ids = JSON.parse(readFileSync(join(values.template, 'ids.json'), 'utf8')) as ScalePopulatedIds;
  const ctx: Model.Context = {
    projectId: 'bench',
    isAdmin: true,
    now: () => new Date().toISOString(),
    newId: () => newResourceId(),
    allocationHints: new Map(),
  };
  const store = new SqliteStore({ path: join(dir, 'sfip.db') });
  const networkId = ids.routers[0]!.internalNetworkId;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < pairs; i += group) {
    const size = Math.min(group, pairs - i);
    const ports = await Promise.all(
      Array.from({ length: size }, (_, k) =>
        store.update((tx) =>
          model.createPort(model.quotaTx(tx, ctx), ctx, { networkId, name: `pair-${i + k}` }),
        ),
      ),
    );
    await Promise.all(
      ports.map((port) =>
        store.update((tx) =>
          model.createFloatingIp(model.quotaTx(tx, ctx), ctx, {
            floatingNetworkId: ids.externalNetworkId,
            portId: port.id,
          }),
        ),
      ),
    );
  }
  const cpu = process.cpuUsage(cpu0);
  const perPair = (us: number) => (us / 1000 / pairs).toFixed(3);
  console.log(
    `${pairs} pairs, ${group} at a time: ${(performance.now() - started).toFixed(0)} ms, CPU per pair ` +
      `${perPair(cpu.user + cpu.system)} ms (user ${perPair(cpu.user)}, system ${perPair(cpu.system)}); ` +
      `load ${loadavg()[0]!.toFixed(2)}`,
  );
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
