// The TenantDatabase controller: registration and watches. The reconcile (the parts in order, Ready
// composed from their conditions) is reconcile.ts; the parts are server-azure.ts, server-external.ts,
// database/ and tenancy/; what other controllers ask about a TenantDatabase is src/tenantdatabase/.
import { KINDS } from '../../src/api/kinds.js';
import { migrationSpecSchema } from '../../src/api/migration.js';
import { resourceOf } from '../../src/api/resources.js';
import type { Request } from '../../src/runtime/controller.js';
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Manager } from '../../src/runtime/manager.js';
import { requestFor, SECRETS, specOf } from '../../src/runtime/reconcile-kit.js';
import { selectorMatches } from '../../src/runtime/selectors.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { databaseRefOf, indexSecretRefs, tenantDatabasesUsingSecret } from '../../src/tenantdatabase/index.js';
import { defaultParts, tenantDatabaseReconciler, type TenantDatabaseParts } from './reconcile.js';

export { composeHealth, defaultParts, tenantDatabaseReconciler, type TenantDatabaseParts } from './reconcile.js';
export { referencedSecrets } from '../../src/tenantdatabase/index.js';

const RESOURCE = resourceOf('TenantDatabase');
const BACKUP_POLICIES = resourceOf('BackupPolicy');
const MIGRATIONS = resourceOf('Migration');

export function registerTenantDatabaseController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS, parts: TenantDatabaseParts = defaultParts()): void {
  indexSecretRefs(mgr);
  const bySecret = (secret: KubeObject): Request[] => tenantDatabasesUsingSecret(mgr, secret.metadata.namespace, secret.metadata.name).map(requestFor);
  // A BackupPolicy takes over backup retention of the database it names (one writer per property).
  const byBackupPolicy = (bp: KubeObject): Request[] => {
    const ref = databaseRefOf(bp);
    return ref ? [{ namespace: bp.metadata.namespace, name: ref }] : [];
  };
  // A Migration's progress changes the schema: the databases it targets re-sync their tenancy policy
  // (new tables get row-level security in the same pass that sees them).
  const byMigration = (m: KubeObject): Request[] => {
    const spec = specOf(m, migrationSpecSchema);
    if (spec?.databaseRef) return [{ namespace: m.metadata.namespace, name: spec.databaseRef.name }];
    const selector = spec?.databaseSelector;
    if (!selector) return [];
    // A label selector cannot be looked up in an index: the namespace's TenantDatabases are matched.
    return mgr
      .listCached(RESOURCE, m.metadata.namespace)
      .filter((o) => selectorMatches(selector, o.metadata.labels ?? {}))
      .map(requestFor);
  };
  const controller = mgr.addController({
    name: KINDS.TenantDatabase.singular,
    resource: RESOURCE,
    reconcile: tenantDatabaseReconciler(mgr, settings, parts),
    watches: [
      { resource: SECRETS, map: bySecret },
      { resource: BACKUP_POLICIES, map: byBackupPolicy },
      { resource: MIGRATIONS, map: byMigration },
    ],
    owns: [SECRETS],
  });
  for (const part of parts.inside) part.bind?.((key) => controller.enqueue(key));
}
