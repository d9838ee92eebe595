import { ApiClient, ApiError, type Transport } from '../../src/client/api-client.js';
import { resolveToken } from '../../src/client/token-source.js';
import { notActive } from '../fip-statuses.js';
import { quantile } from '../stats.js';
import { curlScrape, scrapeTimes, startScraper } from '../metrics/run-metrics-scale.js';
import { churnThroughApi, type ChurnResult } from './churn-load.js';
import { httpTransport } from './http-transport.js';
import type { NamespaceHelper } from './processes.js';

const ECHO_PORT = 7;
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

export interface StopSamples {
  readonly sorted: number[];
  readonly failures: number;
  readonly neverAnswered: number;
  /** Samples not taken because the budget ran out. */
  readonly skipped: number;
}

/**
 * Disassociate → traffic stops, per sample floating IP (all answering): a probe sends every millisecond, the
 * API call goes out, and the latency is the send time of the last probe that was still answered. Stops taking
 * samples once `budgetMs` has passed (a backend whose every change is a full pass takes seconds a sample).
 */
export async function disassociateSamples(
  api: ApiClient,
  sender: NamespaceHelper,
  samples: readonly { readonly id: string; readonly address: string }[],
  budgetMs: number,
  timeoutMs: number,
): Promise<StopSamples> {
  const stops: number[] = [];
  let failures = 0;
  let neverAnswered = 0;
  let taken = 0;
  const started = performance.now();
  for (const { id, address } of samples) {
    if (performance.now() - started > budgetMs) break;
    taken++;
    const probe = sender.call<{ lastSent: number | null; stopped: boolean }>({
      op: 'lastReply',
      host: address,
      port: ECHO_PORT,
      quietMs: 300,
      timeoutMs,
    });
    // Let the probe see replies first: a floating IP that never answered would measure nothing.
    await sleep(20);
    const sentAt = wallNow();
    const called = await api.put(`/v2.0/floatingips/${id}`, { floatingip: { port_id: null } }).then(
      () => true,
      () => false,
    );
    const { lastSent, stopped } = await probe;
    // A request the busy daemon timed out: a failed sample (its traffic may or may not have stopped).
    if (!called) {
      failures++;
      continue;
    }
    if (lastSent === null) neverAnswered++;
    else if (!stopped) failures++;
    else stops.push(Math.max(0, lastSent - sentAt));
  }
  return { sorted: stops.sort((a, b) => a - b), failures, neverAnswered, skipped: samples.length - taken };
}

const FILL_CLIENTS = 16;
/** Items per bulk request in the bulk fill: automation filling a cloud sends lists, not one item a request. */
export const FILL_BULK_SIZE = 100;

export interface FillResult {
  /** Floating IPs created. */
  readonly count: number;
  readonly clients: number;
  /** First request to every one ACTIVE, or to the end of the budget. */
  readonly ms: number;
  /** Set when the budget ran out: how many were ACTIVE by then (the rate counts these), and the budget. */
  readonly active?: number;
  readonly budgetMs?: number;
  /**
   * Items per request: absent, one port then one floating IP a request (2 requests per floating IP); set, bulk
   * creates of this many ports, then of as many floating IPs on them.
   */
  readonly bulkSize?: number;
  /**
   * True when the ports existed before the timer started (fillOntoPortsThroughApi): one request per floating IP,
   * as an operator gives running VMs floating IPs. Absent: each floating IP's port was created in the fill.
   */
  readonly ontoExistingPorts?: boolean;
  /**
   * The daemon's API workers during the fill (`sfip serve --api-workers`); absent: 0, the API in the agent's
   * process (every fill before 2026-12-06).
   */
  readonly apiWorkers?: number;
  /** The daemon's CPU over the fill (s): its primary (agent, and the API without workers) and its API workers. */
  readonly cpu?: { readonly primaryS: number; readonly workersS: number };
}

/** A fill's API calls: creates that survive a connection reset, and the wait for every floating IP ACTIVE. */
class FillSession {
  readonly api: ApiClient;
  readonly made: string[] = [];
  readonly started = performance.now();
  readonly deadline: number;

  constructor(url: string, budgetMs: number) {
    // Kept-alive node:http, not fetch: the clients' CPU on the 2-core machine is the daemon's loss (http-transport.ts).
    this.api = new ApiClient(url, undefined, httpTransport(FILL_CLIENTS));
    this.deadline = this.started + budgetMs;
  }

  get inBudget(): boolean {
    return performance.now() < this.deadline;
  }

  /**
   * A create whose connection was reset may or may not have been applied (a kept-alive connection the daemon
   * closed while its event loop was busy): as careful automation does, look before creating again.
   */
  async createOnce<T>(create: () => Promise<T>, lookup: () => Promise<T | undefined>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await create();
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 0 || attempt >= 3) throw error;
        const found = await lookup();
        if (found !== undefined) return found;
      }
    }
  }

  /** One floating IP on `portId`, created once (see createOnce). */
  createFloatingIp(externalNetworkId: string, portId: string): Promise<string> {
    const { api } = this;
    return this.createOnce(
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
  }

  /** Polls every created floating IP by id (100 per request) until ACTIVE, or to the end of the budget. */
  async untilActive(clients: number, bulkSize?: number, ontoExistingPorts?: boolean): Promise<FillResult> {
    const shape = {
      clients,
      ...(bulkSize !== undefined && { bulkSize }),
      ...(ontoExistingPorts && { ontoExistingPorts }),
    };
    let waiting = this.made;
    while (waiting.length > 0) {
      waiting = await notActive(this.api, waiting);
      // Checked after a poll, so the floating IPs ACTIVE by the end of the budget are counted.
      if (waiting.length > 0 && !this.inBudget) {
        const ms = performance.now() - this.started;
        const budgetMs = this.deadline - this.started;
        const active = this.made.length - waiting.length;
        return { count: this.made.length, ...shape, ms, active, budgetMs };
      }
      if (waiting.length > 0) await sleep(20);
    }
    return { count: this.made.length, ...shape, ms: performance.now() - this.started };
  }
}

/**
 * Filling routers through the API with the agent running, as an operator's automation would: 16 clients each
 * create a port and an associated floating IP in turn, dealt over the internal networks (one per router); the
 * time runs from the first request to every one of them ACTIVE (polled by id, 100 per request, once the creates
 * are done). Within `budgetMs`: past it no more are created, and those ACTIVE by then are counted.
 */
export async function fillThroughApi(
  url: string,
  networkIds: readonly string[],
  externalNetworkId: string,
  count: number,
  budgetMs = 600_000,
): Promise<FillResult> {
  const s = new FillSession(url, budgetMs);
  const { api } = s;
  let next = 0;
  const client = async () => {
    while (next < count && s.inBudget) {
      const n = next++;
      const name = `fill-${n}`;
      const networkId = networkIds[n % networkIds.length]!;
      const portId = await s.createOnce(
        async () =>
          (await api.post<{ port: { id: string } }>('/v2.0/ports', { port: { network_id: networkId, name } }))
            .port.id,
        async () =>
          (await api.get<{ ports: { id: string }[] }>(`/v2.0/ports?name=${name}&fields=id`)).ports[0]?.id,
      );
      s.made.push(await s.createFloatingIp(externalNetworkId, portId));
    }
  };
  await Promise.all(Array.from({ length: FILL_CLIENTS }, client));
  return s.untilActive(FILL_CLIENTS);
}

/**
 * The same fill in Neutron's bulk form, as automation filling a cloud sends it: each of 16 clients takes the next
 * `bulkSize` floating IPs (one internal network per request, dealt in turn), creates their ports in one request
 * (`{"ports": [...]}`) and then the floating IPs on them in one more (`{"floatingips": [...]}`, an sfip
 * extension). Timed as the per-request fill: first request to every one ACTIVE, within `budgetMs`.
 */
export async function bulkFillThroughApi(
  url: string,
  networkIds: readonly string[],
  externalNetworkId: string,
  count: number,
  budgetMs = 600_000,
  bulkSize = FILL_BULK_SIZE,
): Promise<FillResult> {
  const s = new FillSession(url, budgetMs);
  const { api } = s;
  let next = 0;
  let batch = 0;
  // A bulk is all or nothing, so a lookup after a reset finds every item or none.
  const all = <T>(found: T[], size: number) => (found.length === size ? found : undefined);
  const client = async () => {
    while (next < count && s.inBudget) {
      const first = next;
      const size = Math.min(bulkSize, count - first);
      next += size;
      const networkId = networkIds[batch++ % networkIds.length]!;
      const names = Array.from({ length: size }, (_, k) => `bulk-fill-${first + k}`);
      const portIds = await s.createOnce(
        async () =>
          (
            await api.post<{ ports: { id: string }[] }>('/v2.0/ports', {
              ports: names.map((name) => ({ network_id: networkId, name })),
            })
          ).ports.map((p) => p.id),
        async () => {
          const query = names.map((name) => `name=${name}`).join('&');
          const page = await api.get<{ ports: { id: string; name: string }[] }>(
            `/v2.0/ports?fields=id&fields=name&${query}`,
          );
          const byName = new Map(page.ports.map((p) => [p.name, p.id]));
          return all(
            names.flatMap((name) => byName.get(name) ?? []),
            size,
          );
        },
      );
      const fipIds = await s.createOnce(
        async () =>
          (
            await api.post<{ floatingips: { id: string }[] }>('/v2.0/floatingips', {
              floatingips: portIds.map((portId) => ({
                floating_network_id: externalNetworkId,
                port_id: portId,
              })),
            })
          ).floatingips.map((f) => f.id),
        async () => {
          const query = portIds.map((id) => `port_id=${id}`).join('&');
          const page = await api.get<{ floatingips: { id: string }[] }>(
            `/v2.0/floatingips?fields=id&${query}`,
          );
          return all(
            page.floatingips.map((f) => f.id),
            size,
          );
        },
      );
      s.made.push(...fipIds);
    }
  };
  await Promise.all(Array.from({ length: FILL_CLIENTS }, client));
  return s.untilActive(FILL_CLIENTS, bulkSize);
}

/**
 * Floating IPs for ports that exist already, as an operator gives running VMs floating IPs (their ports were made when
 * the VMs booted, by Nova in OpenStack): first `count` ports are created in bulk, dealt over the internal networks
 * (one per router) and not timed; then 16 clients each POST one floating IP on the next port, one request per
 * floating IP. Timed as the other fills: first floating IP request to every one ACTIVE, within `budgetMs`.
 */
export async function fillOntoPortsThroughApi(
  url: string,
  networkIds: readonly string[],
  externalNetworkId: string,
  count: number,
  budgetMs = 600_000,
): Promise<FillResult> {
  const portIds = await createPortsInBulk(url, networkIds, count);
  const s = new FillSession(url, budgetMs);
  let next = 0;
  const client = async () => {
    while (next < portIds.length && s.inBudget) {
      const portId = portIds[next++]!;
      s.made.push(await s.createFloatingIp(externalNetworkId, portId));
    }
  };
  await Promise.all(Array.from({ length: FILL_CLIENTS }, client));
  return s.untilActive(FILL_CLIENTS, undefined, true);
}

/**
 * `count` ports (requests of FILL_BULK_SIZE, one internal network each, dealt in turn), in the order the fill
 * takes them: port k on network k mod N, so that consecutive floating IPs land on different routers, as the
 * per-request fill deals them.
 */
async function createPortsInBulk(
  url: string,
  networkIds: readonly string[],
  count: number,
): Promise<string[]> {
  const api = new ApiClient(url, undefined, httpTransport(FILL_CLIENTS));
  const run = `${process.pid}-${Date.now()}`;
  const byNetwork = networkIds.map((networkId, n) => ({
    networkId,
    names: Array.from(
      { length: Math.ceil((count - n) / networkIds.length) },
      (_, k) => `onto-${run}-${n + k * networkIds.length}`,
    ),
  }));
  const ids = new Map<string, string>();
  const requests = byNetwork.flatMap(({ networkId, names }) =>
    Array.from({ length: Math.ceil(names.length / FILL_BULK_SIZE) }, (_, b) => ({
      networkId,
      names: names.slice(b * FILL_BULK_SIZE, (b + 1) * FILL_BULK_SIZE),
    })),
  );
  let next = 0;
  const client = async () => {
    while (next < requests.length) {
      const { networkId, names } = requests[next++]!;
      const made = await api.post<{ ports: { id: string; name: string }[] }>('/v2.0/ports', {
        ports: names.map((name) => ({ network_id: networkId, name })),
      });
      for (const port of made.ports) ids.set(port.name, port.id);
    }
  };
  await Promise.all(Array.from({ length: FILL_CLIENTS }, client));
  return Array.from({ length: count }, (_, k) => ids.get(`onto-${run}-${k}`)!);
}

/** Churn over up to 2,000 of the populated floating IPs (not `excluded`: the restart stream runs through it). */
export async function churnAssociations(
  api: ApiClient,
  url: string,
  serverPid: number,
  excluded: string,
  churn: { readonly perSecond: number; readonly seconds: number; readonly transport?: Transport },
): Promise<ChurnResult> {
  const page = await api.get<{
    floatingips: { id: string; port_id: string | null; floating_ip_address: string }[];
  }>('/v2.0/floatingips?limit=2100&fields=id&fields=port_id&fields=floating_ip_address');
  const fips = page.floatingips
    .filter((f) => f.port_id !== null && f.floating_ip_address !== excluded)
    .slice(0, 2000)
    .map((f) => ({ id: f.id, portId: f.port_id! }));
  return churnThroughApi({ url, serverPid, fips, ...churn });
}

/** /metrics scrape time, and API show latency alone and while a client scrapes back to back. */
export interface ScrapeResult {
  /** The first scrape after the samples: it reads every counter. */
  readonly firstScrapeMs: number;
  /** Back-to-back scrapes during the busy window. */
  readonly scrapes: number;
  readonly scrapeP50Ms: number;
  readonly scrapeMaxMs: number;
  readonly showP99AloneMs: number;
  readonly showP99DuringMs: number;
  readonly shows: number;
  /** Shows that failed (a timeout while the daemon was busy): not in the p99s. */
  readonly showErrors: number;
  /** Back-to-back scrapes that failed: not in the scrape figures. */
  readonly scrapeErrors?: number;
}

/**
 * Issue 15's scrape measure beside the other ones, on the same daemon: one scrape, then `windowMs` of API shows
 * (one every 10 ms, not waiting for each other) alone, then `windowMs` of shows while a client scrapes /metrics
 * back to back. The scrapes are made by curl in their own process (bench/metrics/scraper.ts), as Prometheus
 * scrapes from its own: reading each 60 MB body in this process held the show client's own event loop, and the
 * figure was the benchmark's (on one daemon at 1 × 100,000: show p99 during scrapes 220-320 ms scraped from here,
 * 13-16 ms scraped by curl; bench/metrics/scrape-api.ts measures both).
 */
export async function scrapeDuringShows(url: string, fipId: string, windowMs: number): Promise<ScrapeResult> {
  const api = new ApiClient(url);
  const token = resolveToken(url, {});
  let showErrors = 0;
  const shows = async () => {
    const latencies: Promise<number | undefined>[] = [];
    const end = performance.now() + windowMs;
    while (performance.now() < end) {
      const sent = performance.now();
      latencies.push(
        api.get(`/v2.0/floatingips/${fipId}`).then(
          () => performance.now() - sent,
          () => void showErrors++,
        ),
      );
      await sleep(10);
    }
    return (await Promise.all(latencies)).filter((v) => v !== undefined).sort((a, b) => a - b);
  };
  const firstScrapeMs = (await curlScrape(url, token)).ms;
  const alone = await shows();
  const scraper = startScraper(url, token);
  await scraper.first;
  const during = await shows();
  const samples = await scraper.stop();
  const scrapeMs = scrapeTimes(samples)
    .map((x) => x.ms)
    .sort((a, b) => a - b);
  return {
    firstScrapeMs,
    scrapes: scrapeMs.length,
    scrapeP50Ms: quantile(scrapeMs, 0.5),
    scrapeMaxMs: scrapeMs.at(-1) ?? Number.NaN,
    showP99AloneMs: quantile(alone, 0.99),
    showP99DuringMs: quantile(during, 0.99),
    shows: alone.length + during.length + showErrors,
    showErrors,
    scrapeErrors: samples.length - scrapeMs.length,
  };
}
