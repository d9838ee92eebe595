export * from './agent.js';
export * from './router-reconciler.js';
