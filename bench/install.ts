import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PIN_ROOT } from '../src/dataplane/ebpf/layout.js';
import { RouterDataplane, WITHOUT_CHORES } from '../src/dataplane/index.js';
import { createDataplane, type Dataplane, type DesiredRouter } from '../src/dataplane/index.js';
import type { BackendName } from '../src/model/index.js';
import { fixedIpOf, floatingIpOf, type BenchRouter, type BenchTopology } from './topology.js';

/** The router's desired state with floating IPs 0..count-1 (floatingIpOf(i) -> fixedIpOf(i)). */
export function benchDesired(
  t: BenchTopology,
  r: BenchRouter,
  routerId: string,
  count: number,
  options: Pick<DesiredRouter, 'fastPath'> = {},
): DesiredRouter {
  return {
    ...options,
    routerId,
    namespace: r.namespace,
    gatewayDevice: t.gatewayDevice,
    gatewayIp: t.gatewayIp,
    // Shared SNAT for the whole fixed range keeps conntrack hooked in every NAT configuration, as in production.
    internalCidrs: [t.fixedCidr],
    mappings: Array.from({ length: count }, (_, i) => ({
      floatingIp: floatingIpOf(i),
      fixedIp: fixedIpOf(i),
    })),
  };
}

export interface Installed {
  readonly dataplane: Dataplane;
  readonly desired: DesiredRouter;
  /** Wall time of read + plan + apply. */
  readonly applyMs: number;
}

/** Brings a bench router to `count` floating IPs through the backend's own read/plan/apply. */
export async function installFloatingIps(
  t: BenchTopology,
  r: BenchRouter,
  backend: BackendName,
  routerId: string,
  count: number,
  options: Pick<DesiredRouter, 'fastPath'> = {},
): Promise<Installed> {
  const dataplane = createDataplane(backend);
  const desired = benchDesired(t, r, routerId, count, options);
  const started = performance.now();
  await new RouterDataplane(dataplane, WITHOUT_CHORES).reconcile(desired);
  return { dataplane, desired, applyMs: performance.now() - started };
}

/** Whether a backend can run here, and why not. */
export async function availability(backend: BackendName): Promise<{ ok: boolean; reason: string }> {
  try {
    const failed = (await createDataplane(backend).check()).filter((c) => !c.ok);
    return failed.length === 0
      ? { ok: true, reason: '' }
      : { ok: false, reason: failed.map((c) => c.detail).join('; ') };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/**
 * Removes what an eBPF bench router leaves in bpffs once its namespace is gone: its pinned maps (up to 100,000
 * entries) and programs, which the kernel keeps loaded while they are pinned and nothing else would remove.
 */
export async function removeEbpfPins(routerId: string): Promise<void> {
  await rm(join(PIN_ROOT, routerId), { recursive: true, force: true });
}
