import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture, type Json, type Project } from './fixture.js';

/**
 * Plain lists (id order, no filter, no `fields`) and shows without `fields` are answered from a cache of each stored document's wire JSON
 * (src/api/rendered-documents.ts). These check that the cache never answers with what is no longer true, never
 * shows one project another's resources, and writes the same bytes as the uncached path.
 */
describe('lists and shows rendered from the document cache', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;
  let fipId: string;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      port_id: alice.ports.vm1.id,
    });
    fipId = String(created.id);
  });
  after(() => f.close());

  const listed = async (project: Project, url = '/v2.0/floatingips?limit=100') => {
    const reply = await project.caller.get(url);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body.floatingips as Json[];
  };
  const raw = async (token: string | undefined, url: string) =>
    (await f.app.inject({ method: 'GET', url, headers: { 'x-auth-token': token ?? '' } })).body;

  it("shows the port's new name after the port is renamed (a dependency changed, not the floating IP)", async () => {
    const before = (await listed(alice)).find((x) => x.id === fipId)!;
    assert.equal((before.port_details as Json).name, 'alice-vm1');
    const renamed = await alice.caller.put(`/v2.0/ports/${String(alice.ports.vm1.id)}`, {
      port: { name: 'renamed' },
    });
    assert.equal(renamed.status, 200);
    const after = (await listed(alice)).find((x) => x.id === fipId)!;
    assert.equal((after.port_details as Json).name, 'renamed');
    const shown = await alice.caller.get(`/v2.0/floatingips/${fipId}`);
    assert.equal(((shown.body.floatingip as Json).port_details as Json).name, 'renamed');
    assert.equal(after.revision_number, before.revision_number);
  });

  it('shows an update and a disassociation of the floating IP itself', async () => {
    await listed(alice);
    const updated = await alice.caller.put(`/v2.0/floatingips/${fipId}`, {
      floatingip: { port_id: null, description: 'moved' },
    });
    assert.equal(updated.status, 200);
    const now = (await listed(alice)).find((x) => x.id === fipId)!;
    assert.equal(now.description, 'moved');
    assert.equal(now.port_id, null);
    assert.equal(now.port_details, null);
  });

  it("never lists another project's floating IP once it is cached, nor accepts it as a marker", async () => {
    assert.ok((await listed(alice)).some((x) => x.id === fipId));
    assert.ok(!(await listed(bob)).some((x) => x.id === fipId));
    assert.equal((await alice.caller.get(`/v2.0/floatingips/${fipId}`)).status, 200);
    const shown = await bob.caller.get(`/v2.0/floatingips/${fipId}`);
    assert.equal(shown.status, 404);
    assert.equal((shown.body.NeutronError as Json).type, 'FloatingIPNotFound');
    const asMarker = await bob.caller.get(`/v2.0/floatingips?limit=10&marker=${fipId}`);
    assert.equal(asMarker.status, 404);
    assert.equal((asMarker.body.NeutronError as Json).type, 'FloatingIPNotFound');
  });

  it('writes the same members, in the same order and byte for byte, as the uncached path', async () => {
    for (let i = 0; i < 5; i++) {
      await alice.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId });
    }
    const token = alice.caller.token;
    for (const [cached, uncached] of [
      ['/v2.0/floatingips?limit=3', '/v2.0/floatingips?limit=3&project_id=alice'],
      [
        '/v2.0/floatingips?limit=2&page_reverse=True',
        '/v2.0/floatingips?limit=2&page_reverse=True&project_id=alice',
      ],
      [`/v2.0/floatingips?marker=${fipId}`, `/v2.0/floatingips?marker=${fipId}&project_id=alice`],
      ['/v2.0/ports', '/v2.0/ports?project_id=alice'],
      ['/v2.0/routers', '/v2.0/routers?project_id=alice'],
      ['/v2.0/subnets', '/v2.0/subnets?project_id=alice'],
    ] as const) {
      const [a, b] = [await raw(token, cached), await raw(token, uncached)];
      const collection = cached.split('?', 1)[0]!.slice('/v2.0/'.length);
      const [parsedA, parsedB] = [JSON.parse(a) as Json, JSON.parse(b) as Json];
      assert.ok((parsedB[collection] as Json[]).length > 0, b);
      // The filter shows up in the links' hrefs: the uncached members with the cached links, as JSON.stringify writes them.
      const expected = JSON.stringify({
        [collection]: parsedB[collection],
        ...(parsedA[`${collection}_links`] !== undefined && {
          [`${collection}_links`]: parsedA[`${collection}_links`],
        }),
      });
      assert.equal(a, expected);
      // A show of the first member, cached, is the same bytes as the member in the uncached list.
      const first = (parsedB[collection] as Json[])[0]!;
      const member = collection === 'floatingips' ? 'floatingip' : collection.slice(0, -1);
      assert.equal(
        await raw(token, `/v2.0/${collection}/${String(first.id)}`),
        JSON.stringify({ [member]: first }),
      );
    }
  });
});
