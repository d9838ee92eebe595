import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
/** Debian's interpreter: the openstack packages live in its dist-packages, not in any other python on PATH. */
const PYTHON = '/usr/bin/python3';

type Json = Record<string, unknown>;

describe('openstacksdk: bulk ports, deletes and floating-IP pools', () => {
  let server: SpawnedServe;
  let networkId: string;
  let externalSubnetId: string;

  before(async () => {
    server = await spawnServe(['--no-agent', '--rate-limit', 'off']);
    const admin = server.adminToken!;
    const external = await request(server.url, admin, 'POST', '/v2.0/networks', {
      network: { name: 'public', 'router:external': true },
    });
    const externalId = String((external.body.network as Json).id);
    const subnet = await request(server.url, admin, 'POST', '/v2.0/subnets', {
      subnet: { network_id: externalId, cidr: '203.0.113.0/24', name: 'public-v4' },
    });
    externalSubnetId = String((subnet.body.subnet as Json).id);
    const net = await request(server.url, admin, 'POST', '/v2.0/networks', { network: { name: 'private' } });
    networkId = String((net.body.network as Json).id);
    await request(server.url, admin, 'POST', '/v2.0/subnets', {
      subnet: { network_id: networkId, cidr: '10.7.0.0/24' },
    });
  });
  after(() => server.stop());

  it('creates ports with create_ports in one call, deletes them, and lists the pools', async () => {
    const { stdout } = await run(
      PYTHON,
      [join(HERE, 'sdk_neutron_parity.py'), server.url, server.adminToken!, networkId],
      { timeout: 120_000 },
    );
    const result = JSON.parse(stdout) as {
      created: { id: string; name: string; fixed_ips: { ip_address: string }[] }[];
      after_delete: string[];
      pools: Json[];
    };
    assert.deepEqual(
      result.created.map((p) => p.name),
      ['bulk-0', 'bulk-1', 'bulk-2'],
    );
    assert.equal(new Set(result.created.map((p) => p.fixed_ips[0]!.ip_address)).size, 3);
    assert.deepEqual(result.after_delete, []);
    assert.equal(result.pools.length, 1);
    assert.equal(result.pools[0]!.subnet_id, externalSubnetId);
    assert.equal(result.pools[0]!.cidr, '203.0.113.0/24');
    assert.equal(result.pools[0]!.subnet_name, 'public-v4');
  });
});
