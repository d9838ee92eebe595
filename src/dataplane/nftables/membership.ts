/**
 * Membership sets: plain sets of the floating and of the fixed addresses that have a mapping, for the rules that
 * only ask "is this address translated?". Those rules used to look the address up in the translation maps
 * themselves (`ip daddr @fip2fixed`), which newer kernels accept (the 6.18 of our hosts) but Debian 12's 6.1
 * refuses with "Invalid argument": a lookup in a map that loads no value. Matching against a map's value instead
 * (`ip daddr map @m != 0.0.0.0`) is refused by nft 1.0.6 ("Relational expression has constant value"), so the
 * keys live a second time here. The counter sets hold the floating addresses too, but count every lookup that
 * matches, so they cannot serve a second rule.
 *
 * They change in the same transaction as the maps, and every read (quick ones too) compares them with the maps:
 * a key missing from its set, or one the map lacks, makes the table's structure wrong, and the next plan rebuilds
 * it in one transaction. (Repairing them by a delta would need care: deleting a key the set lacks fails the whole
 * batch.)
 */
export const FLOATING_SET = 'fips';
export const FIXED_SET = 'fixeds';
export const MEMBERSHIP_SETS = [FLOATING_SET, FIXED_SET] as const;

export const membershipDeclarations = MEMBERSHIP_SETS.map((name) => `set ${name} { type ipv4_addr; }`);

/** As parse.ts names the sets in NftTableState.maps. */
export const MEMBERSHIP_EXPECTED = MEMBERSHIP_SETS.map((name) => `${name} ipv4_addr`);

/**
 * Whether the membership sets hold exactly the keys of their maps. A set that was not read (absent from
 * `counted`) is not compared.
 */
export function membershipMatches(
  inbound: ReadonlyMap<string, string>,
  outbound: ReadonlyMap<string, string>,
  counted: ReadonlyMap<string, ReadonlySet<string>>,
): boolean {
  const same = (keys: ReadonlySet<string> | undefined, map: ReadonlyMap<string, string>) =>
    keys === undefined || (keys.size === map.size && [...keys].every((key) => map.has(key)));
  return same(counted.get(FLOATING_SET), inbound) && same(counted.get(FIXED_SET), outbound);
}
