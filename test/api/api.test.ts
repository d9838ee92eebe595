import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { dumpStore } from '../support/store-dump.js';

type Json = Record<string, unknown>;
interface NeutronErrorBody {
  NeutronError: { type: string; message: string; detail: string };
}

async function call(
  f: ApiFixture,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: unknown,
  headers?: Record<string, string>,
) {
  const res = await f.app.inject({
    method,
    url,
    ...(payload !== undefined && { payload: typeof payload === 'string' ? payload : (payload as object) }),
    headers: { ...(typeof payload === 'string' && { 'content-type': 'application/json' }), ...headers },
  });
  return { status: res.statusCode, body: res.body ? (res.json() as Json) : {} };
}

/** A request that must fail with a NeutronError of this status and type, mentioning the bad value, changing nothing. */
async function refused(
  f: ApiFixture,
  request: [
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
    headers?: Record<string, string>,
  ],
  status: number,
  type: string | RegExp,
  mentions: string[] = [],
) {
  const before = await dumpStore(f.store);
  const res = await call(f, ...request);
  assert.equal(res.status, status, JSON.stringify(res.body));
  const error = (res.body as unknown as NeutronErrorBody).NeutronError;
  assert.ok(error, `no NeutronError body: ${JSON.stringify(res.body)}`);
  if (typeof type === 'string') assert.equal(error.type, type);
  else assert.match(error.type, type);
  for (const m of mentions) assert.ok(error.message.includes(m), `"${error.message}" should mention ${m}`);
  assert.equal(await dumpStore(f.store), before, 'a refused request changed the store');
}

describe('API', () => {
  it('serves version documents at / and /v2.0, with or without a trailing slash', async () => {
    const f = await apiFixture();
    const root = await call(f, 'GET', '/');
    assert.equal(((root.body.versions as Json[])[0] as Json).id, 'v2.0');
    for (const url of ['/v2.0', '/v2.0/']) {
      const res = await call(f, 'GET', url);
      assert.equal(res.status, 200);
      assert.equal((res.body.version as Json).status, 'CURRENT');
    }
  });

  it('creates, shows, lists, associates, disassociates and deletes a floating IP with Neutron bodies', async () => {
    const f = await apiFixture();
    const created = await call(f, 'POST', '/v2.0/floatingips', {
      floatingip: { floating_network_id: f.publicNet, port_id: f.vm1, description: 'web' },
    });
    assert.equal(created.status, 201);
    const fip = created.body.floatingip as Json;
    assert.equal(fip.floating_ip_address, '203.0.113.10');
    assert.equal(fip.fixed_ip_address, '10.0.0.11');
    assert.equal(fip.router_id, f.router);
    assert.equal(fip.status, 'DOWN');
    assert.equal(fip.revision_number, 0);
    const shown = await call(f, 'GET', `/v2.0/floatingips/${String(fip.id)}`);
    assert.deepEqual(shown.body.floatingip, fip);
    const listed = await call(
      f,
      'GET',
      `/v2.0/floatingips?port_id=${f.vm1}&fields=id&fields=floating_ip_address`,
    );
    assert.deepEqual(listed.body.floatingips, [{ id: fip.id, floating_ip_address: '203.0.113.10' }]);
    const moved = await call(
      f,
      'PUT',
      `/v2.0/floatingips/${String(fip.id)}`,
      { floatingip: { port_id: f.vm2 } },
      { 'if-match': 'revision_number=0' },
    );
    assert.equal((moved.body.floatingip as Json).fixed_ip_address, '10.0.0.12');
    const off = await call(f, 'PUT', `/v2.0/floatingips/${String(fip.id)}`, {
      floatingip: { port_id: null },
    });
    assert.deepEqual(
      [(off.body.floatingip as Json).port_id, (off.body.floatingip as Json).router_id],
      [null, null],
    );
    assert.equal((await call(f, 'DELETE', `/v2.0/floatingips/${String(fip.id)}`)).status, 204);
    assert.equal((await call(f, 'GET', `/v2.0/floatingips/${String(fip.id)}`)).status, 404);
  });

  it('pages with limit and marker and links to the next page', async () => {
    const f = await apiFixture();
    for (let i = 0; i < 5; i++)
      await call(f, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet } });
    const first = await call(f, 'GET', '/v2.0/floatingips?limit=2&sort_key=floating_ip_address');
    const page = first.body.floatingips as Json[];
    assert.deepEqual(
      page.map((x) => x.floating_ip_address),
      ['203.0.113.10', '203.0.113.11'],
    );
    const next = (first.body.floatingips_links as Json[])[0]!;
    assert.equal(next.rel, 'next');
    const url = new URL(String(next.href));
    const second = await call(f, 'GET', `${url.pathname}${url.search}`);
    assert.deepEqual(
      (second.body.floatingips as Json[]).map((x) => x.floating_ip_address),
      ['203.0.113.12', '203.0.113.13'],
    );
  });

  it('answers 32 concurrent allocations from one pool with distinct addresses, then exhaustion', async () => {
    const f = await apiFixture('203.0.113.39'); // 30 addresses
    const results = await Promise.all(
      Array.from({ length: 32 }, () =>
        call(f, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet } }),
      ),
    );
    const ok = results
      .filter((r) => r.status === 201)
      .map((r) => (r.body.floatingip as Json).floating_ip_address);
    assert.equal(ok.length, 30);
    assert.equal(new Set(ok).size, 30);
    const refusedOnes = results.filter((r) => r.status !== 201);
    assert.deepEqual(
      refusedOnes.map((r) => [r.status, (r.body as unknown as NeutronErrorBody).NeutronError.type]),
      [
        [400, 'ExternalIpAddressExhausted'],
        [400, 'ExternalIpAddressExhausted'],
      ],
    );
  });

  describe('bad input gets a NeutronError naming the value, and changes nothing', () => {
    it('malformed JSON, unknown attributes and wrong types', async () => {
      const f = await apiFixture();
      await refused(f, ['POST', '/v2.0/floatingips', '{"floatingip": {'], 400, 'MalformedRequestBody');
      await refused(
        f,
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet, colour: 'red' } }],
        400,
        'HTTPBadRequest',
        ["'colour'"],
      );
      await refused(
        f,
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: 5 } }],
        400,
        'HTTPBadRequest',
        ['floating_network_id', '5'],
      );
      await refused(f, ['POST', '/v2.0/floatingips', { floatingip: {} }], 400, 'HTTPBadRequest', [
        'floating_network_id',
      ]);
      await refused(f, ['POST', '/v2.0/floatingips', { floatingips: {} }], 400, 'HTTPBadRequest');
    });

    it('invalid, octal, out-of-pool, duplicate and already-associated addresses', async () => {
      const f = await apiFixture();
      const create = (extra: Json) =>
        [
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: f.publicNet, ...extra } },
        ] as const;
      await refused(f, [...create({ floating_ip_address: '203.0.113.010' })], 400, 'InvalidInput', [
        '203.0.113.010',
      ]);
      await refused(f, [...create({ floating_ip_address: '203.0.113' })], 400, 'InvalidInput', ['203.0.113']);
      await refused(f, [...create({ floating_ip_address: '203.0.113.200' })], 400, 'BadRequest', [
        '203.0.113.200',
      ]);
      await refused(f, [...create({ floating_ip_address: '198.51.100.7' })], 400, 'BadRequest', [
        '198.51.100.7',
      ]);
      assert.equal(
        (await call(f, ...create({ floating_ip_address: '203.0.113.15', port_id: f.vm1 }))).status,
        201,
      );
      await refused(
        f,
        [...create({ floating_ip_address: '203.0.113.15' })],
        409,
        'IpAddressAlreadyAllocated',
        ['203.0.113.15'],
      );
      await refused(f, [...create({ port_id: f.vm1 })], 409, 'FloatingIPPortAlreadyAssociated', [
        '10.0.0.11',
      ]);
      await refused(f, [...create({ port_id: f.vm2, fixed_ip_address: '10.0.0.99' })], 400, 'BadRequest', [
        '10.0.0.99',
      ]);
    });

    it('unknown router, network, port and floating IP ids', async () => {
      const f = await apiFixture();
      await refused(
        f,
        ['PUT', '/v2.0/routers/00000000-0000-4000-8000-000000000000', { router: { name: 'x' } }],
        404,
        'RouterNotFound',
        ['00000000-0000-4000-8000-000000000000'],
      );
      await refused(
        f,
        ['PUT', '/v2.0/routers/not-a-uuid/add_router_interface', { subnet_id: f.privateSubnet }],
        404,
        'RouterNotFound',
        ['not-a-uuid'],
      );
      await refused(
        f,
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: 'nope' } }],
        404,
        'NetworkNotFound',
        ['nope'],
      );
      await refused(
        f,
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.privateNet } }],
        400,
        'BadRequest',
        [f.privateNet],
      );
      await refused(
        f,
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet, port_id: 'ghost' } }],
        404,
        'PortNotFound',
        ['ghost'],
      );
      await refused(f, ['GET', '/v2.0/floatingips/1.2.3.4'], 404, 'FloatingIPNotFound', ['1.2.3.4']);
      await refused(f, ['DELETE', '/v2.0/floatingips/../../etc/passwd'], 404, /NotFound/);
    });

    it('an exhausted pool', async () => {
      const f = await apiFixture('203.0.113.10');
      assert.equal(
        (await call(f, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet } }))
          .status,
        201,
      );
      await refused(
        f,
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet } }],
        400,
        'ExternalIpAddressExhausted',
        [f.publicNet],
      );
    });

    it('device and namespace names that are too long or carry shell metacharacters', async () => {
      const f = await apiFixture();
      const router = (extra: Json) =>
        ['POST', '/v2.0/routers', { router: { name: 'evil', ...extra } }] as const;
      for (const dev of ['qg-0123456789abc', 'qg;reboot', 'qg$(id)', '-qg', 'q g', '../qg']) {
        await refused(f, [...router({ gateway_device: dev })], 400, 'InvalidInput', [dev]);
      }
      for (const ns of ['a'.repeat(65), 'ns;rm -rf /', '../../etc', 'ns`id`', '-n', 'ns|x']) {
        await refused(f, [...router({ namespace: ns })], 400, 'InvalidInput', [ns]);
      }
      await refused(
        f,
        ['PUT', `/v2.0/routers/${f.router}`, { router: { gateway_device: 'qg&x' } }],
        400,
        'InvalidInput',
        ['qg&x'],
      );
      await refused(
        f,
        [...router({ gateway_device: 'qg-test', namespace: 'qrouter-test' })],
        409,
        'GatewayDeviceInUse',
        ['qg-test'],
      );
    });

    it('list filters, sort keys and markers that do not exist; a stale If-Match; an oversized body', async () => {
      const f = await apiFixture();
      await refused(f, ['GET', '/v2.0/floatingips?colour=red'], 400, 'BadRequest', ['colour']);
      await refused(f, ['GET', '/v2.0/floatingips?sort_key=colour'], 400, 'BadRequest', ['colour']);
      await refused(f, ['GET', '/v2.0/floatingips?limit=-1'], 400, 'BadRequest', ['-1']);
      await refused(
        f,
        ['GET', '/v2.0/floatingips?marker=11111111-1111-4111-8111-111111111111'],
        404,
        'FloatingIPNotFound',
        ['11111111-1111-4111-8111-111111111111'],
      );
      const fip = (
        await call(f, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.publicNet } })
      ).body.floatingip as Json;
      await refused(
        f,
        [
          'PUT',
          `/v2.0/floatingips/${String(fip.id)}`,
          { floatingip: { description: 'x' } },
          { 'if-match': 'revision_number=7' },
        ],
        412,
        'RevisionNumberConstraintFailed',
        ['7'],
      );
      await refused(
        f,
        [
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: f.publicNet, description: 'x'.repeat(300 * 1024) } },
        ],
        413,
        'RequestEntityTooLarge',
      );
      await refused(
        f,
        [
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: f.publicNet, description: 'x'.repeat(256) } },
        ],
        400,
        'HTTPBadRequest',
        ['description'],
      );
    });
  });
});
