import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json } from '../../src/client/api-client.js';
import { labRouter } from '../../src/lab/index.js';
import {
  createMetricsRegistry,
  Observer,
  ReconcileHistory,
  type MetricsExporter,
} from '../../src/metrics/index.js';
import { DataplaneFixture, UDP_PORT } from '../support/dataplane-fixture.js';
import { sample } from '../support/serve-process.js';

const EXTERNAL = '203.0.113.1';
const CACHE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The counter cache behind /metrics against a real nftables table: real datagrams through the router namespace
 * change what /metrics shows, once the cache period has passed and not before; floating IPs created and
 * disassociated after the first scrape are followed through the store's change feed.
 */
describe('/metrics counter cache with real packets (nftables)', () => {
  const f = new DataplaneFixture('nftables', {
    prefix: `tmcc${process.pid % 1000}`,
    routers: [labRouter('r1', '203.0.113', 2)],
  });
  let metrics: MetricsExporter;
  let observer: Observer;

  before(async () => {
    await f.start();
    observer = new Observer({
      store: f.store,
      dataplaneFor: () => f.dataplane,
      defaultBackend: 'nftables',
      cacheMs: CACHE_MS,
      // Always wait for the read here: the test checks values, not how long a scrape may wait.
      maxWaitMs: 60_000,
    });
    metrics = createMetricsRegistry({ observer, history: new ReconcileHistory(), processMetrics: false });
  });
  after(() => f.stop());

  const packets = (text: string, fip: Json, direction: 'in' | 'out') =>
    sample(text, 'sfip_floating_ip_packets_total', {
      floating_ip_address: String(fip.floating_ip_address),
      direction,
    });
  const stream = async (from: string, host: string, tag: string, count: number) => {
    const { sent } = await f
      .at(from)
      .call<{ sent: number }>({ op: 'udpStream', host, port: UDP_PORT, tag, count, intervalMs: 2 });
    assert.equal(sent, count);
  };
  const received = async (at: string, tag: string) =>
    (await f.at(at).call<{ count: number }>({ op: 'received', port: UDP_PORT, tag })).count;
  /** Counters may include a few packets the test did not send (none expected); never fewer. */
  const atLeast = (actual: number | undefined, expected: number) => {
    assert.ok(
      actual !== undefined && actual >= expected && actual <= expected + 3,
      `expected ${expected} (+3), got ${actual}`,
    );
  };

  it('shows datagrams sent through a floating IP, in both directions, after the cache period', async () => {
    const fip1 = await f.createFloatingIp('r1', 'vm1');
    await f.settle();
    const first = await metrics.metrics();
    const in0 = packets(first, fip1, 'in');
    const out0 = packets(first, fip1, 'out');
    assert.equal(in0, 0, 'a new floating IP starts at zero');
    assert.equal(out0, 0);

    await stream('r1-ext', String(fip1.floating_ip_address), 'm-in', 40);
    await stream('r1-vm1', EXTERNAL, 'm-out', 25);
    assert.equal(await received('r1-vm1', 'm-in'), 40, 'the VM got every datagram sent to its floating IP');
    assert.equal(await received('r1-ext', 'm-out'), 25);

    await sleep(CACHE_MS + 50);
    const fresh = await metrics.metrics();
    atLeast(packets(fresh, fip1, 'in'), 40);
    atLeast(packets(fresh, fip1, 'out'), 25);
    const bytes = sample(fresh, 'sfip_floating_ip_bytes_total', {
      floating_ip_address: String(fip1.floating_ip_address),
      direction: 'in',
    })!;
    // Each datagram is "stream-m-in:SEQ" (13 to 15 bytes) plus 28 bytes of IP and UDP header.
    assert.ok(bytes >= 40 * 41 && bytes <= 43 * 43 + 200, `bytes in ${bytes}`);
  });

  it('follows floating IPs created and disassociated after the first scrape', async () => {
    const fip2 = await f.createFloatingIp('r1', 'vm2');
    await f.settle();
    await stream('r1-ext', String(fip2.floating_ip_address), 'm-2', 15);
    assert.equal(await received('r1-vm2', 'm-2'), 15);
    await sleep(CACHE_MS + 50);
    const text = await metrics.metrics();
    atLeast(packets(text, fip2, 'in'), 15);
    assert.equal(sample(text, 'sfip_floating_ips', { status: 'ACTIVE' }), 2);

    await f.updateFloatingIp(fip2.id, { port_id: null });
    await f.settle();
    await sleep(CACHE_MS + 50);
    const after = await metrics.metrics();
    assert.equal(packets(after, fip2, 'in'), undefined, 'a disassociated floating IP has no samples');
    assert.equal(sample(after, 'sfip_floating_ips', { status: 'ACTIVE' }), 1);
  });
});
