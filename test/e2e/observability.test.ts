/**
 * Observability against the real thing: a `sfip serve` process, the lab's namespaces, real packets.
 * - /metrics per-floating-IP counters match the packets sent (exactly, within a tolerance of +3 packets);
 * - the dashboard in Debian's Chromium shows a floating IP created through the API as ACTIVE and its counter
 *   rising with traffic; it saves a screenshot (test-results/dashboard.png and docs/dashboard.png);
 * - `sfip top --once` shows the same.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ApiClient, type Json } from '../../src/client/api-client.js';
import { run } from '../../src/exec/run.js';
import { demoLab, destroyLab, labUp, Probe, type RegisteredRouter } from '../../src/lab/index.js';
import { launchChromium } from '../support/browser.js';
import { builtSfip } from '../support/built-sfip.js';
import { sample, sfipWith, startServe, waitFor, type ServeProcess } from '../support/serve-process.js';

const ROOT = join(import.meta.dirname, '..', '..');
const prefix = `tmo${process.pid % 10000}`;
const spec = demoLab(prefix);
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-observe-'));
const TOKEN = 'test-dashboard-token-0123456789';
/** bin/sfip, as a user runs it. */
const product = builtSfip();
/** The dataplane must count every packet sent; a few more are tolerated, fewer never. */
const TOLERANCE = 3;

describe('metrics, dashboard and top against the lab', { timeout: 240_000 }, () => {
  let serve: ServeProcess;
  let api: ApiClient;
  let lab: RegisteredRouter;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: Page;
  const ns = { ext: `${prefix}-r1-ext`, vm1: `${prefix}-r1-vm1` };
  let address = '';

  const metrics = async () =>
    (await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const counter = (text: string, name: string, direction: string) =>
    sample(text, name, { floating_ip_address: address, direction }) ?? NaN;

  before(async () => {
    await destroyLab(spec);
    serve = await startServe(stateDir, ['--dashboard-token', TOKEN, '--resync-interval', '2s'], product);
    api = new ApiClient(serve.url);
    const routers = await labUp(api, spec);
    assert.equal(routers.length, 1);
    lab = routers[0]!;
    browser = await launchChromium();
    page = await browser.context.newPage();
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
    await destroyLab(spec);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('is ready once every router has been reconciled', async () => {
    const ready = await waitFor('readiness', async () => {
      const r = await fetch(`${serve.url}/readyz`);
      return r.ok ? ((await r.json()) as { detail: string }) : undefined;
    });
    assert.match(ready.detail, /1 router\(s\) reconciled/);
  });

  it('refuses the dashboard data without the token, and serves the page itself', async () => {
    assert.equal((await fetch(`${serve.url}/dashboard/api/state`)).status, 401);
    const wrong = await fetch(`${serve.url}/dashboard/api/state`, {
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(wrong.status, 401);
    const pageResponse = await fetch(`${serve.url}/dashboard/`);
    assert.equal(pageResponse.status, 200);
    assert.match(await pageResponse.text(), /<div id="app">/);
  });

  it('shows a floating IP created through the API as ACTIVE on the dashboard', async () => {
    await page.goto(`${serve.url}/dashboard/#token=${TOKEN}`);
    await page.locator(`[data-router="${prefix}-r1"]`).waitFor();
    const created = await api.post<{ floatingip: Json }>('/v2.0/floatingips', {
      floatingip: { floating_network_id: lab.externalNetworkId, port_id: lab.ports.vm1 },
    });
    address = String(created.floatingip.floating_ip_address);
    const status = page.locator(`tr[data-fip="${address}"] [data-field="status"]`);
    await waitFor('ACTIVE on the dashboard', async () =>
      (await status.textContent({ timeout: 1000 })) === 'ACTIVE' ? true : undefined,
    );
  });

  it('counts, in /metrics, exactly the packets sent through the floating IP', async () => {
    const sink = new Probe(ns.vm1, 'vm1');
    const outside = new Probe(ns.ext, 'ext');
    try {
      await sink.call({ op: 'listen', proto: 'udp', port: 7001 });
      await outside.call({ op: 'listen', proto: 'udp', port: 7002 });
      const before = await metrics();
      const sentIn = 200;
      const sentOut = 150;
      await outside.call({
        op: 'udpStream',
        host: address,
        port: 7001,
        tag: 'in',
        count: sentIn,
        intervalMs: 2,
      });
      await sink.call({
        op: 'udpStream',
        host: '203.0.113.1',
        port: 7002,
        tag: 'out',
        count: sentOut,
        intervalMs: 2,
      });
      const got = await waitFor('all datagrams delivered', async () => {
        const a = await sink.call<{ unique: number }>({ op: 'received', port: 7001, tag: 'in' });
        const b = await outside.call<{ unique: number; peers: string[] }>({
          op: 'received',
          port: 7002,
          tag: 'out',
        });
        return a.unique === sentIn && b.unique === sentOut ? b : undefined;
      });
      assert.deepEqual(got.peers, [address], 'outbound datagrams left with the floating address');
      await new Promise((r) => setTimeout(r, 1100)); // past the daemon's 1 s counter cache
      const after = await metrics();
      const delta = (name: string, direction: string) =>
        counter(after, name, direction) - counter(before, name, direction);
      const packetsIn = delta('sfip_floating_ip_packets_total', 'in');
      const packetsOut = delta('sfip_floating_ip_packets_total', 'out');
      assert.ok(
        packetsIn >= sentIn && packetsIn <= sentIn + TOLERANCE,
        `in: sent ${sentIn}, counted ${packetsIn}`,
      );
      assert.ok(
        packetsOut >= sentOut && packetsOut <= sentOut + TOLERANCE,
        `out: sent ${sentOut}, counted ${packetsOut}`,
      );
      // Each datagram is an IP packet of 20 (IP) + 8 (UDP) bytes plus its payload `stream-TAG:SEQ`.
      const bytes = (tag: string, n: number) =>
        Array.from({ length: n }, (_, i) => 28 + `stream-${tag}:${i}`.length).reduce((a, b) => a + b, 0);
      const bytesIn = delta('sfip_floating_ip_bytes_total', 'in');
      assert.ok(
        bytesIn >= bytes('in', sentIn) && bytesIn <= bytes('in', sentIn) + TOLERANCE * 1500,
        `bytes in ${bytesIn}`,
      );
      const bytesOut = delta('sfip_floating_ip_bytes_total', 'out');
      assert.ok(
        bytesOut >= bytes('out', sentOut) && bytesOut <= bytes('out', sentOut) + TOLERANCE * 1500,
        `bytes out ${bytesOut}`,
      );
      // The rest of the families are there too, with sane values.
      assert.equal(sample(after, 'sfip_floating_ips', { router_id: lab.routerId, status: 'ACTIVE' }), 1);
      assert.ok((sample(after, 'sfip_conntrack_entries', { namespace: `${prefix}-r1` }) ?? -1) >= 0);
      assert.match(after, /^sfip_conntrack_max \d+$/m);
      assert.match(
        after,
        new RegExp(`^sfip_reconcile_duration_seconds_count\\{router_id="${lab.routerId}"\\} [1-9]`, 'm'),
      );
      assert.match(after, /^sfip_last_successful_apply_timestamp_seconds\{/m);
    } finally {
      sink.close();
      outside.close();
    }
  });

  it('shows the counter rising on the dashboard while traffic flows, and takes a screenshot', async () => {
    const cell = page.locator(`tr[data-fip="${address}"] [data-field="packets-in"]`);
    const shown = async () => Number(await cell.getAttribute('data-value', { timeout: 1000 }));
    const start = await shown();
    // About 6 s of pings in, and replies out, so the chart has a few points to draw.
    const pinging = run('ping', ['-c', '60', '-i', '0.1', '-q', address], { netns: ns.ext });
    await waitFor('the packet counter to rise on the dashboard', async () =>
      (await shown()) >= start + 20 ? true : undefined,
    );
    await pinging;
    const end = await waitFor('all pings counted', async () =>
      (await shown()) >= start + 60 ? shown() : undefined,
    );
    assert.ok(end >= start + 60, `the dashboard showed ${start} then ${end} packets in`);
    const events = await page.locator('table.events').textContent();
    assert.match(events ?? '', /applied/, 'the apply of the new floating IP is listed');
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    const artifact = join(ROOT, 'test-results', 'dashboard.png');
    await page.screenshot({ path: artifact, fullPage: true });
    copyFileSync(artifact, join(ROOT, 'docs', 'dashboard.png'));
  });

  it('shows the same in the terminal with sfip top --once', async () => {
    const top = await sfipWith(
      product,
      '--url',
      serve.url,
      'top',
      '--dashboard-token',
      TOKEN,
      '--interval',
      '500ms',
    );
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, new RegExp(`router ${prefix}-r1`));
    assert.match(top.stdout, new RegExp(`${address.replace(/\./g, '\\.')}\\s.*ACTIVE`));
    const refused = await sfipWith(
      product,
      '--url',
      serve.url,
      'top',
      '--dashboard-token',
      'wrong-token-wrong-token',
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTPUnauthorized/);
  });
});
