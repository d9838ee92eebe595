import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BODY_PIECE_BYTES, bodyStream } from '../../src/metrics/body-stream.js';

it('streams a /metrics body in pieces of at most 64 KiB, whole and in order', async () => {
  // Buffers as the exposition renders them: some far larger than a piece, some smaller, one empty.
  const buffers = [
    Buffer.alloc(3 * BODY_PIECE_BYTES + 17, 'a'),
    Buffer.from('# HELP x\n'),
    Buffer.alloc(0),
    Buffer.alloc(BODY_PIECE_BYTES * 2, 'b'),
  ];
  const pieces: Buffer[] = [];
  // Flowing, as a response pipes it to the socket: each piece as it is pushed.
  const stream = bodyStream(buffers);
  stream.on('data', (piece: Buffer) => pieces.push(piece));
  await new Promise((resolve) => stream.on('end', resolve));
  assert.ok(
    pieces.every((p) => p.length <= BODY_PIECE_BYTES),
    `largest piece ${Math.max(...pieces.map((p) => p.length))} bytes`,
  );
  assert.ok(Buffer.concat(pieces).equals(Buffer.concat(buffers)));
});
