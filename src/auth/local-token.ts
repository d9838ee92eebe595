import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { issueToken, verifyToken } from './token.js';
import type { TokenStore } from '../store/token-store.js';
import { makeDirectories } from '../fs/make-directories.js';

/**
 * The local admin's credential. `sfip serve` makes sure one valid admin token exists and writes it to
 * STATE_DIR/admin-token and to a per-port file in the runtime directory, both readable by the owner only, so the
 * sfip CLI on the same machine finds it without configuration. Anyone who can read those files is the admin,
 * exactly as anyone who can read the state database is.
 */
export const ADMIN_TOKEN_FILE = 'admin-token';
export const LOCAL_ADMIN_PROJECT = 'admin';

export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SFIP_RUNTIME_DIR) return env.SFIP_RUNTIME_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'sfip');
  return '/run/sfip';
}

/** Where the admin token of the API listening on loopback port `port` is published. */
export function endpointTokenPath(port: number, env: NodeJS.ProcessEnv = process.env): string {
  return join(runtimeDir(env), `api-${port}.token`);
}

export function stateTokenPath(stateDir: string): string {
  return join(stateDir, ADMIN_TOKEN_FILE);
}

/** Writes a secret atomically with mode 0600 in a 0700 directory, so no reader ever sees half a token. */
export function writeSecretFile(path: string, text: string): void {
  makeDirectories(dirname(path));
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${text}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

export function readTokenFile(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Removes a published token only if it is still ours: another server may have taken the port since. */
export function unpublishToken(path: string, token: string): void {
  if (readTokenFile(path) === token) rmSync(path, { force: true });
}

export interface LocalAdminToken {
  readonly token: string;
  readonly path: string;
  readonly created: boolean;
}

/** Reuses the admin token in STATE_DIR/admin-token while it is valid, otherwise issues and writes a new one. */
export async function ensureLocalAdminToken(tokens: TokenStore, stateDir: string): Promise<LocalAdminToken> {
  const path = stateTokenPath(stateDir);
  const existing = readTokenFile(path);
  if (existing !== undefined) {
    const record = await verifyToken(tokens, existing);
    if (record?.isAdmin) return { token: existing, path, created: false };
  }
  const issued = await issueToken(tokens, {
    projectId: LOCAL_ADMIN_PROJECT,
    isAdmin: true,
    description: 'local admin (written by sfip serve)',
  });
  writeSecretFile(path, issued.token);
  return { token: issued.token, path, created: true };
}
