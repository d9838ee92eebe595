/**
 * How long N host routes take from the agent's kernel table to the peer's kernel, stage by stage (issue 20:
 * 100,000 floating IPs announced at start in ≤ 10 s). Two namespaces joined by a veth: a node speaker running
 * BIRD with the agent's own configuration (renderBirdConfig) and the agent's HostRouteTable, and an upstream
 * running BIRD as the lab's peer does (installing what it learns into its kernel). The session is up before the
 * routes are written, as at an agent's start (sessions come up whether or not the node owns routers).
 *
 * Stages, each from the start of the write: the table written (HostRouteTable.apply returned), the node's BIRD
 * holding every route (learned from the kernel), the upstream's BIRD holding every route (BGP transfer), the
 * upstream's kernel holding every route (its kernel protocol's export).
 *
 * Standalone: `node --import tsx bench/bgp/announce-scale.ts [--routes N] [--prefix P]`. Addresses from
 * 100.64.0.0/10 (shared address space), everything in namespaces it creates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { renderBirdConfig, sessionName } from '../../src/agent/bgp/bird-config.js';
import { BirdProcess } from '../../src/agent/bgp/bird-process.js';
import { HostRouteTable, type HostRoute } from '../../src/agent/bgp/host-route-table.js';
import { run } from '../../src/exec/run.js';
import { destroyNamespaces } from '../../src/lab/namespaces.js';
import { ipv4FromUint32, ipv4ToUint32, parseIPv4 } from '../../src/model/index.js';
import { parseNamespaceName } from '../../src/model/names.js';

const NODE_IP = parseIPv4('203.0.113.2');
const UPSTREAM_IP = parseIPv4('203.0.113.1');
/** The next hop every route carries: on the link, neither end's own address. */
const NEXT_HOP = parseIPv4('203.0.113.9');
const FLOATING_BASE = ipv4ToUint32(parseIPv4('100.64.0.0'));

export interface AnnounceScaleResult {
  readonly routes: number;
  /** ms from the start of the write. */
  readonly written: number;
  readonly nodeBird: number;
  readonly upstreamBird: number;
  readonly upstreamKernel: number;
}

/** `birdc show route count`: "N of M routes for K networks in table T". */
async function birdRouteCount(socket: string, table?: string): Promise<number> {
  const { stdout } = await run('birdc', [
    '-s',
    socket,
    'show',
    'route',
    ...(table ? ['table', table] : []),
    'count',
  ]);
  const m = /(\d+) of \d+ routes/.exec(stdout);
  return m ? Number(m[1]) : 0;
}

async function kernelRouteCount(netns: string): Promise<number> {
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'proto', 'bird'], { netns });
  let n = 0;
  for (let i = stdout.indexOf('\n'); i !== -1; i = stdout.indexOf('\n', i + 1)) n += 1;
  return n;
}

async function waitForCount(count: () => Promise<number>, n: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if ((await count()) >= n) return performance.now();
    if (performance.now() > deadline) throw new Error(`not all ${n} routes arrived in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function upstreamConfig(): string {
  return [
    `router id ${UPSTREAM_IP};`,
    'log stderr { warning, error, fatal };',
    'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { import none; export all; }; }',
    'protocol bgp node {',
    `  local ${UPSTREAM_IP} as 64500;`,
    `  neighbor ${NODE_IP} as 64512;`,
    '  hold time 3;',
    '  keepalive time 1;',
    '  connect retry time 1;',
    '  graceful restart on;',
    '  ipv4 { import all; export none; };',
    '}',
    '',
  ].join('\n');
}

export async function measureAnnounceScale(options: {
  readonly routes: number;
  readonly prefix: string;
  readonly log: (line: string) => void;
}): Promise<AnnounceScaleResult> {
  const nodeNs = parseNamespaceName(`${options.prefix}-spk`);
  const upNs = parseNamespaceName(`${options.prefix}-up`);
  const dir = mkdtempSync(join(tmpdir(), `${options.prefix}-bgp-scale-`));
  const silent = pino({ level: 'silent' });
  const node = new BirdProcess({ namespace: nodeNs, runDir: join(dir, 'node'), log: silent });
  const upstream = new BirdProcess({ namespace: upNs, runDir: join(dir, 'up'), log: silent });
  await destroyNamespaces([nodeNs, upNs]);
  try {
    for (const ns of [nodeNs, upNs]) {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', [
      '-n',
      nodeNs,
      'link',
      'add',
      'eth0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      upNs,
    ]);
    for (const [ns, address] of [
      [nodeNs, NODE_IP],
      [upNs, UPSTREAM_IP],
    ] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    // The next hop must resolve for the upstream's kernel to take the routes: a neighbour entry stands in for it.
    await run('ip', ['-n', upNs, 'neigh', 'replace', NEXT_HOP, 'lladdr', '02:00:00:00:00:09', 'dev', 'eth0']);
    await upstream.configure(upstreamConfig());
    await node.configure(
      renderBirdConfig({
        routerId: NODE_IP,
        kernelTable: 4242,
        sessions: [
          {
            name: sessionName(UPSTREAM_IP),
            peerId: 'bench',
            peerIp: UPSTREAM_IP,
            remoteAs: 64500,
            localAs: 64512,
            password: null,
          },
        ],
        bfd: false,
        nextHop: 'keep',
      }),
    );
    const deadline = Date.now() + 20_000;
    while (!(await node.protocols()).some((p) => p.info.startsWith('Established'))) {
      if (Date.now() > deadline) throw new Error('the session did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const routes = new Map<string, HostRoute>();
    for (let i = 0; i < options.routes; i++)
      routes.set(`${ipv4FromUint32(FLOATING_BASE + 1 + i)}/32`, { via: NEXT_HOP, standby: false });
    const table = new HostRouteTable(nodeNs, 4242);
    await table.apply(new Map());
    const start = performance.now();
    await table.apply(routes);
    const written = performance.now() - start;
    options.log(`  ${options.routes} routes written into table 4242: ${written.toFixed(0)} ms`);
    const timeout = 300_000;
    const nodeBird =
      (await waitForCount(() => birdRouteCount(node.socket, 'sfip_hosts'), options.routes, timeout)) - start;
    options.log(`  in the node's BIRD: ${nodeBird.toFixed(0)} ms`);
    const upstreamBird =
      (await waitForCount(() => birdRouteCount(upstream.socket), options.routes, timeout)) - start;
    options.log(`  in the upstream's BIRD: ${upstreamBird.toFixed(0)} ms`);
    const upstreamKernel =
      (await waitForCount(() => kernelRouteCount(upNs), options.routes, timeout)) - start;
    options.log(`  in the upstream's kernel: ${upstreamKernel.toFixed(0)} ms`);
    const round = (x: number) => Math.round(x);
    return {
      routes: options.routes,
      written: round(written),
      nodeBird: round(nodeBird),
      upstreamBird: round(upstreamBird),
      upstreamKernel: round(upstreamKernel),
    };
  } finally {
    await node.stop().catch(() => undefined);
    await upstream.stop().catch(() => undefined);
    await destroyNamespaces([nodeNs, upNs]);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      routes: { type: 'string', default: '100000' },
      prefix: { type: 'string', default: 'sfipbgps' },
    },
  });
  const result = await measureAnnounceScale({
    routes: Number(values.routes),
    prefix: values.prefix,
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify(result));
}
