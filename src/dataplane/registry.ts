import { badRequest, type BackendName } from '../model/index.js';
import type { Runner } from '../exec/run.js';
import { EbpfDataplane } from './ebpf/ebpf-backend.js';
import { FakeDataplane } from './fake/fake-dataplane.js';
import { IptablesDataplane } from './iptables/iptables-backend.js';
import { NftablesDataplane } from './nftables/nftables-backend.js';
import { TcDataplane } from './tc/tc-backend.js';
import type { Dataplane } from './types.js';

/** The real (kernel) backends this build of sfip implements. */
export const IMPLEMENTED_BACKENDS: readonly BackendName[] = ['nftables', 'ebpf', 'iptables', 'tc'];

export interface DataplaneOptions {
  /**
   * Where a backend tells what went wrong but was recovered from (nftables: a first apply's element loader failed
   * and the one-transaction rebuild took over). The daemon passes its logger; without it, a process warning.
   */
  readonly warn?: (message: string) => void;
}

/** Builds the dataplane driver for a backend name. Backends that have not landed yet say so plainly. */
export function createDataplane(name: BackendName, run?: Runner, options: DataplaneOptions = {}): Dataplane {
  switch (name) {
    case 'nftables':
      return new NftablesDataplane(run, undefined, undefined, options.warn && { warn: options.warn });
    case 'ebpf':
      return new EbpfDataplane(run);
    case 'tc':
      return new TcDataplane(run);
    case 'iptables':
      return new IptablesDataplane(run);
    case 'fake':
      return new FakeDataplane();
    default:
      throw badRequest(
        `The ${name} dataplane backend is not available in this build of sfip; use nftables, ebpf, iptables or tc.`,
      );
  }
}
