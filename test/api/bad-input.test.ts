import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, Caller, type ApiFixture, type Json, type Project } from './fixture.js';

interface Case {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: string;
  readonly payload?: string;
  readonly headers?: Record<string, string>;
  readonly caller?: 'admin' | 'alice' | 'bob' | 'nobody';
  readonly status: number;
  readonly type: string;
  readonly message: RegExp;
}

describe('bad input gets a NeutronError with the right status, and changes nothing', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;
  let fipUrl: string;

  before(async () => {
    f = await apiFixture({ poolEnd: 40 });
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
    const fip = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    fipUrl = `/v2.0/floatingips/${String(fip.id)}`;
  });
  after(() => f.close());

  const create = (attributes: Json) =>
    JSON.stringify({ floatingip: { floating_network_id: f.externalNetworkId, ...attributes } });

  const cases = (): Case[] => [
    {
      name: 'malformed JSON',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: '{"floatingip": {',
      status: 400,
      type: 'MalformedRequestBody',
      message: /Malformed request body/,
    },
    {
      name: 'empty JSON body',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: '',
      status: 400,
      type: 'MalformedRequestBody',
      message: /Malformed request body/,
    },
    {
      name: 'prototype poisoning',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: '{"floatingip": {"__proto__": {"x": 1}}}',
      status: 400,
      type: 'MalformedRequestBody',
      message: /Malformed request body/,
    },
    {
      name: 'body is an array',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: '[1, 2]',
      status: 400,
      type: 'HTTPBadRequest',
      message: /expected a JSON object/,
    },
    {
      name: 'wrong wrapper',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: '{"floating_ip": {}}',
      status: 400,
      type: 'HTTPBadRequest',
      message: /Unable to find 'floatingip' in request body/,
    },
    {
      name: 'missing required attribute',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: '{"floatingip": {}}',
      status: 400,
      type: 'HTTPBadRequest',
      message: /Required attribute 'floating_network_id' not specified/,
    },
    {
      name: 'unknown attribute',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: create({ colour: 'red' }),
      status: 400,
      type: 'HTTPBadRequest',
      message: /Unrecognized attribute\(s\) 'colour'/,
    },
    {
      name: 'wrong type for description',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: create({ description: 5 }),
      status: 400,
      type: 'HTTPBadRequest',
      message: /Invalid input for description\. Reason: '5' is not a valid string/,
    },
    {
      name: 'wrong type for tags',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: create({ tags: 'a' }),
      status: 400,
      type: 'HTTPBadRequest',
      message: /Invalid input for tags/,
    },
    {
      name: 'wrong type for port_id',
      method: 'PUT',
      url: '',
      payload: '{"floatingip": {"port_id": 7}}',
      status: 400,
      type: 'HTTPBadRequest',
      message: /Invalid input for port_id/,
    },
    {
      name: 'non-UUID network id in the body',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: JSON.stringify({ floatingip: { floating_network_id: 'public' } }),
      status: 400,
      type: 'HTTPBadRequest',
      message: /'public' is not a valid UUID/,
    },
    {
      name: 'non-UUID port id in the body',
      method: 'PUT',
      url: '',
      payload: '{"floatingip": {"port_id": "vm1"}}',
      status: 400,
      type: 'HTTPBadRequest',
      message: /'vm1' is not a valid UUID/,
    },
    {
      name: 'non-UUID id in the path',
      method: 'GET',
      url: '/v2.0/floatingips/not-a-uuid',
      status: 404,
      type: 'FloatingIPNotFound',
      message: /Floating IP not-a-uuid could not be found/,
    },
    {
      name: 'octal IPv4',
      method: 'POST',
      url: '/v2.0/floatingips',
      caller: 'admin',
      payload: create({ floating_ip_address: '203.0.113.010' }),
      status: 400,
      type: 'InvalidInput',
      message: /'203\.0\.113\.010' is not a valid IPv4 address for floating_ip_address/,
    },
    {
      name: 'short IPv4',
      method: 'POST',
      url: '/v2.0/floatingips',
      caller: 'admin',
      payload: create({ floating_ip_address: '203.0.113' }),
      status: 400,
      type: 'InvalidInput',
      message: /'203\.0\.113' is not a valid IPv4/,
    },
    {
      name: 'hex IPv4',
      method: 'POST',
      url: '/v2.0/floatingips',
      caller: 'admin',
      payload: create({ floating_ip_address: '0xcb.0.113.5' }),
      status: 400,
      type: 'InvalidInput',
      message: /not a valid IPv4/,
    },
    {
      name: 'address outside every subnet',
      method: 'POST',
      url: '/v2.0/floatingips',
      caller: 'admin',
      payload: create({ floating_ip_address: '198.51.100.7' }),
      status: 400,
      type: 'BadRequest',
      message: /198\.51\.100\.7 is not a valid IP for any subnet/,
    },
    {
      name: 'octal fixed IP',
      method: 'PUT',
      url: '',
      payload: '',
      status: 400,
      type: 'InvalidInput',
      message: /'10\.1\.0\.03' is not a valid IPv4 address for fixed_ip_address/,
    },
    {
      name: 'fixed IP without port',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: create({ fixed_ip_address: '10.1.0.5' }),
      status: 400,
      type: 'BadRequest',
      message: /fixed_ip_address cannot be given without port_id/,
    },
    {
      name: 'read-only attribute on update',
      method: 'PUT',
      url: '',
      payload: '{"floatingip": {"floating_ip_address": "203.0.113.30"}}',
      status: 400,
      type: 'HTTPBadRequest',
      message: /Cannot update read-only attribute floating_ip_address/,
    },
    {
      name: 'oversized body',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: create({ description: 'x'.repeat(300 * 1024) }),
      status: 413,
      type: 'RequestEntityTooLarge',
      message: /too large/,
    },
    {
      name: 'too long description',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: create({ description: 'x'.repeat(256) }),
      status: 400,
      type: 'HTTPBadRequest',
      message: /exceeds maximum length of 255/,
    },
    {
      name: 'not JSON',
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: 'floatingip=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      type: 'HTTPUnsupportedMediaType',
      message: /application\/x-www-form-urlencoded/,
    },
    {
      name: 'non-existent marker',
      method: 'GET',
      url: '/v2.0/floatingips?limit=5&marker=11111111-1111-4111-8111-111111111111',
      status: 404,
      type: 'FloatingIPNotFound',
      message: /11111111-1111-4111-8111-111111111111/,
    },
    {
      name: 'unknown sort key',
      method: 'GET',
      url: '/v2.0/floatingips?sort_key=colour&sort_dir=asc',
      status: 400,
      type: 'HTTPBadRequest',
      message: /\['colour'\] is invalid attribute for sort_keys/,
    },
    {
      name: 'unknown filter',
      method: 'GET',
      url: '/v2.0/floatingips?colour=red',
      status: 400,
      type: 'HTTPBadRequest',
      message: /invalid attribute for filtering/,
    },
    {
      name: 'malformed If-Match',
      method: 'PUT',
      url: '',
      payload: '{"floatingip": {"description": "x"}}',
      headers: { 'if-match': 'etag-1' },
      status: 400,
      type: 'HTTPBadRequest',
      message: /If-Match header 'etag-1'/,
    },
    {
      name: 'token for another project',
      method: 'PUT',
      url: '',
      caller: 'bob',
      payload: '{"floatingip": {"description": "x"}}',
      status: 404,
      type: 'FloatingIPNotFound',
      message: /could not be found/,
    },
    {
      name: 'missing token',
      method: 'PUT',
      url: '',
      caller: 'nobody',
      payload: '{"floatingip": {"description": "x"}}',
      status: 401,
      type: 'HTTPUnauthorized',
      message: /requires authentication/,
    },
    {
      name: 'unknown route',
      method: 'GET',
      url: '/v2.0/floatingipz',
      status: 404,
      type: 'HTTPNotFound',
      message: /could not be found/,
    },
  ];

  it('refuses each case as Neutron does', async () => {
    const port = alice.ports.vm1.id as string;
    for (const c of cases()) {
      const url = c.url || fipUrl;
      const payload =
        c.name === 'octal fixed IP'
          ? JSON.stringify({ floatingip: { port_id: port, fixed_ip_address: '10.1.0.03' } })
          : c.payload;
      const caller = {
        admin: f.admin,
        alice: alice.caller,
        bob: bob.caller,
        nobody: new Caller(f.app, undefined),
      }[c.caller ?? 'alice'];
      const before = await f.latestChange();
      const response = await f.app.inject({
        method: c.method,
        url,
        headers: {
          ...(caller.token !== undefined && { 'x-auth-token': caller.token }),
          ...(payload !== undefined && { 'content-type': 'application/json' }),
          ...c.headers,
        },
        ...(payload !== undefined && { payload }),
      });
      assert.equal(response.statusCode, c.status, `${c.name}: ${response.body}`);
      const error = (JSON.parse(response.body) as { NeutronError: Json }).NeutronError;
      assert.equal(error.type, c.type, c.name);
      assert.match(String(error.message), c.message, c.name);
      assert.equal(error.detail, '', c.name);
      assert.equal(await f.latestChange(), before, `${c.name} changed the store`);
    }
  });

  it('answers exhaustion with ExternalIpAddressExhausted (400), and nothing changes', async () => {
    for (;;) {
      const reply = await alice.caller.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: f.externalNetworkId },
      });
      if (reply.status === 201) continue;
      const before = await f.latestChange();
      assert.equal(reply.status, 400);
      assert.equal((reply.body.NeutronError as Json).type, 'ExternalIpAddressExhausted');
      assert.match(String((reply.body.NeutronError as Json).message), new RegExp(f.externalNetworkId));
      const again = await alice.caller.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: f.externalNetworkId },
      });
      assert.equal(again.status, 400);
      assert.equal(await f.latestChange(), before);
      break;
    }
    const count = ((await f.admin.get('/v2.0/floatingips')).body.floatingips as Json[]).length;
    // 31 pool addresses (.10-.40), two of them router gateways.
    assert.equal(count, 29);
  });
});
