import { badRequest, SfipError } from '../model/index.js';

/** Query parameters that steer a list rather than filter it. */
const CONTROL = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);
const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'] as const;

export type RawQuery = Record<string, string | string[] | undefined>;

export interface TagFilter {
  readonly all: readonly string[];
  readonly any: readonly string[];
  readonly notAll: readonly string[];
  readonly notAny: readonly string[];
}

export interface ListQuery {
  /** Attribute -> accepted values: OR within one attribute, AND across attributes. */
  readonly filters: ReadonlyMap<string, readonly string[]>;
  readonly tags: TagFilter;
  /** Sort keys with true for ascending. Empty means id order. */
  readonly sorts: readonly (readonly [string, boolean])[];
  /** Page size; undefined when the caller asked for everything (no limit, or limit=0 as in Neutron). */
  readonly limit: number | undefined;
  readonly marker: string | undefined;
  readonly pageReverse: boolean;
  readonly fields: readonly string[];
}

export interface ListSchema {
  readonly collection: string;
  /** Every attribute a filter or `fields` may name. */
  readonly attributes: readonly string[];
  /** Attributes that hold lists or objects: filterable, not sortable. */
  readonly structured?: readonly string[];
  readonly booleans?: readonly string[];
}

export const valuesOf = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** Neutron's convert_to_boolean for filter values. */
function toBoolean(attribute: string, text: string): string {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === '1') return 'true';
  if (lower === 'false' || lower === '0') return 'false';
  throw new SfipError(
    'InvalidInput',
    400,
    `Invalid input for operation: '${text}' cannot be converted to boolean for ${attribute}.`,
  );
}

const python = (names: readonly string[]) => `[${names.map((n) => `'${n}'`).join(', ')}]`;

/**
 * Reads a list request's query the way Neutron's api_common does: empty filter values are dropped, unknown
 * filters, unknown sort keys, unequal sort_key/sort_dir counts and bad limits are refused with Neutron's wording.
 */
export function parseListQuery(schema: ListSchema, query: RawQuery): ListQuery {
  const known = new Set(schema.attributes);
  const unknown = Object.keys(query).filter(
    (k) => !CONTROL.has(k) && !(TAG_FILTERS as readonly string[]).includes(k) && !known.has(k),
  );
  if (unknown.length > 0) {
    throw new SfipError('HTTPBadRequest', 400, `${python(unknown)} is invalid attribute for filtering`);
  }
  const booleans = new Set(schema.booleans ?? []);
  const filters = new Map<string, string[]>();
  for (const [key, raw] of Object.entries(query)) {
    if (CONTROL.has(key) || (TAG_FILTERS as readonly string[]).includes(key)) continue;
    const values = valuesOf(raw).filter((v) => v !== '');
    if (values.length > 0)
      filters.set(key, booleans.has(key) ? values.map((v) => toBoolean(key, v)) : values);
  }
  const list = (k: string) =>
    valuesOf(query[k])
      .flatMap((v) => v.split(','))
      .filter(Boolean);
  const tags = {
    all: list('tags'),
    any: list('tags-any'),
    notAll: list('not-tags'),
    notAny: list('not-tags-any'),
  };

  const sortKeys = valuesOf(query.sort_key).filter(Boolean);
  const sortDirs = valuesOf(query.sort_dir).filter(Boolean);
  if (sortKeys.length !== sortDirs.length) {
    throw new SfipError('HTTPBadRequest', 400, 'The number of sort_keys and sort_dirs must be same');
  }
  const structured = new Set(schema.structured ?? []);
  const badKeys = sortKeys.filter((k) => !known.has(k) || structured.has(k));
  if (badKeys.length > 0) {
    throw new SfipError('HTTPBadRequest', 400, `${python(badKeys)} is invalid attribute for sort_keys`);
  }
  const badDirs = sortDirs.filter((d) => d !== 'asc' && d !== 'desc');
  if (badDirs.length > 0) {
    throw new SfipError(
      'HTTPBadRequest',
      400,
      `${python(badDirs)} is invalid value for sort_dirs, valid value is 'asc' and 'desc'`,
    );
  }

  const limitText = valuesOf(query.limit)[0];
  let limit: number | undefined;
  if (limitText !== undefined) {
    if (!/^[0-9]{1,9}$/.test(limitText)) {
      throw badRequest(`Limit must be an integer 0 or greater and not '${limitText}'`);
    }
    limit = Number(limitText) || undefined;
  }
  const marker = valuesOf(query.marker)[0] || undefined;
  return {
    filters,
    tags,
    sorts: sortKeys.map((k, i) => [k, sortDirs[i] === 'asc'] as const),
    limit,
    marker,
    pageReverse: (valuesOf(query.page_reverse)[0] ?? '').toLowerCase() === 'true',
    fields: valuesOf(query.fields)
      .flatMap((f) => f.split(','))
      .filter(Boolean),
  };
}
