export * from './bpftool.js';
export * from './checks.js';
export * from './ebpf-backend.js';
export * from './options.js';
export * from './state.js';
export * from './values.js';
