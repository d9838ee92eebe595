import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyAddressChanges, readFloatingAddresses, sendGratuitousArp } from '../../src/dataplane/index.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

const router = `sfga${process.pid % 10000}-r`;
const upstream = `sfga${process.pid % 10000}-u`;
const target = { routerId: 'r', namespace: router, gatewayDevice: 'qg-t' };
const fip = parseIPv4('203.0.113.77');

describe('floating addresses on the gateway device and gratuitous ARP', () => {
  before(async () => {
    for (const ns of [router, upstream]) await run('ip', ['netns', 'add', ns]);
    await run('ip', [
      '-n',
      router,
      'link',
      'add',
      'qg-t',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      upstream,
    ]);
    await run('ip', ['-n', router, 'addr', 'add', '203.0.113.2/24', 'dev', 'qg-t']);
    await run('ip', ['-n', upstream, 'addr', 'add', '203.0.113.1/24', 'dev', 'eth0']);
    await run('ip', ['-n', router, 'link', 'set', 'qg-t', 'up']);
    await run('ip', ['-n', upstream, 'link', 'set', 'eth0', 'up']);
  });
  after(async () => {
    for (const ns of [router, upstream]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('makes the router answer ARP for a floating address, and forget it again', async () => {
    await applyAddressChanges(target, [fip], []);
    assert.deepEqual([...(await readFloatingAddresses(target))], [fip]);
    const ping = await run('ping', ['-c', '1', '-W', '1', fip], { netns: upstream });
    assert.match(ping.stdout, /1 received/);
    await applyAddressChanges(target, [], [fip]);
    assert.deepEqual([...(await readFloatingAddresses(target))], []);
    await run('ip', ['-n', upstream, 'neigh', 'flush', 'dev', 'eth0']);
    const gone = await run('ping', ['-c', '1', '-W', '1', fip], { netns: upstream, okExitCodes: [1] });
    assert.match(gone.stdout, /0 received/);
  });

  it('names a missing gateway device or namespace when reading them (the router layer checks the gateway so)', async () => {
    await assert.rejects(
      readFloatingAddresses({ ...target, gatewayDevice: 'qg-gone' }),
      /^Error: gateway device qg-gone does not exist in namespace sfga/,
    );
    await assert.rejects(
      readFloatingAddresses({ ...target, namespace: `${router}-gone` }),
      new RegExp(`^Error: network namespace ${router}-gone does not exist$`),
    );
  });

  it('updates a neighbour that still points at an old owner', async () => {
    // The upstream believes the floating address lives at some other MAC, as after a move between routers.
    await run('ip', [
      '-n',
      upstream,
      'neigh',
      'replace',
      fip,
      'lladdr',
      '02:00:00:00:00:01',
      'dev',
      'eth0',
      'nud',
      'stale',
    ]);
    await applyAddressChanges(target, [fip], []);
    const link = JSON.parse((await run('ip', ['-n', router, '-j', 'link', 'show', 'qg-t'])).stdout) as {
      address: string;
    }[];
    await sendGratuitousArp(target, [fip], run, 1);
    const neigh = (await run('ip', ['-n', upstream, 'neigh', 'show', fip, 'dev', 'eth0'])).stdout;
    assert.match(neigh, new RegExp(`lladdr ${link[0]!.address}`), `neighbour entry after GARP: ${neigh}`);
  });

  it('leaves routes and addresses it does not own alone', async () => {
    await run('ip', [
      '-n',
      router,
      'route',
      'add',
      'local',
      '203.0.113.99/32',
      'dev',
      'qg-t',
      'table',
      'local',
    ]);
    assert.equal((await readFloatingAddresses(target)).has('203.0.113.99'), false);
    await applyAddressChanges(target, [], [...(await readFloatingAddresses(target))]);
    const local = (await run('ip', ['-n', router, 'route', 'show', 'table', 'local', 'dev', 'qg-t'])).stdout;
    assert.match(local, /203\.0\.113\.99/);
    assert.match(local, /203\.0\.113\.2 /);
  });
});
