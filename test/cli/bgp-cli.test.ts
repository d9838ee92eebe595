/**
 * `sfip bgp speaker …` and `sfip bgp peer …` (issue 20) against the API in process (auth none: everyone is
 * admin); refusals exit non-zero, name the value and change nothing. Admin-only refusals: test/api/bgp.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { sfip } from '../support/sfip-cli.js';
import { dumpStore } from '../support/store-dump.js';

type Json = Record<string, unknown>;

describe('sfip bgp', () => {
  let f: ApiFixture;
  let url: string;

  const json = async (...args: string[]): Promise<Json> => {
    const r = await sfip(url, '--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Json;
  };
  const refused = async (mention: RegExp, ...args: string[]) => {
    const before = await dumpStore(f.store);
    const r = await sfip(url, ...args);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, mention);
    assert.equal(await dumpStore(f.store), before);
  };

  before(async () => {
    f = await apiFixture();
    url = await f.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => f.app.close());

  it('creates a speaker and an md5 peer, joins them and the public network, and lists the routes', async () => {
    const speaker = (await json('bgp', 'speaker', 'create', 'edge', '--local-as', '64512'))
      .bgp_speaker as Json;
    assert.equal(speaker.local_as, 64512);
    const peer = (
      await json(
        'bgp',
        'peer',
        'create',
        'up',
        '--peer-ip',
        '192.0.2.1',
        '--remote-as',
        '64500',
        '--md5-password',
        'pw',
      )
    ).bgp_peer as Json;
    assert.equal(peer.auth_type, 'md5');
    await json('bgp', 'speaker', 'add-peer', 'edge', 'up');
    await json('bgp', 'speaker', 'add-network', 'edge', 'public');
    const shown = (await json('bgp', 'speaker', 'show', 'edge')).bgp_speaker as Json;
    assert.deepEqual(shown.peers, [peer.id]);
    assert.deepEqual(shown.networks, [f.publicNet]);
    const fip = await f.app.inject({
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: { floatingip: { floating_network_id: f.publicNet, port_id: f.vm1 } },
    });
    const address = String((fip.json() as { floatingip: Json }).floatingip.floating_ip_address);
    const routes = (await json('bgp', 'speaker', 'routes', 'edge')).advertised_routes as Json[];
    assert.deepEqual(routes, [{ destination: `${address}/32`, next_hop: '203.0.113.2' }]);
    const table = await sfip(url, 'bgp', 'speaker', 'routes', 'edge');
    assert.match(table.stdout, new RegExp(`${address.replaceAll('.', '\\.')}/32`));
  });

  it('refuses bad values, naming them, and changes nothing', async () => {
    await refused(/'4294967296' is too large/, 'bgp', 'speaker', 'create', 'x', '--local-as', '4294967296');
    await refused(
      /'192\.0\.2\.1\.5'/,
      'bgp',
      'peer',
      'create',
      'x',
      '--peer-ip',
      '192.0.2.1.5',
      '--remote-as',
      '1',
    );
    await refused(/No bgp_peer found for 'nope'/, 'bgp', 'speaker', 'add-peer', 'edge', 'nope');
  });

  it('removes and deletes', async () => {
    await json('bgp', 'speaker', 'remove-peer', 'edge', 'up');
    await json('bgp', 'speaker', 'remove-network', 'edge', 'public');
    assert.equal((await sfip(url, 'bgp', 'peer', 'delete', 'up')).code, 0);
    assert.equal((await sfip(url, 'bgp', 'speaker', 'delete', 'edge')).code, 0);
    assert.deepEqual((await json('bgp', 'speaker', 'list')).bgp_speakers, []);
  });
});
