import type { Etcd3 } from 'etcd3';
import type { TokenRecord, TokenStore } from '../token-store.js';
import type { KeyLayout } from './keys.js';

/**
 * API tokens in etcd, one JSON record per token under `<prefix>t/<id>`: outside the resources (`r/`), so they
 * never reach the mirror's change feed or the Neutron API. Only hashes are stored, as in SQLite.
 */
export class EtcdTokenStore implements TokenStore {
  constructor(
    private readonly client: Etcd3,
    private readonly layout: KeyLayout,
  ) {}

  private key(id: string): string {
    return this.layout.token(id);
  }

  async addToken(record: TokenRecord): Promise<void> {
    // Create only: an id that already exists is refused rather than overwritten.
    const result = await this.client
      .if(this.key(record.id), 'Create', '==', 0)
      .then(this.client.put(this.key(record.id)).value(JSON.stringify(record)))
      .commit();
    if (!result.succeeded) throw new Error(`A token with id ${record.id} already exists.`);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const text = await this.client.get(this.key(id)).string();
    return text === null ? undefined : (JSON.parse(text) as TokenRecord);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const all = await this.client.getAll().prefix(this.layout.tokenPrefix()).strings();
    return Object.values(all)
      .map((text) => JSON.parse(text) as TokenRecord)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async revokeToken(id: string): Promise<boolean> {
    const result = await this.client.delete().key(this.key(id));
    return Number(result.deleted) > 0;
  }
}
