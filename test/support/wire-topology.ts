import { run } from '../../src/exec/run.js';
import { parseNamespaceName } from '../../src/model/index.js';
import { labRouter, type LabSpec } from '../../src/lab/index.js';
import type { DataplaneFixture } from './dataplane-fixture.js';

/**
 * The wire-correctness topology: one router with two VMs, its upstream ("mid", the lab's external host) and a
 * far host behind mid. Two bottlenecks make path-MTU discovery necessary in both directions without clamping
 * anyone's MSS (every device keeps MTU 1500; the limits are route MTUs):
 *   - mid's route to the far subnet has MTU 1280: errors about a VM's packets come back to its floating IP;
 *   - the router's route to the VMs' subnet has MTU 1280: the router itself reports the far host's packets, which
 *     it has already translated to the fixed IP.
 *
 *   vm1, vm2 -- sw -- router [route to 10.0.0.0/24 mtu 1280] -- mid 203.0.113.1 [route to far mtu 1280] -- far 198.51.100.2
 */
export function wireLab(prefix: string): LabSpec {
  return { prefix, routers: [labRouter('r1', '203.0.113', 2)] };
}

export const FAR = '198.51.100.2';
export const MID = '203.0.113.1';
export const BOTTLENECK_MTU = 1280;

export const farNamespace = (prefix: string) => parseNamespaceName(`${prefix}-far`);

export async function addFarHost(f: DataplaneFixture): Promise<void> {
  const prefix = f.spec.prefix;
  const mid = `${prefix}-r1-ext`;
  const router = `${prefix}-r1`;
  const far = farNamespace(prefix);
  const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
  await run('ip', ['netns', 'add', far]);
  f.extraNamespaces.push(far);
  await ip(far, 'link', 'set', 'lo', 'up');
  await ip(mid, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far);
  await ip(mid, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth1');
  await ip(mid, 'link', 'set', 'eth1', 'up');
  await ip(far, 'addr', 'add', `${FAR}/24`, 'dev', 'eth0');
  await ip(far, 'link', 'set', 'eth0', 'up');
  await ip(far, 'route', 'add', 'default', 'via', '198.51.100.1');
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: mid });
  await ip(
    mid,
    'route',
    'replace',
    '198.51.100.0/24',
    'dev',
    'eth1',
    'src',
    '198.51.100.1',
    'mtu',
    'lock',
    String(BOTTLENECK_MTU),
  );
  // mid can reach the fixed addresses directly, as a misbehaving upstream could: anti-spoofing must drop that.
  await ip(mid, 'route', 'add', '10.0.0.0/8', 'via', '203.0.113.2');
  await ip(
    router,
    'route',
    'replace',
    '10.0.0.0/24',
    'dev',
    'qr-r1',
    'src',
    '10.0.0.1',
    'mtu',
    'lock',
    String(BOTTLENECK_MTU),
  );
  await f.probe(far, 'far');
}
