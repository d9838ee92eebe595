export * from './lab.js';
export * from './namespaces.js';
export * from './probe-client.js';
export * from './register.js';
export * from './topology.js';
