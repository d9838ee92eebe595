import { randomBytes } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * A version 7 UUID: 48 bits of Unix milliseconds, a 12-bit sequence within the millisecond, 62 random bits.
 * Clients see an ordinary UUID, as Neutron's type:uuid expects. Because ids grow with time, a new resource's
 * rows land at the end of every id-ordered index in the store instead of on a random page: a group commit of
 * 30 floating IPs then writes a handful of pages rather than hundreds, and id order is creation order.
 */
export function newResourceId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = randomBytes(2).readUInt16BE(0) & 0x3ff;
  } else if (++sequence > 0xfff) {
    // More than ~3,000 ids in one millisecond: borrow the next millisecond so that order holds.
    lastMs++;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
