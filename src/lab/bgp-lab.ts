import { join } from 'node:path';
import pino from 'pino';
import { BirdProcess } from '../agent/bgp/bird-process.js';
import { run } from '../exec/run.js';
import { parseNamespaceName } from '../model/names.js';
import { destroyNamespaces, existingNamespaces } from './namespaces.js';
import { multiNodeNames, nodeRouterAddress, type MultiNodeLabSpec } from './multinode.js';

/**
 * What a routed multi-node lab adds to the multi-node one (multinode.ts, built with `routed`): the segment
 * namespace becomes the upstream router, running BIRD 2 as every node's BGP peer and installing what it learns
 * into its routing table; an external host hangs off it on a subnet of its own; every node gets a namespace for
 * its BGP speaker on the segment. The floating IPs' subnet is on no link: the external host reaches a floating IP
 * only through a /32 the upstream learned by BGP.
 *
 *   ext host (198.51.100.2) == (198.51.100.1) upstream: br0 203.0.113.1, BIRD AS 64500
 *                                               |-- node n1: speaker ns 203.0.113.2 (BIRD AS 64512), router 203.0.113.20
 *                                               |-- node n2: speaker ns 203.0.113.3,                   router 203.0.113.28
 */
export const UPSTREAM_AS = 64500;
export const NODE_AS = 64512;
const EXT_UPSTREAM = '198.51.100.1';
export const EXTERNAL_HOST_IP = '198.51.100.2';

export const bgpLabNames = {
  externalHost: (spec: MultiNodeLabSpec) => parseNamespaceName(`${spec.prefix}-ext`),
  speaker: (spec: MultiNodeLabSpec, node: string) => parseNamespaceName(`${spec.prefix}-${node}-bgp`),
  /** The speaker's end on the segment: down with the node's uplinks. */
  speakerUplink: (node: string) => `${node}bgp`,
};

/** A node's speaker address on the segment, which is also its BGP router id. */
export function speakerAddress(spec: MultiNodeLabSpec, node: string): string {
  return `203.0.113.${2 + spec.nodes.indexOf(node)}`;
}

/** What `sfip agent` of a node gets in a routed lab: its speaker, and its copy of the first router as next hop. */
export function bgpAgentArgs(spec: MultiNodeLabSpec, node: string): string[] {
  return [
    '--bgp-router-id',
    speakerAddress(spec, node),
    '--bgp-netns',
    bgpLabNames.speaker(spec, node),
    '--bgp-next-hop',
    nodeRouterAddress(spec, node, spec.routers[0]!),
  ];
}

const ip = (netns: string, ...args: string[]) => run('ip', ['-n', parseNamespaceName(netns), ...args]);

export function bgpLabNamespaces(spec: MultiNodeLabSpec): string[] {
  return [bgpLabNames.externalHost(spec), ...spec.nodes.map((n) => bgpLabNames.speaker(spec, n))];
}

/** Adds the external host and the speakers' namespaces to a built routed lab. */
export async function buildBgpLab(spec: MultiNodeLabSpec): Promise<void> {
  if (!spec.segment)
    throw new Error('a BGP lab needs a routed multi-node lab (multiNodeLab(..., { routed: true }))');
  const existing = await existingNamespaces();
  const clash = bgpLabNamespaces(spec).find((ns) => existing.has(ns));
  if (clash)
    throw new Error(`Namespace ${clash} already exists: destroy the lab with prefix ${spec.prefix} first.`);
  const seg = multiNodeNames.segment(spec);
  const ext = bgpLabNames.externalHost(spec);
  await run('ip', ['netns', 'add', ext]);
  await ip(ext, 'link', 'set', 'lo', 'up');
  await ip(ext, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ext0', 'netns', seg);
  await ip(ext, 'addr', 'add', `${EXTERNAL_HOST_IP}/24`, 'dev', 'eth0');
  await ip(ext, 'link', 'set', 'eth0', 'up');
  await ip(ext, 'route', 'add', 'default', 'via', EXT_UPSTREAM);
  await ip(seg, 'addr', 'add', `${EXT_UPSTREAM}/24`, 'dev', 'ext0');
  await ip(seg, 'link', 'set', 'ext0', 'up');
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: seg });
  for (const node of spec.nodes) {
    const ns = bgpLabNames.speaker(spec, node);
    const uplink = bgpLabNames.speakerUplink(node);
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, 'link', 'set', 'lo', 'up');
    await ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', uplink, 'netns', seg);
    await ip(seg, 'link', 'set', uplink, 'master', 'br0', 'up');
    await ip(ns, 'addr', 'add', `${speakerAddress(spec, node)}/24`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
  }
}

export async function destroyBgpLab(spec: MultiNodeLabSpec): Promise<string[]> {
  return destroyNamespaces(bgpLabNamespaces(spec));
}

/** A node's speaker link fails with its other uplinks (see setNodeUplinks). */
export async function setSpeakerUplink(spec: MultiNodeLabSpec, node: string, up: boolean): Promise<void> {
  await ip(multiNodeNames.segment(spec), 'link', 'set', bgpLabNames.speakerUplink(node), up ? 'up' : 'down');
}

export interface UpstreamOptions {
  /** The MD5 password the upstream expects from every node; null: none. */
  readonly password?: string | null;
  readonly bfd?: boolean;
}

/** The upstream router's BIRD, peering with every node's speaker, installing learned routes in its main table. */
export class UpstreamBird {
  private readonly bird: BirdProcess;
  private current: UpstreamOptions = {};

  constructor(
    private readonly spec: MultiNodeLabSpec,
    runDir: string,
  ) {
    this.bird = new BirdProcess({
      namespace: multiNodeNames.segment(spec),
      runDir: join(runDir, 'upstream-bird'),
      log: pino({ level: 'silent' }),
    });
  }

  /** Changes what is given and keeps the rest as last configured. */
  configure(options: UpstreamOptions = {}): Promise<void> {
    this.current = { ...this.current, ...options };
    return this.bird.configure(renderUpstreamConfig(this.spec, this.current));
  }

  /** The next hops of every path BIRD holds for one destination (one per announcing node). */
  async pathsTo(address: string): Promise<string[]> {
    // birdc exits 1 when it has no route ("Network not found").
    const { stdout } = await run('birdc', ['-s', this.bird.socket, 'show', 'route', 'for', address, 'all'], {
      okExitCodes: [1],
    });
    return [...stdout.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!);
  }

  /** Every path BIRD holds for one destination, best first: its next hop and AS path (`64512 64512`). */
  async routesTo(address: string): Promise<{ via: string; asPath: string; best: boolean }[]> {
    const { stdout } = await run('birdc', ['-s', this.bird.socket, 'show', 'route', 'for', address, 'all'], {
      okExitCodes: [1],
    });
    // One block per path: a line with `unicast [protocol time]` (`*` marks the best), then its attributes.
    const blocks = stdout.split(/\n(?=\S*\s+unicast \[)/).filter((b) => /unicast \[/.test(b));
    const routes = blocks.map((b) => ({
      via: /via (\d+\.\d+\.\d+\.\d+)/.exec(b)?.[1] ?? '',
      asPath: /BGP\.as_path: *(.*)/.exec(b)?.[1]?.trim() ?? '',
      best: /unicast \[[^\]]*\] \*/.test(b),
    }));
    return routes.sort((a, b) => Number(b.best) - Number(a.best));
  }

  /**
   * How the upstream holds its route to `address`: `none`; `stale` while a node's session is in graceful restart
   * (its routes kept from the closed session, RFC 4724); `fresh` otherwise.
   */
  async routeState(address: string): Promise<'none' | 'stale' | 'fresh'> {
    if ((await this.pathsTo(address)).length === 0) return 'none';
    const { stdout } = await run('birdc', ['-s', this.bird.socket, 'show', 'protocols', 'all']);
    return /graceful restart active/i.test(stdout) ? 'stale' : 'fresh';
  }

  /** Established or not, per node. */
  async sessions(): Promise<Record<string, string>> {
    const states = await this.bird.protocols();
    return Object.fromEntries(
      this.spec.nodes.map((n) => [n, states.find((p) => p.name === n)?.info ?? 'missing']),
    );
  }

  /** The upstream kernel's routes to floating IPs (`ip route` in its namespace): destination → next hop. */
  async kernelRoutes(): Promise<Record<string, string>> {
    const { stdout } = await run('ip', ['-j', 'route', 'show', 'proto', 'bird'], {
      netns: multiNodeNames.segment(this.spec),
    });
    const routes = JSON.parse(stdout || '[]') as { dst: string; gateway?: string }[];
    return Object.fromEntries(routes.map((r) => [r.dst, r.gateway ?? '']));
  }

  /** What BIRD itself holds (`birdc show route`), for messages. */
  async birdRoutes(): Promise<string> {
    return (await run('birdc', ['-s', this.bird.socket, 'show', 'route'])).stdout;
  }

  stop(): Promise<void> {
    return this.bird.stop();
  }
}

function renderUpstreamConfig(spec: MultiNodeLabSpec, options: UpstreamOptions): string {
  const lines = [
    `router id ${spec.segment!.upstreamIp};`,
    'log stderr { warning, error, fatal };',
    'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { import none; export all; }; }',
  ];
  if (options.bfd) lines.push('protocol bfd { interface "*" { interval 100 ms; multiplier 3; }; }');
  for (const node of spec.nodes) {
    lines.push(
      `protocol bgp ${node} {`,
      `  local ${spec.segment!.upstreamIp} as ${UPSTREAM_AS};`,
      `  neighbor ${speakerAddress(spec, node)} as ${NODE_AS};`,
      ...(options.password ? [`  password "${options.password}";`] : []),
      '  hold time 3;',
      '  keepalive time 1;',
      '  connect retry time 1;',
      '  error wait time 1, 5;',
      ...(options.bfd ? ['  bfd on;'] : []),
      // Keeps a node's routes as stale while its speaker restarts (RFC 4724), as the node asks.
      '  graceful restart on;',
      '  ipv4 { import all; export none; };',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}
