/**
 * A router's first nftables apply at N floating IPs, in a scratch namespace, two ways: the whole table in one
 * `nft -f` (renderFull), and the structure through `nft -f` then the elements through sfip-nft-load
 * (renderStructure + loadLines). Prints wall, user and system time of each child, and checks that both tables
 * list the same. `flock /work/bench.lock node --import tsx bench/dataplane/nft-load-scratch.ts --fips 100000
 * --namespace nl-scratch` (after `npm run build`).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ELEMENT_LOAD_HELPER, loadLines } from '../../src/dataplane/nftables/element-load.js';
import { renderFull, renderStructure, tableName } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { ipv4FromUint32 } from '../../src/model/index.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    namespace: { type: 'string', default: 'nl-scratch' },
    rounds: { type: 'string', default: '2' },
  },
});
const fips = Number(values.fips);
const ns = values.namespace;
const desired: DesiredRouter = {
  routerId: '9a0c4a3e-6a55-4d4f-8d5e-0b1c2d3e4f50',
  namespace: ns,
  gatewayDevice: 'qg-s',
  gatewayIp: ipv4FromUint32(0xc6336402),
  internalCidrs: ['10.0.0.0/8'],
  mappings: Array.from({ length: fips }, (_, i) => ({
    floatingIp: ipv4FromUint32(0x64400000 + i),
    fixedIp: ipv4FromUint32(0x0a000000 + i + 1),
    fixedMac: `fa:16:3e:${[16, 8, 0].map((s) => ((i >> s) & 255).toString(16).padStart(2, '0')).join(':')}`,
  })),
};
const table = tableName(desired.routerId);

/**
 * CPU time of this process's reaped children, in ms (/proc/self/stat cutime and cstime, in clock ticks of 10 ms):
 * `ip netns exec` and setpriv exec the program in place, so the difference over one run() is that program's.
 */
function childCpu(): { user: number; sys: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[13]) * 10, sys: Number(fields[14]) * 10 };
}

/** Runs a program in the namespace: wall time, and its user and system CPU. */
async function timed(
  file: string,
  args: string[],
  input: string,
): Promise<{ wall: number; user: number; sys: number }> {
  const before = childCpu();
  const t0 = performance.now();
  await run(file, args, { netns: ns, input });
  const wall = performance.now() - t0;
  const after = childCpu();
  return { wall, user: after.user - before.user, sys: after.sys - before.sys };
}

const listTable = async () => (await run('nft', ['list', 'table', 'ip', table], { netns: ns })).stdout;
const fmt = (t: { wall: number; user: number; sys: number }) =>
  `wall ${t.wall.toFixed(0)} ms, user ${t.user.toFixed(0)} ms, sys ${t.sys.toFixed(0)} ms`;

await run('ip', ['netns', 'add', ns]);
await run('ip', ['-n', ns, 'link', 'add', 'qg-s', 'type', 'veth', 'peer', 'name', 'qg-t']);
try {
  let r0 = performance.now();
  const full = renderFull(desired);
  console.log(`renderFull ${(performance.now() - r0).toFixed(0)} ms (${(full.length / 1e6).toFixed(1)} MB)`);
  r0 = performance.now();
  const structure = renderStructure(desired);
  const lines = loadLines(desired.mappings);
  console.log(
    `renderStructure + loadLines ${(performance.now() - r0).toFixed(0)} ms (${(lines.length / 1e6).toFixed(1)} MB)`,
  );
  let listings: string[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    await run('nft', ['delete', 'table', 'ip', table], { netns: ns, okExitCodes: [1] });
    console.log(
      `load ${loadavg()[0]!.toFixed(1)}: nft -f (whole table): ${fmt(await timed('nft', ['-f', '-'], full))}`,
    );
    const viaNft = await listTable();
    await run('nft', ['delete', 'table', 'ip', table], { netns: ns });
    const s = await timed('nft', ['-f', '-'], structure);
    const l = await timed(ELEMENT_LOAD_HELPER, [table], lines);
    console.log(`load ${loadavg()[0]!.toFixed(1)}: nft -f (structure): ${fmt(s)}; sfip-nft-load: ${fmt(l)}`);
    listings = [viaNft, await listTable()];
  }
  console.log(`listings equal: ${listings[0] === listings[1]} (${listings[0]!.length} bytes)`);
} finally {
  await run('ip', ['netns', 'del', ns]);
}
