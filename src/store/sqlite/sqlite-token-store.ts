import type Database from 'better-sqlite3';
import type { TokenRecord, TokenStore } from '../token-store.js';

interface TokenRow {
  id: string;
  secret_hash: string;
  project_id: string;
  is_admin: number;
  description: string;
  created_at: string;
  expires_at: string | null;
}

const fromRow = (row: TokenRow): TokenRecord => ({
  id: row.id,
  secretHash: row.secret_hash,
  projectId: row.project_id,
  isAdmin: row.is_admin === 1,
  description: row.description,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

/** Tokens in the state database's `tokens` table (migration 2), beside the resources but outside the change feed. */
export class SqliteTokenStore implements TokenStore {
  private readonly stmt;

  constructor(db: Database.Database) {
    this.stmt = {
      add: db.prepare(
        'INSERT INTO tokens (id, secret_hash, project_id, is_admin, description, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      get: db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?'),
      list: db.prepare<[], TokenRow>('SELECT * FROM tokens ORDER BY created_at, id'),
      revoke: db.prepare('DELETE FROM tokens WHERE id = ?'),
    };
  }

  async addToken(r: TokenRecord): Promise<void> {
    this.stmt.add.run(
      r.id,
      r.secretHash,
      r.projectId,
      r.isAdmin ? 1 : 0,
      r.description,
      r.createdAt,
      r.expiresAt,
    );
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.stmt.get.get(id);
    return row && fromRow(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.stmt.list.all().map(fromRow);
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.stmt.revoke.run(id).changes > 0;
  }
}
