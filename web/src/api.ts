import type { DashboardState } from '../../src/dashboard/state-types.js';

export class Unauthorized extends Error {}

/** Which page of floating IPs to show: server-side, so 100,000 floating IPs never reach the browser at once. */
export interface PageQuery {
  /** Start of a floating or fixed address; empty for all. */
  readonly search: string;
  readonly offset: number;
  /** Only this router (set when paging through one router's floating IPs). */
  readonly router: string | null;
}

export const PAGE_SIZE = 200;

/** Reads the dashboard's data. The page itself is public; the data needs the token. */
export async function fetchState(token: string, page: PageQuery): Promise<DashboardState> {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(page.offset) });
  if (page.search) query.set('search', page.search);
  if (page.router) query.set('router', page.router);
  const response = await fetch(`/dashboard/api/state?${query}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    cache: 'no-store',
  });
  if (response.status === 401) throw new Unauthorized('The token was not accepted.');
  if (!response.ok) throw new Error(`The daemon answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as DashboardState;
}
