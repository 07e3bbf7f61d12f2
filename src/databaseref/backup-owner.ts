// Moved to src/tenantdatabase/backup-owner.ts. A thin re-export for the BackupPolicy controller until it
// imports from there.
export { BACKUP_POLICIES, backupPolicyOwning } from '../tenantdatabase/backup-owner.js';
