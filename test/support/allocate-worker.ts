// A separate process allocating floating IPs from a shared SQLite file, for the allocation race test.
import { createFloatingIp, SfipError } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { adminContext } from './model-fixture.js';

const [path, networkId, count] = process.argv.slice(2) as [string, string, string];
const store = new SqliteStore({ path });
const ctx = adminContext();
const out: string[] = [];
for (let i = 0; i < Number(count); i++) {
  try {
    out.push(
      (await store.update((tx) => createFloatingIp(tx, ctx, { floatingNetworkId: networkId })))
        .floatingIpAddress,
    );
  } catch (error) {
    if (error instanceof SfipError && error.type === 'ExternalIpAddressExhausted') out.push('EXHAUSTED');
    else throw error;
  }
}
await store.close();
process.stdout.write(JSON.stringify(out));
