import { spawnProgram as spawn } from '../exec/spawn.js';
import { ApiClient } from '../client/api-client.js';
import { parseNamespaceName } from '../model/names.js';
import { nodeProgram } from '../paths.js';
import { buildLab, destroyLab, existingNamespaces } from './namespaces.js';
import { registerLab, unregisterLab, type RegisteredRouter } from './register.js';
import { allNamespaces, labNamespaces, type LabSpec } from './topology.js';

/** Builds the namespaces, starts a web server in each VM, and registers the topology with the API. */
export async function labUp(api: ApiClient, spec: LabSpec): Promise<RegisteredRouter[]> {
  // Fail before touching the kernel when the API is not there.
  await api.get('/');
  await buildLab(spec);
  try {
    for (const r of spec.routers) {
      for (const vm of r.vms) startVmServer(labNamespaces.vm(spec, r, vm), vm.name);
    }
    return await registerLab(api, spec);
  } catch (error) {
    await destroyLab(spec);
    throw error;
  }
}

function startVmServer(namespace: string, name: string): void {
  const child = spawn(
    'ip',
    ['netns', 'exec', parseNamespaceName(namespace), ...nodeProgram('lab/netprobe'), '--http', '80'],
    {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, PROBE_NAME: name },
    },
  );
  child.unref();
}

export interface LabDownResult {
  readonly unregistered: number;
  readonly namespaces: string[];
  readonly apiError?: string;
}

/** Unregisters first (so the agent removes its state cleanly), then deletes the namespaces regardless. */
export async function labDown(api: ApiClient, spec: LabSpec): Promise<LabDownResult> {
  let unregistered = 0;
  let apiError: string | undefined;
  try {
    unregistered = await unregisterLab(api, spec);
  } catch (error) {
    apiError = (error as Error).message;
  }
  return { unregistered, namespaces: await destroyLab(spec), ...(apiError !== undefined && { apiError }) };
}

export async function labStatus(spec: LabSpec): Promise<{ namespace: string; exists: boolean }[]> {
  const existing = await existingNamespaces();
  return allNamespaces(spec).map((namespace) => ({ namespace, exists: existing.has(namespace) }));
}
