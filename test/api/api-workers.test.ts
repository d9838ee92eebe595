/**
 * `sfip serve --api-workers 3` (issue 16): the API in three processes over one SQLite store, the agent in the
 * primary. What must stay one across them: a token's rate limit, a source's refusal limit, the audit log (and its
 * SIGHUP reopen), /readyz, and the agent's wake-up after a write. A killed worker is replaced.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../src/auth/index.js';
import { grantSize } from '../../src/api/shared-rate-limit.js';
import { SqliteStore } from '../../src/store/index.js';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';
import { processAlive } from '../support/process-alive.js';

type Json = Record<string, unknown>;

const WORKERS = 3;
const RATE = 100;
// Above what the other tests refuse from 127.0.0.1 (404s, a 401 and a 403), so that only 127.0.0.2 reaches it.
const REFUSALS = 30;

/**
 * One request on a connection of its own, so that the cluster hands it to the next worker; from `source`, another
 * loopback address, so that one test's refusals do not count against the others' source.
 */
function fresh(
  url: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  source = '127.0.0.1',
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${path}`,
      { method, headers, agent: false, localAddress: source },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The API worker processes of the serve `pid`: its children running the worker's script. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // Field 4 of stat is the parent; the command name (field 2) is in parentheses and may hold spaces.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return (
          Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid &&
          readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('api-worker-main')
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe(`sfip serve --api-workers ${WORKERS}`, () => {
  let server: SpawnedServe;
  let admin: string;
  const tokens: string[] = [];
  let projectToken: string;
  let routerId: string;
  const auditPath = () => join(server.stateDir, 'audit.log');
  const auditLines = (path = auditPath()) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Json);

  before(async () => {
    server = await spawnServe([
      '--api-workers',
      String(WORKERS),
      '--backend',
      'fake',
      '--no-garp',
      '--rate-limit',
      `${RATE}/1m`,
      '--refusal-limit',
      `${REFUSALS}/1m`,
    ]);
    admin = server.adminToken!;
    const store = new SqliteStore({ path: join(server.stateDir, 'sfip.db') });
    for (let p = 0; p < 2; p++)
      tokens.push((await issueToken(store.tokens, { projectId: `p${p}`, isAdmin: true })).token);
    projectToken = (await issueToken(store.tokens, { projectId: 'p9', isAdmin: false })).token;
    await store.close();
  });
  after(() => server.stop());

  it(`runs ${WORKERS} API processes beside the primary`, () => {
    assert.equal(childrenOf(server.pid).length, WORKERS);
  });

  it("holds a token's rate limit in total over the workers, not per worker", async () => {
    const token = tokens[0]!;
    const statuses = await Promise.all(
      Array.from({ length: 3 * RATE }, () =>
        fresh(server.url, '/v2.0/networks', { 'x-auth-token': token }, 'GET', '127.0.0.3'),
      ),
    );
    const ok = statuses.filter((r) => r.status === 200).length;
    const limited = statuses.filter((r) => r.status === 429);
    const other = statuses
      .filter((r) => r.status !== 200 && r.status !== 429)
      .map((r) => `${r.status} ${r.body.slice(0, 200)}`);
    assert.deepEqual(other, [], 'every request admitted or limited');
    // Never beyond the limit in total. A worker may hold part of its last grant unused when the requests stop
    // reaching it, so the caller can be refused up to a grant per worker early (RateGrants): by design, not a leak.
    const early = WORKERS * grantSize(RATE, WORKERS);
    assert.ok(
      ok <= RATE && ok >= RATE - early,
      `admitted ${ok} of ${3 * RATE}: the limit is ${RATE}, at most ${early} refused early`,
    );
    assert.equal(limited.length, 3 * RATE - ok);
    assert.match(limited[0]!.body, /HTTPTooManyRequests/);
    // Answered by more than one worker, or the test would prove nothing.
    const answeredBy = new Set(
      server.logs.flatMap(
        (line) => /"worker":(\d+).*"url":"\/v2\.0\/networks".*"msg":"request"/.exec(line)?.[1] ?? [],
      ),
    );
    assert.ok(answeredBy.size > 1, `answered by workers ${[...answeredBy].join(', ')}`);
  });

  it('wakes the agent in the primary for an association made through a worker: the floating IP turns ACTIVE', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const reply = await request(server.url, tokens[1], method, path, body);
      assert.ok(reply.status < 300, `${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
      return reply.body;
    };
    const ext = (
      await call('POST', '/v2.0/networks', { network: { name: 'public', 'router:external': true } })
    ).network as Json;
    await call('POST', '/v2.0/subnets', { subnet: { network_id: ext.id, cidr: '203.0.113.0/24' } });
    const net = (await call('POST', '/v2.0/networks', { network: { name: 'inside' } })).network as Json;
    const subnet = (
      await call('POST', '/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.1.0.0/24' } })
    ).subnet as Json;
    const router = (
      await call('POST', '/v2.0/routers', {
        router: { name: 'r1', external_gateway_info: { network_id: ext.id } },
      })
    ).router as Json;
    // Where the router lives on this host is sfip's own, admin-only attribute (no kernel with the fake backend).
    await call('PUT', `/v2.0/routers/${String(router.id)}`, {
      router: { namespace: 'sfip-workers', gateway_device: 'qg-workers' },
    });
    await call('PUT', `/v2.0/routers/${String(router.id)}/add_router_interface`, { subnet_id: subnet.id });
    const port = (await call('POST', '/v2.0/ports', { port: { network_id: net.id } })).port as Json;
    const fip = (
      await call('POST', '/v2.0/floatingips', {
        floatingip: { floating_network_id: ext.id, port_id: port.id },
      })
    ).floatingip as Json;
    assert.equal(fip.status, 'DOWN', 'the create response predates the agent');
    routerId = String(router.id);
    const status = await eventually('the floating IP to be ACTIVE', async () => {
      const shown = (await call('GET', `/v2.0/floatingips/${String(fip.id)}`)).floatingip as Json;
      return shown.status === 'ACTIVE' ? shown.status : undefined;
    });
    assert.equal(status, 'ACTIVE');
  });

  it("answers /readyz from every worker with the primary's agent state", async () => {
    const replies = await Promise.all(
      Array.from({ length: 2 * WORKERS }, () => fresh(server.url, '/readyz')),
    );
    for (const reply of replies) {
      assert.equal(reply.status, 200, reply.body);
      assert.deepEqual(JSON.parse(reply.body), { status: 'ready', detail: '1 router(s) reconciled' });
    }
  });

  it("serves the primary's /metrics from every worker, with the same token check", async () => {
    const dashboardToken = readFileSync(join(server.stateDir, 'dashboard-token'), 'utf8').trim();
    const scrapes = await Promise.all(
      Array.from({ length: WORKERS }, () =>
        fresh(server.url, '/metrics', { authorization: `Bearer ${dashboardToken}` }),
      ),
    );
    for (const scrape of scrapes) {
      assert.equal(scrape.status, 200);
      // The agent's state, which only the primary holds: the router it reconciled, with its floating IP active.
      assert.match(scrape.body, new RegExp(`router_id="${routerId}"`));
    }
    assert.equal((await fresh(server.url, '/metrics')).status, 401);
    assert.equal((await fresh(server.url, '/metrics', { 'x-auth-token': projectToken })).status, 403);
    assert.equal((await fresh(server.url, '/metrics', { 'x-auth-token': admin })).status, 200);
  });

  it('reads a write acknowledged by one worker from any other at once (read-your-writes)', async () => {
    const ROUNDS = 15;
    for (let i = 0; i < ROUNDS; i++) {
      const created = await fresh(
        server.url,
        '/v2.0/networks',
        { 'x-auth-token': admin, 'content-type': 'application/json', 'x-request-id': `ryw-write-${i}` },
        'POST',
        '127.0.0.1',
        JSON.stringify({ network: { name: `ryw-${i}` } }),
      );
      assert.equal(created.status, 201, created.body);
      const id = String(((JSON.parse(created.body) as Json).network as Json).id);
      // A new connection: the cluster hands it to the next worker.
      const shown = await fresh(server.url, `/v2.0/networks/${id}`, {
        'x-auth-token': admin,
        'x-request-id': `ryw-read-${i}`,
      });
      assert.equal(shown.status, 200, shown.body);
    }
    // Each worker logs the requests it answered (after answering: wait for the last lines to arrive); most reads
    // were answered by another worker than their write.
    const workerOf = await eventually('every request logged', async () => {
      const seen = new Map(
        server.logs.flatMap((line) => {
          const m = /"worker":(\d+).*"reqId":"(ryw-[a-z]+-\d+)".*"msg":"request"/.exec(line);
          return m ? [[m[2]!, m[1]!] as const] : [];
        }),
      );
      return seen.size === 2 * ROUNDS ? seen : undefined;
    });
    const elsewhere = Array.from({ length: ROUNDS }, (_, i) => i).filter(
      (i) => workerOf.get(`ryw-write-${i}`) !== workerOf.get(`ryw-read-${i}`),
    );
    assert.ok(elsewhere.length >= ROUNDS / 2, `only ${elsewhere.length} reads on another worker`);
  });

  it('writes one whole audit line per mutating request from every worker before answering it, and reopens the file on SIGHUP', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `audit-workers-${i}`);
    await Promise.all(
      ids.map((id) =>
        fresh(
          server.url,
          '/v2.0/networks/00000000-0000-0000-0000-000000000000',
          {
            'x-auth-token': admin,
            'x-request-id': id,
          },
          'DELETE',
        ),
      ),
    );
    // No waiting: a worker answers only once the primary has written the line, as a single process does.
    const got = auditLines().filter((e) => ids.includes(String(e.requestId)));
    assert.deepEqual(got.map((e) => e.requestId).sort(), [...ids].sort());
    for (const entry of got) assert.equal(entry.status, 404);
    // logrotate's move, then SIGHUP to the primary: the next line goes to a new file at the same path.
    renameSync(auditPath(), `${auditPath()}.1`);
    server.signal('SIGHUP');
    await eventually('the SIGHUP to be handled', async () =>
      server.logs.some((l) => l.includes('SIGHUP: reopened the audit log')) ? true : undefined,
    );
    await fresh(
      server.url,
      '/v2.0/networks/00000000-0000-0000-0000-000000000001',
      {
        'x-auth-token': admin,
        'x-request-id': 'after-sighup',
      },
      'DELETE',
    );
    assert.ok(existsSync(auditPath()), 'the answered request has its line in the new file');
    assert.deepEqual(
      auditLines().map((e) => e.requestId),
      ['after-sighup'],
    );
  });

  it('replaces a killed worker, and the API keeps answering', async () => {
    const before = childrenOf(server.pid);
    process.kill(before[0]!, 'SIGKILL');
    await eventually('a replacement worker', async () => {
      const now = childrenOf(server.pid);
      return now.length === WORKERS && !now.includes(before[0]!) ? now : undefined;
    });
    await eventually('the replacement to listen', async () =>
      server.logs.some((l) => l.includes('API worker replaced')) ? true : undefined,
    );
    const replies = await Promise.all(
      Array.from({ length: 2 * WORKERS }, () => fresh(server.url, '/healthz')),
    );
    assert.deepEqual(
      replies.map((r) => r.status),
      replies.map(() => 200),
    );
  });

  it("counts a source's refusals over every worker, then every worker refuses it", async () => {
    let unauthorized = 0;
    for (let i = 0; i < 3 * REFUSALS; i++) {
      const reply = await fresh(
        server.url,
        '/v2.0/networks',
        { 'x-auth-token': `not-a-token-${i}` },
        'GET',
        '127.0.0.2',
      );
      if (reply.status === 401) unauthorized++;
      else assert.equal(reply.status, 429, reply.body);
    }
    // Counted per worker, ${3 * REFUSALS} would all have been 401. The primary announces the limit after the
    // refusal that reached it, so one or two more per worker may pass while the announcement travels.
    assert.ok(unauthorized >= REFUSALS && unauthorized < 2 * REFUSALS, `${unauthorized} answered 401`);
    await new Promise((r) => setTimeout(r, 200));
    const replies = await Promise.all(
      Array.from({ length: 2 * WORKERS }, () => fresh(server.url, '/healthz', {}, 'GET', '127.0.0.2')),
    );
    for (const reply of replies) {
      assert.equal(reply.status, 429);
      assert.match(reply.body, /Too many refused requests from address:127\.0\.0\.2/);
    }
  });

  it('stops every worker and then the primary on SIGTERM', async () => {
    const workers = childrenOf(server.pid);
    assert.equal(workers.length, WORKERS);
    await server.terminate();
    const alive = workers.filter(processAlive);
    assert.deepEqual(alive, [], 'workers outlived the primary');
    assert.ok(
      !existsSync(join(server.stateDir, `api-${server.pid}.sock`)),
      'the internal socket was left behind',
    );
  });
});
