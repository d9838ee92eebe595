import type { FastifyInstance } from 'fastify';
import { SfipError } from '../model/index.js';

interface Extension {
  readonly alias: string;
  readonly name: string;
  readonly description: string;
}

/** The Neutron API extensions sfip implements, so that clients which probe for a feature find it. */
const EXTENSIONS: readonly Extension[] = [
  { alias: 'router', name: 'Neutron L3 Router', description: 'Routers and floating IPs' },
  {
    alias: 'external-net',
    name: 'Neutron external network',
    description: 'router:external networks as floating-IP pools',
  },
  {
    alias: 'fip-port-details',
    name: 'Floating IP Port Details',
    description: 'port_details on floating IPs',
  },
  {
    alias: 'standard-attr-description',
    name: 'standard-attr-description',
    description: 'description on every resource',
  },
  {
    alias: 'standard-attr-revisions',
    name: 'Resource revision numbers',
    description: 'revision_number on every resource',
  },
  {
    alias: 'revision-if-match',
    name: 'If-Match constraints based on revision_number',
    description: 'If-Match: revision_number=N on update and delete',
  },
  {
    alias: 'standard-attr-timestamp',
    name: 'Resource timestamps',
    description: 'created_at and updated_at on every resource',
  },
  {
    alias: 'standard-attr-tag',
    name: 'Tag support for resources',
    description: 'tags sub-resource and tag filters',
  },
  {
    alias: 'tag-creation',
    name: 'Tag support for resources during creation',
    description: 'tags in create bodies',
  },
  {
    alias: 'floating-ip-port-forwarding',
    name: 'Floating IP Port Forwarding',
    description: 'port_forwardings sub-resource of floating IPs, stateless in the dataplane',
  },
  {
    alias: 'floating-ip-port-forwarding-description',
    name: 'Floating IP Port Forwarding Description',
    description: 'description on port forwardings',
  },
  {
    alias: 'floating-ip-port-forwarding-port-ranges',
    name: 'Floating IP Port Forwarding support port ranges',
    description: 'internal_port_range and external_port_range, N:N or N:1',
  },
  {
    alias: 'expose-port-forwarding-in-fip',
    name: 'Expose port forwardings in a floating IP',
    description: 'port_forwardings in the floating IP body',
  },
  {
    alias: 'floatingip-pools',
    name: 'Floating IP Pools Extension',
    description: 'GET /v2.0/floatingip_pools: the subnets of external networks',
  },
  {
    alias: 'sfip-floatingip-bulk-create',
    name: 'Bulk create of floating IPs',
    description:
      'POST /v2.0/floatingips {"floatingips": [...]}, all or nothing (networks, subnets, ports too)',
  },
  {
    alias: 'qos',
    name: 'Quality of Service',
    description: 'QoS policies and rules, stored; not yet enforced by any dataplane backend (docs/qos.md)',
  },
  {
    alias: 'qos-bw-limit-direction',
    name: 'Direction for QoS bandwidth limit rule',
    description: 'direction ingress or egress on bandwidth_limit_rules',
  },
  {
    alias: 'qos-pps',
    name: 'QoS Rule Type Packet per Second Extension',
    description: 'packet_rate_limit_rules: max_kpps, max_burst_kpps, direction',
  },
  { alias: 'qos-fip', name: 'Floating IP QoS', description: 'qos_policy_id on floating IPs' },
  {
    alias: 'qos-rule-type-details',
    name: 'Details of QoS rule types',
    description: 'GET /v2.0/qos/rule-types/{type}: the drivers that honour it and its parameters',
  },
  {
    alias: 'bgp',
    name: 'BGP Dynamic Routing Extension',
    description: 'bgp-speakers and bgp-peers (admin-only): floating IP /32 host routes advertised by BGP',
  },
  {
    alias: 'bgp_4byte_asn',
    name: '4-byte ASN Support for BGP Dynamic Routing',
    description: 'local_as and remote_as from 1 to 4294967295',
  },
  { alias: 'project-id', name: 'project_id field enabled', description: 'project_id beside tenant_id' },
  { alias: 'pagination', name: 'Pagination support', description: 'limit, marker and page_reverse' },
  { alias: 'sorting', name: 'Sorting support', description: 'sort_key and sort_dir' },
  { alias: 'quotas', name: 'Quota management support', description: 'GET/PUT/DELETE /v2.0/quotas' },
  {
    alias: 'quota_details',
    name: 'Quota details extension',
    description: 'used, limit and reserved in /v2.0/quotas/{project_id}/details',
  },
  {
    alias: 'filter-validation',
    name: 'Filter parameters validation',
    description: 'unknown filters are refused',
  },
];

const UPDATED = '2026-11-01T00:00:00-00:00';

const view = (e: Extension) => ({ ...e, updated: UPDATED, links: [] });

export function registerExtensions(app: FastifyInstance): void {
  const schema = { tags: ['discovery'] };
  app.get('/v2.0/extensions', { schema: { ...schema, summary: 'Supported API extensions' } }, async () => ({
    extensions: EXTENSIONS.map(view),
  }));
  app.get<{ Params: { alias: string } }>(
    '/v2.0/extensions/:alias',
    { schema: { ...schema, summary: 'One API extension' } },
    async (request) => {
      const found = EXTENSIONS.find((e) => e.alias === request.params.alias);
      if (!found) {
        throw new SfipError(
          'HTTPNotFound',
          404,
          `Extension with alias ${request.params.alias.slice(0, 100)} does not exist`,
        );
      }
      return { extension: view(found) };
    },
  );
}
