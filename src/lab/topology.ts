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

/** The demo: one router, three VMs; vm1 and vm2 get floating IPs, vm3 leaves through shared SNAT. */
export function demoLab(prefix = 'sfip'): LabSpec {
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
