export * from './auth.js';
export * from './server.js';
