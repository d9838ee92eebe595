import type { Resource } from './entities.js';
import { conflict, invalidInput, SfipError } from './errors.js';
import type { Context, Tx, View } from './tx.js';

/** The resources sfip counts against a project's quota, by Neutron's quota names (which are its kinds). */
export const QUOTA_RESOURCES = ['floatingip', 'network', 'port', 'router', 'subnet'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type QuotaLimits = Readonly<Record<QuotaResource, number>>;

/** Neutron's defaults (neutron.conf [quotas]); -1 means unlimited. */
export const DEFAULT_QUOTAS: QuotaLimits = {
  floatingip: 50,
  network: 100,
  port: 500,
  router: 10,
  subnet: 100,
};

/** Largest limit accepted: Neutron stores quotas in a 32-bit column. */
export const MAX_QUOTA = 2 ** 31 - 1;

/**
 * A project's own limits, where an admin set them (`PUT /v2.0/quotas/{project_id}`); one per project, its id the
 * project id. Resources it does not name take the defaults. Deleting it returns the project to the defaults.
 */
export interface Quota extends Resource {
  readonly limits: Partial<QuotaLimits>;
}

export const isQuotaResource = (kind: string): kind is QuotaResource =>
  (QUOTA_RESOURCES as readonly string[]).includes(kind);

/** Held by every resource a project's quota counts, so usage is one count of an index key. */
export const quotaUsageKey = (kind: QuotaResource, projectId: string): string => `quota/${kind}/${projectId}`;

export function quotaLimits(view: View, projectId: string): QuotaLimits {
  return { ...DEFAULT_QUOTAS, ...view.get('quota', projectId)?.limits };
}

export function quotaUsage(view: View, projectId: string): QuotaLimits {
  const used = {} as Record<QuotaResource, number>;
  for (const r of QUOTA_RESOURCES) used[r] = view.count(quotaUsageKey(r, projectId));
  return used;
}

const adminRequired = (message: string) =>
  new SfipError('AdminRequired', 403, `User does not have admin privileges: ${message}`);

/** Neutron: a project may read its own quota; only an admin reads another's or changes any. */
export function checkQuotaReader(ctx: Context, projectId: string): void {
  if (!ctx.isAdmin && ctx.projectId !== projectId) {
    throw adminRequired('Only admin is authorized to access quotas for another tenant.');
  }
}

function checkQuotaAdmin(ctx: Context): void {
  if (!ctx.isAdmin) throw adminRequired('Only admin can view or configure quota.');
}

/** Validates a PUT body's limits by name: whole numbers from -1 (unlimited) to MAX_QUOTA, known resources only. */
export function parseQuotaLimits(input: Readonly<Record<string, unknown>>): Partial<QuotaLimits> {
  const limits: Partial<Record<QuotaResource, number>> = {};
  for (const [name, value] of Object.entries(input)) {
    if (!isQuotaResource(name)) {
      throw invalidInput(
        `Unrecognized attribute(s) '${name}': quotas exist for ${QUOTA_RESOURCES.join(', ')}`,
      );
    }
    const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -1 || n > MAX_QUOTA) {
      throw invalidInput(
        `'${String(value)}' is not a valid quota for ${name}: expected a whole number from -1 (unlimited) to ${MAX_QUOTA}`,
      );
    }
    limits[name] = n;
  }
  return limits;
}

/** Sets some of a project's limits (admin only); the others keep theirs. Returns every limit. */
export function setQuota(tx: Tx, ctx: Context, projectId: string, limits: Partial<QuotaLimits>): QuotaLimits {
  checkQuotaAdmin(ctx);
  const current = tx.get('quota', projectId);
  const now = ctx.now();
  const quota: Quota = current
    ? {
        ...current,
        limits: { ...current.limits, ...limits },
        updatedAt: now,
        revisionNumber: current.revisionNumber + 1,
      }
    : {
        id: projectId,
        projectId,
        name: '',
        description: '',
        tags: [],
        createdAt: now,
        updatedAt: now,
        revisionNumber: 0,
        limits,
      };
  tx.put('quota', quota);
  return quotaLimits(tx, projectId);
}

/** Returns a project to the default limits (admin only). Neutron answers 204 whether or not it had its own. */
export function resetQuota(tx: Tx, ctx: Context, projectId: string): void {
  checkQuotaAdmin(ctx);
  if (tx.get('quota', projectId)) tx.delete('quota', projectId);
}

/** Projects with limits of their own (admin only), as `GET /v2.0/quotas` lists them. */
export function listQuotas(view: View, ctx: Context): { projectId: string; limits: QuotaLimits }[] {
  checkQuotaAdmin(ctx);
  return view.list('quota').map((q) => ({ projectId: q.projectId, limits: quotaLimits(view, q.projectId) }));
}

/**
 * A transaction in which every new resource a project's caller creates counts against that project's quota,
 * checked after the write inside the same transaction: the count includes this write and every committed one,
 * and the store serialises (SQLite) or re-runs on conflict (etcd, which guards the counted index key), so
 * concurrent creates cannot overshoot. An admin's creates are not limited (they still count as usage): operators
 * and their tooling are never stopped by a project's quota.
 */
export function quotaTx(tx: Tx, ctx: Context): Tx {
  if (ctx.isAdmin) return tx;
  const limited: Tx = {
    get: (kind, id) => tx.get(kind, id),
    list: (kind) => tx.list(kind),
    lookup: (key) => tx.lookup(key),
    find: (kind, key) => tx.find(kind, key),
    ...(tx.findDocuments && { findDocuments: tx.findDocuments }),
    ...(tx.devicesWithPort && { devicesWithPort: tx.devicesWithPort }),
    // A project's own calls keep the store's kept answers (routerFor's, on every association), as an admin's do.
    ...(tx.structural && { structural: tx.structural }),
    range: (kind, options) => tx.range(kind, options),
    count: (key) => tx.count(key),
    delete: (kind, id) => tx.delete(kind, id),
    put: (kind, entity) => {
      const created = isQuotaResource(kind) && tx.get(kind, entity.id) === undefined;
      tx.put(kind, entity);
      if (created) checkOverQuota(tx, kind as QuotaResource, entity.projectId);
    },
  };
  return limited;
}

function checkOverQuota(view: View, kind: QuotaResource, projectId: string): void {
  const limit = quotaLimits(view, projectId)[kind];
  if (limit < 0) return;
  if (view.count(quotaUsageKey(kind, projectId)) > limit) {
    throw conflict('OverQuota', `Quota exceeded for resources: ['${kind}'].`);
  }
}
