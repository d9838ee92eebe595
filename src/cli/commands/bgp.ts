import { Command } from 'commander';
import type { Json } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, outputOf } from './common.js';

/**
 * `sfip bgp speaker …` and `sfip bgp peer …`: neutron-dynamic-routing's API (admin-only), as `openstack bgp …`
 * drives it (docs/api.md#bgp-dynamic-routing, docs/multi-node.md for routed mode).
 */

const SPEAKER_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Name', 'name'],
  ['Local AS', 'local_as'],
  ['Peers', 'peers'],
  ['Networks', 'networks'],
  ['Floating IP routes', 'advertise_floating_ip_host_routes'],
];
const PEER_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Name', 'name'],
  ['Peer IP', 'peer_ip'],
  ['Remote AS', 'remote_as'],
  ['Auth', 'auth_type'],
];
const SPEAKERS = 'bgp-speakers';
const PEERS = 'bgp-peers';

function speakerCommand(): Command {
  const speaker = new Command('speaker').description('BGP speakers: what is announced, and to which peers');
  speaker
    .command('create')
    .description('create a BGP speaker (admin)')
    .argument('<name>')
    .requiredOption('--local-as <asn>', "the nodes' AS number (1-4294967295)")
    .option('--no-advertise-floating-ip-host-routes', 'announce no floating IP /32s')
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const body = {
        name,
        local_as: String(o.localAs),
        ip_version: 4,
        advertise_floating_ip_host_routes: o.advertiseFloatingIpHostRoutes !== false,
      };
      const created = await clientOf(cmd).post<{ bgp_speaker: Json }>(`/v2.0/${SPEAKERS}`, {
        bgp_speaker: body,
      });
      printObject('bgp_speaker', created.bgp_speaker, outputOf(cmd));
    });
  speaker
    .command('list')
    .description('list BGP speakers')
    .action(async (_o: unknown, cmd: Command) => {
      const rows = (await clientOf(cmd).get<{ bgp_speakers: Json[] }>(`/v2.0/${SPEAKERS}`)).bgp_speakers;
      printList('bgp_speakers', rows, SPEAKER_COLUMNS, outputOf(cmd));
    });
  speaker
    .command('show')
    .description('show a BGP speaker')
    .argument('<speaker>', 'name or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      printObject('bgp_speaker', await clientOf(cmd).find(SPEAKERS, 'bgp_speaker', ref), outputOf(cmd));
    });
  speaker
    .command('delete')
    .description('delete BGP speakers')
    .argument('<speaker...>', 'names or ids')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs) {
        const found = await api.find(SPEAKERS, 'bgp_speaker', ref);
        await api.delete(`/v2.0/${SPEAKERS}/${String(found.id)}`);
        if (!outputOf(cmd).json) console.log(`Deleted BGP speaker ${String(found.name || found.id)}`);
      }
    });
  for (const [verb, action, collection, member, field] of [
    ['add-peer', 'add_bgp_peer', PEERS, 'bgp_peer', 'bgp_peer_id'],
    ['remove-peer', 'remove_bgp_peer', PEERS, 'bgp_peer', 'bgp_peer_id'],
    ['add-network', 'add_gateway_network', 'networks', 'network', 'network_id'],
    ['remove-network', 'remove_gateway_network', 'networks', 'network', 'network_id'],
  ] as const) {
    speaker
      .command(verb)
      .description(`${action.replaceAll('_', ' ')}`)
      .argument('<speaker>', 'name or id')
      .argument(`<${member === 'network' ? 'network' : 'peer'}>`, 'name or id')
      .action(async (speakerRef: string, ref: string, _o: unknown, cmd: Command) => {
        const api = clientOf(cmd);
        const found = await api.find(SPEAKERS, 'bgp_speaker', speakerRef);
        const other = await api.find(collection, member, ref);
        const reply = await api.put<Json>(`/v2.0/${SPEAKERS}/${String(found.id)}/${action}`, {
          [field]: other.id,
        });
        printObject(null, reply, outputOf(cmd));
      });
  }
  speaker
    .command('routes')
    .description("The routes a speaker advertises: each floating IP /32 via its router's gateway")
    .argument('<speaker>', 'name or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      const found = await api.find(SPEAKERS, 'bgp_speaker', ref);
      const routes = (
        await api.get<{ advertised_routes: Json[] }>(
          `/v2.0/${SPEAKERS}/${String(found.id)}/get_advertised_routes`,
        )
      ).advertised_routes;
      printList(
        'advertised_routes',
        routes,
        [
          ['Destination', 'destination'],
          ['Next hop', 'next_hop'],
        ],
        outputOf(cmd),
      );
    });
  return speaker;
}

function peerCommand(): Command {
  const peer = new Command('peer').description('BGP peers: the upstream routers the nodes announce to');
  peer
    .command('create')
    .description('create a BGP peer (admin)')
    .argument('<name>')
    .requiredOption('--peer-ip <address>', 'dotted-quad IPv4')
    .requiredOption('--remote-as <asn>', "the peer's AS number (1-4294967295)")
    .option('--md5-password <password>', 'TCP MD5 authentication (auth_type md5)')
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const body = {
        name,
        peer_ip: o.peerIp,
        remote_as: String(o.remoteAs),
        auth_type: o.md5Password === undefined ? 'none' : 'md5',
        ...(o.md5Password !== undefined && { password: o.md5Password }),
      };
      const created = await clientOf(cmd).post<{ bgp_peer: Json }>(`/v2.0/${PEERS}`, { bgp_peer: body });
      printObject('bgp_peer', created.bgp_peer, outputOf(cmd));
    });
  peer
    .command('list')
    .description('list BGP peers')
    .action(async (_o: unknown, cmd: Command) => {
      const rows = (await clientOf(cmd).get<{ bgp_peers: Json[] }>(`/v2.0/${PEERS}`)).bgp_peers;
      printList('bgp_peers', rows, PEER_COLUMNS, outputOf(cmd));
    });
  peer
    .command('delete')
    .description('delete BGP peers')
    .argument('<peer...>', 'names or ids')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs) {
        const found = await api.find(PEERS, 'bgp_peer', ref);
        await api.delete(`/v2.0/${PEERS}/${String(found.id)}`);
        if (!outputOf(cmd).json) console.log(`Deleted BGP peer ${String(found.name || found.id)}`);
      }
    });
  return peer;
}

export function bgpCommand(): Command {
  const bgp = new Command('bgp').description(
    'BGP dynamic routing (admin): speakers and peers that announce floating IPs (routed mode)',
  );
  bgp.addCommand(speakerCommand());
  bgp.addCommand(peerCommand());
  return bgp;
}
