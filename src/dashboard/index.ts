export * from './format.js';
export * from './rates.js';
export * from './routes.js';
export * from './state.js';
export * from './state-types.js';
export * from './token.js';
