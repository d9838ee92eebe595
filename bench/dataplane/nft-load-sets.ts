/**
 * What each set and map of a router's first nftables apply costs the kernel at N floating IPs: in a scratch
 * namespace, the structure through `nft -f` (renderStructure), then each set's elements through sfip-nft-load on
 * their own (the loader's input of one set), with the loader's wall, user and system time per set. Variants of the
 * structure, to weigh a proposal: `sized` declares every per-floating-IP set and map with `size` (the kernel then
 * picks a fixed-size hash instead of the resizable one), `uncounted` drops the counter flag of the counter sets.
 * `flock /work/bench.lock node --import tsx bench/dataplane/nft-load-sets.ts --fips 100000 --namespace hf-nls`
 * (after `npm run build`; needs root). Results go to stdout only.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ELEMENT_LOAD_HELPER, loadLines } from '../../src/dataplane/nftables/element-load.js';
import { renderStructure, tableName } from '../../src/dataplane/nftables/render.js';
import { run } from '../../src/exec/run.js';
import { inScratchNamespace, scratchRouter, timedIn } from './nft-scratch.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    namespace: { type: 'string', default: 'hf-nls' },
    rounds: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'as-rendered,sized,uncounted' },
  },
});
const fips = Number(values.fips);
const ns = values.namespace;
const desired = scratchRouter(ns, fips);
const table = tableName(desired.routerId);
const timed = (file: string, args: string[], input: string) => timedIn(ns, file, args, input);

const structure = renderStructure(desired);
/** The per-floating-IP sets' declarations, as renderStructure writes them: `set NAME { ...; }` / `map NAME { ...; }`. */
const perFip =
  /^ {2}(set|map) (fip2fixed|fixed2fip|icmp_\w+|fipcount_\w+|fips|fixeds|fixed_macs) \{ (.*); \}$/;
const variants: Record<string, (line: string) => string> = {
  'as-rendered': (l) => l,
  sized: (l) =>
    l.replace(perFip, (_, kind, name, body) => `  ${kind} ${name} { ${body}; size ${2 * fips}; }`),
  uncounted: (l) => (/^ {2}set fipcount_/.test(l) ? l.replace(' counter;', '') : l),
};
const lines = loadLines(desired.mappings);
const bySet = new Map<string, string[]>();
for (const line of lines.split('\n')) {
  if (!line) continue;
  const name = line.slice(0, line.indexOf(' '));
  (bySet.get(name) ?? bySet.set(name, []).get(name)!).push(line);
}

await inScratchNamespace(ns, async () => {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const variant of values.variants.split(',')) {
      const edit = variants[variant]!;
      await run('nft', ['delete', 'table', 'ip', table], { netns: ns, okExitCodes: [1] });
      await run('nft', ['-f', '-'], { netns: ns, input: structure.split('\n').map(edit).join('\n') });
      let total = { wall: 0, user: 0, sys: 0 };
      const parts: string[] = [];
      for (const [name, setLines] of bySet) {
        const t = await timed(ELEMENT_LOAD_HELPER, [table], setLines.join('\n') + '\n');
        total = { wall: total.wall + t.wall, user: total.user + t.user, sys: total.sys + t.sys };
        parts.push(`${name} ${t.wall.toFixed(0)}/${t.sys}`);
      }
      console.log(
        `round ${round} ${variant} (load ${loadavg()[0]!.toFixed(1)}): total wall ${total.wall.toFixed(0)} ms, ` +
          `user ${total.user} ms, sys ${total.sys} ms; per set wall/sys ms: ${parts.join(', ')}`,
      );
      // The whole load in one loader run, as the agent does.
      await run('nft', ['delete', 'table', 'ip', table], { netns: ns });
      await run('nft', ['-f', '-'], { netns: ns, input: structure.split('\n').map(edit).join('\n') });
      const whole = await timed(ELEMENT_LOAD_HELPER, [table], lines);
      console.log(
        `round ${round} ${variant}: one loader run: wall ${whole.wall.toFixed(0)} ms, user ${whole.user} ms, sys ${whole.sys} ms`,
      );
    }
  }
});
