export * from './common/conntrack.js';
export * from './common/garp.js';
export * from './common/gateway-addresses.js';
export * from './desired.js';
export * from './fake/fake-dataplane.js';
export * from './nftables/nftables-backend.js';
export * from './registry.js';
export * from './types.js';
