import { run as defaultRun, type Runner } from '../../exec/run.js';
import type { IPv4 } from '../../model/index.js';
import type { RouterTarget } from '../types.js';

/**
 * Floating addresses sit on the gateway device as /32s so that the router answers ARP for them. They carry
 * this route metric as an ownership mark: iproute2 6.1 cannot set IFA_PROTO, and a /32 has no prefix route
 * for the metric to affect, so the metric is free to say "sfip put this here".
 */
export const FLOATING_ADDRESS_METRIC = 24347;

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  metric?: number;
}

export async function readFloatingAddresses(
  target: RouterTarget,
  run: Runner = defaultRun,
): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-j', 'address', 'show', 'dev', target.gatewayDevice], {
    netns: target.namespace,
  });
  const links = JSON.parse(stdout || '[]') as { addr_info?: AddrInfo[] }[];
  return new Set(
    links
      .flatMap((l) => l.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.prefixlen === 32 && a.metric === FLOATING_ADDRESS_METRIC)
      .map((a) => a.local),
  );
}

export function renderAddressBatch(device: string, add: readonly IPv4[], remove: readonly string[]): string {
  return [
    ...remove.map((ip) => `address del ${ip}/32 dev ${device} metric ${FLOATING_ADDRESS_METRIC}`),
    ...add.map((ip) => `address replace ${ip}/32 dev ${device} metric ${FLOATING_ADDRESS_METRIC}`),
  ]
    .map((line) => `${line}\n`)
    .join('');
}

export async function applyAddressChanges(
  target: RouterTarget,
  add: readonly IPv4[],
  remove: readonly string[],
  run: Runner = defaultRun,
): Promise<void> {
  if (add.length === 0 && remove.length === 0) return;
  await run('ip', ['-batch', '-'], {
    netns: target.namespace,
    input: renderAddressBatch(target.gatewayDevice, add, remove),
  });
}

/** Fails with a clear message when the namespace or the gateway device is missing, before anything is applied. */
export async function checkGatewayDevice(target: RouterTarget, run: Runner = defaultRun): Promise<void> {
  try {
    await run('ip', ['-j', 'link', 'show', 'dev', target.gatewayDevice], { netns: target.namespace });
  } catch (error) {
    const text = (error as Error).message;
    if (/Cannot open network namespace/.test(text)) {
      throw new Error(`network namespace ${target.namespace} does not exist`, { cause: error });
    }
    if (/does not exist|Cannot find device/.test(text)) {
      throw new Error(
        `gateway device ${target.gatewayDevice} does not exist in ${describeNamespace(target.namespace)}`,
        { cause: error },
      );
    }
    throw error;
  }
}

export function describeNamespace(namespace: string | null): string {
  return namespace === null ? 'the host namespace' : `namespace ${namespace}`;
}
