import { parseNamespaceName } from '../model/names.js';

export interface LabVm {
  readonly name: string;
  readonly ip: string;
}

export interface LabRouter {
  readonly name: string;
  /** The external network this router's gateway sits on. */
  readonly externalCidr: string;
  /** The external host's address: upstream gateway of the external subnet. */
  readonly upstreamIp: string;
  readonly gatewayIp: string;
  readonly poolStart: string;
  readonly poolEnd: string;
  readonly internalCidr: string;
  readonly internalGatewayIp: string;
  readonly vms: readonly LabVm[];
}

export interface LabSpec {
  /** Prefix of every namespace the lab creates, so several labs (a demo and a test run) can coexist. */
  readonly prefix: string;
  readonly routers: readonly LabRouter[];
}

/**
 * A lab router on a documentation range (the upstream at .1, the router at .2, floating IPs from .10 to .250),
 * with the private 10.0.0.0/24 inside and `vmCount` VMs at 10.0.0.11, .12, ...
 */
export function labRouter(
  name: string,
  publicPrefix: '203.0.113' | '198.51.100',
  vmCount: number,
): LabRouter {
  return {
    name,
    externalCidr: `${publicPrefix}.0/24`,
    upstreamIp: `${publicPrefix}.1`,
    gatewayIp: `${publicPrefix}.2`,
    poolStart: `${publicPrefix}.10`,
    poolEnd: `${publicPrefix}.250`,
    internalCidr: '10.0.0.0/24',
    internalGatewayIp: '10.0.0.1',
    vms: Array.from({ length: vmCount }, (_, i) => ({ name: `vm${i + 1}`, ip: `10.0.0.${11 + i}` })),
  };
}

/** The demo: one router, three VMs; vm1 and vm2 get floating IPs, vm3 leaves through shared SNAT. */
export function demoLab(prefix = 'sfip'): LabSpec {
  return { prefix, routers: [labRouter('r1', '203.0.113', 3)] };
}

/** Namespace names of one lab. */
export const labNamespaces = {
  router: (spec: LabSpec, r: LabRouter) => parseNamespaceName(`${spec.prefix}-${r.name}`),
  external: (spec: LabSpec, r: LabRouter) => parseNamespaceName(`${spec.prefix}-${r.name}-ext`),
  switch: (spec: LabSpec, r: LabRouter) => parseNamespaceName(`${spec.prefix}-${r.name}-sw`),
  vm: (spec: LabSpec, r: LabRouter, vm: LabVm) => parseNamespaceName(`${spec.prefix}-${r.name}-${vm.name}`),
};

/** Device names inside a router namespace. Short, to fit IFNAMSIZ. */
export const gatewayDeviceOf = (r: LabRouter) => `qg-${r.name}`;
export const internalDeviceOf = (r: LabRouter) => `qr-${r.name}`;

export function allNamespaces(spec: LabSpec): string[] {
  return spec.routers.flatMap((r) => [
    labNamespaces.external(spec, r),
    labNamespaces.router(spec, r),
    labNamespaces.switch(spec, r),
    ...r.vms.map((vm) => labNamespaces.vm(spec, r, vm)),
  ]);
}

/**
 * A VM's MAC, derived from its fixed IP in Neutron's fa:16:3e prefix. The lab gives the VM this MAC and registers
 * its port with it, as a cloud does, so the router's anti-spoofing can bind fixed IPs to ports.
 */
export function vmMac(vm: LabVm): string {
  const [, b, c, d] = vm.ip.split('.').map(Number) as [number, number, number, number];
  return ['fa', '16', '3e', ...[b, c, d].map((n) => n.toString(16).padStart(2, '0'))].join(':');
}

export const prefixLength = (cidr: string) => Number(cidr.split('/')[1]);
