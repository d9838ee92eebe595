import type { Kind, KindMap, Resource } from './entities.js';
import { notFound, invalidInput } from './errors.js';
import type { Context, View } from './tx.js';

const NOT_FOUND: Record<Kind, [type: string, noun: string]> = {
  network: ['NetworkNotFound', 'Network'],
  subnet: ['SubnetNotFound', 'Subnet'],
  port: ['PortNotFound', 'Port'],
  router: ['RouterNotFound', 'Router'],
  floatingip: ['FloatingIPNotFound', 'Floating IP'],
  agent: ['AgentNotFound', 'Agent'],
  quota: ['QuotaNotFound', 'Quota'],
  qospolicy: ['QosPolicyNotFound', 'QoS policy'],
  bgpspeaker: ['BgpSpeakerNotFound', 'BGP speaker'],
  bgppeer: ['BgpPeerNotFound', 'BGP peer'],
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(id: string): boolean {
  return UUID.test(id);
}

export function notFoundError(kind: Kind, id: string) {
  const [type, noun] = NOT_FOUND[kind];
  return notFound(type, `${noun} ${id} could not be found.`);
}

/** A resource of another project is reported as missing, not forbidden, so that its existence does not leak. */
export function visibleTo(ctx: Context, resource: Resource): boolean {
  return ctx.isAdmin || resource.projectId === ctx.projectId;
}

export function getVisible<K extends Kind>(view: View, ctx: Context, kind: K, id: string): KindMap[K] {
  const found = view.get(kind, id);
  if (!found || !visibleTo(ctx, found)) throw notFoundError(kind, id);
  return found;
}

/** Like getVisible, but external networks are usable by every project, as in Neutron. */
export function getUsableNetwork(view: View, ctx: Context, id: string): KindMap['network'] {
  const network = view.get('network', id);
  if (!network || !(network.external || visibleTo(ctx, network))) throw notFoundError('network', id);
  return network;
}

export interface CommonInput {
  readonly name?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly projectId?: string;
}

const MAX_NAME = 255;

export function checkText(value: string | undefined, field: string): void {
  if (value !== undefined && value.length > MAX_NAME) {
    throw invalidInput(`'${value.slice(0, 20)}...' exceeds maximum length of ${MAX_NAME} for ${field}`);
  }
}

/** Standard attributes for a new resource. Only an admin may create on behalf of another project. */
export function newResource(ctx: Context, input: CommonInput): Resource {
  checkText(input.name, 'name');
  checkText(input.description, 'description');
  const projectId = input.projectId ?? ctx.projectId;
  if (projectId !== ctx.projectId && !ctx.isAdmin) {
    throw invalidInput(`project_id '${projectId}' differs from the caller's project`);
  }
  const now = ctx.now();
  return {
    id: ctx.newId(),
    projectId,
    name: input.name ?? '',
    description: input.description ?? '',
    tags: [...new Set(input.tags ?? [])],
    createdAt: now,
    updatedAt: now,
    revisionNumber: 0,
  };
}

/**
 * The next revision of a resource: every update bumps `revision_number` and `updated_at`. Built with
 * Object.assign rather than `{ ...current, ...changes, more }`, which on Node 20's V8 takes tens of
 * microseconds per object (measured for the API benchmark); the result is the same plain object.
 */
export function revise<T extends Resource>(ctx: Context, current: T, changes: Partial<T>): T {
  checkText(changes.name, 'name');
  checkText(changes.description, 'description');
  return Object.assign({}, current, changes, {
    updatedAt: ctx.now(),
    revisionNumber: current.revisionNumber + 1,
  });
}
