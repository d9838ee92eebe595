import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { sfip } from '../support/sfip-cli.js';
import { dumpStore } from '../support/store-dump.js';

describe('CLI', () => {
  let f: ApiFixture;
  let url: string;
  before(async () => {
    f = await apiFixture();
    url = await f.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await f.app.close();
  });

  /** A CLI call that must fail: non-zero exit, a message naming the bad value, and an untouched store. */
  async function fails(args: string[], mentions: string[]) {
    const before = await dumpStore(f.store);
    const r = await sfip(url, ...args);
    assert.notEqual(r.code, 0, `expected failure, got: ${r.stdout}`);
    for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr should mention ${m}: ${r.stderr}`);
    assert.equal(await dumpStore(f.store), before, 'a failed command changed the store');
    return r;
  }

  it('creates, lists, shows, moves, disassociates and deletes a floating IP', async () => {
    const created = await sfip(
      url,
      '--json',
      'fip',
      'create',
      'public',
      '--port',
      'vm1',
      '--description',
      'web',
    );
    assert.equal(created.code, 0, created.stderr);
    const fip = (JSON.parse(created.stdout) as { floatingip: Record<string, unknown> }).floatingip;
    assert.equal(fip.fixed_ip_address, '10.0.0.11');
    const address = String(fip.floating_ip_address);
    const list = await sfip(url, 'fip', 'list');
    assert.equal(list.code, 0);
    assert.match(
      list.stdout,
      new RegExp(`${address.replace(/\./g, '\\.')}\\s.*10\\.0\\.0\\.11\\s.*vm1\\s.*r1\\s.*DOWN.*web`),
      'port and router by name',
    );
    assert.ok(
      !list.stdout.includes(f.vm1) && !list.stdout.includes(f.router),
      'no port or router ids by default',
    );
    const long = await sfip(url, 'fip', 'list', '--long');
    assert.ok(long.stdout.includes(f.vm1) && long.stdout.includes(f.router), 'ids with --long');
    assert.ok(!list.stdout.includes(String.fromCharCode(27)), 'no colour codes in a pipe');
    const shown = await sfip(url, '--json', 'fip', 'show', address);
    assert.equal((JSON.parse(shown.stdout) as { floatingip: Record<string, unknown> }).floatingip.id, fip.id);
    const moved = await sfip(url, '--json', 'fip', 'set', address, '--fixed-ip', '10.0.0.12');
    assert.equal(
      (JSON.parse(moved.stdout) as { floatingip: Record<string, unknown> }).floatingip.port_id,
      f.vm2,
      'found the port by its fixed IP',
    );
    const unset = await sfip(url, '--json', 'fip', 'unset', address);
    assert.equal(
      (JSON.parse(unset.stdout) as { floatingip: Record<string, unknown> }).floatingip.port_id,
      null,
    );
    const deleted = await sfip(url, 'fip', 'delete', address);
    assert.equal(deleted.code, 0);
    assert.match(deleted.stdout, new RegExp(`Deleted floating IP ${address}`));
    assert.equal((await sfip(url, 'fip', 'show', address)).code, 1);
  });

  it('refuses invalid, octal and out-of-pool addresses, naming them', async () => {
    await fails(['fip', 'create', 'public', '--address', '127.1'], ['127.1']);
    await fails(['fip', 'create', 'public', '--address', '203.0.113.010'], ['203.0.113.010']);
    await fails(['fip', 'create', 'public', '--address', '203.0.113.250'], ['203.0.113.250', 'outside']);
    await fails(['fip', 'create', 'public', '--address', '1.2.3.4/33'], ['1.2.3.4/33']);
  });

  it('refuses duplicates and a fixed IP that already has a floating IP', async () => {
    const first = await sfip(
      url,
      '--json',
      'fip',
      'create',
      'public',
      '--address',
      '203.0.113.18',
      '--port',
      'vm1',
    );
    assert.equal(first.code, 0, first.stderr);
    await fails(
      ['fip', 'create', 'public', '--address', '203.0.113.18'],
      ['IpAddressAlreadyAllocated', '203.0.113.18'],
    );
    const refused = await fails(
      ['fip', 'create', 'public', '--port', 'vm1'],
      ['FloatingIPPortAlreadyAssociated', '10.0.0.11', 'a new floating IP', 'vm1', '203.0.113.18'],
    );
    // The refused floating IP was rolled back: no address but the holder's may appear.
    assert.deepEqual(
      refused.stderr.match(/203\.0\.113\.\d+/g)?.filter((a) => a !== '203.0.113.18') ?? [],
      [],
    );
    assert.equal((await sfip(url, 'fip', 'delete', '203.0.113.18')).code, 0);
  });

  it('refuses unknown routers, networks and ports', async () => {
    await fails(['fip', 'list', '--router', 'no-such-router'], ['no-such-router']);
    await fails(['fip', 'create', 'no-such-net'], ['no-such-net']);
    await fails(['fip', 'create', 'public', '--port', 'ghost'], ['ghost']);
    await fails(['fip', 'create', 'public', '--fixed-ip', '10.0.0.99'], ['10.0.0.99']);
  });

  it('refuses device and namespace names that are too long or carry shell metacharacters', async () => {
    await fails(['router', 'set', 'r1', '--gateway-device', 'qg;reboot'], ['qg;reboot']);
    await fails(['router', 'set', 'r1', '--gateway-device', 'qg-0123456789abcdef'], ['qg-0123456789abcdef']);
    await fails(['router', 'create', 'evil', '--namespace', '$(reboot)'], ['$(reboot)']);
    await fails(['router', 'create', 'evil', '--namespace', '../../etc'], ['../../etc']);
  });

  it('refuses an exhausted pool', async () => {
    const small = await apiFixture('203.0.113.10');
    const smallUrl = await small.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      assert.equal((await sfip(smallUrl, 'fip', 'create', 'public')).code, 0);
      const r = await sfip(smallUrl, 'fip', 'create', 'public');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ExternalIpAddressExhausted/);
    } finally {
      await small.app.close();
    }
  });

  it('says so when the API cannot be reached, and rejects bad options', async () => {
    const down = await sfip('http://127.0.0.1:9', 'fip', 'list');
    assert.equal(down.code, 1);
    assert.match(down.stderr, /Cannot reach the sfip API at http:\/\/127\.0\.0\.1:9/);
    const port = await sfip(url, 'serve', '--port', '99999');
    assert.notEqual(port.code, 0);
    assert.match(port.stderr, /'99999' is not a TCP port/);
    const unknown = await sfip(url, 'frobnicate');
    assert.notEqual(unknown.code, 0);
  });
});
