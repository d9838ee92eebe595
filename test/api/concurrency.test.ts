import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../src/auth/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';

const CLIENTS = 32;
const POOL = { start: 100, end: 199 };
const POOL_SIZE = POOL.end - POOL.start + 1;

type Json = Record<string, unknown>;

// The API in the agent's process, and in three worker processes over one SQLite store (BEGIN IMMEDIATE across
// processes), must hand out the same addresses the same way.
for (const [setup, workers] of [
  ['one process', '0'],
  ['3 API worker processes', '3'],
] as const) {
  describe(`${CLIENTS} concurrent clients allocating from one pool of ${POOL_SIZE} (sfip serve over HTTP, ${setup})`, () => {
    let server: SpawnedServe;
    let networkId: string;
    const tokens: string[] = [];

    before(async () => {
      server = await spawnServe(['--no-agent', '--api-workers', workers]);
      const admin = server.adminToken!;
      const network = await request(server.url, admin, 'POST', '/v2.0/networks', {
        network: { name: 'pool', 'router:external': true },
      });
      networkId = String((network.body.network as Json).id);
      const subnet = await request(server.url, admin, 'POST', '/v2.0/subnets', {
        subnet: {
          network_id: networkId,
          cidr: '203.0.113.0/24',
          allocation_pools: [{ start: `203.0.113.${POOL.start}`, end: `203.0.113.${POOL.end}` }],
        },
      });
      assert.equal(subnet.status, 201);
      // Tokens written by another process into the state database, as `sfip token create` does.
      const store = new SqliteStore({ path: join(server.stateDir, 'sfip.db') });
      for (let p = 0; p < 4; p++)
        tokens.push((await issueToken(store.tokens, { projectId: `p${p}`, isAdmin: false })).token);
      await store.close();
    });
    after(() => server.stop());

    const allocate = (token: string) =>
      request(server.url, token, 'POST', '/v2.0/floatingips', {
        floatingip: { floating_network_id: networkId },
      });

    it('hands out every address exactly once, answers exhaustion with ExternalIpAddressExhausted, and never a 5xx', async () => {
      const results = await Promise.all(
        Array.from({ length: CLIENTS }, async (_, client) => {
          const token = tokens[client % tokens.length]!;
          const got: string[] = [];
          const statuses: number[] = [];
          for (;;) {
            const reply = await allocate(token);
            statuses.push(reply.status);
            if (reply.status !== 201) return { got, statuses, last: reply };
            got.push(String((reply.body.floatingip as Json).floating_ip_address));
          }
        }),
      );
      const addresses = results.flatMap((r) => r.got);
      assert.equal(new Set(addresses).size, addresses.length, 'an address was handed out twice');
      assert.equal(addresses.length, POOL_SIZE);
      for (const a of addresses) {
        const last = Number(a.split('.')[3]);
        assert.ok(a.startsWith('203.0.113.') && last >= POOL.start && last <= POOL.end, a);
      }
      for (const r of results) {
        assert.ok(
          r.statuses.every((s) => s < 500),
          `5xx: ${JSON.stringify(r.statuses)}`,
        );
        assert.equal(r.last.status, 400);
        assert.equal((r.last.body.NeutronError as Json).type, 'ExternalIpAddressExhausted');
      }
      assert.ok(
        results.filter((r) => r.got.length > 0).length > 1,
        'allocations were spread over several clients',
      );
      if (workers !== '0') {
        // Each worker logs its own requests: the clients' connections were spread over the processes.
        const answeredBy = new Set(
          server.logs.flatMap((line) => /"worker":(\d+).*"msg":"request"/.exec(line)?.[1] ?? []),
        );
        assert.ok(answeredBy.size > 1, `requests answered by workers ${[...answeredBy].join(', ')}`);
      }
    });

    it('stays consistent under concurrent release and re-allocation', async () => {
      const listed = await request(server.url, server.adminToken, 'GET', '/v2.0/floatingips');
      const fips = listed.body.floatingips as Json[];
      const byProject = new Map<string, string[]>();
      for (const fip of fips)
        byProject.set(String(fip.project_id), [
          ...(byProject.get(String(fip.project_id)) ?? []),
          String(fip.id),
        ]);
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, client) => {
          const project = `p${client % tokens.length}`;
          const token = tokens[client % tokens.length]!;
          const mine = byProject.get(project) ?? [];
          for (let round = 0; round < 3; round++) {
            const id = mine.pop();
            if (id === undefined) return;
            const deleted = await request(server.url, token, 'DELETE', `/v2.0/floatingips/${id}`);
            statuses.push(deleted.status);
            const created = await allocate(token);
            statuses.push(created.status);
          }
        }),
      );
      assert.ok(
        statuses.every((s) => s < 500),
        JSON.stringify(statuses),
      );
      const after = (await request(server.url, server.adminToken, 'GET', '/v2.0/floatingips')).body
        .floatingips as Json[];
      const addresses = after.map((f) => f.floating_ip_address);
      assert.equal(new Set(addresses).size, addresses.length);
      assert.equal(after.length, POOL_SIZE, 'every released address was allocated again');
    });

    it(`lets exactly one of ${CLIENTS} admins racing for one address have it (IpAddressAlreadyAllocated for the rest)`, async () => {
      const victim = (
        await request(
          server.url,
          server.adminToken,
          'GET',
          `/v2.0/floatingips?floating_ip_address=203.0.113.150`,
        )
      ).body.floatingips as Json[];
      assert.equal(
        (await request(server.url, server.adminToken, 'DELETE', `/v2.0/floatingips/${String(victim[0]!.id)}`))
          .status,
        204,
      );
      const replies = await Promise.all(
        Array.from({ length: CLIENTS }, () =>
          request(server.url, server.adminToken, 'POST', '/v2.0/floatingips', {
            floatingip: { floating_network_id: networkId, floating_ip_address: '203.0.113.150' },
          }),
        ),
      );
      assert.equal(replies.filter((r) => r.status === 201).length, 1);
      for (const r of replies.filter((x) => x.status !== 201)) {
        assert.equal(r.status, 409);
        assert.equal((r.body.NeutronError as Json).type, 'IpAddressAlreadyAllocated');
      }
    });
  });
}
