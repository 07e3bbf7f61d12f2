// The BackupPolicy controller. For a TenantDatabase on Azure it is the one writer of the server's
// backup retention (a recorded PATCH only when it differs), checks geo-redundancy (fixed at creation,
// so a mismatch is reported, not fixed), takes on-demand backups on a UTC schedule (one catch-up after
// downtime, `keep` of its own kept, nobody else's touched), and runs restore drills (drill.ts) whose
// state lives in status. Every ARM call goes through src/azure/arm: the server comes from its resource
// group's shared list (+1 list of backups per pass when on-demand backups are on); a converged policy
// writes nothing, to Kubernetes or Azure.
//
// This file: registration and watches. reconcile.ts: the pass and its ordered steps (retention.ts,
// restore-drill.ts, on-demand.ts); status.ts: the status write.
import { KINDS } from '../../src/api/kinds.js';
import { SECRETS, requestFor } from '../../src/runtime/reconcile-kit.js';
import { TENANT_DATABASES, databaseRefOf, objectsReferring, referrersOf, tenantDatabasesUsingSecret } from '../../src/tenantdatabase/index.js';
import { FINALIZER, resourceOf } from '../../src/api/resources.js';
import type { Request } from '../../src/runtime/controller.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { DRILL_TAG } from './drill.js';
import { RUN_BACKUP_ANNOTATION } from './on-demand.js';
import { backupPolicyReconciler } from './reconcile.js';
import { RUN_DRILL_ANNOTATION } from './restore-drill.js';

export { DRILL_TAG, FINALIZER, RUN_BACKUP_ANNOTATION, RUN_DRILL_ANNOTATION };
const RESOURCE = resourceOf('BackupPolicy');

export function registerBackupPolicyController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS): void {
  mgr.addController({
    name: KINDS.BackupPolicy.singular,
    resource: RESOURCE,
    reconcile: backupPolicyReconciler(mgr, settings),
    watches: [
      { resource: TENANT_DATABASES, map: referrersOf(mgr, RESOURCE) },
      // The TenantDatabase's credentials and administrator password Secrets.
      { resource: SECRETS, map: (s) => secretReferrers(mgr, s) },
      // A policy that goes away hands its database to the next one naming it.
      { resource: RESOURCE, map: (p) => otherPoliciesOfDatabase(mgr, p) },
    ],
  });
}

function otherPoliciesOfDatabase(mgr: Manager, p: KubeObject): Request[] {
  const db = databaseRefOf(p);
  if (!db) return [];
  return objectsReferring(mgr, RESOURCE, p.metadata.namespace, db)
    .filter((o) => o.metadata.name !== p.metadata.name)
    .map(requestFor);
}

/** A Secret → the policies of the TenantDatabases that read it (credentials, administrator password). */
function secretReferrers(mgr: Manager, secret: KubeObject): Request[] {
  return tenantDatabasesUsingSecret(mgr, secret.metadata.namespace, secret.metadata.name).flatMap(referrersOf(mgr, RESOURCE));
}
