// Moved to src/tenantdatabase/server.ts (adminTarget). A thin re-export for the BackupPolicy drill and
// its test until they import from there.
export { adminTarget as adminTargetForTenantDatabase, type AdminTargetResult, type SecretValueFn, type TenantDatabaseLike } from '../tenantdatabase/server.js';
