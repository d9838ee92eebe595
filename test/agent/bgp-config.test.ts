/**
 * The pieces of routed mode that are text (issue 20): BIRD's configuration, `birdc show protocols` parsing and
 * the BGP fence's nft table; and the model's admin-only rule, called directly as a project.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderBirdConfig, sessionName } from '../../src/agent/bgp/bird-config.js';
import { parseProtocols } from '../../src/agent/bgp/bird-process.js';
import { renderBgpFence } from '../../src/agent/bgp/bgp-fence.js';
import {
  addBgpPeer,
  addGatewayNetwork,
  createBgpPeer,
  createBgpSpeaker,
  deleteBgpPeer,
  deleteBgpSpeaker,
  getBgpSpeaker,
  removeBgpPeer,
  removeGatewayNetwork,
  SfipError,
  updateBgpPeer,
  updateBgpSpeaker,
  type Context,
  type IPv4,
  type Tx,
} from '../../src/model/index.js';
import { adminContext, smallCloud } from '../support/model-fixture.js';

const ip = (s: string) => s as IPv4;

describe('BIRD configuration', () => {
  const config = (bfd: boolean, password: string | null) =>
    renderBirdConfig({
      routerId: ip('203.0.113.2'),
      kernelTable: 4242,
      bfd,
      nextHop: 'keep',
      sessions: [
        {
          name: sessionName(ip('203.0.113.1')),
          peerId: 'p1',
          peerIp: ip('203.0.113.1'),
          remoteAs: 4200000000,
          localAs: 64512,
          password,
        },
      ],
    });

  it('learns /32s from the kernel table and exports them to each peer, with md5 and bfd when asked', () => {
    const text = config(true, 's3cret');
    assert.match(text, /router id 203\.0\.113\.2;/);
    assert.match(text, /kernel table 4242;\n\s+learn;/);
    assert.match(text, /netlink rx buffer \d{8,};/);
    assert.match(text, /protocol bgp peer_203_0_113_1 \{/);
    assert.match(text, /neighbor 203\.0\.113\.1 as 4200000000;/);
    assert.match(text, /local as 64512;/);
    assert.match(text, /password "s3cret";/);
    assert.match(text, /graceful restart on;\n\s+graceful restart time 3;/);
    assert.match(text, /hold time 3;/);
    assert.match(text, /bfd on;/);
    assert.match(text, /protocol bfd/);
    assert.match(text, /next hop keep;/);
  });

  it('has no password line and no BFD when not asked', () => {
    const text = config(false, null);
    assert.doesNotMatch(text, /password/);
    assert.doesNotMatch(text, /bfd/);
  });
});

describe('birdc show protocols', () => {
  it("reads each protocol with its state and BIRD's reason", () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Name       Proto      Table      State  Since         Info',
      'device1    Device     ---        up     09:31:14.092  ',
      'peer_203_0_113_1 BGP  ---        start  09:42:04.818  Active        Socket: Connection refused',
      'up1        BGP        ---        up     09:31:17.894  Established   ',
    ].join('\n');
    assert.deepEqual(parseProtocols(text), [
      { name: 'device1', proto: 'Device', state: 'up', info: '' },
      {
        name: 'peer_203_0_113_1',
        proto: 'BGP',
        state: 'start',
        info: 'Active        Socket: Connection refused',
      },
      { name: 'up1', proto: 'BGP', state: 'up', info: 'Established' },
    ]);
  });
});

describe('the BGP fence', () => {
  it('lets BGP and BFD out while its elements live, and is written closed without them', () => {
    const open = renderBgpFence(1234.7);
    assert.match(open, /elements = \{ 179 timeout 1234ms, 3784 timeout 1234ms, 4784 timeout 1234ms \}/);
    assert.match(open, /tcp dport 179 tcp dport != @live drop/);
    assert.match(open, /udp dport \{ 3784, 4784 \} udp dport != @live drop/);
    assert.doesNotMatch(renderBgpFence(0), /elements/);
    assert.doesNotMatch(renderBgpFence(-5), /elements/);
  });
});

describe('BGP speakers and peers in the model', () => {
  it('refuses a project in every function: creation 403, any existing id 404', async () => {
    const cloud = await smallCloud();
    const admin = cloud.ctx;
    const project: Context = { ...adminContext('alice'), isAdmin: false };
    const [speaker, peer] = await cloud.store.update((tx: Tx) => [
      createBgpSpeaker(tx, admin, { localAs: 64512 }),
      createBgpPeer(tx, admin, { peerIp: '192.0.2.1', remoteAs: 64500 }),
    ]);
    const refused = (status: number, type: string, run: (tx: Tx) => unknown) =>
      assert.rejects(
        cloud.store.update(run),
        (e: unknown) => e instanceof SfipError && e.status === status && e.type === type,
      );
    await refused(403, 'PolicyNotAuthorized', (tx) => createBgpSpeaker(tx, project, { localAs: 1 }));
    await refused(403, 'PolicyNotAuthorized', (tx) =>
      createBgpPeer(tx, project, { peerIp: '192.0.2.2', remoteAs: 1 }),
    );
    const s = speaker!.id;
    const p = peer!.id;
    await refused(404, 'BgpSpeakerNotFound', (tx) => getBgpSpeaker(tx, project, s));
    await refused(404, 'BgpSpeakerNotFound', (tx) => updateBgpSpeaker(tx, project, s, { name: 'x' }));
    await refused(404, 'BgpSpeakerNotFound', (tx) => deleteBgpSpeaker(tx, project, s));
    await refused(404, 'BgpSpeakerNotFound', (tx) => addBgpPeer(tx, project, s, p));
    await refused(404, 'BgpSpeakerNotFound', (tx) => removeBgpPeer(tx, project, s, p));
    await refused(404, 'BgpSpeakerNotFound', (tx) => addGatewayNetwork(tx, project, s, cloud.publicNet));
    await refused(404, 'BgpSpeakerNotFound', (tx) => removeGatewayNetwork(tx, project, s, cloud.publicNet));
    await refused(404, 'BgpPeerNotFound', (tx) => updateBgpPeer(tx, project, p, { name: 'x' }));
    await refused(404, 'BgpPeerNotFound', (tx) => deleteBgpPeer(tx, project, p));
    // And an admin's speaker cannot be handed a peer that does not exist.
    await refused(404, 'BgpPeerNotFound', (tx) =>
      addBgpPeer(tx, admin, s, '00000000-0000-4000-8000-000000000000'),
    );
  });
});
