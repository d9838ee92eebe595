import type { Observation, ObservedRouter } from './observer.js';

/**
 * The two per-floating-IP families in Prometheus' text format, written by hand rather than through prom-client:
 * at 100,000 floating IPs they are 400,000 samples and 61 MB, which prom-client builds in seconds on the event
 * loop. The text is rendered per scrape, a few floating IPs at a time as the socket takes it, from the
 * observation's counters: kept between scrapes it was the daemon's largest holding (58 MiB at 100,000, twice
 * while a new observation's text was rendered), and rendering a piece costs less than the socket's write of it.
 */
export const TRAFFIC_FAMILIES = {
  packets: {
    name: 'sfip_floating_ip_packets_total',
    help: 'Packets through a floating IP, counted by the dataplane: in = addressed to it, out = leaving with it as source',
  },
  bytes: {
    name: 'sfip_floating_ip_bytes_total',
    help: 'Bytes (IP packet length) through a floating IP, counted by the dataplane',
  },
} as const;

type Unit = keyof typeof TRAFFIC_FAMILIES;
export const TRAFFIC_UNITS: readonly Unit[] = ['packets', 'bytes'];

/**
 * One buffer per BUFFER_FIPS floating IPs (about 75 KB): small enough that rendering one holds the event loop a
 * fraction of a millisecond, so a paced scrape (routes.ts) can yield between any two of them.
 */
const BUFFER_FIPS = 256;

const HEADERS: Record<Unit, Buffer> = {
  packets: header('packets'),
  bytes: header('bytes'),
};

/**
 * Both families for an observation, as buffers to write in order, each rendered only when it is asked for. The
 * observation is immutable, so a scrape that takes a while still writes one consistent set of counters.
 */
export function* trafficChunks(
  observation: Observation,
  units: readonly Unit[] = TRAFFIC_UNITS,
): Generator<Buffer, void, undefined> {
  for (const unit of units) {
    yield HEADERS[unit];
    for (const router of observation.routers) yield* renderRouter(router, unit);
  }
}

function header(unit: Unit): Buffer {
  const { name, help } = TRAFFIC_FAMILIES[unit];
  return Buffer.from(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} counter\n`);
}

function* renderRouter(router: ObservedRouter, unit: Unit): Generator<Buffer, void, undefined> {
  const prefix = `${TRAFFIC_FAMILIES[unit].name}{router_id="${escapeLabel(router.id)}",floating_ip_address="`;
  const backend = `",backend="${escapeLabel(router.backend)}",direction="`;
  const fips = router.floatingIps;
  const counters = router.counters;
  for (let start = 0; start < fips.length; start += BUFFER_FIPS) {
    const end = Math.min(start + BUFFER_FIPS, fips.length);
    let text = '';
    for (let i = start; i < end; i++) {
      const c = counters[i];
      if (!c) continue;
      const label = prefix + escapeLabel(fips[i]!.address) + backend;
      const packets = unit === 'packets';
      text += `${label}in"} ${packets ? c.packetsIn : c.bytesIn}\n${label}out"} ${packets ? c.packetsOut : c.bytesOut}\n`;
    }
    if (text) yield Buffer.from(text);
  }
}

/** Label values as the text format wants them: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

function escapeHelp(value: string): string {
  return value.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}
