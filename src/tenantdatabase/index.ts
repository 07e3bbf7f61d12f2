// Questions about a TenantDatabase, answered once for every controller (as CloudNativePG's
// api/v1/*_funcs.go): its parsed spec and status (view.ts), which server and how to reach it
// (server.ts), which Secrets it reads (secrets.ts), which objects name it (referrers.ts) and which
// BackupPolicy owns its backup retention (backup-owner.ts).
export * from './view.js';
export * from './server.js';
export * from './secrets.js';
export * from './referrers.js';
export * from './backup-owner.js';
export * from './tenancy.js';
export * from './promotion.js';
