export * from './counters.js';
export * from './options.js';
export * from './tc-backend.js';
