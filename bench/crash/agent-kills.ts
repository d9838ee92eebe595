import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, type Json } from '../../src/client/api-client.js';
import { FLOATING_ROUTE_PROTOCOL } from '../../src/dataplane/index.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { routerPinDir } from '../../src/dataplane/ebpf/paths.js';
import { run } from '../../src/exec/run.js';
import { nowUs } from '../../src/lab/tagged-traffic.js';
import { parseNamespaceName, type BackendName } from '../../src/model/index.js';
import { buildChurnLab, churnLabSpec, destroyChurnLab } from '../churn/churn-lab.js';
import { prng } from '../churn/churner.js';
import { Timeline } from '../churn/ownership.js';
import { judge, type DirectionVerdict } from '../churn/verdicts.js';
import { convergenceProblems, readStoreAndKernel } from '../faults/kernel-check.js';
import { ServeProcess } from '../faults/serve-process.js';
import { TaggedStreams } from '../faults/tagged-streams.js';
import { APPLY_TOOLS, KERNEL_TOOLS, killPoint } from './kill-point.js';
import { planWrites } from './random-writes.js';
import {
  foreignState,
  injectDuplicate,
  kernelSnapshot,
  multisetDifference,
  plantForeign,
  referenceSnapshot,
} from './kernel-snapshot.js';

export interface AgentKillOptions {
  readonly prefix: string;
  readonly backend: BackendName;
  readonly iterations: number;
  readonly port: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface KillRecord {
  readonly iteration: number;
  /**
   * 'apply': killed the moment a tool that changes the kernel was seen; 'tool': a few ms after any kernel tool
   * appeared; 'delay': at a random delay after the writes.
   */
  readonly mode: 'apply' | 'tool' | 'delay';
  readonly point: string;
  readonly writes: number;
  readonly acknowledged: number;
  readonly readyMs: number;
  /** Problems right after the restarted agent reported ready (must be none). */
  readonly problems: string[];
}

export interface AgentKillResult {
  readonly backend: BackendName;
  readonly iterations: number;
  readonly kills: KillRecord[];
  readonly killPoints: Record<string, number>;
  readonly writes: number;
  readonly acknowledged: number;
  readonly convergedAtReady: number;
  /** A hand-planted duplicate rule and stale address were reported by the same checks (they can fail). */
  readonly selfCheck: { readonly duplicateSeen: boolean; readonly staleSeen: boolean };
  readonly readyP50Ms: number;
  readonly readyMaxMs: number;
  /** Floating IPs that existed before the first kill, with traffic both ways through every kill and restart. */
  readonly stableInbound: DirectionVerdict;
  readonly stableOutbound: DirectionVerdict;
}

const STABLE = 2;
/** The kill point of a kill inside the apply failpoint: translation applied, addresses not yet changed. */
const APPLY_PAUSED = 'apply paused after the translation (failpoint)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until serve runs a matching tool (or `timeoutMs` passes), polling its children as fast as it can, and
 * returns what was running: the caller kills in the same tick, so the tool was running when the kill was sent.
 */
async function untilKernelTool(
  serve: ServeProcess,
  tools: RegExp,
  timeoutMs: number,
  pausedMarker?: string,
): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const running = serve.children().filter((c) => KERNEL_TOOLS.test(c));
    if (running.some((c) => tools.test(c))) return killPoint(running);
    if (pausedMarker !== undefined && existsSync(pausedMarker)) return APPLY_PAUSED;
    await new Promise((r) => setImmediate(r));
  }
  return killPoint([]);
}

/**
 * SIGKILLs `sfip serve` while its agent applies bursts of changes, again and again. After every restart the kernel
 * must hold exactly what a first apply of the store's state would (no duplicate, stale or missing object, compared
 * with a reference namespace programmed from nothing), with foreign objects untouched and every status right,
 * while two floating IPs created before the first kill carry tagged traffic both ways without losing a packet.
 */
export async function runAgentKills(o: AgentKillOptions): Promise<AgentKillResult> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-crash-'));
  const pausedMarker = join(stateDir, 'apply-paused');
  const labOptions = { prefix: o.prefix, vms: 3, portsPerVm: 2, poolSize: 10 };
  const spec = churnLabSpec(labOptions);
  const referenceNamespace = parseNamespaceName(`${o.prefix}-ref`);
  let streams: TaggedStreams | undefined;
  const random = prng(o.seed);
  const serveOptions = {
    stateDir,
    port: o.port,
    backend: o.backend,
    // A resync well inside an iteration would hide a restart that left the kernel wrong until the next resync.
    args: ['--resync-interval', '10m'],
    // Every apply pauses between its translation and its addresses, with this file present meanwhile: the
    // 'apply' kills can land in an apply that runs no tool (eBPF's deltas write maps in-process).
    env: { SFIP_FAILPOINT_APPLY_PAUSE: pausedMarker },
  };
  let serve = new ServeProcess(serveOptions);
  let routerId: string | undefined;
  try {
    await serve.whenReady();
    const api = new ApiClient(serve.url);
    const lab = await buildChurnLab(api, labOptions);
    routerId = lab.router.routerId;
    await run('ip', ['netns', 'add', referenceNamespace]);
    await run('ip', [
      '-n',
      referenceNamespace,
      'link',
      'add',
      lab.gatewayDevice,
      'type',
      'veth',
      'peer',
      'name',
      'peer0',
    ]);
    await run('ip', [
      '-n',
      referenceNamespace,
      'addr',
      'add',
      `${lab.gatewayIp}/24`,
      'dev',
      lab.gatewayDevice,
    ]);
    await run('ip', ['-n', referenceNamespace, 'link', 'set', lab.gatewayDevice, 'up']);
    await plantForeign(lab.routerNamespace, lab.gatewayDevice);
    const foreignBefore = await foreignState(lab.routerNamespace);

    // The stable floating IPs and their traffic.
    const inbound = new Map<string, Timeline>();
    const outbound = new Map<string, Timeline>();
    for (let i = 0; i < STABLE; i++) {
      const startUs = nowUs();
      await api.post('/v2.0/floatingips', {
        floatingip: {
          floating_network_id: lab.router.externalNetworkId,
          floating_ip_address: lab.pool[i],
          port_id: lab.ports[i]!.portId,
          fixed_ip_address: lab.ports[i]!.fixedIp,
        },
      });
      const change = { startUs, ackUs: nowUs(), gen: 1 };
      inbound.set(lab.pool[i]!, new Timeline(null));
      inbound.get(lab.pool[i]!)!.add({ ...change, value: lab.ports[i]!.fixedIp });
      outbound.set(lab.ports[i]!.fixedIp, new Timeline(null));
      outbound.get(lab.ports[i]!.fixedIp)!.add({ ...change, value: lab.pool[i]! });
    }
    await sleep(500);
    const stablePorts = lab.ports.slice(0, STABLE);
    streams = await TaggedStreams.listen(lab, {
      inbound: lab.pool.slice(0, STABLE),
      receivers: stablePorts,
      senders: stablePorts,
      intervalMs: 10,
    });
    await streams.send();

    /** Store vs kernel and statuses, kernel vs a reference first apply, foreign objects. */
    const checkIteration = async (): Promise<string[]> => {
      const problems = await convergenceProblems(join(stateDir, 'sfip.db'), o.backend);
      const [state] = await readStoreAndKernel(join(stateDir, 'sfip.db'), o.backend);
      const { extra, missing } = multisetDifference(
        await kernelSnapshot(lab.routerNamespace, lab.gatewayDevice),
        await referenceSnapshot(o.backend, state!.desired, referenceNamespace),
      );
      problems.push(
        ...extra.map((l) => `extra kernel object: ${l}`),
        ...missing.map((l) => `missing kernel object: ${l}`),
      );
      if ((await foreignState(lab.routerNamespace)) !== foreignBefore)
        problems.push('a foreign object changed');
      return problems;
    };
    const kills: KillRecord[] = [];
    let antiSpoofing = true;
    for (let iteration = 1; iteration <= o.iterations; iteration++) {
      const fips = (await api.get<{ floatingips: Json[] }>('/v2.0/floatingips')).floatingips;
      const writes = planWrites(random, lab, fips, 6, STABLE);
      // Every third kill (the first included) waits for a tool that changes the kernel and kills at once.
      const x = random();
      const mode: KillRecord['mode'] = iteration % 3 === 1 ? 'apply' : x < 0.6 ? 'tool' : 'delay';
      if (mode === 'apply') {
        // Floating IP changes are deltas, and eBPF writes a delta's map entries in-process, with no tool to
        // wait for (only the address change, a millisecond in the ip channel). A change of the router's
        // structure makes every backend start a tool for a whole transaction (nft -f, tc -batch,
        // iptables-restore): the kill lands in it, with the floating IP changes in flight around it.
        antiSpoofing = !antiSpoofing;
        const value = antiSpoofing;
        writes.unshift({
          label: `anti_spoofing ${value}`,
          call: (client) =>
            client.put(`/v2.0/routers/${lab.router.routerId}`, { router: { anti_spoofing: value } }),
        });
      }
      let acknowledged = 0;
      const settled = Promise.allSettled(writes.map((w) => w.call(api).then(() => acknowledged++)));
      let point: string;
      if (mode === 'apply') {
        point = await untilKernelTool(serve, APPLY_TOOLS, 3000, pausedMarker);
      } else {
        if (mode === 'tool') {
          await untilKernelTool(serve, KERNEL_TOOLS, 2000);
          await sleep(Math.floor(random() * 12));
        } else await sleep(Math.floor(random() * 250));
        point = killPoint(serve.children().filter((c) => KERNEL_TOOLS.test(c)));
        if (point === killPoint([]) && existsSync(pausedMarker)) point = APPLY_PAUSED;
      }
      serve.child.kill('SIGKILL');
      await serve.exited;
      // A kill inside the failpoint leaves its marker behind; the next serve must not look paused.
      rmSync(pausedMarker, { force: true });
      await settled;
      serve = new ServeProcess(serveOptions);
      const readyMs = await serve.whenReady();
      const problems = await checkIteration();
      kills.push({ iteration, mode, point, writes: writes.length, acknowledged, readyMs, problems });
      if (problems.length > 0)
        o.log(`crash ${o.backend} #${iteration} (${point}): ${problems.slice(0, 3).join('; ')}`);
    }

    const traffic = await streams.stop();
    const verdictOptions = { boundUs: 0, settleUs: 0 };
    // The checks must be able to fail: a duplicated rule and a stale address, planted by hand, must be reported.
    await injectDuplicate(lab.routerNamespace);
    const duplicateSeen = (await checkIteration()).some((p) => p.startsWith('extra kernel object'));
    await serve.stop();
    await run('ip', [
      '-n',
      lab.routerNamespace,
      'route',
      'add',
      'local',
      '203.0.113.249/32',
      'dev',
      lab.gatewayDevice,
      'table',
      'local',
      'proto',
      String(FLOATING_ROUTE_PROTOCOL),
    ]);
    const staleSeen = (await checkIteration()).some((p) => /address 203\.0\.113\.249 .*stale/.test(p));
    const killPoints: Record<string, number> = {};
    for (const k of kills) killPoints[k.point] = (killPoints[k.point] ?? 0) + 1;
    const ready = kills.map((k) => k.readyMs).sort((a, b) => a - b);
    return {
      backend: o.backend,
      iterations: o.iterations,
      kills,
      killPoints,
      writes: kills.reduce((s, k) => s + k.writes, 0),
      acknowledged: kills.reduce((s, k) => s + k.acknowledged, 0),
      convergedAtReady: kills.filter((k) => k.problems.length === 0).length,
      selfCheck: { duplicateSeen, staleSeen },
      readyP50Ms: ready[Math.floor(ready.length / 2)] ?? 0,
      readyMaxMs: ready.at(-1) ?? 0,
      stableInbound: judge(
        'inbound',
        inbound,
        traffic.inboundLogs,
        traffic.inboundRecords,
        (r) => r[4],
        verdictOptions,
      ),
      stableOutbound: judge(
        'outbound',
        outbound,
        traffic.outboundLogs,
        traffic.outboundRecords,
        (r) => (r[5] === lab.gatewayIp ? null : r[5]),
        verdictOptions,
      ),
    };
  } finally {
    streams?.close();
    await serve.stop().catch(() => serve.kill('SIGKILL'));
    await run('ip', ['netns', 'del', referenceNamespace]).catch(() => undefined);
    await destroyChurnLab(spec);
    // A stopped daemon leaves the kernel as it is (hitless restarts); eBPF's pins outlive the namespace.
    if (routerId) rmSync(routerPinDir(PIN_ROOT, routerId), { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
}
