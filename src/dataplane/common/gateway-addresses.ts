import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NATIVE_DIR } from '../../paths.js';
import { ExecError, isNamespaceGone, run as defaultRun, type Runner } from '../../exec/run.js';
import { parseDeviceName, parseIPv4, type IPv4 } from '../../model/index.js';
import type { GatewayAddresses, RouterTarget } from '../types.js';
import { inSlices, LoopBudget } from '../../metrics/slices.js';
import { ChannelError } from './line-channel.js';
import { CHANNEL_MAX_BYTES, type NetnsChannels } from './netns-channels.js';

/**
 * The router must answer ARP for its floating addresses. Instead of /32 addresses on the gateway device, sfip
 * installs a `local` route per floating address in the namespace's local table: the kernel then treats the
 * address as its own (answers ARP, can send GARP from it) exactly as for an address, but inserting a route is
 * O(log n) where adding an interface address walks the device's address list (measured: 10,000 addresses took
 * 2.3 s, 100,000 local routes 0.75 s). The route protocol number marks the routes as sfip's, so they can be read
 * back and swept without touching anything else.
 */
export const FLOATING_ROUTE_PROTOCOL = 249;

/**
 * The compiled route writer (native/local-routes.c), which `npm run build` puts in dist/native: it reads the same
 * lines as `ip -batch` and sends them to the kernel about a thousand per sendmsg, without waiting for each route's
 * answer as `ip -batch` does (100,000 local routes in a scratch namespace: 0.2-0.3 s instead of 1.6 s). Each route
 * that fails is named on its standard error.
 */
export const LOCAL_ROUTES_HELPER = join(NATIVE_DIR, 'sfip-local-routes');

/** Whether the route writer is built (checked once: a source checkout without `npm run build` lacks it). */
let routeWriter: boolean | undefined;
const hasRouteWriter = () => (routeWriter ??= existsSync(LOCAL_ROUTES_HELPER));

interface LocalRoute {
  type?: string;
  dst: string;
}

/**
 * The floating addresses the namespace holds. Through the namespace's long-lived ip read process when there are
 * channels (one process start fewer per read; not the process that writes, see NetnsChannels.ipRead), else a
 * process of its own.
 */
export async function readFloatingAddresses(
  target: RouterTarget,
  run: Runner = defaultRun,
  channels: NetnsChannels | null = null,
): Promise<Set<string>> {
  const device = parseDeviceName(target.gatewayDevice);
  const show = ['route', 'show', 'table', 'local', 'dev', device, 'proto', String(FLOATING_ROUTE_PROTOCOL)];
  let stdout: string;
  try {
    stdout = channels
      ? await channels.ipRead(target.namespace, show.join(' '))
      : (await run('ip', ['-j', ...show], { netns: target.namespace })).stdout;
  } catch (error) {
    // A namespace without any local address has no local table yet, so it holds no floating address either.
    if (
      (error instanceof ExecError || error instanceof ChannelError) &&
      /FIB table does not exist/.test(error.stderr)
    )
      return new Set();
    // Naming the device, this read fails as checkGatewayDevice does: the router layer's read checks the gateway
    // with it, one process fewer per read of every router.
    throw gatewayProblem(target, error) ?? error;
  }
  const routes = JSON.parse(stdout || '[]') as LocalRoute[];
  return new Set(routes.filter((r) => r.type === 'local').map((r) => r.dst.replace(/\/32$/, '')));
}

export function renderAddressBatch(device: string, add: readonly IPv4[], remove: readonly string[]): string {
  // `ip -batch` reads lines: a device name or an address with a newline in it would be a command of its own.
  parseDeviceName(device);
  return (
    addressLines(device, 'del', remove, 0, remove.length) +
    addressLines(device, 'replace', add, 0, add.length)
  );
}

/**
 * renderAddressBatch in slices of the loop's time: the batch of a converge's 100,000 local routes (parsing every
 * address, then the text) held the event loop for about 60 ms in one piece.
 */
export async function renderAddressBatchSliced(
  device: string,
  add: readonly IPv4[],
  remove: readonly string[],
  budget: LoopBudget,
): Promise<string> {
  parseDeviceName(device);
  const parts: string[] = [];
  for (const [verb, ips] of [
    ['del', remove],
    ['replace', add],
  ] as const) {
    await inSlices(ips.length, budget, (start, end) =>
      parts.push(addressLines(device, verb, ips, start, end)),
    );
  }
  return parts.join('');
}

/** The batch's lines that `verb` the addresses of `ips` from `start` to `end`, each address validated first. */
function addressLines(
  device: string,
  verb: 'del' | 'replace',
  ips: readonly string[],
  start: number,
  end: number,
): string {
  let lines = '';
  for (let i = start; i < end; i++) {
    const ip = parseIPv4(ips[i]!);
    lines += `route ${verb} local ${ip}/32 dev ${device} table local proto ${FLOATING_ROUTE_PROTOCOL}\n`;
  }
  return lines;
}

/**
 * A change of floating addresses made ready: the batch validated and rendered (in slices, see
 * renderAddressBatchSliced); the returned function sends it to the kernel. The router layer prepares while the
 * backend's batch goes in, and sends only once that is in (translation first, addresses second).
 */
export async function prepareAddressChanges(
  target: RouterTarget,
  add: readonly IPv4[],
  remove: readonly string[],
  budget: LoopBudget,
  run: Runner = defaultRun,
  channels: NetnsChannels | null = null,
): Promise<() => Promise<void>> {
  if (add.length === 0 && remove.length === 0) return async () => undefined;
  const batch = await renderAddressBatchSliced(target.gatewayDevice, add, remove, budget);
  // A few routes (a delta) go through the namespace's long-lived ip process; a bulk change is one run of the
  // route writer, or of `ip -batch` without it.
  if (channels && batch.length <= CHANNEL_MAX_BYTES) return () => channels.ip(target.namespace, batch);
  const [file, args] = hasRouteWriter() ? [LOCAL_ROUTES_HELPER, []] : ['ip', ['-batch', '-']];
  return async () => {
    await run(file, args, { netns: target.namespace, input: batch });
  };
}

export async function applyAddressChanges(
  target: RouterTarget,
  add: readonly IPv4[],
  remove: readonly string[],
  run: Runner = defaultRun,
  channels: NetnsChannels | null = null,
): Promise<void> {
  const send = await prepareAddressChanges(target, add, remove, new LoopBudget(), run, channels);
  await send();
}

/** Floating addresses as local routes on the gateway device (see FLOATING_ROUTE_PROTOCOL). */
export function kernelGatewayAddresses(
  channels: NetnsChannels | null,
  run: Runner = defaultRun,
): GatewayAddresses {
  return {
    read: (target) => readFloatingAddresses(target, run, channels),
    change: (target, add, remove) => applyAddressChanges(target, add, remove, run, channels),
    prepare: (target, add, remove, budget) =>
      prepareAddressChanges(target, add, remove, budget, run, channels),
  };
}

/** Fails with a clear message when the namespace or the gateway device is missing, before anything is applied. */
export async function checkGatewayDevice(target: RouterTarget, run: Runner = defaultRun): Promise<void> {
  try {
    await run('ip', ['-j', 'link', 'show', 'dev', target.gatewayDevice], { netns: target.namespace });
  } catch (error) {
    throw gatewayProblem(target, error) ?? error;
  }
}

/** The clear error for a tool that failed, inside the router's namespace, on the gateway device or the namespace. */
function gatewayProblem(target: RouterTarget, error: unknown): Error | undefined {
  const text = (error as Error).message;
  if (isNamespaceGone(error)) {
    return new Error(`network namespace ${target.namespace} does not exist`, { cause: error });
  }
  if (/does not exist|Cannot find device/.test(text)) {
    return new Error(
      `gateway device ${target.gatewayDevice} does not exist in ${describeNamespace(target.namespace)}`,
      { cause: error },
    );
  }
  return undefined;
}

export function describeNamespace(namespace: string | null): string {
  return namespace === null ? 'the host namespace' : `namespace ${namespace}`;
}
