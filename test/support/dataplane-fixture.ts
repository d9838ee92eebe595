import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { buildApi } from '../../src/api/index.js';
import { ApiClient, type Json } from '../../src/client/api-client.js';
import { createDataplane, type Dataplane } from '../../src/dataplane/index.js';
import { run } from '../../src/exec/run.js';
import {
  buildLab,
  destroyLab,
  labNamespaces,
  Probe,
  labRouter,
  registerLab,
  type LabSpec,
  type RegisteredRouter,
} from '../../src/lab/index.js';
import type { BackendName } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';

export const TCP_PORT = 5000;
export const UDP_PORT = 5001;

/**
 * Two routers, each in its own namespace with its own external host and the SAME internal subnet (so isolation
 * is tested with overlapping fixed IPs). r1 has three VMs, r2 two.
 */
export function conformanceLab(prefix: string): LabSpec {
  return { prefix, routers: [labRouter('r1', '203.0.113', 3), labRouter('r2', '198.51.100', 2)] };
}

/**
 * A real topology driven by the real store, API and agent, with one backend. Tests talk to it through the API
 * (as users do), and send traffic with probes running inside each namespace.
 */
export class DataplaneFixture {
  readonly spec: LabSpec;
  readonly stateDir = mkdtempSync(join(tmpdir(), 'sfip-conformance-'));
  readonly store: SqliteStore;
  readonly dataplane: Dataplane;
  agent!: Agent;
  app!: FastifyInstance;
  api!: ApiClient;
  routers: RegisteredRouter[] = [];
  readonly probes = new Map<string, Probe>();
  readonly log = pino({ level: process.env.SFIP_TEST_LOG ?? 'silent' });
  readonly resyncIntervalMs: number;
  /** Namespaces an afterBuild hook created; removed with the lab. */
  readonly extraNamespaces: string[] = [];

  constructor(
    readonly backend: BackendName,
    spec: LabSpec,
    private readonly options: {
      resyncIntervalMs?: number;
      afterBuild?: (f: DataplaneFixture) => Promise<void>;
      /** Set on every router through the API before the agent starts, e.g. { fast_path: false }. */
      routerAttributes?: Json;
    } = {},
  ) {
    this.resyncIntervalMs = options.resyncIntervalMs ?? 400;
    this.spec = spec;
    this.store = new SqliteStore({ path: join(this.stateDir, 'sfip.db') });
    this.dataplane = createDataplane(backend);
  }

  async start(): Promise<void> {
    await destroyLab(this.spec); // leftovers of an interrupted run
    await buildLab(this.spec);
    await this.options.afterBuild?.(this);
    // The conformance suite tests the dataplane; authentication has its own tests (test/api/auth.test.ts).
    this.app = await buildApi({ store: this.store, logger: false, auth: 'none' });
    const url = await this.app.listen({ host: '127.0.0.1', port: 0 });
    this.api = new ApiClient(url);
    this.routers = await registerLab(this.api, this.spec);
    if (this.options.routerAttributes) {
      for (const r of this.routers)
        await this.api.put(`/v2.0/routers/${r.routerId}`, { router: this.options.routerAttributes });
    }
    this.agent = this.newAgent();
    await this.agent.start();
    for (const r of this.spec.routers) {
      await this.probe(labNamespaces.external(this.spec, r), `${r.name}-ext`);
      for (const vm of r.vms) await this.probe(labNamespaces.vm(this.spec, r, vm), `${r.name}-${vm.name}`);
    }
  }

  newAgent(): Agent {
    return new Agent({
      store: this.store,
      dataplaneFor: (name) => (name === this.backend ? this.dataplane : createDataplane(name)),
      defaultBackend: this.backend,
      log: this.log,
      resyncIntervalMs: this.resyncIntervalMs,
      pollIntervalMs: 100,
      programmedRoutersPath: join(this.stateDir, 'agent-routers.json'),
      // GARP takes seconds and would only slow the suite; the agent's GARP is tested on its own.
      garp: false,
    });
  }

  /** Starts a probe (listening on the usual ports) in a namespace the fixture did not build itself. */
  async probe(namespace: string, name: string): Promise<void> {
    const probe = new Probe(namespace, name);
    await probe.call({ op: 'listen', proto: 'tcp', port: TCP_PORT });
    await probe.call({ op: 'listen', proto: 'udp', port: UDP_PORT });
    this.probes.set(name, probe);
  }

  /** The probe in a namespace: `r1-ext`, `r1-vm2`, ... */
  at(name: string): Probe {
    const probe = this.probes.get(name);
    if (!probe) throw new Error(`no probe ${name}`);
    return probe;
  }

  router(name: string): RegisteredRouter {
    return this.routers.find((r) => r.name === name)!;
  }

  routerNamespace(name: string): string {
    return labNamespaces.router(
      this.spec,
      this.spec.routers.find((r) => r.name === name)!,
    );
  }

  /** Allocates a floating IP on a router's external network, associated with a VM's port. */
  async createFloatingIp(router: string, vm: string): Promise<Json> {
    const r = this.router(router);
    const body = { floatingip: { floating_network_id: r.externalNetworkId, port_id: r.ports[vm] } };
    return (await this.api.post<{ floatingip: Json }>('/v2.0/floatingips', body)).floatingip;
  }

  async updateFloatingIp(id: unknown, changes: Json): Promise<Json> {
    return (
      await this.api.put<{ floatingip: Json }>(`/v2.0/floatingips/${String(id)}`, { floatingip: changes })
    ).floatingip;
  }

  async showFloatingIp(id: unknown): Promise<Json> {
    return (await this.api.get<{ floatingip: Json }>(`/v2.0/floatingips/${String(id)}`)).floatingip;
  }

  /** Waits until the agent has applied every change made so far. */
  settle(): Promise<void> {
    return this.agent.sync();
  }

  async inRouter(router: string, file: string, args: string[]): Promise<string> {
    return (await run(file, args, { netns: this.routerNamespace(router) })).stdout;
  }

  async stop(): Promise<void> {
    for (const p of this.probes.values()) p.close();
    await this.agent?.stop();
    await this.app?.close();
    for (const r of this.routers) {
      const target = this.spec.routers.find((x) => x.name === r.name)!;
      await this.dataplane
        .remove({
          routerId: r.routerId,
          namespace: labNamespaces.router(this.spec, target),
          gatewayDevice: `qg-${r.name}`,
        })
        .catch(() => undefined);
    }
    await destroyLab(this.spec);
    for (const ns of this.extraNamespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await this.store.close();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
