import type { BgpAuthType, BgpPeer } from './entities.js';
import { badRequest, invalidInput, SfipError } from './errors.js';
import { bgpSpeakersOfPeerKey } from './index-keys.js';
import { parseIPv4 } from './ipv4.js';
import { CommonInput, newResource, notFoundError, revise } from './resource.js';
import type { Context, Tx, View } from './tx.js';

/** 4-byte AS numbers (RFC 6793, neutron-dynamic-routing's bgp_4byte_asn): 1..4294967295. */
export const MIN_ASN = 1;
export const MAX_ASN = 4_294_967_295;
const AUTH_TYPES: readonly BgpAuthType[] = ['none', 'md5'];
/** BIRD and the kernel's TCP MD5 option take at most 80 bytes of key. */
const MAX_PASSWORD = 80;

export interface BgpPeerInput extends CommonInput {
  readonly peerIp?: unknown;
  readonly remoteAs?: unknown;
  readonly authType?: unknown;
  readonly password?: unknown;
}

/**
 * BGP speakers and peers are an operator's configuration: admin-only in neutron-dynamic-routing's policy. A
 * project is refused creation (403), and every other call treats them as missing (404), as Neutron does for a
 * resource its `get_` rule hides.
 */
export function requireAdmin(ctx: Context, action: string, member: string): void {
  if (!ctx.isAdmin)
    throw new SfipError('PolicyNotAuthorized', 403, `rule:${action}_${member} is disallowed by policy`);
}

/** Neutron's convert_to_int: an integer, or a string of decimal digits. */
export function toInteger(value: unknown, field: string): number {
  if (typeof value === 'string' && /^-?[0-9]{1,12}$/.test(value)) return Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidInput(`'${String(value)}' is not an integer for ${field}`);
  }
  return value;
}

/** An AS number as Neutron's type:range validator checks it, naming the value. */
export function parseAsn(value: unknown, field: string): number {
  const asn = toInteger(value, field);
  if (asn < MIN_ASN) throw invalidInput(`'${asn}' is too small - must be at least '${MIN_ASN}' for ${field}`);
  if (asn > MAX_ASN) {
    throw invalidInput(`'${asn}' is too large - must be no larger than '${MAX_ASN}' for ${field}`);
  }
  return asn;
}

function parseAuthType(value: unknown): BgpAuthType {
  const found = AUTH_TYPES.find((t) => t === value);
  if (!found) throw invalidInput(`'${String(value)}' is not in ['none', 'md5'] for auth_type`);
  return found;
}

function parsePassword(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PASSWORD) {
    throw invalidInput(`password must be a string of 1 to ${MAX_PASSWORD} characters`);
  }
  // The password goes into the speaker's configuration file inside a quoted string.
  if (!/^[\x21-\x7e]+$/.test(value) || value.includes('"') || value.includes('\\')) {
    throw invalidInput('password may hold printable ASCII except spaces, quotes and backslashes');
  }
  return value;
}

/** neutron-dynamic-routing's InvalidBgpPeerMd5Authentication: md5 needs a password, none takes none. */
function checkAuth(authType: BgpAuthType, password: string | null): void {
  if (authType === 'md5' && password === null) {
    throw new SfipError('InvalidBgpPeerMd5Authentication', 400, 'auth_type md5 requires a password.');
  }
  if (authType === 'none' && password !== null) {
    throw new SfipError(
      'InvalidBgpPeerMd5Authentication',
      400,
      "A password is given with auth_type 'none': set auth_type md5 or give no password.",
    );
  }
}

export function getBgpPeer(view: View, ctx: Context, id: string): BgpPeer {
  const peer = ctx.isAdmin ? view.get('bgppeer', id) : undefined;
  if (!peer) throw notFoundError('bgppeer', id);
  return peer;
}

export function createBgpPeer(tx: Tx, ctx: Context, input: BgpPeerInput): BgpPeer {
  requireAdmin(ctx, 'create', 'bgp_peer');
  if (input.peerIp === undefined)
    throw badRequest("Failed to parse request. Required attribute 'peer_ip' not specified");
  if (input.remoteAs === undefined)
    throw badRequest("Failed to parse request. Required attribute 'remote_as' not specified");
  const peerIp = parseIPv4(input.peerIp, 'peer_ip');
  const remoteAs = parseAsn(input.remoteAs, 'remote_as');
  const authType = parseAuthType(input.authType ?? 'none');
  const password = parsePassword(input.password);
  checkAuth(authType, password);
  const peer: BgpPeer = { ...newResource(ctx, input), peerIp, remoteAs, authType, password };
  tx.put('bgppeer', peer);
  return peer;
}

/** Only the name and the password change, as in neutron-dynamic-routing. */
export function updateBgpPeer(tx: Tx, ctx: Context, id: string, input: BgpPeerInput): BgpPeer {
  const current = getBgpPeer(tx, ctx, id);
  const password = input.password === undefined ? current.password : parsePassword(input.password);
  checkAuth(current.authType, password);
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    password,
  });
  tx.put('bgppeer', next);
  return next;
}

/** Removes the peer from every speaker too, as the binding table's cascade does in Neutron. */
export function deleteBgpPeer(tx: Tx, ctx: Context, id: string): void {
  getBgpPeer(tx, ctx, id);
  for (const speaker of tx.find('bgpspeaker', bgpSpeakersOfPeerKey(id))) {
    tx.put('bgpspeaker', revise(ctx, speaker, { peerIds: speaker.peerIds.filter((p) => p !== id) }));
  }
  tx.delete('bgppeer', id);
}
