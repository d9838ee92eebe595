/**
 * An API token as stored: never the secret itself, only its SHA-256. The id is the public half of the token text
 * and the lookup key; the secret half is checked against `secretHash` in constant time.
 */
export interface TokenRecord {
  readonly id: string;
  readonly secretHash: string;
  readonly projectId: string;
  readonly isAdmin: boolean;
  readonly description: string;
  readonly createdAt: string;
  /** ISO time after which the token is refused; null never expires. */
  readonly expiresAt: string | null;
}

/**
 * Where tokens live. The SQLite store keeps them in its own table; an etcd store implements the same four calls
 * under its own key prefix. Tokens are not resources: they never appear in the change feed or the Neutron API.
 */
export interface TokenStore {
  addToken(record: TokenRecord): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** True when a token was removed. */
  revokeToken(id: string): Promise<boolean>;
}
