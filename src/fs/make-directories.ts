import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p` with a mode, one level at a time. Node 20's recursive mkdirSync never returns when the kernel answers
 * ENOENT for a parent that exists (a path under /proc or /sys): it retries the same parent forever. Every directory
 * sfip creates from a configured path goes through here, so a bad path is an error instead of a hang.
 */
export function makeDirectories(dir: string, mode = 0o700): void {
  const path = resolve(dir);
  if (existsSync(path)) return;
  const parent = dirname(path);
  if (parent !== path) makeDirectories(parent, mode);
  mkdirSync(path, { mode });
}
