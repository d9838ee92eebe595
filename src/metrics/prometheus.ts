import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
} from 'prom-client';
import type { Observation, Observer } from './observer.js';
import type { ReconcileHistory } from './reconcile-history.js';

const FLOATING_IP_LABELS = ['router_id', 'floating_ip_address', 'backend', 'direction'] as const;
const STATUSES = ['ACTIVE', 'DOWN', 'ERROR'] as const;

export interface MetricsOptions {
  readonly observer: Observer;
  readonly history: ReconcileHistory;
  /** Node's own process metrics (memory, event loop lag...). Default true. */
  readonly processMetrics?: boolean;
}

/**
 * The Prometheus registry behind /metrics. Kernel-backed values (traffic, conntrack) are read when scraped,
 * through the Observer's short cache; reconcile values come from the agent's events.
 */
export function createMetricsRegistry(options: MetricsOptions): Registry {
  const { observer, history } = options;
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'sfip_' });
  const registers = [registry];

  // Every collect below asks the observer; within one scrape they share one read.
  const observed = () => observer.observe();

  new ObservedCounter(
    {
      name: 'sfip_floating_ip_packets_total',
      help: 'Packets through a floating IP, counted by the dataplane: in = addressed to it, out = leaving with it as source',
      labelNames: FLOATING_IP_LABELS,
      registers,
    },
    async () => trafficSamples(await observed(), 'packets'),
  );
  new ObservedCounter(
    {
      name: 'sfip_floating_ip_bytes_total',
      help: 'Bytes (IP packet length) through a floating IP, counted by the dataplane',
      labelNames: FLOATING_IP_LABELS,
      registers,
    },
    async () => trafficSamples(await observed(), 'bytes'),
  );
  new Gauge({
    name: 'sfip_floating_ip_counters_up',
    help: '1 when the router’s per-floating-IP counters were read, 0 when the read failed or the backend has none',
    labelNames: ['router_id', 'backend'],
    registers,
    async collect() {
      this.reset();
      for (const r of (await observed()).routers) {
        if (r.problem) continue;
        this.set({ router_id: r.id, backend: r.backend }, r.countersSupported && !r.countersError ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'sfip_dataplane_read_seconds',
    help: 'How long the last read of every router’s counters and the conntrack usage took',
    registers,
    async collect() {
      this.set((await observed()).readMs / 1000);
    },
  });
  new Gauge({
    name: 'sfip_floating_ips',
    help: 'Floating IPs associated through a router, by status',
    labelNames: ['router_id', 'status'],
    registers,
    async collect() {
      this.reset();
      for (const r of (await observed()).routers) {
        for (const status of STATUSES) {
          this.set({ router_id: r.id, status }, r.floatingIps.filter((f) => f.status === status).length);
        }
      }
    },
  });
  new Gauge({
    name: 'sfip_conntrack_entries',
    help: 'Connection tracking entries in a router namespace ("" is the host namespace)',
    labelNames: ['namespace'],
    registers,
    async collect() {
      this.reset();
      for (const c of (await observed()).conntrack) {
        if (c.usage) this.set({ namespace: c.namespace ?? '' }, c.usage.count);
      }
    },
  });
  new Gauge({
    name: 'sfip_conntrack_max',
    help: 'nf_conntrack_max: the conntrack table limit, shared by every namespace on the host',
    registers,
    async collect() {
      this.reset();
      const usage = (await observed()).conntrack.find((c) => c.usage)?.usage;
      if (usage) this.set(usage.max);
    },
  });

  const duration = new Histogram({
    name: 'sfip_reconcile_duration_seconds',
    help: 'Duration of one reconcile pass of a router (read, plan, apply, conntrack cleanup)',
    labelNames: ['router_id'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  history.onEvent((event) => duration.observe({ router_id: event.routerId }, event.durationMs / 1000));
  new Counter({
    name: 'sfip_reconcile_errors_total',
    help: 'Reconcile passes that failed to apply a router’s state',
    labelNames: ['router_id'],
    registers,
    collect() {
      this.reset();
      for (const r of history.all()) this.inc({ router_id: r.routerId }, r.errors);
    },
  });
  new Counter({
    name: 'sfip_drift_repairs_total',
    help: 'Periodic resyncs that found the kernel different from the store and repaired it',
    labelNames: ['router_id'],
    registers,
    collect() {
      this.reset();
      for (const r of history.all()) this.inc({ router_id: r.routerId }, r.driftRepairs);
    },
  });
  new Gauge({
    name: 'sfip_last_successful_apply_timestamp_seconds',
    help: 'When a reconcile pass of the router last ended without error (Unix time)',
    labelNames: ['router_id'],
    registers,
    collect() {
      this.reset();
      for (const r of history.all()) {
        if (r.lastSuccessAt !== null) this.set({ router_id: r.routerId }, r.lastSuccessAt / 1000);
      }
    },
  });
  return registry;
}

type FloatingIpLabel = (typeof FLOATING_IP_LABELS)[number];
interface Sample {
  readonly value: number;
  readonly labels: Record<FloatingIpLabel, string>;
}

/**
 * A counter whose values come from outside (the kernel), handed to the registry as they are: at 100,000
 * floating IPs, resetting a prom-client Counter and inc()-ing 200,000 label sets (each hashed) costs seconds.
 */
class ObservedCounter extends Counter<FloatingIpLabel> {
  constructor(
    config: CounterConfiguration<FloatingIpLabel>,
    private readonly samples: () => Promise<Sample[]>,
  ) {
    super(config);
  }

  override async get() {
    const base = await super.get();
    return { ...base, values: (await this.samples()) as typeof base.values };
  }
}

function trafficSamples(o: Observation, unit: 'packets' | 'bytes'): Sample[] {
  const out: Sample[] = [];
  for (const r of o.routers) {
    for (const f of r.floatingIps) {
      const c = f.counters;
      if (!c) continue;
      const labels = { router_id: r.id, floating_ip_address: f.address, backend: r.backend };
      out.push({
        value: unit === 'packets' ? c.packetsIn : c.bytesIn,
        labels: { ...labels, direction: 'in' },
      });
      out.push({
        value: unit === 'packets' ? c.packetsOut : c.bytesOut,
        labels: { ...labels, direction: 'out' },
      });
    }
  }
  return out;
}
