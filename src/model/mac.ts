/** Neutron's default base MAC: OpenStack's OUI, locally administered, so ports look like Neutron's own. */
export const MAC_PREFIX = 'fa:16:3e';

/**
 * A random MAC under MAC_PREFIX: 24 random bits. The model takes randomness from its Context (`newMac`) and
 * falls back to this; collisions are possible (about 1 in 16.7 million per pair) and retried by the caller.
 */
export function randomMac(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(3));
  return [MAC_PREFIX, ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
