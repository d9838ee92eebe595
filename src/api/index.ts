export * from './auth.js';
export * from './server.js';
export * from './audit-log.js';
export * from './rate-limit.js';
export * from './public-url.js';
export * from './json-body.js';
export * from './refusal-limit.js';
export { validatorsOf, type LazyValidators } from './lazy-validation.js';
