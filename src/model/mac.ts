/** Neutron's default base MAC: OpenStack's OUI, locally administered, so ports look like Neutron's own. */
export const MAC_PREFIX = 'fa:16:3e';

/** Random bytes for this many MACs are drawn at once: one getRandomValues per port cost 3 µs of CPU, pooled 0.13. */
const POOL_MACS = 1024;
let pool = new Uint8Array(0);
let offset = 0;
const hex = (byte: number) => byte.toString(16).padStart(2, '0');

/**
 * A random MAC under MAC_PREFIX: 24 random bits. The model takes randomness from its Context (`newMac`) and
 * falls back to this; collisions are possible (about 1 in 16.7 million per pair) and retried by the caller.
 * The bits come from a pool of the platform's cryptographic randomness, each byte used once.
 */
export function randomMac(): string {
  if (offset + 3 > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(3 * POOL_MACS));
    offset = 0;
  }
  const at = offset;
  offset += 3;
  return `${MAC_PREFIX}:${hex(pool[at]!)}:${hex(pool[at + 1]!)}:${hex(pool[at + 2]!)}`;
}
