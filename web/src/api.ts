import type { DashboardState } from '../../src/dashboard/state-types.js';

export class Unauthorized extends Error {}

/** Reads the dashboard's data. The page itself is public; the data needs the token. */
export async function fetchState(token: string): Promise<DashboardState> {
  const response = await fetch('/dashboard/api/state', {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    cache: 'no-store',
  });
  if (response.status === 401) throw new Unauthorized('The token was not accepted.');
  if (!response.ok) throw new Error(`The daemon answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as DashboardState;
}
