import type { Observation, ObservedRouter } from './observer.js';
import { LoopBudget } from './slices.js';

/**
 * The two per-floating-IP families in Prometheus' text format, written by hand rather than through prom-client:
 * at 100,000 floating IPs they are 400,000 samples and 61 MB, which prom-client builds in seconds on the event
 * loop. Each router's text is rendered once per change of its floating IPs or counters (the Observer keeps an
 * unchanged router's ObservedRouter object, so the cache keys on identity), in slices of loop time, and a scrape
 * only concatenates the cached buffers.
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

/**
 * One buffer per BUFFER_FIPS floating IPs: no single join of 30 MB holds the event loop, and a scrape can hand
 * the socket one small buffer at a time (routes.ts).
 */
const BUFFER_FIPS = 256;

interface RouterText {
  readonly packets: readonly Buffer[];
  readonly bytes: readonly Buffer[];
}

const HEADERS: Record<Unit, Buffer> = {
  packets: header('packets'),
  bytes: header('bytes'),
};

export class TrafficText {
  private readonly rendered = new WeakMap<ObservedRouter, RouterText>();

  /** Renders the routers of an observation that have no text yet, yielding whenever `budget` is spent. */
  async prepare(observation: Observation, budget = new LoopBudget()): Promise<void> {
    for (const router of observation.routers) {
      if (!this.rendered.has(router)) this.rendered.set(router, await renderRouter(router, budget));
    }
  }

  /** Both families for an observation, as buffers to write in order. */
  async chunks(observation: Observation): Promise<Buffer[]> {
    await this.prepare(observation);
    const texts = observation.routers.map((r) => this.rendered.get(r)!);
    return [
      HEADERS.packets,
      ...texts.flatMap((t) => t.packets),
      HEADERS.bytes,
      ...texts.flatMap((t) => t.bytes),
    ];
  }
}

function header(unit: Unit): Buffer {
  const { name, help } = TRAFFIC_FAMILIES[unit];
  return Buffer.from(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} counter\n`);
}

async function renderRouter(router: ObservedRouter, budget: LoopBudget): Promise<RouterText> {
  const packets: Buffer[] = [];
  const bytes: Buffer[] = [];
  let packetLines: string[] = [];
  let byteLines: string[] = [];
  const flush = () => {
    if (packetLines.length === 0) return;
    packets.push(Buffer.from(packetLines.join('')));
    bytes.push(Buffer.from(byteLines.join('')));
    packetLines = [];
    byteLines = [];
  };
  const prefix = `{router_id="${escapeLabel(router.id)}",floating_ip_address="`;
  const backend = `",backend="${escapeLabel(router.backend)}",direction="`;
  const p = TRAFFIC_FAMILIES.packets.name + prefix;
  const b = TRAFFIC_FAMILIES.bytes.name + prefix;
  const fips = router.floatingIps;
  for (let i = 0; i < fips.length; i++) {
    if (i > 0 && i % BUFFER_FIPS === 0) {
      flush();
      await budget.check();
    }
    const f = fips[i]!;
    const c = f.counters;
    if (!c) continue;
    const address = escapeLabel(f.address);
    packetLines.push(
      `${p}${address}${backend}in"} ${c.packetsIn}\n${p}${address}${backend}out"} ${c.packetsOut}\n`,
    );
    byteLines.push(
      `${b}${address}${backend}in"} ${c.bytesIn}\n${b}${address}${backend}out"} ${c.bytesOut}\n`,
    );
  }
  flush();
  return { packets, bytes };
}

/** Label values as the text format wants them: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

function escapeHelp(value: string): string {
  return value.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}
