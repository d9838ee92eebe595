/**
 * Names of the iptables chains sfip owns for one router, and the comment that marks the jump rules leading
 * into them from the built-in chains. Chain names are limited to 28 characters, too short for a router id,
 * so a chain carries a 10-hex-digit tag of the id and the jump rule's comment carries the full id.
 */
export const CHAIN_PREFIX = 'sfip-';

export type IptablesTable = 'mangle' | 'nat';

/** Owned chains, by role. Neutron's names (wrapped as `neutron-l3-agent-<role>`) are kept as the roles. */
export const CHAIN_ROLES = ['mark', 'PREROUTING', 'OUTPUT', 'POSTROUTING', 'snat', 'float-snat'] as const;
export type ChainRole = (typeof CHAIN_ROLES)[number];

export const TABLE_OF_ROLE: Readonly<Record<ChainRole, IptablesTable>> = {
  mark: 'mangle',
  PREROUTING: 'nat',
  OUTPUT: 'nat',
  POSTROUTING: 'nat',
  snat: 'nat',
  'float-snat': 'nat',
};

/** Built-in chains that jump into owned ones, in the order the jumps are appended. */
export const JUMPS: readonly { table: IptablesTable; from: string; to: ChainRole }[] = [
  { table: 'mangle', from: 'PREROUTING', to: 'mark' },
  { table: 'nat', from: 'PREROUTING', to: 'PREROUTING' },
  { table: 'nat', from: 'OUTPUT', to: 'OUTPUT' },
  // Neutron's neutron-postrouting-bottom: the ACCEPT for internal traffic comes first, SNAT after it.
  { table: 'nat', from: 'POSTROUTING', to: 'POSTROUTING' },
  { table: 'nat', from: 'POSTROUTING', to: 'snat' },
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function routerTag(routerId: string): string {
  if (!UUID.test(routerId)) {
    throw new Error(
      `Router id '${routerId}' is not a lower-case UUID: the iptables backend names chains by it`,
    );
  }
  return routerId.replace(/-/g, '').slice(0, 10);
}

/** `sfip-<tag>-<role>`: at most 5 + 10 + 1 + 11 = 27 characters. */
export function chainName(routerId: string, role: ChainRole): string {
  return `${CHAIN_PREFIX}${routerTag(routerId)}-${role}`;
}

/** The comment on every jump rule sfip adds to a built-in chain: how the backend finds its jumps again. */
export function jumpComment(routerId: string): string {
  return `sfip router ${routerId}`;
}

const JUMP_COMMENT =
  /--comment "?sfip router ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"?/;

/** The router id in a saved rule's sfip jump comment, if it has one. */
export function routerIdOfJump(ruleSpec: string): string | undefined {
  return JUMP_COMMENT.exec(ruleSpec)?.[1];
}
