import type { BgpSpeaker } from './entities.js';
import { badRequest, conflict, invalidInput, notFound } from './errors.js';
import { bgpSpeakersOfNetworkKey } from './index-keys.js';
import { getBgpPeer, parseAsn, requireAdmin, toInteger } from './bgp-peers.js';
import { CommonInput, newResource, notFoundError, revise } from './resource.js';
import type { Context, Tx, View } from './tx.js';

export interface BgpSpeakerInput extends CommonInput {
  readonly localAs?: unknown;
  readonly ipVersion?: unknown;
  readonly advertiseFloatingIpHostRoutes?: boolean;
  readonly advertiseTenantNetworks?: boolean;
}

export function getBgpSpeaker(view: View, ctx: Context, id: string): BgpSpeaker {
  const speaker = ctx.isAdmin ? view.get('bgpspeaker', id) : undefined;
  if (!speaker) throw notFoundError('bgpspeaker', id);
  return speaker;
}

/** sfip carries IPv4 only: a speaker for IPv6 would have nothing to advertise. */
function parseIpVersion(value: unknown): 4 {
  const version = toInteger(value, 'ip_version');
  if (version === 4) return 4;
  if (version === 6)
    throw invalidInput("ip_version '6' is not supported: sfip advertises IPv4 floating IPs only");
  throw invalidInput(`'${version}' is not in [4, 6] for ip_version`);
}

export function createBgpSpeaker(tx: Tx, ctx: Context, input: BgpSpeakerInput): BgpSpeaker {
  requireAdmin(ctx, 'create', 'bgp_speaker');
  if (input.localAs === undefined)
    throw badRequest("Failed to parse request. Required attribute 'local_as' not specified");
  const localAs = parseAsn(input.localAs, 'local_as');
  const ipVersion = parseIpVersion(input.ipVersion ?? 4);
  const speaker: BgpSpeaker = {
    ...newResource(ctx, input),
    localAs,
    ipVersion,
    advertiseFloatingIpHostRoutes: input.advertiseFloatingIpHostRoutes ?? true,
    advertiseTenantNetworks: input.advertiseTenantNetworks ?? true,
    peerIds: [],
    networkIds: [],
  };
  tx.put('bgpspeaker', speaker);
  return speaker;
}

/** local_as and ip_version are fixed at creation (allow_put False in neutron-dynamic-routing). */
export function updateBgpSpeaker(tx: Tx, ctx: Context, id: string, input: BgpSpeakerInput): BgpSpeaker {
  const current = getBgpSpeaker(tx, ctx, id);
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.advertiseFloatingIpHostRoutes !== undefined && {
      advertiseFloatingIpHostRoutes: input.advertiseFloatingIpHostRoutes,
    }),
    ...(input.advertiseTenantNetworks !== undefined && {
      advertiseTenantNetworks: input.advertiseTenantNetworks,
    }),
  });
  tx.put('bgpspeaker', next);
  return next;
}

export function deleteBgpSpeaker(tx: Tx, ctx: Context, id: string): void {
  getBgpSpeaker(tx, ctx, id);
  tx.delete('bgpspeaker', id);
}

export function addBgpPeer(tx: Tx, ctx: Context, id: string, peerId: string): BgpSpeaker {
  const speaker = getBgpSpeaker(tx, ctx, id);
  const peer = getBgpPeer(tx, ctx, peerId);
  if (speaker.peerIds.includes(peer.id)) {
    throw conflict(
      'BgpSpeakerPeerBindingExists',
      `BGP peer ${peer.id} is already associated with BGP speaker ${id}.`,
    );
  }
  // Two peers at one address would be one BGP session with two configurations.
  const sameIp = speaker.peerIds.map((p) => tx.get('bgppeer', p)).find((p) => p?.peerIp === peer.peerIp);
  if (sameIp) {
    throw conflict(
      'DuplicateBgpPeerIpException',
      `BGP speaker ${id} already has a peer at ${peer.peerIp} (${sameIp.id}).`,
    );
  }
  const next = revise(ctx, speaker, { peerIds: [...speaker.peerIds, peer.id] });
  tx.put('bgpspeaker', next);
  return next;
}

export function removeBgpPeer(tx: Tx, ctx: Context, id: string, peerId: string): BgpSpeaker {
  const speaker = getBgpSpeaker(tx, ctx, id);
  if (!speaker.peerIds.includes(peerId)) {
    throw notFound(
      'BgpSpeakerPeerNotAssociated',
      `BGP peer ${peerId} is not associated with BGP speaker ${id}.`,
    );
  }
  const next = revise(ctx, speaker, { peerIds: speaker.peerIds.filter((p) => p !== peerId) });
  tx.put('bgpspeaker', next);
  return next;
}

/** A gateway network must be external: only routers' gateways there carry floating IPs. */
export function addGatewayNetwork(tx: Tx, ctx: Context, id: string, networkId: string): BgpSpeaker {
  const speaker = getBgpSpeaker(tx, ctx, id);
  const network = tx.get('network', networkId);
  if (!network) throw notFoundError('network', networkId);
  if (!network.external) {
    throw invalidInput(
      `network ${networkId} is not external (router:external): it has no floating IPs to advertise`,
    );
  }
  if (speaker.networkIds.includes(networkId)) {
    throw conflict(
      'BgpSpeakerNetworkBindingExists',
      `Network ${networkId} is already a gateway network of BGP speaker ${id}.`,
    );
  }
  const next = revise(ctx, speaker, { networkIds: [...speaker.networkIds, networkId] });
  tx.put('bgpspeaker', next);
  return next;
}

export function removeGatewayNetwork(tx: Tx, ctx: Context, id: string, networkId: string): BgpSpeaker {
  const speaker = getBgpSpeaker(tx, ctx, id);
  if (!speaker.networkIds.includes(networkId)) {
    throw notFound('NetworkNotAssociated', `Network ${networkId} is not associated with BGP speaker ${id}.`);
  }
  const next = revise(ctx, speaker, { networkIds: speaker.networkIds.filter((n) => n !== networkId) });
  tx.put('bgpspeaker', next);
  return next;
}

/** Called when a network is deleted: no speaker keeps a gateway network that no longer exists. */
export function forgetGatewayNetwork(tx: Tx, ctx: Context, networkId: string): void {
  for (const speaker of tx.find('bgpspeaker', bgpSpeakersOfNetworkKey(networkId))) {
    tx.put(
      'bgpspeaker',
      revise(ctx, speaker, { networkIds: speaker.networkIds.filter((n) => n !== networkId) }),
    );
  }
}
