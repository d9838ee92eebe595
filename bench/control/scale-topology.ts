import { run } from '../../src/exec/run.js';
import { signalNamespaceProcesses } from '../../src/lab/namespaces.js';
import {
  ipv4FromUint32,
  ipv4ToUint32,
  parseDeviceName,
  parseIPv4,
  parseNamespaceName,
  type IPv4,
} from '../../src/model/index.js';

/**
 * The control-plane benchmark's topology: R routers on one external network, each with its own gateway address,
 * internal subnet and namespace, N floating IPs each (issue 15: 1 × 100,000 and 100 × 1,000).
 *
 *                      ┌ (g-r0) ═══ (qg-bench 100.64.0.2/14)  <prefix>-r0  (qr-bench) ═══ (s-r0) ┐
 *   gen (br-ext 100.64.0.1/14)                                                              sink (owns 10.128.0.0/12)
 *                      └ (g-r1) ═══ (qg-bench 100.64.0.3/14)  <prefix>-r1  (qr-bench) ═══ (s-r1) ┘
 *
 * The generator stands for the upstream router: its bridge makes one L2 external network of every gateway
 * device, and it routes each router's block of floating IPs to that router's gateway address, so a new floating
 * IP is reached without waiting for ARP. The sink stands for every VM of every router: it owns the whole fixed
 * space through a local route (AnyIP). Its echo answers from its own address on the first router's link (an
 * unbound UDP socket picks the source by route), untranslated: a reply from a fixed IP would come from the sink's
 * MAC, not the port's, and the routers' anti-spoofing drops it. So a reply proves the inbound translation of the
 * probed floating IP, on whichever router holds it.
 *
 * 100.64.0.0/10 is the shared address space (RFC 6598), used because the documentation ranges hold only 768
 * addresses; nothing here is routed out of these namespaces.
 */
export interface ScaleShape {
  readonly routers: number;
  /** Floating IPs installed on each router before the daemon starts. */
  readonly perRouter: number;
}

/** Addresses each router needs beyond its installed floating IPs. */
export interface ScaleSpare {
  /** Associate → traffic samples over the whole topology (each takes a new floating IP and port). */
  readonly samples: number;
  /** Ports and floating IPs created through the API over the whole topology. */
  readonly fill: number;
}

export interface ScaleRouter {
  readonly index: number;
  readonly name: string;
  readonly namespace: string;
  readonly genDevice: string;
  readonly sinkDevice: string;
  readonly gatewayIp: IPv4;
  /** This router's internal subnet: its fixed IPs, its gateway (first address) and its ports. */
  readonly fixedCidr: string;
  readonly fixedGatewayIp: IPv4;
  /** The block of floating IPs the generator routes to this router. */
  readonly floatingCidr: string;
  readonly sinkLinkIp: IPv4;
  readonly routerLinkIp: IPv4;
}

export interface ScaleTopology {
  readonly prefix: string;
  readonly shape: ScaleShape;
  readonly gen: string;
  readonly sink: string;
  readonly routers: readonly ScaleRouter[];
  readonly bridge: string;
  readonly gatewayDevice: string;
  readonly internalDevice: string;
  readonly genIp: IPv4;
  readonly externalCidr: string;
  /** The external subnet's allocation pool: every router's block and the fill's automatic allocations. */
  readonly poolStart: IPv4;
  readonly poolEnd: IPv4;
  /** Every router's subnet lies inside it; the sink owns it whole. */
  readonly fixedSpace: string;
  readonly floatingBlock: number;
  readonly fixedBlock: number;
}

const EXTERNAL_CIDR = '100.64.0.0/14';
const GEN_IP = '100.64.0.1';
/** Gateways from 100.64.0.2 upwards; the fill's automatic floating IPs from 100.65.0.0; router blocks above. */
const FIRST_GATEWAY = ipv4ToUint32(parseIPv4('100.64.0.2'));
const FIRST_POOL = ipv4ToUint32(parseIPv4('100.65.0.0'));
const FIRST_FLOATING = ipv4ToUint32(parseIPv4('100.66.0.0'));
const FLOATING_SPACE = 2 ** 17; // 100.66.0.0/15: the upper half of the /14
const FIXED_SPACE = '10.128.0.0/12';
const FIRST_FIXED_SPACE = ipv4ToUint32(parseIPv4('10.128.0.0'));
const FIXED_SPACE_SIZE = 2 ** 20;
/** Fixed IPs of installed floating IPs start this far into a router's subnet (below: gateway, API allocations). */
const FIXED_OFFSET = 256;
/** The routers' links to the sink: /30s counting down from 10.127.255.0/30, outside the fixed space. */
const LAST_LINK = ipv4ToUint32(parseIPv4('10.127.255.0'));

const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(2, n)));
const cidrOf = (first: number, size: number) => `${ipv4FromUint32(first)}/${32 - Math.log2(size)}`;
/** How many of `total` things fall to router `k` when they are dealt out in turn. */
const shareOf = (total: number, routers: number) => Math.ceil(total / routers);

export function scaleTopology(prefix: string, shape: ScaleShape, spare: ScaleSpare): ScaleTopology {
  if (!Number.isInteger(shape.routers) || shape.routers < 1 || shape.routers > 250)
    throw new Error(`A scale topology holds 1 to 250 routers, not ${shape.routers}`);
  if (!Number.isInteger(shape.perRouter) || shape.perRouter < 1)
    throw new Error(`Floating IPs per router must be a positive integer, not ${shape.perRouter}`);
  const samples = shareOf(spare.samples, shape.routers);
  const floatingBlock = nextPowerOfTwo(shape.perRouter + samples);
  const fixedBlock = nextPowerOfTwo(
    FIXED_OFFSET + shape.perRouter + samples + shareOf(spare.fill, shape.routers) + 1,
  );
  if (floatingBlock * shape.routers > FLOATING_SPACE)
    throw new Error(
      `${shape.routers} routers × ${floatingBlock} floating IPs do not fit in ${FLOATING_SPACE} addresses`,
    );
  if (fixedBlock * shape.routers > FIXED_SPACE_SIZE)
    throw new Error(`${shape.routers} subnets of ${fixedBlock} addresses do not fit in ${FIXED_SPACE}`);
  const routers = Array.from({ length: shape.routers }, (_, k): ScaleRouter => {
    const fixedFirst = FIRST_FIXED_SPACE + k * fixedBlock;
    const sinkLink = LAST_LINK - 4 * k + 2;
    return {
      index: k,
      name: `r${k}`,
      namespace: parseNamespaceName(`${prefix}-r${k}`),
      genDevice: parseDeviceName(`g-r${k}`),
      sinkDevice: parseDeviceName(`s-r${k}`),
      gatewayIp: ipv4FromUint32(FIRST_GATEWAY + k),
      fixedCidr: cidrOf(fixedFirst, fixedBlock),
      fixedGatewayIp: ipv4FromUint32(fixedFirst + 1),
      floatingCidr: cidrOf(FIRST_FLOATING + k * floatingBlock, floatingBlock),
      sinkLinkIp: ipv4FromUint32(sinkLink),
      routerLinkIp: ipv4FromUint32(sinkLink - 1),
    };
  });
  return {
    prefix,
    shape,
    gen: parseNamespaceName(`${prefix}-gen`),
    sink: parseNamespaceName(`${prefix}-sink`),
    routers,
    bridge: 'br-ext',
    gatewayDevice: 'qg-bench',
    internalDevice: 'qr-bench',
    genIp: parseIPv4(GEN_IP),
    externalCidr: EXTERNAL_CIDR,
    poolStart: ipv4FromUint32(FIRST_POOL),
    poolEnd: ipv4FromUint32(FIRST_FLOATING + FLOATING_SPACE - 2),
    fixedSpace: FIXED_SPACE,
    floatingBlock,
    fixedBlock,
  };
}

/** Router r's i-th floating IP: 0..perRouter-1 are installed, the ones above are the samples'. */
export const floatingIpOf = (t: ScaleTopology, r: number, i: number): IPv4 =>
  ipv4FromUint32(FIRST_FLOATING + r * t.floatingBlock + i);

/** The fixed IP that router r's i-th floating IP maps to. */
export const fixedIpOf = (t: ScaleTopology, r: number, i: number): IPv4 =>
  ipv4FromUint32(FIRST_FIXED_SPACE + r * t.fixedBlock + FIXED_OFFSET + i);

/** Where sample k goes: dealt out over the routers, above each router's installed floating IPs. */
export function sampleSlot(t: ScaleTopology, k: number): { router: number; index: number } {
  return { router: k % t.routers.length, index: t.shape.perRouter + Math.floor(k / t.routers.length) };
}

export const scaleNamespaces = (t: ScaleTopology) => [t.gen, t.sink, ...t.routers.map((r) => r.namespace)];

/** Namespaces are created and set up this many at a time: 100 routers in seconds, without 100 processes at once. */
const BATCH = 8;

async function inBatches<T>(items: readonly T[], work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(work));
}

/** One `ip -batch` per namespace (or for the host's `netns` commands): one process for many commands. */
async function ipBatch(netns: string | null, commands: readonly string[], force = false): Promise<void> {
  if (commands.length === 0) return;
  const args = [...(netns === null ? [] : ['-n', netns]), ...(force ? ['-force'] : []), '-batch', '-'];
  await run('ip', args, { input: commands.join('\n') + '\n' });
}

async function existingNamespaces(): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-j', 'netns', 'list']);
  return new Set((JSON.parse(stdout || '[]') as { name: string }[]).map((n) => n.name));
}

/**
 * Deletes every namespace of the topology that exists, after killing what still runs inside (probes, echo):
 * safe to call on a half-built topology and twice.
 */
export async function destroyScaleTopology(t: ScaleTopology): Promise<void> {
  const existing = await existingNamespaces();
  const present = scaleNamespaces(t).filter((ns) => existing.has(ns));
  await inBatches(present, async (ns) => {
    await signalNamespaceProcesses(ns, 'SIGKILL');
  });
  // -force goes on past a namespace that vanished meanwhile; what still exists afterwards is the real failure.
  await ipBatch(
    null,
    present.map((ns) => `netns del ${ns}`),
    true,
  ).catch(() => undefined);
  const left = await existingNamespaces();
  const stuck = present.filter((ns) => left.has(ns));
  if (stuck.length > 0) throw new Error(`Could not delete the namespaces ${stuck.join(', ')}`);
}

/**
 * Builds the topology in namespaces it creates (none of its devices is in the host's namespace). Removes what
 * it built when any step fails.
 */
export async function buildScaleTopology(t: ScaleTopology): Promise<void> {
  await destroyScaleTopology(t);
  try {
    await ipBatch(
      null,
      scaleNamespaces(t).map((ns) => `netns add ${ns}`),
    );
    const ext = `${t.genIp}/${t.externalCidr.split('/')[1]}`;
    await ipBatch(t.gen, [
      'link set lo up',
      `link add ${t.bridge} type bridge`,
      `link set ${t.bridge} up`,
      `addr add ${ext} dev ${t.bridge}`,
    ]);
    await inBatches(t.routers, (r) => buildRouter(t, r));
    // The upstream routes: each router's floating block via its gateway address on the shared network.
    await ipBatch(t.gen, [
      ...t.routers.map((r) => `link set ${r.genDevice} master ${t.bridge} up`),
      ...t.routers.map((r) => `route add ${r.floatingCidr} via ${r.gatewayIp}`),
    ]);
    await ipBatch(t.sink, [
      'link set lo up',
      ...t.routers.flatMap((r) => [
        `addr add ${r.sinkLinkIp}/30 dev ${r.sinkDevice}`,
        `link set ${r.sinkDevice} up`,
      ]),
      `route add default via ${t.routers[0]!.routerLinkIp}`,
      // AnyIP: the sink takes every fixed IP as its own, so sockets there answer for any of them.
      `route add local ${t.fixedSpace} dev lo`,
    ]);
    await run('sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=0'], { netns: t.sink });
  } catch (error) {
    await destroyScaleTopology(t);
    throw error;
  }
}

async function buildRouter(t: ScaleTopology, r: ScaleRouter): Promise<void> {
  const ns = r.namespace;
  const external = `${r.gatewayIp}/${t.externalCidr.split('/')[1]}`;
  await ipBatch(ns, [
    'link set lo up',
    `link add ${t.gatewayDevice} type veth peer name ${r.genDevice} netns ${t.gen}`,
    `link add ${t.internalDevice} type veth peer name ${r.sinkDevice} netns ${t.sink}`,
    `addr add ${external} dev ${t.gatewayDevice}`,
    `addr add ${r.routerLinkIp}/30 dev ${t.internalDevice}`,
    `link set ${t.gatewayDevice} up`,
    `link set ${t.internalDevice} up`,
    `route add ${r.fixedCidr} via ${r.sinkLinkIp}`,
    `route add default via ${t.genIp}`,
  ]);
  await run(
    'sysctl',
    [
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      // Replies come back from the sink through this router alone, but keep the benchmark free of spoofing drops.
      'net.ipv4.conf.all.rp_filter=0',
      `net.ipv4.conf.${t.gatewayDevice}.rp_filter=0`,
    ],
    { netns: ns },
  );
}

/**
 * Runs `cleanup` if the benchmark is interrupted (Ctrl-C, or a SIGTERM from a timeout) or crashes on an error
 * nothing awaited while a topology is up, then exits: a `finally` does not run then, and 100 routers' namespaces,
 * the daemon and its state would be left behind. Returns the
 * function that unregisters it, for the normal path.
 */
export function cleanupOnInterrupt(cleanup: () => Promise<void>): () => void {
  const handler = (signal: NodeJS.Signals) => {
    void cleanup()
      .catch((error: unknown) => console.error(`cleanup after ${signal} failed: ${String(error)}`))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  // An error nothing awaited would end the process the same way, past every finally.
  const crash = (error: unknown) => {
    console.error(error);
    void cleanup()
      .catch((failure: unknown) => console.error(`cleanup after a crash failed: ${String(failure)}`))
      .finally(() => process.exit(1));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  process.once('uncaughtException', crash);
  process.once('unhandledRejection', crash);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    process.off('uncaughtException', crash);
    process.off('unhandledRejection', crash);
  };
}
