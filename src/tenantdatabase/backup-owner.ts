// Which BackupPolicy governs a TenantDatabase's backups (retention, schedules, drills): THE rule, for
// every controller that asks: the oldest policy naming the database that is not being deleted, by
// creationTimestamp, then by name. The TenantDatabase controller says in status which policy owns
// backup retention (and stops writing it); the BackupPolicy controller lets only that one act.
import { resourceOf } from '../api/resources.js';
import { isBeingDeleted } from '../runtime/finalizers.js';
import type { KubeObject } from '../runtime/kubeclient.js';
import type { Manager } from '../runtime/manager.js';
import { objectsReferring } from './referrers.js';

export const BACKUP_POLICIES = resourceOf('BackupPolicy');

export function backupPolicyOwning(mgr: Manager, namespace: string | undefined, database: string): KubeObject | undefined {
  const named = objectsReferring(mgr, BACKUP_POLICIES, namespace, database).filter((p) => !isBeingDeleted(p));
  named.sort((a, b) => String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) || a.metadata.name.localeCompare(b.metadata.name));
  return named[0];
}

/** Name of the BackupPolicy that owns backup retention of TenantDatabase `database`, if any. */
export function backupRetentionOwner(mgr: Manager, namespace: string | undefined, database: string): string | undefined {
  return backupPolicyOwning(mgr, namespace, database)?.metadata.name;
}
