import { readdir } from 'node:fs/promises';
import { run } from '../exec/run.js';
import { parseNamespaceName } from '../model/names.js';
import {
  allNamespaces,
  gatewayDeviceOf,
  internalDeviceOf,
  labNamespaces,
  prefixLength,
  vmMac,
  type LabRouter,
  type LabSpec,
} from './topology.js';

const ip = (netns: string, ...args: string[]) => run('ip', ['-n', parseNamespaceName(netns), ...args]);
const sysctl = (netns: string, setting: string) => run('sysctl', ['-q', '-w', setting], { netns });

export async function existingNamespaces(): Promise<Set<string>> {
  try {
    return new Set(await readdir('/run/netns'));
  } catch {
    return new Set();
  }
}

/**
 * Builds a lab entirely inside namespaces it creates: veth pairs are created directly between two lab
 * namespaces, so nothing ever appears in, or connects to, the host's own namespace.
 *
 *   ext host (eth0) ==== (qg-rN) router (qr-rN) ==== switch bridge ==== (eth0) vmK
 */
export async function buildLab(spec: LabSpec): Promise<void> {
  const existing = await existingNamespaces();
  const clash = allNamespaces(spec).find((ns) => existing.has(ns));
  if (clash)
    throw new Error(`Namespace ${clash} already exists: run 'sfip lab down' (prefix ${spec.prefix}) first.`);
  try {
    for (const r of spec.routers) await buildRouter(spec, r);
  } catch (error) {
    await destroyLab(spec);
    throw error;
  }
}

async function buildRouter(spec: LabSpec, r: LabRouter): Promise<void> {
  const ext = labNamespaces.external(spec, r);
  const router = labNamespaces.router(spec, r);
  const sw = labNamespaces.switch(spec, r);
  for (const ns of [ext, router, sw, ...r.vms.map((vm) => labNamespaces.vm(spec, r, vm))]) {
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  const gw = gatewayDeviceOf(r);
  const qr = internalDeviceOf(r);
  await ip(router, 'link', 'add', gw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext);
  await ip(router, 'link', 'add', qr, 'type', 'veth', 'peer', 'name', `sw-${r.name}`, 'netns', sw);
  await ip(sw, 'link', 'add', 'br0', 'type', 'bridge');
  await ip(sw, 'link', 'set', `sw-${r.name}`, 'master', 'br0', 'up');
  await ip(sw, 'link', 'set', 'br0', 'up');

  await ip(ext, 'addr', 'add', `${r.upstreamIp}/${prefixLength(r.externalCidr)}`, 'dev', 'eth0');
  await ip(ext, 'link', 'set', 'eth0', 'up');

  await ip(router, 'addr', 'add', `${r.gatewayIp}/${prefixLength(r.externalCidr)}`, 'dev', gw);
  await ip(router, 'addr', 'add', `${r.internalGatewayIp}/${prefixLength(r.internalCidr)}`, 'dev', qr);
  await ip(router, 'link', 'set', gw, 'up');
  await ip(router, 'link', 'set', qr, 'up');
  await ip(router, 'route', 'add', 'default', 'via', r.upstreamIp);
  await sysctl(router, 'net.ipv4.ip_forward=1');
  // Hairpin traffic (VM to another VM's floating IP) leaves by the interface it came in on; without this the
  // router would also tell the sender to go direct, which is wrong once addresses are translated.
  await sysctl(router, 'net.ipv4.conf.all.send_redirects=0');
  await sysctl(router, `net.ipv4.conf.${qr}.send_redirects=0`);

  for (const vm of r.vms) {
    const ns = labNamespaces.vm(spec, r, vm);
    await ip(sw, 'link', 'add', `sw-${vm.name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip(sw, 'link', 'set', `sw-${vm.name}`, 'master', 'br0', 'up');
    await ip(ns, 'link', 'set', 'eth0', 'address', vmMac(vm));
    await ip(ns, 'addr', 'add', `${vm.ip}/${prefixLength(r.internalCidr)}`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
    await ip(ns, 'route', 'add', 'default', 'via', r.internalGatewayIp);
  }
}

/** Deletes every namespace of the lab; their devices, addresses, rules and conntrack entries go with them. */
export async function destroyLab(spec: LabSpec): Promise<string[]> {
  return destroyNamespaces(allNamespaces(spec));
}

/** Signals every process running in a namespace (a namespace with a process in it outlives its deletion). */
export async function signalNamespaceProcesses(ns: string, signal: NodeJS.Signals): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns]).then(
    (r) => r.stdout.split('\n').filter(Boolean),
    () => [],
  );
  for (const pid of pids) {
    try {
      process.kill(Number(pid), signal);
    } catch {
      /* already gone */
    }
  }
}

/** Stops what runs in each namespace that exists, then deletes it. Returns the ones deleted. */
export async function destroyNamespaces(namespaces: readonly string[]): Promise<string[]> {
  const existing = await existingNamespaces();
  const removed: string[] = [];
  for (const ns of namespaces) {
    if (!existing.has(ns)) continue;
    await signalNamespaceProcesses(ns, 'SIGTERM');
    await run('ip', ['netns', 'del', ns]);
    removed.push(ns);
  }
  return removed;
}
