import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, ApiError } from '../../src/client/api-client.js';
import { createDataplane } from '../../src/dataplane/index.js';
import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';
import { quantile } from '../stats.js';
import {
  benchTopology,
  buildTopology,
  destroyTopology,
  floatingIpOf,
  type BenchTopology,
} from '../topology.js';
import { benchDesired } from '../install.js';
import { churnThroughApi, type ChurnResult } from './churn-load.js';
import { populateStore } from './populate.js';
import { NamespaceHelper, ServerProcess } from './processes.js';

export interface ControlOptions {
  readonly prefix: string;
  readonly backend: BackendName;
  readonly fipCounts: readonly number[];
  /** Create/associate-to-traffic samples per count. */
  readonly latencySamples: number;
  /** Length of the UDP stream kept running across an agent restart. */
  readonly restartStreamMs: number;
  /** Floating IPs created through the API (a port and a floating IP each) by 16 clients, agent running. */
  readonly fillCount?: number;
  /** Sustained association churn through the API (issue 15: 1,000 changes/s for 60 s). */
  readonly churn?: { readonly perSecond: number; readonly seconds: number };
  readonly port: number;
  readonly log: (line: string) => void;
}

export interface ControlPoint {
  readonly fips: number;
  readonly populateMs: number;
  /** Process start to every router reconciled, from an empty kernel. */
  readonly convergeMs: number;
  readonly kernelMappings: number;
  readonly latenciesMs: number[];
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyFailures: number;
  /** The API call's own p50 (request sent to response), included in the latencies. */
  readonly apiP50Ms?: number;
  /** Disassociate → traffic stops: API call sent to the send time of the last probe answered. */
  readonly stopP50Ms?: number;
  readonly stopP99Ms?: number;
  readonly stopSamples?: number;
  /** Samples whose traffic had not stopped within the probe's timeout. */
  readonly stopFailures?: number;
  /** Samples whose floating IP did not answer before the disassociation (nothing to see stop). */
  readonly stopNeverAnswered?: number;
  /** Filling through the API with the agent running: how many, by how many clients, first request to all ACTIVE. */
  readonly fill?: { readonly count: number; readonly clients: number; readonly ms: number };
  readonly churn?: ChurnResult;
  readonly restartResyncMs: number;
  readonly restartSent: number;
  readonly restartLost: number;
  readonly restartLongestGapMs: number;
  readonly rssMiB: number;
  readonly peakRssMiB: number;
}

export interface ControlResult {
  readonly options: Omit<ControlOptions, 'log'>;
  readonly points: ControlPoint[];
}

const ECHO_PORT = 7;
const wallNow = () => performance.timeOrigin + performance.now();

async function kernelMappings(t: BenchTopology, backend: BackendName, routerId: string, count: number) {
  const r = t.routers[0]!;
  const desired = { ...benchDesired(t, r, routerId, count) };
  const actual = await createDataplane(backend).read(desired, desired);
  return actual.inbound.size;
}

/**
 * The control plane at scale, through the real daemon (`sfip serve`, its own process): converge from empty,
 * API create/associate to first packet through, restart with traffic flowing, and memory.
 */
export async function runControl(o: ControlOptions): Promise<ControlResult> {
  const points: ControlPoint[] = [];
  for (const fips of o.fipCounts) {
    const t = benchTopology(o.prefix, ['cp']);
    const r = t.routers[0]!;
    const stateDir = mkdtempSync(join(tmpdir(), 'sfip-bench-cp-'));
    const spare = o.latencySamples;
    let server: ServerProcess | undefined;
    const helpers: NamespaceHelper[] = [];
    try {
      await buildTopology(t);
      // An upstream router would route the floating range to the gateway; without it every new floating IP would
      // first wait for ARP retries, which measures the neighbour cache, not sfip.
      // Past 65,536 floating IPs the addresses leave 100.65.0.0/16 (100,000 + samples reach 100.66.x.x): without
      // the second route the probe's first packets wait for ARP, whose retry after a failed attempt takes 1 s.
      await run('ip', ['-n', t.gen, 'route', 'add', '100.65.0.0/16', 'via', t.gatewayIp]);
      await run('ip', ['-n', t.gen, 'route', 'add', '100.66.0.0/15', 'via', t.gatewayIp]);
      const populateStarted = performance.now();
      const ids = await populateStore(stateDir, t, r.namespace, o.backend, fips, spare);
      const populateMs = performance.now() - populateStarted;
      const url = `http://127.0.0.1:${o.port}`;
      server = new ServerProcess(stateDir, o.port);
      const convergeMs = await server.whenReady(url, 600_000);
      const memory = server.memory();
      const mapped = await kernelMappings(t, o.backend, ids.routerId, fips);
      o.log(
        `control: ${fips} FIPs converged in ${convergeMs.toFixed(0)} ms, ${mapped} in the kernel, RSS ${memory.rssMiB.toFixed(0)} MiB`,
      );

      const echo = new NamespaceHelper(t.sink, ['--echo', String(ECHO_PORT)]);
      const sender = new NamespaceHelper(t.gen, ['--rpc']);
      helpers.push(echo, sender);
      await Promise.all([echo.ready, sender.ready]);
      const api = new ApiClient(url);
      const latenciesMs: number[] = [];
      /** How long the API call itself took (answered): the part of the latency that is not the agent's. */
      const apiMs: number[] = [];
      let latencyFailures = 0;
      const sampleFips: string[] = [];
      for (let k = 0; k < o.latencySamples; k++) {
        const address = floatingIpOf(fips + k);
        const portId = ids.portIds[fips + k]!;
        // Half the samples create an associated floating IP in one call, half associate an existing one.
        const associateLater = k % 2 === 1;
        let fipId = '';
        if (associateLater) {
          const made = await api.post<{ floatingip: { id: string } }>('/v2.0/floatingips', {
            floatingip: { floating_network_id: ids.externalNetworkId, floating_ip_address: address },
          });
          fipId = made.floatingip.id;
        }
        const reply = sender.call<{ at: number | null }>({
          op: 'firstReply',
          host: address,
          port: ECHO_PORT,
          timeoutMs: 10_000,
        });
        await new Promise((res) => setTimeout(res, 5));
        const sentAt = wallNow();
        if (associateLater) await api.put(`/v2.0/floatingips/${fipId}`, { floatingip: { port_id: portId } });
        else
          fipId = (
            await api.post<{ floatingip: { id: string } }>('/v2.0/floatingips', {
              floatingip: {
                floating_network_id: ids.externalNetworkId,
                floating_ip_address: address,
                port_id: portId,
              },
            })
          ).floatingip.id;
        apiMs.push(wallNow() - sentAt);
        sampleFips.push(fipId);
        const { at } = await reply;
        if (at === null) latencyFailures++;
        else latenciesMs.push(Math.max(0, at - sentAt));
      }
      const sorted = [...latenciesMs].sort((a, b) => a - b);
      const stop = await disassociateSamples(api, sender, sampleFips, fips);
      const fill =
        o.fillCount && o.fillCount > 0
          ? await fillThroughApi(url, ids.internalNetworkId, ids.externalNetworkId, o.fillCount)
          : undefined;
      if (fill)
        o.log(`control: ${fips} FIPs: filled ${fill.count} through the API in ${fill.ms.toFixed(0)} ms`);
      const churn = o.churn && (await churnAssociations(api, url, server.child.pid!, o.churn));
      if (churn)
        o.log(
          `control: ${fips} FIPs: churn ${churn.achievedPerSecond.toFixed(0)}/s, applied p50 ≤ ${churn.p50Ms} ms ` +
            `p99 ≤ ${churn.p99Ms} ms, drained in ${churn.drainMs.toFixed(0)} ms, ${churn.cpuCores.toFixed(2)} cores`,
        );

      // Restart with a stream through the first floating IP: stop, start, wait for ready.
      const intervalMs = 2;
      const stream = sender.call<{ sent: number; received: number; longestGapMs: number }>({
        op: 'stream',
        host: floatingIpOf(0),
        port: ECHO_PORT,
        count: Math.round(o.restartStreamMs / intervalMs),
        intervalMs,
      });
      await new Promise((res) => setTimeout(res, 300));
      await server.stop();
      server = new ServerProcess(stateDir, o.port);
      const restartResyncMs = await server.whenReady(url, 600_000);
      const streamed = await stream;
      const after = server.memory();
      points.push({
        fips,
        populateMs,
        convergeMs,
        kernelMappings: mapped,
        latenciesMs,
        latencyP50Ms: quantile(sorted, 0.5),
        latencyP99Ms: quantile(sorted, 0.99),
        latencyFailures,
        apiP50Ms: quantile(
          [...apiMs].sort((a, b) => a - b),
          0.5,
        ),
        stopP50Ms: quantile(stop.sorted, 0.5),
        stopP99Ms: quantile(stop.sorted, 0.99),
        stopSamples: stop.sorted.length,
        stopFailures: stop.failures,
        stopNeverAnswered: stop.neverAnswered,
        ...(fill && { fill }),
        ...(churn && { churn }),
        restartResyncMs,
        restartSent: streamed.sent,
        restartLost: streamed.sent - streamed.received,
        restartLongestGapMs: streamed.longestGapMs,
        rssMiB: Math.max(memory.rssMiB, after.rssMiB),
        peakRssMiB: Math.max(memory.peakMiB, after.peakMiB),
      });
      o.log(
        `control: ${fips} FIPs: p50 ${quantile(sorted, 0.5).toFixed(1)} ms p99 ${quantile(sorted, 0.99).toFixed(1)} ms, ` +
          `restart ${restartResyncMs.toFixed(0)} ms lost ${streamed.sent - streamed.received}/${streamed.sent}`,
      );
    } finally {
      for (const h of helpers) h.close();
      await server?.stop();
      await destroyTopology(t);
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  const { log: _log, ...options } = o;
  return { options, points };
}

/**
 * Disassociate → traffic stops, per sample floating IP (all answering): a probe sends every millisecond, the
 * API call goes out, and the latency is the send time of the last probe that was still answered.
 */
async function disassociateSamples(
  api: ApiClient,
  sender: NamespaceHelper,
  fipIds: readonly string[],
  installed: number,
): Promise<{ sorted: number[]; failures: number; neverAnswered: number }> {
  const stops: number[] = [];
  let failures = 0;
  let neverAnswered = 0;
  for (const [k, id] of fipIds.entries()) {
    const probe = sender.call<{ lastSent: number | null; stopped: boolean }>({
      op: 'lastReply',
      host: floatingIpOf(installed + k),
      port: ECHO_PORT,
      quietMs: 300,
      timeoutMs: 10_000,
    });
    // Let the probe see replies first: a floating IP that never answered would measure nothing.
    await new Promise((res) => setTimeout(res, 20));
    const sentAt = wallNow();
    await api.put(`/v2.0/floatingips/${id}`, { floatingip: { port_id: null } });
    const { lastSent, stopped } = await probe;
    if (lastSent === null) neverAnswered++;
    else if (!stopped) failures++;
    else stops.push(Math.max(0, lastSent - sentAt));
  }
  return { sorted: stops.sort((a, b) => a - b), failures, neverAnswered };
}

const FILL_CLIENTS = 16;

/**
 * Filling a router through the API with the agent running, as an operator's automation would: 16 clients each
 * create a port and an associated floating IP in turn; the time runs from the first request to every one of
 * them ACTIVE (polled by id, 100 per request, once the creates are done).
 */
async function fillThroughApi(
  url: string,
  networkId: string,
  externalNetworkId: string,
  count: number,
): Promise<{ count: number; clients: number; ms: number }> {
  const api = new ApiClient(url);
  const made: string[] = [];
  let next = 0;
  const started = performance.now();
  // A create whose connection was reset may or may not have been applied (a kept-alive connection the daemon
  // closed while its event loop was busy): as careful automation does, look before creating again.
  const createOnce = async <T>(
    create: () => Promise<T>,
    lookup: () => Promise<T | undefined>,
  ): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await create();
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 0 || attempt >= 3) throw error;
        const found = await lookup();
        if (found !== undefined) return found;
      }
    }
  };
  const client = async () => {
    while (next < count) {
      const name = `fill-${next++}`;
      const portId = await createOnce(
        async () =>
          (await api.post<{ port: { id: string } }>('/v2.0/ports', { port: { network_id: networkId, name } }))
            .port.id,
        async () =>
          (await api.get<{ ports: { id: string }[] }>(`/v2.0/ports?name=${name}&fields=id`)).ports[0]?.id,
      );
      const fipId = await createOnce(
        async () =>
          (
            await api.post<{ floatingip: { id: string } }>('/v2.0/floatingips', {
              floatingip: { floating_network_id: externalNetworkId, port_id: portId },
            })
          ).floatingip.id,
        async () =>
          (await api.get<{ floatingips: { id: string }[] }>(`/v2.0/floatingips?port_id=${portId}&fields=id`))
            .floatingips[0]?.id,
      );
      made.push(fipId);
    }
  };
  await Promise.all(Array.from({ length: FILL_CLIENTS }, client));
  let waiting = made;
  const deadline = performance.now() + 600_000;
  while (waiting.length > 0) {
    if (performance.now() > deadline)
      throw new Error(`${waiting.length} filled floating IPs never became ACTIVE`);
    const still: string[] = [];
    for (let i = 0; i < waiting.length; i += 100) {
      const chunk = waiting.slice(i, i + 100);
      const query = chunk.map((id) => `id=${id}`).join('&');
      const page = await api.get<{ floatingips: { id: string; status: string }[] }>(
        `/v2.0/floatingips?fields=id&fields=status&${query}`,
      );
      const active = new Set(page.floatingips.filter((f) => f.status === 'ACTIVE').map((f) => f.id));
      still.push(...chunk.filter((id) => !active.has(id)));
    }
    waiting = still;
    if (waiting.length > 0) await new Promise((res) => setTimeout(res, 20));
  }
  return { count, clients: FILL_CLIENTS, ms: performance.now() - started };
}

/** Churn over up to 2,000 of the populated floating IPs (not the first: the restart stream runs through it). */
async function churnAssociations(
  api: ApiClient,
  url: string,
  serverPid: number,
  churn: { readonly perSecond: number; readonly seconds: number },
): Promise<ChurnResult> {
  const page = await api.get<{
    floatingips: { id: string; port_id: string | null; floating_ip_address: string }[];
  }>('/v2.0/floatingips?limit=2100&fields=id&fields=port_id&fields=floating_ip_address');
  const fips = page.floatingips
    .filter((f) => f.port_id !== null && f.floating_ip_address !== floatingIpOf(0))
    .slice(0, 2000)
    .map((f) => ({ id: f.id, portId: f.port_id! }));
  return churnThroughApi({ url, serverPid, fips, ...churn });
}
