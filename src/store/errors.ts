/** A store that cannot be opened or written. The message names the path and what to do about it. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}
