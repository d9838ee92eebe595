import type { NftablesDataplane } from '../../src/dataplane/index.js';
import type { DesiredRouter, RouterTarget } from '../../src/dataplane/types.js';

/**
 * A deep read of a router (quoted-header maps and counter sets too): a dataplane's second read of it. The first
 * is quick, so that a start waits for less (nftables-backend.ts, FIRST_DEEP_READ).
 */
export async function deepRead(dp: NftablesDataplane, target: RouterTarget, desired: DesiredRouter) {
  await dp.read(target, desired);
  return dp.read(target, desired);
}
