/**
 * The spawn server's framing, both ways: `u32 length | u32 header length | header JSON | parts...`, lengths little
 * endian, the parts' lengths in the header. A program's output travels as raw bytes after a small header, not as a
 * JSON string: megabytes of `nft -j` would otherwise be escaped by the server and unescaped by the daemon.
 */

export interface Frame {
  readonly header: unknown;
  readonly parts: readonly Buffer[];
}

export function encodeFrame(header: Record<string, unknown>, parts: readonly Buffer[] = []): Buffer {
  const head = Buffer.from(JSON.stringify({ ...header, parts: parts.map((p) => p.length) }));
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(4 + head.length + parts.reduce((n, p) => n + p.length, 0), 0);
  prefix.writeUInt32LE(head.length, 4);
  return Buffer.concat([prefix, head, ...parts]);
}

/** Splits a byte stream into frames; a frame's bytes are copied together once, however many chunks it came in. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;
  /** The whole length of the frame being read (its prefix included), once its prefix has arrived. */
  private expected: number | undefined;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.expected === undefined) {
        if (this.length < 4) break;
        this.expected = 4 + this.flatten().readUInt32LE(0);
      }
      if (this.length < this.expected) break;
      const all = this.flatten();
      frames.push(decode(all.subarray(4, this.expected)));
      const rest = all.subarray(this.expected);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
      this.expected = undefined;
    }
    return frames;
  }

  private flatten(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0]!;
  }
}

function decode(body: Buffer): Frame {
  const headLength = body.readUInt32LE(0);
  const parsed: unknown = JSON.parse(body.toString('utf8', 4, 4 + headLength));
  const lengths = isRecord(parsed) && Array.isArray(parsed.parts) ? (parsed.parts as unknown[]) : [];
  const parts: Buffer[] = [];
  let at = 4 + headLength;
  for (const n of lengths) {
    if (typeof n !== 'number' || at + n > body.length) throw new Error('spawn server: a malformed frame');
    parts.push(body.subarray(at, at + n));
    at += n;
  }
  return { header: parsed, parts };
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
