import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { renderTop } from '../../src/cli/top-view.js';
import {
  loadDashboardToken,
  presentedToken,
  RateTracker,
  registerDashboard,
  sameToken,
  type DashboardState,
} from '../../src/dashboard/index.js';
import type { Observation, Observer } from '../../src/metrics/index.js';
import { ReconcileHistory } from '../../src/metrics/index.js';

const ROUTER = '6c6dc72e-c74a-4386-989b-f048b1d408e6';

function observation(count: number, packetsIn = 10): Observation {
  return {
    at: Date.parse('2026-11-26T10:00:00Z'),
    readMs: 3,
    routers: [
      {
        id: ROUTER,
        name: 'r1',
        backend: 'nftables',
        namespace: 'qrouter-1',
        gatewayDevice: 'qg-1',
        problem: '',
        countersSupported: true,
        countersError: null,
        statusCounts: { ACTIVE: Math.max(0, count - 1), DOWN: 0, ERROR: Math.min(1, count) },
        floatingIps: Array.from({ length: count }, (_, i) => ({
          id: `fip-${i}`,
          address: `203.0.113.${10 + i}`,
          fixedIp: `10.0.0.${10 + i}`,
          status: i === 0 ? ('ERROR' as const) : ('ACTIVE' as const),
          statusReason: i === 0 ? 'namespace missing' : '',
        })),
        counters: Array.from({ length: count }, (_, i) => ({
          floatingIp: `203.0.113.${10 + i}`,
          packetsIn,
          bytesIn: packetsIn * 100,
          packetsOut: 1,
          bytesOut: 100,
        })),
      },
    ],
    conntrack: [{ namespace: 'qrouter-1', usage: { count: 5, max: 100 }, error: null }],
  };
}

async function app(obs: Observation, token = 'a-very-secret-token-123') {
  const server = Fastify();
  const history = new ReconcileHistory();
  history.record({
    routerId: ROUTER,
    cause: 'resync',
    durationMs: 4.26,
    changed: true,
    rebuilt: true,
    drifted: true,
    added: 3,
    removed: 0,
    conntrackDeleted: 0,
  });
  const observer = { observe: async () => obs } as unknown as Observer;
  await registerDashboard(server, {
    observer,
    history,
    authorize: (request) => sameToken(presentedToken(request.headers), token),
  });
  return server;
}

describe('dashboard data endpoint', () => {
  it('refuses requests without the right token', async () => {
    const server = await app(observation(2));
    for (const headers of [
      {},
      { authorization: 'Bearer wrong' },
      { 'x-auth-token': 'a-very-secret-token-12' },
    ]) {
      const res = await server.inject({ url: '/dashboard/api/state', headers });
      assert.equal(res.statusCode, 401);
      assert.match(res.headers['www-authenticate'] as string, /Bearer/);
      assert.doesNotMatch(res.body, /a-very-secret/);
    }
  });

  it('serves routers, floating IPs with status and counters, conntrack and recent events', async () => {
    const server = await app(observation(3));
    const res = await server.inject({
      url: '/dashboard/api/state',
      headers: { 'x-auth-token': 'a-very-secret-token-123' },
    });
    assert.equal(res.statusCode, 200);
    const state = res.json() as DashboardState;
    const r = state.routers[0]!;
    assert.deepEqual(r.statusCounts, { ACTIVE: 2, DOWN: 0, ERROR: 1 });
    assert.deepEqual(
      r.floatingIps.map((f) => [f.address, f.status, f.packetsIn]),
      [
        ['203.0.113.10', 'ERROR', 10],
        ['203.0.113.11', 'ACTIVE', 10],
        ['203.0.113.12', 'ACTIVE', 10],
      ],
    );
    assert.equal(r.lastReconcile?.kind, 'drift-repaired');
    assert.deepEqual(state.conntrack, [{ namespace: 'qrouter-1', count: 5, max: 100, error: null }]);
    assert.deepEqual(
      state.events.map((e) => [e.kind, e.cause, e.durationMs]),
      [['drift-repaired', 'resync', 4.3]],
    );
  });

  it('limits the floating IPs per router and names a bad limit', async () => {
    const server = await app(observation(5));
    const headers = { authorization: 'Bearer a-very-secret-token-123' };
    const limited = (
      await server.inject({ url: '/dashboard/api/state?limit=2', headers })
    ).json() as DashboardState;
    assert.equal(limited.routers[0]!.floatingIps.length, 2);
    assert.equal(limited.routers[0]!.truncated, true);
    for (const bad of ['0', '-1', '2.5', 'ten', '5001']) {
      const res = await server.inject({ url: `/dashboard/api/state?limit=${bad}`, headers });
      assert.equal(res.statusCode, 400, bad);
      assert.match(res.body, new RegExp(`Invalid limit '${bad.replace('.', '\\.')}'`));
    }
    const other = await server.inject({ url: '/dashboard/api/state?router=nope', headers });
    assert.deepEqual((other.json() as DashboardState).routers, []);
  });

  it('pages through the floating IPs and searches them by address, and names a bad offset or search', async () => {
    // 120 floating IPs: 203.0.113.10 ... 203.0.113.129 (fixed 10.0.0.10 ...).
    const server = await app(observation(120));
    const headers = { authorization: 'Bearer a-very-secret-token-123' };
    const get = async (query: string) =>
      ((await server.inject({ url: `/dashboard/api/state?${query}`, headers })).json() as DashboardState)
        .routers[0]!;
    const page2 = await get('limit=50&offset=50');
    assert.deepEqual(
      [page2.floatingIpCount, page2.matched, page2.offset, page2.floatingIps.length, page2.truncated],
      [120, 120, 50, 50, true],
    );
    assert.equal(page2.floatingIps[0]!.address, '203.0.113.60');
    assert.equal(page2.floatingIps[49]!.address, '203.0.113.109');
    const last = await get('limit=50&offset=100');
    assert.deepEqual([last.floatingIps.length, last.truncated], [20, false]);
    assert.equal(last.floatingIps.at(-1)!.address, '203.0.113.129');
    // The status counts are the router's, whatever the page.
    assert.deepEqual(last.statusCounts, { ACTIVE: 119, DOWN: 0, ERROR: 1 });
    const beyond = await get('offset=500');
    assert.deepEqual([beyond.floatingIps.length, beyond.matched, beyond.truncated], [0, 120, false]);
    // By floating address prefix: 203.0.113.11 and 203.0.113.110 ... 203.0.113.119.
    const found = await get('search=203.0.113.11');
    assert.deepEqual(
      found.floatingIps.map((f) => f.address),
      ['203.0.113.11', ...Array.from({ length: 10 }, (_, i) => `203.0.113.${110 + i}`)],
    );
    assert.equal(found.matched, 11);
    assert.equal(found.floatingIps[0]!.packetsIn, 10, 'a found floating IP carries its counters');
    // By fixed address, paged.
    const fixed = await get('search=10.0.0.12&limit=3');
    assert.deepEqual(
      fixed.floatingIps.map((f) => f.fixedIp),
      ['10.0.0.12', '10.0.0.120', '10.0.0.121'],
    );
    assert.deepEqual([fixed.matched, fixed.truncated], [11, true]);
    assert.deepEqual((await get('search=198.51.100.')).floatingIps, []);
    for (const [query, message] of [
      ['offset=-1', "Invalid offset '-1'"],
      ['offset=x', "Invalid offset 'x'"],
      ['search=203.0.113.1%3Bls', "Invalid search '203.0.113.1;ls'"],
      ['search=abc', "Invalid search 'abc'"],
    ] as const) {
      const res = await server.inject({ url: `/dashboard/api/state?${query}`, headers });
      assert.equal(res.statusCode, 400, query);
      assert.ok(res.body.includes(message), `${query}: ${res.body}`);
    }
  });
});

describe('dashboard token', () => {
  it('is generated once into the state directory, private, and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfip-token-'));
    try {
      const first = loadDashboardToken(dir);
      assert.equal(first.path, join(dir, 'dashboard-token'));
      assert.ok(first.token.length >= 32);
      assert.equal(statSync(first.path!).mode & 0o777, 0o600);
      assert.equal(readFileSync(first.path!, 'utf8').trim(), first.token);
      assert.equal(loadDashboardToken(dir).token, first.token);
      writeFileSync(first.path!, 'short\n');
      assert.throws(() => loadDashboardToken(dir), /dashboard-token is not usable: it needs at least 16/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a configured token that is too short or has spaces, without echoing it', () => {
    assert.throws(
      () => loadDashboardToken('/nonexistent', 'abc'),
      (e: Error) => !e.message.includes('abc'),
    );
    assert.throws(() => loadDashboardToken('/nonexistent', 'has a space in it ok'), /printable characters/);
    assert.equal(loadDashboardToken('/nonexistent', 'x'.repeat(16)).path, null);
  });
});

describe('rates', () => {
  const state = (at: string, packetsIn: number | null): DashboardState => ({
    readAt: at,
    conntrack: [],
    events: [],
    routers: [
      {
        id: ROUTER,
        name: 'r1',
        backend: 'nftables',
        namespace: null,
        gatewayDevice: 'qg-1',
        problem: '',
        countersSupported: true,
        countersError: null,
        statusCounts: { ACTIVE: 1, DOWN: 0, ERROR: 0 },
        lastReconcile: null,
        lastSuccessAt: null,
        floatingIpCount: 1,
        matched: 1,
        offset: 0,
        truncated: false,
        floatingIps: [
          {
            id: 'f',
            address: '203.0.113.10',
            fixedIp: '10.0.0.11',
            status: 'ACTIVE',
            statusReason: '',
            packetsIn,
            bytesIn: packetsIn === null ? null : packetsIn * 100,
            packetsOut: 0,
            bytesOut: 0,
          },
        ],
      },
    ],
  });

  it('turns cumulative counters into per-second rates, skipping repeats and counter resets', () => {
    const t = new RateTracker(3);
    t.update(state('2026-11-26T10:00:00.000Z', 100));
    assert.equal(t.rate(ROUTER, '203.0.113.10'), undefined, 'one reading has no rate');
    t.update(state('2026-11-26T10:00:02.000Z', 300));
    assert.deepEqual(t.rate(ROUTER, '203.0.113.10'), {
      packetsInPerSec: 100,
      packetsOutPerSec: 0,
      bytesInPerSec: 10_000,
      bytesOutPerSec: 0,
    });
    t.update(state('2026-11-26T10:00:02.000Z', 300)); // the daemon's cached reading again
    assert.equal(t.seriesOf(ROUTER, '203.0.113.10')!.times.length, 1);
    t.update(state('2026-11-26T10:00:03.000Z', 50)); // the table was rebuilt: counters restarted
    assert.equal(t.rate(ROUTER, '203.0.113.10'), undefined);
    t.update(state('2026-11-26T10:00:04.000Z', 60));
    assert.equal(t.rate(ROUTER, '203.0.113.10')!.packetsInPerSec, 10);
    assert.deepEqual(t.seriesOf(ROUTER, '203.0.113.10')!.packetsIn, [100, 10]);
  });

  it('renders the same view as text for sfip top', () => {
    const t = new RateTracker(3);
    t.update(state('2026-11-26T10:00:00.000Z', 0));
    const later = state('2026-11-26T10:00:01.000Z', 1000);
    t.update(later);
    const text = renderTop(later, t, {
      url: 'http://127.0.0.1:9696',
      intervalMs: 1000,
      rowsPerRouter: 10,
      color: false,
      now: Date.parse('2026-11-26T10:00:01.000Z'),
    });
    assert.match(text, /router r1 {2}nftables, host, qg-1 {2}1 ACTIVE 0 DOWN 0 ERROR/);
    assert.match(text, /│ 203\.0\.113\.10 │ 10\.0\.0\.11 │ ACTIVE │ +1\.00k │ +0 │ +800kb\/s │/);
    assert.equal(text.includes('\x1b['), false, 'no colour codes when not on a terminal');
    assert.equal(text.includes('page:'), false, 'one page holds them all: no pager line');
    const paged = renderTop(
      {
        ...later,
        routers: [
          { ...later.routers[0]!, matched: 1200, floatingIpCount: 100_000, offset: 500, truncated: true },
        ],
      },
      t,
      {
        url: 'http://127.0.0.1:9696',
        intervalMs: 1000,
        rowsPerRouter: 10,
        color: false,
        keys: true,
      },
    );
    assert.match(paged, /page: 501–501 of 1200 matching \(100000 in all\) {2}\(n next, p previous page\)/);
  });
});
