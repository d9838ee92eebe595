import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { sfip } from '../support/sfip-cli.js';
import { dumpStore } from '../support/store-dump.js';

describe('sfip fip forward add|list|remove', () => {
  let f: ApiFixture;
  let url: string;
  let address = '';
  before(async () => {
    f = await apiFixture();
    url = await f.app.listen({ host: '127.0.0.1', port: 0 });
    const created = await sfip(url, '--json', 'fip', 'create', 'public');
    assert.equal(created.code, 0, created.stderr);
    address = (JSON.parse(created.stdout) as { floatingip: { floating_ip_address: string } }).floatingip
      .floating_ip_address;
  });
  after(() => f.app.close());

  it('adds a single port and a range (port found by its address), lists them, removes one', async () => {
    const one = await sfip(
      url,
      '--json',
      'fip',
      'forward',
      'add',
      address,
      '--protocol',
      'tcp',
      '--external',
      '2222',
      '--internal-ip',
      '10.0.0.12',
      '--internal',
      '22',
    );
    assert.equal(one.code, 0, one.stderr);
    const ssh = (JSON.parse(one.stdout) as { port_forwarding: Record<string, unknown> }).port_forwarding;
    assert.equal(ssh.external_port, 2222);
    assert.equal(ssh.internal_port_id, f.vm2);
    const range = await sfip(
      url,
      '--json',
      'fip',
      'forward',
      'add',
      address,
      '--protocol',
      'udp',
      '--external',
      '8000:8009',
      '--internal-ip',
      '10.0.0.11',
      '--internal',
      '9000:9009',
      '--port',
      'vm1',
      '--description',
      'games',
    );
    assert.equal(range.code, 0, range.stderr);
    const listed = await sfip(url, 'fip', 'forward', 'list', address);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /tcp.*2222:2222.*10\.0\.0\.12.*22:22/);
    assert.match(listed.stdout, /udp.*8000:8009.*10\.0\.0\.11.*9000:9009.*games/);
    const removed = await sfip(url, 'fip', 'forward', 'remove', address, String(ssh.id));
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(String(ssh.id)));
    const after = (
      JSON.parse((await sfip(url, '--json', 'fip', 'forward', 'list', address)).stdout) as {
        port_forwardings: unknown[];
      }
    ).port_forwardings;
    assert.equal(after.length, 1);
  });

  it('refuses bad input with a message naming it, a non-zero exit and the store unchanged', async () => {
    for (const [args, mention] of [
      [['--external', '70000', '--internal', '22'], '70000'],
      [['--external', '1:5', '--internal', '10:12'], '1:5'],
      [['--external', 'x', '--internal', '22'], "'x'"],
      [['--external', '8005', '--internal', '7'], '8005'],
    ] as const) {
      const before = await dumpStore(f.store);
      const r = await sfip(
        url,
        'fip',
        'forward',
        'add',
        address,
        '--protocol',
        'udp',
        '--internal-ip',
        '10.0.0.11',
        '--port',
        'vm1',
        ...args,
      );
      assert.notEqual(r.code, 0, r.stdout);
      assert.ok(r.stderr.includes(mention), `stderr should mention ${mention}: ${r.stderr}`);
      assert.equal(await dumpStore(f.store), before);
    }
    const badProto = await sfip(
      url,
      'fip',
      'forward',
      'add',
      address,
      '--protocol',
      'icmp',
      '--external',
      '1',
      '--internal-ip',
      '10.0.0.11',
      '--internal',
      '1',
    );
    assert.notEqual(badProto.code, 0);
    assert.match(badProto.stderr, /'icmp'/);
    const unknown = await sfip(url, 'fip', 'forward', 'remove', address, 'nope');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /nope/);
  });
});
