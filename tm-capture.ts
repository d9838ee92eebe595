import { renderFull, tableName } from './src/dataplane/nftables/render.js';
import { parseIPv4 as ip } from './src/model/index.js';
import { run } from './src/exec/run.js';
import { writeFileSync } from 'node:fs';
const desired = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6', namespace: 'qrouter-1', gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'), internalCidrs: ['10.0.0.0/24', '10.1.0.0/24'],
  mappings: [ { floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') }, { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12') } ],
};
const ns = 'tmcap1';
await run('ip', ['netns', 'add', ns]);
try {
  await run('nft', ['-f', '-'], { netns: ns, input: renderFull(desired) });
  const out = (await run('nft', ['-j', 'list', 'table', 'ip', tableName(desired.routerId)], { netns: ns })).stdout;
  writeFileSync./test/golden/nftables-list-table.json', out);
} finally { await run('ip', ['netns', 'del', ns]); }
