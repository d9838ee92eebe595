export * from './routes.js';
export * from './state.js';
export * from './state-types.js';
export * from './token.js';
