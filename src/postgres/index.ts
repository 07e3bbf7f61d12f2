// The operator's PostgreSQL layer: connections (connections.ts, hosts.ts) and the one identifier
// quoting helper (ident.ts). SQL the operator runs lives beside these modules (README.md, Layout).
export * from './ident.js';
export * from './hosts.js';
export * from './connections.js';
export * from './classify.js';
export * from './replication.js';
