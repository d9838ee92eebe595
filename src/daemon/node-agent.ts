import { join } from 'node:path';
import type { Logger } from 'pino';
import { NodeAgent } from '../agent/index.js';
import type { BgpAgentOptions } from '../agent/bgp/bgp-announcer.js';
import { createDataplane, type Dataplane } from '../dataplane/index.js';
import type { BackendName } from '../model/index.js';
import { connectStore, isAgentRegistry, StoreError, type Store } from '../store/index.js';

export interface AgentDaemonOptions {
  readonly node: string;
  readonly store: string;
  readonly stateDir: string;
  readonly backend: BackendName;
  readonly leaseTtlSeconds: number;
  readonly resyncIntervalMs: number;
  readonly garp: boolean;
  readonly netnsPrefix?: string;
  /** Routed mode: announce floating IPs by BGP through BIRD (its files go under the agent's state directory). */
  readonly bgp?: Omit<BgpAgentOptions, 'runDir'>;
  readonly log: Logger;
}

export interface RunningAgent {
  readonly nodeAgent: NodeAgent;
  readonly store: Store;
  close(): Promise<void>;
}

/** One dataplane driver per backend name, created when first needed; what a backend recovered from is logged. */
export function dataplaneCache(log: Logger): (name: BackendName) => Dataplane {
  const dataplanes = new Map<BackendName, Dataplane>();
  return (name) => {
    let dp = dataplanes.get(name);
    if (!dp) {
      const warn = (message: string) => log.warn({ component: 'dataplane', backend: name }, message);
      dataplanes.set(name, (dp = createDataplane(name, undefined, { warn })));
    }
    return dp;
  };
}

/**
 * `sfip agent`: the reconciler alone, for one network node of a multi-node deployment. Waits for etcd (retrying
 * with backoff, logging why), registers the node, then carries the routers scheduled to it.
 */
export async function runAgent(options: AgentDaemonOptions): Promise<RunningAgent> {
  const { log } = options;
  const dataplaneFor = dataplaneCache(log);
  const failed = (await dataplaneFor(options.backend).check()).filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new Error(
      `The ${options.backend} backend cannot run here: ${failed.map((c) => c.detail).join('; ')}. Run 'sfip doctor' for details.`,
    );
  }
  const store = await connectStore(options.store, options.stateDir, {
    log: log.child({ component: 'store' }),
  });
  if (!isAgentRegistry(store)) {
    await store.close();
    throw new StoreError(
      `'sfip agent' needs a store that holds agents' leases: --store etcd://HOST:PORT (got ${store.description}). A single node runs 'sfip serve' instead.`,
    );
  }
  const nodeAgent = new NodeAgent({
    store,
    host: options.node,
    ttlSeconds: options.leaseTtlSeconds,
    dataplaneFor,
    defaultBackend: options.backend,
    log: log.child({ component: 'agent', node: options.node }),
    resyncIntervalMs: options.resyncIntervalMs,
    garp: options.garp,
    stateDir: join(options.stateDir, `agent-${options.node}`),
    ...(options.netnsPrefix && { netnsPrefix: options.netnsPrefix }),
    ...(options.bgp && { bgp: { ...options.bgp, runDir: join(options.stateDir, `bgp-${options.node}`) } }),
  });
  try {
    await nodeAgent.start();
  } catch (error) {
    await nodeAgent.stop().catch(() => undefined);
    await store.close();
    throw error;
  }
  return {
    nodeAgent,
    store,
    async close() {
      await nodeAgent.stop();
      await store.close();
    },
  };
}
