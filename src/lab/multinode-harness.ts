import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../exec/spawn.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiClient, type Json } from '../client/api-client.js';
import { run } from '../exec/run.js';
import { EtcdServer } from './etcd-server.js';
import {
  buildMultiNodeLab,
  destroyMultiNodeLab,
  multiNodeLab,
  multiNodeNames,
  registerMultiNodeLab,
  setNodeUplinks,
  type MultiNodeLabSpec,
  type RegisteredMultiNodeRouter,
} from './multinode.js';
import { Probe } from './probe-client.js';
import { nodeProgram } from '../paths.js';
import {
  NODE_AS,
  UPSTREAM_AS,
  bgpAgentArgs,
  bgpLabNames,
  buildBgpLab,
  destroyBgpLab,
  setSpeakerUplink,
  UpstreamBird,
} from './bgp-lab.js';

export interface MultiNodeHarnessOptions {
  readonly prefix: string;
  readonly nodes?: readonly string[];
  readonly routers?: number;
  /** Agents' lease TTL in whole seconds. */
  readonly leaseTtlSeconds: number;
  /** Where the processes' log lines go (default: dropped). */
  readonly onLog?: (source: string, line: string) => void;
  /**
   * Routed lab (bgp-lab.ts): the agents announce by BGP to an upstream BIRD, and the client probe is an external
   * host behind the upstream, with no link to the nodes. The BGP speaker and peer are left to the test.
   */
  readonly routed?: boolean;
  /** Routed labs: the agents and the upstream run BFD on every session. */
  readonly bfd?: boolean;
  /** Routed labs: every agent is a hot standby for the other nodes' routers (`--bgp-standby`). */
  readonly standby?: boolean;
}

export interface HarnessRouter extends RegisteredMultiNodeRouter {
  readonly fipId: string;
  readonly floatingIp: string;
}

/** What a UDP stream to one floating IP delivered, per node copy of its VM. */
export interface StreamResult {
  readonly floatingIp: string;
  readonly sent: number;
  readonly intervalMs: number;
  readonly received: ReadonlyMap<string, readonly number[]>;
}

const UDP_PORT = 5000;

/**
 * A running multi-node lab for tests and benchmarks: a real etcd server, the API (`sfip serve --no-agent`), one
 * `sfip agent` process per node, the namespaces, a client probe on the shared segment and a listening probe in
 * every node's copy of every VM. Everything it starts, it stops in `close`.
 */
export class MultiNodeHarness {
  readonly spec: MultiNodeLabSpec;
  readonly stateDir: string;
  etcd!: EtcdServer;
  api!: ApiClient;
  routers: HarnessRouter[] = [];
  externalNetworkId = '';
  client!: Probe;
  /** The upstream router's BIRD, in routed labs. */
  upstream: UpstreamBird | undefined;
  private readonly vms = new Map<string, Probe>();
  private serveProcess: ChildProcess | undefined;
  private readonly agents = new Map<string, ChildProcess>();
  private readonly macs = new Map<string, string>();

  private constructor(private readonly options: MultiNodeHarnessOptions) {
    this.spec = multiNodeLab(options.prefix, [...(options.nodes ?? ['n1', 'n2'])], options.routers ?? 2, {
      routed: options.routed ?? false,
    });
    this.stateDir = mkdtempSync(join(tmpdir(), `sfip-${options.prefix}-`));
  }

  static async start(options: MultiNodeHarnessOptions): Promise<MultiNodeHarness> {
    const h = new MultiNodeHarness(options);
    try {
      await h.setUp();
    } catch (error) {
      await h.close();
      throw error;
    }
    return h;
  }

  private async setUp(): Promise<void> {
    this.etcd = await EtcdServer.start({ name: `${this.options.prefix}-etcd` });
    // The namespaces, the API and the agents do not depend on each other: start them together.
    // A routed lab's agents start BIRD in the speakers' namespaces: those must exist first.
    const building = this.buildNamespaces();
    if (this.options.routed) await building;
    const [, url] = await Promise.all([
      building,
      this.startServe(),
      ...this.spec.nodes.map((node) => this.startAgent(node)),
    ]);
    this.api = new ApiClient(url);
    await this.waitFor('every agent to register', async () =>
      (await this.api.get<{ agents: Json[] }>('/v2.0/agents')).agents.length === this.spec.nodes.length
        ? true
        : undefined,
    );
    const registered = await registerMultiNodeLab(this.api, this.spec);
    this.externalNetworkId = registered.externalNetworkId;
    for (const r of registered.routers) {
      const fip = (
        await this.api.post<{ floatingip: Json }>('/v2.0/floatingips', {
          floatingip: { floating_network_id: this.externalNetworkId, port_id: r.portId },
        })
      ).floatingip;
      this.routers.push({ ...r, fipId: String(fip.id), floatingIp: String(fip.floating_ip_address) });
    }
    this.client = new Probe(
      this.options.routed ? bgpLabNames.externalHost(this.spec) : multiNodeNames.segment(this.spec),
      'client',
    );
    const listening: Promise<unknown>[] = [];
    for (const node of this.spec.nodes) {
      for (const r of this.spec.routers) {
        const probe = new Probe(multiNodeNames.vm(this.spec, node, r), `${node}-${r.name}-vm`);
        listening.push(probe.call({ op: 'listen', proto: 'udp', port: UDP_PORT }));
        this.vms.set(`${node}/${r.name}`, probe);
        const link = await run('ip', ['-j', 'link', 'show', 'dev', multiNodeNames.gatewayDevice(r)], {
          netns: multiNodeNames.router(this.spec, node, r),
        });
        const mac = (JSON.parse(link.stdout) as { address: string }[])[0]!.address.toLowerCase();
        this.macs.set(mac, node);
      }
    }
    await Promise.all(listening);
    await this.waitForActive();
  }

  private async buildNamespaces(): Promise<void> {
    await buildMultiNodeLab(this.spec);
    if (!this.options.routed) return;
    await buildBgpLab(this.spec);
    this.upstream = new UpstreamBird(this.spec, this.stateDir);
    await this.upstream.configure({ bfd: this.options.bfd ?? false });
  }

  /**
   * Runs the sfip CLI from this checkout (through tsx from the sources, or the build from dist). Its output is
   * read continuously, so a full pipe never stalls it; lines go to `onLog` and to `waitForLine`.
   */
  private spawnSfip(source: string, args: string[]): ChildProcess {
    const argv = nodeProgram('cli');
    const child = spawn(argv[0]!, [...argv.slice(1), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.options.onLog?.(source, line);
        child.emit('log-line', line);
      });
    }
    return child;
  }

  private startServe(): Promise<string> {
    const child = this.spawnSfip('api', [
      'serve',
      '--no-agent',
      '--store',
      this.etcd.storeSpec,
      '--state-dir',
      join(this.stateDir, 'api'),
      '--port',
      '0',
    ]);
    this.serveProcess = child;
    return waitForLine(child, 'sfip API listening', (entry) => String(entry.url));
  }

  /** Starts (or restarts) a node's agent; resolves once it has reconciled the routers it carries. */
  async startAgent(node: string): Promise<void> {
    const child = this.spawnSfip(node, [
      'agent',
      '--node',
      node,
      '--store',
      this.etcd.storeSpec,
      '--state-dir',
      join(this.stateDir, 'agents'),
      '--lease-ttl',
      `${this.options.leaseTtlSeconds}s`,
      '--prefix',
      multiNodeNames.netnsPrefix(this.spec, node),
      '--resync-interval',
      '5s',
      ...(this.options.routed ? bgpAgentArgs(this.spec, node) : []),
      ...(this.options.routed && this.options.bfd ? ['--bgp-bfd'] : []),
      ...(this.options.routed && this.options.standby ? ['--bgp-standby'] : []),
    ]);
    this.agents.set(node, child);
    await waitForLine(child, 'agent reconciled the routers it carries', () => true);
  }

  /** Kills a node's agent process (SIGKILL by default): its kernel state stays, as after a crash. */
  async killAgent(node: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.agents.get(node);
    this.agents.delete(node);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /** Sends a signal to a node's agent without forgetting it (SIGSTOP: the agent hangs; SIGCONT: it resumes). */
  signalAgent(node: string, signal: NodeJS.Signals): void {
    this.agents.get(node)?.kill(signal);
  }

  /** The whole node fails: its agent dies and its uplinks go down at the same moment. */
  async failNode(node: string): Promise<void> {
    await Promise.all([this.killAgent(node), this.setUplinks(node, false)]);
  }

  async restoreNode(node: string): Promise<void> {
    await this.setUplinks(node, true);
    await this.startAgent(node);
  }

  private async setUplinks(node: string, up: boolean): Promise<void> {
    await setNodeUplinks(this.spec, node, up);
    if (this.options.routed) await setSpeakerUplink(this.spec, node, up);
  }

  async nodeOf(routerId: string): Promise<string | null> {
    const router = (await this.api.get<{ router: Json }>(`/v2.0/routers/${routerId}`)).router;
    return (router.node as string | null) ?? null;
  }

  async l3AgentHosts(routerId: string): Promise<string[]> {
    const agents = (await this.api.get<{ agents: Json[] }>(`/v2.0/routers/${routerId}/l3-agents`)).agents;
    return agents.map((a) => String(a.host));
  }

  async waitForActive(timeoutMs = 20_000): Promise<void> {
    await this.waitFor(
      'every floating IP to be ACTIVE',
      async () => {
        const fips = (await this.api.get<{ floatingips: Json[] }>('/v2.0/floatingips')).floatingips;
        return fips.length > 0 && fips.every((f) => f.status === 'ACTIVE') ? true : undefined;
      },
      timeoutMs,
    );
  }

  /**
   * Streams UDP from the segment to each floating IP for `durationMs`, runs `during` meanwhile, then collects
   * which sequence numbers each node's copy of the VM received.
   */
  async stream(
    durationMs: number,
    intervalMs: number,
    during: () => Promise<void> = async () => undefined,
  ): Promise<StreamResult[]> {
    const tag = `s${Date.now()}`;
    const count = Math.ceil(durationMs / intervalMs);
    const streams = this.routers.map((r) =>
      this.client.call({
        op: 'udpStream',
        host: r.floatingIp,
        port: UDP_PORT,
        tag: `${tag}-${r.name}`,
        count,
        intervalMs,
      }),
    );
    await during();
    await Promise.all(streams);
    await new Promise((r) => setTimeout(r, 300));
    const results: StreamResult[] = [];
    for (const r of this.routers) {
      const received = new Map<string, number[]>();
      for (const node of this.spec.nodes) {
        const got = await this.vms
          .get(`${node}/${r.name}`)!
          .call<{ seqs: number[] }>({ op: 'received', port: UDP_PORT, tag: `${tag}-${r.name}`, seqs: true });
        received.set(node, got.seqs);
      }
      results.push({ floatingIp: r.floatingIp, sent: count, intervalMs, received });
    }
    return results;
  }

  /** Which nodes answer ARP for an address on the shared segment (by the MAC of their gateway device). */
  async arpAnswerers(address: string): Promise<string[]> {
    const { stdout } = await run('arping', ['-c', '2', '-w', '2', '-I', 'br0', address], {
      netns: multiNodeNames.segment(this.spec),
      okExitCodes: [1],
    });
    const macs = [...stdout.matchAll(/reply from [0-9.]+ \[([0-9A-Fa-f:]+)\]/g)].map((m) =>
      m[1]!.toLowerCase(),
    );
    return [...new Set(macs.map((mac) => this.macs.get(mac) ?? mac))].sort();
  }

  /**
   * Through the API, as an admin would: a BGP peer for the lab's upstream, a speaker with the nodes' AS, the peer
   * added to it, and the external network's floating IPs advertised. Returns the speaker's id.
   */
  async speakBgpToUpstream(): Promise<string> {
    const peer = await this.api.post<{ bgp_peer: Json }>('/v2.0/bgp-peers', {
      bgp_peer: { peer_ip: '203.0.113.1', remote_as: UPSTREAM_AS },
    });
    const speaker = await this.api.post<{ bgp_speaker: Json }>('/v2.0/bgp-speakers', {
      bgp_speaker: { local_as: NODE_AS },
    });
    const id = String(speaker.bgp_speaker.id);
    await this.api.put(`/v2.0/bgp-speakers/${id}/add_bgp_peer`, { bgp_peer_id: peer.bgp_peer.id });
    await this.api.put(`/v2.0/bgp-speakers/${id}/add_gateway_network`, {
      network_id: this.externalNetworkId,
    });
    return id;
  }

  async waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    for (const node of [...this.agents.keys()]) await this.killAgent(node, 'SIGTERM').catch(() => undefined);
    if (this.serveProcess && this.serveProcess.exitCode === null) {
      const exited = new Promise((r) => this.serveProcess!.once('exit', r));
      this.serveProcess.kill('SIGTERM');
      await exited;
    }
    this.client?.close();
    for (const probe of this.vms.values()) probe.close();
    await this.upstream?.stop().catch(() => undefined);
    if (this.options.routed) await destroyBgpLab(this.spec).catch(() => undefined);
    await destroyMultiNodeLab(this.spec).catch(() => undefined);
    await this.etcd?.stop().catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

function waitForLine<T>(child: ChildProcess, message: string, pick: (entry: Json) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const onLine = (line: string) => {
      try {
        const entry = JSON.parse(line) as Json;
        if (entry.msg !== message) return;
        child.off('log-line', onLine);
        resolve(pick(entry));
      } catch {
        /* not a log line */
      }
    };
    child.on('log-line', onLine);
    child.once('exit', (code) => reject(new Error(`process exited with ${code} before '${message}'`)));
  });
}

/** Where a stream to one floating IP had its outage: the longest run of lost packets, in time, and the total lost. */
export function analyzeStream(result: StreamResult): {
  lost: number;
  outageMs: number;
  byNode: Record<string, number>;
} {
  const got = new Set<number>();
  const byNode: Record<string, number> = {};
  for (const [node, seqs] of result.received) {
    byNode[node] = seqs.length;
    for (const s of seqs) got.add(s);
  }
  let longest = 0;
  let run = 0;
  for (let s = 0; s < result.sent; s++) {
    run = got.has(s) ? 0 : run + 1;
    longest = Math.max(longest, run);
  }
  // An outage of k consecutive lost packets lasted between k and k+1 intervals.
  return {
    lost: result.sent - got.size,
    outageMs: longest === 0 ? 0 : (longest + 1) * result.intervalMs,
    byNode,
  };
}
