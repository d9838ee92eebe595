/**
 * What the daemon and its spawn server say to each other (frames.ts carries it). The server answers each request
 * once, in any order; its first frame says it is ready, before which the daemon starts programs itself
 * (see spawn-client.ts).
 */
import { isRecord, type Frame } from './frames.js';

export interface SpawnRequest {
  readonly id: number;
  /** The whole command line (commandLine's); the server puts DIE_WITH_PARENT before it. */
  readonly argv: readonly string[];
  readonly timeoutMs?: number;
  /**
   * A large input's unlinked file, as the daemon's /proc/PID/fd/N: the server opens its own descriptor of it. Absent:
   * the input is the frame's one part, written into a pipe.
   */
  readonly inputPath?: string;
}

export type SpawnReply =
  | { readonly id: number; readonly code: number | null; readonly signal: string | null }
  | { readonly id: number; readonly error: string };

export const READY = { ready: true } as const;

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

export function parseRequest(frame: Frame): { request: SpawnRequest; input: Buffer } {
  const h = frame.header;
  if (
    !isRecord(h) ||
    typeof h.id !== 'number' ||
    !isStrings(h.argv) ||
    h.argv.length === 0 ||
    (h.timeoutMs !== undefined && typeof h.timeoutMs !== 'number') ||
    (h.inputPath !== undefined && typeof h.inputPath !== 'string')
  ) {
    throw new Error('spawn server: not a request');
  }
  const request: SpawnRequest = {
    id: h.id,
    argv: h.argv,
    ...(typeof h.timeoutMs === 'number' && { timeoutMs: h.timeoutMs }),
    ...(typeof h.inputPath === 'string' && { inputPath: h.inputPath }),
  };
  return { request, input: frame.parts[0] ?? Buffer.alloc(0) };
}

/** A reply, with the program's stdout and stderr as the frame's parts; null for the ready frame. */
export function parseReply(frame: Frame): { reply: SpawnReply; stdout: Buffer; stderr: Buffer } | null {
  const h = frame.header;
  if (isRecord(h) && h.ready === true) return null;
  if (isRecord(h) && typeof h.id === 'number') {
    if (typeof h.error === 'string') return { reply: { id: h.id, error: h.error }, ...NO_OUTPUT };
    if (
      (h.code === null || typeof h.code === 'number') &&
      (h.signal === null || typeof h.signal === 'string') &&
      frame.parts.length === 2
    ) {
      return {
        reply: { id: h.id, code: h.code, signal: h.signal },
        stdout: frame.parts[0]!,
        stderr: frame.parts[1]!,
      };
    }
  }
  throw new Error('spawn server: not a reply');
}

const NO_OUTPUT = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
