export * from './agent.js';
export * from './lease-fence.js';
export * from './node-agent.js';
export * from './router-reconciler.js';
export * from './scheduler.js';
