import { EventEmitter } from 'node:events';
import type { FloatingIpStatusPatch, Tx, View } from '../model/index.js';
import type { ChangeBatch, ChangesOptions, Store } from '../store/index.js';

/**
 * The store as the agent in the primary sees it when API workers write: `onChange` also fires on `wake()`, which
 * the primary calls when a worker says it committed. The wake carries nothing; the agent reads the change feed
 * from its last sequence number, so a lost or merged wake costs only the agent's next poll.
 */
export class WokenStore implements Store {
  private readonly wakes = new EventEmitter();

  constructor(private readonly inner: Store) {
    this.wakes.setMaxListeners(0);
  }

  get description(): string {
    return this.inner.description;
  }

  get tokens(): Store['tokens'] {
    return this.inner.tokens;
  }

  read<T>(fn: (view: View) => T): Promise<T> {
    return this.inner.read(fn);
  }

  update<T>(fn: (tx: Tx) => T): Promise<T> {
    return this.inner.update(fn);
  }

  updateStatuses(
    kind: 'floatingip',
    patches: readonly FloatingIpStatusPatch[],
    updatedAt: string,
  ): Promise<number> {
    return this.inner.updateStatuses(kind, patches, updatedAt);
  }

  changesSince(seq: number, limit?: number, options?: ChangesOptions): Promise<ChangeBatch> {
    return this.inner.changesSince(seq, limit, options);
  }

  onChange(listener: () => void): () => void {
    const off = this.inner.onChange(listener);
    this.wakes.on('wake', listener);
    return () => {
      off();
      this.wakes.off('wake', listener);
    };
  }

  wake(): void {
    this.wakes.emit('wake');
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
