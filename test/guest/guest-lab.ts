/**
 * Helpers for tests that run inside the act_nat guest (scripts/guest/run.sh): a lab topology with probes, the
 * conntrack view of the router namespace, and a reconcile step that goes through a Dataplane like the agent does.
 */
import { run } from '../../src/exec/run.js';
import { buildLab, destroyLab } from '../../src/lab/namespaces.js';
import { Probe } from '../../src/lab/probe-client.js';
import { gatewayDeviceOf, labNamespaces, type LabSpec } from '../../src/lab/topology.js';
import { parseIPv4, type IPv4 } from '../../src/model/ipv4.js';
import type {
  Dataplane,
  DesiredRouter,
  FloatingMapping,
  Plan,
  RouterTarget,
} from '../../src/dataplane/types.js';
import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/router-dataplane.js';

export const ROUTER_ID = '5f1c0de0-0000-4000-8000-00000000a001';

export function guestLab(prefix: string): LabSpec {
  return {
    prefix,
    routers: [
      {
        name: 'r1',
        externalCidr: '203.0.113.0/24',
        upstreamIp: '203.0.113.1',
        gatewayIp: '203.0.113.2',
        poolStart: '203.0.113.10',
        poolEnd: '203.0.113.250',
        internalCidr: '10.0.0.0/24',
        internalGatewayIp: '10.0.0.1',
        vms: [
          { name: 'vm1', ip: '10.0.0.11' },
          { name: 'vm2', ip: '10.0.0.12' },
          { name: 'vm3', ip: '10.0.0.13' },
        ],
      },
    ],
  };
}

export const mapping = (floatingIp: string, fixedIp: string): FloatingMapping => ({
  floatingIp: parseIPv4(floatingIp),
  fixedIp: parseIPv4(fixedIp),
});

export function desiredFor(spec: LabSpec, mappings: readonly FloatingMapping[]): DesiredRouter {
  const r = spec.routers[0]!;
  return {
    routerId: ROUTER_ID,
    namespace: labNamespaces.router(spec, r),
    gatewayDevice: gatewayDeviceOf(r),
    gatewayIp: parseIPv4(r.gatewayIp),
    internalCidrs: [r.internalCidr],
    mappings: [...mappings].sort((a, b) => (ipKey(a.floatingIp) < ipKey(b.floatingIp) ? -1 : 1)),
  };
}

const ipKey = (ip: IPv4) =>
  ip
    .split('.')
    .map((o) => o.padStart(3, '0'))
    .join('.');

/** read -> plan -> apply through the router layer (addresses too), as the agent does. Returns the plan. */
export async function reconcile(dataplane: Dataplane, desired: DesiredRouter): Promise<Plan> {
  return new RouterDataplane(dataplane, WITHOUT_CHORES).reconcile(desired);
}

/** Removes a router as the agent does: the backend's objects, then its floating addresses. */
export async function removeRouter(dataplane: Dataplane, target: RouterTarget): Promise<void> {
  await new RouterDataplane(dataplane, WITHOUT_CHORES).remove(target);
}

export interface ConntrackEntry {
  readonly line: string;
  readonly unreplied: boolean;
}

export async function conntrackEntries(namespace: string): Promise<ConntrackEntry[]> {
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4'], { netns: namespace, okExitCodes: [1] });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => ({ line, unreplied: line.includes('[UNREPLIED]') }));
}

/** Entries that mention any of these addresses as a whole word. */
export function entriesMentioning(entries: readonly ConntrackEntry[], addresses: readonly string[]) {
  return entries.filter((e) =>
    addresses.some((a) => new RegExp(`=${a.replace(/\./g, '\\.')}(\\s|$)`).test(e.line)),
  );
}

export async function flushConntrack(namespace: string): Promise<void> {
  await run('conntrack', ['-F'], { netns: namespace, okExitCodes: [1] });
}

export interface GuestLab {
  readonly spec: LabSpec;
  readonly routerNs: string;
  readonly ext: Probe;
  readonly vms: Record<'vm1' | 'vm2' | 'vm3', Probe>;
  close(): Promise<void>;
}

/** Builds the lab and starts a probe in the external host and each VM, listening on TCP and UDP port 7. */
export async function startGuestLab(prefix: string): Promise<GuestLab> {
  const spec = guestLab(prefix);
  await destroyLab(spec);
  await buildLab(spec);
  const r = spec.routers[0]!;
  const ext = new Probe(labNamespaces.external(spec, r), 'ext');
  const vms = Object.fromEntries(
    r.vms.map((vm) => [vm.name, new Probe(labNamespaces.vm(spec, r, vm), vm.name)]),
  ) as GuestLab['vms'];
  await Promise.all(
    [ext, ...Object.values(vms)].flatMap((p) => [
      p.call({ op: 'listen', proto: 'tcp', port: 7 }),
      p.call({ op: 'listen', proto: 'udp', port: 7 }),
    ]),
  );
  return {
    spec,
    routerNs: labNamespaces.router(spec, r),
    ext,
    vms,
    async close() {
      for (const p of [ext, ...Object.values(vms)]) p.close();
      await destroyLab(spec);
    },
  };
}
