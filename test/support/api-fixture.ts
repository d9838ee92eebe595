import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/index.js';
import { SqliteStore } from '../../src/store/index.js';

export interface ApiFixture {
  app: FastifyInstance;
  store: SqliteStore;
  publicNet: string;
  publicSubnet: string;
  privateNet: string;
  privateSubnet: string;
  router: string;
  vm1: string;
  vm2: string;
}

type Body = Record<string, Record<string, unknown>>;

/** An in-process API over an in-memory store, with a small topology created through the API itself. */
export async function apiFixture(poolEnd = '203.0.113.20'): Promise<ApiFixture> {
  const store = new SqliteStore({ path: ':memory:' });
  const app = await buildApi({ store, logger: false });
  const post = async (path: string, body: unknown) => {
    const res = await app.inject({ method: 'POST', url: path, payload: body as object });
    if (res.statusCode !== 201) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
    return (res.json() as Body)[Object.keys(res.json() as Body)[0]!]!;
  };
  const pub = await post('/v2.0/networks', { network: { name: 'public', 'router:external': true } });
  const pubSub = await post('/v2.0/subnets', {
    subnet: {
      network_id: pub.id,
      cidr: '203.0.113.0/24',
      gateway_ip: '203.0.113.1',
      allocation_pools: [{ start: '203.0.113.10', end: poolEnd }],
    },
  });
  const priv = await post('/v2.0/networks', { network: { name: 'private' } });
  const privSub = await post('/v2.0/subnets', { subnet: { network_id: priv.id, cidr: '10.0.0.0/24' } });
  const router = await post('/v2.0/routers', {
    router: {
      name: 'r1',
      namespace: 'qrouter-test',
      gateway_device: 'qg-test',
      external_gateway_info: { network_id: pub.id, external_fixed_ips: [{ ip_address: '203.0.113.2' }] },
    },
  });
  await app.inject({
    method: 'PUT',
    url: `/v2.0/routers/${String(router.id)}/add_router_interface`,
    payload: { subnet_id: privSub.id },
  });
  const vm1 = await post('/v2.0/ports', {
    port: { name: 'vm1', network_id: priv.id, fixed_ips: [{ ip_address: '10.0.0.11' }] },
  });
  const vm2 = await post('/v2.0/ports', {
    port: { name: 'vm2', network_id: priv.id, fixed_ips: [{ ip_address: '10.0.0.12' }] },
  });
  return {
    app,
    store,
    publicNet: String(pub.id),
    publicSubnet: String(pubSub.id),
    privateNet: String(priv.id),
    privateSubnet: String(privSub.id),
    router: String(router.id),
    vm1: String(vm1.id),
    vm2: String(vm2.id),
  };
}
