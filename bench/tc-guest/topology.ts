import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/router-dataplane.js';
import { run } from '../../src/exec/run.js';
import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import type { TcOptions } from '../../src/dataplane/tc/options.js';
import type { DesiredRouter, FloatingMapping } from '../../src/dataplane/types.js';
import { ipv4FromUint32, parseIPv4, type IPv4 } from '../../src/model/ipv4.js';

/**
 * One benchmark router: a generator namespace (the outside), the router, and a sink (the VM). The floating IP under
 * test is the highest address of its router, so in the linear layout its filter is the last one u32 reaches.
 */
export interface BenchRouter {
  readonly name: string;
  /** null: plain routing, no sfip at all (the baseline). */
  readonly options: Partial<TcOptions> | null;
  readonly floatingIps: number;
  readonly ns: { readonly gen: string; readonly router: string; readonly sink: string };
}

export const EXTERNAL_HOST = parseIPv4('203.0.113.1');
export const GATEWAY_IP = parseIPv4('203.0.113.2');
/** The VM under test, and its floating IP: both the highest of their kind on every router. */
export const TARGET_FIXED = parseIPv4('10.255.255.11');
export const TARGET_FLOATING = parseIPv4('198.19.255.254');

/** n mappings; the target is one of them, sorted last by both floating and fixed address. */
export function benchMappings(n: number): FloatingMapping[] {
  const others = Array.from({ length: n - 1 }, (_, i) => ({
    floatingIp: ipv4FromUint32(0xc6120000 + i), // 198.18.0.0 upwards (RFC 2544 benchmarking range)
    fixedIp: ipv4FromUint32(0x0a010000 + i), // 10.1.0.0 upwards: nobody lives there
  }));
  return [...others, { floatingIp: TARGET_FLOATING, fixedIp: TARGET_FIXED }];
}

export function benchRouter(
  prefix: string,
  name: string,
  options: Partial<TcOptions> | null,
  n: number,
): BenchRouter {
  return {
    name,
    options,
    floatingIps: options ? n : 0,
    ns: { gen: `${prefix}-${name}-g`, router: `${prefix}-${name}-r`, sink: `${prefix}-${name}-s` },
  };
}

const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);

export async function macOf(ns: string, device: string): Promise<string> {
  const { stdout } = await run('ip', ['-j', 'link', 'show', 'dev', device], { netns: ns });
  return (JSON.parse(stdout) as { address: string }[])[0]!.address;
}

export function desiredOf(r: BenchRouter): DesiredRouter {
  return {
    routerId: '00000000-0000-4000-8000-' + Buffer.from(r.name).toString('hex').padStart(12, '0').slice(-12),
    namespace: r.ns.router,
    gatewayDevice: 'qg',
    gatewayIp: GATEWAY_IP,
    internalCidrs: ['10.0.0.0/8'],
    mappings: benchMappings(r.floatingIps).sort((a, b) => cmp(a.floatingIp, b.floatingIp)),
  };
}

const cmp = (a: IPv4, b: IPv4) => (ipKey(a) < ipKey(b) ? -1 : ipKey(a) > ipKey(b) ? 1 : 0);
const ipKey = (a: IPv4) =>
  a
    .split('.')
    .map((o) => o.padStart(3, '0'))
    .join('.');

/** Builds the three namespaces and, unless this is the baseline, programs the router with the tc backend. */
export async function buildBenchRouter(r: BenchRouter): Promise<void> {
  const { gen, router, sink } = r.ns;
  for (const ns of [gen, router, sink]) {
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  await ip(router, 'link', 'add', 'qg', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', gen);
  await ip(router, 'link', 'add', 'qr', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sink);
  await ip(gen, 'address', 'add', `${EXTERNAL_HOST}/24`, 'dev', 'eth0');
  await ip(router, 'address', 'add', `${GATEWAY_IP}/24`, 'dev', 'qg');
  await ip(router, 'address', 'add', '10.255.255.1/24', 'dev', 'qr');
  await ip(sink, 'address', 'add', `${TARGET_FIXED}/24`, 'dev', 'eth0');
  for (const [ns, dev] of [
    [gen, 'eth0'],
    [router, 'qg'],
    [router, 'qr'],
    [sink, 'eth0'],
  ] as const) {
    await ip(ns, 'link', 'set', dev, 'up');
  }
  await ip(sink, 'route', 'add', 'default', 'via', '10.255.255.1');
  await ip(gen, 'route', 'add', '10.0.0.0/8', 'via', GATEWAY_IP);
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: router });
  // Static neighbours: no ARP in the measured path.
  await ip(router, 'neigh', 'replace', EXTERNAL_HOST, 'lladdr', await macOf(gen, 'eth0'), 'dev', 'qg');
  await ip(router, 'neigh', 'replace', TARGET_FIXED, 'lladdr', await macOf(sink, 'eth0'), 'dev', 'qr');
  // Count and drop what arrives, at the earliest hook: the receivers send nothing back.
  for (const ns of [gen, sink]) {
    await run('nft', ['-f', '-'], {
      netns: ns,
      input:
        'table ip bench {\n  counter got { }\n  chain pre { type filter hook prerouting priority raw; policy accept; counter name got drop; }\n}\n',
    });
  }
  if (r.options) {
    const dp = new TcDataplane(run, { probeNamespace: `${router}-p`, ...r.options });
    await new RouterDataplane(dp, { ...WITHOUT_CHORES, run }).reconcile(desiredOf(r));
  }
}

export async function destroyBenchRouter(r: BenchRouter): Promise<void> {
  for (const ns of [r.ns.gen, r.ns.router, r.ns.sink])
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

export async function receivedPackets(ns: string): Promise<number> {
  const { stdout } = await run('nft', ['-j', 'list', 'counter', 'ip', 'bench', 'got'], { netns: ns });
  const objects = (JSON.parse(stdout) as { nftables: { counter?: { packets: number } }[] }).nftables;
  return objects.find((o) => o.counter)!.counter!.packets;
}
