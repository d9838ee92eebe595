import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  applyAddressChanges,
  LOCAL_ROUTES_HELPER,
  readFloatingAddresses,
  renderAddressBatch,
} from '../../src/dataplane/common/gateway-addresses.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4, type IPv4 } from '../../src/model/index.js';

const router = `sflr${process.pid % 10000}-r`;
const target = { routerId: 'r', namespace: router, gatewayDevice: 'qg-t' };

/** `count` addresses of 100.80.0.0/12, from the `from`-th. */
const addresses = (from: number, count: number): IPv4[] =>
  Array.from({ length: count }, (_, i) => {
    const n = (100 << 24) | (80 << 16) | (from + i);
    return parseIPv4(`${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`);
  });

/** One route as the kernel reports it, without its destination. */
async function routeShape(address: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('ip', ['-d', '-j', 'route', 'show', 'table', 'local', address], {
    netns: router,
  });
  const [route] = JSON.parse(stdout) as Record<string, unknown>[];
  assert.ok(route, `route for ${address}`);
  const { dst: _dst, ...shape } = route;
  return shape;
}

describe('the route writer (native/local-routes.c) for floating addresses', () => {
  before(async () => {
    assert.ok(existsSync(LOCAL_ROUTES_HELPER), 'npm run build compiles the route writer');
    await run('ip', ['netns', 'add', router]);
    await run('ip', ['-n', router, 'link', 'add', 'qg-t', 'type', 'veth', 'peer', 'name', 'qg-p']);
    await run('ip', ['-n', router, 'addr', 'add', '100.64.0.2/10', 'dev', 'qg-t']);
    await run('ip', ['-n', router, 'link', 'set', 'qg-t', 'up']);
  });
  after(async () => {
    await run('ip', ['netns', 'del', router]).catch(() => undefined);
  });

  it('installs the same route as ip -batch', async () => {
    const [byIp, byWriter] = addresses(1, 2) as [IPv4, IPv4];
    await run('ip', ['-batch', '-'], { netns: router, input: renderAddressBatch('qg-t', [byIp], []) });
    await run(LOCAL_ROUTES_HELPER, [], { netns: router, input: renderAddressBatch('qg-t', [byWriter], []) });
    assert.deepEqual(await routeShape(byWriter), await routeShape(byIp));
    assert.deepEqual([...(await readFloatingAddresses(target))].sort(), [byIp, byWriter].sort());
    await applyAddressChanges(target, [], [byIp, byWriter]);
    assert.equal((await readFloatingAddresses(target)).size, 0);
  });

  it('adds and removes a bulk change (beyond what the channel takes)', async () => {
    const many = addresses(100, 20_000);
    await applyAddressChanges(target, many, []);
    assert.deepEqual([...(await readFloatingAddresses(target))].sort(), [...many].sort());
    // Replacing routes that exist already is no failure (a restart re-adds what the kernel holds).
    await applyAddressChanges(target, many.slice(0, 5000), many.slice(15_000));
    assert.deepEqual([...(await readFloatingAddresses(target))].sort(), many.slice(0, 15_000).sort());
    await applyAddressChanges(target, [], many.slice(0, 15_000));
    assert.equal((await readFloatingAddresses(target)).size, 0);
  });

  it('names each route the kernel refused, and applies the others', async () => {
    const [gone, kept] = addresses(50_000, 2) as [IPv4, IPv4];
    const batch = renderAddressBatch('qg-t', [kept], [gone]);
    await assert.rejects(run(LOCAL_ROUTES_HELPER, [], { netns: router, input: batch }), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`route del local ${gone.replace(/\./g, '\\.')}/32 dev qg-t .*No such process`),
      );
      assert.doesNotMatch(error.message, new RegExp(kept.replace(/\./g, '\\.')));
      return true;
    });
    assert.deepEqual([...(await readFloatingAddresses(target))], [kept]);
    await applyAddressChanges(target, [], [kept]);
  });

  it('refuses input that is not a floating address route, before sending anything', async () => {
    const [first] = addresses(60_000, 1) as [IPv4];
    const input = `${renderAddressBatch('qg-t', [first], [])}route replace local 100.80.9.9/32 dev qg-t table main proto 249\n`;
    await assert.rejects(
      run(LOCAL_ROUTES_HELPER, [], { netns: router, input }),
      /line 2 is not a floating address route: route replace local 100\.80\.9\.9\/32 dev qg-t table main/,
    );
    await assert.rejects(
      run(LOCAL_ROUTES_HELPER, [], { netns: router, input: renderAddressBatch('qg-nope', [first], []) }),
      /device qg-nope does not exist/,
    );
    assert.equal((await readFloatingAddresses(target)).size, 0);
  });
});
