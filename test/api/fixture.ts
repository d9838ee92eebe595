import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApi, type AuthMode } from '../../src/api/index.js';
import { issueToken } from '../../src/auth/index.js';
import { SqliteStore } from '../../src/store/index.js';

export type Json = Record<string, unknown>;

export interface Reply {
  readonly status: number;
  readonly body: Json;
  readonly headers: LightMyRequestResponse['headers'];
}

/** A caller of the in-process API: a token (or none) plus convenience verbs that return status and parsed body. */
export class Caller {
  constructor(
    private readonly app: FastifyInstance,
    readonly token: string | undefined,
  ) {}

  async call(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const response = await this.app.inject({
      method,
      url,
      headers: { ...(this.token !== undefined && { 'x-auth-token': this.token }), ...headers },
      ...(body !== undefined && { payload: body as InjectOptions['payload'] }),
    });
    const text = response.body;
    return {
      status: response.statusCode,
      body: text ? (JSON.parse(text) as Json) : {},
      headers: response.headers,
    };
  }

  get = (url: string) => this.call('GET', url);
  post = (url: string, body: unknown) => this.call('POST', url, body);
  put = (url: string, body: unknown, headers?: Record<string, string>) =>
    this.call('PUT', url, body, headers);
  delete = (url: string, headers?: Record<string, string>) => this.call('DELETE', url, undefined, headers);

  /** POSTs and returns the created member, failing loudly with the NeutronError when it is refused. */
  async create(collection: string, member: string, attributes: Json): Promise<Json> {
    const reply = await this.post(`/v2.0/${collection}`, { [member]: attributes });
    if (reply.status !== 201)
      throw new Error(`create ${member} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body[member] as Json;
  }
}

export interface Project {
  readonly caller: Caller;
  readonly networkId: string;
  readonly subnetId: string;
  readonly routerId: string;
  /** Two VM ports: `vm1` has one fixed IP, `vm2` two. */
  readonly ports: { vm1: Json; vm2: Json };
}

export interface ApiFixture {
  readonly app: FastifyInstance;
  readonly store: SqliteStore;
  readonly admin: Caller;
  readonly anonymous: Caller;
  readonly externalNetworkId: string;
  readonly externalSubnetId: string;
  /** Adds a project with a token, a private network and subnet, a router to the external network, and two ports. */
  project(name: string, cidr: string): Promise<Project>;
  /** The newest change sequence number: unchanged means nothing was written. */
  latestChange(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The API in process on an in-memory SQLite store, with an admin token and an external network 203.0.113.0/24
 * whose pool is 203.0.113.10-203.0.113.`poolEnd`.
 */
export async function apiFixture(options: { auth?: AuthMode; poolEnd?: number } = {}): Promise<ApiFixture> {
  const store = new SqliteStore({ path: ':memory:' });
  const app = await buildApi({ store, logger: false, auth: options.auth ?? 'token', docs: false });
  const tokenFor = async (projectId: string, isAdmin: boolean) =>
    (await issueToken(store.tokens, { projectId, isAdmin })).token;
  const admin = new Caller(app, options.auth === 'none' ? undefined : await tokenFor('admin', true));
  const external = await admin.create('networks', 'network', { name: 'public', 'router:external': true });
  const externalSubnet = await admin.create('subnets', 'subnet', {
    name: 'public-v4',
    network_id: external.id,
    cidr: '203.0.113.0/24',
    gateway_ip: '203.0.113.1',
    allocation_pools: [{ start: '203.0.113.10', end: `203.0.113.${options.poolEnd ?? 200}` }],
  });
  return {
    app,
    store,
    admin,
    anonymous: new Caller(app, undefined),
    externalNetworkId: external.id as string,
    externalSubnetId: externalSubnet.id as string,
    async project(name, cidr) {
      const caller = new Caller(app, await tokenFor(name, false));
      const network = await caller.create('networks', 'network', { name: `${name}-net` });
      const subnet = await caller.create('subnets', 'subnet', {
        name: `${name}-subnet`,
        network_id: network.id,
        cidr,
      });
      const router = await caller.create('routers', 'router', {
        name: `${name}-router`,
        external_gateway_info: { network_id: external.id },
      });
      const attached = await caller.put(`/v2.0/routers/${String(router.id)}/add_router_interface`, {
        subnet_id: subnet.id,
      });
      if (attached.status !== 200) throw new Error(`add_router_interface: ${JSON.stringify(attached.body)}`);
      const vm1 = await caller.create('ports', 'port', { name: `${name}-vm1`, network_id: network.id });
      const vm2 = await caller.create('ports', 'port', {
        name: `${name}-vm2`,
        network_id: network.id,
        fixed_ips: [{ subnet_id: subnet.id }, { subnet_id: subnet.id }],
      });
      return {
        caller,
        networkId: network.id as string,
        subnetId: subnet.id as string,
        routerId: router.id as string,
        ports: { vm1, vm2 },
      };
    },
    latestChange: async () => (await store.changesSince(Number.MAX_SAFE_INTEGER, 0)).latest,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

export const fixedIpOf = (port: Json, index = 0) =>
  ((port.fixed_ips as { ip_address: string }[])[index] as { ip_address: string }).ip_address;

/**
 * Sends a request that must be refused and checks the whole refusal: the status, the NeutronError type, a message
 * naming the bad value (when given), and nothing written to the store. One place, so every API test that checks a
 * refusal checks all of it the same way.
 */
export async function assertRefused(
  f: ApiFixture,
  send: () => Promise<Reply>,
  status: number,
  type: string,
  names?: RegExp,
): Promise<Reply> {
  const before = await f.latestChange();
  const reply = await send();
  const error = reply.body.NeutronError as Json;
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(error.type, type, JSON.stringify(reply.body));
  if (names) assert.match(String(error.message), names);
  assert.equal(await f.latestChange(), before, 'a refused request wrote to the store');
  return reply;
}
