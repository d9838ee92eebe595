import { run as defaultRun, type Runner } from '../../exec/run.js';
import type { RouterTarget } from '../types.js';

/**
 * Announces floating addresses on the gateway device with gratuitous ARP, as Neutron does: unsolicited
 * requests (-U) then replies (-A), so that upstream neighbours update caches that still point at an old owner.
 */
export async function sendGratuitousArp(
  target: RouterTarget,
  addresses: readonly string[],
  run: Runner = defaultRun,
  count = 3,
): Promise<void> {
  for (const mode of ['-U', '-A']) {
    await Promise.all(
      addresses.map((ip) =>
        run('arping', [mode, '-c', String(count), '-w', String(count + 1), '-I', target.gatewayDevice, ip], {
          netns: target.namespace,
          // arping exits 1 when no reply arrives, which is normal for gratuitous ARP.
          okExitCodes: [1],
        }),
      ),
    );
  }
}
