/**
 * Agents per node against a real etcd server, each "node" with its own in-memory dataplane and its own store
 * client: placement, refusal of a second agent for a live node, failover when an agent dies, a returning agent
 * cleaning up, lease adoption on a quick restart, and the fence arithmetic when an agent is cut off from etcd.
 * The real kernel (namespaces, ARP, traffic) is covered by test/e2e/multinode-failover.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { NodeAgent } from '../../src/agent/index.js';
import { buildApi } from '../../src/api/index.js';
import { FakeDataplane, type RouterTarget } from '../../src/dataplane/index.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  SfipError,
} from '../../src/model/index.js';
import { EtcdStore } from '../../src/store/index.js';
import { adminContext } from '../support/model-fixture.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const TTL = 2;
let server: EtcdServer;
let n = 0;
const dir = mkdtempSync(join(tmpdir(), 'sfip-node-agent-'));

before(async () => {
  server = await EtcdServer.start({ name: 'te-agents' });
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One simulated node: its kernel (a fake dataplane plus its fences), which outlives its agent processes. */
class Node {
  readonly dataplane = new FakeDataplane();
  readonly fences = new Map<string, { timeoutMs: number; at: number }>();
  readonly arms: { at: number; timeoutMs: number; validUntil: number }[] = [];
  readonly stateDir: string;
  agent: NodeAgent | undefined;
  store: EtcdStore | undefined;

  constructor(
    readonly host: string,
    readonly prefix: string,
  ) {
    this.stateDir = join(dir, `${prefix.replace(/\//g, '')}-${host}`);
  }

  async start(endpoint = server.endpoint, stateDir = this.stateDir): Promise<NodeAgent> {
    const store = new EtcdStore({ endpoints: [`http://${endpoint}`], prefix: this.prefix });
    const agent: NodeAgent = new NodeAgent({
      store,
      host: this.host,
      ttlSeconds: TTL,
      dataplaneFor: () => this.dataplane,
      defaultBackend: 'fake',
      log,
      resyncIntervalMs: 60_000,
      garp: false,
      conntrackCleanup: false,
      stateDir,
      fenceWriter: {
        arm: async (target: RouterTarget, timeoutMs: number) => {
          this.arms.push({ at: performance.now(), timeoutMs, validUntil: this.validUntil() });
          this.fences.set(target.routerId, { timeoutMs, at: performance.now() });
        },
        remove: async (target: RouterTarget) => void this.fences.delete(target.routerId),
      },
    });
    this.agent = agent;
    this.store = store;
    try {
      await agent.start();
    } catch (error) {
      await agent.stop();
      await store.close();
      throw error;
    }
    return agent;
  }

  /** What etcd guarantees this node right now (read from the registration the agent holds). */
  validUntil(): number {
    const registration = (this.agent as unknown as { registration?: { validUntil(): number } }).registration;
    return registration?.validUntil() ?? 0;
  }

  /** The agent dies (SIGKILL): no renewals, no clean-up; the "kernel" (dataplane, fences) stays as it was. */
  async kill(): Promise<void> {
    await this.agent?.stop();
    await this.store?.close();
    this.agent = undefined;
  }

  routers(): string[] {
    return [...this.dataplane.routers.keys()].map((k) => k.slice(k.indexOf('/') + 1)).sort();
  }
}

async function cloud(store: EtcdStore, routers: string[]) {
  const ctx = adminContext();
  return store.update((tx) => {
    const pub = createNetwork(tx, ctx, { name: 'public', external: true });
    createSubnet(tx, ctx, {
      networkId: pub.id,
      cidr: '203.0.113.0/24',
      gatewayIp: '203.0.113.1',
      allocationPools: [{ start: '203.0.113.100', end: '203.0.113.199' }],
    });
    return routers.map((name, i) => {
      const priv = createNetwork(tx, ctx, { name: `${name}-private` });
      const sub = createSubnet(tx, ctx, { networkId: priv.id, cidr: `10.${i}.0.0/24` });
      const router = createRouter(tx, ctx, {
        name,
        namespace: `qrouter-${name}`,
        gatewayDevice: `qg-${name}`,
        externalGateway: { networkId: pub.id, externalFixedIps: [{ ipAddress: `203.0.113.${10 + i}` }] },
      });
      addRouterInterface(tx, ctx, router.id, { subnetId: sub.id });
      const port = createPort(tx, ctx, { networkId: priv.id, fixedIps: [{ ipAddress: `10.${i}.0.11` }] });
      const fip = createFloatingIp(tx, ctx, { floatingNetworkId: pub.id, portId: port.id });
      return { router: router.id, fip: fip.id, node: router.node };
    });
  });
}

const nodeOf = (store: EtcdStore, routerId: string) => store.read((v) => v.get('router', routerId)?.node);
const statusOf = (store: EtcdStore, fipId: string) => store.read((v) => v.get('floatingip', fipId)?.status);

describe('agents per node', { timeout: 120_000 }, () => {
  it('places new routers on live agents, least loaded first, and each node programs only its own', async () => {
    const prefix = `/te-place-${n++}/`;
    const [n1, n2] = [new Node('n1', prefix), new Node('n2', prefix)];
    await n1.start();
    await n2.start();
    const api = new EtcdStore({ endpoints: [`http://${server.endpoint}`], prefix });
    await waitFor('both agents to be visible', () =>
      api.read((v) => (v.list('agent').length === 2 ? true : undefined)),
    );
    const [r1, r2, r3] = await cloud(api, ['r1', 'r2', 'r3']);
    assert.deepEqual([r1!.node, r2!.node, r3!.node], ['n1', 'n2', 'n1']);
    await waitFor('every floating IP to be ACTIVE', async () =>
      (await Promise.all([r1!, r2!, r3!].map((r) => statusOf(api, r.fip)))).every((s) => s === 'ACTIVE')
        ? true
        : undefined,
    );
    assert.deepEqual(n1.routers(), [r1!.router, r3!.router].sort());
    assert.deepEqual(n2.routers(), [r2!.router]);
    assert.ok(n1.fences.has(r1!.router) && n2.fences.has(r2!.router), 'every programmed router is fenced');

    const app = await buildApi({ store: api, logger: false });
    const agents = (await app.inject({ url: `/v2.0/routers/${r2!.router}/l3-agents` })).json() as {
      agents: { host: string; alive: boolean; agent_type: string }[];
    };
    assert.deepEqual(
      agents.agents.map((a) => [a.host, a.alive, a.agent_type]),
      [['n2', true, 'L3 agent']],
    );
    const router = (await app.inject({ url: `/v2.0/routers/${r1!.router}` })).json() as {
      router: { node: string };
    };
    assert.equal(router.router.node, 'n1');
    const list = (await app.inject({ url: '/v2.0/agents' })).json() as {
      agents: { id: string; host: string; configurations: { routers: number } }[];
    };
    assert.deepEqual(list.agents.map((a) => [a.host, a.configurations.routers]).sort(), [
      ['n1', 2],
      ['n2', 1],
    ]);
    const n1Id = list.agents.find((a) => a.host === 'n1')!.id;
    const carried = (await app.inject({ url: `/v2.0/agents/${n1Id}/l3-routers` })).json() as {
      routers: { id: string }[];
    };
    assert.deepEqual(carried.routers.map((r) => r.id).sort(), [r1!.router, r3!.router].sort());
    await app.close();
    await api.close();
    await n1.kill();
    await n2.kill();
  });

  it('refuses a second agent for a node a live agent holds, naming the node', async () => {
    const prefix = `/te-dup-${n++}/`;
    const first = new Node('n1', prefix);
    await first.start();
    const impostor = new Node('n1', prefix);
    await assert.rejects(
      impostor.start(server.endpoint, join(dir, `impostor-${n}`)),
      (e: unknown) =>
        e instanceof SfipError &&
        e.type === 'AgentHostInUse' &&
        e.status === 409 &&
        e.message.includes('Node n1 is already held by a live agent'),
    );
    // The live agent is untouched.
    assert.equal(await first.store!.read((v) => v.list('agent').length), 1);
    await first.kill();
  });

  it("moves a dead agent's routers to a live node, which programs them; the returning agent removes its copy", async () => {
    const prefix = `/te-fail-${n++}/`;
    const [n1, n2] = [new Node('n1', prefix), new Node('n2', prefix)];
    await n1.start();
    await n2.start();
    const api = new EtcdStore({ endpoints: [`http://${server.endpoint}`], prefix });
    await waitFor('both agents', () => api.read((v) => (v.list('agent').length === 2 ? true : undefined)));
    const [r1, r2] = await cloud(api, ['r1', 'r2']);
    await waitFor('n1 to program r1', async () => (n1.routers().includes(r1!.router) ? true : undefined));
    await waitFor('n2 to program r2', async () => (n2.routers().includes(r2!.router) ? true : undefined));

    await n1.kill();
    await waitFor('r1 to move to n2', async () =>
      (await nodeOf(api, r1!.router)) === 'n2' ? true : undefined,
    );
    await waitFor('n2 to program r1', async () => (n2.routers().includes(r1!.router) ? true : undefined));
    assert.deepEqual(n2.routers(), [r1!.router, r2!.router].sort());
    await waitFor('r1 floating IP ACTIVE on n2', async () =>
      (await statusOf(api, r1!.fip)) === 'ACTIVE' ? true : undefined,
    );
    // n1's "kernel" still holds r1 (a SIGKILLed agent cleans nothing); its fence is what keeps it quiet.
    assert.deepEqual(n1.routers(), [r1!.router]);

    await n1.start();
    await waitFor('the returning n1 to remove r1', async () =>
      n1.routers().length === 0 ? true : undefined,
    );
    assert.equal(n1.fences.has(r1!.router), false, "r1's fence on n1 is gone too");
    assert.equal(await nodeOf(api, r1!.router), 'n2', 'a returning agent does not pull its routers back');
    await api.close();
    await n1.kill();
    await n2.kill();
  });

  it('adopts its own lease when restarted within the TTL: nothing moves', async () => {
    const prefix = `/te-adopt-${n++}/`;
    const [n1, n2] = [new Node('n1', prefix), new Node('n2', prefix)];
    await n1.start();
    await n2.start();
    const api = new EtcdStore({ endpoints: [`http://${server.endpoint}`], prefix });
    await waitFor('both agents', () => api.read((v) => (v.list('agent').length === 2 ? true : undefined)));
    const [r1] = await cloud(api, ['r1']);
    await waitFor('n1 to program r1', async () => (n1.routers().includes(r1!.router) ? true : undefined));
    const lease = n1.agent!.leaseId;
    const revision = await api.read((v) => v.get('router', r1!.router)!.revisionNumber);
    await n1.kill();
    const again = await n1.start();
    assert.equal(again.leaseId, lease, 'the restarted agent holds the same lease');
    await new Promise((r) => setTimeout(r, 2500 * TTL));
    assert.equal(await nodeOf(api, r1!.router), 'n1');
    assert.equal(
      await api.read((v) => v.get('router', r1!.router)!.revisionNumber),
      revision,
      'r1 never moved',
    );
    assert.deepEqual(n1.routers(), [r1!.router]);
    assert.deepEqual(n2.routers(), []);
    await api.close();
    await n1.kill();
    await n2.kill();
  });

  it('fences close before the lease can expire; a node cut off from etcd stops programming, then rejoins', async () => {
    const prefix = `/te-cut-${n++}/`;
    const proxy = await TcpProxy.start('127.0.0.1', Number(server.endpoint.split(':')[1]));
    const [n1, n2] = [new Node('n1', prefix), new Node('n2', prefix)];
    await n1.start(proxy.endpoint);
    await n2.start();
    const api = new EtcdStore({ endpoints: [`http://${server.endpoint}`], prefix });
    await waitFor('both agents', () => api.read((v) => (v.list('agent').length === 2 ? true : undefined)));
    const [r1] = await cloud(api, ['r1']);
    await waitFor('n1 to program r1', async () => (n1.routers().includes(r1!.router) ? true : undefined));
    await waitFor('a few fence renewals', async () => (n1.arms.length >= 3 ? true : undefined));
    for (const arm of n1.arms) {
      assert.ok(arm.timeoutMs > 0);
      assert.ok(
        arm.at + arm.timeoutMs < arm.validUntil,
        `fence closes at ${arm.at + arm.timeoutMs}, before etcd may expire the lease at ${arm.validUntil}`,
      );
    }

    proxy.cut();
    const armsAtCut = n1.arms.length;
    await waitFor('r1 to move to n2', async () =>
      (await nodeOf(api, r1!.router)) === 'n2' ? true : undefined,
    );
    const last = n1.arms.slice(-1)[0]!;
    assert.ok(last.at + last.timeoutMs < performance.now(), "n1's last fence had closed before r1 moved");
    assert.ok(n1.arms.length <= armsAtCut + 1, 'no fence was renewed without etcd');
    // Something took n1's floating address away: putting it back would announce it, which a node that cannot
    // prove its lease must not do.
    for (const state of n1.dataplane.routers.values()) state.addresses.clear();
    n1.agent!.agent.resyncAll('resync');
    await n1.agent!.agent.whenIdle();
    const outcome = n1.agent!.agent.routerOutcomes().find((o) => o.routerId === r1!.router);
    assert.match(outcome?.error ?? '', /cannot prove it still holds its lease/);
    assert.equal([...n1.dataplane.routers.values()][0]!.addresses.size, 0, 'the address was not put back');
    await waitFor('n2 to program r1', async () => (n2.routers().includes(r1!.router) ? true : undefined));

    proxy.heal();
    await waitFor('n1 to register again and remove r1', async () =>
      n1.routers().length === 0 ? true : undefined,
    );
    await waitFor('n1 to be live again', () =>
      api.read((v) => (v.list('agent').some((a) => a.host === 'n1') ? true : undefined)),
    );
    assert.equal(await nodeOf(api, r1!.router), 'n2');
    await api.close();
    await n1.kill();
    await n2.kill();
    await proxy.close();
  });
});
