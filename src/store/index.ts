export * from './errors.js';
export * from './open-store.js';
export * from './sqlite/sqlite-store.js';
export * from './etcd/etcd-store.js';
export * from './etcd/store-spec.js';
export * from './store.js';
