// The operator's Azure client layer: one factory for the SDK clients (clients.ts), the credential
// sources (credentials.ts), the per-subscription ARM request budget (budget.ts over token-bucket.ts),
// request metrics (metrics.ts, labels from resource-type.ts) and the classification of ARM errors for
// resource conditions (errors.ts).
export * from './clouds.js';
export * from './credentials.js';
export * from './token-bucket.js';
export * from './budget.js';
export * from './metrics.js';
export * from './resource-type.js';
export * from './errors.js';
export * from './clients.js';
export * from './provider.js';
export * from './databases.js';
