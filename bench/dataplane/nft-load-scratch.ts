/**
 * A router's first nftables apply at N floating IPs, in a scratch namespace, two ways: the whole table in one
 * `nft -f` (renderFull), and the structure through `nft -f` then the elements through sfip-nft-load
 * (renderStructure + loadLines). Prints wall, user and system time of each child, and checks that both tables
 * list the same. `flock /work/bench.lock node --import tsx bench/dataplane/nft-load-scratch.ts --fips 100000
 * --namespace nl-scratch` (after `npm run build`).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ELEMENT_LOAD_HELPER, loadLines } from '../../src/dataplane/nftables/element-load.js';
import { renderFull, renderStructure, tableName } from '../../src/dataplane/nftables/render.js';
import { run } from '../../src/exec/run.js';
import { inScratchNamespace, scratchRouter, timedIn } from './nft-scratch.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    namespace: { type: 'string', default: 'nl-scratch' },
    rounds: { type: 'string', default: '2' },
  },
});
const fips = Number(values.fips);
const ns = values.namespace;
const desired = scratchRouter(ns, fips);
const table = tableName(desired.routerId);
const timed = (file: string, args: string[], input: string) => timedIn(ns, file, args, input);

const listTable = async () => (await run('nft', ['list', 'table', 'ip', table], { netns: ns })).stdout;
const fmt = (t: { wall: number; user: number; sys: number }) =>
  `wall ${t.wall.toFixed(0)} ms, user ${t.user.toFixed(0)} ms, sys ${t.sys.toFixed(0)} ms`;

await inScratchNamespace(ns, async () => {
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
});
