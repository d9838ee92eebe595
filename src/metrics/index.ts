export * from './observer.js';
export * from './prometheus.js';
export * from './readiness.js';
export * from './reconcile-history.js';
export * from './routes.js';
export * from './exposition.js';
export * from './floating-ip-index.js';
