import { badRequest, type BackendName } from '../model/index.js';
import type { Runner } from '../exec/run.js';
import { EbpfDataplane } from './ebpf/ebpf-backend.js';
import { FakeDataplane } from './fake/fake-dataplane.js';
import { IptablesDataplane } from './iptables/iptables-backend.js';
import { NftablesDataplane } from './nftables/nftables-backend.js';
import type { Dataplane } from './types.js';

/** The real (kernel) backends this build of sfip implements. */
export const IMPLEMENTED_BACKENDS: readonly BackendName[] = ['nftables', 'ebpf', 'iptables'];

/** Builds the dataplane driver for a backend name. Backends that have not landed yet say so plainly. */
export function createDataplane(name: BackendName, run?: Runner): Dataplane {
  switch (name) {
    case 'nftables':
      return new NftablesDataplane(run);
    case 'ebpf':
      return new EbpfDataplane(run);
    case 'iptables':
      return new IptablesDataplane(run);
    case 'fake':
      return new FakeDataplane();
    default:
      throw badRequest(
        `The ${name} dataplane backend is not available in this build of sfip; use nftables, ebpf or iptables.`,
      );
  }
}
