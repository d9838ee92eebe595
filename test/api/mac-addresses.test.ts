import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture, type Json, type Project } from './fixture.js';

describe('MAC addresses through the API', () => {
  let f: ApiFixture;
  let alpha: Project;
  let beta: Project;

  before(async () => {
    f = await apiFixture();
    alpha = await f.project('alpha', '10.1.0.0/24');
    beta = await f.project('beta', '10.2.0.0/24');
  });
  after(() => f.close());

  it('ports made concurrently by two projects get distinct fa:16:3e MACs', async () => {
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const p = i % 2 ? alpha : beta;
        return p.caller.post('/v2.0/ports', { port: { network_id: p.networkId } });
      }),
    );
    const macs = replies.map((r) => {
      assert.equal(r.status, 201);
      return (r.body.port as Json).mac_address as string;
    });
    assert.equal(new Set(macs).size, macs.length);
    assert.ok(macs.every((m) => /^fa:16:3e(:[0-9a-f]{2}){3}$/.test(m)));
  });

  it('answers an explicit duplicate MAC on the same network with 409 MacAddressInUse, store unchanged', async () => {
    const taken = alpha.ports.vm1.mac_address as string;
    const before = await f.latestChange();
    const reply = await alpha.caller.post('/v2.0/ports', {
      port: { network_id: alpha.networkId, mac_address: taken.toUpperCase() },
    });
    assert.equal(reply.status, 409);
    const error = reply.body.NeutronError as Json;
    assert.equal(error.type, 'MacAddressInUse');
    assert.match(String(error.message), new RegExp(taken));
    assert.equal(await f.latestChange(), before);
    // The same MAC on another project's network is no conflict (MACs are unique per network).
    const elsewhere = await beta.caller.post('/v2.0/ports', {
      port: { network_id: beta.networkId, mac_address: taken },
    });
    assert.equal(elsewhere.status, 201);
  });
});
