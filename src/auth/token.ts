import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidInput } from '../model/index.js';
import type { TokenRecord, TokenStore } from '../store/token-store.js';

/**
 * Token text is `sfip_<id>_<secret>`: 16 hex digits of public id, then 32 random bytes in base64url. Only the
 * id is indexed; the secret's SHA-256 is compared in constant time. A slow password hash buys nothing here:
 * the secret has 256 bits of entropy, so the stored hash cannot be brute-forced.
 */
const TOKEN = /^sfip_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Project ids as Keystone would accept them, restricted to what is safe in a URL, a log line and a file name. */
const PROJECT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function parseProjectId(text: unknown): string {
  if (typeof text !== 'string' || !PROJECT.test(text)) {
    throw invalidInput(
      `'${String(text)}' is not a valid project id: expected 1-64 characters from A-Z a-z 0-9 _ . - starting with a letter or digit`,
    );
  }
  return text;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export interface IssueOptions {
  readonly projectId: string;
  readonly isAdmin: boolean;
  readonly description?: string;
  /** Lifetime in milliseconds; omitted means the token never expires. */
  readonly ttlMs?: number;
  readonly now?: Date;
}

export interface IssuedToken {
  /** The token text. It is shown once and never stored. */
  readonly token: string;
  readonly record: TokenRecord;
}

export async function issueToken(store: TokenStore, options: IssueOptions): Promise<IssuedToken> {
  const projectId = parseProjectId(options.projectId);
  const now = options.now ?? new Date();
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    secretHash: hashSecret(secret),
    projectId,
    isAdmin: options.isAdmin,
    description: options.description ?? '',
    createdAt: now.toISOString(),
    expiresAt: options.ttlMs === undefined ? null : new Date(now.getTime() + options.ttlMs).toISOString(),
  };
  await store.addToken(record);
  return { token: `sfip_${id}_${secret}`, record };
}

/** Compared against when the id is unknown, so that a miss costs the same hash and compare as a hit. */
const DECOY_HASH = hashSecret('sfip decoy');

/** The token's record when the text is a valid, unexpired token; undefined otherwise. */
export async function verifyToken(
  store: TokenStore,
  text: string,
  now = new Date(),
): Promise<TokenRecord | undefined> {
  const match = TOKEN.exec(text);
  if (!match) return undefined;
  const [, id, secret] = match as unknown as [string, string, string];
  const record = await store.getToken(id);
  const expected = Buffer.from(record?.secretHash ?? DECOY_HASH, 'hex');
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const same = expected.length === actual.length && timingSafeEqual(expected, actual);
  if (!record || !same) return undefined;
  if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now.getTime()) return undefined;
  return record;
}

/** The public id of a token text, for `sfip token revoke` given the whole token. */
export function tokenIdOf(text: string): string | undefined {
  return TOKEN.exec(text)?.[1];
}
