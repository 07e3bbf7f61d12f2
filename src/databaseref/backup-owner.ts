// Which BackupPolicy governs a TenantDatabase's backups (retention, schedules, drills): the oldest one
// naming it, then by name. Shared so the TenantDatabase controller can say in its status which policy
// owns backup retention (and stop writing it) without importing the BackupPolicy controller.
import { API_GROUP, API_VERSION, KINDS } from '../api/kinds.js';
import { isBeingDeleted } from '../runtime/finalizers.js';
import type { KubeObject, ResourceRef } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import { DATABASE_REF_INDEX, indexDatabaseRef } from './azure-server.js';

export const BACKUP_POLICIES: ResourceRef = { group: API_GROUP, version: API_VERSION, plural: KINDS.BackupPolicy.plural };

export function backupPolicyOwning(mgr: Manager, namespace: string | undefined, database: string): KubeObject | undefined {
  indexDatabaseRef(mgr, BACKUP_POLICIES);
  const named = mgr.byIndex(BACKUP_POLICIES, DATABASE_REF_INDEX, namespace, database).filter((p) => !isBeingDeleted(p));
  named.sort((a, b) => String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) || a.metadata.name.localeCompare(b.metadata.name));
  return named[0];
}
