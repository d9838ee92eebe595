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
const COUNT = 1000;
const LIMIT = 100;

type Json = Record<string, unknown>;

describe(`openstacksdk pages through ${COUNT} floating IPs with limit/marker`, () => {
  let server: SpawnedServe;
  const created: string[] = [];

  before(async () => {
    server = await spawnServe(['--no-agent', '--rate-limit', 'off']);
    const admin = server.adminToken!;
    const network = await request(server.url, admin, 'POST', '/v2.0/networks', {
      network: { name: 'big', 'router:external': true },
    });
    const networkId = String((network.body.network as Json).id);
    // A /22 of private space: this server runs without an agent, so nothing reaches a kernel.
    await request(server.url, admin, 'POST', '/v2.0/subnets', {
      subnet: { network_id: networkId, cidr: '10.200.0.0/22' },
    });
    for (let batch = 0; batch < COUNT / 50; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, () =>
          request(server.url, admin, 'POST', '/v2.0/floatingips', {
            floatingip: { floating_network_id: networkId },
          }),
        ),
      );
      for (const r of replies) {
        assert.equal(r.status, 201);
        created.push(String((r.body.floatingip as Json).id));
      }
    }
  });
  after(() => server.stop());

  it('sees every floating IP exactly once, in pages of at most the limit', async () => {
    const logStart = server.logs.length;
    const { stdout } = await run(
      PYTHON,
      [join(HERE, 'sdk_page_floating_ips.py'), server.url, server.adminToken!, String(LIMIT)],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const result = JSON.parse(stdout) as { ids: string[]; addresses: string[] };
    assert.equal(result.ids.length, COUNT);
    assert.equal(new Set(result.ids).size, COUNT);
    assert.deepEqual([...result.ids].sort(), [...created].sort());
    assert.equal(new Set(result.addresses).size, COUNT);
    // What the client asked for, read from the server's request log: limited pages that follow markers.
    const pages = server.logs
      .slice(logStart)
      .map((line) => /"url":"(\/v2\.0\/floatingips[^"]*)"/.exec(line)?.[1])
      .filter((url): url is string => url !== undefined && /[?&]limit=/.test(url));
    console.log(`openstacksdk made ${pages.length} paged requests`);
    assert.ok(pages.length >= COUNT / LIMIT, `only ${pages.length} paged requests: ${pages.join(' ')}`);
    assert.ok(pages.every((url) => new URL(url, 'http://x').searchParams.get('limit') === String(LIMIT)));
    assert.ok(pages.slice(1).every((url) => new URL(url, 'http://x').searchParams.get('marker')));
  });
});
