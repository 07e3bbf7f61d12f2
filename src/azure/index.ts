export * from './clouds.js';
export * from './credentials.js';
export * from './token-bucket.js';
export * from './budget.js';
export * from './metrics.js';
export * from './resource-type.js';
export * from './errors.js';
export * from './clients.js';
