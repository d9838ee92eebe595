import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectories } from '../fs/make-directories.js';

export const TOKEN_FILE = 'dashboard-token';
const MIN_LENGTH = 16;

export interface DashboardToken {
  readonly token: string;
  /** Where the token was written or read, or null when it came from the command line or environment. */
  readonly path: string | null;
}

/** Refuses tokens too short to resist guessing, naming the problem but never echoing the secret. */
export function checkTokenText(token: string, source: string): string {
  if (token.length < MIN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
    throw new Error(
      `The dashboard token from ${source} is not usable: it needs at least ${MIN_LENGTH} printable characters without spaces.`,
    );
  }
  return token;
}

/**
 * The token that guards the dashboard's data: the configured one, else the one in STATE_DIR/dashboard-token,
 * else a new random one written there (mode 0600), so it survives restarts and bookmarks keep working.
 */
export function loadDashboardToken(stateDir: string, configured?: string): DashboardToken {
  if (configured !== undefined) return { token: checkTokenText(configured, '--dashboard-token'), path: null };
  const path = join(stateDir, TOKEN_FILE);
  try {
    return { token: checkTokenText(readFileSync(path, 'utf8').trim(), path), path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(24).toString('base64url');
  makeDirectories(stateDir);
  writeFileSync(path, token + '\n', { mode: 0o600, flag: 'wx' });
  return { token, path };
}

/** Reads a bearer token from `Authorization: Bearer T` or `X-Auth-Token: T` (the Keystone header). */
export function presentedToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers['authorization'];
  if (typeof auth === 'string' && /^Bearer /i.test(auth)) return auth.slice(7).trim();
  const keystone = headers['x-auth-token'];
  return typeof keystone === 'string' ? keystone : undefined;
}

/**
 * Compares in time independent of where, or whether, the texts differ: both are hashed to 32 bytes first, so
 * neither a length mismatch nor a common prefix answers sooner (a comparison that returns early on length tells
 * an attacker the token's length; one that stops at the first difference, its characters one by one).
 */
export function sameToken(presented: string | undefined, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const equal = timingSafeEqual(digest(presented ?? ''), digest(expected));
  return presented !== undefined && equal;
}
