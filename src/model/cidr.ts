import { invalidInput } from './errors.js';
import { IPv4, ipv4FromUint32, ipv4ToUint32, isIPv4 } from './ipv4.js';

/** An IPv4 prefix whose address has no host bits set, e.g. `203.0.113.0/24`. */
export interface Cidr {
  readonly network: IPv4;
  readonly prefixLength: number;
}

/** Parses `a.b.c.d/n` strictly. Host bits must be zero so that the text means exactly one prefix. */
export function parseCidr(text: unknown, field = 'cidr'): Cidr {
  const value = String(text);
  const match = typeof text === 'string' ? /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(text) : null;
  const address = match?.[1];
  const length = Number(match?.[2]);
  if (!match || address === undefined || !isIPv4(address) || length > 32) {
    throw invalidInput(`'${value}' is not a valid IPv4 CIDR for ${field}: expected a.b.c.d/n with n 0-32`);
  }
  const network = ipv4FromUint32((ipv4ToUint32(address) & maskOf(length)) >>> 0);
  if (network !== address) {
    throw invalidInput(`'${value}' has host bits set for ${field}: did you mean ${network}/${length}?`);
  }
  return { network, prefixLength: length };
}

export function formatCidr(cidr: Cidr): string {
  return `${cidr.network}/${cidr.prefixLength}`;
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function firstAddress(cidr: Cidr): number {
  return ipv4ToUint32(cidr.network);
}

export function lastAddress(cidr: Cidr): number {
  return (ipv4ToUint32(cidr.network) | (~maskOf(cidr.prefixLength) >>> 0)) >>> 0;
}

export function cidrContains(cidr: Cidr, ip: IPv4): boolean {
  return (ipv4ToUint32(ip) & maskOf(cidr.prefixLength)) >>> 0 === ipv4ToUint32(cidr.network);
}

/** Network and broadcast addresses cannot be assigned, except on /31 and /32 where every address is usable. */
export function isReservedInCidr(cidr: Cidr, ip: IPv4): boolean {
  if (cidr.prefixLength >= 31) return false;
  const n = ipv4ToUint32(ip);
  return n === firstAddress(cidr) || n === lastAddress(cidr);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return firstAddress(a) <= lastAddress(b) && firstAddress(b) <= lastAddress(a);
}

export function broadcastOf(cidr: Cidr): IPv4 {
  return ipv4FromUint32(lastAddress(cidr));
}
