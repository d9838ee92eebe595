import type { ControlResult } from './control/run-control.js';
import type { SwitchResult } from './control/run-switch.js';
import type { ExhaustionResult } from './exhaustion.js';
import type { ForwardingResult } from './forwarding/run-forwarding.js';

/** Everything one `npm run bench` measured; the document and plots are generated from this alone. */
export interface BenchResults {
  readonly profile: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly environment: {
    kernel: string;
    cpu: string;
    cpus: number;
    node: string;
    iptables: string;
    nft: string;
  };
  readonly forwarding?: ForwardingResult;
  readonly exhaustion?: ExhaustionResult;
  readonly control?: ControlResult;
  readonly backendSwitch?: SwitchResult;
}
