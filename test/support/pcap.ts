/**
 * Just enough pcap reading to check what a test captured with tcpdump: Ethernet + IPv4 packets, with
 * one's-complement checksums recomputed from the bytes, so a test sees whether each checksum is right.
 */
export interface Ipv4View {
  readonly bytes: Buffer;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly headerLength: number;
  /** The IP header checksum is right. */
  readonly headerChecksumOk: boolean;
  readonly payload: Buffer;
}

/** Packets of a pcap file (link type Ethernet), each as its IPv4 part; other frames are skipped. */
export function readPcap(file: Buffer): Ipv4View[] {
  const magic = file.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a little-endian pcap file');
  const out: Ipv4View[] = [];
  for (let at = 24; at + 16 <= file.length;) {
    const captured = file.readUInt32LE(at + 8);
    const frame = file.subarray(at + 16, at + 16 + captured);
    at += 16 + captured;
    if (frame.length >= 34 && frame.readUInt16BE(12) === 0x0800) out.push(ipv4(frame.subarray(14)));
  }
  return out;
}

export function ipv4(bytes: Buffer): Ipv4View {
  const headerLength = (bytes[0]! & 0x0f) * 4;
  const total = bytes.readUInt16BE(2);
  return {
    bytes,
    src: [...bytes.subarray(12, 16)].join('.'),
    dst: [...bytes.subarray(16, 20)].join('.'),
    protocol: bytes[9]!,
    headerLength,
    headerChecksumOk: onesComplementSum(bytes.subarray(0, headerLength)) === 0xffff,
    payload: bytes.subarray(headerLength, Math.min(total, bytes.length)),
  };
}

export function onesComplementSum(...parts: Buffer[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i + 1 < part.length; i += 2) sum += part.readUInt16BE(i);
    if (part.length % 2) sum += part[part.length - 1]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** TCP or UDP checksum over the pseudo-header; a UDP checksum of zero means "none" and counts as right. */
export function transportChecksumOk(ip: Ipv4View): boolean {
  if (ip.protocol === 17 && ip.payload.readUInt16BE(6) === 0) return true;
  const pseudo = Buffer.alloc(12);
  ip.bytes.copy(pseudo, 0, 12, 20);
  pseudo[9] = ip.protocol;
  pseudo.writeUInt16BE(ip.payload.length, 10);
  return onesComplementSum(pseudo, ip.payload) === 0xffff;
}

/** ICMP's checksum has no pseudo-header: it covers the ICMP message, including any quoted packet. */
export function icmpChecksumOk(ip: Ipv4View): boolean {
  return onesComplementSum(ip.payload) === 0xffff;
}

/** The packet quoted by an ICMP error (after the 8-byte ICMP header). */
export function quoted(ip: Ipv4View): Ipv4View {
  return ipv4(ip.payload.subarray(8));
}
