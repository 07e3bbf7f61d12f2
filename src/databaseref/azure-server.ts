// Moved to src/tenantdatabase/ (server.ts, referrers.ts) and src/runtime/reconcile-kit.ts. A thin
// re-export for the BackupPolicy and AlertRuleSet controllers until they import from there.
import { resourceOf } from '../api/resources.js';

export const TENANT_DATABASES = resourceOf('TenantDatabase');
export { SECRETS, redact } from '../runtime/reconcile-kit.js';
export { lookupAzureServer, type AzureServerRef, type ServerLookup } from '../tenantdatabase/server.js';
export { DATABASE_REF_INDEX, indexDatabaseRef, referrersOf } from '../tenantdatabase/referrers.js';
