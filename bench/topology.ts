import { run } from '../src/exec/run.js';
import { signalNamespaceProcesses } from '../src/lab/namespaces.js';
import {
  ipv4FromUint32,
  ipv4ToUint32,
  parseDeviceName,
  parseIPv4,
  parseNamespaceName,
  type IPv4,
} from '../src/model/index.js';

/**
 * The benchmark's own topology, large enough for 100,000 floating IPs. One router namespace per configuration
 * under test, so configurations can be interleaved without reinstalling 100,000 rules between samples:
 *
 *   gen (g-<name>) ==== (qg-bench 100.64.0.2/14) <prefix>-r-<name> (qr-bench 10.127.255.4k+1/30) ==== (s-<name>) sink
 *
 * Floating IPs come from 100.65.0.0 upwards and fixed IPs from 10.128.1.0 upwards. 100.64.0.0/10 is the
 * shared address space (RFC 6598), used because the documentation ranges hold only 768 addresses; nothing
 * here is routed out of these namespaces. The sink owns the whole fixed range (10.128.0.0/14) through a local
 * route, so one namespace stands in for 100,000 VMs without 100,000 neighbour entries on the router.
 */
export interface BenchRouter {
  readonly name: string;
  readonly namespace: string;
  /** The generator's device facing this router, and the sink's. */
  readonly genDevice: string;
  readonly sinkDevice: string;
  readonly sinkLinkIp: IPv4;
}

export interface BenchTopology {
  readonly prefix: string;
  readonly gen: string;
  readonly sink: string;
  readonly routers: readonly BenchRouter[];
  readonly gatewayDevice: string;
  readonly internalDevice: string;
  readonly genIp: IPv4;
  readonly gatewayIp: IPv4;
  readonly externalCidr: string;
  readonly fixedCidr: string;
}

export function benchTopology(prefix: string, routerNames: readonly string[]): BenchTopology {
  return {
    prefix,
    gen: parseNamespaceName(`${prefix}-gen`),
    sink: parseNamespaceName(`${prefix}-sink`),
    routers: routerNames.map((name, k) => ({
      name,
      namespace: parseNamespaceName(`${prefix}-r-${name}`),
      genDevice: parseDeviceName(`g-${name}`),
      sinkDevice: parseDeviceName(`s-${name}`),
      sinkLinkIp: ipv4FromUint32(ipv4ToUint32(parseIPv4('10.127.255.2')) - 4 * k),
    })),
    gatewayDevice: 'qg-bench',
    internalDevice: 'qr-bench',
    genIp: parseIPv4('100.64.0.1'),
    gatewayIp: parseIPv4('100.64.0.2'),
    externalCidr: '100.64.0.0/14',
    fixedCidr: '10.128.0.0/14',
  };
}

export function routerOf(t: BenchTopology, name: string): BenchRouter {
  const r = t.routers.find((x) => x.name === name);
  if (!r) throw new Error(`No bench router named ${name}`);
  return r;
}

const FIRST_FLOATING = ipv4ToUint32(parseIPv4('100.65.0.0'));
// 10.128.0.0 is the subnet's own address and 10.128.0.1 its gateway in the model: fixed IPs start above.
const FIRST_FIXED = ipv4ToUint32(parseIPv4('10.128.1.0'));
/** Enough for the 100,000 of the issue plus spare addresses for associate-latency samples. */
export const MAX_FLOATING = 131_072;

export const floatingIpOf = (i: number): IPv4 => ipv4FromUint32(FIRST_FLOATING + i);
export const fixedIpOf = (i: number): IPv4 => ipv4FromUint32(FIRST_FIXED + i);

const ip = (netns: string, ...args: string[]) => run('ip', ['-n', netns, ...args]);
const sysctl = (netns: string, setting: string) => run('sysctl', ['-q', '-w', setting], { netns });

export const namespacesOf = (t: BenchTopology) => [t.gen, t.sink, ...t.routers.map((r) => r.namespace)];

export async function destroyTopology(t: BenchTopology): Promise<void> {
  for (const ns of namespacesOf(t)) {
    // Kill what still runs inside (trafgen, probes) before the namespace goes.
    await signalNamespaceProcesses(ns, 'SIGKILL');
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

/** The router end of the sink link: one below the sink's address in the same /30. */
export const routerLinkIp = (r: BenchRouter) => ipv4FromUint32(ipv4ToUint32(r.sinkLinkIp) - 1);

export async function buildTopology(t: BenchTopology): Promise<void> {
  await destroyTopology(t);
  for (const ns of namespacesOf(t)) {
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  for (const [k, r] of t.routers.entries()) {
    const ns = r.namespace;
    await ip(ns, 'link', 'add', t.gatewayDevice, 'type', 'veth', 'peer', 'name', r.genDevice, 'netns', t.gen);
    await ip(
      ns,
      'link',
      'add',
      t.internalDevice,
      'type',
      'veth',
      'peer',
      'name',
      r.sinkDevice,
      'netns',
      t.sink,
    );
    // Only the first router's link carries the generator's address: the control-plane benchmark talks through it
    // with ordinary sockets. The forwarding benchmark writes whole frames, addressed by MAC, on any link.
    await ip(t.gen, 'link', 'set', r.genDevice, 'up');
    if (k === 0) {
      await ip(t.gen, 'addr', 'add', `${t.genIp}/14`, 'dev', r.genDevice);
      await ip(t.gen, 'route', 'add', t.fixedCidr, 'via', t.gatewayIp, 'dev', r.genDevice);
    }
    await ip(ns, 'addr', 'add', `${t.gatewayIp}/14`, 'dev', t.gatewayDevice);
    await ip(ns, 'addr', 'add', `${routerLinkIp(r)}/30`, 'dev', t.internalDevice);
    await ip(ns, 'link', 'set', t.gatewayDevice, 'up');
    await ip(ns, 'link', 'set', t.internalDevice, 'up');
    await ip(ns, 'route', 'add', t.fixedCidr, 'via', r.sinkLinkIp);
    await ip(ns, 'route', 'add', 'default', 'via', t.genIp);
    await sysctl(ns, 'net.ipv4.ip_forward=1');
    // Random source addresses from the generator must not be dropped as spoofed.
    await sysctl(ns, 'net.ipv4.conf.all.rp_filter=0');
    await sysctl(ns, `net.ipv4.conf.${t.gatewayDevice}.rp_filter=0`);
    await ip(t.sink, 'addr', 'add', `${r.sinkLinkIp}/30`, 'dev', r.sinkDevice);
    await ip(t.sink, 'link', 'set', r.sinkDevice, 'up');
    if (k === 0) await ip(t.sink, 'route', 'add', 'default', 'via', routerLinkIp(r));
  }
  // AnyIP: the sink takes every fixed IP as its own, so sockets there answer for any of them.
  await ip(t.sink, 'route', 'add', 'local', t.fixedCidr, 'dev', 'lo');
  await sysctl(t.sink, 'net.ipv4.conf.all.rp_filter=0');
}

/** MAC address of a device, for frames the generator writes itself. */
export async function macOf(netns: string, device: string): Promise<string> {
  const { stdout } = await ip(netns, '-j', 'link', 'show', 'dev', device);
  const mac = (JSON.parse(stdout) as { address?: string }[])[0]?.address;
  if (!mac) throw new Error(`Cannot read the MAC address of ${device} in ${netns}`);
  return mac;
}
