import { ipv4ToUint32, isIPv4 } from '../../model/index.js';

/**
 * Map keys and values hold IPv4 addresses in network byte order, as they sit in the IP header. This runs for
 * every entry of a 100,000-entry batch: the model's scans by character (no split into four strings per address,
 * no regex); the addresses were validated when they entered the store (or came out of the kernel), and anything
 * but canonical dotted-quad text is still refused.
 */
export function addressBytes(ip: string, out: Buffer = Buffer.allocUnsafe(4), offset = 0): Buffer {
  if (!isIPv4(ip)) throw notAddress(ip);
  out.writeUInt32BE(ipv4ToUint32(ip), offset);
  return out;
}

const notAddress = (ip: string) => new Error(`'${ip}' is not a dotted-quad IPv4 address`);

/** Many texts written back to back, `size` bytes each, in one buffer (what the update batches take). */
function backToBack(
  texts: readonly string[],
  size: number,
  write: (text: string, out: Buffer, offset: number) => unknown,
): Buffer {
  const all = Buffer.allocUnsafe(size * texts.length);
  for (let i = 0; i < texts.length; i++) write(texts[i]!, all, size * i);
  return all;
}

/** Many addresses back to back in one buffer of 4-byte keys. */
export const addressBuffer = (ips: readonly string[]): Buffer => backToBack(ips, 4, addressBytes);

/** Many addresses as one buffer of 4-byte keys, and a view per key (what the delete batches take). */
export function addressKeys(ips: readonly string[]): Buffer[] {
  const all = Buffer.allocUnsafe(4 * ips.length);
  return ips.map((ip, i) => addressBytes(ip, all, 4 * i).subarray(4 * i, 4 * i + 4));
}

export function addressText(bytes: Buffer, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** struct router_config in bpf/sfip_nat.c. */
export interface RouterConfig {
  readonly gatewayIp: string;
  readonly untrackMark: number;
  readonly hairpinMark: number;
  readonly antiSpoofing: boolean;
  /** The router has port forwardings: the programs look them up only then. */
  readonly portForwarding: boolean;
  /** Forward eligible packets past the stack (the router's option, and only with the fast-path object). */
  readonly fastPath: boolean;
  /** ifindex of the gateway device in the router's namespace: where outbound fast-path packets may go. */
  readonly gatewayIfindex: number;
}

/** CONFIG_ANTI_SPOOFING, CONFIG_PORT_FORWARDING and CONFIG_FAST_PATH in bpf/sfip_nat.c. */
const ANTI_SPOOFING = 1;
const PORT_FORWARDING = 2;
const FAST_PATH = 4;

export function encodeConfig(config: RouterConfig): Buffer {
  const out = Buffer.alloc(20);
  addressBytes(config.gatewayIp).copy(out, 0);
  // Marks are compared with skb->mark, a host-order u32 (little-endian on every machine sfip supports).
  out.writeUInt32LE(config.untrackMark >>> 0, 4);
  out.writeUInt32LE(config.hairpinMark >>> 0, 8);
  out.writeUInt32LE(
    (config.antiSpoofing ? ANTI_SPOOFING : 0) |
      (config.portForwarding ? PORT_FORWARDING : 0) |
      (config.fastPath ? FAST_PATH : 0),
    12,
  );
  out.writeUInt32LE(config.gatewayIfindex >>> 0, 16);
  return out;
}

export function decodeConfig(bytes: Buffer): RouterConfig {
  return {
    gatewayIp: addressText(bytes, 0),
    untrackMark: bytes.readUInt32LE(4),
    hairpinMark: bytes.readUInt32LE(8),
    antiSpoofing: (bytes.readUInt32LE(12) & ANTI_SPOOFING) !== 0,
    portForwarding: (bytes.readUInt32LE(12) & PORT_FORWARDING) !== 0,
    fastPath: (bytes.readUInt32LE(12) & FAST_PATH) !== 0,
    gatewayIfindex: bytes.length >= 20 ? bytes.readUInt32LE(16) : 0,
  };
}

export function sameConfig(a: RouterConfig, b: RouterConfig): boolean {
  return (
    a.gatewayIp === b.gatewayIp &&
    a.untrackMark === b.untrackMark &&
    a.hairpinMark === b.hairpinMark &&
    a.antiSpoofing === b.antiSpoofing &&
    a.portForwarding === b.portForwarding &&
    a.fastPath === b.fastPath &&
    a.gatewayIfindex === b.gatewayIfindex
  );
}

/** struct fip_counters in bpf/sfip_nat.c, summed over CPUs. */
export interface FipCounters {
  readonly inPackets: bigint;
  readonly inBytes: bigint;
  readonly outPackets: bigint;
  readonly outBytes: bigint;
}

/** Sums a per-CPU value: the kernel hands one 8-byte-aligned copy per possible CPU. */
export function sumCounters(perCpu: Buffer, valueSize = 32): FipCounters {
  let inPackets = 0n;
  let inBytes = 0n;
  let outPackets = 0n;
  let outBytes = 0n;
  for (let at = 0; at + valueSize <= perCpu.length; at += valueSize) {
    inPackets += perCpu.readBigUInt64LE(at);
    inBytes += perCpu.readBigUInt64LE(at + 8);
    outPackets += perCpu.readBigUInt64LE(at + 16);
    outBytes += perCpu.readBigUInt64LE(at + 24);
  }
  return { inPackets, inBytes, outPackets, outBytes };
}

/** struct port_mac: the six bytes of a MAC and two of padding. */
export function macBytes(mac: string, out: Buffer = Buffer.alloc(8), offset = 0): Buffer {
  // By hand, as addressBytes: not a regex per octet, an array and a Buffer per MAC, 100,000 times per converge.
  if (mac.length !== 17) throw notMac(mac);
  for (let i = 0; i < 6; i++) {
    const at = 3 * i;
    if (i > 0 && mac.charCodeAt(at - 1) !== COLON) throw notMac(mac);
    const high = hexDigit(mac.charCodeAt(at));
    const low = hexDigit(mac.charCodeAt(at + 1));
    if (high < 0 || low < 0) throw notMac(mac);
    out[offset + i] = high * 16 + low;
  }
  out[offset + 6] = 0;
  out[offset + 7] = 0;
  return out;
}

/** Many MACs back to back in one buffer of struct port_mac. */
export const macBuffer = (macs: readonly string[]): Buffer => backToBack(macs, 8, macBytes);

/** Many MACs as views into one buffer of struct port_mac. */
export function macValues(macs: readonly string[]): Buffer[] {
  const all = Buffer.alloc(8 * macs.length);
  return macs.map((mac, i) => macBytes(mac, all, 8 * i).subarray(8 * i, 8 * i + 8));
}

const COLON = 58;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

const notMac = (mac: string) => new Error(`'${mac}' is not a MAC address`);

export function macText(bytes: Buffer, offset = 0): string {
  const h = (i: number) => HEX_BYTES[bytes[offset + i]!]!;
  return `${h(0)}:${h(1)}:${h(2)}:${h(3)}:${h(4)}:${h(5)}`;
}

/** "00" to "ff": a MAC's text without a string per byte per read (100,000 per full read). */
const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** struct net_key for the LPM trie: prefix length (host order), then the network address. */
export function netKey(cidr: string): Buffer {
  const [address, length] = cidr.split('/');
  const out = Buffer.alloc(8);
  out.writeUInt32LE(Number(length), 0);
  addressBytes(address ?? '', out, 4);
  return out;
}

export function netText(key: Buffer): string {
  return `${addressText(key, 4)}/${key.readUInt32LE(0)}`;
}

const PROTOCOLS: Readonly<Record<string, number>> = { tcp: 6, udp: 17 };
const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp' };

/** struct pf_key: "203.0.113.11 tcp 2222" as address, port (network order), protocol number, pad. */
export function pfKeyBytes(text: string, out: Buffer = Buffer.alloc(8), offset = 0): Buffer {
  const [address, protocol, port] = text.split(' ');
  const number = PROTOCOLS[protocol ?? ''];
  if (number === undefined) throw new Error(`'${text}' names no protocol the programs forward (tcp, udp)`);
  addressBytes(address ?? '', out, offset);
  out.writeUInt16BE(Number(port), offset + 4);
  out[offset + 6] = number;
  out[offset + 7] = 0;
  return out;
}

/** Many pf_key texts as views into one buffer. */
export function pfKeys(texts: readonly string[]): Buffer[] {
  const all = Buffer.alloc(8 * texts.length);
  return texts.map((t, i) => pfKeyBytes(t, all, 8 * i).subarray(8 * i, 8 * i + 8));
}

export function pfKeyText(bytes: Buffer): string {
  const protocol = PROTOCOL_NAMES[bytes[6] ?? 0] ?? `proto-${bytes[6]}`;
  return `${addressText(bytes, 0)} ${protocol} ${bytes.readUInt16BE(4)}`;
}

/** struct pf_val: "10.0.0.12 22" as address, port (network order), pad. */
export function pfValueBytes(text: string, out: Buffer = Buffer.alloc(8), offset = 0): Buffer {
  const [address, port] = text.split(' ');
  addressBytes(address ?? '', out, offset);
  out.writeUInt16BE(Number(port), offset + 4);
  out.writeUInt16BE(0, offset + 6);
  return out;
}

export function pfValues(texts: readonly string[]): Buffer[] {
  const all = Buffer.alloc(8 * texts.length);
  return texts.map((t, i) => pfValueBytes(t, all, 8 * i).subarray(8 * i, 8 * i + 8));
}

export function pfValueText(bytes: Buffer): string {
  return `${addressText(bytes, 0)} ${bytes.readUInt16BE(4)}`;
}
