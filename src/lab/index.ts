export * from './etcd-server.js';
export * from './lab.js';
export * from './multinode.js';
export * from './multinode-harness.js';
export * from './namespaces.js';
export * from './probe-client.js';
export * from './register.js';
export * from './topology.js';
