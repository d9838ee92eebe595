export * from './local-token.js';
export * from './token.js';
