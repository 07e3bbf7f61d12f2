// The Migration controller: versioned SQL applied to one TenantDatabase or rolled out over the ones a
// selector picks (reconcile.ts), runs as tracked background tasks (runs.ts), status and health
// (status.ts), Prometheus metrics (metrics.ts). The SQL side is src/postgres/migrations/.
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Request } from '../../src/runtime/controller.js';
import type { Manager } from '../../src/runtime/manager.js';
import { selectorMatches } from '../../src/runtime/selectors.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { controllerName } from '../../src/api/resources.js';
import { CONFIGMAPS, MIGRATIONS, SECRETS, TENANT_DATABASES, migrationReconciler, type MigrationControllerOptions } from './reconcile.js';
import { MigrationRuns } from './runs.js';

export { RETRY_ANNOTATION, REPAIR_ANNOTATION, RESOLVE_ANNOTATION } from './reconcile.js';
export type { MigrationControllerOptions };

interface MigrationRefs {
  databaseRef?: { name?: string };
  databaseSelector?: { matchLabels?: Record<string, string> };
  sources?: Array<{ configMapRef?: { name?: string } }>;
}

const specOf = (m: KubeObject): MigrationRefs => ((m as { spec?: MigrationRefs }).spec ?? {});
const req = (o: KubeObject): Request => ({ namespace: o.metadata.namespace, name: o.metadata.name });

/** Secret names a TenantDatabase's admin connection reads. */
function tenantDatabaseSecrets(td: KubeObject): string[] {
  const server = (td as { spec?: { server?: { external?: { adminSecretRef?: { name: string }; caSecretRef?: { name: string } }; azure?: { administratorPasswordSecretRef?: { name: string } } } } }).spec?.server;
  return [server?.external?.adminSecretRef?.name, server?.external?.caSecretRef?.name, server?.azure?.administratorPasswordSecretRef?.name].filter((n): n is string => !!n);
}

export function registerMigrationController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS, opts: MigrationControllerOptions = {}): MigrationRuns {
  let enqueue: (key: string) => void = () => undefined;
  const runs = new MigrationRuns((key) => enqueue(key));
  const targets = (td: KubeObject) => (m: KubeObject) => {
    const s = specOf(m);
    if (s.databaseRef?.name) return s.databaseRef.name === td.metadata.name;
    return s.databaseSelector !== undefined && selectorMatches(s.databaseSelector, td.metadata.labels ?? {});
  };
  // A TenantDatabase becoming Ready, or starting (or stopping) to match a selector, reaches the
  // Migrations that target it; the manager maps both the old and the new copy of an update.
  const byTenantDatabase = (td: KubeObject): Request[] => mgr.listCached(MIGRATIONS, td.metadata.namespace).filter(targets(td)).map(req);
  const byConfigMap = (cm: KubeObject): Request[] =>
    mgr
      .listCached(MIGRATIONS, cm.metadata.namespace)
      .filter((m) => (specOf(m).sources ?? []).some((s) => s.configMapRef?.name === cm.metadata.name))
      .map(req);
  const bySecret = (secret: KubeObject): Request[] => {
    const tds = mgr.listCached(TENANT_DATABASES, secret.metadata.namespace).filter((td) => tenantDatabaseSecrets(td).includes(secret.metadata.name));
    return tds.flatMap(byTenantDatabase);
  };
  const controller = mgr.addController({
    name: controllerName('Migration'),
    resource: MIGRATIONS,
    reconcile: migrationReconciler(mgr, settings, runs, opts),
    watches: [
      { resource: TENANT_DATABASES, map: byTenantDatabase },
      { resource: CONFIGMAPS, map: byConfigMap },
      { resource: SECRETS, map: bySecret },
    ],
  });
  enqueue = (key) => controller.enqueue(key);
  return runs;
}
