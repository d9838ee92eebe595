export * from './chains.js';
export * from './iptables-backend.js';
export * from './parse.js';
export * from './render.js';
export * from './rules.js';
export * from './state.js';
