/**
 * A router's first nftables apply at N floating IPs, in a scratch namespace, two ways: the whole table in one
 * `nft -f` (renderFull), and the structure through `nft -f` then the elements through sfip-nft-load
 * (renderStructure + loadLines). Prints wall, user and system time of each child, and checks that both tables
 * list the same. `flock /work/bench.lock node --import tsx bench/dataplane/nft-load-scratch.ts --fips 100000
 * --namespace nl-scratch` (after `npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ELEMENT_LOAD_HELPER, loadLines } from '../../src/dataplane/nftables/element-load.js';
import { renderFull, renderStructure, tableName } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
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

/** Runs a child in the namespace: wall time, and its user and system CPU as bash's `time` reports them. */
function timed(file: string, args: string[], input: string): { wall: number; user: number; sys: number } {
  const t0 = performance.now();
  const r = spawnSync(
    'bash',
    ['-c', 'TIMEFORMAT="%U %S"; time "$@" >/dev/null', 'x', 'ip', 'netns', 'exec', ns, file, ...args],
    {
      input,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${file} failed: ${r.stderr}`);
  const [user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall, user: user! * 1000, sys: sys! * 1000 };
}

const sh = (cmd: string) => {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const fmt = (t: { wall: number; user: number; sys: number }) =>
  `wall ${t.wall.toFixed(0)} ms, user ${t.user.toFixed(0)} ms, sys ${t.sys.toFixed(0)} ms`;

sh(`ip netns add ${ns} && ip -n ${ns} link add qg-s type veth peer name qg-t`);
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
    sh(`ip netns exec ${ns} nft delete table ip ${table} 2>/dev/null || true`);
    console.log(
      `load ${loadavg()[0]!.toFixed(1)}: nft -f (whole table): ${fmt(timed('nft', ['-f', '-'], full))}`,
    );
    const viaNft = sh(`ip netns exec ${ns} nft list table ip ${table}`);
    sh(`ip netns exec ${ns} nft delete table ip ${table}`);
    const s = timed('nft', ['-f', '-'], structure);
    const l = timed(ELEMENT_LOAD_HELPER, [table], lines);
    console.log(`load ${loadavg()[0]!.toFixed(1)}: nft -f (structure): ${fmt(s)}; sfip-nft-load: ${fmt(l)}`);
    listings = [viaNft, sh(`ip netns exec ${ns} nft list table ip ${table}`)];
  }
  console.log(`listings equal: ${listings[0] === listings[1]} (${listings[0]!.length} bytes)`);
} finally {
  sh(`ip netns del ${ns}`);
}
