import { updateRouter, type BackendName, type Context } from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import { benchTopology, buildTopology, destroyTopology } from '../topology.js';
import { populateStore } from './populate.js';
import { populateScaleStore } from './populate-scale.js';
import {
  buildScaleTopology,
  destroyScaleTopology,
  scaleTopology,
  type ScaleTopology,
} from './scale-topology.js';

/**
 * The lab of the focused profiling scripts (converge-profile.ts, churn-profile.ts): one router (the forwarding
 * bench's topology, as their earlier saved states were made) or, with `routers`, the scale suite's R routers of
 * `fips` each (issue 15's 100 × 1,000). A state saved with one shape is only valid for the same shape and prefix.
 */
export interface ProfileTopology {
  /** Every router namespace, in order. */
  readonly namespaces: readonly string[];
  build(): Promise<void>;
  /** Writes the routers, ports and floating IPs into a fresh store in `stateDir`. */
  populate(stateDir: string, backend: BackendName): Promise<void>;
  destroy(): Promise<void>;
}

/** `routers` undefined: the one-router topology; a number (1 included): the scale topology of that many. */
export function profileTopology(prefix: string, fips: number, routers?: number): ProfileTopology {
  if (routers === undefined) {
    const t = benchTopology(prefix, ['cp']);
    const namespace = t.routers[0]!.namespace;
    return {
      namespaces: [namespace],
      build: () => buildTopology(t),
      populate: async (stateDir, backend) => {
        await populateStore(stateDir, t, namespace, backend, fips, 0);
      },
      destroy: () => destroyTopology(t),
    };
  }
  const t: ScaleTopology = scaleTopology(prefix, { routers, perRouter: fips }, { samples: 0, fill: 0 });
  return {
    namespaces: t.routers.map((r) => r.namespace),
    build: () => buildScaleTopology(t),
    populate: async (stateDir, backend) => {
      await populateScaleStore(stateDir, t, backend, 0);
    },
    destroy: () => destroyScaleTopology(t),
  };
}

/**
 * The state's router ids, each router set to `backend` first: a saved state names the backend it was populated
 * for, and the same state measures the others.
 */
export async function stateRouters(dir: string, backend: BackendName, prefix: string): Promise<string[]> {
  const store = openStore(undefined, dir);
  const ctx: Context = {
    projectId: 'bench',
    isAdmin: true,
    now: () => new Date().toISOString(),
    newId: () => {
      throw new Error('the bench creates nothing here');
    },
  };
  try {
    return await store.update((tx) =>
      tx.list('router').map((r) => {
        // The state's routers keep the namespaces they were populated with: under another prefix the topology
        // built here has none of them, and the daemon would wait out its whole timeout for routers it cannot reach.
        if (r.namespace && !r.namespace.startsWith(`${prefix}-`)) {
          throw new Error(
            `the state in ${dir} has router ${r.id} in namespace ${r.namespace}: run with the prefix it was populated with, not --prefix ${prefix}`,
          );
        }
        return (r.backend === backend ? r : updateRouter(tx, ctx, r.id, { backend })).id;
      }),
    );
  } finally {
    await store.close();
  }
}
