import {
  createDataplane,
  RouterDataplane,
  isEmptyPlan,
  routerIntent,
  type ActualRouter,
  type DesiredRouter,
} from '../../src/dataplane/index.js';
import type { BackendName, FloatingIp } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';

export interface RouterCheck {
  readonly routerId: string;
  readonly desired: DesiredRouter;
  readonly actual: ActualRouter;
  readonly floatingIps: FloatingIp[];
}

/** What a reader of the store sees, and what the backend reads from the kernel for each router. */
export async function readStoreAndKernel(storePath: string, backend: BackendName): Promise<RouterCheck[]> {
  const store = new SqliteStore({ path: storePath });
  try {
    const routers = await store.read((view) =>
      view.list('router').map((router) => ({
        intent: routerIntent(view, router),
        floatingIps: view
          .list('floatingip')
          .filter((f) => f.floatingNetworkId === router.externalGateway?.networkId),
      })),
    );
    const dataplane = new RouterDataplane(createDataplane(backend), { garp: null, conntrackCleanup: false });
    const out: RouterCheck[] = [];
    for (const { intent, floatingIps } of routers) {
      if (!intent.desired) continue;
      out.push({
        routerId: intent.router.id,
        desired: intent.desired,
        actual: await dataplane.read(intent.desired),
        floatingIps,
      });
    }
    return out;
  } finally {
    await store.close();
  }
}

const diff = (want: ReadonlyMap<string, string>, got: ReadonlyMap<string, string>, what: string) => {
  const problems: string[] = [];
  for (const [k, v] of want)
    if (got.get(k) !== v) problems.push(`${what} ${k} -> ${v} is ${got.get(k) ?? 'missing'}`);
  for (const [k, v] of got) if (!want.has(k)) problems.push(`${what} ${k} -> ${v} is stale`);
  return problems;
};

/**
 * Everything that must hold once the agent has converged: the kernel carries exactly the store's mappings and
 * addresses in the backend's own structure, nothing is left to apply, the backend owns no state of routers the
 * store does not place in that namespace, and every floating IP's status says what the kernel does.
 */
export async function convergenceProblems(storePath: string, backend: BackendName): Promise<string[]> {
  const problems: string[] = [];
  const dataplane = new RouterDataplane(createDataplane(backend), { garp: null, conntrackCleanup: false });
  const checks = await readStoreAndKernel(storePath, backend);
  const namespaces = new Map<string | null, Set<string>>();
  for (const c of checks) {
    const { desired, actual } = c;
    if (!namespaces.has(desired.namespace)) namespaces.set(desired.namespace, new Set());
    namespaces.get(desired.namespace)!.add(c.routerId);
    if (!actual.present) problems.push(`router ${c.routerId}: no ${backend} state in the kernel`);
    if (!actual.structureMatches) problems.push(`router ${c.routerId}: ${backend} structure differs`);
    const inbound = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
    const outbound = new Map(desired.mappings.map((m) => [m.fixedIp as string, m.floatingIp as string]));
    problems.push(
      ...diff(inbound, actual.inbound, 'inbound'),
      ...diff(outbound, actual.outbound, 'outbound'),
    );
    const addresses = new Map([...inbound.keys()].map((a) => [a, 'local']));
    problems.push(...diff(addresses, new Map([...actual.addresses].map((a) => [a, 'local'])), 'address'));
    if (!isEmptyPlan(dataplane.plan(desired, actual))) problems.push(`router ${c.routerId}: plan not empty`);
    for (const f of c.floatingIps) {
      const forwarded = actual.inbound.get(f.floatingIpAddress) === f.fixedIpAddress;
      if (f.fixedIpAddress !== null && f.routerId === c.routerId) {
        if (f.status !== 'ACTIVE' || !forwarded)
          problems.push(
            `floating IP ${f.floatingIpAddress}: ${f.status} (${f.statusReason}), kernel forwards: ${forwarded}`,
          );
      } else if (f.status !== 'DOWN' || actual.inbound.has(f.floatingIpAddress)) {
        problems.push(
          `unassociated floating IP ${f.floatingIpAddress}: ${f.status}, in kernel: ${actual.inbound.has(f.floatingIpAddress)}`,
        );
      }
    }
  }
  for (const [namespace, routers] of namespaces) {
    for (const id of await dataplane.backend.owned(namespace)) {
      if (!routers.has(id))
        problems.push(`${backend} holds state of router ${id} that the store does not place in ${namespace}`);
    }
  }
  return problems;
}
