import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture, type Json, type Project } from './fixture.js';

describe('lists: filters, fields, sorting and pagination as in Neutron', () => {
  let f: ApiFixture;
  let alice: Project;
  let all: Json[];

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    for (let i = 0; i < 25; i++) {
      await alice.caller.create('floatingips', 'floatingip', {
        floating_network_id: f.externalNetworkId,
        description: `d${i % 5}`,
        tags: i % 2 === 0 ? ['even', `n${i}`] : ['odd', `n${i}`],
        ...(i === 3 && { port_id: alice.ports.vm1.id }),
      });
    }
    all = (await alice.caller.get('/v2.0/floatingips')).body.floatingips as Json[];
  });
  after(() => f.close());

  const list = async (query: string) => {
    const reply = await alice.caller.get(`/v2.0/floatingips?${query}`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  };
  const ids = (body: Json) => (body.floatingips as Json[]).map((o) => o.id);
  const sortedIds = () => all.map((o) => String(o.id)).sort();

  it('lists everything in id order without a limit, and no links', async () => {
    assert.equal(all.length, 25);
    assert.deepEqual(
      all.map((o) => o.id),
      sortedIds(),
    );
    assert.equal((await list('')).floatingips_links, undefined);
  });

  it('filters on any attribute; repeating a key ORs, different keys AND', async () => {
    assert.equal(((await list('description=d1')).floatingips as Json[]).length, 5);
    assert.equal(((await list('description=d1&description=d2')).floatingips as Json[]).length, 10);
    assert.equal(((await list('description=d1&status=ACTIVE')).floatingips as Json[]).length, 0);
    const byPort = (await list(`port_id=${String(alice.ports.vm1.id)}`)).floatingips as Json[];
    assert.equal(byPort.length, 1);
    assert.equal(byPort[0]!.router_id, alice.routerId);
    const address = all[7]!.floating_ip_address as string;
    assert.deepEqual(ids(await list(`floating_ip_address=${address}`)), [all[7]!.id]);
    assert.equal(
      ((await list(`floating_network_id=${f.externalNetworkId}`)).floatingips as Json[]).length,
      25,
    );
    assert.equal(((await list(`router_id=${alice.routerId}`)).floatingips as Json[]).length, 1);
    // Empty values are ignored, as Neutron's get_filters drops them.
    assert.equal(((await list('port_id=')).floatingips as Json[]).length, 25);
  });

  it('reads the ids an id filter names: any order, repeats, unknown and foreign ids, with limit, marker, sort and other filters', async () => {
    const bob = await f.project('bob', '10.2.0.0/24');
    const foreign = await bob.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const wanted = sortedIds().filter((_, i) => i % 3 === 0); // 9 of alice's 25
    const unknown = '00000000-0000-4000-8000-000000000000';
    const query = [...wanted].reverse().map((id) => `id=${id}`);
    query.push(`id=${wanted[0]!}`, `id=${unknown}`, `id=${String(foreign.id)}`);
    assert.deepEqual(ids(await list(query.join('&'))), wanted);
    assert.deepEqual(ids(await list(`${query.join('&')}&limit=4`)), wanted.slice(0, 4));
    assert.deepEqual(ids(await list(`${query.join('&')}&limit=4&marker=${wanted[3]!}`)), wanted.slice(4, 8));
    assert.deepEqual(ids(await list(`${query.join('&')}&sort_key=id&sort_dir=desc`)), [...wanted].reverse());
    const d1 = all.filter((o) => o.description === 'd1' && wanted.includes(String(o.id))).map((o) => o.id);
    assert.deepEqual(ids(await list(`${query.join('&')}&description=d1`)), d1);
    const byAddress = [...all]
      .filter((o) => wanted.includes(String(o.id)))
      .sort((a, b) => (String(a.floating_ip_address) < String(b.floating_ip_address) ? -1 : 1))
      .map((o) => o.id);
    assert.deepEqual(
      ids(await list(`${query.join('&')}&sort_key=floating_ip_address&sort_dir=asc`)),
      byAddress,
    );
    // The other project sees its own floating IP among the same ids, and none of alice's.
    const seenByBob = await bob.caller.get(`/v2.0/floatingips?${query.join('&')}`);
    assert.deepEqual(
      (seenByBob.body.floatingips as Json[]).map((o) => o.id),
      [foreign.id],
    );
  });

  it('filters on tags: tags (all), tags-any, not-tags, not-tags-any', async () => {
    assert.equal(((await list('tags=even')).floatingips as Json[]).length, 13);
    assert.equal(((await list('tags=even,n4')).floatingips as Json[]).length, 1);
    assert.equal(((await list('tags-any=n1,n2,n3')).floatingips as Json[]).length, 3);
    assert.equal(((await list('not-tags=even,n4')).floatingips as Json[]).length, 24);
    assert.equal(((await list('not-tags-any=n1,n2')).floatingips as Json[]).length, 23);
    assert.equal(((await list('tags=odd&not-tags-any=n1')).floatingips as Json[]).length, 11);
  });

  it('returns only the requested fields', async () => {
    const body = await list('fields=id&fields=floating_ip_address');
    for (const o of body.floatingips as Json[])
      assert.deepEqual(Object.keys(o).sort(), ['floating_ip_address', 'id']);
    const one = await alice.caller.get(`/v2.0/floatingips/${String(all[0]!.id)}?fields=status`);
    assert.deepEqual(one.body.floatingip, { status: 'DOWN' });
  });

  it('sorts by sort_key/sort_dir pairs, id breaking ties', async () => {
    const body = await list('sort_key=description&sort_dir=desc&sort_key=floating_ip_address&sort_dir=asc');
    const got = (body.floatingips as Json[]).map((o) => [o.description, o.floating_ip_address]);
    const want = all
      .map((o) => [o.description, o.floating_ip_address])
      .sort((a, b) =>
        a[0] === b[0] ? (String(a[1]) < String(b[1]) ? -1 : 1) : String(a[0]) < String(b[0]) ? 1 : -1,
      );
    // Addresses compare as text, as Neutron's emulated sort and its VARCHAR column do.
    assert.deepEqual(got, want);
  });

  it('pages with limit/marker and next/previous links the way Neutron builds them', async () => {
    const seen: unknown[] = [];
    let url = '/v2.0/floatingips?limit=10';
    let pages = 0;
    for (;;) {
      const reply = await alice.caller.get(url);
      const body = reply.body;
      pages++;
      seen.push(...ids(body));
      const links = (body.floatingips_links as { rel: string; href: string }[] | undefined) ?? [];
      const next = links.find((l) => l.rel === 'next');
      assert.ok(
        links.some((l) => l.rel === 'previous'),
        'every forward page has a previous link',
      );
      if (!next) break;
      const parsed = new URL(next.href);
      assert.equal(parsed.searchParams.get('limit'), '10');
      assert.equal(parsed.searchParams.get('marker'), ids(body).at(-1));
      url = `${parsed.pathname}${parsed.search}`;
    }
    assert.deepEqual(seen, sortedIds());
    assert.equal(pages, 3);
  });

  it('gives a full last page a next link that leads to an empty page without one (Neutron does too)', async () => {
    const page = await list(`limit=5&marker=${sortedIds()[19]!}`);
    assert.equal((page.floatingips as Json[]).length, 5);
    const next = (page.floatingips_links as { rel: string }[]).find((l) => l.rel === 'next');
    assert.ok(next);
    const empty = await list(`limit=5&marker=${sortedIds()[24]!}`);
    assert.deepEqual(empty.floatingips, []);
    assert.equal(
      (empty.floatingips_links as { rel: string }[]).find((l) => l.rel === 'next'),
      undefined,
    );
  });

  it('pages backwards with page_reverse=True, returning items in forward order', async () => {
    const order = sortedIds();
    const body = await list(`limit=4&marker=${order[10]!}&page_reverse=True`);
    assert.deepEqual(ids(body), order.slice(6, 10));
    const previous = (body.floatingips_links as { rel: string; href: string }[]).find(
      (l) => l.rel === 'previous',
    );
    assert.equal(new URL(previous!.href).searchParams.get('marker'), order[6]);
    assert.equal(new URL(previous!.href).searchParams.get('page_reverse'), 'True');
  });

  it("pages a sorted list from the marker object's sort values", async () => {
    const full = ids(await list('sort_key=floating_ip_address&sort_dir=desc'));
    const page = ids(
      await list(`sort_key=floating_ip_address&sort_dir=desc&limit=5&marker=${String(full[9])}`),
    );
    assert.deepEqual(page, full.slice(10, 15));
    const reverse = ids(
      await list(
        `sort_key=floating_ip_address&sort_dir=desc&limit=5&marker=${String(full[9])}&page_reverse=true`,
      ),
    );
    assert.deepEqual(reverse, full.slice(4, 9));
  });

  it('sorts descending by id through the indexed path too', async () => {
    assert.deepEqual(ids(await list('sort_key=id&sort_dir=desc&limit=3')), sortedIds().reverse().slice(0, 3));
  });

  it('refuses unknown filters, sort keys, directions, unequal sort pairs, bad limits and missing markers', async () => {
    const cases: [string, number, string, RegExp][] = [
      ['colour=red', 400, 'HTTPBadRequest', /\['colour'\] is invalid attribute for filtering/],
      [
        'sort_key=colour&sort_dir=asc',
        400,
        'HTTPBadRequest',
        /\['colour'\] is invalid attribute for sort_keys/,
      ],
      ['sort_key=tags&sort_dir=asc', 400, 'HTTPBadRequest', /invalid attribute for sort_keys/],
      ['sort_key=id&sort_dir=up', 400, 'HTTPBadRequest', /\['up'\] is invalid value for sort_dirs/],
      ['sort_key=id', 400, 'HTTPBadRequest', /number of sort_keys and sort_dirs must be same/],
      ['limit=-1', 400, 'BadRequest', /Limit must be an integer 0 or greater and not '-1'/],
      ['limit=ten', 400, 'BadRequest', /not 'ten'/],
      [
        'limit=2&marker=00000000-0000-4000-8000-000000000000',
        404,
        'FloatingIPNotFound',
        /could not be found/,
      ],
    ];
    for (const [query, status, type, message] of cases) {
      const reply = await alice.caller.get(`/v2.0/floatingips?${query}`);
      assert.equal(reply.status, status, query);
      const error = reply.body.NeutronError as Json;
      assert.equal(error.type, type, query);
      assert.match(String(error.message), message, query);
    }
  });

  it('limit=0 means no limit, as in Neutron', async () => {
    const body = await list('limit=0');
    assert.equal((body.floatingips as Json[]).length, 25);
    assert.equal(body.floatingips_links, undefined);
  });

  it('converts boolean filters and refuses values that are not booleans', async () => {
    const external = await alice.caller.get('/v2.0/networks?router:external=True');
    assert.deepEqual(
      (external.body.networks as Json[]).map((n) => n.id),
      [f.externalNetworkId],
    );
    const internal = await alice.caller.get('/v2.0/networks?router:external=false');
    assert.deepEqual(
      (internal.body.networks as Json[]).map((n) => n.id),
      [alice.networkId],
    );
    const bad = await alice.caller.get('/v2.0/networks?router:external=maybe');
    assert.equal(bad.status, 400);
    assert.match(String((bad.body.NeutronError as Json).message), /'maybe' cannot be converted to boolean/);
  });

  it('filters ports on a fixed IP (fixed_ips=ip_address=X), as the CLI resolves --fixed-ip', async () => {
    const ip = (alice.ports.vm1.fixed_ips as { ip_address: string }[])[0]!.ip_address;
    const reply = await alice.caller.get(`/v2.0/ports?fixed_ips=${encodeURIComponent(`ip_address=${ip}`)}`);
    assert.deepEqual(
      (reply.body.ports as Json[]).map((p) => p.id),
      [alice.ports.vm1.id],
    );
  });
});
