import { Readable } from 'node:stream';

/** The largest piece of a /metrics body handed to the socket at once. */
export const BODY_PIECE_BYTES = 64 * 1024;

/**
 * A /metrics body (tens of MB at 100,000 floating IPs, in per-router buffers of hundreds of KB) as a byte stream
 * that holds at most BODY_PIECE_BYTES ahead of the socket. `Readable.from(buffers)` pushed buffers synchronously
 * and the HTTP response flushed them in one writev of megabytes: on loopback the kernel copies and delivers them
 * inside that call, and a CPU profile at 100,000 showed those writevs as the daemon's largest stalls while it was
 * scraped (API show p99 in the hundreds of ms). Pieces are views into the buffers (no copy); the socket asks for
 * the next one as it drains, so API requests are served between them.
 */
export function bodyStream(buffers: readonly Buffer[]): Readable {
  function* pieces(): Generator<Buffer> {
    for (const buffer of buffers)
      for (let at = 0; at < buffer.length; at += BODY_PIECE_BYTES)
        yield buffer.subarray(at, at + BODY_PIECE_BYTES);
  }
  return Readable.from(pieces(), { objectMode: false, highWaterMark: BODY_PIECE_BYTES });
}
