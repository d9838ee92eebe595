import { Command } from 'commander';
import { IMPLEMENTED_BACKENDS } from '../../dataplane/registry.js';
import { doctor, usableBackends } from '../../doctor/doctor.js';
import { printList } from '../output.js';
import { outputOf } from './common.js';

const IMPLEMENTED = new Set<string>(IMPLEMENTED_BACKENDS);

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'Say what this kernel and its tools support (nft, conntrack, act_nat, BPF) and what is missing',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const lines = await doctor();
      const out = outputOf(cmd);
      const usable = usableBackends(lines);
      if (out.json) {
        console.log(
          JSON.stringify(
            { checks: lines, usableBackends: usable.filter((b) => IMPLEMENTED.has(b)) },
            null,
            2,
          ),
        );
      } else {
        printList(
          null,
          lines.map((l) => ({ ...l, ok: l.ok ? 'ok' : 'MISSING' })),
          [
            ['Area', 'area'],
            ['Check', 'check'],
            ['Status', 'ok'],
            ['Detail', 'detail'],
          ],
          out,
        );
        for (const area of ['nftables', 'tc', 'ebpf', 'iptables']) {
          const state = !usable.includes(area)
            ? 'not usable here (see MISSING lines)'
            : IMPLEMENTED.has(area)
              ? 'usable'
              : 'supported by the kernel, not implemented in this build';
          console.log(`backend ${area}: ${state}`);
        }
      }
      if (!usable.includes('nftables')) process.exitCode = 1;
    });
}
