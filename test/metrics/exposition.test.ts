import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FloatingIpCounters } from '../../src/dataplane/index.js';
import {
  trafficChunks,
  type Observation,
  type ObservedFloatingIp,
  type ObservedRouter,
} from '../../src/metrics/index.js';
import type { BackendName } from '../../src/model/index.js';

type Counted = readonly [ObservedFloatingIp, FloatingIpCounters | null];

const fip = (address: string, n: number | null): Counted => [
  { id: `id-${address}`, address, fixedIp: null, status: 'ACTIVE', statusReason: '' },
  n === null
    ? null
    : { floatingIp: address, packetsIn: n, packetsOut: n + 1, bytesIn: n * 60, bytesOut: 2 ** 40 + n },
];

const router = (id: string, backend: BackendName, counted: readonly Counted[]): ObservedRouter => ({
  id,
  name: id,
  backend,
  namespace: null,
  gatewayDevice: null,
  problem: '',
  countersSupported: true,
  countersError: null,
  statusCounts: { ACTIVE: counted.length, DOWN: 0, ERROR: 0 },
  floatingIps: counted.map(([f]) => f),
  counters: counted.map(([, c]) => c),
});

const observation = (routers: ObservedRouter[]): Observation => ({
  at: 0,
  readMs: 0,
  conntrack: [],
  routers,
});

const text = (o: Observation) => Buffer.concat([...trafficChunks(o)]).toString();

describe('per-floating-IP text', () => {
  it('is, byte for byte, the text the cached renderer wrote before it was rendered per scrape', () => {
    // Written by the renderer that kept its text between scrapes (main at 77091ea), for the same observation: a
    // router id that needs escaping, a floating IP without counters, a router without floating IPs, and counters
    // past 2^32.
    const expected = [
      '# HELP sfip_floating_ip_packets_total Packets through a floating IP, counted by the dataplane: in = addressed to it, out = leaving with it as source',
      '# TYPE sfip_floating_ip_packets_total counter',
      'sfip_floating_ip_packets_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.1",backend="nftables",direction="in"} 0',
      'sfip_floating_ip_packets_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.1",backend="nftables",direction="out"} 1',
      'sfip_floating_ip_packets_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.3",backend="nftables",direction="in"} 7',
      'sfip_floating_ip_packets_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.3",backend="nftables",direction="out"} 8',
      'sfip_floating_ip_packets_total{router_id="r3",floating_ip_address="203.0.113.9",backend="ebpf",direction="in"} 12345678901',
      'sfip_floating_ip_packets_total{router_id="r3",floating_ip_address="203.0.113.9",backend="ebpf",direction="out"} 12345678902',
      '# HELP sfip_floating_ip_bytes_total Bytes (IP packet length) through a floating IP, counted by the dataplane',
      '# TYPE sfip_floating_ip_bytes_total counter',
      'sfip_floating_ip_bytes_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.1",backend="nftables",direction="in"} 0',
      'sfip_floating_ip_bytes_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.1",backend="nftables",direction="out"} 1099511627776',
      'sfip_floating_ip_bytes_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.3",backend="nftables",direction="in"} 420',
      'sfip_floating_ip_bytes_total{router_id="r-\\"1\\"\\\\",floating_ip_address="100.64.0.3",backend="nftables",direction="out"} 1099511627783',
      'sfip_floating_ip_bytes_total{router_id="r3",floating_ip_address="203.0.113.9",backend="ebpf",direction="in"} 740740734060',
      'sfip_floating_ip_bytes_total{router_id="r3",floating_ip_address="203.0.113.9",backend="ebpf",direction="out"} 1111857306677',
    ];
    const o = observation([
      router('r-"1"\\', 'nftables', [fip('100.64.0.1', 0), fip('100.64.0.2', null), fip('100.64.0.3', 7)]),
      router('r2', 'ebpf', []),
      router('r3', 'ebpf', [fip('203.0.113.9', 12345678901)]),
    ]);
    assert.equal(text(o), expected.join('\n') + '\n');
  });

  it('keeps every floating IP, in order, across the buffers it is cut into', () => {
    const many = (r: number, n: number) =>
      Array.from({ length: n }, (_, i) => fip(`100.${64 + r}.${i >> 8}.${i & 255}`, i % 7 === 3 ? null : i));
    const routers = [router('r0', 'nftables', many(0, 700)), router('r1', 'ebpf', many(1, 256))];
    const lines: string[] = [];
    for (const [unit, family] of [
      ['packets', 'sfip_floating_ip_packets_total'],
      ['bytes', 'sfip_floating_ip_bytes_total'],
    ] as const) {
      for (const r of routers) {
        for (const [n, f] of r.floatingIps.entries()) {
          const c = r.counters[n];
          if (!c) continue;
          const [i, o] = unit === 'packets' ? [c.packetsIn, c.packetsOut] : [c.bytesIn, c.bytesOut];
          const labels = `router_id="${r.id}",floating_ip_address="${f.address}",backend="${r.backend}"`;
          lines.push(`${family}{${labels},direction="in"} ${i}`, `${family}{${labels},direction="out"} ${o}`);
        }
      }
    }
    const samples = text(observation(routers))
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(samples, lines);
  });

  it('renders a buffer only when it is taken', () => {
    let read = 0;
    const counted = (address: string): Counted => {
      const counters: FloatingIpCounters = {
        floatingIp: address,
        get packetsIn() {
          read++;
          return 1;
        },
        packetsOut: 0,
        bytesIn: 0,
        bytesOut: 0,
      };
      return [fip(address, 0)[0], counters];
    };
    const fips = Array.from({ length: 1000 }, (_, i) => counted(`100.64.${i >> 8}.${i & 255}`));
    const chunks = trafficChunks(observation([router('r', 'nftables', fips)]));
    chunks.next(); // the header
    assert.equal(read, 0, 'nothing rendered before the first floating IPs are taken');
    chunks.next();
    assert.ok(
      read > 0 && read < fips.length,
      `one buffer read ${read} of ${fips.length} floating IPs' counters`,
    );
  });
});
